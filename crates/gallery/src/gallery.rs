//! The gallery: enrolled photo embeddings plus what is known about each (label, product, source
//! photo), searched exactly while small and through an approximate index once large.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sneaker_catalog::{Product, is_valid_label};

use crate::approx::{HnswConfig, HnswIndex};
use crate::error::{GalleryError, Result};
use crate::exact::ExactIndex;
use crate::index::{Hit, VectorIndex, l2_normalise};
use crate::similarity::Similarity;

/// How a gallery chooses its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GalleryConfig {
    /// Above this many vectors searches go through the approximate index; at or below it, exact
    /// search is fast enough and loses nothing (see BENCHMARKS.md › Gallery for the numbers).
    pub approximate_above: usize,
}

impl Default for GalleryConfig {
    fn default() -> Self {
        GalleryConfig { approximate_above: DEFAULT_APPROXIMATE_ABOVE }
    }
}

/// Default switch-over size, from BENCHMARKS.md › Gallery › "HNSW on real embeddings" (2 cores,
/// 1280-d pretrained features of all shared photo sets, filled up with clustered copies): HNSW's
/// recall@10 against exact search is 0.997 up to 50k and 0.987 at 100k, while exact search grows
/// from 3.7 ms a query at 20k (half a photo's network time) to 9.4 ms at 50k and 17 ms at 100k.
/// Above 20k the approximate index is the better trade; its graph (12 s to build at 20k) is cached
/// beside the gallery.
pub const DEFAULT_APPROXIMATE_ABOVE: usize = 20_000;

/// One enrolled photo. Its id is its position in [`Gallery::entries`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The product (class) the photo shows.
    pub label: String,
    /// Where the photo was read from when it was enrolled.
    pub source: String,
    /// Lower-case hex SHA-256 of the photo's bytes: the same photo is not enrolled twice.
    pub sha256: Option<String>,
}

/// One neighbour of a query, with what the gallery knows about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    pub id: u64,
    pub label: String,
    /// Similarity to the query, in [-1, 1]: the cosine of the embeddings, or with a colour part
    /// the mix of shape and colour cosines the gallery searches by ([`crate::Similarity`]).
    pub similarity: f32,
    /// The enrolled photo this neighbour came from.
    pub source: String,
    /// SHA-256 of the enrolled photo, which names its thumbnail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub product: Option<Product>,
}

/// Evidence for one label among a query's k nearest neighbours, for open-set decisions: a low
/// `best` says "no enrolled product looks like this"; `votes` says how consistent the
/// neighbourhood is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelScore {
    pub label: String,
    /// Highest similarity of any of this label's photos among the neighbours.
    pub best: f32,
    /// How many of the k neighbours carry this label.
    pub votes: usize,
    /// Sum of those neighbours' similarities (a similarity-weighted k-NN vote).
    pub weighted_votes: f32,
    pub product: Option<Product>,
}

/// Enrolled embeddings with their metadata. See the crate docs.
pub struct Gallery {
    model_id: String,
    config: GalleryConfig,
    exact: ExactIndex,
    /// Built once the gallery grows past `config.approximate_above`.
    approx: Option<HnswIndex>,
    entries: Vec<Entry>,
    products: BTreeMap<String, Product>,
    hashes: HashSet<String>,
    /// The folder it is saved in by [`crate::GalleryBackend::save`] (`None`: kept in memory).
    folder: Option<PathBuf>,
}

impl std::fmt::Debug for Gallery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gallery")
            .field("model_id", &self.model_id)
            .field("dim", &self.dim())
            .field("len", &self.len())
            .field("approximate", &self.is_approximate())
            .field("folder", &self.folder)
            .finish()
    }
}

impl Gallery {
    /// An empty gallery of `dim`-dimensional embeddings made by the network `model_id`.
    pub fn new(model_id: impl Into<String>, dim: usize, config: GalleryConfig) -> Gallery {
        Gallery {
            model_id: model_id.into(),
            config,
            exact: ExactIndex::new(dim),
            approx: None,
            entries: Vec::new(),
            products: BTreeMap::new(),
            hashes: HashSet::new(),
            folder: None,
        }
    }

