//! Sitemaps (sitemaps.org protocol 0.9), as Scrapy's SitemapSpider reads them: `<urlset>`
//! pages with `lastmod` and Google's image extension (`<image:image><image:loc>`),
//! `<sitemapindex>` files naming more sitemaps, gzipped files (`.xml.gz`, served as gzip
//! bytes rather than as a Content-Encoding) and plain-text sitemaps of one URL per line.
//! The XML is read as a stream of `quick-xml` events, never as a whole tree.

use std::io::Read;

use quick_xml::events::Event;
use serde::{Deserialize, Serialize};

/// The protocol's limit on URLs per sitemap file; the rest of a larger file is ignored.
pub const MAX_URLS: usize = 50_000;

/// A page a sitemap lists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SitemapPage {
    pub loc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastmod: Option<String>,
    /// `image:loc` of the page's `image:image` entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
}

/// Another sitemap an index names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SitemapRef {
    pub loc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastmod: Option<String>,
}

/// What one sitemap file lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sitemap {
    pub sitemaps: Vec<SitemapRef>,
    pub pages: Vec<SitemapPage>,
}

/// Whether a URL names a sitemap rather than a page (for start URLs).
pub fn looks_like_sitemap(url: &reqwest::Url) -> bool {
    let path = url.path().to_ascii_lowercase();
    path.ends_with(".xml") || path.ends_with(".xml.gz") || path.contains("sitemap")
}

/// Reads a sitemap body, gunzipping it first when it starts with the gzip magic bytes.
/// `limit` bounds the decompressed size (a gzip bomb stops there).
pub fn parse(body: &[u8], limit: u64) -> Result<Sitemap, String> {
    let unzipped;
    let body = if body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .take(limit.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| format!("gzip: {e}"))?;
        if out.len() as u64 > limit {
            return Err(format!("decompressed sitemap larger than {limit} bytes"));
        }
        unzipped = out;
        &unzipped[..]
    } else {
        body
    };
    let text_start = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    match text_start.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => parse_xml(body),
        Some(_) => Ok(plain_text(text_start)),
        None => Err("empty sitemap".into()),
    }
}

/// One absolute URL per line (protocol §"Text file").
fn plain_text(body: &[u8]) -> Sitemap {
    let pages = String::from_utf8_lossy(body)
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("http://") || l.starts_with("https://"))
        .take(MAX_URLS)
        .map(|l| SitemapPage { loc: l.to_owned(), ..Default::default() })
        .collect();
    Sitemap { sitemaps: Vec::new(), pages }
}

fn parse_xml(body: &[u8]) -> Result<Sitemap, String> {
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut buf = Vec::new();
    // Local names (prefix dropped: `image:loc` is `loc` under `image`).
    let mut stack: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut out = Sitemap::default();
    let mut page = SitemapPage::default();
    let mut child = SitemapRef::default();
    let mut root_seen = false;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("XML error at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if !root_seen {
                    root_seen = true;
                    if name != "urlset" && name != "sitemapindex" {
                        return Err(format!("not a sitemap: the root element is <{name}>"));
                    }
                }
                match name.as_str() {
                    "url" => page = SitemapPage::default(),
                    "sitemap" => child = SitemapRef::default(),
                    _ => {}
                }
                stack.push(name);
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.decode().map_err(|e| format!("text: {e}"))?),
            Event::CData(t) => text.push_str(&t.decode().map_err(|e| format!("CDATA: {e}"))?),
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    _ => match &*r {
                        b"amp" => Some('&'),
                        b"lt" => Some('<'),
                        b"gt" => Some('>'),
                        b"quot" => Some('"'),
                        b"apos" => Some('\''),
                        _ => None,
                    },
                };
                text.extend(c);
            }
            Event::End(_) => {
                let value = text.trim().to_owned();
                text.clear();
                let depth = stack.len();
                let parent = depth.checked_sub(2).and_then(|i| stack.get(i)).map(String::as_str);
                match (parent, stack.last().map(String::as_str)) {
                    (Some("url"), Some("loc")) => page.loc = value,
                    (Some("url"), Some("lastmod")) => page.lastmod = Some(value).filter(|v| !v.is_empty()),
                    (Some("image"), Some("loc")) if !value.is_empty() => page.images.push(value),
                    (Some("sitemap"), Some("loc")) => child.loc = value,
                    (Some("sitemap"), Some("lastmod")) => child.lastmod = Some(value).filter(|v| !v.is_empty()),
                    (_, Some("url")) if !page.loc.is_empty() && out.pages.len() < MAX_URLS => {
                        out.pages.push(std::mem::take(&mut page));
                    }
                    (_, Some("sitemap")) if !child.loc.is_empty() && out.sitemaps.len() < MAX_URLS => {
                        out.sitemaps.push(std::mem::take(&mut child));
                    }
                    _ => {}
                }
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !root_seen {
        return Err("not a sitemap: no root element".into());
    }
    Ok(out)
}

