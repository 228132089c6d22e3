//! Batches for pre-training from a dataset folder (`gkmvlp simulate`'s JSONL, or the MIMIC-CXR + Chest
//! ImaGenome layout through the same reader): images resized to the model's input, true boxes, every
//! candidate's exist label, the report, and one question–answer pair per image.

use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Int, Tensor, TensorData};
use gkmvlp::protocol::{after_last, prompted_ids, question_answer_text, report_text as protocol_report_text};
use gkmvlp::tokenizer::{CLS_ID, PAD_ID, SEP_ID, TextTokenizer, TokenBatch, UNK_ID, pad_batch};
use gkmvlp::vocab::{NUM_ENTITIES, NUM_REGIONS};
use gkmvlp_data::Record;
use gkmvlp_imaging::Radiograph;

use crate::augment::{self, Augmentation};

pub struct Batch {
    /// `[batch, 1, size, size]`
    pub images: Tensor<4>,
    /// `[batch, 29, 4]`, zeros where unknown.
    pub boxes: Tensor<3>,
    /// `[batch, 29]`, 1 where the box is known.
    pub box_valid: Tensor<2>,
    /// `[batch, candidates]`, 1 present, 0 absent.
    pub exist: Tensor<2>,
    /// `[batch, candidates]`, 1 where the label is known.
    pub exist_valid: Tensor<2>,
    /// `[batch, entities]`, 1 where a study labelled only as a whole (`Record::image_labels`) has the
    /// entity somewhere: multiple-instance targets over the entity's positions.
    pub image_present: Tensor<2>,
    /// `[batch, entities]`, 1 where the study has such a label.
    pub image_labelled: Tensor<2>,
    pub reports: TokenBatch,
    /// `question: … answer: …` sequences.
    pub questions: TokenBatch,
    /// The texts of `reports` and `questions`, for decoder inputs built per step (the findings prompt).
    pub report_texts: Vec<String>,
    pub question_texts: Vec<String>,
    /// `[batch, batch]`: 1 where studies `i` and `j` have the same findings (every candidate's label
    /// equal), so each one's report describes the other's image as well; 1 on the diagonal.
    pub same_findings: Tensor<2>,
}

/// The report as one text: findings, then impression.
pub fn report_text(record: &Record) -> String {
    protocol_report_text(&record.report.findings, &record.report.impression)
}

/// The decoder's vocabulary for a corpus: every tokenizer id its reports and question–answer texts use,
/// plus the special tokens, in id order.
pub fn decoder_vocabulary(records: &[&Record], tokenizer: &TextTokenizer) -> Result<Vec<u32>> {
    let mut used = std::collections::BTreeSet::from([PAD_ID, UNK_ID, CLS_ID, SEP_ID]);
    for record in records {
        let qa = record.qa.iter().map(|qa| question_answer_text(&qa.question, &qa.answer));
        for text in std::iter::once(report_text(record)).chain(qa) {
            used.extend(tokenizer.encode_plain(&text).with_context(|| format!("record {}", record.id))?);
        }
    }
    Ok(used.into_iter().collect())
}

/// Reads and decodes one image file.
pub(crate) fn decode_file(path: &Path) -> Result<Radiograph> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    gkmvlp_imaging::decode(&bytes).with_context(|| format!("cannot decode {}", path.display()))
}

/// Decodes and resizes one image to `size` × `size` grey in [0, 1].
pub fn load_image(record: &Record, size: u32) -> Result<Vec<f32>> {
    Ok(decode_file(&record.image)?.resize_square(size).pixels)
}

