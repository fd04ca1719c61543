//! End to end: the real `sneaker-id serve` binary on a free loopback port with an empty gallery
//! in a temporary folder, driven in headless Chromium by `tests/browser/*.mjs` (playwright-core
//! over the system's Chromium; no browser download):
//! - `page.mjs`: upload a real shoe photo and see the matches; upload a text file and see the error;
//! - `first-run.mjs`: the first-run journey with no trained run: enroll three products from the
//!   page (token, details, photos), then a new photo of one of them is named, and a picture of
//!   something that is not a shoe is said to be so.
//!
//! Skips, saying why, when Chromium, Node, playwright-core (`scripts/ci-deps.sh` installs them),
//! the binary (`cargo build -p sneaker-id`; `cargo test --workspace` builds it) or `../shared`
//! is missing; with `CI=true` a missing `../shared` is a failure instead.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `$SNEAKER_ID_BIN`, else `sneaker-id` in the target folder this test was built into.
fn binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("SNEAKER_ID_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // <target>/debug/deps/browser-<hash> → <target>/debug/sneaker-id
    exe.parent().and_then(Path::parent).expect("deps folder has a parent").join("sneaker-id")
}

fn skip(why: &str) {
    eprintln!("skipped: {why}");
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary on port 0 with its gallery in `gallery` and returns it with the URL and the
/// enrolment token it printed.
fn start_server(bin: &Path, gallery: &Path) -> (Server, String, String) {
    let mut child = Command::new(bin)
        .args(["serve", "--addr", "127.0.0.1:0", "--gallery"])
        .arg(gallery)
        .env_remove("SNEAKER_ID_ENROLL_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let stdout = child.stdout.take().expect("stdout is piped");
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(started) = parse_startup(&line) {
                let _ = tx.send(started);
            }
        }
    });
    let (url, token) = rx.recv_timeout(Duration::from_secs(120)).expect("the server printed its address within 120 s");
    (server, url, token)
}

/// `sneaker-id: serving on URL  (enrolment token: TOKEN; open URL?token=TOKEN to add sneakers)`.
fn parse_startup(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("sneaker-id: serving on ")?;
    let (url, rest) = rest.split_once(' ')?;
    let token = rest.split_once("enrolment token: ")?.1.split(';').next()?;
    Some((url.to_owned(), token.to_owned()))
}

/// `GET path` over a plain socket; returns the status code.
fn get_status(url: &str, path: &str) -> Option<u16> {
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").ok()?;
    // Bytes, not text: the body may be an image.
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    String::from_utf8_lossy(&response).split_whitespace().nth(1)?.parse().ok()
}

fn wait_ready(url: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        if get_status(url, "/v2/health/ready") == Some(200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{url} never became ready");
}

/// `../shared`, or `None` after saying the test is skipped (a failure under `CI=true`).
fn shared() -> Option<PathBuf> {
    sneaker_test_support::shared("")
}

/// Chromium, the node folder and the binary, or `None` after saying which is missing.
fn browser_tools() -> Option<(PathBuf, PathBuf, PathBuf)> {
    let chromium = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if !chromium.is_file() {
        skip(&format!("browser test: Chromium not found at {} (scripts/ci-deps.sh installs it)", chromium.display()));
        return None;
    }
    if Command::new("node").arg("--version").output().is_err() {
        skip("browser test: `node` not found (scripts/ci-deps.sh installs it)");
        return None;
    }
    let browser_dir = workspace_root().join("tests/browser");
    if !browser_dir.join("node_modules/playwright-core").is_dir() {
        skip("browser test: playwright-core not installed (run scripts/ci-deps.sh, or `npm ci` in tests/browser)");
        return None;
    }
    let bin = binary();
    if !bin.is_file() {
        skip(&format!("browser test: {} not built (cargo build -p sneaker-id)", bin.display()));
        return None;
    }
    eprintln!("browser test: serving with {}", bin.display());
    Some((chromium, browser_dir, bin))
}

/// Runs `node script` in the browser folder with `env`; panics with its output if it fails.
fn run_node(browser_dir: &Path, script: &str, env: &[(&str, &std::ffi::OsStr)]) {
    let mut command = Command::new("node");
    command.arg(script).current_dir(browser_dir);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("running node");
    eprintln!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the browser checks in {script} failed: {}", output.status);
}

#[test]
fn the_page_identifies_a_shoe_and_explains_a_text_file_in_chromium() {
    let Some(shared) = shared() else { return };
    let photo =
        shared.join("datasets/sneakers50/nike_air_force_1_low/nikecom_air-force-1-07-lv8-mens-shoes-7bCM7s.jpg");
    let Some((chromium, browser_dir, bin)) = browser_tools() else { return };
    let gallery = tempfile::tempdir().expect("temp dir");
    let (_server, url, _) = start_server(&bin, gallery.path());
    wait_ready(&url);
    let screenshots = bin.parent().expect("binary has a folder").join("browser-screenshots");
    run_node(
        &browser_dir,
        "page.mjs",
        &[
            ("SNEAKER_ID_URL", url.as_ref()),
            ("SHOE_PHOTO", photo.as_os_str()),
            ("CHROMIUM", chromium.as_os_str()),
            ("SCREENSHOT_DIR", screenshots.as_os_str()),
        ],
    );
    // The server survived the session.
    assert_eq!(get_status(&url, "/v2/health/live"), Some(200));
}

#[path = "browser/first_run.rs"]
mod first_run;
