//! `gkmvlp package-untrained`: an untrained model written in the weights format, so the browser and the
//! CLI can run end to end before trained weights exist. Its manifest says it is untrained.

use std::path::PathBuf;

use burn::tensor::Device;
use clap::Args;
use gkmvlp::GkMvlpConfig;
use gkmvlp::weights::{self, MANIFEST_FILE, MODEL_FILE, Storage, TOKENIZER_FILE};

#[derive(Args)]
pub struct PackageArgs {
    /// Preset: tiny, demo or base.
    #[arg(long, default_value = "tiny")]
    config: String,
    /// Seed of the random weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Store matrices as per-block int8 (about a quarter of the size).
    #[arg(long)]
    int8: bool,
    /// Output folder (created).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: &PackageArgs) -> Result<(), String> {
    let config = GkMvlpConfig::preset(&args.config).ok_or_else(|| format!("unknown config `{}` (tiny, demo, base)", args.config))?;
    let tokenizer = std::fs::read(crate::analyze::repo_path("models").join(TOKENIZER_FILE)).map_err(|e| format!("models/{TOKENIZER_FILE}: {e}"))?;
    let device = Device::flex();
    device.seed(args.seed);
    let model = config.init(&device);
    let training = serde_json::json!({ "untrained": true, "seed": args.seed });
    let (manifest, bytes) = weights::package(&model, &config, &tokenizer, training, if args.int8 { Storage::Int8 } else { Storage::F32 }).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let write = |name: &str, data: &[u8]| std::fs::write(args.out.join(name), data).map_err(|e| format!("{}: {e}", args.out.join(name).display()));
    write(MODEL_FILE, &bytes)?;
    write(TOKENIZER_FILE, &tokenizer)?;
    write(MANIFEST_FILE, &serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?)?;
    eprintln!("wrote untrained `{}` weights ({} bytes) to {}", args.config, bytes.len(), args.out.display());
    Ok(())
}
