//! What a fetched HTML page says: schema.org products (JSON-LD, then microdata, then
//! OpenGraph and `<img>` as fallbacks), links to follow (and which look like product pages),
//! pagination, and, for a page reached as a product link that yields none, the reason.

use reqwest::Url;
use scraper::{ElementRef, Html, Selector};

use crate::imgsrc::{merge_variants, page_images};
pub use crate::product::PageProduct;

/// Why a page reached as a product link gave no product: a code for the failure log
/// (`no_product`, `soft_404`, `parse_error`) and a sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct NoProduct {
    pub kind: &'static str,
    pub detail: String,
}

/// Everything a page offers the crawler.
#[derive(Debug, Default)]
pub struct PageInfo {
    /// The products the page describes (several for a ProductGroup's variants).
    pub products: Vec<PageProduct>,
    /// `<a href>` targets (http/https, fragment removed) in document order.
    pub links: Vec<Url>,
    /// Those of `links` that look like product pages (path such as `/p/`, `/product/`, or
    /// an anchor inside product markup).
    pub product_links: Vec<Url>,
    /// `rel=next` pagination targets.
    pub next: Vec<Url>,
    /// Set when `as_product` was asked and no product was found.
    pub no_product: Option<NoProduct>,
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).expect("selectors in this file are valid CSS")
}

/// Path segments that mark a product page on most shop systems.
const PRODUCT_SEGMENTS: [&str; 7] = ["p", "product", "products", "item", "items", "dp", "pd"];
/// Titles of pages that answer 200 but mean "not found".
const NOT_FOUND: [&str; 6] =
    ["not found", "404", "no longer available", "does not exist", "doesn't exist", "page unavailable"];

