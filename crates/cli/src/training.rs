//! Training from the serving binary. `make run` builds `sneaker-id` without burn, whose cold build
//! takes 15–25 minutes on two cores and which serving never uses. `train`, `evaluate` and `report`
//! are parsed there like every other command, then handed to `sneaker-id-train`, the same CLI
//! built with the training crate, beside it in the same target folder. That binary is built on
//! first use (or by `make build-train`) from the source tree this one was built from, and rebuilt
//! when it is older than this one, so a `git pull` + `make run` never pairs new serving code with
//! old training code.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The training binary's name, beside `sneaker-id`.
pub const TRAIN_BIN: &str = "sneaker-id-train";

/// What `hand_over` will do.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// The training binary is there and current: run it.
    Run(PathBuf),
    /// Build it with cargo first (missing, or older than the serving binary).
    Build { manifest: PathBuf, target_dir: PathBuf, release: bool, bin: PathBuf },
    /// It cannot be had from here: say how to build it.
    Missing(String),
}

/// Decides from the serving binary's path and the workspace manifest it was built from.
pub fn plan(exe: &Path, manifest: &Path, cargo_found: bool) -> Plan {
    let bin = exe.with_file_name(TRAIN_BIN);
    let current = match (modified(&bin), modified(exe)) {
        (Some(train), Some(serve)) => train >= serve,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if current {
        return Plan::Run(bin);
    }
    // <target>/release/sneaker-id or <target>/debug/sneaker-id: cargo's own layout.
    let profile_dir = exe.parent();
    let release = match profile_dir.and_then(Path::file_name).and_then(|n| n.to_str()) {
        Some("release") => Some(true),
        Some("debug") => Some(false),
        _ => None,
    };
    let target_dir = profile_dir.and_then(Path::parent);
    match (release, target_dir) {
        (Some(release), Some(target_dir)) if cargo_found && manifest.is_file() => {
            Plan::Build { manifest: manifest.to_owned(), target_dir: target_dir.to_owned(), release, bin }
        }
        // An older training binary still beats none when it cannot be rebuilt here.
        _ if bin.is_file() => Plan::Run(bin),
        _ => Plan::Missing(format!(
            "training is not built: {} is missing and cannot be built from here (needs cargo and the \
             source tree at {}). In the source folder run `make build-train`.",
            bin.display(),
            manifest.parent().unwrap_or(manifest).display()
        )),
    }
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Runs this process's command line in the training binary, building it first when needed.
/// Returns only on failure: on success the training binary replaces this process.
pub fn hand_over() -> anyhow::Result<()> {
    use anyhow::Context;
    use std::os::unix::process::CommandExt;

    let exe = std::env::current_exe().context("finding this program's own path")?;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let cargo_found = Command::new("cargo").arg("--version").output().is_ok_and(|o| o.status.success());
    let bin = match plan(&exe, &manifest, cargo_found) {
        Plan::Run(bin) => bin,
        Plan::Missing(why) => anyhow::bail!(why),
        Plan::Build { manifest, target_dir, release, bin } => {
            eprintln!(
                "sneaker-id: training runs in {TRAIN_BIN}, which `make run` leaves out so the page starts \
                 fast. Building it now: about 15-25 minutes the first time on two cores, seconds after."
            );
            let mut cargo = Command::new("cargo");
            cargo.args(["build", "-p", "sneaker-id", "--bin", TRAIN_BIN, "--manifest-path"]).arg(&manifest);
            if release {
                cargo.arg("--release");
            }
            let status = cargo.env("CARGO_TARGET_DIR", &target_dir).status().context("running cargo")?;
            anyhow::ensure!(status.success(), "building {TRAIN_BIN} failed ({status}); see cargo's output above");
            bin
        }
    };
    let err = Command::new(&bin).args(std::env::args_os().skip(1)).exec();
    Err(err).with_context(|| format!("starting {}", bin.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{File, FileTimes};
    use std::time::{Duration, SystemTime};

    fn touch(path: &Path, age_s: u64) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let t = SystemTime::now() - Duration::from_secs(age_s);
        File::create(path).unwrap().set_times(FileTimes::new().set_modified(t)).unwrap();
    }

    #[test]
    fn builds_when_missing_or_stale_and_runs_when_current() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("src/Cargo.toml");
        touch(&manifest, 0);
        let exe = dir.path().join("target/release/sneaker-id");
        touch(&exe, 100);
        let bin = exe.with_file_name(TRAIN_BIN);
        let build = Plan::Build {
            manifest: manifest.clone(),
            target_dir: dir.path().join("target"),
            release: true,
            bin: bin.clone(),
        };
        assert_eq!(plan(&exe, &manifest, true), build, "missing");
        touch(&bin, 200);
        assert_eq!(plan(&exe, &manifest, true), build, "older than the serving binary");
        assert_eq!(plan(&exe, &manifest, false), Plan::Run(bin.clone()), "stale but no cargo: use it");
        touch(&bin, 10);
        assert_eq!(plan(&exe, &manifest, true), Plan::Run(bin), "current");
    }

    #[test]
    fn says_how_to_build_when_it_cannot() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("bin/sneaker-id");
        touch(&exe, 0);
        let Plan::Missing(why) = plan(&exe, &dir.path().join("nowhere/Cargo.toml"), true) else {
            panic!("expected Missing")
        };
        assert!(why.contains("make build-train"), "{why}");
        let debug = dir.path().join("target/debug/sneaker-id");
        touch(&debug, 0);
        let manifest = dir.path().join("Cargo.toml");
        touch(&manifest, 0);
        assert!(matches!(plan(&debug, &manifest, true), Plan::Build { release: false, .. }));
    }
}
