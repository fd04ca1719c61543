//! Placeholder until the preprocessing benchmark lands.
fn main() {}
