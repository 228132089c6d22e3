//! The runtime a user talks to (the CLI and the browser alike): a model, its tokenizer and its cached
//! knowledge encodings, and the six things GK-MVLP gives for one image — region boxes, grounded findings,
//! zero-shot scores, a report, answers, and an ITM check of a pasted report.
//!
//! Read-backs are `async` because the browser's WebGPU device cannot block; native callers use
//! `pollster::block_on`.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::Mutex;

use web_time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use gkmvlp_vocab::mentions::mentioned_findings;
use gkmvlp_vocab::questions::unknown_question_words;
use gkmvlp_vocab::{Candidate, Entity, NUM_REGIONS, Region, join_names, most_specific, side_of};
use serde::Serialize;

use crate::config::GkMvlpConfig;
use crate::error::{GkError, Result};
use crate::inference::closed_question::{ClosedQuestion, WhereQuestion, Whereabouts};
use crate::inference::generation::{Generation, RepeatedSentences, Unfinished, greedy};
use crate::inference::report_agreement::agree_with_findings;
use crate::network::ecls_head::PresentThresholds;
use crate::network::knowledge::Knowledge;
use crate::network::model::{GkMvlp, ImageEncoding, RegionPooling};
use crate::protocol::{
    IMPRESSION_CUE, REPORT_CUE, findings_prompt, prompt_candidates, prompted_ids, question_text, split_sentences,
};
use crate::storage::weights::{self, LoadedWeights, WeightFiles};
use crate::tokenizer::{CLS_ID, SEP_ID, TextTokenizer, pad_batch};

/// Most sentences [`Pipeline::check_report`] checks in one report; a report is a few dozen.
pub const MAX_REPORT_SENTENCES: usize = 200;
/// Sentences checked in one batch: each reads its own copy of the visual memory's keys and values, so
/// the batch, not the report, sets the memory used.
pub const SENTENCES_PER_BATCH: usize = 32;

/// A report as the decoder wrote it, behind its findings prompt.
#[derive(Debug, Clone)]
pub struct DecoderReport {
    pub text: String,
    /// The candidates the findings prompt named; `None` for a model that reads no prompt.
    pub named: Option<Vec<Candidate>>,
}

impl DecoderReport {
    /// The report made to agree with the findings its prompt named ([`agree_with_findings`]); as written
    /// for a model without a prompt, which has no findings list to agree with.
    pub fn agreed(&self) -> String {
        self.named.as_ref().map_or_else(|| self.text.clone(), |named| agree_with_findings(&self.text, named))
    }
}

/// Where the weights came from, so every output can say whether to trust it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum WeightsOrigin {
    /// Trained GK-MVLP weights from a manifest.
    Trained { manifest_sha256: String },
    /// Untrained: random, or only the text encoder from all-MiniLM-L6-v2. Outputs are meaningless.
    Untrained { text_encoder_from_minilm: bool },
}

#[derive(Debug, Clone, Serialize)]
pub struct RegionBox {
    pub index: usize,
    pub name: &'static str,
    /// `[x0, y0, x1, y1]` in [0, 1] of the image's width and height.
    pub bbox: [f32; 4],
}

