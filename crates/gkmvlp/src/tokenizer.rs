//! WordPiece tokenization with the `tokenizer.json` of all-MiniLM-L6-v2 (uncased BERT vocabulary). That
//! file pads and truncates to 128 tokens by default; both are turned off here and batches are padded by us
//! to their longest member, so ids equal Python `tokenizers` on the same text.

use burn::tensor::{Device, Int, Tensor, TensorData};
use tokenizers::Tokenizer;

use crate::error::{GkError, Result};

/// `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]` of the BERT vocabulary. `[CLS]` also starts generated text and `[SEP]` ends it.
pub const PAD_ID: u32 = 0;
pub const UNK_ID: u32 = 100;
pub const CLS_ID: u32 = 101;
pub const SEP_ID: u32 = 102;

pub struct TextTokenizer {
    inner: Tokenizer,
}

/// A padded batch of token ids and its attention mask, on a device.
#[derive(Debug, Clone)]
pub struct TokenBatch {
    /// `[batch, seq]`
    pub ids: Tensor<2, Int>,
    /// `[batch, seq]`, 1 for tokens, 0 for padding.
    pub mask: Tensor<2>,
}

impl TextTokenizer {
    /// Reads a Hugging Face `tokenizer.json`.
    pub fn from_bytes(json: &[u8]) -> Result<Self> {
        let mut inner =
            Tokenizer::from_bytes(json).map_err(|e| GkError::Tokenizer(format!("cannot read tokenizer.json: {e}")))?;
        inner.with_padding(None);
        inner.with_truncation(None).map_err(|e| GkError::Tokenizer(format!("cannot turn truncation off: {e}")))?;
        let tokenizer = TextTokenizer { inner };
        let cls = tokenizer.inner.token_to_id("[CLS]");
        let sep = tokenizer.inner.token_to_id("[SEP]");
        if cls != Some(CLS_ID) || sep != Some(SEP_ID) {
            return Err(GkError::Tokenizer(format!(
                "not the uncased BERT vocabulary: [CLS] = {cls:?}, [SEP] = {sep:?} (expected {CLS_ID}, {SEP_ID})"
            )));
        }
        Ok(tokenizer)
    }

    /// Ids it can give, special tokens included: every one must be below the model's `text.vocab_size`.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Why a model of `vocab_size` word embeddings cannot read this tokenizer's ids, if it cannot.
    pub fn check_fits(&self, vocab_size: usize) -> Result<()> {
        if self.vocab_size() > vocab_size {
            return Err(GkError::Tokenizer(format!(
                "the tokenizer has {} ids, more than the model's text.vocab_size {vocab_size}",
                self.vocab_size()
            )));
        }
        Ok(())
    }

    /// `[CLS] text [SEP]`, at most `max_len` ids (the text is cut, `[SEP]` kept).
    pub fn encode(&self, text: &str, max_len: usize) -> Result<Vec<u32>> {
        let encoding =
            self.inner.encode(text, true).map_err(|e| GkError::Tokenizer(format!("cannot tokenize {text:?}: {e}")))?;
        let mut ids = encoding.get_ids().to_vec();
        if ids.len() > max_len {
            ids.truncate(max_len.saturating_sub(1));
            ids.push(SEP_ID);
        }
        Ok(ids)
    }

    /// Ids without `[CLS]`/`[SEP]`, for prompts that generation continues.
    pub fn encode_plain(&self, text: &str) -> Result<Vec<u32>> {
        let encoding =
            self.inner.encode(text, false).map_err(|e| GkError::Tokenizer(format!("cannot tokenize {text:?}: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Text of generated ids, special tokens dropped and WordPiece `##` pieces joined.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(|e| GkError::Tokenizer(format!("cannot decode ids: {e}")))
    }

    pub fn batch(&self, texts: &[String], max_len: usize, device: &Device) -> Result<TokenBatch> {
        let encoded = texts.iter().map(|t| self.encode(t, max_len)).collect::<Result<Vec<_>>>()?;
        Ok(pad_batch(&encoded, device))
    }
}

/// Pads id sequences to the longest one.
pub fn pad_batch(sequences: &[Vec<u32>], device: &Device) -> TokenBatch {
    let len = sequences.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let mut ids = Vec::with_capacity(sequences.len() * len);
    let mut mask = Vec::with_capacity(sequences.len() * len);
    for sequence in sequences {
        for i in 0..len {
            ids.push(sequence.get(i).copied().unwrap_or(PAD_ID) as i64);
            mask.push(if i < sequence.len() { 1.0f32 } else { 0.0 });
        }
    }
    let shape = [sequences.len(), len];
    TokenBatch {
        ids: Tensor::from_data(TensorData::new(ids, shape), device),
        mask: Tensor::from_data(TensorData::new(mask, shape), device),
    }
}
