//! What earlier runs of a crawl recorded in its journal, gathered for the page frontier
//! (`pages.rs`) so a resumed crawl neither refetches nor relabels.

use std::collections::{HashMap, HashSet};

use sneaker_catalog::Product;

use crate::fetch::Validators;
use crate::journal::{Entry, ImageJob};
use crate::sitemap::{SitemapPage, SitemapRef};

/// A listing's links, its pagination and those of its links that looked like products.
type ListingLinks = (Vec<String>, Vec<String>, Vec<String>);

/// What earlier runs recorded, so a resumed crawl neither refetches nor relabels.
#[derive(Default)]
pub(crate) struct Replay {
    /// Listing URL -> (links, next, product links).
    pub(crate) listings: HashMap<String, ListingLinks>,
    pub(crate) sitemaps: HashMap<String, (Vec<SitemapRef>, Vec<SitemapPage>)>,
    /// Product page -> keys of the products it holds (several for a group's variants).
    pub(crate) page_keys: HashMap<String, Vec<String>>,
    /// Product key -> its latest record and the images it wants.
    pub(crate) products: HashMap<String, (Product, Vec<ImageJob>)>,
    pub(crate) done_pages: HashSet<String>,
    /// URL -> validators of its last fetch.
    pub(crate) seen: HashMap<String, Validators>,
}

impl Replay {
    pub(crate) fn from(entries: &[Entry]) -> Replay {
        let mut r = Replay::default();
        for e in entries {
            match e {
                Entry::Listing { url, links, next, product_links } => {
                    r.listings.insert(url.clone(), (links.clone(), next.clone(), product_links.clone()));
                }
                Entry::Sitemap { url, sitemaps, pages } => {
                    r.sitemaps.insert(url.clone(), (sitemaps.clone(), pages.clone()));
                }
                Entry::Seen { url, etag, last_modified, .. } => {
                    r.seen.insert(url.clone(), Validators { etag: etag.clone(), last_modified: last_modified.clone() });
                }
                Entry::Product { page, key, product, images } => {
                    let keys = r.page_keys.entry(page.clone()).or_default();
                    if !keys.contains(key) {
                        keys.push(key.clone());
                    }
                    r.products.insert(key.clone(), (product.clone(), images.clone()));
                }
                Entry::SamePage { page, key } => {
                    r.page_keys.entry(page.clone()).or_default().push(key.clone());
                }
                Entry::Failure(f) if (f.stage == "page" || f.stage == "sitemap") && !f.transient => {
                    r.done_pages.insert(f.url.clone());
                }
                _ => {}
            }
        }
        r
    }
}