#[derive(Debug, Clone, Serialize)]
pub struct GroundedFinding {
    pub entity: &'static str,
    pub position: &'static str,
    pub region_index: usize,
    /// ECLS probability that the finding is present at this position.
    pub probability: f32,
    /// Whether `probability` reaches its entity's present threshold ([`PresentThresholds`]).
    pub present: bool,
    /// The knowledge token's attention over the 29 regions (the [CLS] share left out), summing to ≤ 1.
    pub region_attention: Vec<f32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub regions: Vec<RegionBox>,
    /// Every candidate, most probable first.
    pub findings: Vec<GroundedFinding>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ZeroShotScore {
    pub finding: String,
    /// ITC preference of `there is <finding>` over `no <finding>`, in [0, 1].
    pub probability: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub text: String,
    /// Who answered: the findings list, the report decoder, or no one.
    pub source: AnswerSource,
    /// For a question that asks only whether one finding is present (at one region), or only which side
    /// it is on or where it is: the ECLS probability the answer comes from. `None` when the decoder wrote the
    /// answer, or when no one did.
    pub finding: Option<AnswerFinding>,
}

/// One stage timed by a [`StageClock`].
#[derive(Debug, Clone, Serialize)]
pub struct StageTime {
    pub stage: &'static str,
    pub ms: f64,
}

/// The first few of `words` quoted, each cut short, for a message that stays short whatever was typed.
fn quoted_words(words: &[String]) -> String {
    const SHOWN: usize = 5;
    const LONGEST: usize = 24;
    let mut quoted: Vec<String> = words
        .iter()
        .take(SHOWN)
        .map(|w| match w.char_indices().nth(LONGEST) {
            Some((cut, _)) => format!("\"{}…\"", &w[..cut]),
            None => format!("\"{w}\""),
        })
        .collect();
    if words.len() > SHOWN {
        quoted.push(format!("and {} more", words.len() - SHOWN));
    }
    quoted.join(", ")
}

/// Splits the time since it started into named stages.
pub struct StageClock {
    last: Instant,
    times: Vec<StageTime>,
}

impl StageClock {
    pub fn start() -> StageClock {
        StageClock { last: Instant::now(), times: Vec::new() }
    }

    /// Ends `stage` now: it took the time since the previous lap.
    pub fn lap(&mut self, stage: &'static str) {
        let now = Instant::now();
        self.times.push(StageTime { stage, ms: (now - self.last).as_secs_f64() * 1e3 });
        self.last = now;
    }

    pub fn into_times(self) -> Vec<StageTime> {
        self.times
    }
}

/// Where an answer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerSource {
    /// The grounded findings, as the findings list shows them.
    Findings,
    /// The report decoder's free text.
    Decoder,
    /// No one: the question asks about something the model does not know (a finding it does not ground,
    /// words it was never trained on), and the text says so instead of letting the decoder guess.
    Unanswerable,
}

/// The grounded finding behind a yes/no answer (`yes` when `probability` reaches `threshold`, exactly as the
/// findings list decides; the reverse for a question of absence) or a side or where answer (the most probable of the finding's positions).
#[derive(Debug, Clone, Serialize)]
pub struct AnswerFinding {
    pub entity: &'static str,
    /// The region asked about; `None` for anywhere, and then `probability` is the entity's highest.
    pub position: Option<&'static str>,
    pub probability: f32,
    pub threshold: f32,
    /// A question of absence ("is there no pleural effusion?"): its `yes` is the finding not called.
    pub asks_absence: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SentenceCheck {
    pub sentence: String,
    /// ITM probability that the image supports the sentence.
    pub match_probability: f32,
}

pub struct Pipeline {
    pub model: GkMvlp,
    pub config: GkMvlpConfig,
    pub tokenizer: TextTokenizer,
    pub knowledge: Knowledge,
    /// From the weights' manifest when calibrated there, else 0.5 for every entity.
    pub thresholds: PresentThresholds,
    pub device: Device,
    pub origin: WeightsOrigin,
    /// Text embeddings of the zero-shot prompts already encoded, by prompt: they do not depend on the
    /// image, so a page scoring the same findings on every image encodes them once.
    prompt_embeddings: Mutex<HashMap<String, Tensor<2>>>,
}

/// Most zero-shot prompt embeddings kept (a user may type any number of finding texts); a request whose
/// new prompts would go past it starts the cache again.
const MAX_CACHED_PROMPTS: usize = 512;

/// Reads a tensor back as `f32`s, waiting without blocking.
pub async fn read_f32<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    let data = tensor.into_data_async().await.map_err(|e| GkError::Device(format!("read-back failed: {e:?}")))?;
    data.convert::<f32>().try_to_vec::<f32>().map_err(|e| GkError::Device(format!("read-back failed: {e:?}")))
}

impl Pipeline {
    /// Encodes the knowledge candidates with the model's text encoder; weights folders carry them ready.
    pub fn new(
        model: GkMvlp,
        config: GkMvlpConfig,
        tokenizer: TextTokenizer,
        device: Device,
        origin: WeightsOrigin,
    ) -> Result<Self> {
        tokenizer.check_fits(config.text.vocab_size)?;
        let knowledge = Knowledge::encode(&model.text_encoder, &tokenizer, config.text.max_positions, &device)?;
        Ok(Pipeline {
            model,
            config,
            tokenizer,
            knowledge,
            thresholds: PresentThresholds::default(),
            device,
            origin,
            prompt_embeddings: Mutex::default(),
        })
    }

