//! Untrusted input reaching the model crate (issue 37): each gives a clear error or answer, never a panic.

mod common;

use burn::tensor::Device;
use gkmvlp::GkMvlpConfig;
use gkmvlp::storage::weights::Manifest;

const DEMO_MANIFEST: &[u8] = include_bytes!("../../../models/demo/manifest.json");

/// The shipped demo manifest with `path` (dot-separated) of its config set to `value`.
fn demo_manifest_with(path: &str, value: serde_json::Value) -> Manifest {
    let mut manifest = Manifest::parse(DEMO_MANIFEST).expect("the shipped manifest parses");
    let mut field = &mut manifest.config;
    for key in path.split('.') {
        field = field.get_mut(key).unwrap_or_else(|| panic!("the demo config has {path}"));
    }
    *field = value;
    manifest
}

#[test]
fn the_shipped_config_is_valid() {
    let manifest = Manifest::parse(DEMO_MANIFEST).unwrap();
    manifest.model_config().expect("the demo config is valid");
    for name in ["tiny", "demo", "base"] {
        GkMvlpConfig::preset(name).unwrap().validate().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn each_bad_manifest_config_is_refused_naming_its_field() {
    use serde_json::json;
    for (path, value, expected) in [
        ("vision.heads", json!(0), "vision.heads is 0; it must be positive and divide vision.width 192"),
        ("vision.heads", json!(5), "vision.heads is 5; it must be positive and divide vision.width 192"),
        ("vision.patch_size", json!(0), "vision.patch_size is 0"),
        ("vision.patch_size", json!(15), "vision.patch_size is 15; it must be positive and divide vision.image_size"),
        ("vision.image_size", json!(0), "vision.image_size is 0"),
        ("vision.width", json!(0), "vision.width is 0"),
        ("vision.depth", json!(0), "vision.depth is 0"),
        ("vision.mlp_ratio", json!(0), "vision.mlp_ratio is 0"),
        ("vision.pixel_std", json!(0.0), "vision.pixel_std is 0"),
        ("vision.width", json!(1_000_000_000u64), "vision.width is 1000000000; it must be from 1 to"),
        ("text.heads", json!(0), "text.heads is 0"),
        ("text.heads", json!(7), "text.heads is 7; it must be positive and divide text.width 384"),
        ("text.width", json!(0), "text.width is 0"),
        ("text.layers", json!(0), "text.layers is 0"),
        ("text.intermediate", json!(0), "text.intermediate is 0"),
        ("text.vocab_size", json!(0), "text.vocab_size is 0"),
        ("text.max_positions", json!(0), "text.max_positions is 0"),
        ("text.layer_norm_eps", json!(0.0), "text.layer_norm_eps is 0"),
        ("decoder_layers", json!(0), "decoder_layers is 0"),
        ("region_head_layers", json!(0), "region_head_layers is 0"),
        ("roi_samples", json!(0), "roi_samples is 0"),
        ("gk_layers", json!(0), "gk_layers is 0"),
        ("embed_dim", json!(0), "embed_dim is 0"),
        ("max_generated_tokens", json!(0), "max_generated_tokens is 0"),
    ] {
        let error = demo_manifest_with(path, value.clone()).model_config().expect_err(path).to_string();
        assert!(error.contains(expected), "{path} = {value}: {error}");
        assert!(error.contains("manifest.json"), "{error}");
    }
}

#[test]
fn a_bad_config_is_refused_before_any_tensor_is_made() {
    let device = Device::flex();
    let mut config = GkMvlpConfig::tiny();
    config.vision.heads = 3;
    let error = config.init(&device).expect_err("refused").to_string();
    assert_eq!(error, "model configuration: vision.heads is 3; it must be positive and divide vision.width 32");
    let mut config = GkMvlpConfig::tiny();
    config.text.vocab_size = 1000;
    let model = config.init(&device).expect("a small vocabulary builds");
    let pipeline = gkmvlp::inference::pipeline::Pipeline::new(
        model,
        config,
        common::tokenizer(),
        device,
        gkmvlp::inference::pipeline::WeightsOrigin::Untrained { text_encoder_from_minilm: false },
    );
    let error = pipeline.err().expect("the tokenizer's ids do not fit").to_string();
    assert!(error.contains("more than the model's text.vocab_size 1000"), "{error}");
}
