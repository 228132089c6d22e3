//! Every committed fuzz corpus file (`fuzz/corpus/<target>`, and any crash kept in
//! `fuzz/artifacts-found/<target>`) through the functions its fuzz target calls, under `cargo test`:
//! CI checks the corpus on stable Rust, without cargo-fuzz or nightly. See `fuzz/README.md`.

#[path = "../../../fuzz/src/checks.rs"]
mod checks;

use std::path::Path;

const FUZZ: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz");

/// Runs `check` on every file of the target's corpus and found crashes; returns how many there were.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let mut count = 0;
    for folder in ["corpus", "artifacts-found"] {
        let Ok(entries) = std::fs::read_dir(Path::new(FUZZ).join(folder).join(target)) else { continue };
        for entry in entries {
            let path = entry.expect("a corpus entry").path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if std::panic::catch_unwind(|| check(&bytes)).is_err() {
                panic!("{target}: {} panics", path.display());
            }
            count += 1;
        }
    }
    count
}

#[test]
fn the_decode_corpus_replays() {
    assert!(replay("decode", checks::decode) > 0, "the decode corpus is committed");
}

#[test]
fn the_weights_corpus_replays() {
    assert!(replay("weights", checks::weights) > 0, "the weights corpus is committed");
}

#[test]
fn the_tokenize_corpus_replays() {
    assert!(replay("tokenize", checks::tokenize) > 0, "the tokenize corpus is committed");
}

#[test]
fn the_question_corpus_replays() {
    assert!(replay("question", checks::question) > 0, "the question corpus is committed");
}
