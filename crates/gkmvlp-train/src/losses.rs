//! The pre-training objectives: ITC (symmetric InfoNCE), ITM (binary), LM (causal cross-entropy with
//! label smoothing), ECLS (binary cross-entropy over every candidate triplet) and region boxes (L1 + GIoU).

use burn::tensor::{Int, Tensor, activation::log_softmax};

/// Probabilities are clamped before the logarithm so a confident mistake costs a large, finite loss.
const EPS: f32 = 1e-6;

/// Mean binary cross-entropy of probabilities `p` against 0/1 `targets` where `weights` is 1 (0 = ignore).
pub fn binary_cross_entropy<const D: usize>(p: Tensor<D>, targets: Tensor<D>, weights: Tensor<D>) -> Tensor<1> {
    let p = p.clamp(EPS, 1.0 - EPS);
    let loss =
        (targets.clone() * p.clone().log() + targets.neg().add_scalar(1.0) * p.neg().add_scalar(1.0).log()).neg();
    (loss * weights.clone()).sum().div(weights.sum().clamp_min(1.0))
}

/// ECLS: binary cross-entropy over the labelled candidate triplets (`valid` 1), a present triplet weighing
/// `positive_weight` absent ones. About 1 candidate in 27 is present, so at weight 1 a finding seen in few
/// places moves the mean loss little.
pub fn entity_existence(p: Tensor<2>, present: Tensor<2>, valid: Tensor<2>, positive_weight: f32) -> Tensor<1> {
    let weights = valid * present.clone().mul_scalar(positive_weight - 1.0).add_scalar(1.0);
    binary_cross_entropy(p, present, weights)
}

/// ECLS for studies labelled only as a whole (multiple-instance): an entity's image score is its highest
/// probability over its positions, as at inference, and is learnt by binary cross-entropy against the
/// image's label. `p` `[batch, candidates]`; `membership` `[candidates, entities]`, 1 where a candidate is of
/// the entity; `present` and `labelled` `[batch, entities]`: the image-level label, and 1 where there is one.
pub fn multiple_instance(p: Tensor<2>, membership: Tensor<2>, present: Tensor<2>, labelled: Tensor<2>) -> Tensor<1> {
    let [batch, candidates] = p.dims();
    let [_, entities] = membership.dims();
    let per_entity = p.reshape([batch, candidates, 1]) * membership.reshape([1, candidates, entities]);
    binary_cross_entropy(per_entity.max_dim(1).reshape([batch, entities]), present, labelled)
}

/// Symmetric InfoNCE over a batch. `logits`: `[batch, batch]`; `matches`: `[batch, batch]`, symmetric, 1
/// where image `i` and text `j` belong together (the diagonal at least). Each row's target spreads
/// evenly over its matches.
pub fn contrastive(logits: Tensor<2>, matches: Tensor<2>) -> Tensor<1> {
    let targets = matches.clone().div(matches.sum_dim(1));
    let image_to_text = (log_softmax(logits.clone(), 1) * targets.clone()).sum_dim(1).mean().neg();
    let text_to_image = (log_softmax(logits.transpose(), 1) * targets).sum_dim(1).mean().neg();
    (image_to_text + text_to_image).div_scalar(2.0)
}

/// Causal LM loss: `logits` `[batch, seq, vocab]` predict `ids` shifted by one; `weights` `[batch, seq]`
/// says which tokens count (the attention mask, or less: padding and given prompts are not predicted);
/// label smoothing `smoothing` spreads that much probability over the vocabulary.
pub fn language_model(logits: Tensor<3>, ids: Tensor<2, Int>, weights: Tensor<2>, smoothing: f32) -> Tensor<1> {
    let [batch, seq, _] = logits.dims();
    let predictions = logits.narrow(1, 0, seq - 1);
    let targets = ids.narrow(1, 1, seq - 1).reshape([batch, seq - 1, 1]);
    let weights = weights.narrow(1, 1, seq - 1);
    let log_probs = log_softmax(predictions, 2);
    let nll = log_probs.clone().gather(2, targets).reshape([batch, seq - 1]).neg();
    let uniform = log_probs.mean_dim(2).reshape([batch, seq - 1]).neg();
    let per_token = nll.mul_scalar(1.0 - smoothing) + uniform.mul_scalar(smoothing);
    (per_token * weights.clone()).sum().div(weights.sum().clamp_min(1.0))
}

/// L1 plus generalised-IoU loss of `(x0, y0, x1, y1)` boxes `[batch, regions, 4]`, over regions with
/// `valid` = 1 (`[batch, regions]`).
pub fn boxes(predicted: Tensor<3>, target: Tensor<3>, valid: Tensor<2>) -> Tensor<1> {
    let [batch, regions, _] = predicted.dims();
    let l1 = (predicted.clone() - target.clone()).abs().mean_dim(2).reshape([batch, regions]);
    let giou = generalized_iou(predicted, target);
    let per_box = l1 + giou.neg().add_scalar(1.0);
    (per_box * valid.clone()).sum().div(valid.sum().clamp_min(1.0))
}

