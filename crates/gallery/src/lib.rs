//! Gallery search: every enrolled product photo becomes an L2-normalised embedding; a query photo
//! is identified by its nearest neighbours, so a product enrolled with a few photos is
//! recognised at once, with no retraining.
//!
//! [`VectorIndex`] is the storage/search seam: an exact in-memory index for small galleries, an
//! approximate one beyond a size threshold, and PostgreSQL + pgvector when one machine is not
//! enough all implement it.

mod error;
mod index;

pub use error::{GalleryError, Result};
pub use index::{Hit, VectorIndex, l2_normalise};
