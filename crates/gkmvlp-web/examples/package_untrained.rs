//! Writes an untrained `tiny` weights folder (manifest.json, model.safetensors, tokenizer.json) in the
//! shipped format, for the browser tests of the weights path (download progress, sha256, Cache API,
//! corrupt files) while no trained weights exist.
//!
//! `cargo run --release -p gkmvlp-web --example package_untrained -- OUT_DIR [tiny|demo|base]`

use std::path::PathBuf;

use burn::tensor::Device;
use gkmvlp::GkMvlpConfig;
use gkmvlp::weights::{self, MANIFEST_FILE, MODEL_FILE, TOKENIZER_FILE};
use gkmvlp_web::session::UNTRAINED_SEED;

fn main() -> Result<(), String> {
    let usage = "usage: package_untrained OUT_DIR [tiny|demo|base]";
    let out = PathBuf::from(std::env::args().nth(1).ok_or(usage)?);
    let preset = std::env::args().nth(2).unwrap_or_else(|| "tiny".into());
    let config = GkMvlpConfig::preset(&preset).ok_or(usage)?;
    let tokenizer = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/tokenizer.json")).map_err(|e| e.to_string())?;
    let device = Device::flex();
    device.seed(UNTRAINED_SEED);
    let model = config.init(&device);
    let training = serde_json::json!({ "untrained": true, "note": format!("random {preset} weights for tests") });
    let (manifest, bytes) = weights::package(&model, &config, &tokenizer, training).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    for (name, data) in [(MANIFEST_FILE, &json), (MODEL_FILE, &bytes), (TOKENIZER_FILE, &tokenizer)] {
        std::fs::write(out.join(name), data).map_err(|e| format!("{}: {e}", out.join(name).display()))?;
    }
    println!("{}", out.display());
    Ok(())
}
