//! The decoder's own vocabulary. A decoder that only ever writes radiology reports and answers needs a few
//! hundred of BERT's 30,522 WordPieces, and the LM head's cost and the word table's size scale with that
//! count. Callers speak tokenizer (BERT) ids throughout; the mapping lives here.

use burn::tensor::{Int, Tensor, TensorData};

use crate::error::{GkError, Result};
use crate::tokenizer::{CLS_ID, PAD_ID, SEP_ID, UNK_ID};

/// The tokenizer ids the decoder reads and writes, in decoder order. Ids outside it read as `[UNK]`.
#[derive(Debug, Clone)]
pub struct DecoderVocabulary {
    /// Tokenizer id of each decoder id; `None` is the whole tokenizer vocabulary, unchanged.
    tokenizer_ids: Option<Vec<u32>>,
    /// Decoder id of each tokenizer id (`[UNK]`'s where absent), as the lookup tensor's values.
    decoder_of: Vec<i64>,
}

impl DecoderVocabulary {
    /// `tokenizer_ids` empty: the whole vocabulary of `tokenizer_size` ids. Otherwise the listed ids, which
    /// must include `[PAD]`, `[UNK]`, `[CLS]` and `[SEP]`, each below `tokenizer_size` and listed once.
    pub fn new(tokenizer_ids: &[u32], tokenizer_size: usize) -> Result<Self> {
        if tokenizer_ids.is_empty() {
            return Ok(DecoderVocabulary { tokenizer_ids: None, decoder_of: (0..tokenizer_size as i64).collect() });
        }
        let mut decoder_of = vec![-1i64; tokenizer_size];
        for (decoder_id, &id) in tokenizer_ids.iter().enumerate() {
            let slot = decoder_of.get_mut(id as usize).ok_or_else(|| {
                GkError::Config(format!(
                    "decoder vocabulary: token id {id} is outside the tokenizer's {tokenizer_size}"
                ))
            })?;
            if *slot >= 0 {
                return Err(GkError::Config(format!("decoder vocabulary: token id {id} is listed twice")));
            }
            *slot = decoder_id as i64;
        }
        for (name, id) in [("[PAD]", PAD_ID), ("[UNK]", UNK_ID), ("[CLS]", CLS_ID), ("[SEP]", SEP_ID)] {
            if decoder_of[id as usize] < 0 {
                return Err(GkError::Config(format!("decoder vocabulary lacks {name}")));
            }
        }
        let unknown = decoder_of[UNK_ID as usize];
        decoder_of.iter_mut().filter(|d| **d < 0).for_each(|d| *d = unknown);
        Ok(DecoderVocabulary { tokenizer_ids: Some(tokenizer_ids.to_vec()), decoder_of })
    }

    /// Number of decoder ids: the LM head's outputs.
    pub fn len(&self) -> usize {
        self.tokenizer_ids.as_ref().map_or(self.decoder_of.len(), Vec::len)
    }

    /// Size of the tokenizer's vocabulary the decoder's ids are drawn from.
    pub fn tokenizer_size(&self) -> usize {
        self.decoder_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tokenizer ids of the decoder's rows, when it is a subset.
    pub fn tokenizer_ids(&self) -> Option<&[u32]> {
        self.tokenizer_ids.as_deref()
    }

    /// Tokenizer ids `[batch, seq]` → decoder ids.
    pub fn decoder_ids(&self, ids: Tensor<2, Int>) -> Tensor<2, Int> {
        if self.tokenizer_ids.is_none() {
            return ids;
        }
        let shape = ids.dims();
        let lookup = Tensor::<1, Int>::from_data(
            TensorData::new(self.decoder_of.clone(), [self.decoder_of.len()]),
            &ids.device(),
        );
        lookup.select(0, ids.reshape([shape[0] * shape[1]])).reshape(shape)
    }

    /// Tokenizer id → decoder id, on the host: [`DecoderVocabulary::decoder_ids`] for a few known ids,
    /// without uploading the lookup table.
    pub fn decoder_id(&self, id: u32) -> Result<i64> {
        self.decoder_of.get(id as usize).copied().ok_or_else(|| {
            GkError::Input(format!("token id {id} is outside the tokenizer's {}", self.decoder_of.len()))
        })
    }

    /// Decoder id → tokenizer id.
    pub fn tokenizer_id(&self, decoder_id: u32) -> u32 {
        self.tokenizer_ids.as_ref().map_or(decoder_id, |ids| ids[decoder_id as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn pruned_vocabulary_maps_both_ways_and_unknown_words_read_as_unk() {
        let vocabulary = DecoderVocabulary::new(&[0, 100, 101, 102, 7], 200).unwrap();
        assert_eq!(vocabulary.len(), 5);
        let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![101i64, 7, 3, 102], [1, 4]), &Device::flex());
        let mapped = vocabulary.decoder_ids(ids).into_data().convert::<i64>().try_to_vec::<i64>().unwrap();
        assert_eq!(mapped, vec![2, 4, 1, 3], "id 3 is not in the vocabulary: [UNK] (decoder id 1)");
        let on_host: Vec<i64> = [101, 7, 3, 102].iter().map(|&id| vocabulary.decoder_id(id).unwrap()).collect();
        assert_eq!(on_host, mapped);
        assert!(vocabulary.decoder_id(200).is_err());
        assert_eq!(vocabulary.tokenizer_id(4), 7);
    }

    #[test]
    fn malformed_vocabularies_are_refused() {
        let error = |ids: &[u32]| DecoderVocabulary::new(ids, 200).unwrap_err().to_string();
        assert!(error(&[0, 100, 101]).contains("[SEP]"), "{}", error(&[0, 100, 101]));
        assert!(error(&[0, 100, 101, 102, 102]).contains("twice"));
        assert!(error(&[0, 100, 101, 102, 500]).contains("outside"));
        let whole = DecoderVocabulary::new(&[], 200).unwrap();
        assert_eq!((whole.len(), whole.tokenizer_id(150)), (200, 150));
    }
}
