//! One module per subcommand.

pub mod catalog;
pub mod gallery;
pub mod predict;
pub mod scrape;
pub mod serve;
#[cfg(feature = "train")]
pub mod evaluate;
#[cfg(feature = "train")]
pub mod report;
#[cfg(feature = "train")]
pub mod train;