    /// Loads trained weights: the manifest, then each file checked against it.
    pub fn from_weights(files: WeightFiles, device: Device) -> Result<Self> {
        Self::from_loaded(weights::load(files, &device)?, device)
    }

    /// A pipeline over weights already loaded onto `device`.
    pub fn from_loaded(loaded: LoadedWeights, device: Device) -> Result<Self> {
        let origin = WeightsOrigin::Trained { manifest_sha256: loaded.manifest_sha256 };
        let knowledge = match loaded.knowledge {
            Some(knowledge) => knowledge,
            None => Knowledge::encode(
                &loaded.model.text_encoder,
                &loaded.tokenizer,
                loaded.config.text.max_positions,
                &device,
            )?,
        };
        let thresholds = loaded.manifest.present_thresholds.unwrap_or_default();
        Ok(Pipeline {
            model: loaded.model,
            config: loaded.config,
            tokenizer: loaded.tokenizer,
            knowledge,
            thresholds,
            device,
            origin,
            prompt_embeddings: Mutex::default(),
        })
    }

    /// An untrained model of `config`: random weights, with the text encoder and decoder initialised from
    /// all-MiniLM-L6-v2 when its safetensors bytes are given.
    pub fn untrained(
        config: GkMvlpConfig,
        tokenizer_json: &[u8],
        minilm: Option<Vec<u8>>,
        device: Device,
    ) -> Result<Self> {
        let tokenizer = TextTokenizer::from_bytes(tokenizer_json)?;
        let mut model = config.init(&device)?;
        let text_encoder_from_minilm = minilm.is_some();
        if let Some(bytes) = minilm {
            crate::storage::minilm::load_text_encoder(
                &mut model.text_encoder,
                bytes.clone(),
                "all-MiniLM-L6-v2 model.safetensors",
            )?;
            crate::storage::minilm::load_decoder(&mut model.text_decoder, bytes, "all-MiniLM-L6-v2 model.safetensors")?;
        }
        Self::new(model, config, tokenizer, device, WeightsOrigin::Untrained { text_encoder_from_minilm })
    }

    /// Side of the square image the model reads.
    pub fn image_size(&self) -> usize {
        self.config.vision.image_size
    }

    /// `[1, 1, size, size]` from row-major grey pixels in [0, 1] already resized to [`Self::image_size`].
    pub fn image_tensor(&self, pixels: &[f32]) -> Result<Tensor<4>> {
        let size = self.image_size();
        if pixels.len() != size * size {
            return Err(GkError::Input(format!("expected {size}×{size} pixels, got {}", pixels.len())));
        }
        if pixels.iter().any(|p| !p.is_finite()) {
            return Err(GkError::Input("image has non-finite pixel values".into()));
        }
        Ok(Tensor::from_data(TensorData::new(pixels.to_vec(), [1, 1, size, size]), &self.device))
    }

    /// Runs the image side once; keep the result for every later question about the image.
    pub fn encode(&self, image: Tensor<4>) -> ImageEncoding {
        self.model.encode_image(image, &self.knowledge, RegionPooling::Predicted)
    }

    /// Times each step of analysing an image of `pixels` on `clock`, in order: the input tensor, each box
    /// of the image side ([`GkMvlp::encode_image_staged`]), the read-back of boxes and findings, and the
    /// zero-shot scores of the 14 finding names. Meaningful on Flex, where each operation runs when it is
    /// called (the read-backs then only copy).
    pub async fn stage_times(&self, pixels: &[f32], clock: &mut StageClock) -> Result<()> {
        let image = self.image_tensor(pixels)?;
        clock.lap("input_tensor");
        let encoding =
            self.model.encode_image_staged(image, &self.knowledge, RegionPooling::Predicted, |stage| clock.lap(stage));
        self.analysis(&encoding).await?;
        clock.lap("read_back");
        self.zero_shot_findings(&encoding).await?;
        clock.lap("zero_shot");
        Ok(())
    }

