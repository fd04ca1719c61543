//! End to end: the real `sneaker-id serve` binary on a free loopback port, driven in headless
//! Chromium by `tests/browser/page.mjs` (playwright-core over the system's Chromium; no browser
//! download). Upload a real shoe photo and see the matches; upload a text file and see the error.
//!
//! Skips, saying why, when Chromium, Node, playwright-core (`scripts/ci-deps.sh` installs them),
//! the binary (`cargo build -p sneaker-id`; `cargo test --workspace` builds it) or `../shared`
//! is missing.

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

/// Starts the binary on port 0 and returns it with the URL it printed.
fn start_server(bin: &Path) -> (Server, String) {
    let mut child = Command::new(bin)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let stdout = child.stdout.take().expect("stdout is piped");
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let url = rx.recv_timeout(Duration::from_secs(120)).expect("the server printed its address within 120 s");
    (server, url)
}

/// `GET path` over a plain socket; returns the status code.
fn get_status(url: &str, path: &str) -> Option<u16> {
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
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

#[test]
fn the_page_identifies_a_shoe_and_explains_a_text_file_in_chromium() {
    let shared = std::env::var_os("SNEAKER_ID_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared"));
    if !shared.is_dir() {
        return skip("../shared not found");
    }
    let photo = shared.join("datasets/sneakers50/nike_air_force_1_low/nikecom_air-force-1-07-lv8-mens-shoes-7bCM7s.jpg");
    let chromium = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if !chromium.is_file() {
        return skip(&format!("browser test: Chromium not found at {} (scripts/ci-deps.sh installs it)", chromium.display()));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return skip("browser test: `node` not found (scripts/ci-deps.sh installs it)");
    }
    let browser_dir = workspace_root().join("tests/browser");
    if !browser_dir.join("node_modules/playwright-core").is_dir() {
        return skip("browser test: playwright-core not installed (run scripts/ci-deps.sh, or `npm ci` in tests/browser)");
    }
    let bin = binary();
    if !bin.is_file() {
        return skip(&format!("browser test: {} not built (cargo build -p sneaker-id)", bin.display()));
    }
    eprintln!("browser test: serving with {}", bin.display());

    let (_server, url) = start_server(&bin);
    wait_ready(&url);
    let screenshots = bin.parent().expect("binary has a folder").join("browser-screenshots");
    let output = Command::new("node")
        .arg("page.mjs")
        .current_dir(&browser_dir)
        .env("SNEAKER_ID_URL", &url)
        .env("SHOE_PHOTO", &photo)
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOT_DIR", &screenshots)
        .output()
        .expect("running node");
    eprintln!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the browser checks failed: {}", output.status);
    // The server survived the session.
    assert_eq!(get_status(&url, "/v2/health/live"), Some(200));
}