/// A W3C datetime (`2024-03-01`, `2024-03-01T10:00Z`, `2024-03-01T10:00:00+02:00`) or an
/// RFC 3339 time as seconds since 1970, for comparing `lastmod` with when we fetched.
pub fn epoch_seconds(s: &str) -> Option<i64> {
    let s = s.trim();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if s.get(4..5) != Some("-") || s.get(7..8) != Some("-") || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let (yy, mm) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let mut secs = days * 86_400;
    let Some(time) = s.get(10..).filter(|t| !t.is_empty()) else { return Some(secs) };
    let time = time.strip_prefix(['T', 't', ' '])?;
    let (clock, offset) = match time.find(['Z', 'z', '+', '-']) {
        Some(i) => (&time[..i], &time[i..]),
        None => (time, ""),
    };
    let mut parts = clock.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let mi: i64 = parts.next()?.parse().ok()?;
    let sec: f64 = parts.next().map_or(Some(0.0), |x| x.parse().ok())?;
    // Ranges first, so hostile numbers cannot overflow the arithmetic below.
    if !(0..=24).contains(&h) || !(0..60).contains(&mi) || !(0.0..61.0).contains(&sec) {
        return None;
    }
    secs += h * 3600 + mi * 60 + sec as i64;
    if let Some(sign @ ('+' | '-')) = offset.chars().next() {
        let (oh, om) = offset[1..].split_once(':').unwrap_or((&offset[1..], "0"));
        let (oh, om) = (oh.parse::<i64>().ok()?, om.parse::<i64>().ok()?);
        if !(0..=24).contains(&oh) || !(0..60).contains(&om) {
            return None;
        }
        let off = oh * 3600 + om * 60;
        secs += if sign == '+' { -off } else { off };
    }
    Some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlset_with_images_and_entities() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
            <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
              <url><loc> https://shop.test/p/a?x=1&amp;y=2 </loc><lastmod>2024-03-01</lastmod>
                <image:image><image:loc>https://cdn.test/a1.jpg</image:loc></image:image>
                <image:image><image:loc><![CDATA[https://cdn.test/a2.jpg]]></image:loc></image:image></url>
              <url><loc>https://shop.test/p/b</loc></url>
              <url><lastmod>2024-01-01</lastmod></url>
            </urlset>"#;
        let s = parse(xml, 1 << 20).expect("sitemap");
        assert!(s.sitemaps.is_empty());
        assert_eq!(s.pages.len(), 2);
        assert_eq!(s.pages[0].loc, "https://shop.test/p/a?x=1&y=2");
        assert_eq!(s.pages[0].lastmod.as_deref(), Some("2024-03-01"));
        assert_eq!(s.pages[0].images, ["https://cdn.test/a1.jpg", "https://cdn.test/a2.jpg"]);
        assert_eq!(s.pages[1], SitemapPage { loc: "https://shop.test/p/b".into(), ..Default::default() });
    }

    #[test]
    fn gzipped_index_text_and_errors() {
        let index = br#"<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
            <sitemap><loc>https://shop.test/s1.xml.gz</loc><lastmod>2024-05-01T10:00:00+02:00</lastmod></sitemap>
            </sitemapindex>"#;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, index).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let s = parse(&gz, 1 << 20).expect("gzipped index");
        assert_eq!(
            s.sitemaps,
            [SitemapRef {
                loc: "https://shop.test/s1.xml.gz".into(),
                lastmod: Some("2024-05-01T10:00:00+02:00".into())
            }]
        );
        assert!(parse(&gz, 10).expect_err("bomb").contains("larger than"));
        let text = parse(b"https://shop.test/p/a\n\nnot a url\nhttps://shop.test/p/b\n", 1 << 20).expect("text");
        assert_eq!(text.pages.len(), 2);
        assert!(parse(b"<html><body>hi</body></html>", 1 << 20).expect_err("html").contains("root element is <html>"));
        assert!(parse(b"<urlset><url><loc>x</loc></urlset>", 1 << 20).is_err(), "mismatched tags");
        assert!(parse(b"", 1 << 20).is_err());
    }

    #[test]
    fn w3c_datetimes() {
        // `date -u -d 2024-03-01 +%s` = 1709251200.
        assert_eq!(epoch_seconds("2024-03-01"), Some(1_709_251_200));
        assert_eq!(epoch_seconds("2024-03-01T10:00:00Z"), Some(1_709_251_200 + 36_000));
        assert_eq!(epoch_seconds("2024-03-01T10:00+02:00"), Some(1_709_251_200 + 28_800));
        assert_eq!(epoch_seconds("1970-01-01T00:00:00.5Z"), Some(0));
        assert_eq!(epoch_seconds("yesterday"), None);
        assert_eq!(epoch_seconds("2024-13-01"), None);
        assert_eq!(epoch_seconds("2024-01-01T99999999999999999:00Z"), None);
        assert_eq!(epoch_seconds("2024-01-01T10:00+99999999999:00"), None);
    }

    const PIECES: [&str; 16] = [
        "<urlset>",
        "</urlset>",
        "<sitemapindex>",
        "<sitemap>",
        "</sitemap>",
        "<url>",
        "</url>",
        "<loc>",
        "</loc>",
        "<image:image><image:loc>",
        "</image:loc></image:image>",
        "<lastmod>",
        "</lastmod>",
        "&amp;",
        "&#xFFFFFFF;",
        "http://x/é",
    ];

    proptest::proptest! {
        #[test]
        fn hostile_sitemaps_never_panic(pieces in proptest::collection::vec(proptest::sample::select(&PIECES[..]), 0..60), text: String) {
            let _ = parse(pieces.concat().as_bytes(), 1 << 20);
            let _ = parse(text.as_bytes(), 1 << 20);
            let _ = epoch_seconds(&text);
        }
    }
}
