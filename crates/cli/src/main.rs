//! `sneaker-id`: every command; built without burn by `make run`, it hands training to
//! `sneaker-id-train` (see `sneaker_id::training`).

fn main() -> std::process::ExitCode {
    sneaker_id::main()
}