    /// Region boxes and grounded findings of an encoded image (batch 1).
    pub async fn analysis(&self, encoding: &ImageEncoding) -> Result<Analysis> {
        let boxes = read_f32(encoding.boxes.clone()).await?;
        let present = read_f32(encoding.present.clone()).await?;
        let attention = read_f32(encoding.region_attention.clone()).await?;
        let regions = Region::ALL
            .iter()
            .map(|r| {
                let b = &boxes[r.index() * 4..r.index() * 4 + 4];
                RegionBox { index: r.index(), name: r.name(), bbox: [b[0], b[1], b[2], b[3]] }
            })
            .collect();
        let keys = 1 + NUM_REGIONS;
        let mut findings: Vec<GroundedFinding> = self
            .knowledge
            .candidates
            .iter()
            .enumerate()
            .map(|(k, c)| GroundedFinding {
                entity: c.entity.name(),
                position: c.position.name(),
                region_index: c.position.index(),
                probability: present[k],
                present: self.thresholds.is_present(c, present[k]),
                region_attention: attention[k * keys + 1..(k + 1) * keys].to_vec(),
            })
            .collect();
        findings.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        Ok(Analysis { regions, findings })
    }

    /// ITC zero-shot score of each finding text: `there is X` against `no X`.
    pub async fn zero_shot(&self, encoding: &ImageEncoding, findings: &[String]) -> Result<Vec<ZeroShotScore>> {
        let findings: Vec<String> = findings.iter().map(|f| f.trim().to_string()).collect();
        if let Some(empty) = findings.iter().position(String::is_empty) {
            return Err(GkError::Input(format!("finding text {} is empty", empty + 1)));
        }
        if findings.is_empty() {
            return Ok(Vec::new());
        }
        let prompts: Vec<String> = findings.iter().flat_map(|f| [format!("there is {f}"), format!("no {f}")]).collect();
        let texts = self.prompt_embeddings(&prompts)?;
        let logits = self.model.contrastive.logits(encoding.image_embedding.clone(), texts); // [1, 2n]
        let pairs = burn::tensor::activation::softmax(logits.reshape([findings.len(), 2]), 1);
        let probabilities = read_f32(pairs.narrow(1, 0, 1).reshape([findings.len()])).await?;
        Ok(findings
            .into_iter()
            .zip(probabilities)
            .map(|(finding, probability)| ZeroShotScore { finding, probability })
            .collect())
    }

    /// [`Pipeline::zero_shot`] of the names of the model's 14 findings, as the page shows them.
    pub async fn zero_shot_findings(&self, encoding: &ImageEncoding) -> Result<Vec<ZeroShotScore>> {
        let names: Vec<String> = Entity::ALL.iter().map(|e| e.name().to_string()).collect();
        self.zero_shot(encoding, &names).await
    }

    /// The text embeddings of `prompts`, `[prompts, d]`: those not encoded before in one batch, the others
    /// from the cache.
    fn prompt_embeddings(&self, prompts: &[String]) -> Result<Tensor<2>> {
        let mut cache =
            self.prompt_embeddings.lock().map_err(|_| GkError::Device("the prompt cache is poisoned".into()))?;
        let unique: BTreeSet<&String> = prompts.iter().collect();
        if cache.len() + unique.iter().filter(|p| !cache.contains_key(**p)).count() > MAX_CACHED_PROMPTS {
            cache.clear();
        }
        let missing: Vec<String> = unique.into_iter().filter(|p| !cache.contains_key(*p)).cloned().collect();
        if !missing.is_empty() {
            let batch = self.tokenizer.batch(&missing, self.config.text.max_positions, &self.device)?;
            let embeddings = self.model.text_embedding(batch.ids, batch.mask);
            for (row, prompt) in missing.into_iter().enumerate() {
                cache.insert(prompt, embeddings.clone().narrow(0, row, 1));
            }
        }
        Ok(Tensor::cat(prompts.iter().map(|p| cache[p].clone()).collect(), 0))
    }

