//! One training step's objectives on a set of studies: the batch is read, the image encoded with its
//! knowledge, and each objective whose weight is not 0 computed, as `(name, loss, weight)`.

use anyhow::{Context, Result, anyhow};
use burn::tensor::{Device, Tensor, TensorData};
use gkmvlp::network::ecls_head::PresentThresholds;
use gkmvlp::network::knowledge::Knowledge;
use gkmvlp::protocol::findings_prompt;
use gkmvlp::tokenizer::TextTokenizer;
use gkmvlp::vocab::{Entity, NUM_ENTITIES, candidates};
use gkmvlp::{GkMvlp, GkMvlpConfig, RegionPooling};
use gkmvlp_data::Record;

use crate::{TrainSettings, data, losses};

/// What every step shares: the run's settings, the network's shape, the tokenizer and the knowledge
/// encodings (computed once when E_T is frozen).
#[derive(Clone, Copy)]
pub(crate) struct StepInputs<'a> {
    pub settings: &'a TrainSettings,
    pub config: &'a GkMvlpConfig,
    pub tokenizer: &'a TextTokenizer,
    pub frozen_knowledge: Option<&'a Knowledge>,
    /// The tokens of `answer:`, where a question–answer pair's targets begin with `answers_only`.
    pub answer_cue: &'a [u32],
    pub device: &'a Device,
}

