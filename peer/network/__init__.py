"""The network, one module per file of crates/gkmvlp/src/network/."""