/// GIoU of matching boxes, `[batch, regions]`.
pub fn generalized_iou(a: Tensor<3>, b: Tensor<3>) -> Tensor<2> {
    let [batch, regions, _] = a.dims();
    let coord = |t: &Tensor<3>, i: usize| t.clone().narrow(2, i, 1).reshape([batch, regions]);
    let (ax0, ay0, ax1, ay1) = (coord(&a, 0), coord(&a, 1), coord(&a, 2), coord(&a, 3));
    let (bx0, by0, bx1, by1) = (coord(&b, 0), coord(&b, 1), coord(&b, 2), coord(&b, 3));
    let area = |x0: &Tensor<2>, y0: &Tensor<2>, x1: &Tensor<2>, y1: &Tensor<2>| {
        (x1.clone() - x0.clone()).clamp_min(0.0) * (y1.clone() - y0.clone()).clamp_min(0.0)
    };
    let inter = area(
        &ax0.clone().max_pair(bx0.clone()),
        &ay0.clone().max_pair(by0.clone()),
        &ax1.clone().min_pair(bx1.clone()),
        &ay1.clone().min_pair(by1.clone()),
    );
    let union = area(&ax0, &ay0, &ax1, &ay1) + area(&bx0, &by0, &bx1, &by1) - inter.clone();
    let hull = area(&ax0.min_pair(bx0), &ay0.min_pair(by0), &ax1.max_pair(bx1), &ay1.max_pair(by1));
    let iou = inter / union.clone().clamp_min(1e-6);
    iou - (hull.clone() - union) / hull.clamp_min(1e-6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn boxes_of(values: Vec<f32>) -> Tensor<3> {
        let n = values.len() / 4;
        Tensor::from_data(TensorData::new(values, [1, n, 4]), &Device::flex())
    }

    #[test]
    fn a_positive_weight_counts_present_triplets_that_many_times() {
        let device = Device::flex();
        let row = |values: Vec<f32>| Tensor::<2>::from_data(TensorData::new(values, [1, 3]), &device);
        let (p, present) = (row(vec![0.5, 0.2, 0.9]), row(vec![1.0, 0.0, 0.0]));
        let valid = row(vec![1.0, 1.0, 0.0]);
        let loss = |weight| entity_existence(p.clone(), present.clone(), valid.clone(), weight).into_scalar::<f32>();
        // The unlabelled third candidate is ignored; the present one counts three times at weight 3.
        let (present_term, absent_term) = (-(0.5f32.ln()), -(0.8f32.ln()));
        assert!((loss(1.0) - (present_term + absent_term) / 2.0).abs() < 1e-5);
        assert!((loss(3.0) - (3.0 * present_term + absent_term) / 4.0).abs() < 1e-5);
    }

    #[test]
    fn an_image_label_is_learnt_at_the_entitys_most_probable_position() {
        let device = Device::flex();
        // Two images, three candidates: the first two of entity 0, the third of entity 1.
        let p = Tensor::<2>::from_data(TensorData::new(vec![0.2f32, 0.8, 0.1, 0.6, 0.3, 0.9], [2, 3]), &device);
        let membership =
            Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, 1.0, 0.0, 0.0, 1.0], [3, 2]), &device);
        // Image 0 has entity 0 somewhere and not entity 1; image 1 has entity 1, its entity 0 is unlabelled.
        let present = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0], [2, 2]), &device);
        let labelled = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 1.0, 0.0, 1.0], [2, 2]), &device);
        let loss = multiple_instance(p.clone(), membership, present, labelled).into_scalar::<f32>();
        let expected = (-(0.8f32.ln()) - 0.9f32.ln() - 0.9f32.ln()) / 3.0;
        assert!((loss - expected).abs() < 1e-5, "{loss} against {expected}");
    }

    #[test]
    fn giou_is_one_for_equal_boxes_and_negative_for_far_ones() {
        let a = boxes_of(vec![0.1, 0.1, 0.5, 0.5, 0.0, 0.0, 0.1, 0.1]);
        let b = boxes_of(vec![0.1, 0.1, 0.5, 0.5, 0.9, 0.9, 1.0, 1.0]);
        let g = generalized_iou(a, b).into_data().try_to_vec::<f32>().unwrap();
        assert!((g[0] - 1.0).abs() < 1e-5);
        assert!(g[1] < -0.9, "{g:?}");
    }

    #[test]
    fn contrastive_loss_is_small_when_the_diagonal_dominates() {
        let device = Device::flex();
        let good = Tensor::<2>::from_data(TensorData::new(vec![10.0f32, 0.0, 0.0, 10.0], [2, 2]), &device);
        let bad = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 10.0, 10.0, 0.0], [2, 2]), &device);
        let eye = Tensor::<2>::eye(2, &device);
        let good = contrastive(good, eye.clone()).into_scalar::<f32>();
        let bad = contrastive(bad, eye).into_scalar::<f32>();
        assert!(good < 1e-3 && bad > 9.0, "{good} {bad}");
    }

    #[test]
    fn matching_texts_share_the_target() {
        let device = Device::flex();
        let logits = |values: Vec<f32>| Tensor::<2>::from_data(TensorData::new(values, [3, 3]), &device);
        // Texts 0 and 1 both describe images 0 and 1 (the same findings); text 2 only image 2.
        let matches = logits(vec![1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        let alike = logits(vec![5.0, 5.0, -5.0, 5.0, 5.0, -5.0, -5.0, -5.0, 5.0]);
        let apart = logits(vec![7.0, 3.0, -5.0, 3.0, 7.0, -5.0, -5.0, -5.0, 5.0]);
        let loss = |l: &Tensor<2>, m: Tensor<2>| contrastive(l.clone(), m).into_scalar::<f32>();
        // With shared targets, scoring the two matching texts alike is the better answer...
        assert!(loss(&alike, matches.clone()) < loss(&apart, matches), "shared targets push matching texts apart");
        // ...while the diagonal alone rewards telling them apart.
        let eye = Tensor::<2>::eye(3, &device);
        assert!(loss(&apart, eye.clone()) < loss(&alike, eye), "diagonal targets should prefer the split");
    }
}
