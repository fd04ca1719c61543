//! `sneaker-id-train`: the same commands as `sneaker-id`, built with the training crate (burn).
//! `sneaker-id train|evaluate|report` runs it when `sneaker-id` itself was built without it.

fn main() -> std::process::ExitCode {
    sneaker_id::main()
}
