//! Few-shot evaluation: products enrolled from K photos each, queried with their other photos.
//!
//! Measures what the gallery promises: a product released after training is recognised from a
//! handful of enrolled photos. Each trial draws K enrolment photos per product at random (seeded);
//! every remaining photo of an enrolled product is a query, ranked against all enrolled products by
//! its best similarity to their photos: the gallery's own ([`Similarity`]), so what is measured is
//! what a search does.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use sneaker_gallery::Similarity;

use crate::error::{IdentifyError, Result};

/// Top-1 and recall@5 at one K, averaged over trials.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FewShotResult {
    pub shots: usize,
    /// Products that have more than `shots` photos (the others cannot be queried).
    pub products: usize,
    /// Queries per trial, summed over trials.
    pub queries: usize,
    pub top1: f32,
    pub recall_at_5: f32,
}

/// `embeddings[i]` is a photo of product `labels[i]`, compared by `similarity`
/// (`Similarity::of` the embedding id for what the gallery does).
pub fn evaluate(
    embeddings: &[Vec<f32>],
    labels: &[String],
    shots: usize,
    trials: usize,
    seed: u64,
    similarity: &Similarity,
) -> Result<FewShotResult> {
    if embeddings.len() != labels.len() {
        return Err(IdentifyError::Input(format!("{} embeddings for {} labels", embeddings.len(), labels.len())));
    }
    if shots == 0 {
        return Err(IdentifyError::Input("few-shot needs at least 1 enrolled photo per product".into()));
    }
    let mut by_product: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (i, l) in labels.iter().enumerate() {
        by_product.entry(l.as_str()).or_default().push(i);
    }
    by_product.retain(|_, photos| photos.len() > shots);
    if by_product.len() < 2 {
        return Err(IdentifyError::NotEnoughData(format!("at least 2 products with more than {shots} photos")));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut queries, mut hits1, mut hits5) = (0usize, 0usize, 0usize);
    for _ in 0..trials.max(1) {
        let mut enrolled: Vec<(usize, usize)> = Vec::new(); // (product index, photo)
        let mut probes: Vec<(usize, usize)> = Vec::new();
        for (p, photos) in by_product.values().enumerate() {
            let mut photos = photos.clone();
            photos.shuffle(&mut rng);
            enrolled.extend(photos[..shots].iter().map(|&i| (p, i)));
            probes.extend(photos[shots..].iter().map(|&i| (p, i)));
        }
        let enrolled_vectors: Vec<&[f32]> = enrolled.iter().map(|&(_, e)| embeddings[e].as_slice()).collect();
        let enrolled_products: Vec<usize> = enrolled.iter().map(|&(p, _)| p).collect();
        for &(truth, q) in &probes {
            let mut best = vec![f32::NEG_INFINITY; by_product.len()];
            let scores = similarity.scores(&embeddings[q], &enrolled_vectors, &enrolled_products);
            for (&(p, _), s) in enrolled.iter().zip(scores) {
                best[p] = best[p].max(s);
            }
            // Rank of the true product: how many products score strictly higher.
            let rank = best.iter().filter(|&&s| s > best[truth]).count();
            queries += 1;
            hits1 += usize::from(rank == 0);
            hits5 += usize::from(rank < 5);
        }
    }
    Ok(FewShotResult {
        shots,
        products: by_product.len(),
        queries,
        top1: hits1 as f32 / queries.max(1) as f32,
        recall_at_5: hits5 as f32 / queries.max(1) as f32,
    })
}

/// Every photo as a query against all the others: recall@1 and recall@5 (a photo of the same
/// product among the nearest 1 or 5) and mean average precision over the ranking.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetrievalResult {
    /// Photos that have at least one other photo of their product (the others are no query).
    pub queries: usize,
    pub recall_at_1: f32,
    pub recall_at_5: f32,
    /// Mean over queries of the precision at each rank where a photo of the product appears.
    pub map: f32,
}

