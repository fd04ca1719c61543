//! schema.org products in HTML microdata (`itemscope`, `itemtype`, `itemprop`), read with a
//! small reader over `scraper`'s tree that follows the WHATWG microdata rules this needs:
//! a property belongs to its nearest enclosing item; its value is a nested item, or the
//! element's `content`, URL attribute (`src`, `href`, `data`), `datetime`, `value` or text.

use reqwest::Url;
use scraper::{ElementRef, Html, Selector};

use crate::lenient::decode_entities;
use crate::product::PageProduct;

/// One property value.
enum Prop<'a> {
    Text(String),
    Item(ElementRef<'a>),
}

/// Top-level schema.org Products (and ProductGroup variants are not expanded here: shops
/// that mark variants up do so in JSON-LD).
pub fn read(doc: &Html, resolve: &dyn Fn(&str) -> Option<Url>) -> Vec<PageProduct> {
    let items = Selector::parse("[itemscope][itemtype]").expect("a valid selector");
    doc.select(&items)
        .filter(|e| is_product(e))
        .filter(|e| !e.ancestors().filter_map(ElementRef::wrap).any(|a| is_product(&a)))
        .map(|e| product(e, resolve))
        .filter(|p| p.name.is_some() || p.style_id.is_some())
        .collect()
}

fn is_product(e: &ElementRef) -> bool {
    e.value().attr("itemscope").is_some()
        && e.value().attr("itemtype").is_some_and(|t| {
            t.split_whitespace()
                .any(|t| matches!(t.rsplit('/').next(), Some("Product" | "IndividualProduct" | "ProductModel")))
        })
}

/// The properties of the item at `scope`, in document order.
fn props<'a>(scope: ElementRef<'a>) -> Vec<(String, Prop<'a>)> {
    let mut out = Vec::new();
    for node in scope.descendants().skip(1) {
        let Some(e) = ElementRef::wrap(node) else { continue };
        let Some(names) = e.value().attr("itemprop") else { continue };
        // The nearest item up the tree must be `scope` itself.
        let owner = e.ancestors().filter_map(ElementRef::wrap).find(|a| a.value().attr("itemscope").is_some());
        if owner.map(|o| o.id()) != Some(scope.id()) {
            continue;
        }
        for name in names.split_whitespace() {
            let value = if e.value().attr("itemscope").is_some() { Prop::Item(e) } else { Prop::Text(value_of(&e)) };
            out.push((name.to_owned(), value));
        }
    }
    out
}

fn value_of(e: &ElementRef) -> String {
    let el = e.value();
    let attr = match el.name() {
        _ if el.attr("content").is_some() => el.attr("content"),
        "img" | "source" | "audio" | "video" | "embed" | "iframe" => el.attr("src").or_else(|| el.attr("data-src")),
        "a" | "link" | "area" => el.attr("href"),
        "object" => el.attr("data"),
        "data" | "meter" => el.attr("value"),
        "time" => el.attr("datetime"),
        _ => None,
    };
    let raw = attr.map(str::to_owned).unwrap_or_else(|| e.text().collect::<String>());
    decode_entities(raw.split_whitespace().collect::<Vec<_>>().join(" ").as_str())
}

/// A property's text: the value itself, or a nested item's `name`.
fn text(p: &Prop) -> Option<String> {
    let s = match p {
        Prop::Text(s) => s.clone(),
        Prop::Item(e) => return props(*e).iter().find(|(n, _)| n == "name").and_then(|(_, v)| text(v)),
    };
    (!s.is_empty()).then_some(s)
}

fn number(s: Option<String>) -> Option<f64> {
    s?.trim().replace(',', "").parse().ok().filter(|n: &f64| n.is_finite())
}

fn product(scope: ElementRef, resolve: &dyn Fn(&str) -> Option<Url>) -> PageProduct {
    let all = props(scope);
    let first = |names: &[&str]| all.iter().find(|(n, _)| names.contains(&n.as_str())).and_then(|(_, v)| text(v));
    let mut p = PageProduct {
        name: first(&["name"]),
        brand: first(&["brand", "manufacturer"]),
        style_id: first(&["sku", "mpn", "productID"]),
        colorway: first(&["color"]),
        category: first(&["category"]),
        release_date: first(&["releaseDate"]),
        url: first(&["url"]).and_then(|u| resolve(&u)).map(String::from).unwrap_or_default(),
        ..Default::default()
    };
    for (name, value) in &all {
        match (name.as_str(), value) {
            ("image", Prop::Text(u)) => p.images.extend(resolve(u)),
            ("image", Prop::Item(e)) => {
                let inner = props(*e);
                let url = inner.iter().find(|(n, _)| n == "contentUrl" || n == "url").and_then(|(_, v)| text(v));
                p.images.extend(url.and_then(|u| resolve(&u)));
            }
            ("offers", Prop::Item(e)) if p.price.is_none() => {
                let inner = props(*e);
                let get =
                    |names: &[&str]| inner.iter().find(|(n, _)| names.contains(&n.as_str())).and_then(|(_, v)| text(v));
                p.price = number(get(&["price", "lowPrice"]));
                p.currency = get(&["priceCurrency"]);
            }
            _ => {}
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_product_with_nested_items() {
        let html = r#"<div itemscope itemtype="https://schema.org/Product">
            <h1 itemprop="name">Gel-Lyte   III &amp; OG</h1>
            <div itemprop="brand" itemscope itemtype="https://schema.org/Brand"><span itemprop="name">ASICS</span></div>
            <meta itemprop="sku" content="1201A">
            <img itemprop="image" src="//cdn.test/gl3.jpg">
            <div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
              <span itemprop="price" content="130.00">$130</span><meta itemprop="priceCurrency" content="USD">
              <span itemprop="name">not the product's name</span></div>
            <div itemscope itemtype="https://schema.org/Product"><span itemprop="name">Related</span></div>
          </div>"#;
        let base = Url::parse("https://shop.test/p/gl3").expect("url");
        let products = read(&Html::parse_document(html), &|u| base.join(u).ok());
        let [p] = products.as_slice() else { panic!("{} products", products.len()) };
        assert_eq!(p.name.as_deref(), Some("Gel-Lyte III & OG"));
        assert_eq!((p.brand.as_deref(), p.style_id.as_deref()), (Some("ASICS"), Some("1201A")));
        assert_eq!((p.price, p.currency.as_deref()), (Some(130.0), Some("USD")));
        assert_eq!(p.images.iter().map(Url::as_str).collect::<Vec<_>>(), ["https://cdn.test/gl3.jpg"]);
    }
}
