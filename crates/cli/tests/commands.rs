//! Every `sneaker-id …` command that the README and the web page show a user is parsed by the real
//! argument parser, and those that can run on tiny data are run, in the README's order, the way a
//! user would type them: from a folder holding a generated catalog and photos under the names the
//! README uses. A command the README gains later fails this test until it parses, and runs or is
//! given a reason here not to.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;

mod common;

/// A command line shown to users, split into words as a shell would.
struct Shown {
    source: &'static str,
    words: Vec<String>,
}

impl Shown {
    fn line(&self) -> String {
        self.words.join(" ")
    }
}

/// `$BIN …` / `sneaker-id …` lines of the README's shell blocks, with `\` continuations joined,
/// comments dropped and the optional parts it writes as `[--top 5]` kept as plain flags.
fn readme_commands() -> Vec<Shown> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    let (mut out, mut in_block, mut pending) = (Vec::new(), false, String::new());
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        pending.push_str(line.trim_end().trim_end_matches('\\'));
        pending.push(' ');
        if line.trim_end().ends_with('\\') {
            continue;
        }
        let words = shlex::split(&std::mem::take(&mut pending))
            .unwrap_or_else(|| panic!("README: unbalanced quotes in {line}"));
        let words: Vec<String> = words.into_iter().take_while(|w| !w.starts_with('#')).collect();
        if matches!(words.first().map(String::as_str), Some("$BIN" | "sneaker-id")) {
            let rest = words[1..].iter().map(|w| w.trim_start_matches('[').trim_end_matches(']').to_owned());
            out.push(Shown {
                source: "README.md",
                words: std::iter::once("sneaker-id".to_owned()).chain(rest).collect(),
            });
        }
    }
    out
}

fn page_commands() -> Vec<Shown> {
    sneaker_serve::PAGE_COMMANDS
        .iter()
        .map(|c| Shown {
            source: "the page",
            words: shlex::split(c).unwrap_or_else(|| panic!("page: unbalanced quotes in {c}")),
        })
        .collect()
}

#[test]
fn every_command_shown_to_users_parses() {
    let shown: Vec<Shown> = readme_commands().into_iter().chain(page_commands()).collect();
    // The README shows about twenty; a broken extraction must not pass by finding none.
    assert!(shown.len() >= 15, "found only {} commands", shown.len());
    assert!(shown.iter().any(|s| s.source == "the page"), "the page shows no command");
    let mut failed = Vec::new();
    for s in &shown {
        assert_eq!(s.words[0], "sneaker-id", "{}: {}", s.source, s.line());
        match sneaker_id::Cli::command().try_get_matches_from(&s.words) {
            Ok(_) => {}
            Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {}
            Err(e) => failed.push(format!("{}: `{}`\n{e}", s.source, s.line())),
        }
    }
    assert!(failed.is_empty(), "commands shown to users that do not parse:\n{}", failed.join("\n"));
}

/// The README's placeholders, made real in `dir`: what each stands for, generated small.
fn make_placeholders(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let catalog = dir.join("catalog");
    common::scraped_catalog(&catalog, &common::LABELS, 0);
    let other = dir.join("other-sneakers");
    common::scraped_catalog(&other, &["grey_trainer", "pink_slip_on"], 3);
    let photos = dir.join("folder-of-photos");
    let new_shoe = dir.join("new-shoe-photos");
    let not_footwear = dir.join("not-footwear");
    for d in [&photos, &new_shoe, &not_footwear] {
        std::fs::create_dir_all(d).unwrap();
    }
    common::shoe(2, 5).save(dir.join("photo.jpg")).unwrap();
    common::shoe(0, 9).save(dir.join("other.png")).unwrap();
    for v in 0..2 {
        common::shoe(1, 4 + v).save(photos.join(format!("{v}.png"))).unwrap();
        common::shoe(5, 2 + 7 * v).save(new_shoe.join(format!("{v}.png"))).unwrap();
        // Stripes: nothing like a shoe.
        let stripes = image::RgbImage::from_fn(64, 48, |x, _| {
            image::Rgb(if (x / 4 + v) % 2 == 0 { [20, 90, 30] } else { [240, 200, 40] })
        });
        stripes.save(not_footwear.join(format!("{v}.png"))).unwrap();
    }
    vec![
        ("CATALOG", catalog.clone()),
        ("TEST-FOLDER", catalog.clone()),
        ("REAL-PHOTOS", catalog.clone()),
        ("PRODUCT-PHOTOS", catalog),
        ("OTHER-SNEAKERS", other.clone()),
        ("MORE-PRODUCTS", other),
        ("~/.cache/sneaker-id/eval/not-footwear", not_footwear),
    ]
}

/// Why a shown command is parsed but not run here; `None` runs it.
fn not_run(words: &[String]) -> Option<&'static str> {
    match words.get(1).map(String::as_str) {
        Some("serve") => Some("a server that runs until stopped: crates/serve's tests start it on loopback"),
        _ if words.iter().any(|w| w.starts_with("postgres://")) => {
            Some("needs a PostgreSQL server: tests/shared_gallery.rs runs these on a loopback one")
        }
        Some("scrape") if !words.iter().any(|w| w == "--help") => {
            Some("crawls a shop: crates/scrape's tests crawl a loopback fixture shop")
        }
        _ => None,
    }
}

/// Flags added so a command finishes in seconds on tiny data: the scratch CNN's defaults (224 px,
/// 40 epochs) are meant for a real catalog.
fn tiny(words: &[String]) -> &'static [&'static str] {
    if words.windows(2).any(|w| w[0] == "--model" && w[1] == "scratch") {
        &["--epochs", "1", "--image-size", "48"]
    } else {
        &[]
    }
}

#[test]
#[cfg(feature = "train")]
fn readme_commands_run_on_tiny_data() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let placeholders = make_placeholders(work);
    let mut ran = 0;
    for s in readme_commands() {
        if let Some(why) = not_run(&s.words) {
            eprintln!("not run: `{}`: {why}", s.line());
            continue;
        }
        let mut args: Vec<String> = s.words[1..]
            .iter()
            .map(|w| {
                placeholders.iter().find(|(k, _)| k == w).map_or_else(|| w.clone(), |(_, p)| p.display().to_string())
            })
            .collect();
        // `runs/*` is a shell glob: expand it as the shell would.
        if let Some(i) = args.iter().position(|a| a == "runs/*") {
            let mut runs: Vec<String> = std::fs::read_dir(work.join("runs"))
                .unwrap()
                .map(|e| format!("runs/{}", e.unwrap().file_name().to_string_lossy()))
                .collect();
            runs.sort();
            args.splice(i..=i, runs);
        }
        args.extend(tiny(&s.words).iter().map(|w| w.to_string()));
        let out = Command::new(env!("CARGO_BIN_EXE_sneaker-id"))
            .args(&args)
            .current_dir(work)
            .env("SNEAKER_ID_CACHE", work.join("cache"))
            .output()
            .expect("the sneaker-id binary should start");
        assert!(
            out.status.success(),
            "README command failed: `{}`\nstdout: {}\nstderr: {}",
            s.line(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    // Everything but the servers and the crawl: train, evaluate, predict, gallery, calibrate, ...
    assert!(ran >= 15, "ran only {ran} README commands");
    assert!(work.join("runs/finetune/model.onnx").is_file(), "the README's finetune run left no model");
}
