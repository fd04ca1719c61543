//! A corpus of hostile uploads through the real server on a loopback socket: every one gets a 4xx
//! JSON error (never a 5xx, never a crash), a slow client is cut off by the timeout, and the server
//! still answers health checks and real photos afterwards.

mod common;
#[path = "../../vision/tests/common/heic.rs"]
mod heic;

use std::io::{Cursor, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use sneaker_serve::ServeConfig;

/// A PNG chunk: length, type, data, CRC-32 over type and data.
fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 12);
    out.extend_from_slice(&u32::try_from(data.len()).expect("chunk fits u32").to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in kind.iter().chain(data) {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    out.extend_from_slice(&(!crc).to_be_bytes());
    out
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A PNG whose header declares `width`×`height` 8-bit RGB, with a token IDAT.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = PNG_SIGNATURE.to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

/// A real, fully compressed 8000×8000 grey PNG of zeros: ~64 KB on the wire, 64 Mpx decoded.
fn png_bomb() -> Vec<u8> {
    let img = image::GrayImage::new(8000, 8000);
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).expect("encode");
    assert!(out.len() < 1_000_000, "the bomb should be small: {} bytes", out.len());
    out
}

fn small_jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(96, 64, |x, y| image::Rgb([(x * 2) as u8, (y * 3) as u8, 90]));
    encode(&img, image::ImageFormat::Jpeg)
}

