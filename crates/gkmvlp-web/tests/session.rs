//! The browser's session logic, natively on Flex: loading (trained format and untrained), decoding with
//! the CLI's decoder, the input check before the model reads an image, one encoding reused for every
//! request, and clear errors for bad input.

use std::ops::ControlFlow;

use burn::tensor::Device;
use gkmvlp::GkMvlpConfig;
use gkmvlp::inference::reference_run::synthetic_radiograph;
use gkmvlp::storage::weights::{self, MODEL_FILE, WeightFiles};
use gkmvlp_imaging::Radiograph;
use gkmvlp_web::ErrorKind;
use gkmvlp_web::session::{self, CheckedImage, OpenImage, Session, UNTRAINED_SEED};

const TOKENIZER: &[u8] = include_bytes!("../../../models/tokenizer.json");

/// A left-to-right ramp: decodes, but the input check refuses it (not a chest film).
fn png(width: u32, height: u32) -> Vec<u8> {
    let pixels = (0..width * height).map(|i| (i % width) as f32 / width as f32 * 0.8 + 0.1).collect();
    Radiograph::grey(width, height, pixels).to_png_8bit()
}

/// Decodes and encodes `bytes` whatever the input check says (the ramp is no chest film).
fn open_anyway(s: &Session, bytes: &[u8]) -> OpenImage {
    s.encode(&CheckedImage::decode(bytes).unwrap(), true).unwrap()
}

#[test]
fn the_input_check_runs_on_every_upload_before_the_model() {
    let s = Session::untrained(TOKENIZER, Device::flex()).unwrap();
    let ramp = CheckedImage::decode(&png(96, 80)).unwrap();
    let info = ramp.info();
    assert!(!info.input_check.chest_radiograph, "{:?}", info.input_check);
    assert!(!info.input_check.reason.is_empty());
    assert_eq!((info.image.width, info.image.height), (96, 80));
    let refused = s.encode(&ramp, false).err().unwrap();
    assert_eq!(refused.kind, ErrorKind::Input);
    assert!(refused.message.contains(&info.input_check.reason), "{}", refused.message);
    let anyway = pollster::block_on(s.analyze(&s.encode(&ramp, true).unwrap())).unwrap();
    assert_eq!(anyway.input_check, info.input_check, "the analysis carries the check it was run after");

    let film = Radiograph::grey(256, 256, synthetic_radiograph(256)).to_png_8bit();
    let film = CheckedImage::decode(&film).unwrap();
    assert!(film.input_check.chest_radiograph, "{:?}", film.input_check);
    let analysis = pollster::block_on(s.analyze(&s.encode(&film, false).unwrap())).unwrap();
    assert!(analysis.input_check.chest_radiograph);
}

#[test]
fn untrained_session_analyzes_and_answers_from_one_encoding() {
    let s = Session::untrained(TOKENIZER, Device::flex()).unwrap();
    let info = s.model_info();
    assert!(!info.trained);
    assert_eq!(info.preset, "tiny");
    let checked = CheckedImage::decode(&png(96, 80)).unwrap();
    let image = s.encode(&checked, true).unwrap();
    let a = pollster::block_on(s.analyze(&image)).unwrap();
    assert_eq!(a.regions.len(), 29);
    assert_eq!(a.findings.len(), info.candidates);
    assert_eq!(a.zero_shot.len(), 14);
    assert_eq!((a.image.width, a.image.height, a.image.format.as_str()), (96, 80, "PNG"));
    assert!(a.findings.windows(2).all(|w| w[0].probability >= w[1].probability));
    assert!(a.findings.iter().all(|f| f.region_attention.len() == 29));
    let mut streamed = Vec::new();
    let report = pollster::block_on(s.generate_report(&image, |t| {
        streamed.push(t.to_string());
        ControlFlow::Continue(())
    }))
    .unwrap();
    assert_eq!(streamed.last().map(String::as_str).unwrap_or(""), report);
    pollster::block_on(s.answer(&image, "is there a pleural effusion?")).unwrap();
    let checks = pollster::block_on(s.check_report(&image, "No effusion. Heart size normal.")).unwrap();
    assert_eq!(checks.len(), 2);
    pollster::block_on(s.warm_up()).unwrap();
    assert_eq!(session::rgba(&checked.radiograph).len(), 96 * 80 * 4);
}

