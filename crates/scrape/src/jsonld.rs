//! schema.org products in JSON-LD, read as leniently as browsers and search engines do (see
//! `lenient`):
//! several scripts per page, `@graph` containers, `@type` as a list, trailing commas, HTML
//! entities, brand/image/offers in each of their common shapes, and `ProductGroup` +
//! `hasVariant`, where every variant (a sneaker's colourway) becomes a product of its own.

use std::collections::HashMap;

use reqwest::Url;
use serde_json::{Map, Value};

use crate::lenient::{decode_entities, parse_lenient};
use crate::product::PageProduct;

/// What the JSON-LD scripts of one page hold.
#[derive(Debug, Default)]
pub struct JsonLd {
    /// Products in page order, variants expanded.
    pub products: Vec<PageProduct>,
    /// Scripts that could not be read even leniently, with the parser's message.
    pub errors: Vec<String>,
}

/// Reads every script text (`<script type="application/ld+json">`) of a page.
/// `resolve` turns a (relative, protocol-relative) URL into an absolute one.
pub fn read(scripts: &[String], resolve: &dyn Fn(&str) -> Option<Url>) -> JsonLd {
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for s in scripts {
        match parse_lenient(s) {
            Ok(v) => values.push(v),
            Err(e) => errors.push(e),
        }
    }
    let mut ids = HashMap::new();
    for v in &values {
        index_ids(v, &mut ids);
    }
    let mut nodes = Vec::new();
    for v in &values {
        top_nodes(v, &mut nodes);
    }
    // Variants stated beside their group by `@id` are read through the group only.
    let variant_ids: Vec<&str> = nodes
        .iter()
        .filter(|n| has_type(n, "ProductGroup"))
        .filter_map(|n| n.get("hasVariant"))
        .flat_map(|v| v.as_array().map(|a| a.iter().collect()).unwrap_or_else(|| vec![v]))
        .filter_map(|v| v.get("@id").and_then(Value::as_str))
        .collect();
    nodes
        .retain(|n| !n.get("@id").and_then(Value::as_str).is_some_and(|id| variant_ids.contains(&id) && is_product(n)));
    let mut products = Vec::new();
    for node in nodes {
        if has_type(node, "ProductGroup") {
            products.extend(group(node, &ids, resolve));
        } else if is_product(node) && !node.get("isVariantOf").is_some_and(|g| has_type(g, "ProductGroup")) {
            products.push(product(node, resolve));
        } else if is_product(node) {
            // A variant listed beside its group: the group's fields fill the gaps.
            let mut p = product(node, resolve);
            if let Some(g) = node.get("isVariantOf") {
                inherit(&mut p, &product(g, resolve));
            }
            products.push(p);
        }
    }
    dedup(&mut products);
    JsonLd { products, errors }
}

/// Whether `v`'s `@type` (a string or a list) names `wanted`, with or without a vocabulary
/// prefix (`schema:Product`, `https://schema.org/Product`).
fn has_type(v: &Value, wanted: &str) -> bool {
    let matches = |t: &Value| t.as_str().is_some_and(|t| t.rsplit(['/', ':', '#']).next() == Some(wanted));
    match v.get("@type") {
        Some(Value::Array(ts)) => ts.iter().any(matches),
        Some(t) => matches(t),
        None => false,
    }
}

fn is_product(v: &Value) -> bool {
    ["Product", "IndividualProduct", "ProductModel"].iter().any(|t| has_type(v, t))
}

/// Nodes a page states at the top: the value itself, list items, `@graph` members and a
/// web page's `mainEntity` (not an ItemList's members: those are a listing's products).
fn top_nodes<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|x| top_nodes(x, out)),
        Value::Object(map) => {
            if let Some(g) = map.get("@graph") {
                top_nodes(g, out);
            }
            if let Some(m) = map.get("mainEntity").filter(|m| is_product(m) || has_type(m, "ProductGroup")) {
                out.push(m);
            }
            if map.contains_key("@type") {
                out.push(v);
            }
        }
        _ => {}
    }
}