    /// The same gallery, saved in `dir` from now on (with its thumbnails beside it).
    pub fn stored_in(mut self, dir: &Path) -> Gallery {
        self.folder = Some(dir.to_owned());
        self
    }

    /// The folder the gallery is saved in, if any.
    pub fn folder(&self) -> Option<&Path> {
        self.folder.as_deref()
    }

    /// Reassembles a stored gallery; rows of `vectors` are the entries' embeddings, in order.
    pub(crate) fn from_parts(
        model_id: String,
        dim: usize,
        config: GalleryConfig,
        entries: Vec<Entry>,
        products: BTreeMap<String, Product>,
        vectors: Vec<f32>,
        cached: Option<HnswIndex>,
    ) -> Result<Gallery> {
        let ids = (0..entries.len() as u64).collect();
        let exact = ExactIndex::from_parts(dim, ids, vectors)?;
        let hashes = entries.iter().filter_map(|e| e.sha256.clone()).collect();
        // A cached graph is used only if it indexes exactly these rows (ids are 0..len).
        let approx = cached.filter(|h| h.len() == entries.len() && h.dim() == dim);
        let mut gallery = Gallery { model_id, config, exact, approx, entries, products, hashes, folder: None };
        if gallery.len() <= gallery.config.approximate_above {
            gallery.approx = None;
        }
        gallery.update_index()?;
        Ok(gallery)
    }

