//! Serves the test marketplace on loopback until killed, for benchmarks and demos:
//! `cargo run --release -p sneaker-scrape --example fixture_server -- --port 8099 --products 278 --views 36 --latency-ms 20`
//! then `sneaker-id scrape http://127.0.0.1:8099/shop?page=1 --out /tmp/cat ...`.

#[path = "../tests/fixture/mod.rs"]
mod fixture;

use std::time::Duration;

fn main() {
    let mut cfg = fixture::FixtureConfig { faults: false, per_page: 24, ..Default::default() };
    let mut port = 8099u16;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |i: usize| -> &str { args.get(i + 1).map(String::as_str).unwrap_or_else(|| usage()) };
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--port" => port = value(i).parse().unwrap_or_else(|_| usage()),
            "--products" => cfg.products = value(i).parse().unwrap_or_else(|_| usage()),
            "--views" => cfg.views = value(i).parse().unwrap_or_else(|_| usage()),
            "--per-page" => cfg.per_page = value(i).parse().unwrap_or_else(|_| usage()),
            "--latency-ms" => cfg.latency = Duration::from_millis(value(i).parse().unwrap_or_else(|_| usage())),
            "--crawl-delay" => cfg.crawl_delay = Some(value(i).parse().unwrap_or_else(|_| usage())),
            "--faults" => {
                cfg.faults = true;
                i -= 1;
            }
            _ => usage(),
        }
        i += 2;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let images: usize = fixture::products(&cfg).iter().map(|p| p.images.len()).sum();
        let fx = fixture::Fixture::start_on(cfg, &format!("127.0.0.1:{port}")).await;
        println!("{} ({images} images)", fx.url("/shop?page=1"));
        std::future::pending::<()>().await;
    });
}

fn usage() -> ! {
    eprintln!("usage: fixture_server [--port N] [--products N] [--views N] [--per-page N] [--latency-ms N] [--crawl-delay S] [--faults]");
    std::process::exit(2)
}
