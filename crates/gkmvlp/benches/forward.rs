//! `cargo bench -p gkmvlp --bench forward [-- CONFIG]`: median time of the image side of the `demo`
//! forward (E_I → region head → RoIAlign → GK → ECLS, with read-back of boxes and probabilities) and of
//! report generation per token, on Flex and on wgpu (lavapipe on a machine without a GPU). Prints numbers;
//! asserts nothing.

use std::ops::ControlFlow;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use gkmvlp::GkMvlpConfig;
use gkmvlp::inference::generation::{Generation, greedy};
use gkmvlp::inference::pipeline::{Pipeline, StageClock, WeightsOrigin};
use gkmvlp::inference::reference_run::synthetic_radiograph;
use gkmvlp::tokenizer::{CLS_ID, TextTokenizer};

const RUNS: usize = 5;
/// About a short report's length.
const TOKENS: usize = 64;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn bench(name: &str, pipeline: &Pipeline) {
    let pixels = synthetic_radiograph(pipeline.image_size());
    let analyze = || {
        let start = Instant::now();
        let encoding = pipeline.encode(pipeline.image_tensor(&pixels).unwrap());
        pollster::block_on(pipeline.analysis(&encoding)).unwrap();
        (start.elapsed().as_secs_f64() * 1e3, encoding)
    };
    let (cold, encoding) = analyze();
    let warm = median((0..RUNS).map(|_| analyze().0).collect());
    let decoder = &pipeline.model.text_decoder;
    let max_positions = pipeline.config.text.max_positions;
    let per_token = median(
        (0..3)
            .map(|_| {
                let start = Instant::now();
                let generation =
                    Generation { max_new_tokens: TOKENS, max_positions, stop: None, repeats: None, unfinished: None };
                pollster::block_on(greedy(decoder, &encoding.visual_memory, &[CLS_ID], &generation, |_| {
                    ControlFlow::Continue(())
                }))
                .unwrap();
                start.elapsed().as_secs_f64() * 1e3 / TOKENS as f64
            })
            .collect(),
    );
    println!(
        "{name:<40} analyze cold {cold:8.1} ms   warm median {warm:8.1} ms   report {per_token:6.1} ms/token ({TOKENS} tokens from [CLS], KV cache)"
    );
}

/// Median time of each stage of an analysis on Flex (the first run, which encodes the zero-shot prompts,
/// left out), as the browser benchmark prints it for Flex in wasm.
fn stage_breakdown(pipeline: &Pipeline) {
    let pixels = synthetic_radiograph(pipeline.image_size());
    let run = || {
        let mut clock = StageClock::start();
        pollster::block_on(pipeline.stage_times(&pixels, &mut clock)).unwrap();
        clock.into_times()
    };
    let runs: Vec<_> = (0..=RUNS).map(|_| run()).skip(1).collect();
    let stages: Vec<String> = runs[0]
        .iter()
        .enumerate()
        .map(|(i, first)| format!("{} {:.1}", first.stage, median(runs.iter().map(|r| r[i].ms).collect())))
        .collect();
    println!("{:<40} stages, warm median ms: {}", "Flex (CPU)", stages.join(", "));
}

fn main() {
    let config_name = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_else(|| "demo".into());
    let config = GkMvlpConfig::preset(&config_name).expect("config: tiny, demo or base");
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    println!(
        "GK-MVLP `{config_name}` forward, batch 1, {} px; {} threads available; CPU: {cpu}",
        config.vision.image_size,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let tokenizer = include_bytes!("../../../models/tokenizer.json");
    let flex = Device::flex();
    flex.seed(0);
    let model = config.init(&flex).expect("a preset initialises");
    let make = |model, device: Device| {
        let tokenizer = TextTokenizer::from_bytes(tokenizer).unwrap();
        Pipeline::new(
            model,
            config.clone(),
            tokenizer,
            device,
            WeightsOrigin::Untrained { text_encoder_from_minilm: false },
        )
        .unwrap()
    };
    let cpu_pipeline = make(model.clone(), flex);
    bench("Flex (CPU)", &cpu_pipeline);
    stage_breakdown(&cpu_pipeline);
    match Device::wgpu_options().init_with_setup() {
        Ok((device, setup)) => {
            let info = setup.adapter.get_info();
            bench(&format!("wgpu {:?} {}", info.backend, info.name), &make(model.to_device(&device), device));
        }
        Err(e) => println!("wgpu: no adapter ({e:?})"),
    }
}
