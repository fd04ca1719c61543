//! A product as the page extractors (JSON-LD, microdata, OpenGraph) read it, before it becomes a
//! catalog row.

use reqwest::Url;

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
    /// Canonical page (`<link rel=canonical>`, JSON-LD `url`, `og:url`), else the page as
    /// reached after redirects.
    pub url: String,
    /// Identity in the catalog: `url`, or `url#variant=SKU` for a variant without a page of
    /// its own.
    pub key: String,
    /// Image URLs in page order, without repeats or variants of one image.
    pub images: Vec<Url>,
}