    /// The embedding network this gallery's vectors come from.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    pub fn config(&self) -> &GalleryConfig {
        &self.config
    }

    pub fn dim(&self) -> usize {
        self.exact.dim()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The approximate index, once the gallery is past the threshold.
    pub fn approximate(&self) -> Option<&HnswIndex> {
        self.approx.as_ref()
    }

    /// Whether searches go through the approximate index.
    pub fn is_approximate(&self) -> bool {
        self.approx.is_some()
    }

    /// Enrolled photos; an entry's id is its position here.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The exact index, whose rows are the stored embeddings in entry order.
    pub fn exact(&self) -> &ExactIndex {
        &self.exact
    }

    /// Distinct labels, sorted.
    pub fn labels(&self) -> Vec<&str> {
        let set: std::collections::BTreeSet<&str> = self.entries.iter().map(|e| e.label.as_str()).collect();
        set.into_iter().collect()
    }

    /// Photos enrolled per label.
    pub fn counts(&self) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for e in &self.entries {
            *counts.entry(e.label.as_str()).or_insert(0) += 1;
        }
        counts
    }

    pub fn product(&self, label: &str) -> Option<&Product> {
        self.products.get(label)
    }

    pub fn products(&self) -> &BTreeMap<String, Product> {
        &self.products
    }

    /// Records (or replaces) the product details shown for `product.label`.
    pub fn set_product(&mut self, product: Product) -> Result<()> {
        if !is_valid_label(&product.label) {
            return Err(GalleryError::BadLabel(product.label));
        }
        self.products.insert(product.label.clone(), product);
        Ok(())
    }

    /// Whether a photo with this SHA-256 is already enrolled.
    pub fn contains_image(&self, sha256: &str) -> bool {
        self.hashes.contains(sha256)
    }

    /// Enrolls one photo's embedding (normalised here, so any scale is accepted) and returns its id.
    /// It is searchable at once.
    pub fn add(&mut self, entry: Entry, embedding: &[f32]) -> Result<u64> {
        if !is_valid_label(&entry.label) {
            return Err(GalleryError::BadLabel(entry.label));
        }
        let mut v = embedding.to_vec();
        l2_normalise(&mut v)?;
        let id = self.entries.len() as u64;
        self.exact.add(id, &v)?;
        if let Some(approx) = self.approx.as_mut() {
            approx.add(id, &v)?;
        }
        if let Some(sha) = &entry.sha256 {
            self.hashes.insert(sha.clone());
        }
        self.entries.push(entry);
        self.update_index()?;
        Ok(id)
    }

    /// Keeps only the entries `keep` accepts (ids are renumbered in order) and returns how many
    /// were removed: photos dropped from a catalog leave its gallery on the next update.
    pub fn retain(&mut self, mut keep: impl FnMut(&Entry) -> bool) -> Result<usize> {
        let dim = self.dim();
        let mut entries = Vec::with_capacity(self.entries.len());
        let mut vectors = Vec::with_capacity(self.exact.data().len());
        for (row, entry) in self.entries.iter().enumerate() {
            if keep(entry) {
                let v = self.exact.row(row).ok_or(GalleryError::Dimension { expected: dim, got: 0 })?;
                vectors.extend_from_slice(v);
                entries.push(entry.clone());
            }
        }
        let removed = self.entries.len() - entries.len();
        if removed == 0 {
            return Ok(0);
        }
        let ids = (0..entries.len() as u64).collect();
        self.exact = ExactIndex::from_parts(dim, ids, vectors)?;
        self.hashes = entries.iter().filter_map(|e| e.sha256.clone()).collect();
        self.entries = entries;
        self.approx = None;
        self.update_index()?;
        Ok(removed)
    }

    /// Builds the approximate index once the gallery has outgrown exact search.
    fn update_index(&mut self) -> Result<()> {
        if self.approx.is_none() && self.len() > self.config.approximate_above {
            self.approx = Some(HnswIndex::from_exact(&self.exact, HnswConfig::default())?);
        }
        Ok(())
    }

    /// The `k` enrolled photos most similar to `embedding`, most similar first.
    pub fn search(&self, embedding: &[f32], k: usize) -> Result<Vec<Match>> {
        Ok(self.hits(embedding, k)?.into_iter().map(|h| self.to_match(h)).collect())
    }

    /// Per-label evidence among the `k` nearest neighbours, best label first (highest `best`,
    /// then most votes). Labels with no photo among the neighbours are absent.
    pub fn search_labels(&self, embedding: &[f32], k: usize) -> Result<Vec<LabelScore>> {
        Ok(label_scores(&self.search(embedding, k)?))
    }

    fn hits(&self, embedding: &[f32], k: usize) -> Result<Vec<Hit>> {
        crate::exact::check_vector(self.dim(), embedding)?;
        let index: &dyn VectorIndex = match &self.approx {
            Some(approx) => approx,
            None => &self.exact,
        };
        let products_of =
            |ids: &[u64]| Ok(ids.iter().map(|&id| self.entries.get(id as usize).map(|e| e.label.clone())).collect());
        let hits = Similarity::of(&self.model_id).search(index, embedding, k, &products_of)?;
        // Ids come from this gallery's own indexes; one out of range would be a bug there.
        debug_assert!(hits.iter().all(|h| (h.id as usize) < self.entries.len()));
        Ok(hits.into_iter().filter(|h| (h.id as usize) < self.entries.len()).collect())
    }

    fn to_match(&self, hit: Hit) -> Match {
        let entry = &self.entries[hit.id as usize];
        Match {
            id: hit.id,
            label: entry.label.clone(),
            similarity: hit.similarity,
            source: entry.source.clone(),
            sha256: entry.sha256.clone(),
            product: self.products.get(&entry.label).cloned(),
        }
    }
}