#[test]
fn bad_inputs_give_typed_messages() {
    let s = Session::untrained(TOKENIZER, Device::flex()).unwrap();
    let text = CheckedImage::decode(b"this is a text file renamed .png").err().unwrap();
    assert_eq!(text.kind, ErrorKind::Image);
    assert!(text.message.contains("unknown image format"), "{}", text.message);
    let tiny = CheckedImage::decode(&png(1, 1)).err().unwrap();
    assert_eq!(tiny.kind, ErrorKind::Image);
    assert!(tiny.message.contains("too small"), "{}", tiny.message);
    let mut truncated = png(64, 64);
    truncated.truncate(truncated.len() / 2);
    assert_eq!(CheckedImage::decode(&truncated).err().unwrap().kind, ErrorKind::Image);
    let image = open_anyway(&s, &png(64, 64));
    let empty = pollster::block_on(s.answer(&image, "   ")).err().unwrap();
    assert_eq!(empty.kind, ErrorKind::Input);
    let ramp = CheckedImage::decode(&png(64, 64)).unwrap();
    assert!(session::rewindow(&ramp.radiograph, 40.0, 400.0).is_err(), "PNG has no modality values");
}

#[test]
fn weights_folder_loads_and_corruption_is_named() {
    let flex = Device::flex();
    flex.seed(UNTRAINED_SEED);
    let config = GkMvlpConfig::tiny();
    let model = config.init(&flex).expect("tiny initialises");
    let files =
        weights::package(&model, &config, TOKENIZER, serde_json::json!({}), weights::Storage::F32, None).unwrap();
    let (manifest, bytes) = (files.manifest_json.clone(), files.model.clone());
    session::verify_file(&manifest, MODEL_FILE, &bytes).unwrap();
    let s = Session::from_weights(files.clone(), Device::flex()).unwrap();
    assert!(s.model_info().trained);
    let flagged = weights::package(
        &model,
        &config,
        TOKENIZER,
        serde_json::json!({"untrained": true}),
        weights::Storage::F32,
        None,
    )
    .unwrap();
    let s = Session::from_weights(flagged, Device::flex()).unwrap();
    assert!(!s.model_info().trained, "a manifest that says untrained is shown as untrained");

    let mut corrupt = files.clone();
    corrupt.model[1000] ^= 0xff;
    let e = Session::from_weights(corrupt, Device::flex()).err().unwrap();
    assert_eq!(e.kind, ErrorKind::Weights);
    assert!(e.message.contains("model.safetensors") && e.message.contains("sha256"), "{}", e.message);
    let e = session::verify_file(&manifest, MODEL_FILE, &bytes[..bytes.len() - 1]).err().unwrap();
    assert!(e.message.contains("truncated"), "{}", e.message);
    let e = Session::from_weights(WeightFiles { manifest_json: b"<html>404</html>".to_vec(), ..files }, Device::flex())
        .err()
        .unwrap();
    assert!(e.message.contains("manifest.json"), "{}", e.message);
}

/// The TypeScript interfaces of the bindings name every field the results carry.
#[test]
fn typescript_interfaces_cover_the_result_fields() {
    let bindings = include_str!("../src/bindings.rs");
    let s = Session::untrained(TOKENIZER, Device::flex()).unwrap();
    let image = open_anyway(&s, &png(64, 64));
    let a = serde_json::to_value(pollster::block_on(s.analyze(&image)).unwrap()).unwrap();
    let mut objects = vec![
        a.clone(),
        a["image"].clone(),
        a["input_check"].clone(),
        serde_json::to_value(&image.checked).unwrap(),
        a["regions"][0].clone(),
        a["findings"][0].clone(),
        a["zero_shot"][0].clone(),
    ];
    objects.push(serde_json::to_value(s.model_info()).unwrap());
    let checks = pollster::block_on(s.check_report(&image, "No effusion.")).unwrap();
    objects.push(serde_json::to_value(&checks[0]).unwrap());
    for object in objects {
        for key in object.as_object().unwrap().keys() {
            assert!(
                bindings.contains(&format!("  {key}: "))
                    || bindings.contains(&format!("{{ {key}: "))
                    || bindings.contains(&format!("; {key}: ")),
                "field `{key}` missing from the TypeScript section"
            );
        }
    }
}

#[test]
fn stage_times_name_every_step_of_opening_and_analysing_in_order() {
    let s = Session::untrained(TOKENIZER, Device::flex()).unwrap();
    let film = Radiograph::grey(256, 256, synthetic_radiograph(256)).to_png_8bit();
    let times = pollster::block_on(s.stage_times(&film)).unwrap();
    let stages: Vec<&str> = times.iter().map(|t| t.stage).collect();
    assert_eq!(
        stages,
        [
            "decode",
            "input_check",
            "resize",
            "input_tensor",
            "image_encoder",
            "region_head",
            "region_tokens",
            "gk_module",
            "ecls_head",
            "contrastive",
            "read_back",
            "zero_shot"
        ]
    );
    assert!(times.iter().all(|t| t.ms.is_finite() && t.ms >= 0.0), "{times:?}");
    assert!(pollster::block_on(s.stage_times(b"not an image")).is_err());
}