/// Builds a batch; `step` picks which question of each record is used, and with `augmentation`, how
/// each image is framed (its boxes moved with it).
pub fn batch(
    records: &[&Record],
    step: usize,
    size: usize,
    augmentation: &Augmentation,
    tokenizer: &TextTokenizer,
    max_len: usize,
    device: &Device,
) -> Result<Batch> {
    let n = records.len();
    let candidates = records.first().map(|r| r.exist.len()).unwrap_or(0);
    let mut pixels = Vec::with_capacity(n * size * size);
    let (mut boxes, mut box_valid, mut exist, mut exist_valid) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut image_present, mut image_labelled) = (Vec::new(), Vec::new());
    let (mut reports, mut questions) = (Vec::new(), Vec::new());
    for record in records {
        if record.boxes.len() != NUM_REGIONS || record.exist.len() != candidates {
            bail!(
                "record {}: {} boxes and {} labels do not fit this vocabulary",
                record.id,
                record.boxes.len(),
                record.exist.len()
            );
        }
        let (image, record_boxes) = augmentation.apply(
            &decode_file(&record.image)?,
            &record.boxes,
            size as u32,
            &mut augment::draws(&record.id, step),
        );
        pixels.extend(image);
        for b in &record_boxes {
            boxes.extend(b.unwrap_or([0.0; 4]));
            box_valid.push(if b.is_some() { 1.0f32 } else { 0.0 });
        }
        for &e in &record.exist {
            exist.push(if e == 1 { 1.0f32 } else { 0.0 });
            exist_valid.push(if e >= 0 { 1.0f32 } else { 0.0 });
        }
        match record.image_labels.len() {
            0 => image_labelled.extend([0.0f32; NUM_ENTITIES]),
            NUM_ENTITIES => image_labelled.extend(record.image_labels.iter().map(|&l| f32::from(u8::from(l >= 0)))),
            n => bail!("record {}: {n} image-level labels; the vocabulary has {NUM_ENTITIES} entities", record.id),
        }
        image_present.extend((0..NUM_ENTITIES).map(|e| f32::from(u8::from(record.image_labels.get(e) == Some(&1)))));
        reports.push(report_text(record));
        questions.push(match record.qa.get(step % record.qa.len().max(1)) {
            Some(qa) => question_answer_text(&qa.question, &qa.answer),
            None => report_text(record),
        });
    }
    Ok(Batch {
        images: float(pixels, [n, 1, size, size], device),
        boxes: float(boxes, [n, NUM_REGIONS, 4], device),
        box_valid: float(box_valid, [n, NUM_REGIONS], device),
        exist: float(exist, [n, candidates], device),
        exist_valid: float(exist_valid, [n, candidates], device),
        image_present: float(image_present, [n, NUM_ENTITIES], device),
        image_labelled: float(image_labelled, [n, NUM_ENTITIES], device),
        reports: tokenizer.batch(&reports, max_len, device).context("cannot tokenise the batch's reports")?,
        questions: tokenizer.batch(&questions, max_len, device).context("cannot tokenise the batch's questions")?,
        report_texts: reports,
        question_texts: questions,
        same_findings: float(
            records.iter().flat_map(|a| records.iter().map(|b| f32::from(u8::from(a.exist == b.exist)))).collect(),
            [n, n],
            device,
        ),
    })
}

/// Decoder inputs behind the findings prompts (their ids, without special tokens): `[CLS] prompt [SEP] text
/// [SEP]` for each text (the text cut to `max_len` tokens, and the whole to the decoder's `max_positions`),
/// with the weights of the LM loss: 1 on the text's tokens, 0 on the prompt's (the decoder is given them,
/// not asked for them) and on padding. With `targets_from` (a cue's ids), only the tokens after the cue's
/// last occurrence in a text are targets (none where it was cut off): a question is given, its answer
/// asked for.
pub fn prompted(
    texts: &[String],
    prompts: &[Vec<u32>],
    targets_from: Option<&[u32]>,
    tokenizer: &TextTokenizer,
    max_len: usize,
    max_positions: usize,
    device: &Device,
) -> Result<(TokenBatch, Tensor<2>)> {
    let mut sequences = Vec::with_capacity(texts.len());
    let mut starts = Vec::with_capacity(texts.len());
    for (text, prompt) in texts.iter().zip(prompts) {
        // The text's own [CLS] gives way to the prompt's [CLS] … [SEP].
        let room = (max_positions + 1).checked_sub(prompt.len() + 2).filter(|&room| room >= 2);
        let room = room.with_context(|| {
            format!("a findings prompt of {} tokens leaves no room for text in {max_positions} positions", prompt.len())
        })?;
        let text = tokenizer.encode(text, max_len.min(room))?;
        let (ids, start) = prompted_ids(prompt, &text);
        let start = match targets_from {
            // A pair cut before its answer has nothing to learn from.
            Some(cue) => after_last(&ids[start..], cue).map_or(ids.len(), |at| start + at),
            None => start,
        };
        sequences.push(ids);
        starts.push(start);
    }
    let batch = pad_batch(&sequences, device);
    let width = batch.ids.dims()[1];
    let weights = sequences
        .iter()
        .zip(&starts)
        .flat_map(|(ids, &start)| (0..width).map(move |i| f32::from(u8::from(i >= start && i < ids.len()))))
        .collect();
    Ok((batch, float(weights, [texts.len(), width], device)))
}

