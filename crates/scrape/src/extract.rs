//! What a fetched HTML page says: a schema.org Product (JSON-LD, with OpenGraph and `<img>`
//! as fallbacks), links to follow, and pagination.

use reqwest::Url;
use scraper::{Html, Selector};
use serde_json::Value;

/// A product as read from its page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageProduct {
    pub name: Option<String>,
    pub brand: Option<String>,
    pub style_id: Option<String>,
    pub colorway: Option<String>,
    pub category: Option<String>,
    pub gender: Option<String>,
    pub pairs_sold: Option<u64>,
    pub release_date: Option<String>,
    pub price: Option<f64>,
    pub currency: Option<String>,
    pub thumbnail_url: Option<String>,
    /// Canonical page (JSON-LD `url`, `og:url`, `<link rel=canonical>`), else the page itself.
    pub url: String,
    /// Image URLs in page order, without repeats.
    pub images: Vec<Url>,
}

/// Everything a page offers the crawler.
#[derive(Debug, Default)]
pub struct PageInfo {
    /// Set when the page describes a product (JSON-LD Product or `og:type` product).
    pub product: Option<PageProduct>,
    /// `<a href>` targets (http/https, fragment removed) in document order.
    pub links: Vec<Url>,
    /// `rel=next` pagination targets.
    pub next: Vec<Url>,
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).expect("selectors in this file are valid CSS")
}

