//! Gallery search: every enrolled product photo becomes an L2-normalised embedding; a query photo
//! is identified by its nearest neighbours, so a product enrolled with a few photos is
//! recognised at once, with no retraining.
//!
//! [`VectorIndex`] is the storage/search seam: an exact in-memory index ([`ExactIndex`]) for
//! small galleries, an approximate one ([`HnswIndex`]) beyond a size threshold, and
//! PostgreSQL + pgvector when one machine is not enough all implement it. [`Gallery`] keeps the
//! vectors with their labels, products and source photos, and stores them in a run folder.
//!
//! [`GalleryBackend`] is the seam above it that enrolment, `predict` and `serve` use: the folder
//! gallery ([`Gallery`]) or the PostgreSQL one several servers share (`PgGallery`), chosen at run
//! time by where `--gallery` points ([`GalleryLocation`], [`open_gallery`]).

mod approx;
mod backend;
mod embed;
mod enroll;
mod error;
mod exact;
mod gallery;
mod index;
mod location;
#[cfg(feature = "pgvector")]
mod pgvector;
#[cfg(feature = "pgvector")]
mod postgres;
mod similarity;
mod store;
mod sync;
mod thumbs;

#[cfg(feature = "pgvector")]
pub use self::pgvector::{AnnKind, PG_URL_ENV, PgConfig, PgVectorIndex};
#[cfg(feature = "pgvector")]
pub use self::postgres::PgGallery;
pub use approx::{HnswConfig, HnswIndex};
pub use backend::{GalleryBackend, OpenMode};
pub use embed::{Embedder, read_bytes, read_photo, run_gallery_dir};
pub use enroll::{
    BATCH, EnrollReport, Failure, Photo, Progress, enroll, enroll_catalog, enroll_product, enroll_with, label_from_name,
};
pub use error::{GalleryError, Result};
pub use exact::{ExactIndex, dot};
pub use gallery::{DEFAULT_APPROXIMATE_ABOVE, Entry, Gallery, GalleryConfig, LabelScore, Match, label_scores};
pub use index::{Hit, VectorIndex, l2_normalise};
pub use location::{DEFAULT_PG_GALLERY, GalleryLocation, PG_GALLERY_PARAM, PgLocation, open_gallery};
pub use similarity::{ColourMix, Similarity};
pub use store::{GALLERY_DIR, GALLERY_FILE};
pub use sync::{SyncReport, sync_catalog};
pub use thumbs::{THUMB_SIDE, THUMBS_DIR, thumbnail_jpeg, thumbnail_path, write_thumbnail};
