//! The text encoder E_T loaded from the real all-MiniLM-L6-v2 matches an independent NumPy BERT forward
//! (`oracle/minilm_reference.py`, outputs in `oracle/minilm_reference.json`) within 1e-4, and our token
//! ids equal Python `tokenizers`' on the same sentences.

mod common;

use burn::tensor::{Device, Int, Tensor, TensorData};
use gkmvlp::config::minilm_text;
use gkmvlp::network::report_decoder::{DecoderVocabulary, ReportDecoder, ReportDecoderConfig};
use gkmvlp::network::text_transformer::{TextMode, TextTransformerConfig, mean_pool};
use gkmvlp::storage::minilm::{self, MINILM_SHA256};
use gkmvlp::storage::weights::sha256_hex;
use gkmvlp::tokenizer::pad_batch;
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    sentences: Vec<Sentence>,
}

#[derive(Deserialize)]
struct Sentence {
    text: String,
    ids: Vec<u32>,
    mean_pooled_normalized: Vec<f32>,
}

fn minilm_bytes() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/minilm/model.safetensors");
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}; run scripts/fetch-assets.sh first"));
    assert_eq!(sha256_hex(&bytes), MINILM_SHA256, "{path} is not the pinned all-MiniLM-L6-v2");
    bytes
}

fn reference() -> Reference {
    serde_json::from_str(include_str!("oracle/minilm_reference.json")).expect("reference JSON parses")
}

#[test]
fn token_ids_equal_python_tokenizers() {
    let tokenizer = common::tokenizer();
    let reference = reference();
    assert!(reference.sentences.len() >= 20);
    for sentence in &reference.sentences {
        assert_eq!(tokenizer.encode(&sentence.text, 512).unwrap(), sentence.ids, "{}", sentence.text);
    }
}

#[test]
fn embeddings_match_numpy_reference() {
    let device = Device::flex();
    let mut encoder = TextTransformerConfig { text: minilm_text(), layers: 6, memory_width: 192 }.init(&device);
    let load = minilm::load_text_encoder(&mut encoder, minilm_bytes(), "model.safetensors").unwrap();
    assert_eq!(load.applied, 5 + 6 * 16, "every MiniLM tensor but the pooler is applied");

    let reference = reference();
    let ids: Vec<Vec<u32>> = reference.sentences.iter().map(|s| s.ids.clone()).collect();
    let batch = pad_batch(&ids, &device); // padded: also checks the padding mask
    let hidden = encoder.forward(batch.ids, batch.mask.clone(), TextMode::Unimodal).hidden;
    let pooled = mean_pool(hidden, batch.mask); // the pooling the model itself uses
    let width = pooled.dims()[1];
    let normalized = gkmvlp::network::contrastive::l2_normalize(pooled).into_data().try_to_vec::<f32>().unwrap();

    let mut worst = 0.0f32;
    for (i, sentence) in reference.sentences.iter().enumerate() {
        for (a, b) in normalized[i * width..(i + 1) * width].iter().zip(&sentence.mean_pooled_normalized) {
            worst = worst.max((a - b).abs());
        }
    }
    assert!(worst < 1e-4, "max |ours - numpy| = {worst}");
}

#[test]
fn wrong_checkpoint_is_refused_by_name() {
    let device = Device::flex();
    let text = gkmvlp::config::TextConfig::new(256, 6, 8, 1024);
    let mut encoder = TextTransformerConfig { text, layers: 6, memory_width: 192 }.init(&device);
    let err = minilm::load_text_encoder(&mut encoder, minilm_bytes(), "model.safetensors").unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("ShapeMismatch") && err.len() < 600, "{err}");
    let err =
        minilm::load_text_encoder(&mut encoder, b"not safetensors".to_vec(), "x.safetensors").unwrap_err().to_string();
    assert!(err.contains("x.safetensors"), "{err}");
}

#[test]
fn pruned_decoder_takes_its_own_rows_of_the_word_table() {
    let device = Device::flex();
    let words = [0u32, 100, 101, 102, 1996, 8985, 15152];
    let text = minilm_text();
    let vocabulary = DecoderVocabulary::new(&words, text.vocab_size).unwrap();
    let decoder = |vocabulary| ReportDecoderConfig { text: text.clone(), layers: 2, memory_width: 192, vocabulary };
    let mut pruned = decoder(vocabulary).init(&device);
    minilm::load_decoder(&mut pruned, minilm_bytes(), "model.safetensors").unwrap();
    let mut full = decoder(DecoderVocabulary::new(&[], text.vocab_size).unwrap()).init(&device);
    minilm::load_decoder(&mut full, minilm_bytes(), "model.safetensors").unwrap();

    let table = |d: &ReportDecoder| d.bert.embeddings.word_embeddings.weight.val();
    assert_eq!(table(&pruned).dims(), [words.len(), 384]);
    let rows = Tensor::<1, Int>::from_data(
        TensorData::new(words.iter().map(|&w| w as i64).collect::<Vec<_>>(), [words.len()]),
        &device,
    );
    let expected = table(&full).select(0, rows);
    let diff = (table(&pruned) - expected).abs().max().into_scalar::<f32>();
    assert_eq!(diff, 0.0);
    assert_eq!(pruned.lm_head.bias.dims(), [words.len()]);
}
