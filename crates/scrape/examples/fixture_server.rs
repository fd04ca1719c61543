//! Serves the test marketplace on loopback until killed, for benchmarks and demos:
//! `cargo run --release -p sneaker-scrape --example fixture_server -- --port 8099 --products 278 --views 36 --latency-ms 20`
//! then `sneaker-id scrape http://127.0.0.1:8099/shop?page=1 --out /tmp/cat ...`.
//! With `--sitemaps` the shop also has its sitemap-driven face (home page, robots.txt
//! `Sitemap:`, gzip/brotli/deflate responses, every product shape): crawl it from `/`.

#[path = "../tests/fixture/mod.rs"]
mod fixture;

use std::io::Write;
use std::time::Duration;

/// Compression for the fixture's encoded responses (the library tests use the same crates).
fn encode(coding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(&mut out, flate2::Compression::default());
            e.write_all(body).and_then(|_| e.finish().map(drop)).expect("gzip");
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(&mut out, flate2::Compression::default());
            e.write_all(body).and_then(|_| e.finish().map(drop)).expect("deflate");
        }
        _ => {
            let mut e = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            e.write_all(body).expect("brotli");
        }
    }
    out
}

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
            "--sitemaps" => {
                cfg.sitemaps = true;
                cfg.encode = Some(encode);
                i -= 1;
            }
            "--faults" => {
                cfg.faults = true;
                i -= 1;
            }
            _ => usage(),
        }
        i += 2;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let start = if cfg.sitemaps { "/" } else { "/shop?page=1" };
    runtime.block_on(async move {
        let images: usize = fixture::products(&cfg).iter().map(|p| p.images.len()).sum();
        let fx = fixture::Fixture::start_on(cfg, &format!("127.0.0.1:{port}")).await;
        println!("{} ({images} images in listed products)", fx.url(start));
        std::future::pending::<()>().await;
    });
}

fn usage() -> ! {
    eprintln!(
        "usage: fixture_server [--port N] [--products N] [--views N] [--per-page N] [--latency-ms N] [--crawl-delay S] [--faults] [--sitemaps]"
    );
    std::process::exit(2)
}