/// Per-label evidence among a query's neighbours, best label first (highest `best`, then most
/// votes). Labels with no photo among the neighbours are absent.
pub fn label_scores(matches: &[Match]) -> Vec<LabelScore> {
    let mut by_label: HashMap<&str, LabelScore> = HashMap::new();
    for m in matches {
        let score = by_label.entry(m.label.as_str()).or_insert_with(|| LabelScore {
            label: m.label.clone(),
            best: f32::NEG_INFINITY,
            votes: 0,
            weighted_votes: 0.0,
            product: m.product.clone(),
        });
        score.best = score.best.max(m.similarity);
        score.votes += 1;
        score.weighted_votes += m.similarity;
    }
    let mut scores: Vec<LabelScore> = by_label.into_values().collect();
    scores.sort_by(|a, b| b.best.total_cmp(&a.best).then(b.votes.cmp(&a.votes)).then(a.label.cmp(&b.label)));
    scores
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(label: &str, n: u32) -> Entry {
        Entry { label: label.into(), source: format!("{label}/{n}.jpg"), sha256: Some(format!("{label}{n}")) }
    }

    /// Three labels in 3-D: `a` along x, `b` along y, `c` along z, two photos each, slightly tilted.
    fn small() -> Gallery {
        let mut g = Gallery::new("test-model", 3, GalleryConfig::default());
        for (label, axis) in [("a", 0), ("b", 1), ("c", 2)] {
            for n in 0..2u32 {
                let mut v = [0.1 * n as f32; 3];
                v[axis] = 1.0;
                g.add(entry(label, n), &v).unwrap();
            }
        }
        g.set_product(Product { label: "b".into(), name: Some("Bee".into()), ..Default::default() }).unwrap();
        g
    }

    #[test]
    fn search_returns_labels_products_and_sources() {
        let g = small();
        let m = g.search(&[0.0, 2.0, 0.1], 2).unwrap();
        assert_eq!(m.len(), 2);
        assert!(m.iter().all(|m| m.label == "b"), "{m:?}");
        assert_eq!(m[0].source, "b/0.jpg");
        assert_eq!(m[0].product.as_ref().and_then(|p| p.name.as_deref()), Some("Bee"));
        // [0,1,0]·[0,2,0.1]/|[0,2,0.1]| = 2/sqrt(4.01) = 0.998752
        assert!((m[0].similarity - 0.998_752).abs() < 1e-5);
    }

    #[test]
    fn label_scores_aggregate_neighbours() {
        let g = small();
        let s = g.search_labels(&[1.0, 0.2, 0.0], 4).unwrap();
        assert_eq!(s[0].label, "a");
        assert_eq!(s[0].votes, 2);
        assert_eq!(s.iter().map(|s| s.votes).sum::<usize>(), 4);
        assert!(s.windows(2).all(|w| w[0].best >= w[1].best));
    }

    #[test]
    fn adding_checks_labels_and_remembers_hashes() {
        let mut g = small();
        assert!(matches!(g.add(entry("../x", 0), &[1.0, 0.0, 0.0]), Err(GalleryError::BadLabel(_))));
        assert!(matches!(g.add(entry("x", 0), &[0.0, 0.0, 0.0]), Err(GalleryError::InvalidVector)));
        assert!(g.search(&[1.0, 0.0], 1).is_err());
        assert_eq!(g.len(), 6);
        assert!(g.contains_image("a1"));
        assert!(!g.contains_image("x0"));
        assert_eq!(g.labels(), vec!["a", "b", "c"]);
    }

    #[test]
    fn retain_drops_entries_and_renumbers_the_rest() {
        let mut g = small();
        assert_eq!(g.retain(|e| e.label != "b").unwrap(), 2);
        assert_eq!(g.len(), 4);
        assert!(!g.contains_image("b0"));
        let m = g.search(&[0.0, 0.1, 1.0], 1).unwrap();
        // c1 was id 5 before b0 and b1 left.
        assert_eq!((m[0].label.as_str(), m[0].id), ("c", 3));
        assert_eq!(g.retain(|_| true).unwrap(), 0);
    }

    #[test]
    fn a_new_product_is_found_at_once() {
        let mut g = small();
        let id = g.add(entry("d", 0), &[1.0, 1.0, 1.0]).unwrap();
        let m = g.search(&[0.9, 1.0, 1.1], 1).unwrap();
        assert_eq!((m[0].id, m[0].label.as_str()), (id, "d"));
    }
}
