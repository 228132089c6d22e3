//! End to end on the tiny model: simulate a few studies, train a few steps, stop, resume, and load the
//! checkpoint as trained weights.

use std::path::PathBuf;

use gkmvlp::weights::{MANIFEST_FILE, MODEL_FILE, Manifest, TOKENIZER_FILE};
use gkmvlp_train::{TrainArgs, run};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(path)
}

#[test]
fn tiny_trains_checkpoints_and_resumes() {
    let ct = repo("assets/ct");
    assert!(ct.join("cxr.nii.gz").exists(), "{}: missing; run scripts/fetch-assets.sh --with-ct", ct.display());
    let work = std::env::temp_dir().join(format!("gkmvlp-train-test-{}", std::process::id()));
    let data = work.join("data");
    let mut sim = gkmvlp_sim::SimulateArgs::new(data.clone(), 12, 5);
    sim.size = 96;
    sim.ct = ct;
    gkmvlp_sim::run(&sim).expect("simulate");

    let args = |steps, resume| TrainArgs {
        config: "tiny".into(),
        data: data.clone(),
        out: work.join("run"),
        steps,
        settings: None,
        resume,
        minilm: repo("assets/minilm/model.safetensors"),
        tokenizer: repo("models/tokenizer.json"),
        seed: 3,
        no_grounding: false,
        device: "flex".into(),
    };
    assert_eq!(run(&args(2, false)).unwrap(), 2);
    let checkpoint = work.join("run/checkpoint");
    let manifest = Manifest::parse(&std::fs::read(checkpoint.join(MANIFEST_FILE)).unwrap()).unwrap();
    assert_eq!(manifest.training["step"], 2);
    assert_eq!(run(&args(4, true)).unwrap(), 4, "resume continues from the checkpoint's step");

    let pipeline = gkmvlp::pipeline::Pipeline::from_weights(
        &std::fs::read(checkpoint.join(MANIFEST_FILE)).unwrap(),
        std::fs::read(checkpoint.join(MODEL_FILE)).unwrap(),
        &std::fs::read(checkpoint.join(TOKENIZER_FILE)).unwrap(),
        burn::tensor::Device::flex(),
    )
    .expect("checkpoint loads as trained weights");
    assert!(matches!(pipeline.origin, gkmvlp::pipeline::WeightsOrigin::Trained { .. }));
    std::fs::remove_dir_all(&work).ok();
}
