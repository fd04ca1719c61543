//! Lenient JSON for what pages put in `<script type="application/ld+json">`: browsers and
//! search engines accept trailing commas, comment and CDATA wrappers, raw newlines inside
//! strings and scripts escaped as HTML; serde_json alone accepts none of these.

use serde_json::Value;

/// serde_json first; then without trailing commas, comments wrappers and raw control
/// characters in strings; then with HTML entities decoded (a script escaped twice).
pub fn parse_lenient(text: &str) -> Result<Value, String> {
    let trimmed = text.trim().trim_start_matches("<!--").trim_end_matches("-->").trim();
    let trimmed = trimmed.trim_start_matches("<![CDATA[").trim_end_matches("]]>").trim();
    let first = match serde_json::from_str(trimmed) {
        Ok(v) => return Ok(v),
        Err(e) => e.to_string(),
    };
    if let Ok(v) = serde_json::from_str(&repair(trimmed)) {
        return Ok(v);
    }
    let decoded = decode_entities(trimmed);
    serde_json::from_str(&repair(&decoded)).map_err(|_| first)
}

/// Drops commas before `}`/`]` and escapes raw newlines and tabs inside strings.
fn repair(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                '\n' => {
                    out.push_str("\\n");
                    continue;
                }
                '\r' | '\t' => {
                    out.push(' ');
                    continue;
                }
                _ => {}
            }
            out.push(c);
            continue;
        }
        match c {
            '"' => in_string = true,
            '}' | ']' => {
                let kept = out.trim_end().len();
                if out[..kept].ends_with(',') {
                    out.truncate(kept - 1);
                }
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// Decodes `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&nbsp;` and numeric references;
/// anything else is left as written.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest[1..].find(';').map(|i| i + 1).filter(|&i| i <= 10);
        let decoded = end.and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => '\u{a0}',
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_parsing() {
        let v = parse_lenient("<!-- {\"name\": \"a\nb\", \"list\": [1, 2, ], } -->").expect("repaired");
        assert_eq!(v["name"], "a\nb");
        assert_eq!(v["list"], serde_json::json!([1, 2]));
        let escaped = "{&quot;@type&quot;:&quot;Product&quot;,&quot;name&quot;:&quot;Dunk&quot;}";
        assert_eq!(parse_lenient(escaped).expect("entities")["name"], "Dunk");
        assert!(parse_lenient("{\"name\": }").is_err());
        assert_eq!(decode_entities("Nike &amp; Co &#39;86&#x2019; &bogus; & x"), "Nike & Co '86\u{2019} &bogus; & x");
    }
}
