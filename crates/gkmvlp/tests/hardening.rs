//! Untrusted input reaching the model crate (issue 37): each gives a clear error or answer, never a panic.

mod common;

use burn::tensor::Device;
use gkmvlp::GkMvlpConfig;
use gkmvlp::inference::pipeline::AnswerSource;
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

/// `bytes` (a safetensors file) with the first value of `tensor` set to `value`.
fn with_first_value(bytes: &[u8], tensor: &str, value: f32) -> Vec<u8> {
    use safetensors::tensor::{SafeTensors, TensorView};
    let file = SafeTensors::deserialize(bytes).unwrap();
    let mut owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.dtype(), view.shape().to_vec(), view.data().to_vec()))
        .collect();
    let (_, _, _, data) = owned.iter_mut().find(|(name, ..)| name == tensor).expect("the tensor exists");
    data[..4].copy_from_slice(&value.to_le_bytes());
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(name, dtype, shape, data)| (name.clone(), TensorView::new(*dtype, shape.clone(), data).unwrap()))
        .collect();
    safetensors::tensor::serialize(views, None).unwrap()
}

#[test]
fn non_finite_weights_are_refused_naming_the_tensor() {
    use gkmvlp::storage::weights::{self, FileEntry, MODEL_FILE, sha256_hex};
    let device = Device::flex();
    let model = common::tiny_model(7);
    let config = GkMvlpConfig::tiny();
    for storage in [weights::Storage::F32, weights::Storage::Int8(Default::default())] {
        let files =
            weights::package(&model, &config, common::TOKENIZER_JSON, serde_json::json!({}), storage.clone(), None)
                .unwrap();
        // An f32 tensor (a bias) and, for int8, the scales of a matrix, which dequantise into the matrix.
        let file = safetensors::SafeTensors::deserialize(&files.model).unwrap();
        let f32_names: Vec<String> = file
            .tensors()
            .into_iter()
            .filter(|(name, view)| name.starts_with("ecls_head") && view.dtype() == safetensors::Dtype::F32)
            .map(|(name, _)| name)
            .collect();
        let bias = f32_names.iter().find(|name| !name.ends_with(".int8_scales")).expect("an f32 tensor");
        let mut targets = vec![(bias.clone(), bias.clone())];
        if let Some(scales) = f32_names.iter().find(|name| name.ends_with(".int8_scales")) {
            targets.push((scales.clone(), scales.trim_end_matches(".int8_scales").to_string()));
        }
        assert_eq!(targets.len(), if storage == weights::Storage::F32 { 1 } else { 2 }, "{targets:?}");
        for ((tensor, named), bad) in targets.into_iter().zip([f32::NAN, f32::INFINITY].into_iter().cycle()) {
            let mut tampered = files.clone();
            tampered.model = with_first_value(&files.model, &tensor, bad);
            // Re-hashed into the manifest, as someone altering the folder would.
            let mut manifest = Manifest::parse(&files.manifest_json).unwrap();
            manifest.files.insert(
                MODEL_FILE.into(),
                FileEntry { sha256: sha256_hex(&tampered.model), bytes: tampered.model.len() as u64 },
            );
            tampered.manifest_json = serde_json::to_vec(&manifest).unwrap();
            let error = weights::load(tampered, &device).err().expect("refused").to_string();
            assert!(error.contains(&format!("tensor `{named}` holds NaN or infinite values")), "{storage:?}: {error}");
            assert!(error.contains(MODEL_FILE), "{error}");
        }
        weights::load(files, &device).expect("the untampered weights load");
    }
}

