//! One module per subcommand.

pub mod predict;
#[cfg(feature = "train")]
pub mod evaluate;
#[cfg(feature = "train")]
pub mod report;
#[cfg(feature = "train")]
pub mod train;
