//! Real `sneaker-id serve` processes on loopback for the tests that talk to them over HTTP.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills the server when the test ends, passed or not.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `sneaker-id serve --addr 127.0.0.1:0 ARGS...` (a free port), its log going to `log`,
/// and returns it with its base URL (from its start-up line).
pub fn serve(args: &[&str], log: &Path) -> (Server, String) {
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_sneaker-id"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).expect("a log file"))
            .spawn()
            .expect("the server should start"),
    );
    let stdout = server.0.stdout.take().expect("piped stdout");
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("reading the server's output");
        if let Some(rest) = line.strip_prefix("sneaker-id: serving on ") {
            let url = rest.split_whitespace().next().expect("a URL after 'serving on'");
            return (server, url.trim_end_matches('/').to_owned());
        }
    }
    panic!("the server exited without its start-up line: {}", std::fs::read_to_string(log).unwrap_or_default());
}

/// Waits (up to a minute) until the server's network is warmed up.
pub async fn wait_ready(http: &reqwest::Client, url: &str) {
    for _ in 0..600 {
        if http.get(format!("{url}/v2/health/ready")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} was not ready within a minute");
}
