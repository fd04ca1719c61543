//! How a query photo is compared with enrolled photos whose embeddings carry a colour part
//! (`sneaker_model::colourway`): `(1 − w)·cos(shape) + w·cos(colour)`, with the colour weight `w`
//! chosen per query.
//!
//! Why per query: the two kinds of "same product" a gallery meets pull opposite ways. A photo of
//! another colourway of an enrolled model is matched by shape, and colour misleads (other models
//! come in that palette); a sole or top view of an enrolled colourway shares almost no shape with
//! the side view it was enrolled from, and its palette is what matches. The query's best shape
//! similarity tells which case it is: a strong shape match means the view and model are known, so
//! colour keeps a small say; when no enrolled photo looks alike by shape, colour decides.
//! BENCHMARKS.md › "Colour in the gallery" measures the curve.
//!
//! The stored vector is `normalise([unit shape, unit colour])`, so every index (exact, HNSW,
//! pgvector) still ranks by one inner product: the query's parts are weighted first, and the
//! index's similarity is scaled back to the mix.

use sneaker_model::colourway::colour_dims;

use crate::error::Result;
use crate::exact::dot;
use crate::index::{Hit, VectorIndex, l2_normalise};

/// Two gates open the colour weight `w`, whichever opens more:
/// - shape: `1 / (1 + exp((m − threshold) / softness))` over the query's best shape similarity `m`;
/// - palette: `1 / (1 + exp((distinct − margin) / margin_softness))` over how far the best colour
///   match stands out from the second best, `distinct`;
///
/// then `w = max_weight × max(shape gate, palette gate)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColourMix {
    pub threshold: f32,
    pub softness: f32,
    pub margin: f32,
    pub margin_softness: f32,
    pub max_weight: f32,
}

/// Chosen on the plain run's embedding (BENCHMARKS.md › "Colour in the gallery"). The shape gate
/// is the most colour that leaves unseen models' other colourways as well found as by shape alone.
/// The palette gate is what tells the two kinds of query apart: an enrolled colourway seen from
/// another side shares its palette with one gallery product far more than with any other, while
/// a new colourway of an enrolled model matches several products' palettes about equally (black,
/// white, grey are everywhere), so colour stays out of it. Packshots K=1 0.503 against 0.514 by
/// shape alone; other views of an enrolled colourway 0.424 against 0.126.
impl Default for ColourMix {
    fn default() -> Self {
        ColourMix { threshold: 0.55, softness: 0.03, margin: 0.1, margin_softness: 0.01, max_weight: 1.0 }
    }
}

impl ColourMix {
    /// Colour's share of the similarity for a query whose best shape similarity is `best_shape`
    /// and whose best colour similarity exceeds the second best by `distinct`.
    pub fn weight(&self, best_shape: f32, distinct: f32) -> f32 {
        let shape = 1.0 / (1.0 + ((best_shape - self.threshold) / self.softness.max(1e-6)).exp());
        let palette = 1.0 / (1.0 + ((self.margin - distinct) / self.margin_softness.max(1e-6)).exp());
        self.max_weight * shape.max(palette)
    }

    /// The mixed similarity of `query` to each of `candidates`, `products[i]` naming candidate i's
    /// product (photos of one product do not stand out from each other) (any scale; each part is
    /// normalised here), `colour_dims` being the length of the colour part (0: plain cosine).
    pub fn scores(&self, query: &[f32], candidates: &[&[f32]], products: &[usize], colour_dims: usize) -> Vec<f32> {
        let Some((q_shape, q_colour)) = parts(query, colour_dims) else {
            return candidates.iter().map(|c| cosine(query, c)).collect();
        };
        let pairs: Vec<(f32, f32)> = candidates
            .iter()
            .map(|c| match parts(c, colour_dims) {
                Some((s, col)) => (dot(&q_shape, &s), dot(&q_colour, &col)),
                None => (f32::NEG_INFINITY, f32::NEG_INFINITY),
            })
            .collect();
        let best = pairs.iter().map(|p| p.0).fold(f32::NEG_INFINITY, f32::max);
        let mut colours: Vec<(f32, usize)> = pairs.iter().map(|p| p.1).zip(products.iter().copied()).collect();
        colours.sort_by(|a, b| b.0.total_cmp(&a.0));
        let w = self.weight(best, distinct(&colours));
        pairs.iter().map(|&(s, c)| (1.0 - w) * s + w * c).collect()
    }

