"""Reading the shipped weights folder (mirrors crates/gkmvlp/src/storage/)."""