fn index_ids<'a>(v: &'a Value, ids: &mut HashMap<&'a str, &'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|x| index_ids(x, ids)),
        Value::Object(map) => {
            if let Some(id) = map.get("@id").and_then(Value::as_str)
                && map.len() > 1
            {
                ids.insert(id, v);
            }
            map.values().for_each(|x| index_ids(x, ids));
        }
        _ => {}
    }
}

/// A ProductGroup's variants, each filled in from the group; the group alone if it has none.
fn group(node: &Value, ids: &HashMap<&str, &Value>, resolve: &dyn Fn(&str) -> Option<Url>) -> Vec<PageProduct> {
    let base = product(node, resolve);
    let variants: Vec<&Value> = match node.get("hasVariant") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    };
    let variants: Vec<&Value> = variants
        .into_iter()
        .filter_map(|v| match v.as_object().map(Map::len) {
            Some(1) => v.get("@id").and_then(Value::as_str).and_then(|id| ids.get(id).copied()),
            _ => Some(v),
        })
        .collect();
    if variants.is_empty() {
        return vec![base];
    }
    variants
        .into_iter()
        .map(|v| {
            let mut p = product(v, resolve);
            let own_name = p.name.clone().filter(|n| Some(n) != base.name.as_ref());
            inherit(&mut p, &base);
            if own_name.is_none() {
                // "Air Max 1" in "Red" and "Blue" are two labels, not one.
                if let (Some(name), Some(colour)) = (&base.name, &p.colorway) {
                    p.name = Some(format!("{name} {colour}"));
                }
            }
            if p.url.is_empty() || p.url == base.url {
                let tag = p.style_id.clone().or_else(|| p.colorway.clone()).unwrap_or_default();
                // An empty group URL leaves "#variant=..." for the page's own URL to prefix.
                p.key = format!("{}#variant={tag}", base.url);
            }
            p
        })
        .collect()
}

/// Fills `p`'s empty fields from its group (or the product it varies).
fn inherit(p: &mut PageProduct, from: &PageProduct) {
    let fill = |a: &mut Option<String>, b: &Option<String>| {
        if a.is_none() {
            a.clone_from(b);
        }
    };
    fill(&mut p.name, &from.name);
    fill(&mut p.brand, &from.brand);
    fill(&mut p.category, &from.category);
    fill(&mut p.gender, &from.gender);
    fill(&mut p.release_date, &from.release_date);
    fill(&mut p.currency, &from.currency);
    p.price = p.price.or(from.price);
    if p.images.is_empty() {
        p.images.clone_from(&from.images);
    }
    if p.url.is_empty() {
        p.url.clone_from(&from.url);
    }
}

fn dedup(products: &mut Vec<PageProduct>) {
    let mut seen = std::collections::HashSet::new();
    products.retain(|p| seen.insert((p.key.clone(), p.url.clone(), p.style_id.clone(), p.name.clone())));
}

/// A JSON-LD text value: a string, a number, or an object's `name`; entities decoded.
pub fn text(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => decode_entities(s.trim()).trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Object(o) => return text(o.get("name")).or_else(|| text(o.get("@value"))),
        Value::Array(a) => return a.iter().find_map(|x| text(Some(x))),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

pub fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().replace(',', "").parse().ok().filter(|n: &f64| n.is_finite()),
        _ => None,
    }
}

