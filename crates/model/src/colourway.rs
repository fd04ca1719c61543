//! The embedding's colour part. Every predictor's embedding is its network's features followed by
//! the photo's colour descriptor (`sneaker_vision::colour_descriptor`): the network tells models
//! apart by shape, and is taught that all colourways of a model are one label, so it barely sees
//! colour; a gallery product is one colourway, and a photo of its sole or top shares little but
//! its palette with the side view it was enrolled from. How the two parts are weighed is the
//! gallery's business (`sneaker_gallery::similarity`); here they are only put side by side, each
//! at unit length.

use ndarray::{Array2, ArrayView4, Axis, concatenate};
use sneaker_vision::{COLOUR_DIM, colour_descriptor_chw};

use crate::error::{ModelError, Result};

/// Appended to the network's embedding id: a gallery built before the colour part existed (or
/// with another descriptor) is refused rather than searched with vectors of another shape.
pub const COLOUR_TAG: &str = "+colour1";

/// The embedding id of `network_id`'s features with the colour part.
pub fn with_colour(network_id: &str) -> String {
    format!("{network_id}{COLOUR_TAG}")
}

/// How many trailing values of an embedding named `embedding_id` are its colour part.
pub fn colour_dims(embedding_id: &str) -> usize {
    if embedding_id.ends_with(COLOUR_TAG) { COLOUR_DIM } else { 0 }
}

/// `[unit features, colour descriptor]` for each image of `batch` (`[N, 3, S, S]`, normalised
/// network input); `features` is `[N, D]`.
pub fn append_colour(features: Array2<f32>, batch: ArrayView4<'_, f32>) -> Result<Array2<f32>> {
    let (n, _, h, w) = batch.dim();
    if features.nrows() != n || h != w {
        return Err(ModelError::Mismatch(format!(
            "{} feature rows for a batch of {n} images of {h}×{w}",
            features.nrows()
        )));
    }
    let mut deep = features;
    for mut row in deep.axis_iter_mut(Axis(0)) {
        let norm = row.dot(&row).sqrt();
        if norm > 0.0 && norm.is_finite() {
            row.mapv_inplace(|v| v / norm);
        }
    }
    let mut colour = Array2::zeros((n, COLOUR_DIM));
    for (i, image) in batch.axis_iter(Axis(0)).enumerate() {
        let chw: Vec<f32> = image.iter().copied().collect();
        colour.row_mut(i).assign(&ndarray::Array1::from(colour_descriptor_chw(&chw, h)));
    }
    concatenate(Axis(1), &[deep.view(), colour.view()]).map_err(|e| ModelError::Mismatch(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;

    #[test]
    fn the_tag_names_the_colour_part() {
        assert_eq!(colour_dims(&with_colour("run@01")), COLOUR_DIM);
        assert_eq!(colour_dims("run@01"), 0);
    }

    #[test]
    fn both_parts_are_unit_length() {
        let batch = Array4::from_shape_fn((2, 3, 8, 8), |(i, c, y, x)| ((i + c + x * y) % 5) as f32 / 5.0 - 0.4);
        let out = append_colour(ndarray::array![[3.0, 4.0], [0.0, 2.0]], batch.view()).unwrap();
        assert_eq!(out.dim(), (2, 2 + COLOUR_DIM));
        for row in out.rows() {
            let deep: f32 = row.iter().take(2).map(|v| v * v).sum();
            let colour: f32 = row.iter().skip(2).map(|v| v * v).sum();
            assert!((deep - 1.0).abs() < 1e-5 && (colour - 1.0).abs() < 1e-5, "{row:?}");
        }
        assert!(append_colour(ndarray::array![[1.0]], batch.view()).is_err(), "one row for two images");
    }
}
