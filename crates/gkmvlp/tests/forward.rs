//! End-to-end behaviour of the tiny model on Flex: shapes, value ranges, batch independence, and the
//! weights format (round trip; truncated, tampered and mismatched files).

mod common;

use std::ops::ControlFlow;

use burn::tensor::{Device, Tensor, TensorData};
use gkmvlp::inference::pipeline::Pipeline;
use gkmvlp::inference::reference_run::{self, synthetic_radiograph};
use gkmvlp::network::ecls_head::PresentThresholds;
use gkmvlp::network::knowledge::Knowledge;
use gkmvlp::storage::weights::{self, KNOWLEDGE_FILE, MODEL_FILE, Manifest, TOKENIZER_FILE, WeightFiles};
use gkmvlp::vocab::{Entity, NUM_ENTITIES, NUM_REGIONS, candidates};
use gkmvlp::{GkMvlpConfig, RegionPooling};

fn read(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn analysis_has_29_valid_boxes_and_every_candidate() {
    let device = Device::flex();
    let pipeline = common::pipeline(common::tiny_model(1), device);
    let image = pipeline.image_tensor(&synthetic_radiograph(64)).unwrap();
    let analysis = pollster::block_on(pipeline.analysis(&pipeline.encode(image))).unwrap();
    assert_eq!(analysis.regions.len(), NUM_REGIONS);
    for region in &analysis.regions {
        let [x0, y0, x1, y1] = region.bbox;
        assert!((0.0..=1.0).contains(&x0) && (0.0..=1.0).contains(&y1), "{region:?}");
        assert!(x0 <= x1 && y0 <= y1, "{region:?}");
    }
    assert_eq!(analysis.findings.len(), candidates().len());
    for pair in analysis.findings.windows(2) {
        assert!(pair[0].probability >= pair[1].probability, "sorted by probability");
    }
    for finding in &analysis.findings {
        assert!((0.0..=1.0).contains(&finding.probability));
        // Grounded: all non-[CLS] attention sits on the finding's own region.
        let elsewhere: f32 = finding
            .region_attention
            .iter()
            .enumerate()
            .filter(|(r, _)| *r != finding.region_index)
            .map(|(_, a)| a)
            .sum();
        assert!(elsewhere < 1e-6, "{} at {} attends elsewhere: {elsewhere}", finding.entity, finding.position);
    }
}

#[test]
fn batch_of_two_equals_two_batches_of_one() {
    let device = Device::flex();
    let model = common::tiny_model(2);
    let config = GkMvlpConfig::tiny();
    let knowledge = Knowledge::encode(&model.text_encoder, &common::tokenizer(), 64, &device).unwrap();
    let first = synthetic_radiograph(64);
    let second: Vec<f32> = first.iter().map(|p| 1.0 - p).collect();
    let image = |pixels: Vec<f32>, n| Tensor::<4>::from_data(TensorData::new(pixels, [n, 1, 64, 64]), &device);
    let both =
        model.encode_image(image([first.clone(), second.clone()].concat(), 2), &knowledge, RegionPooling::Predicted);
    let single = model.encode_image(image(second, 1), &knowledge, RegionPooling::Predicted);
    let [_, candidates] = both.present.dims();
    let both_present = read(both.present.clone());
    let single_present = read(single.present);
    for (a, b) in both_present[candidates..].iter().zip(&single_present) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    assert_ne!(both_present[..candidates], both_present[candidates..], "different images, different outputs");
    assert_eq!(config.vision.image_size, 64);
}

#[test]
fn findings_prompt_pipeline_writes_and_answers_and_older_manifests_lack_it() {
    let device = Device::flex();
    let config = GkMvlpConfig::tiny().with_findings_prompt(true);
    let pipeline = Pipeline::new(
        common::tiny_model(9),
        config.clone(),
        common::tokenizer(),
        device,
        gkmvlp::inference::pipeline::WeightsOrigin::Untrained { text_encoder_from_minilm: false },
    )
    .unwrap();
    let encoding = pipeline.encode(pipeline.image_tensor(&synthetic_radiograph(64)).unwrap());
    pollster::block_on(pipeline.generate_report(&encoding, |_| ControlFlow::Continue(()))).unwrap();
    pollster::block_on(pipeline.answer(&encoding, "is there a pleural effusion?")).unwrap();

    let files = weights::package(
        &common::tiny_model(9),
        &config,
        common::TOKENIZER_JSON,
        serde_json::json!({}),
        weights::Storage::F32,
        None,
    )
    .unwrap();
    let mut manifest = Manifest::parse(&files.manifest_json).unwrap();
    assert!(manifest.model_config().unwrap().findings_prompt);
    manifest.config.as_object_mut().unwrap().remove("findings_prompt");
    assert!(
        !manifest.model_config().unwrap().findings_prompt,
        "weights from before the switch were trained without a prompt"
    );
}

#[test]
fn calibrated_thresholds_travel_in_the_manifest_and_decide_what_is_present() {
    let device = Device::flex();
    let model = common::tiny_model(5);
    let image = synthetic_radiograph(64);
    let uncalibrated = weights::package(
        &model,
        &GkMvlpConfig::tiny(),
        common::TOKENIZER_JSON,
        serde_json::json!({}),
        weights::Storage::F32,
        None,
    )
    .unwrap();
    let pipeline =
        Pipeline::from_loaded(weights::load(uncalibrated.clone(), &device).unwrap(), device.clone()).unwrap();
    assert_eq!(pipeline.thresholds, PresentThresholds::default());

    // Thresholds just above and then just below each entity's highest probability on this image: no
    // entity, then every entity, is called present.
    let analysis =
        pollster::block_on(pipeline.analysis(&pipeline.encode(pipeline.image_tensor(&image).unwrap()))).unwrap();
    let highest = |entity: &str| {
        analysis.findings.iter().filter(|f| f.entity == entity).map(|f| f.probability).fold(0.0f32, f32::max)
    };
    for (offset, called) in [(1e-4f32, 0), (-1e-4, NUM_ENTITIES)] {
        let thresholds = PresentThresholds::try_from(
            Entity::ALL.iter().map(|e| (highest(e.name()) + offset).clamp(1e-3, 0.999)).collect::<Vec<_>>(),
        )
        .unwrap();
        let files = weights::package(
            &model,
            &GkMvlpConfig::tiny(),
            common::TOKENIZER_JSON,
            serde_json::json!({}),
            weights::Storage::F32,
            Some(thresholds.clone()),
        )
        .unwrap();
        let pipeline = Pipeline::from_loaded(weights::load(files, &device).unwrap(), device.clone()).unwrap();
        assert_eq!(pipeline.thresholds, thresholds);
        let analysis =
            pollster::block_on(pipeline.analysis(&pipeline.encode(pipeline.image_tensor(&image).unwrap()))).unwrap();
        let entities: std::collections::HashSet<&str> =
            analysis.findings.iter().filter(|f| f.present).map(|f| f.entity).collect();
        assert_eq!(entities.len(), called);
    }

    let mut manifest: serde_json::Value = serde_json::from_slice(&uncalibrated.manifest_json).unwrap();
    manifest["present_thresholds"] = serde_json::json!([0.5, 0.5]);
    let error = Manifest::parse(&serde_json::to_vec(&manifest).unwrap()).unwrap_err().to_string();
    assert!(error.contains("manifest.json") && error.contains("2 present thresholds for 14 entities"), "{error}");
}

#[test]
fn weights_round_trip_reproduces_outputs() {
    let device = Device::flex();
    let model = common::tiny_model(3);
    let files = weights::package(
        &model,
        &GkMvlpConfig::tiny(),
        common::TOKENIZER_JSON,
        serde_json::json!({}),
        weights::Storage::F32,
        None,
    )
    .unwrap();
    let before = pollster::block_on(reference_run::run(&common::pipeline(model, device.clone()), 4)).unwrap();

    // The knowledge encodings come from the folder's file, not from running the text encoder again.
    let manifest = Manifest::parse(&files.manifest_json).unwrap();
    manifest.verify(TOKENIZER_FILE, common::TOKENIZER_JSON).unwrap();
    assert!(manifest.files.contains_key(KNOWLEDGE_FILE));
    let loaded = weights::load(files, &device).unwrap();
    assert!(loaded.knowledge.is_some());
    let after = pollster::block_on(reference_run::run(&Pipeline::from_loaded(loaded, device).unwrap(), 4)).unwrap();
    assert_eq!(before, after);
}

#[test]
fn knowledge_file_is_checked() {
    let device = Device::flex();
    let files = weights::package(
        &common::tiny_model(7),
        &GkMvlpConfig::tiny(),
        common::TOKENIZER_JSON,
        serde_json::json!({}),
        weights::Storage::F32,
        None,
    )
    .unwrap();
    let error = |files: WeightFiles| weights::load(files, &device).err().expect("refused").to_string();

    let mut tampered = files.clone();
    tampered.knowledge.as_mut().unwrap()[200] ^= 1;
    let err = error(tampered);
    assert!(err.contains(KNOWLEDGE_FILE) && err.contains("sha256"), "{err}");

    let err = error(WeightFiles { knowledge: None, ..files.clone() });
    assert!(err.contains(KNOWLEDGE_FILE) && err.contains("not given"), "{err}");

    // A file the manifest vouches for, of the wrong shape (the model's weights in place of the encodings).
    let mut foreign = files.clone();
    let mut manifest: serde_json::Value = serde_json::from_slice(&files.manifest_json).unwrap();
    manifest["files"][KNOWLEDGE_FILE] = manifest["files"][MODEL_FILE].clone();
    foreign.manifest_json = serde_json::to_vec(&manifest).unwrap();
    foreign.knowledge = Some(files.model.clone());
    let err = error(foreign);
    assert!(err.contains(KNOWLEDGE_FILE) && err.contains("sentence_features"), "{err}");

    // Folders written before the file existed still load: the knowledge is encoded instead.
    let mut older: serde_json::Value = serde_json::from_slice(&files.manifest_json).unwrap();
    older["files"].as_object_mut().unwrap().remove(KNOWLEDGE_FILE);
    let older = WeightFiles { manifest_json: serde_json::to_vec(&older).unwrap(), knowledge: None, ..files };
    assert!(Pipeline::from_weights(older, device).is_ok());
}

#[test]
fn int8_weights_are_smaller_and_give_nearly_the_same_outputs() {
    let device = Device::flex();
    let model = common::tiny_model(6);
    let config = GkMvlpConfig::tiny();
    let f32_bytes =
        weights::package(&model, &config, common::TOKENIZER_JSON, serde_json::json!({}), weights::Storage::F32, None)
            .unwrap()
            .model;
    let int8 = weights::package(
        &model,
        &config,
        common::TOKENIZER_JSON,
        serde_json::json!({}),
        weights::Storage::Int8(Default::default()),
        None,
    )
    .unwrap();
    let (manifest, int8_bytes) = (Manifest::parse(&int8.manifest_json).unwrap(), int8.model);
    assert_eq!(manifest.dtype, "int8");
    assert!(int8_bytes.len() * 3 < f32_bytes.len(), "{} vs {}", int8_bytes.len(), f32_bytes.len());
    let before = pollster::block_on(reference_run::run(&common::pipeline(model, device.clone()), 4)).unwrap();
    let (_, loaded) = weights::load_model(&manifest, int8_bytes, &device).unwrap();
    let after = pollster::block_on(reference_run::run(&common::pipeline(loaded, device), 4)).unwrap();
    let diff = before.max_abs_diff(&after);
    assert!(diff < 0.05, "int8 changes outputs by {diff}");
}

#[test]
fn bad_weights_give_clear_errors() {
    let device = Device::flex();
    let model = common::tiny_model(4);
    let files = weights::package(
        &model,
        &GkMvlpConfig::tiny(),
        common::TOKENIZER_JSON,
        serde_json::json!({}),
        weights::Storage::F32,
        None,
    )
    .unwrap();
    let (manifest, bytes) = (Manifest::parse(&files.manifest_json).unwrap(), files.model);

    let truncated = bytes[..bytes.len() / 2].to_vec();
    let err = weights::load_model(&manifest, truncated, &device).unwrap_err().to_string();
    assert!(err.contains(MODEL_FILE) && err.contains("truncated"), "{err}");

    let mut tampered = bytes.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x55;
    let err = weights::load_model(&manifest, tampered, &device).unwrap_err().to_string();
    assert!(err.contains("sha256"), "{err}");

    // A manifest that vouches for a file of another architecture (demo config, tiny tensors).
    let mut mismatched = manifest.clone();
    mismatched.config = serde_json::to_value(GkMvlpConfig::tiny().with_gk_layers(2)).unwrap();
    let err = weights::load_model(&mismatched, bytes.clone(), &device).unwrap_err().to_string();
    assert!(err.contains("missing"), "{err}");

    let mut json = serde_json::to_value(&manifest).unwrap();
    json["vocab_version"] = serde_json::json!(999);
    let err = Manifest::parse(&serde_json::to_vec(&json).unwrap()).unwrap_err().to_string();
    assert!(err.contains("vocabulary"), "{err}");
    let err = Manifest::parse(b"{ not json").unwrap_err().to_string();
    assert!(err.contains("manifest.json"), "{err}");
    let err = weights::load_model(&manifest, b"garbage".to_vec(), &device).unwrap_err().to_string();
    assert!(err.contains(MODEL_FILE), "{err}");
}

#[test]
fn zero_shot_prompts_encoded_once_score_as_if_encoded_afresh() {
    let image = synthetic_radiograph(64);
    let score = |pipeline: &gkmvlp::inference::pipeline::Pipeline, texts: &[&str]| {
        let encoding = pipeline.encode(pipeline.image_tensor(&image).unwrap());
        let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
        pollster::block_on(pipeline.zero_shot(&encoding, &texts))
            .unwrap()
            .into_iter()
            .map(|s| s.probability)
            .collect::<Vec<_>>()
    };
    // One model for both pipelines: seeded construction is not repeatable while other tests seed too.
    let model = common::tiny_model(5);
    let cached = common::pipeline(model.clone(), Device::flex());
    let first = score(&cached, &["pleural effusion"]);
    // One prompt pair from the cache, one new, one asked twice.
    let mixed = score(&cached, &["pneumothorax", "pleural effusion", "pneumothorax"]);
    let fresh = score(&common::pipeline(model, Device::flex()), &["pneumothorax", "pleural effusion", "pneumothorax"]);
    for (a, b) in mixed.iter().zip(&fresh) {
        assert!((a - b).abs() < 1e-5, "cached {mixed:?} against fresh {fresh:?}");
    }
    assert!((first[0] - mixed[1]).abs() < 1e-5, "{first:?} {mixed:?}");
}

#[test]
fn zero_shot_answer_and_report_check_run() {
    let device = Device::flex();
    let mut pipeline = common::pipeline(common::tiny_model(5), device);
    let encoding = pipeline.encode(pipeline.image_tensor(&synthetic_radiograph(64)).unwrap());
    let scores =
        pollster::block_on(pipeline.zero_shot(&encoding, &["pleural effusion".into(), "pneumothorax".into()])).unwrap();
    assert_eq!(scores.len(), 2);
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(&s.probability)));
    assert!(pollster::block_on(pipeline.zero_shot(&encoding, &["  ".into()])).is_err());

    let mut streamed = Vec::new();
    let report = pollster::block_on(pipeline.generate_report(&encoding, |text| {
        streamed.push(text.to_string());
        ControlFlow::Continue(())
    }))
    .unwrap();
    assert_eq!(streamed.last().map(String::as_str).unwrap_or(""), report);
    // Stopped after its second token, the report is the text streamed so far.
    let mut tokens = 0;
    let stopped = pollster::block_on(pipeline.generate_report(&encoding, |_| {
        tokens += 1;
        if tokens == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }))
    .unwrap();
    assert_eq!(tokens, streamed.len().min(2));
    assert_eq!(stopped, streamed.get(tokens.max(1) - 1).cloned().unwrap_or_default());

    // A presence question is answered from the finding's ECLS probability, as the findings list calls it.
    let analysis = pollster::block_on(pipeline.analysis(&encoding)).unwrap();
    let effusion = |position: Option<&str>| {
        let mut at = analysis
            .findings
            .iter()
            .filter(|f| f.entity == "pleural effusion" && position.is_none_or(|p| f.position == p));
        at.next().unwrap().probability // most probable first
    };
    let answer = pollster::block_on(pipeline.answer(&encoding, "is there a pleural effusion?")).unwrap();
    assert_eq!(answer.text, if effusion(None) >= 0.5 { "yes" } else { "no" });
    assert_eq!(
        answer.finding.as_ref().map(|f| (f.probability, f.threshold, f.position)),
        Some((effusion(None), 0.5, None))
    );
    let at_angle =
        pollster::block_on(pipeline.answer(&encoding, "Is there pleural effusion in the left costophrenic angle?"))
            .unwrap();
    assert_eq!(at_angle.finding.map(|f| f.probability), Some(effusion(Some("left costophrenic angle"))));
    for (threshold, expected) in [(effusion(None), "yes"), (effusion(None) + 1e-3, "no")] {
        pipeline.thresholds = PresentThresholds::try_from(vec![threshold; NUM_ENTITIES]).unwrap();
        assert_eq!(
            pollster::block_on(pipeline.answer(&encoding, "is there a pleural effusion?")).unwrap().text,
            expected
        );
    }
    // Side and zone questions are answered from the most probable position when no effusion is called (the
    // threshold above every probability), and from every called one otherwise.
    let ask = |pipeline: &Pipeline, question: &str| pollster::block_on(pipeline.answer(&encoding, question)).unwrap();
    let most_probable = ask(&pipeline, "which side is the effusion on?");
    let position = most_probable.finding.as_ref().and_then(|f| f.position).expect("answered from the findings");
    assert_eq!(most_probable.finding.as_ref().map(|f| f.probability), Some(effusion(None)));
    assert_eq!(most_probable.text, if position.starts_with("right") { "right" } else { "left" });
    assert_eq!(ask(&pipeline, "where is the effusion?").text, format!("in the {position}"));
    let least =
        analysis.findings.iter().filter(|f| f.entity == "pleural effusion").map(|f| f.probability).fold(1.0, f32::min);
    pipeline.thresholds = PresentThresholds::try_from(vec![least; NUM_ENTITIES]).unwrap();
    assert_eq!(
        ask(&pipeline, "which side is the effusion on?").text,
        "both sides",
        "every effusion position is called at the least probability"
    );
    assert_eq!(
        ask(&pipeline, "In which zone is the pleural effusion?").text,
        "in the right costophrenic angle, left costophrenic angle, right lower lung zone, left lower lung zone, right hemidiaphragm and left hemidiaphragm"
    );
    // Any other question is the decoder's, and so is every question asked of `generate_answer`.
    assert!(ask(&pipeline, "how large is the effusion?").finding.is_none());
    pollster::block_on(pipeline.generate_answer(&encoding, "is there a pleural effusion?")).unwrap();
    assert!(pollster::block_on(pipeline.answer(&encoding, "   ")).is_err());
    let long = "why ".repeat(200);
    let err = pollster::block_on(pipeline.answer(&encoding, &long)).unwrap_err().to_string();
    assert!(err.contains("too long"), "{err}");

    let checks =
        pollster::block_on(pipeline.check_report(&encoding, "FINDINGS: Right effusion. No pneumothorax.")).unwrap();
    assert_eq!(checks.len(), 2);
    assert!(pipeline.image_tensor(&[0.5; 10]).is_err());
}