/// `embeddings[i]` is a photo of product `labels[i]`, compared as in [`evaluate`]; each
/// query is searched among all the other photos.
pub fn retrieval(embeddings: &[Vec<f32>], labels: &[String], similarity: &Similarity) -> Result<RetrievalResult> {
    if embeddings.len() != labels.len() {
        return Err(IdentifyError::Input(format!("{} embeddings for {} labels", embeddings.len(), labels.len())));
    }
    let (mut queries, mut r1, mut r5, mut ap_sum) = (0usize, 0usize, 0usize, 0f64);
    let names: Vec<&str> = {
        let mut n: Vec<&str> = labels.iter().map(String::as_str).collect();
        n.sort_unstable();
        n.dedup();
        n
    };
    let product_of = |i: usize| names.binary_search(&labels[i].as_str()).unwrap_or(usize::MAX);
    for q in 0..embeddings.len() {
        let relevant = labels.iter().enumerate().filter(|&(i, l)| i != q && *l == labels[q]).count();
        if relevant == 0 {
            continue;
        }
        let others: Vec<usize> = (0..embeddings.len()).filter(|&i| i != q).collect();
        let vectors: Vec<&[f32]> = others.iter().map(|&i| embeddings[i].as_slice()).collect();
        let products: Vec<usize> = others.iter().map(|&i| product_of(i)).collect();
        let scores = similarity.scores(&embeddings[q], &vectors, &products);
        let mut ranked: Vec<(f32, bool)> =
            others.iter().zip(scores).map(|(&i, s)| (s, labels[i] == labels[q])).collect();
        // Highest similarity first; a tie ranks the wrong photo first, so ties never flatter.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        queries += 1;
        r1 += usize::from(ranked[0].1);
        r5 += usize::from(ranked.iter().take(5).any(|r| r.1));
        let (mut hits, mut precision_sum) = (0usize, 0f64);
        for (rank, _) in ranked.iter().enumerate().filter(|(_, r)| r.1) {
            hits += 1;
            precision_sum += hits as f64 / (rank + 1) as f64;
        }
        ap_sum += precision_sum / relevant as f64;
    }
    if queries == 0 {
        return Err(IdentifyError::NotEnoughData("a product with at least 2 photos".into()));
    }
    let n = queries as f32;
    Ok(RetrievalResult {
        queries,
        recall_at_1: r1 as f32 / n,
        recall_at_5: r5 as f32 / n,
        map: (ap_sum / queries as f64) as f32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Products as tight clusters around orthogonal directions: every query finds its own.
    fn clusters(products: usize, photos: usize, noise: f32) -> (Vec<Vec<f32>>, Vec<String>) {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (mut e, mut l) = (Vec::new(), Vec::new());
        for p in 0..products {
            for _ in 0..photos {
                let mut v: Vec<f32> = (0..products).map(|d| if d == p { 1.0 } else { 0.0 }).collect();
                v.iter_mut().for_each(|x| *x += noise * (rand::Rng::random::<f32>(&mut rng) - 0.5));
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                e.push(v.iter().map(|x| x / n).collect());
                l.push(format!("p{p}"));
            }
        }
        (e, l)
    }

    #[test]
    fn retrieval_is_perfect_on_clusters_and_ranks_by_hand_otherwise() {
        let (e, l) = clusters(5, 3, 0.1);
        let r = retrieval(&e, &l, &Similarity::cosine()).unwrap();
        assert_eq!((r.queries, r.recall_at_1, r.recall_at_5, r.map), (15, 1.0, 1.0, 1.0));
        // Query a: b (other product) is nearest, then c (its own): recall@1 0, AP 1/2.
        let e = vec![vec![1.0, 0.0], vec![0.9, 0.436], vec![0.6, 0.8]];
        let l: Vec<String> = ["p", "q", "p"].iter().map(|s| s.to_string()).collect();
        let r = retrieval(&e, &l, &Similarity::cosine()).unwrap();
        // a → [b, c]: AP 1/2; c → [b (0.888), a (0.6)]: AP 1/2; b has no partner: no query.
        assert_eq!(r.queries, 2);
        assert_eq!((r.recall_at_1, r.recall_at_5), (0.0, 1.0));
        assert!((r.map - 0.5).abs() < 1e-6, "{r:?}");
        assert!(retrieval(&e[..2], &l[..2], &Similarity::cosine()).is_err(), "no product has two photos");
    }

    #[test]
    fn separable_products_are_all_found() {
        let (e, l) = clusters(6, 4, 0.1);
        let r = evaluate(&e, &l, 1, 3, 0, &Similarity::cosine()).unwrap();
        assert_eq!((r.top1, r.recall_at_5, r.products, r.queries), (1.0, 1.0, 6, 3 * 6 * 3));
    }

    #[test]
    fn noise_only_is_near_chance() {
        // Pure noise: top-1 should be near 1/products, far below 1.
        let (e, l) = clusters(10, 6, 1000.0);
        let r = evaluate(&e, &l, 1, 5, 0, &Similarity::cosine()).unwrap();
        assert!(r.top1 < 0.4, "{r:?}");
    }

    #[test]
    fn too_few_photos_is_an_error() {
        let (e, l) = clusters(3, 2, 0.1);
        assert!(evaluate(&e, &l, 2, 1, 0, &Similarity::cosine()).is_err());
        assert!(evaluate(&e, &l[..1], 1, 1, 0, &Similarity::cosine()).is_err());
    }
}