    /// Greedy report, continued from `findings:` (reports are trained as `findings: … impression: …`;
    /// from `[CLS]` alone the decoder may as well start a `question: … answer: …` pair): the decoder's text
    /// ([`Pipeline::decoder_report`]) made to agree with its findings prompt ([`DecoderReport::agreed`]).
    /// `on_text` receives the decoder's text so far after each token (the `findings:` cue is not part of
    /// it), and stops the report there by returning [`ControlFlow::Break`]; the text so far is then the
    /// result, as the decoder left it.
    pub async fn generate_report(
        &self,
        encoding: &ImageEncoding,
        mut on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<String> {
        let mut stopped = false;
        let report = self
            .decoder_report(encoding, |text| {
                let flow = on_text(text);
                stopped |= flow.is_break();
                flow
            })
            .await?;
        Ok(if stopped { report.text } else { report.agreed() })
    }

    /// The decoder's own report. It does not end before it states every finding its prompt names (as
    /// [`mentioned_findings`] reads it), up to a bounded number of continuations, or reaches its length
    /// limit. `on_text` is as for [`Pipeline::generate_report`].
    pub async fn decoder_report(
        &self,
        encoding: &ImageEncoding,
        on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<DecoderReport> {
        let (prefix, named) = self.decoder_prefix(encoding, self.tokenizer.encode_plain(REPORT_CUE)?).await?;
        let tokenizer = &self.tokenizer;
        // A text that cannot be decoded is left to end: the decoding step reports the error.
        let unfinished = |generated: &[u32]| {
            tokenizer.decode(generated).is_ok_and(|text| {
                let stated = mentioned_findings(&text);
                named.iter().flatten().any(|c| !stated[c.entity.index()])
            })
        };
        let text = self.continue_text(encoding, prefix, Some(IMPRESSION_CUE), Some(&unfinished), on_text).await?;
        Ok(DecoderReport { text, named })
    }

    /// `[CLS]` and `text` (ids without special tokens), behind the findings prompt when the model reads one;
    /// with the candidates the prompt names (none without a prompt).
    async fn decoder_prefix(
        &self,
        encoding: &ImageEncoding,
        text: Vec<u32>,
    ) -> Result<(Vec<u32>, Option<Vec<Candidate>>)> {
        if !self.config.findings_prompt {
            return Ok(([vec![CLS_ID], text].concat(), None));
        }
        let present = read_f32(encoding.present.clone().narrow(0, 0, 1)).await?;
        let prompt = self.tokenizer.encode_plain(&findings_prompt(&present, &self.thresholds))?;
        Ok((prompted_ids(&prompt, &text).0, Some(prompt_candidates(&present, &self.thresholds))))
    }

    /// Answer to a free-text question. One that asks only whether a finding is present, or absent (see
    /// [`ClosedQuestion`]), is answered from its ECLS probability and threshold, like the findings list; one
    /// that asks only which side a finding is on, or where it is, from the positions the findings list calls
    /// it at (its most probable position where none is called); one that asks where something is that is
    /// none of the model's findings, with that it knows no such finding (the decoder would place it all
    /// the same); one with words the model was never trained on ([`unknown_question_words`]), with those
    /// words (the decoder would answer a question in another language confidently); any other by the
    /// decoder ([`Pipeline::generate_answer`]).
    pub async fn answer(&self, encoding: &ImageEncoding, question: &str) -> Result<Answer> {
        let prompt = self.question_prompt(question)?;
        if let Some(asked) = ClosedQuestion::read_where(question) {
            return self.answer_where(encoding, asked).await;
        }
        if let Some(unknown) = ClosedQuestion::read_unknown_where(question) {
            let known: Vec<&str> = Entity::ALL.iter().map(|e| e.name()).collect();
            let text = format!(
                "\"{unknown}\" is not a finding this model knows, so it cannot say where it is; it knows: {}",
                known.join(", ")
            );
            return Ok(Answer { text, source: AnswerSource::Unanswerable, finding: None });
        }
        let unknown = unknown_question_words(question);
        if !unknown.is_empty() {
            let text = format!(
                "This model does not know the words {}: it was trained only on English questions such as \
                 \"Is there a pleural effusion?\", \"Which side is the pneumothorax on?\", \"Where is the lung \
                 nodule?\", \"How large is the pleural effusion?\" and \"What are the findings?\"",
                quoted_words(&unknown)
            );
            return Ok(Answer { text, source: AnswerSource::Unanswerable, finding: None });
        }
        let Some(asked) = ClosedQuestion::read(question) else {
            let text = self.continue_question(encoding, prompt).await?;
            return Ok(Answer { text, source: AnswerSource::Decoder, finding: None });
        };
        let probability = self
            .positions_of(encoding, asked.entity)
            .await?
            .into_iter()
            .filter(|(region, _)| asked.position.is_none_or(|asked| *region == asked))
            .map(|(_, p)| p)
            .fold(0.0, f32::max);
        let threshold = self.thresholds.of(asked.entity);
        let finding = AnswerFinding {
            entity: asked.entity.name(),
            position: asked.position.map(Region::name),
            probability,
            threshold,
            asks_absence: asked.asks_absence,
        };
        let called = probability >= threshold;
        let text = if called != asked.asks_absence { "yes" } else { "no" }.into();
        Ok(Answer { text, source: AnswerSource::Findings, finding: Some(finding) })
    }

    /// Where the findings list calls the asked finding, or where it is most probable when the list does not
    /// call it (the answer then shows a probability under its threshold): as a side ("right", "left", "both
    /// sides" or "midline") or as positions named the way reports name them ("in the right lower lung zone
    /// and left lung").
    async fn answer_where(&self, encoding: &ImageEncoding, asked: WhereQuestion) -> Result<Answer> {
        let entity = asked.entity;
        let threshold = self.thresholds.of(entity);
        let positions = self.positions_of(encoding, entity).await?;
        let (most_probable, probability) = positions
            .iter()
            .copied()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .ok_or_else(|| GkError::Config(format!("no knowledge candidate places {}", entity.name())))?;
        let called: Vec<Region> = positions.iter().filter(|(_, p)| *p >= threshold).map(|(r, _)| *r).collect();
        let at = if called.is_empty() { vec![most_probable] } else { called };
        let text = match asked.asks {
            Whereabouts::Side => side_of(&at).to_string(),
            Whereabouts::Zone => format!("in the {}", join_names(&most_specific(&at))),
        };
        let finding = AnswerFinding {
            entity: entity.name(),
            position: Some(most_probable.name()),
            probability,
            threshold,
            asks_absence: false,
        };
        Ok(Answer { text, source: AnswerSource::Findings, finding: Some(finding) })
    }

    /// Each knowledge candidate of `entity`: its position and ECLS probability.
    async fn positions_of(&self, encoding: &ImageEncoding, entity: Entity) -> Result<Vec<(Region, f32)>> {
        let present = read_f32(encoding.present.clone().narrow(0, 0, 1)).await?;
        Ok(self
            .knowledge
            .candidates
            .iter()
            .zip(present)
            .filter(|(c, _)| c.entity == entity)
            .map(|(c, p)| (c.position, p))
            .collect())
    }

    /// The decoder's answer to a free-text question, generated after `question: … answer:`, whatever it asks.
    pub async fn generate_answer(&self, encoding: &ImageEncoding, question: &str) -> Result<String> {
        let prompt = self.question_prompt(question)?;
        self.continue_question(encoding, prompt).await
    }

    /// `question: … answer:` as ids, or why the question cannot be asked.
    fn question_prompt(&self, question: &str) -> Result<Vec<u32>> {
        let question = question.trim();
        if question.is_empty() {
            return Err(GkError::Input("the question is empty".into()));
        }
        let ids = self.tokenizer.encode_plain(&question_text(question))?;
        let limit = self.config.text.max_positions / 2;
        if ids.len() > limit {
            return Err(GkError::Input(format!("the question is too long ({} tokens, at most {limit})", ids.len())));
        }
        Ok(ids)
    }

    async fn continue_question(&self, encoding: &ImageEncoding, prompt: Vec<u32>) -> Result<String> {
        let (prefix, _) = self.decoder_prefix(encoding, prompt).await?;
        self.continue_text(encoding, prefix, None, None, |_| ControlFlow::Continue(())).await
    }

    /// Greedy text after `prefix`, in which a repeated sentence moves the text on to `next_section` (or ends
    /// it, after that section or without one), and which does not end while `unfinished` says so.
    async fn continue_text(
        &self,
        encoding: &ImageEncoding,
        prefix: Vec<u32>,
        next_section: Option<&str>,
        unfinished: Option<Unfinished<'_>>,
        mut on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<String> {
        let memory = encoding.visual_memory.clone().narrow(0, 0, 1);
        let repeats = self.repeated_sentences(next_section)?;
        let tokenizer = &self.tokenizer;
        let mut decode_error = None;
        let generation = Generation {
            max_new_tokens: self.config.max_generated_tokens,
            max_positions: self.config.text.max_positions,
            stop: Some(SEP_ID),
            repeats: Some(&repeats),
            unfinished,
        };
        let ids = greedy(&self.model.text_decoder, &memory, &prefix, &generation, |generated| {
            match tokenizer.decode(generated) {
                Ok(text) => on_text(&text),
                Err(e) => {
                    decode_error = Some(e);
                    ControlFlow::Break(())
                }
            }
        })
        .await?;
        if let Some(e) = decode_error {
            return Err(e);
        }
        self.tokenizer.decode(&ids)
    }

    /// The tokenizer's ids for [`RepeatedSentences`].
    fn repeated_sentences(&self, next_section: Option<&str>) -> Result<RepeatedSentences> {
        let single = |text: &str| match self.tokenizer.encode_plain(text)?[..] {
            [id] => Ok(id),
            ref ids => Err(GkError::Tokenizer(format!("{text:?} is {} tokens, not one", ids.len()))),
        };
        Ok(RepeatedSentences {
            sentence_end: single(".")?,
            // Impressions number their items from 1; a study has far fewer than 20 findings.
            list_numbers: (1..=20).map(|n| single(&n.to_string())).collect::<Result<_>>()?,
            next_section: next_section.map(|cue| self.tokenizer.encode_plain(cue)).transpose()?.unwrap_or_default(),
        })
    }

    /// ITM score of each sentence of a report against the image; low scores mark unsupported sentences. At
    /// most [`MAX_REPORT_SENTENCES`], checked [`SENTENCES_PER_BATCH`] at a time so that memory stays bounded.
    pub async fn check_report(&self, encoding: &ImageEncoding, report: &str) -> Result<Vec<SentenceCheck>> {
        let sentences = split_sentences(report);
        if sentences.is_empty() {
            return Err(GkError::Input("the report has no sentences".into()));
        }
        if sentences.len() > MAX_REPORT_SENTENCES {
            return Err(GkError::Input(format!(
                "the report has {} sentences; at most {MAX_REPORT_SENTENCES} are checked",
                sentences.len()
            )));
        }
        let ids = sentences
            .iter()
            .map(|s| self.tokenizer.encode(s, self.config.text.max_positions))
            .collect::<Result<Vec<_>>>()?;
        let memory = encoding.visual_memory.clone().narrow(0, 0, 1);
        let [_, m, w] = memory.dims();
        let mut scores = Vec::with_capacity(sentences.len());
        for batch_ids in ids.chunks(SENTENCES_PER_BATCH) {
            let batch = pad_batch(batch_ids, &self.device);
            let memory = memory.clone().expand([batch_ids.len(), m, w]);
            scores.extend(read_f32(self.model.match_probability(&memory, batch.ids, batch.mask)).await?);
        }
        Ok(sentences
            .into_iter()
            .zip(scores)
            .map(|(sentence, match_probability)| SentenceCheck { sentence, match_probability })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::DecoderReport;

    #[test]
    fn only_a_prompted_report_is_made_to_agree() {
        let text = "small left pneumothorax. impression : pneumothorax.".to_string();
        assert_eq!(DecoderReport { text: text.clone(), named: None }.agreed(), text, "no findings list to agree with");
        assert_eq!(
            DecoderReport { text, named: Some(Vec::new()) }.agreed(),
            "",
            "nothing called: the pneumothorax goes"
        );
    }
}
