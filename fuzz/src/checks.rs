//! One fuzz input through each fuzzed function. Each function returns normally for any input; a panic, an
//! abort, a hang or an allocation past libFuzzer's limit is the bug being looked for. The asserts state what
//! must hold of a successful result.

use std::sync::{Mutex, OnceLock};

use burn::tensor::Device;
use gkmvlp::GkMvlpConfig;
use gkmvlp::inference::closed_question::ClosedQuestion;
use gkmvlp::network::model::GkMvlp;
use gkmvlp::protocol::split_sentences;
use gkmvlp::storage::int8;
use gkmvlp::storage::weights::{MODEL_FILE, Manifest, apply_strict};
use gkmvlp::tokenizer::TextTokenizer;

const TOKENIZER: &[u8] = include_bytes!("../../models/tokenizer.json");

/// `gkmvlp_imaging::decode`, then the input check on what decodes.
pub fn decode(data: &[u8]) {
    if let Ok(image) = gkmvlp_imaging::decode(data) {
        assert_eq!(image.pixels.len(), image.width as usize * image.height as usize);
        assert!(image.pixels.iter().all(|v| v.is_finite()), "decode lets a non-finite pixel through");
        let check = image.check_frontal_chest();
        assert!(check.chest_radiograph || !check.reason.is_empty(), "a refusal without a reason");
    }
}

/// The `tiny` model, built once: applying a file to it is what loading a folder does after the checks.
fn tiny_model() -> &'static Mutex<GkMvlp> {
    static MODEL: OnceLock<Mutex<GkMvlp>> = OnceLock::new();
    MODEL.get_or_init(|| Mutex::new(GkMvlpConfig::tiny().init(&Device::flex()).expect("the tiny config builds")))
}

/// The weights loader's parts that read untrusted bytes: the manifest (parse, config validation, file
/// check), int8 unpacking and the strict safetensors apply, all on the same bytes.
pub fn weights(data: &[u8]) {
    if let Ok(manifest) = Manifest::parse(data) {
        if let Ok(config) = manifest.model_config() {
            config.validate().expect("model_config returns only a validated config");
        }
        let _ = manifest.verify(MODEL_FILE, data);
    }
    if let Ok(f32_bytes) = int8::dequantize(data, MODEL_FILE) {
        let _ = apply_strict(&mut tiny_model().lock().unwrap_or_else(|e| e.into_inner()), f32_bytes, MODEL_FILE);
    }
    let _ = apply_strict(&mut tiny_model().lock().unwrap_or_else(|e| e.into_inner()), data.to_vec(), MODEL_FILE);
}

fn tokenizer() -> &'static TextTokenizer {
    static TOKENIZER_ONCE: OnceLock<TextTokenizer> = OnceLock::new();
    TOKENIZER_ONCE.get_or_init(|| TextTokenizer::from_bytes(TOKENIZER).expect("the shipped tokenizer loads"))
}

/// The shipped tokenizer on any text (encode with and without the special tokens, cut to a length taken
/// from the input, decode back), and on any ids.
pub fn tokenize(data: &[u8]) {
    let tokenizer = tokenizer();
    let text = String::from_utf8_lossy(data);
    let max_len = data.first().map_or(0, |&b| usize::from(b));
    if let Ok(ids) = tokenizer.encode(&text, max_len) {
        assert!(ids.len() <= max_len.max(2), "encode gave {} ids for max_len {max_len}", ids.len());
        let _ = tokenizer.decode(&ids);
    }
    let _ = tokenizer.encode_plain(&text);
    let ids: Vec<u32> = data.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let _ = tokenizer.decode(&ids);
}

/// The question router (which questions the findings answer, and which the decoder) and the report
/// sentence splitter, on any text.
pub fn question(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Some(asked) = ClosedQuestion::read(&text) {
        assert!(asked.position.is_none_or(|r| gkmvlp::vocab::candidate_index(asked.entity, r).is_some()));
    }
    let _ = ClosedQuestion::read_where(&text);
    if let Some(unknown) = ClosedQuestion::read_unknown_where(&text) {
        assert!(!unknown.is_empty());
    }
    for sentence in split_sentences(&text) {
        assert!(sentence.chars().any(char::is_alphanumeric), "an empty sentence: {sentence:?}");
    }
}
