//! One module per subcommand.

pub mod predict;
