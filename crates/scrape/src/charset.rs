//! Page bytes to UTF-8 text, the way browsers choose the encoding (WHATWG "determine the
//! character encoding", simplified): a byte-order mark, then the Content-Type `charset`, then a
//! `<meta charset>` or `<meta http-equiv=Content-Type>` in the first 1024 bytes, else UTF-8
//! (Windows-1252 when the bytes are not valid UTF-8). Decoding itself is `encoding_rs`, so
//! `ISO-8859-1` means Windows-1252 as in every browser, and malformed bytes become U+FFFD.

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

/// How far into a page a `<meta>` charset declaration is looked for (the WHATWG prescan).
const PRESCAN_BYTES: usize = 1024;

/// `body` as text, with the encoding chosen from `content_type` (the response header) and
/// the page itself. Returns the text and the encoding's name.
pub fn decode_page(body: &[u8], content_type: Option<&str>) -> (String, &'static str) {
    let encoding = Encoding::for_bom(body)
        .map(|(e, _)| e)
        .or_else(|| content_type.and_then(charset_param).and_then(label))
        .or_else(|| meta_charset(&body[..body.len().min(PRESCAN_BYTES)]))
        .unwrap_or_else(|| if std::str::from_utf8(body).is_ok() { UTF_8 } else { WINDOWS_1252 });
    // `decode` strips a BOM and replaces malformed sequences rather than failing.
    let (text, used, _) = encoding.decode(body);
    (text.into_owned(), used.name())
}

/// An encoding label, with the HTML rule that a page cannot declare itself UTF-16 in ASCII.
fn label(name: &str) -> Option<&'static Encoding> {
    let e = Encoding::for_label(name.trim().trim_matches(['"', '\'']).as_bytes())?;
    Some(if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE { UTF_8 } else { e })
}

/// The `charset=` parameter of a Content-Type value.
fn charset_param(value: &str) -> Option<&str> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("charset").then_some(v.trim())
    })
}

/// `<meta charset=X>` or `<meta http-equiv="Content-Type" content="...; charset=X">` in the
/// (ASCII-compatible) head of a page.
fn meta_charset(head: &[u8]) -> Option<&'static Encoding> {
    let lower = String::from_utf8_lossy(head).to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("<meta") {
        rest = &rest[at + 5..];
        let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
        if let Some(v) = attr_value(tag, "charset") {
            return label(v);
        }
        if attr_value(tag, "http-equiv").is_some_and(|v| v == "content-type")
            && let Some(e) = attr_value(tag, "content").and_then(charset_param).and_then(label)
        {
            return Some(e);
        }
    }
    None
}

/// The value of `name=` in a lower-cased tag's text, quoted or bare.
fn attr_value<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut search = tag;
    loop {
        let at = search.find(name)?;
        let before = search[..at].chars().next_back();
        let after = search[at + name.len()..].trim_start();
        search = &search[at + name.len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-') {
            continue;
        }
        let Some(value) = after.strip_prefix('=') else { continue };
        let value = value.trim_start();
        return Some(match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or(""),
            _ => value.split(|c: char| c.is_ascii_whitespace() || c == '/').next().unwrap_or(""),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_then_meta_then_utf8() {
        // "Café" in ISO-8859-1: é is the single byte 0xE9.
        let latin1 = b"<p>Caf\xe9</p>";
        assert_eq!(decode_page(latin1, Some("text/html; charset=ISO-8859-1")).0, "<p>Café</p>");
        // Windows-1252 0x93/0x94 are curly quotes and 0x80 is the euro sign.
        let cp1252 = b"<meta charset=\"windows-1252\"><p>\x93Zoom\x94 \x80</p>";
        assert_eq!(
            decode_page(cp1252, Some("text/html")).0,
            "<meta charset=\"windows-1252\"><p>\u{201c}Zoom\u{201d} \u{20ac}</p>"
        );
        // Shift_JIS 0x83 0x58 is katakana "su" (ス), declared the old way.
        let sjis = b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\"><p>\x83\x58</p>";
        let (text, name) = decode_page(sjis, None);
        assert!(text.ends_with("<p>\u{30b9}</p>") && name == "Shift_JIS", "{text} {name}");
        assert_eq!(decode_page("Zürich".as_bytes(), None), ("Zürich".to_owned(), "UTF-8"));
        assert_eq!(decode_page(b"Z\xfcrich", None), ("Zürich".to_owned(), "windows-1252"));
    }

    #[test]
    fn header_wins_over_meta_and_bom_over_both() {
        let page = b"<meta charset=shift_jis>\xe9";
        assert!(decode_page(page, Some("text/html;charset=\"latin1\"")).0.ends_with('é'));
        let bom = b"\xef\xbb\xbf<meta charset=latin1>\xc3\xa9";
        assert!(decode_page(bom, Some("text/html; charset=latin1")).0.ends_with('é'));
        // A page cannot claim UTF-16 in an ASCII meta tag; it is read as UTF-8.
        assert_eq!(decode_page(b"<meta charset=utf-16>ok", None).1, "UTF-8");
        assert_eq!(decode_page(b"<meta charset=nonsense>ok", None).1, "UTF-8");
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_decode(body: Vec<u8>, header in "\\PC{0,40}") {
            let (text, _) = decode_page(&body, Some(&header));
            proptest::prop_assert!(text.len() >= body.len() / 3);
        }
    }
}