/// A JPEG with `segments` maximum-size APP1 "Exif" segments of junk IFD data after SOI.
fn jpeg_with_exif(segments: usize) -> Vec<u8> {
    let jpeg = small_jpeg();
    let mut out = jpeg[..2].to_vec(); // SOI
    let mut payload = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    payload.extend_from_slice(&[0xFF, 0xFF]); // 65535 IFD entries, far more than fit
    payload.resize(65533, 0xAB);
    for _ in 0..segments {
        out.extend_from_slice(&[0xFF, 0xE1, 0xFF, 0xFF]); // APP1, length 65535
        out.extend_from_slice(&payload);
    }
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A valid PNG carrying a 21 MB eXIf chunk, over the 20 MB default body limit.
fn huge_exif_png() -> Vec<u8> {
    let png = sky_png();
    let mut out = png[..33].to_vec(); // signature + IHDR
    out.extend(png_chunk(b"eXIf", &vec![0x4D; 21 * 1024 * 1024]));
    out.extend_from_slice(&png[33..]);
    out
}

/// A real HEIC (libheif's encoder) and damaged copies of it.
fn heic_files() -> Vec<(&'static str, Vec<u8>, &'static [u16])> {
    let sky = image::load_from_memory(&sky_png()).expect("the sky PNG decodes");
    let heic = heic::heic(&sky);
    let mut flipped = heic.clone();
    for at in (heic.len() / 4..heic.len()).step_by(97) {
        flipped[at] ^= 0xA5;
    }
    vec![
        ("iPhone HEIC", heic.clone(), &[200]),
        ("truncated HEIC", heic[..heic.len() / 2].to_vec(), &[422]),
        ("HEIC cut to a third", heic[..heic.len() / 3].to_vec(), &[422]),
        // Flipped bytes in the HEVC stream may still decode (to a scrambled picture): never a 5xx.
        ("HEIC with bytes flipped", flipped, &[200, 415, 422]),
        ("HEIC declaring 30000x30000", heic::heic_declaring(30_000, 30_000), &[422]),
        ("HEIC declaring 4 billion pixels wide", heic::heic_declaring(u32::MAX >> 1, 1), &[422]),
    ]
}

/// A 320×240 photo-like JPEG cut to its first third, as a stalled download leaves it.
fn jpeg_cut_to_a_third() -> Vec<u8> {
    let img = image::RgbImage::from_fn(320, 240, |x, y| {
        image::Rgb([(x * 3 % 256) as u8, (y * 2) as u8, ((x ^ y) % 256) as u8])
    });
    let jpeg = encode(&img, image::ImageFormat::Jpeg);
    jpeg[..jpeg.len() / 3].to_vec()
}

/// A PNG whose compressed pixels have a flipped byte (its chunk CRC no longer matches).
fn corrupt_png() -> Vec<u8> {
    let mut png = sky_png();
    let idat = png.windows(4).position(|w| w == b"IDAT").expect("an IDAT chunk");
    png[idat + 40] ^= 0xFF;
    png
}

fn corpus() -> Vec<(&'static str, Vec<u8>, &'static [u16])> {
    let jpeg = small_jpeg();
    let png = sky_png();
    let mut wrong_magic = jpeg.clone();
    wrong_magic[..4].copy_from_slice(b"\x00\x13\x37\x00");
    let mut png_html = PNG_SIGNATURE.to_vec();
    png_html.extend_from_slice(b"<html><script>alert(document.cookie)</script></html>");
    let mut heic = vec![0, 0, 0, 24];
    heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
    heic.resize(4096, 0);
    let mut files: Vec<(&'static str, Vec<u8>, &'static [u16])> = vec![
        ("empty", Vec::new(), &[422]),
        ("truncated JPEG", jpeg[..jpeg.len() / 2].to_vec(), &[422]),
        ("truncated PNG", png[..png.len() / 2].to_vec(), &[422]),
        ("JPEG with its magic overwritten", wrong_magic, &[415]),
        ("PNG declaring 30000x30000", png_declaring(30_000, 30_000), &[422]),
        ("PNG declaring 4 billion pixels wide", png_declaring(u32::MAX >> 1, 1), &[422]),
        ("PNG decompression bomb, 64 Mpx of zeros", png_bomb(), &[422]),
        ("GIF/JavaScript polyglot", b"GIF89a/*\x0a\x00\x0a\x00\x00\x00\x00*/=alert(1);//".to_vec(), &[422]),
        ("PNG signature on an HTML page", png_html, &[422]),
        ("HEIC header with nothing after it", heic, &[422]),
        ("JPEG cut to a third (320x240)", jpeg_cut_to_a_third(), &[422]),
        ("PNG with a corrupt IDAT", corrupt_png(), &[422]),
        // A real JPEG whose EXIF is 4 MB of junk is still a photo: it is answered, unrotated.
        ("JPEG with 64 junk EXIF segments (4 MB)", jpeg_with_exif(64), &[200]),
    ];
    files.extend(heic_files());
    files
}

/// Sends `body` raw to `/api/v1/identify` over a fresh connection.
async fn post(client: &reqwest::Client, url: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    let response = client
        .post(format!("{url}/api/v1/identify"))
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("body");
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("status {status}: not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    (status, json)
}

/// A large upload the way curl sends one: headers with `Expect: 100-continue` first, the body
/// only if the server asks for it. Returns the final status and JSON body.
fn post_expecting_continue(addr: SocketAddr, body: &[u8]) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(
        stream,
        "POST /api/v1/identify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("write headers");
    let mut head = [0u8; 25];
    stream.read_exact(&mut head).expect("an interim or final answer");
    if head.starts_with(b"HTTP/1.1 100") {
        panic!("the server asked for a body over its limit");
    }
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let mut response = head.to_vec();
    response.extend(rest);
    let text = String::from_utf8_lossy(&response);
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let json_start = text.find("\r\n\r\n").expect("end of headers") + 4;
    let json = serde_json::from_str(&text[json_start..]).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, json)
}

async fn start_on_loopback(config: ServeConfig) -> SocketAddr {
    let app = start(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(app.serve(listener, std::future::pending()));
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_files_get_4xx_and_the_server_stays_healthy() {
    let config = ServeConfig { request_timeout_s: 2, ..ServeConfig::default() };
    let addr = start_on_loopback(config).await;
    let url = format!("http://{addr}");
    let client = reqwest::Client::new();

    for (name, bytes, allowed) in corpus() {
        let started = Instant::now();
        let (status, json) = post(&client, &url, bytes).await;
        eprintln!("{name}: {status} {} in {:?}", json["kind"], started.elapsed());
        assert!(allowed.contains(&status), "{name}: got {status}, expected one of {allowed:?}: {json}");
        if status != 200 {
            assert!(json["error"].as_str().is_some_and(|e| !e.is_empty()), "{name}: {json}");
            assert!(json["kind"].is_string(), "{name}: {json}");
        }
    }

    // An EXIF block bigger than the body limit is refused from its Content-Length alone, before
    // any of it is read.
    let (status, json) = post_expecting_continue(addr, &huge_exif_png());
    eprintln!("EXIF block bigger than the body limit: {status} {}", json["kind"]);
    assert_eq!((status, json["kind"].as_str()), (413, Some("too_large")), "{json}");

    // A slow client that never finishes its upload is cut off by the request timeout (the 408
    // comes from the server; the client would wait 10 s and read nothing).
    let mut slow = TcpStream::connect(addr).expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(slow, "POST /api/v1/identify HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nonly a little")
        .expect("write");
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "slow upload: {answer:?}");

    // Still healthy: ready, and a real photo is still answered.
    let ready = client.get(format!("{url}/v2/health/ready")).send().await.expect("ready answers");
    assert_eq!(ready.status().as_u16(), 200);
    let (status, json) = post(&client, &url, sky_png()).await;
    assert_eq!(status, 200, "{json}");
    let metrics = client.get(format!("{url}/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(!metrics.contains("status=\"5"), "a hostile file caused a 5xx:\n{metrics}");
}
