//! `gkmvlp package`: trained weights (a training checkpoint) re-written for shipping, in int8 or f32, with
//! the training data's description and the evaluation metrics in the manifest.
//!
//! `gkmvlp package-untrained`: an untrained model written in the weights format, so the browser and the
//! CLI can run end to end before trained weights exist. Its manifest says it is untrained.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::Device;
use clap::Args;
use gkmvlp::GkMvlpConfig;
use gkmvlp::storage::int8::{FINER_BITS, Precision};
use gkmvlp::storage::weights::{self, MANIFEST_FILE, Storage, TOKENIZER_FILE, WeightFiles};

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

pub fn run(args: &PackageArgs) -> Result<()> {
    let config = GkMvlpConfig::preset(&args.config)
        .with_context(|| format!("unknown config `{}` (tiny, demo, base)", args.config))?;
    let tokenizer_path = crate::analyze::repo_path("models").join(TOKENIZER_FILE);
    let tokenizer =
        std::fs::read(&tokenizer_path).with_context(|| format!("cannot read {}", tokenizer_path.display()))?;
    let device = Device::flex();
    device.seed(args.seed);
    let model = config.init(&device).context("cannot build the model")?;
    let training = serde_json::json!({ "untrained": true, "seed": args.seed });
    let files = weights::package(
        &model,
        &config,
        &tokenizer,
        training,
        if args.int8 { Storage::Int8(Precision::default()) } else { Storage::F32 },
        None,
    )
    .context("cannot package the weights")?;
    files.write_dir(&args.out).with_context(|| format!("cannot write the weights to {}", args.out.display()))?;
    eprintln!("wrote untrained `{}` weights ({} bytes) to {}", args.config, files.model.len(), args.out.display());
    Ok(())
}

#[derive(Args)]
pub struct ShipArgs {
    /// Trained weights, e.g. a run's `checkpoint` folder.
    #[arg(long)]
    weights: PathBuf,
    /// Store matrices as per-block int8.
    #[arg(long)]
    int8: bool,
    /// With --int8: modules to keep in f32 (module paths, comma-separated, e.g. `gk_module,ecls_head`).
    #[arg(long, value_delimiter = ',', requires = "int8")]
    keep_f32: Vec<String>,
    /// With --int8: modules to store in --finer-bits bits, or `MODULE:BITS` in a width of their own (each
    /// bit past 8 adds an eighth of their int8 bytes and halves their rounding error).
    #[arg(long, value_delimiter = ',', requires = "int8")]
    finer: Vec<String>,
    /// Width of the --finer modules' integers, 9 to 16 (`int8::FINER_BITS`).
    #[arg(long, default_value_t = 10, requires = "finer", value_parser = clap::value_parser!(u32).range(*FINER_BITS.start() as i64..=*FINER_BITS.end() as i64))]
    finer_bits: u32,
    /// The dataset it was trained on: its `manifest.json` (seeds, shares) goes into the weights' manifest.
    #[arg(long)]
    data: Option<PathBuf>,
    /// A `gkmvlp eval --out` file whose metrics go into the manifest.
    #[arg(long)]
    metrics: Option<PathBuf>,
    /// Output folder (created).
    #[arg(long)]
    out: PathBuf,
}

pub fn ship(args: &ShipArgs) -> Result<()> {
    let read_json = |path: &Path| -> Result<serde_json::Value> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("{}: not valid JSON", path.display()))
    };
    let weights_context = || format!("cannot load the weights in {}", args.weights.display());
    let files = WeightFiles::read_dir(&args.weights).with_context(weights_context)?;
    let tokenizer = files.tokenizer_json.clone();
    let loaded = weights::load(files, &Device::flex()).with_context(weights_context)?;
    let (manifest, config, model) = (loaded.manifest, loaded.config, loaded.model);
    let mut training = match &manifest.training {
        serde_json::Value::Object(_) => manifest.training.clone(),
        other => serde_json::json!({ "recorded": other }),
    };
    if let Some(data) = &args.data {
        training["data"] = read_json(&data.join(MANIFEST_FILE))?;
    }
    if let Some(metrics) = &args.metrics {
        training["metrics"] = read_json(metrics)?
            .get("metrics")
            .cloned()
            .with_context(|| format!("{}: no `metrics`", metrics.display()))?;
    }
    let files =
        weights::package(&model, &config, &tokenizer, training, storage(args), manifest.present_thresholds.clone())
            .context("cannot package the weights")?;
    files.write_dir(&args.out).with_context(|| format!("cannot write the weights to {}", args.out.display()))?;
    eprintln!(
        "wrote {} weights ({} bytes) to {}",
        if args.int8 { "int8" } else { "f32" },
        files.model.len(),
        args.out.display()
    );
    Ok(())
}

fn storage(args: &ShipArgs) -> Storage {
    let precision =
        Precision { keep_f32: args.keep_f32.clone(), finer: args.finer.clone(), finer_bits: args.finer_bits };
    if args.int8 { Storage::Int8(precision) } else { Storage::F32 }
}
