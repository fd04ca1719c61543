//! The bottom of the workspace: how every stage writes files. [`atomic`] replaces a file so a
//! crash leaves the old one or the new one, never half of one; [`chart`] draws a PNG chart with
//! an embedded font. Both were copied into six crates before; one copy cannot drift.

pub mod atomic;
pub mod chart;

pub use atomic::{sync_dir, temp_file_in, write_atomic, write_atomic_with, write_unsynced};