    /// The `k` stored vectors of `index` with the highest mixed similarity to `query`, their
    /// similarity being the mix. Three index searches: shape alone and colour alone (for the
    /// weight), then the mix. `products_of` names the products of stored vectors, all in one call
    /// (a database gallery reads them in one query).
    pub fn search(
        &self,
        index: &dyn VectorIndex,
        query: &[f32],
        colour_dims: usize,
        k: usize,
        products_of: &ProductsOf<'_>,
    ) -> Result<Vec<Hit>> {
        let Some((q_shape, q_colour)) = parts(query, colour_dims) else {
            let mut q = query.to_vec();
            l2_normalise(&mut q)?;
            return index.search(&q, k);
        };
        if index.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        // Stored vectors are [shape, colour] / √2, so a unit query [shape, 0] scores shape / √2,
        // and [0, colour] colour / √2.
        let zeros = |n: usize| std::iter::repeat_n(0.0, n);
        let shape_only: Vec<f32> = q_shape.iter().copied().chain(zeros(colour_dims)).collect();
        let best = index.search(&shape_only, 1)?.first().map_or(f32::NEG_INFINITY, |h| h.similarity * SQRT_2);
        let colour_only: Vec<f32> = zeros(q_shape.len()).chain(q_colour.iter().copied()).collect();
        // The nearest palettes, enough of them to reach a second product past one product's photos.
        let nearest = index.search(&colour_only, PALETTE_NEIGHBOURS)?;
        let ids: Vec<u64> = nearest.iter().map(|h| h.id).collect();
        let mut names: Vec<Option<String>> = Vec::new();
        let mut colours: Vec<(f32, usize)> = Vec::new();
        for (h, name) in nearest.iter().zip(products_of(&ids)?) {
            let product = names.iter().position(|n| *n == name).unwrap_or_else(|| {
                names.push(name);
                names.len() - 1
            });
            colours.push((h.similarity * SQRT_2, product));
        }
        // Past the neighbours, the second product is no nearer than the last of them.
        let floor = colours.last().map(|c| (c.0, usize::MAX));
        colours.extend(floor.filter(|_| nearest.len() == PALETTE_NEIGHBOURS));
        let w = self.weight(best, distinct(&colours));
        let (a, b) = (1.0 - w, w);
        let norm = (a * a + b * b).sqrt();
        let mixed: Vec<f32> =
            q_shape.iter().map(|v| v * a / norm).chain(q_colour.iter().map(|v| v * b / norm)).collect();
        let scale = SQRT_2 * norm;
        Ok(index.search(&mixed, k)?.into_iter().map(|h| Hit { id: h.id, similarity: h.similarity * scale }).collect())
    }
}

/// How photos of embeddings named by one id are compared: the mix, and how long their colour part is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub mix: ColourMix,
    /// Trailing values of each embedding that are its colour part (0: plain cosine).
    pub colour_dims: usize,
}

impl Similarity {
    /// The gallery's comparison for embeddings named `embedding_id`.
    pub fn of(embedding_id: &str) -> Similarity {
        Similarity { mix: ColourMix::default(), colour_dims: colour_dims(embedding_id) }
    }

    /// Plain cosine similarity.
    pub fn cosine() -> Similarity {
        Similarity { mix: ColourMix::default(), colour_dims: 0 }
    }

    /// [`ColourMix::scores`] with this comparison's colour part.
    pub fn scores(&self, query: &[f32], candidates: &[&[f32]], products: &[usize]) -> Vec<f32> {
        self.mix.scores(query, candidates, products, self.colour_dims)
    }

    /// [`ColourMix::search`] with this comparison's colour part.
    pub fn search(
        &self,
        index: &dyn VectorIndex,
        query: &[f32],
        k: usize,
        products_of: &ProductsOf<'_>,
    ) -> Result<Vec<Hit>> {
        self.mix.search(index, query, self.colour_dims, k, products_of)
    }
}

/// Names the products of stored vectors by id, in one call (`None`: no longer stored).
pub type ProductsOf<'a> = dyn Fn(&[u64]) -> Result<Vec<Option<String>>> + 'a;

const SQRT_2: f32 = std::f32::consts::SQRT_2;

/// Colour neighbours read to find the second product's best palette.
const PALETTE_NEIGHBOURS: usize = 32;

/// How far the best colour similarity of `sorted` (highest first; `(similarity, product)`) stands
/// out from the best of any other product; a product alone stands out fully.
fn distinct(sorted: &[(f32, usize)]) -> f32 {
    let Some(&(best, product)) = sorted.first() else { return 0.0 };
    sorted.iter().find(|c| c.1 != product).map_or(1.0, |c| best - c.0)
}