/// An objective's name, its loss and its weight in the total.
pub(crate) type Objective = (&'static str, Tensor<1>, f32);

/// The objectives of `model` on `records` at `step`; ECLS and boxes are always there, last.
pub(crate) fn objectives(
    model: &GkMvlp,
    records: &[&Record],
    step: usize,
    inputs: &StepInputs,
) -> Result<Vec<Objective>> {
    let StepInputs { settings, config, tokenizer, frozen_knowledge, answer_cue, device } = *inputs;
    let batch = data::batch(
        records,
        step,
        config.vision.image_size,
        &settings.augmentation,
        tokenizer,
        settings.max_text_tokens,
        device,
    )?;

    let knowledge = match frozen_knowledge {
        Some(knowledge) => knowledge.clone(),
        None => Knowledge::encode(&model.text_encoder, tokenizer, config.text.max_positions, device)
            .context("cannot encode the knowledge")?,
    };
    let pooling = if settings.pool_predicted_boxes {
        RegionPooling::Predicted
    } else {
        RegionPooling::Given(batch.boxes.clone())
    };
    let encoding = model.encode_image(batch.images, &knowledge, pooling);
    let box_loss = losses::boxes(encoding.boxes.clone(), batch.boxes, batch.box_valid);
    let ecls_loss = losses::entity_existence(
        encoding.present.clone(),
        batch.exist,
        batch.exist_valid,
        settings.ecls_positive_weight,
    );
    let image_label_loss = (settings.real_per_batch > 0).then(|| {
        let membership: Vec<f32> =
            candidates().iter().flat_map(|c| Entity::ALL.map(|e| f32::from(u8::from(c.entity == e)))).collect();
        let membership = Tensor::from_data(TensorData::new(membership, [candidates().len(), NUM_ENTITIES]), device);
        losses::multiple_instance(encoding.present.clone(), membership, batch.image_present, batch.image_labelled)
    });

    // A text-side objective whose weight is 0 is not computed at all: an image-only stage (boxes and ECLS)
    // skips the whole text side and runs several times faster.
    let mut objectives = Vec::new();
    if settings.itc_weight > 0.0 || settings.itm_weight > 0.0 {
        let texts = model.text_embedding(batch.reports.ids.clone(), batch.reports.mask.clone());
        let similarity = model.contrastive.logits(encoding.image_embedding.clone(), texts);
        let matches =
            if settings.findings_match { batch.same_findings.clone() } else { Tensor::eye(records.len(), device) };
        if settings.itc_weight > 0.0 {
            objectives.push(("itc", losses::contrastive(similarity.clone(), matches.clone()), settings.itc_weight));
        }
        if settings.itm_weight > 0.0 {
            // ITM in one pass: each of the first `n` images with its own report, then with its hardest negative.
            let n = match settings.itm_images {
                0 => records.len(),
                n => n.min(records.len()),
            };
            let (negatives, has_negative) = data::hard_negatives(similarity, matches);
            let negatives = negatives.narrow(0, 0, n);
            let ids = Tensor::cat(
                vec![batch.reports.ids.clone().narrow(0, 0, n), batch.reports.ids.clone().select(0, negatives.clone())],
                0,
            );
            let mask = Tensor::cat(
                vec![batch.reports.mask.clone().narrow(0, 0, n), batch.reports.mask.clone().select(0, negatives)],
                0,
            );
            let memory = encoding.visual_memory.clone().narrow(0, 0, n);
            let memory = Tensor::cat(vec![memory.clone(), memory], 0);
            let labels =
                Tensor::<1>::from_data(TensorData::new([vec![1.0f32; n], vec![0.0; n]].concat(), [2 * n]), device);
            // An image whose batch holds no non-matching report gets no negative pair.
            let weights = Tensor::cat(vec![Tensor::ones([n], device), has_negative.narrow(0, 0, n)], 0);
            let itm_loss = losses::binary_cross_entropy(model.match_probability(&memory, ids, mask), labels, weights);
            objectives.push(("itm", itm_loss, settings.itm_weight));
        }
    }
    if settings.lm_weight > 0.0 {
        // The decoder's texts: the report and a VQA pair, both or taking turns; a pair's targets begin
        // after its answer cue with `answers_only`.
        let answers_from = settings.answers_only.then_some(answer_cue);
        let texts = match (settings.lm_both_texts, step % 2) {
            (true, _) => vec![
                (&batch.reports, &batch.report_texts, None),
                (&batch.questions, &batch.question_texts, answers_from),
            ],
            (false, 0) => vec![(&batch.reports, &batch.report_texts, None)],
            (false, _) => vec![(&batch.questions, &batch.question_texts, answers_from)],
        };
        // With the findings prompt, each text follows the true findings or what ECLS calls present now, as
        // at inference (at 0.5: the per-entity thresholds are fitted after training, by `gkmvlp calibrate`).
        let prompts = if config.findings_prompt {
            let present = if settings.prompt_from_truth {
                records.iter().flat_map(|r| r.exist.iter().map(|&e| if e == 1 { 1.0 } else { 0.0 })).collect()
            } else {
                encoding
                    .present
                    .clone()
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .map_err(|e| anyhow!("read-back of the ECLS probabilities failed: {e:?}"))?
            };
            let prompts = present
                .chunks(present.len() / records.len())
                .map(|p| tokenizer.encode_plain(&findings_prompt(p, &PresentThresholds::default())));
            Some(prompts.collect::<Result<Vec<_>, _>>().context("cannot tokenise the findings prompts")?)
        } else {
            None
        };
        let mut lm_losses = Vec::with_capacity(texts.len());
        for (tokens, strings, targets_from) in &texts {
            let (tokens, weights) = match &prompts {
                Some(prompts) => data::prompted(
                    strings,
                    prompts,
                    *targets_from,
                    tokenizer,
                    settings.max_text_tokens,
                    config.text.max_positions,
                    device,
                )?,
                None => ((*tokens).clone(), tokens.mask.clone()),
            };
            let logits = model.text_decoder.forward(tokens.ids.clone(), tokens.mask, &encoding.visual_memory);
            let targets = model.text_decoder.vocabulary.decoder_ids(tokens.ids);
            lm_losses.push(losses::language_model(logits, targets, weights, settings.label_smoothing));
        }
        let lm_loss =
            lm_losses.into_iter().reduce(|a, b| a + b).expect("at least one text").div_scalar(texts.len() as f32);
        objectives.push(("lm", lm_loss, settings.lm_weight));
    }
    if let Some(loss) = image_label_loss {
        objectives.push(("ecls-image", loss, settings.ecls_weight));
    }
    objectives.extend([("ecls", ecls_loss, settings.ecls_weight), ("box", box_loss, settings.box_weight)]);
    Ok(objectives)
}