/// Reads a page fetched from `base`.
pub fn parse_page(html: &str, base: &Url) -> PageInfo {
    let doc = Html::parse_document(html);
    let resolve = |href: &str| -> Option<Url> {
        let mut url = base.join(href.trim()).ok()?;
        url.set_fragment(None);
        matches!(url.scheme(), "http" | "https").then_some(url)
    };
    let attrs = |css: &str, attr: &str| -> Vec<String> {
        doc.select(&selector(css)).filter_map(|e| e.value().attr(attr).map(str::to_owned)).collect()
    };
    let links = dedup(attrs("a[href]", "href").iter().filter_map(|h| resolve(h)).collect());
    let next = dedup(attrs("link[rel~=next][href], a[rel~=next][href]", "href").iter().filter_map(|h| resolve(h)).collect());

    let json_ld = doc
        .select(&selector(r#"script[type="application/ld+json"]"#))
        .filter_map(|s| serde_json::from_str::<Value>(&s.text().collect::<String>()).ok())
        .find_map(|v| find_product(&v).cloned());
    let meta = |prop: &str| -> Vec<String> {
        let css = format!(r#"meta[property="{prop}"][content], meta[name="{prop}"][content]"#);
        attrs(&css, "content").into_iter().filter(|s| !s.trim().is_empty()).collect()
    };
    let first = |prop: &str| meta(prop).into_iter().next();
    let og_product = first("og:type").is_some_and(|t| t.to_ascii_lowercase().contains("product"));
    if json_ld.is_none() && !og_product {
        return PageInfo { product: None, links, next };
    }

    let mut p = json_ld.as_ref().map(|v| from_json_ld(v, &resolve)).unwrap_or_default();
    // OpenGraph fills what JSON-LD left out.
    p.name = p.name.or_else(|| first("og:title"));
    p.brand = p.brand.or_else(|| first("product:brand"));
    p.colorway = p.colorway.or_else(|| first("product:color"));
    p.style_id = p.style_id.or_else(|| first("product:retailer_item_id"));
    p.price = p.price.or_else(|| first("product:price:amount").and_then(|s| s.parse().ok()));
    p.currency = p.currency.or_else(|| first("product:price:currency"));
    if p.images.is_empty() {
        p.images = dedup(meta("og:image").iter().filter_map(|h| resolve(h)).collect());
    }
    if p.images.is_empty() {
        p.images = dedup(attrs("img[src]", "src").iter().filter_map(|h| resolve(h)).collect());
    }
    let canonical = p
        .url
        .is_empty()
        .then(|| first("og:url").or_else(|| attrs("link[rel=canonical][href]", "href").into_iter().next()))
        .flatten();
    if let Some(c) = canonical.and_then(|c| resolve(&c)) {
        p.url = c.to_string();
    }
    if p.url.is_empty() {
        p.url = base.to_string();
    }
    p.thumbnail_url = p.thumbnail_url.or_else(|| p.images.first().map(Url::to_string));
    PageInfo { product: Some(p), links, next }
}

fn dedup(urls: Vec<Url>) -> Vec<Url> {
    let mut seen = std::collections::HashSet::new();
    urls.into_iter().filter(|u| seen.insert(u.to_string())).collect()
}

fn is_product(v: &Value) -> bool {
    match v.get("@type") {
        Some(Value::String(t)) => t == "Product" || t.ends_with("/Product"),
        Some(Value::Array(ts)) => ts.iter().any(|t| t.as_str().is_some_and(|t| t == "Product")),
        _ => false,
    }
}

/// The first schema.org Product in a JSON-LD value (object, array or `@graph`).
fn find_product(v: &Value) -> Option<&Value> {
    match v {
        Value::Array(items) => items.iter().find_map(find_product),
        Value::Object(map) if is_product(v) => Some(v).filter(|_| !map.is_empty()),
        Value::Object(map) => map.get("@graph").and_then(find_product),
        _ => None,
    }
}

/// A JSON-LD text value: a string, a number, or an object's `name`.
fn text(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Object(o) => return text(o.get("name")),
        Value::Array(a) => return a.iter().find_map(|x| text(Some(x))),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().replace(',', "").parse().ok(),
        _ => None,
    }
}

fn image_urls(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().flat_map(|x| image_urls(Some(x))).collect(),
        Some(Value::Object(o)) => text(o.get("contentUrl").or_else(|| o.get("url"))).into_iter().collect(),
        _ => Vec::new(),
    }
}

fn from_json_ld(v: &Value, resolve: &dyn Fn(&str) -> Option<Url>) -> PageProduct {
    let offers = match v.get("offers") {
        Some(Value::Array(a)) => a.first(),
        other => other,
    };
    let offer = |key: &str| offers.and_then(|o| o.get(key));
    let mut p = PageProduct {
        name: text(v.get("name")),
        brand: text(v.get("brand")),
        style_id: text(v.get("sku")).or_else(|| text(v.get("mpn"))).or_else(|| text(v.get("productID"))),
        colorway: text(v.get("color")),
        category: text(v.get("category")),
        gender: text(v.get("audience").and_then(|a| a.get("suggestedGender"))).or_else(|| text(v.get("gender"))),
        release_date: text(v.get("releaseDate")),
        price: number(offer("price")).or_else(|| number(offer("lowPrice"))),
        currency: text(offer("priceCurrency")),
        thumbnail_url: text(v.get("thumbnailUrl")).and_then(|u| resolve(&u)).map(|u| u.to_string()),
        url: text(v.get("url")).and_then(|u| resolve(&u)).map(|u| u.to_string()).unwrap_or_default(),
        images: dedup(image_urls(v.get("image")).iter().filter_map(|u| resolve(u)).collect()),
        pairs_sold: None,
    };
    // Marketplace extras (StockX's "Deadstock sold", gender) travel as PropertyValues.
    if let Some(Value::Array(props)) = v.get("additionalProperty") {
        for prop in props {
            let name = text(prop.get("name")).unwrap_or_default().to_ascii_lowercase();
            let value = prop.get("value");
            if name.contains("sold") {
                p.pairs_sold = p.pairs_sold.or_else(|| number(value).filter(|n| *n >= 0.0).map(|n| n as u64));
            } else if name.contains("gender") {
                p.gender = p.gender.take().or_else(|| text(value));
            } else if name.contains("colorway") || name.contains("colourway") {
                p.colorway = p.colorway.take().or_else(|| text(value));
            } else if name.contains("style") {
                p.style_id = p.style_id.take().or_else(|| text(value));
            }
        }
    }
    p
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
        let info = parse_page(html, &base());
        assert!(info.product.is_none());
        let links: Vec<String> = info.links.iter().map(Url::to_string).collect();
        assert_eq!(links, ["https://shop.test/p/air-max-90", "https://other.test/x", "https://shop.test/sneakers?page=2"]);
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
        let p = parse_page(html, &base()).product.expect("product");
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
        let p = parse_page(og, &base()).product.expect("og product");
        assert_eq!((p.name.as_deref(), p.brand.as_deref()), (Some("Samba OG"), Some("adidas")));
        assert_eq!(p.images.len(), 1);
        let img = r#"<meta property="og:type" content="og:product"><img src="/1.jpg"><img src="data:x"><img src="2.jpg">"#;
        let p = parse_page(img, &base()).product.expect("img product");
        assert_eq!(p.images.len(), 2);
        assert_eq!(p.url, base().to_string());
    }

    #[test]
    fn broken_json_ld_is_not_a_product() {
        let html = r#"<script type="application/ld+json">{"@type":"Product", oops</script>"#;
        assert!(parse_page(html, &base()).product.is_none());
    }
}