/// The unit shape and colour parts of an embedding; `None` without a colour part or when either
/// part has no direction.
fn parts(v: &[f32], colour_dims: usize) -> Option<(Vec<f32>, Vec<f32>)> {
    if colour_dims == 0 || colour_dims >= v.len() {
        return None;
    }
    let (s, c) = v.split_at(v.len() - colour_dims);
    let (mut s, mut c) = (s.to_vec(), c.to_vec());
    l2_normalise(&mut s).ok()?;
    l2_normalise(&mut c).ok()?;
    Some((s, c))
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let n = (dot(a, a) * dot(b, b)).sqrt();
    if n > 0.0 { dot(a, b) / n } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact::ExactIndex;

    /// `[shape (3), colour (2)]`, each part unit length.
    fn photo(shape: [f32; 3], colour: [f32; 2]) -> Vec<f32> {
        let mut s = shape.to_vec();
        let mut c = colour.to_vec();
        l2_normalise(&mut s).unwrap();
        l2_normalise(&mut c).unwrap();
        [s, c].concat()
    }

    #[test]
    fn colour_decides_only_where_it_tells_products_apart() {
        let mix = ColourMix::default();
        assert!(mix.weight(0.8, 0.0) < 0.01 && mix.weight(0.4, 0.0) > 0.99, "{mix:?}");
        assert!(mix.weight(0.8, 0.3) > 0.99, "a palette that stands out opens the gate: {mix:?}");
        // Enrolled: a side view (shape x) in red, two other models (shapes y, z) in blue.
        let red_side = photo([1.0, 0.0, 0.0], [1.0, 0.0]);
        let blue_other = photo([0.0, 1.0, 0.0], [0.0, 1.0]);
        let blue_third = photo([0.0, 0.0, 1.0], [0.05, 1.0]);
        let enrolled = [red_side.as_slice(), blue_other.as_slice(), blue_third.as_slice()];
        // A red sole: its shape is closest to the third model's; its palette is red's alone.
        let red_sole = photo([0.3, 0.4, 0.87], [1.0, 0.05]);
        let s = mix.scores(&red_sole, &enrolled, &[0, 1, 2], 2);
        assert!(s[0] > s[1] && s[0] > s[2], "the palette stands out and decides: {s:?}");
        // A second photo of the red product does not make its palette common.
        let twice = [red_side.as_slice(), red_side.as_slice(), blue_other.as_slice(), blue_third.as_slice()];
        let s = mix.scores(&red_sole, &twice, &[0, 0, 1, 2], 2);
        assert!(s[0] > s[2] && s[0] > s[3], "products, not photos, stand out: {s:?}");
        // A blue colourway of the red side view's model: its palette matches two products about
        // equally, so it says nothing, and the shape decides.
        let blue_side = photo([1.0, 0.02, 0.0], [0.0, 1.0]);
        let s = mix.scores(&blue_side, &enrolled, &[0, 1, 2], 2);
        assert!(s[0] > s[1] && s[0] > s[2], "the shape decides: {s:?}");
        // No colour part: plain cosine.
        assert_eq!(mix.scores(&[1.0, 0.0], &[&[2.0, 0.0]], &[0], 0), vec![1.0]);
    }

    #[test]
    fn index_search_ranks_and_scores_as_the_direct_mix() {
        let mix = ColourMix::default();
        let stored = [
            photo([1.0, 0.0, 0.0], [1.0, 0.0]),
            photo([0.0, 1.0, 0.0], [0.0, 1.0]),
            photo([0.6, 0.8, 0.1], [0.8, 0.6]),
            photo([0.9, 0.1, 0.3], [0.1, 0.9]),
        ];
        let mut index = ExactIndex::new(5);
        for (i, v) in stored.iter().enumerate() {
            let mut v = v.clone();
            l2_normalise(&mut v).unwrap();
            index.add(i as u64, &v).unwrap();
        }
        let queries = [
            photo([0.3, 0.4, 0.87], [1.0, 0.05]),
            photo([1.0, 0.02, 0.0], [0.0, 1.0]),
            photo([0.5, 0.2, 0.6], [0.5, 0.5]),
        ];
        for query in queries {
            let want = mix.scores(&query, &stored.iter().map(Vec::as_slice).collect::<Vec<_>>(), &[0, 1, 2, 3], 2);
            let each_its_own = |ids: &[u64]| Ok(ids.iter().map(|id| Some(id.to_string())).collect());
            let hits = mix.search(&index, &query, 2, 4, &each_its_own).unwrap();
            assert_eq!(hits.len(), 4);
            for h in &hits {
                assert!((h.similarity - want[h.id as usize]).abs() < 1e-5, "{hits:?} vs {want:?}");
            }
            assert!(hits.windows(2).all(|p| p[0].similarity >= p[1].similarity));
        }
    }
}
