//! The fuzz targets' library: what each target does with one input lives in `checks.rs`, which the stable
//! replay test (`crates/gkmvlp-cli/tests/hostile_fuzz_replay.rs`) includes too, so `cargo test` runs every
//! committed corpus file through the very same code without nightly.

pub mod checks;
