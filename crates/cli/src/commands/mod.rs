//! One module per subcommand.

pub mod calibrate;
pub mod catalog;
pub mod evaluate;
pub mod fewshot;
pub mod gallery;
pub mod predict;
pub mod report;
pub mod scrape;
pub mod serve;
pub mod thresholds;
pub mod train;