fn float<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// The hardest negative text for each image: the most similar text that does not match it (`matches`,
/// `[batch, batch]`, 1 where text `j` belongs to image `i`, the diagonal at least). Returns its index and
/// whether one exists (`[batch]`, 1 or 0: every text of the batch may match).
pub fn hard_negatives(similarity: Tensor<2>, matches: Tensor<2>) -> (Tensor<1, Int>, Tensor<1>) {
    let [batch, _] = similarity.dims();
    let exists = matches.clone().sum_dim(1).reshape([batch]).lower_elem(batch as f32).float();
    let index = similarity.detach().mask_fill(matches.greater_elem(0.5), f32::NEG_INFINITY).argmax(1).reshape([batch]);
    (index, exists)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gkmvlp::protocol::ANSWER_CUE;

    fn tokenizer() -> TextTokenizer {
        TextTokenizer::from_bytes(include_bytes!("../../../models/tokenizer.json")).unwrap()
    }

    /// [`prompted`] for two texts, read back: ids, attention mask and loss weights (row-major), and the width.
    fn prompted_pair(
        texts: &[String; 2],
        prompts: [&str; 2],
        targets_from: Option<&[u32]>,
    ) -> (Vec<i64>, Vec<f32>, Vec<f32>, usize) {
        let tokenizer = tokenizer();
        let prompts = prompts.map(|p| tokenizer.encode_plain(p).unwrap());
        let (batch, weights) = prompted(texts, &prompts, targets_from, &tokenizer, 96, 512, &Device::flex()).unwrap();
        let ids = batch.ids.into_data().convert::<i64>().try_to_vec::<i64>().unwrap();
        let width = ids.len() / 2;
        (
            ids,
            batch.mask.into_data().try_to_vec::<f32>().unwrap(),
            weights.into_data().try_to_vec::<f32>().unwrap(),
            width,
        )
    }

    #[test]
    fn prompted_texts_weigh_only_their_own_tokens() {
        let device = Device::flex();
        let tokenizer = tokenizer();
        let texts = ["findings: no effusion".to_string(), "question: is there an effusion? answer: no".to_string()];
        let prompt_texts = ["present: none", "present: pleural effusion at the right costophrenic angle"];
        let prompts = prompt_texts.map(|p| tokenizer.encode_plain(p).unwrap());
        let (ids, mask, weights, width) = prompted_pair(&texts, prompt_texts, None);
        for (row, (text, prompt)) in texts.iter().zip(&prompts).enumerate() {
            let (expected, start) = prompted_ids(prompt, &tokenizer.encode(text, 96).unwrap());
            let row_ids: Vec<u32> = ids[row * width..][..expected.len()].iter().map(|&i| i as u32).collect();
            assert_eq!(row_ids, expected);
            for i in 0..width {
                let (m, w) = (mask[row * width + i], weights[row * width + i]);
                assert_eq!(m, f32::from(u8::from(i < expected.len())), "row {row}, position {i}: attention");
                assert_eq!(
                    w,
                    f32::from(u8::from(i >= start && i < expected.len())),
                    "row {row}, position {i}: loss weight"
                );
            }
        }
        // The whole stays within the decoder's positions: the text is cut, or refused if nothing fits.
        let (batch, _) = prompted(&texts, &prompts, None, &tokenizer, 96, 24, &device).unwrap();
        assert_eq!(batch.ids.dims()[1], 24);
        assert!(
            prompted(&texts, &prompts, None, &tokenizer, 96, 17, &device).unwrap_err().to_string().contains("no room")
        );
    }

    #[test]
    fn answers_only_weighs_the_tokens_after_the_answer_cue() {
        let tokenizer = tokenizer();
        let texts = [
            "question: is there an effusion? answer: no".to_string(),
            "question: which side is the effusion on? answer: left".to_string(),
        ];
        let prompt_texts = ["present: none", "present: pleural effusion at the left costophrenic angle"];
        let cue = tokenizer.encode_plain(ANSWER_CUE).unwrap();
        let (ids, _, weights, width) = prompted_pair(&texts, prompt_texts, Some(&cue));
        for (row, answer) in ["no", "left"].iter().enumerate() {
            let targets: Vec<u32> =
                (0..width).filter(|&i| weights[row * width + i] == 1.0).map(|i| ids[row * width + i] as u32).collect();
            assert_eq!(targets, [tokenizer.encode_plain(answer).unwrap(), vec![SEP_ID]].concat(), "row {row}");
        }
        // A question cut before its answer is left with nothing to learn.
        let prompt = [tokenizer.encode_plain(prompt_texts[0]).unwrap()];
        let (_, weights) = prompted(&texts[..1], &prompt, Some(&cue), &tokenizer, 5, 512, &Device::flex()).unwrap();
        assert!(weights.into_data().try_to_vec::<f32>().unwrap().iter().all(|&w| w == 0.0));
    }

    #[test]
    fn hard_negatives_skip_matching_reports() {
        let device = Device::flex();
        let similarity = float(vec![9.0, 8.0, 1.0, 8.0, 9.0, 2.0, 1.0, 7.0, 9.0], [3, 3], &device);
        let own = Tensor::<2>::eye(3, &device);
        let (index, exists) = hard_negatives(similarity.clone(), own);
        assert_eq!(index.into_data().convert::<i64>().try_to_vec::<i64>().unwrap(), vec![1, 0, 1]);
        assert_eq!(exists.into_data().try_to_vec::<f32>().unwrap(), vec![1.0, 1.0, 1.0]);
        // Studies 0 and 1 state the same findings: neither is the other's negative.
        let twins = float(vec![1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0], [3, 3], &device);
        let (index, _) = hard_negatives(similarity.clone(), twins);
        assert_eq!(index.into_data().convert::<i64>().try_to_vec::<i64>().unwrap(), vec![2, 2, 1]);
        // Every report matches every image: no negative exists.
        let (_, exists) = hard_negatives(similarity, Tensor::ones([3, 3], &device));
        assert_eq!(exists.into_data().try_to_vec::<f32>().unwrap(), vec![0.0, 0.0, 0.0]);
    }
}