/// Reads a page fetched from `base`. `as_product`: the page was reached as a product link,
/// so OpenGraph/`<img>` alone make a product, and finding none is reported.
pub fn parse_page(html: &str, base: &Url, as_product: bool) -> PageInfo {
    let doc = Html::parse_document(html);
    let resolve = |href: &str| -> Option<Url> {
        let mut url = base.join(href.trim()).ok()?;
        url.set_fragment(None);
        matches!(url.scheme(), "http" | "https").then_some(url)
    };
    let attrs = |css: &str, attr: &str| -> Vec<String> {
        doc.select(&selector(css)).filter_map(|e| e.value().attr(attr).map(str::to_owned)).collect()
    };
    let (links, product_links) = anchors(&doc, &resolve);
    let next =
        dedup(attrs("link[rel~=next][href], a[rel~=next][href]", "href").iter().filter_map(|h| resolve(h)).collect());
    let meta = |prop: &str| -> Vec<String> {
        let css = format!(r#"meta[property="{prop}"][content], meta[name="{prop}"][content]"#);
        attrs(&css, "content")
            .into_iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| crate::lenient::decode_entities(s.trim()))
            .collect()
    };
    let first = |prop: &str| meta(prop).into_iter().next();

    let scripts: Vec<String> =
        doc.select(&selector(r#"script[type="application/ld+json"]"#)).map(|s| s.text().collect::<String>()).collect();
    let ld = crate::jsonld::read(&scripts, &resolve);
    let mut products = ld.products;
    if products.is_empty() {
        products = crate::microdata::read(&doc, &resolve);
    }
    let heading = || {
        doc.select(&selector("h1"))
            .next()
            .map(|h| h.text().collect::<Vec<_>>().join(" ").split_whitespace().collect::<Vec<_>>().join(" "))
    };
    let title = doc.select(&selector("title")).next().map(|t| t.text().collect::<String>().trim().to_owned());
    let info = |products, no_product| PageInfo {
        products,
        links: links.clone(),
        product_links: product_links.clone(),
        next: next.clone(),
        no_product,
    };
    if products.is_empty() {
        let said = [title.clone(), heading(), first("og:title")]
            .into_iter()
            .flatten()
            .map(|t| t.to_lowercase())
            .collect::<Vec<_>>();
        if as_product && said.iter().any(|t| NOT_FOUND.iter().any(|n| t.contains(n))) {
            let detail = format!("the page answers 200 but says {:?}", said.first().cloned().unwrap_or_default());
            return info(Vec::new(), Some(NoProduct { kind: "soft_404", detail }));
        }
        let og_product = first("og:type").is_some_and(|t| t.to_ascii_lowercase().contains("product"));
        let name = first("og:title").or_else(|| as_product.then(heading).flatten());
        if og_product || (as_product && name.is_some()) {
            products.push(PageProduct { name, ..Default::default() });
        }
    }
    let single = products.len() == 1;
    if single {
        // OpenGraph fills what structured data left out.
        let p = &mut products[0];
        p.name = p.name.take().or_else(|| first("og:title"));
        p.brand = p.brand.take().or_else(|| first("product:brand"));
        p.colorway = p.colorway.take().or_else(|| first("product:color"));
        p.style_id = p.style_id.take().or_else(|| first("product:retailer_item_id"));
        p.price = p.price.or_else(|| first("product:price:amount").and_then(|s| s.parse().ok()));
        p.currency = p.currency.take().or_else(|| first("product:price:currency"));
        if p.images.is_empty() {
            p.images = meta("og:image").iter().filter_map(|h| resolve(h)).collect();
        }
        if p.images.is_empty() {
            p.images = page_images(&doc, &resolve);
        }
    }
    let canonical = attrs("link[rel~=canonical][href]", "href").into_iter().next().and_then(|c| resolve(&c));
    let og_url = first("og:url").and_then(|c| resolve(&c));
    for p in &mut products {
        if single || p.url.is_empty() {
            let stated = (!p.url.is_empty()).then(|| p.url.clone()).and_then(|u| Url::parse(&u).ok());
            p.url = canonical.clone().or(stated).or_else(|| og_url.clone()).unwrap_or_else(|| base.clone()).to_string();
        }
        if p.key.is_empty() {
            p.key = p.url.clone();
        } else if p.key.starts_with('#') {
            p.key = format!("{}{}", p.url, p.key);
        }
        p.images = merge_variants(dedup(std::mem::take(&mut p.images)));
        p.thumbnail_url = p.thumbnail_url.take().or_else(|| p.images.first().map(Url::to_string));
    }
    products.retain(|p| !p.images.is_empty() || p.name.is_some() || p.style_id.is_some());
    let no_product = (as_product && products.is_empty()).then(|| match ld.errors.first() {
        Some(e) => {
            NoProduct { kind: "parse_error", detail: format!("unreadable JSON-LD ({e}) and no other product markup") }
        }
        None => NoProduct {
            kind: "no_product",
            detail: "no schema.org Product (JSON-LD or microdata) and no og:title or heading to name one".into(),
        },
    });
    info(products, no_product)
}

/// All links, and those that look like product pages.
fn anchors(doc: &Html, resolve: &dyn Fn(&str) -> Option<Url>) -> (Vec<Url>, Vec<Url>) {
    let mut links = Vec::new();
    let mut products = Vec::new();
    for a in doc.select(&selector("a[href]")) {
        let Some(url) = a.value().attr("href").and_then(resolve) else { continue };
        if looks_like_product(&url) || in_product_markup(&a) {
            products.push(url.clone());
        }
        links.push(url);
    }
    (dedup(links), dedup(products))
}

/// A URL whose path names a product page (`/p/slug`, `/products/slug`, `/dp/ID`).
pub fn looks_like_product(url: &Url) -> bool {
    let segments: Vec<&str> = url.path_segments().map(|s| s.filter(|s| !s.is_empty()).collect()).unwrap_or_default();
    segments.len() >= 2
        && segments[..segments.len() - 1].iter().any(|s| PRODUCT_SEGMENTS.contains(&s.to_ascii_lowercase().as_str()))
}

/// An anchor inside (or being) a product card: a class or id with "product", or microdata.
fn in_product_markup(a: &ElementRef) -> bool {
    std::iter::once(*a).chain(a.ancestors().filter_map(ElementRef::wrap)).take(6).any(|e| {
        let el = e.value();
        let named = |v: Option<&str>| v.is_some_and(|v| v.to_ascii_lowercase().contains("product"));
        named(el.attr("class")) || named(el.attr("id")) || el.attr("itemtype").is_some_and(|t| t.ends_with("/Product"))
    })
}

fn dedup(urls: Vec<Url>) -> Vec<Url> {
    let mut seen = std::collections::HashSet::new();
    urls.into_iter().filter(|u| seen.insert(u.to_string())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://shop.test/sneakers?page=1").expect("url")
    }

    #[test]
    fn listing_links_and_pagination() {
        let html = r#"<html><head><link rel="next" href="/sneakers?page=2"></head><body>
            <a href="/p/air-max-90#reviews">Air Max</a> <a href="/p/air-max-90">again</a>
            <a href="https://other.test/x">x</a> <a href="mailto:a@b">mail</a>
            <a rel="next nofollow" href="?page=2">next</a></body></html>"#;
        let info = parse_page(html, &base(), false);
        assert!(info.products.is_empty());
        let links: Vec<String> = info.links.iter().map(Url::to_string).collect();
        assert_eq!(
            links,
            ["https://shop.test/p/air-max-90", "https://other.test/x", "https://shop.test/sneakers?page=2"]
        );
        assert_eq!(info.next.len(), 1);
    }

    #[test]
    fn json_ld_product_in_a_graph() {
        let html = r#"<script type="application/ld+json">{"@context":"https://schema.org","@graph":[
            {"@type":"BreadcrumbList"},
            {"@type":"Product","name":"Nike Air Max 90 Infrared","brand":{"@type":"Brand","name":"Nike"},
             "sku":"CT1685-100","color":"White/Infrared","category":"sneakers","releaseDate":"2020-03-26",
             "url":"/p/air-max-90","image":["/i/1.jpg",{"@type":"ImageObject","contentUrl":"/i/2.jpg"},"/i/1.jpg"],
             "offers":{"@type":"AggregateOffer","lowPrice":"1,130.50","priceCurrency":"USD"},
             "additionalProperty":[{"@type":"PropertyValue","name":"Deadstock sold","value":"5123"},
                                   {"@type":"PropertyValue","name":"Gender","value":"men"}]}]}
            </script><meta property="og:title" content="ignored, JSON-LD wins">"#;
        let p = parse_page(html, &base(), false).products.into_iter().next().expect("product");
        assert_eq!(p.name.as_deref(), Some("Nike Air Max 90 Infrared"));
        assert_eq!(p.brand.as_deref(), Some("Nike"));
        assert_eq!(p.style_id.as_deref(), Some("CT1685-100"));
        assert_eq!(p.price, Some(1130.5));
        assert_eq!(p.pairs_sold, Some(5123));
        assert_eq!(p.gender.as_deref(), Some("men"));
        assert_eq!(p.url, "https://shop.test/p/air-max-90");
        let imgs: Vec<&str> = p.images.iter().map(Url::as_str).collect();
        assert_eq!(imgs, ["https://shop.test/i/1.jpg", "https://shop.test/i/2.jpg"]);
        assert_eq!(p.thumbnail_url.as_deref(), Some("https://shop.test/i/1.jpg"));
    }

    #[test]
    fn open_graph_then_img_fallbacks() {
        let og = r#"<meta property="og:type" content="product"><meta property="og:title" content="Samba OG">
            <meta property="og:image" content="/a.jpg"><meta property="product:brand" content="adidas">
            <img src="/ignored.jpg">"#;
        let p = parse_page(og, &base(), false).products.into_iter().next().expect("og product");
        assert_eq!((p.name.as_deref(), p.brand.as_deref()), (Some("Samba OG"), Some("adidas")));
        assert_eq!(p.images.len(), 1);
        let img =
            r#"<meta property="og:type" content="og:product"><img src="/1.jpg"><img src="data:x"><img src="2.jpg">"#;
        let p = parse_page(img, &base(), false).products.into_iter().next().expect("img product");
        assert_eq!(p.images.len(), 2);
        assert_eq!(p.url, base().to_string());
    }

    #[test]
    fn broken_json_ld_is_not_a_product() {
        let html = r#"<script type="application/ld+json">{"@type":"Product", oops</script>"#;
        assert!(parse_page(html, &base(), false).products.is_empty());
    }

    #[test]
    fn product_links_get_open_graph_products_or_a_reason() {
        let og = r#"<meta property="og:title" content="Club C 85"><meta property="og:image" content="//cdn.test/c.jpg?width=400">
            <link rel="canonical" href="/p/club-c"><img src="/logo.png">"#;
        assert!(parse_page(og, &base(), false).products.is_empty(), "not a product when reached as a listing");
        let p = parse_page(og, &base(), true).products.into_iter().next().expect("og-only product");
        assert_eq!((p.name.as_deref(), p.url.as_str()), (Some("Club C 85"), "https://shop.test/p/club-c"));
        assert_eq!(p.images.iter().map(Url::as_str).collect::<Vec<_>>(), ["https://cdn.test/c.jpg?width=400"]);
        let reason = |html: &str| parse_page(html, &base(), true).no_product.map(|n| n.kind);
        assert_eq!(reason("<title>Page not found | Shop</title><h1>Sorry</h1><img src=/logo.png>"), Some("soft_404"));
        assert_eq!(
            reason(r#"<script type="application/ld+json">{"@type":"Product","name": }</script>"#),
            Some("parse_error")
        );
        assert_eq!(reason("<p>nothing here</p>"), Some("no_product"));
        assert_eq!(reason(og), None);
    }

    #[test]
    fn which_links_look_like_products() {
        let html = r#"<a href="/p/dunk">a</a><a href="/about">b</a><div class="product-card"><a href="/dunk-low-panda">c</a></div>
            <a href="/products/">d</a>"#;
        let links: Vec<String> =
            parse_page(html, &base(), false).product_links.iter().map(|u| u.path().to_owned()).collect();
        assert_eq!(links, ["/p/dunk", "/dunk-low-panda"]);
    }

    const PIECES: [&str; 30] = [
        r#"<script type="application/ld+json">"#,
        "</script>",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        r#""@type""#,
        r#""Product""#,
        r#""ProductGroup""#,
        r#""hasVariant""#,
        r#""@graph""#,
        r#""image""#,
        r#""offers""#,
        r#""@id""#,
        r#""name""#,
        "&amp;",
        "&#x",
        "&#99999999;",
        r#"<img srcset=""#,
        " 2x",
        "9e999w",
        r#"<meta property="og:title" content=""#,
        r#"">"#,
        r#"<div itemscope itemtype="https://schema.org/Product">"#,
        r#"<span itemprop="name">"#,
        "<picture><source srcset=//",
        r#"<link rel=canonical href="#,
        "\u{0}é",
    ];

    proptest::proptest! {
        #[test]
        fn hostile_pages_never_panic(pieces in proptest::collection::vec(proptest::sample::select(&PIECES[..]), 0..80), as_product: bool) {
            let _ = parse_page(&pieces.concat(), &base(), as_product);
        }
    }
}
