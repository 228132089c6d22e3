//! `cargo run --release -p gkmvlp-cli --example peer_reference -- OUT.json [--weights DIR] [--bench RUNS]`:
//! the reference outputs of burn (Flex) that the PyTorch peer in `peer/` must equal (issue 39), and
//! optionally the warm median time of the image side on Flex with the same weights.
//!
//! For two inputs, the synthetic radiograph and one real sample (`models/samples`, decoded by
//! `gkmvlp_imaging` and resized with `resize_square`), it writes the exact input pixels, the 29 boxes,
//! every ECLS present probability, the ITC image embedding and the zero-shot probabilities of the 14
//! finding names, with the token ids of the zero-shot prompts and each candidate's region, so that the
//! peer needs no tokenizer. With `--bench RUNS` it also times `encode` + `analysis` (the image side with
//! the read-back of boxes and findings, no zero-shot), as `cargo bench -p gkmvlp --bench forward` does,
//! on the threads rayon is given (`RAYON_NUM_THREADS`). Lives in the CLI crate because `gkmvlp` itself
//! does not depend on `gkmvlp-imaging`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use gkmvlp::inference::pipeline::{Pipeline, read_f32};
use gkmvlp::inference::reference_run::synthetic_radiograph;
use gkmvlp::storage::weights::WeightFiles;
use gkmvlp::vocab::Entity;
use serde_json::{Value, json};

/// Where `cargo run` finds the repository's files.
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const SAMPLE: &str = "models/samples/simulated-right-effusion.png";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut out, mut weights, mut runs) = (None, PathBuf::from(REPO).join("models/demo"), 0usize);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--weights" => weights = PathBuf::from(args.next().context("--weights DIR")?),
            "--bench" => runs = args.next().context("--bench RUNS")?.parse().context("--bench RUNS")?,
            _ if arg.starts_with('-') => bail!("unknown option {arg}"),
            _ => out = Some(PathBuf::from(arg)),
        }
    }
    let out = out.context("usage: peer_reference OUT.json [--weights DIR] [--bench RUNS]")?;
    let device = Device::flex();
    let files = WeightFiles::read_dir(&weights).with_context(|| format!("reading {}", weights.display()))?;
    let pipeline = Pipeline::from_weights(files, device)?;
    let size = pipeline.image_size();

    let sample = std::fs::read(PathBuf::from(REPO).join(SAMPLE)).with_context(|| SAMPLE.to_string())?;
    let sample = gkmvlp_imaging::decode(&sample)?.resize_square(size as u32).pixels;
    let names: Vec<String> = Entity::ALL.iter().map(|e| e.name().to_string()).collect();
    let mut inputs = Vec::new();
    for (name, pixels) in [("synthetic", synthetic_radiograph(size)), ("sample", sample)] {
        let encoding = pipeline.encode(pipeline.image_tensor(&pixels)?);
        let boxes = pollster::block_on(read_f32(encoding.boxes.clone()))?;
        let present = pollster::block_on(read_f32(encoding.present.clone()))?;
        let embedding = pollster::block_on(read_f32(encoding.image_embedding.clone()))?;
        let zero_shot = pollster::block_on(pipeline.zero_shot(&encoding, &names))?;
        inputs.push(json!({
            "name": name,
            "pixels": pixels,
            "boxes": boxes.chunks(4).collect::<Vec<_>>(),
            "present": present,
            "image_embedding": embedding,
            "zero_shot": zero_shot.iter().map(|s| s.probability).collect::<Vec<_>>(),
        }));
    }
    let max_len = pipeline.config.text.max_positions;
    let prompts: Vec<Value> = names
        .iter()
        .flat_map(|f| [format!("there is {f}"), format!("no {f}")])
        .map(|text| Ok(json!({ "ids": pipeline.tokenizer.encode(&text, max_len)?, "text": text })))
        .collect::<Result<_>>()?;
    let mut report = json!({
        "weights": weights.display().to_string(),
        "sample": SAMPLE,
        "image_size": size,
        "findings": names,
        "prompts": prompts,
        "candidate_regions": pipeline.knowledge.positions(),
        "candidates": pipeline.knowledge.candidates.iter().map(|c| c.sentence()).collect::<Vec<_>>(),
        "inputs": inputs,
    });
    if runs > 0 {
        let pixels = synthetic_radiograph(size);
        let analyze = || -> Result<f64> {
            let start = Instant::now();
            let encoding = pipeline.encode(pipeline.image_tensor(&pixels)?);
            pollster::block_on(pipeline.analysis(&encoding))?;
            Ok(start.elapsed().as_secs_f64() * 1e3)
        };
        let cold = analyze()?;
        let mut warm = (0..runs).map(|_| analyze()).collect::<Result<Vec<_>>>()?;
        warm.sort_by(f64::total_cmp);
        let threads = std::env::var("RAYON_NUM_THREADS").ok();
        println!(
            "Flex analyze (RAYON_NUM_THREADS={threads:?}): cold {cold:.1} ms, warm median {:.1} ms",
            warm[runs / 2]
        );
        report["bench"] = json!({
            "rayon_num_threads": threads,
            "cold_ms": cold,
            "warm_ms": warm,
            "warm_median_ms": warm[runs / 2],
        });
    }
    std::fs::write(&out, serde_json::to_vec(&report)?).with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(())
}
