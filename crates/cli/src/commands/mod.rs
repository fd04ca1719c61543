//! One module per subcommand.

pub mod calibrate;
pub mod catalog;
pub mod fewshot;
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