fn image_urls(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![decode_entities(s.trim())],
        Some(Value::Array(a)) => a.iter().flat_map(|x| image_urls(Some(x))).collect(),
        Some(Value::Object(o)) => {
            let url = o.get("contentUrl").or_else(|| o.get("url"));
            url.map(|u| image_urls(Some(u))).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// The first offer with a price: one Offer, a list, or an AggregateOffer (`lowPrice`, or
/// its own `offers`).
fn offer(v: Option<&Value>) -> Option<(f64, Option<String>)> {
    match v? {
        Value::Array(a) => a.iter().find_map(|o| offer(Some(o))),
        o @ Value::Object(_) => {
            let price = number(o.get("price"))
                .or_else(|| number(o.get("lowPrice")))
                .or_else(|| number(o.get("priceSpecification").and_then(|s| s.get("price"))));
            match price {
                Some(p) => Some((p, text(o.get("priceCurrency")))),
                None => offer(o.get("offers")),
            }
        }
        _ => None,
    }
}

fn product(v: &Value, resolve: &dyn Fn(&str) -> Option<Url>) -> PageProduct {
    let (price, currency) = offer(v.get("offers")).map_or((None, None), |(p, c)| (Some(p), c));
    let mut p = PageProduct {
        name: text(v.get("name")),
        brand: text(v.get("brand")).or_else(|| text(v.get("manufacturer"))),
        style_id: text(v.get("sku")).or_else(|| text(v.get("mpn"))).or_else(|| text(v.get("productID"))),
        colorway: text(v.get("color")),
        category: text(v.get("category")),
        gender: text(v.get("audience").and_then(|a| a.get("suggestedGender"))).or_else(|| text(v.get("gender"))),
        release_date: text(v.get("releaseDate")),
        price,
        currency,
        thumbnail_url: text(v.get("thumbnailUrl")).and_then(|u| resolve(&u)).map(String::from),
        url: text(v.get("url")).and_then(|u| resolve(&u)).map(String::from).unwrap_or_default(),
        images: image_urls(v.get("image")).iter().filter_map(|u| resolve(u)).collect(),
        ..Default::default()
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

    fn resolve(u: &str) -> Option<Url> {
        Url::parse("https://shop.test/p/x").expect("url").join(u).ok()
    }

    #[test]
    fn shapes_of_brand_image_and_offers() {
        let scripts = [
            r#"{"@type":"Organization","name":"Shop"}"#.to_owned(),
            r#"{"@context":"https://schema.org","@graph":[{"@type":["Product","Thing"],"name":"Air &amp; Max",
               "brand":"Nike","image":[{"@type":"ImageObject","url":"//cdn.test/a.jpg"},{"contentUrl":"/b.jpg"}],
               "offers":[{"@type":"Offer"},{"@type":"AggregateOffer","lowPrice":"99.5","priceCurrency":"EUR"}],}]}"#
                .to_owned(),
        ];
        let r = read(&scripts, &resolve);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let [p] = r.products.as_slice() else { panic!("{:?}", r.products) };
        assert_eq!((p.name.as_deref(), p.brand.as_deref()), (Some("Air & Max"), Some("Nike")));
        let images: Vec<&str> = p.images.iter().map(Url::as_str).collect();
        assert_eq!(images, ["https://cdn.test/a.jpg", "https://shop.test/b.jpg"]);
        assert_eq!((p.price, p.currency.as_deref()), (Some(99.5), Some("EUR")));
    }

    #[test]
    fn product_group_variants_are_products() {
        let script = r##"{"@type":"ProductGroup","name":"Air Max 1","brand":{"@type":"Brand","name":"Nike"},
            "url":"/p/am1","image":"/g.jpg","hasVariant":[
              {"@type":"Product","sku":"AM1-RED","color":"Red","image":"/red.jpg","offers":{"price":140}},
              {"@id":"#blue"}]}"##;
        let blue =
            r##"{"@id":"#blue","@type":"Product","name":"Air Max 1 Blue","sku":"AM1-BLUE","url":"/p/am1?c=blue"}"##;
        let r = read(&[script.to_owned(), blue.to_owned()], &resolve);
        let got: Vec<(Option<&str>, Option<&str>, &str, usize)> = r
            .products
            .iter()
            .map(|p| (p.name.as_deref(), p.brand.as_deref(), p.key.as_str(), p.images.len()))
            .collect();
        assert_eq!(
            got,
            [
                (Some("Air Max 1 Red"), Some("Nike"), "https://shop.test/p/am1#variant=AM1-RED", 1),
                (Some("Air Max 1 Blue"), Some("Nike"), "", 1),
            ]
        );
        assert_eq!(r.products[1].url, "https://shop.test/p/am1?c=blue");
        assert_eq!(r.products[1].images[0].as_str(), "https://shop.test/g.jpg", "inherited from the group");
    }
}