#[test]
fn a_long_report_is_refused_and_one_within_the_cap_is_checked_in_batches() {
    use gkmvlp::inference::pipeline::{MAX_REPORT_SENTENCES, SENTENCES_PER_BATCH};
    use gkmvlp::inference::reference_run::synthetic_radiograph;
    let pipeline = common::pipeline(common::tiny_model(11), Device::flex());
    let encoding = pipeline.encode(pipeline.image_tensor(&synthetic_radiograph(64)).unwrap());

    let too_long = "No effusion. ".repeat(MAX_REPORT_SENTENCES + 1);
    let error = pollster::block_on(pipeline.check_report(&encoding, &too_long)).expect_err("refused").to_string();
    assert!(error.contains("201 sentences; at most 200 are checked"), "{error}");

    // Sentences of different lengths, so that each batch pads some of them.
    let phrases = ["no effusion", "the heart is enlarged", "small left apical pneumothorax", "lungs clear"];
    let sentences: Vec<String> = (0..50).map(|i| format!("{} {i}", phrases[i % phrases.len()])).collect();
    assert!(sentences.len() > SENTENCES_PER_BATCH, "more than one batch");
    let checked = pollster::block_on(pipeline.check_report(&encoding, &sentences.join(". "))).unwrap();
    assert_eq!(checked.len(), sentences.len());
    for i in [0, 1, SENTENCES_PER_BATCH - 1, SENTENCES_PER_BATCH, 49] {
        let alone = pollster::block_on(pipeline.check_report(&encoding, &sentences[i])).unwrap();
        assert_eq!(checked[i].sentence, sentences[i]);
        let (batched, single) = (checked[i].match_probability, alone[0].match_probability);
        assert!((batched - single).abs() < 1e-5, "sentence {i}: {batched} in a batch, {single} alone");
    }
}

#[test]
fn a_question_of_absence_is_answered_as_the_findings_list_calls_it() {
    use gkmvlp::inference::reference_run::synthetic_radiograph;
    let pipeline = common::pipeline(common::tiny_model(5), Device::flex());
    let encoding = pipeline.encode(pipeline.image_tensor(&synthetic_radiograph(64)).unwrap());
    let answer = |question: &str| pollster::block_on(pipeline.answer(&encoding, question)).unwrap();
    for (present, absent) in [
        ("Is there a pleural effusion?", "Is there no pleural effusion?"),
        ("Is there lung mass in the left lung?", "Is there no lung mass in the left lung?"),
    ] {
        let (yes, no) = (answer(present), answer(absent));
        let finding = no.finding.as_ref().expect("answered from the findings");
        assert!(finding.asks_absence);
        let called = finding.probability >= finding.threshold;
        assert_eq!(no.text, if called { "no" } else { "yes" }, "{absent}: {finding:?}");
        assert_ne!(yes.text, no.text, "{present} and {absent} have opposite answers");
    }
}

#[test]
fn a_where_question_about_an_unknown_finding_places_nothing() {
    use gkmvlp::inference::reference_run::synthetic_radiograph;
    let pipeline = common::pipeline(common::tiny_model(5), Device::flex());
    let encoding = pipeline.encode(pipeline.image_tensor(&synthetic_radiograph(64)).unwrap());
    let answer = pollster::block_on(pipeline.answer(&encoding, "Where is the rib fracture?")).unwrap();
    assert_eq!(answer.source, AnswerSource::Unanswerable);
    assert!(answer.finding.is_none());
    assert!(answer.text.starts_with("\"rib fracture\" is not a finding this model knows"), "{}", answer.text);
    assert!(answer.text.contains("pleural effusion"), "the findings it knows are listed: {}", answer.text);
    assert!(!answer.text.contains(" in the "), "no zone is invented: {}", answer.text);
}

#[test]
fn a_question_in_words_the_model_never_read_is_not_given_to_the_decoder() {
    use gkmvlp::inference::reference_run::synthetic_radiograph;
    let pipeline = common::pipeline(common::tiny_model(5), Device::flex());
    let encoding = pipeline.encode(pipeline.image_tensor(&synthetic_radiograph(64)).unwrap());
    let answer = |question: &str| pollster::block_on(pipeline.answer(&encoding, question)).unwrap();

    let french = answer("Y a-t-il un épanchement pleural ?");
    assert_eq!(french.source, AnswerSource::Unanswerable);
    assert!(french.finding.is_none());
    assert!(
        french.text.starts_with("This model does not know the words \"y\", \"t\", \"il\", \"un\", \"épanchement\"")
    );
    assert!(!french.text.contains("yes"), "no verdict: {}", french.text);

    assert_eq!(answer("Is the patient a smoker?").source, AnswerSource::Unanswerable);
    let rambling = answer(&format!("{} one two three four five six seven", "z".repeat(20_000)));
    assert!(rambling.text.len() < 500, "a short message whatever was typed: {} bytes", rambling.text.len());
    assert!(rambling.text.contains("and 3 more"), "{}", rambling.text);
    assert_eq!(answer("Is there a pleural effusion?").source, AnswerSource::Findings);
    assert_eq!(answer("How large is the pleural effusion?").source, AnswerSource::Decoder);
}
