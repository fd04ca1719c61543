//! Which image URL a page really means: lazy-loading attributes (`data-src`, `data-srcset`,
//! `srcset`, `<picture><source>`) with the largest candidate taken, and URL variants of one
//! image (`?v=`, `?width=`, ...) merged into one before anything is downloaded.

use std::collections::HashMap;

use reqwest::Url;
use scraper::{ElementRef, Html, Selector};

/// Attributes lazy loaders keep the real source in, most specific first.
const SRC_ATTRS: [&str; 5] = ["data-src", "data-lazy-src", "data-original", "data-lazy", "src"];
const SRCSET_ATTRS: [&str; 3] = ["data-srcset", "data-lazy-srcset", "srcset"];
/// Query parameters that ask a CDN for a size, format or cache-busting version of the same
/// picture; the value that names a size ranks the variants.
const VARIANT_PARAMS: [&str; 12] =
    ["v", "ver", "version", "width", "w", "height", "h", "size", "quality", "q", "format", "fm"];
const SIZE_PARAMS: [&str; 4] = ["width", "w", "size", "height"];

/// One candidate from `src`/`srcset`: its URL and how large it claims to be (`w` wins over
/// `x`; no descriptor ranks lowest).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
struct Size {
    width: f64,
    density: f64,
}

/// The best source of every `<img>` (and `<picture>`) in document order.
pub fn page_images(doc: &Html, resolve: &dyn Fn(&str) -> Option<Url>) -> Vec<Url> {
    let sel = Selector::parse("picture, img").expect("a valid selector");
    let mut out = Vec::new();
    for e in doc.select(&sel) {
        let in_picture = e.ancestors().filter_map(ElementRef::wrap).any(|a| a.value().name() == "picture");
        if e.value().name() == "img" && in_picture {
            continue; // read with its <picture>
        }
        let elements: Vec<ElementRef> = if e.value().name() == "picture" {
            e.descendants()
                .filter_map(ElementRef::wrap)
                .filter(|c| matches!(c.value().name(), "source" | "img"))
                .collect()
        } else {
            vec![e]
        };
        let best = elements.iter().flat_map(candidates).filter_map(|(u, size)| resolve(&u).map(|u| (u, size))).fold(
            None::<(Url, Size)>,
            |best, (u, size)| match best {
                Some((_, b)) if b >= size => best,
                _ => Some((u, size)),
            },
        );
        out.extend(best.map(|(u, _)| u));
    }
    out
}

fn candidates(e: &ElementRef) -> Vec<(String, Size)> {
    let el = e.value();
    let mut out = Vec::new();
    for attr in SRCSET_ATTRS {
        if let Some(set) = el.attr(attr) {
            out.extend(parse_srcset(set));
        }
    }
    for attr in SRC_ATTRS {
        if let Some(src) = el.attr(attr).map(str::trim).filter(|s| !s.is_empty() && !s.starts_with("data:")) {
            out.push((src.to_owned(), Size { width: 0.0, density: 0.0 }));
            break;
        }
    }
    out
}

/// `a.jpg 320w, b.jpg 1200w` or `a.jpg 1x, b.jpg 2x` (URLs may contain commas only when a
/// space follows the descriptor, as the HTML standard's parser assumes).
fn parse_srcset(set: &str) -> Vec<(String, Size)> {
    set.split(", ")
        .flat_map(|part| part.split(",\n"))
        .filter_map(|part| {
            let mut words = part.split_whitespace();
            let url = words.next()?.trim_end_matches(',');
            if url.starts_with("data:") {
                return None;
            }
            let mut size = Size { width: 0.0, density: 1.0 };
            for d in words {
                let d = d.trim_end_matches(',');
                if let Some(w) = d.strip_suffix('w').and_then(|w| w.parse().ok()) {
                    size.width = w;
                } else if let Some(x) = d.strip_suffix('x').and_then(|x| x.parse().ok()) {
                    size.density = x;
                }
            }
            Some((url.to_owned(), size))
        })
        .collect()
}

/// The URL with sizing/version parameters removed: equal for variants of one image.
pub fn variant_key(url: &Url) -> String {
    let mut key = url.clone();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !VARIANT_PARAMS.contains(&k.to_ascii_lowercase().as_str()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        key.set_query(None);
    } else {
        key.query_pairs_mut().clear().extend_pairs(kept);
    }
    key.set_fragment(None);
    key.to_string()
}

fn requested_size(url: &Url) -> f64 {
    url.query_pairs()
        .filter(|(k, _)| SIZE_PARAMS.contains(&k.to_ascii_lowercase().as_str()))
        .filter_map(|(_, v)| v.trim_end_matches("px").parse::<f64>().ok())
        .fold(0.0, f64::max)
}

/// One URL per image: variants merged at the first one's place, the largest requested size
/// kept (a variant asking for no size at all is the original, which is largest).
pub fn merge_variants(urls: Vec<Url>) -> Vec<Url> {
    let mut order: Vec<String> = Vec::new();
    let mut best: HashMap<String, Url> = HashMap::new();
    for url in urls {
        let key = variant_key(&url);
        match best.get(&key) {
            None => {
                order.push(key.clone());
                best.insert(key, url);
            }
            Some(current) => {
                let rank = |u: &Url| {
                    if u.query_pairs().any(|(k, _)| SIZE_PARAMS.contains(&k.as_ref())) {
                        requested_size(u)
                    } else {
                        f64::MAX
                    }
                };
                if rank(&url) > rank(current) {
                    best.insert(key, url);
                }
            }
        }
    }
    order.into_iter().filter_map(|k| best.remove(&k)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://shop.test/p/x").expect("url")
    }

    #[test]
    fn lazy_sources_and_the_largest_candidate() {
        let html = r#"<img src="data:image/gif;base64,R0lGOD" data-src="/lazy.jpg">
            <img src="/small.jpg" data-srcset="/m.jpg 640w, /l.jpg 1280w, /s.jpg 320w">
            <picture><source srcset="//cdn.test/p1.webp 1x, //cdn.test/p2.webp 2x"><img src="/p0.jpg"></picture>
            <img srcset="/x1.jpg, /x3.jpg 3x, /x2.jpg 2x">"#;
        let b = base();
        let got = page_images(&Html::parse_document(html), &|u| b.join(u).ok());
        let got: Vec<&str> = got.iter().map(Url::as_str).collect();
        assert_eq!(
            got,
            [
                "https://shop.test/lazy.jpg",
                "https://shop.test/l.jpg",
                "https://cdn.test/p2.webp",
                "https://shop.test/x3.jpg"
            ]
        );
    }

    #[test]
    fn variants_merge_to_the_largest() {
        let u = |s: &str| base().join(s).expect("url");
        let merged = merge_variants(vec![
            u("/a.jpg?v=1"),
            u("/b.jpg?id=7&width=100"),
            u("/a.jpg?width=200&v=2"),
            u("/a.jpg?width=1200"),
            u("/b.jpg?id=8"),
            u("/b.jpg?width=400&id=7"),
        ]);
        let merged: Vec<&str> = merged.iter().map(Url::as_str).collect();
        // "/a.jpg?v=1" asks for no size: it is the original, the largest of its variants.
        assert_eq!(
            merged,
            ["https://shop.test/a.jpg?v=1", "https://shop.test/b.jpg?width=400&id=7", "https://shop.test/b.jpg?id=8"]
        );
    }
}
