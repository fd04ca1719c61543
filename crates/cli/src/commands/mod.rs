//! One module per subcommand.

pub mod predict;
pub mod serve;
#[cfg(feature = "train")]
pub mod evaluate;
#[cfg(feature = "train")]
pub mod report;
#[cfg(feature = "train")]
pub mod train;
