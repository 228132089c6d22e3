//! Evaluation metrics on plain numbers and strings, so that they can score any model output (or the
//! simulator's own ground truth) without tensors: box IoU, ROC AUC, BLEU-4, ROUGE-L, clinical efficacy
//! (which findings a report states as present) and VQA answer matching.

use std::cmp::Ordering;
use std::collections::HashMap;

use gkmvlp::vocab::NUM_ENTITIES;
pub use gkmvlp::vocab::mentions::{mentioned_findings, words};
use gkmvlp_data::rng::Rng;

/// Number of findings a report is parsed into, tied to the vocabulary so that a new entity fails to compile
/// until it has its cues.
pub(crate) const ENTITY_COUNT: usize = NUM_ENTITIES;

/// Intersection over union of two `(x0, y0, x1, y1)` boxes; 0 when they do not overlap or are degenerate,
/// so that a collapsed prediction never scores.
pub fn box_iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    // `f32::max` ignores NaN, so a NaN coordinate gives an empty side rather than a NaN IoU.
    let area = |x: [f32; 4]| (x[2] - x[0]).max(0.0) * (x[3] - x[1]).max(0.0);
    let overlap = [a[0].max(b[0]), a[1].max(b[1]), a[2].min(b[2]), a[3].min(b[3])];
    let intersection = area(overlap);
    let union = area(a) + area(b) - intersection;
    if union > 0.0 { intersection / union } else { 0.0 }
}

/// Area under the ROC curve as the Mann–Whitney probability that a positive outscores a negative (ties
/// count half), computed by sorting so that it scales to a whole test set; `None` when only one class is
/// present, where AUC is undefined. NaN scores rank lowest; pairs beyond the shorter slice are ignored.
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let rank_key = |s: f32| if s.is_nan() { f32::NEG_INFINITY } else { s };
    let mut scored: Vec<(f32, bool)> = scores.iter().zip(labels).map(|(&s, &l)| (rank_key(s), l)).collect();
    scored.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal));
    let positives = scored.iter().filter(|(_, l)| *l).count();
    let negatives = scored.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Walk groups of equal scores upwards: each positive beats every negative below its group and ties
    // with the negatives inside it.
    let mut wins = 0.0f64;
    let mut negatives_below = 0usize;
    for group in scored.chunk_by(|a, b| a.0 == b.0) {
        let group_positives = group.iter().filter(|(_, l)| *l).count();
        let group_negatives = group.len() - group_positives;
        wins += group_positives as f64 * (negatives_below as f64 + 0.5 * group_negatives as f64);
        negatives_below += group_negatives;
    }
    Some(wins / (positives as f64 * negatives as f64))
}

/// Arithmetic mean, `None` for no values, so that a macro average over zero defined classes is not a
/// misleading 0.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// How often each n-gram of `tokens` occurs.
fn ngram_counts(tokens: &[String], n: usize) -> HashMap<&[String], usize> {
    let mut counts = HashMap::new();
    for gram in tokens.windows(n) {
        *counts.entry(gram).or_insert(0) += 1;
    }
    counts
}

/// Corpus-level BLEU-4 (Papineni et al.): clipped 1- to 4-gram matches pooled over all pairs, geometric
/// mean of the four precisions, brevity penalty from the total lengths, so that short pairs do not weigh
/// as much as long ones. 0 when any precision is 0; pairs beyond the shorter slice are ignored.
pub fn bleu4(candidates: &[Vec<String>], references: &[Vec<String>]) -> f64 {
    let pairs: Vec<(&Vec<String>, &Vec<String>)> = candidates.iter().zip(references).collect();
    let mut log_precision_sum = 0.0;
    for n in 1..=4 {
        let (mut matches, mut total) = (0usize, 0usize);
        for (candidate, reference) in &pairs {
            let reference_counts = ngram_counts(reference, n);
            for (gram, count) in ngram_counts(candidate, n) {
                matches += count.min(reference_counts.get(gram).copied().unwrap_or(0));
                total += count;
            }
        }
        if matches == 0 {
            return 0.0;
        }
        log_precision_sum += (matches as f64 / total as f64).ln();
    }
    let candidate_length: usize = pairs.iter().map(|(c, _)| c.len()).sum();
    let reference_length: usize = pairs.iter().map(|(_, r)| r.len()).sum();
    // matches > 0 above implies candidate_length > 0.
    let brevity_penalty = if candidate_length > reference_length {
        1.0
    } else {
        (1.0 - reference_length as f64 / candidate_length as f64).exp()
    };
    brevity_penalty * (log_precision_sum / 4.0).exp()
}

/// Length of the longest common subsequence, in two rows of memory.
fn longest_common_subsequence(a: &[String], b: &[String]) -> usize {
    let mut previous = vec![0usize; b.len() + 1];
    let mut current = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            current[j + 1] = if x == y { previous[j] + 1 } else { current[j].max(previous[j + 1]) };
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// ROUGE-L F-measure with β = 1 (the F1 of LCS precision and recall), which rewards in-order overlap
/// without demanding contiguous n-grams; 0 when nothing is shared. The corpus score is the mean over pairs.
pub fn rouge_l(candidate: &[String], reference: &[String]) -> f64 {
    let lcs = longest_common_subsequence(candidate, reference) as f64;
    if lcs == 0.0 {
        return 0.0;
    }
    let precision = lcs / candidate.len() as f64;
    let recall = lcs / reference.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// Micro-averaged (precision, recall, F1) over every (study, entity) pair, the usual clinical-efficacy
/// summary; each is 0 where its denominator is, and studies beyond the shorter slice are ignored.
pub fn clinical_f1(predicted: &[[bool; ENTITY_COUNT]], truth: &[[bool; ENTITY_COUNT]]) -> (f64, f64, f64) {
    let total = study_counts(predicted, truth).fold([0; 3], add_counts);
    scores_from_counts(total)
}

/// Resamples of a bootstrap ([`clinical_f1_interval`], `eval_real`'s intervals over patients): enough for
/// the 2.5th and 97.5th percentiles to settle.
pub const BOOTSTRAP_RESAMPLES: usize = 1000;

/// The 2.5th and 97.5th percentiles of a bootstrap's `values`, in any order; none without values.
pub fn percentile_interval(mut values: Vec<f64>) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |per_mille: usize| values[(values.len() * per_mille / 1000).min(values.len() - 1)];
    Some((at(25), at(975)))
}

/// The 95 % percentile-bootstrap interval of [`clinical_f1`]'s F1, resampling whole studies with
/// replacement: how far another sample of as many studies would likely put it. Seeded, so the same calls
/// always give the same interval; none without studies.
pub fn clinical_f1_interval(predicted: &[[bool; ENTITY_COUNT]], truth: &[[bool; ENTITY_COUNT]]) -> Option<(f64, f64)> {
    let studies: Vec<[usize; 3]> = study_counts(predicted, truth).collect();
    if studies.is_empty() {
        return None;
    }
    let mut rng = Rng::new(0);
    let f1s = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| {
            let total = (0..studies.len()).map(|_| studies[rng.below(studies.len())]).fold([0; 3], add_counts);
            scores_from_counts(total).2
        })
        .collect();
    percentile_interval(f1s)
}

/// Each study's (true positives, false positives, false negatives) over its entities.
fn study_counts<'a>(
    predicted: &'a [[bool; ENTITY_COUNT]],
    truth: &'a [[bool; ENTITY_COUNT]],
) -> impl Iterator<Item = [usize; 3]> + 'a {
    predicted.iter().zip(truth).map(|(p, t)| {
        p.iter().zip(t).fold([0; 3], |[tp, fp, fn_], (&p, &t)| {
            [tp + usize::from(p && t), fp + usize::from(p && !t), fn_ + usize::from(!p && t)]
        })
    })
}

fn add_counts(a: [usize; 3], b: [usize; 3]) -> [usize; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

fn scores_from_counts([true_positives, false_positives, false_negatives]: [usize; 3]) -> (f64, f64, f64) {
    let ratio = |num: usize, den: usize| if den == 0 { 0.0 } else { num as f64 / den as f64 };
    let precision = ratio(true_positives, true_positives + false_positives);
    let recall = ratio(true_positives, true_positives + false_negatives);
    let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
    (precision, recall, f1)
}

/// A VQA answer is right when it has the same words as the truth, so that case, punctuation and spacing
/// ("Yes." vs "yes") do not count as errors.
pub fn answers_match(predicted: &str, truth: &str) -> bool {
    words(predicted) == words(truth)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gkmvlp_sim::{Entity, Finding, Severity, Side};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn iou_of_overlapping_disjoint_and_degenerate_boxes() {
        assert_eq!(box_iou([0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0]), 1.0);
        assert!((box_iou([0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 3.0, 2.0]) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(box_iou([0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0]), 0.0);
        assert_eq!(box_iou([0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 2.0, 1.0]), 0.0, "touching edges");
        assert_eq!(box_iou([1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]), 0.0, "points");
        assert_eq!(box_iou([2.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 2.0]), 0.0, "inverted box has no area");
        assert_eq!(box_iou([f32::NAN, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]), 0.0);
    }

    #[test]
    fn auc_counts_ties_as_half_and_needs_both_classes() {
        assert_eq!(roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), Some(0.75));
        assert_eq!(roc_auc(&[0.5, 0.5, 0.2, 0.9], &[true, false, false, true]), Some(0.875));
        assert_eq!(roc_auc(&[0.3, 0.3, 0.3], &[true, false, true]), Some(0.5));
        assert_eq!(roc_auc(&[0.9, 0.1], &[false, true]), Some(0.0));
        assert_eq!(roc_auc(&[0.9, 0.1], &[true, true]), None);
        assert_eq!(roc_auc(&[], &[]), None);
        assert_eq!(roc_auc(&[f32::NAN, -5.0], &[true, false]), Some(0.0), "NaN ranks lowest");
        assert_eq!(roc_auc(&[-0.0, 0.0], &[true, false]), Some(0.5), "signed zeros tie");
    }

    #[test]
    fn auc_agrees_with_counting_every_pair() {
        let mut rng = Rng::new(3);
        for _ in 0..50 {
            let n = 1 + rng.below(40);
            // Coarse scores so that ties are common.
            let scores: Vec<f32> = (0..n).map(|_| rng.below(6) as f32 / 5.0).collect();
            let labels: Vec<bool> = (0..n).map(|_| rng.chance(0.4)).collect();
            let positives: Vec<f32> = scores.iter().zip(&labels).filter(|(_, l)| **l).map(|(s, _)| *s).collect();
            let negatives: Vec<f32> = scores.iter().zip(&labels).filter(|(_, l)| !**l).map(|(s, _)| *s).collect();
            let (mut wins, mut pairs) = (0.0, 0.0);
            for p in &positives {
                for n in &negatives {
                    pairs += 1.0;
                    wins += if p > n {
                        1.0
                    } else if p == n {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
            let expected = (pairs > 0.0).then(|| wins / pairs);
            match (roc_auc(&scores, &labels), expected) {
                (Some(a), Some(b)) => assert!(close(a, b), "{a} vs {b}"),
                (a, b) => assert_eq!(a, b),
            }
        }
    }

    #[test]
    fn mean_of_nothing_is_undefined() {
        assert_eq!(mean(&[]), None);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
    }

    #[test]
    fn words_are_lowercase_alphanumeric() {
        assert_eq!(
            words("Small RIGHT effusion, 4.2 cm; ET-tube."),
            ["small", "right", "effusion", "4", "2", "cm", "et", "tube"]
        );
        assert!(words(" .,; ").is_empty());
    }

    #[test]
    fn bleu_clips_counts_and_penalises_brevity() {
        let references = [words("the cat sat on a mat")];
        assert!(close(bleu4(&references, &references), 1.0));
        // Precisions 5/6 ("the" clipped to one), 3/5, 2/4, 1/3; equal lengths.
        assert!(close(bleu4(&[words("the cat sat on the mat")], &references), (1.0f64 / 12.0).powf(0.25)));
        // Perfect precisions, 4 words against 6.
        assert!(close(bleu4(&[words("the cat sat on")], &references), (-0.5f64).exp()));
        assert_eq!(
            bleu4(&[words("the cat is on the mat")], &[words("the cat sat on the mat")]),
            0.0,
            "no 4-gram in common"
        );
        assert_eq!(bleu4(&[], &[]), 0.0);
        assert_eq!(bleu4(&[Vec::new()], &references), 0.0);
    }

    #[test]
    fn bleu_pools_counts_over_the_corpus() {
        // The second pair alone shares no 4-gram, but the corpus does.
        let candidates = [words("one two three four"), words("a b c")];
        let references = [words("one two three four"), words("a b c")];
        // 4-grams: 1 of 1 (the 3-word pair has none); 3-grams 3/3; all precisions 1.
        assert!(close(bleu4(&candidates, &references), 1.0));
        assert_eq!(bleu4(&candidates[1..], &references[1..]), 0.0);
    }

    #[test]
    fn rouge_l_is_the_f1_of_the_longest_common_subsequence() {
        assert!(close(rouge_l(&words("the cat sat on the mat"), &words("the cat is on the mat")), 5.0 / 6.0));
        assert!(close(rouge_l(&words("a b c"), &words("a x b y c z")), 2.0 / 3.0));
        assert_eq!(rouge_l(&words("a b"), &words("c d")), 0.0);
        assert_eq!(rouge_l(&[], &[]), 0.0);
    }

    fn present(report: &str) -> Vec<&'static str> {
        mentioned_findings(report).iter().zip(Entity::ALL).filter(|(p, _)| **p).map(|(_, e)| e.name()).collect()
    }

    #[test]
    fn cues_follow_the_entity_order() {
        for (i, entity) in Entity::ALL.iter().enumerate() {
            let found = mentioned_findings(entity.name());
            assert!(found[i] && found.iter().filter(|f| **f).count() == 1, "{}: {found:?}", entity.name());
        }
    }

    #[test]
    fn parses_simulator_phrasing() {
        let cases: &[(&str, &[&str])] = &[
            ("No pleural effusion or pneumothorax. The lungs are clear. Heart size is normal.", &[]),
            (
                "The costophrenic angles are sharp, without pleural effusion. The mediastinal and hilar contours are normal.",
                &[],
            ),
            (
                "The cardiac silhouette is normal in size. No suspicious pulmonary nodule or mass. No acute cardiopulmonary process.",
                &[],
            ),
            (
                "A small right pneumothorax is present, without lung markings beyond the pleural line.",
                &["pneumothorax"],
            ),
            (
                "1. Small right pleural effusion. 2. Mild cardiomegaly.",
                &["pleural effusion", "enlarged cardiac silhouette"],
            ),
            ("A 4.2 cm mass in the left upper lung zone. No pneumothorax.", &["lung mass"]),
            ("Possible focal airspace consolidation is seen in the right lower lung zone.", &["consolidation"]),
            ("Two possible pulmonary nodules in the right lung, the largest measuring 12 mm.", &["lung nodule"]),
            (
                "The left hilum is possibly enlarged. Probable mild pulmonary edema with perihilar haziness.",
                &["pulmonary edema", "enlarged hilum"],
            ),
            (
                "Mild enlargement of the cardiac silhouette. Mild widening of the mediastinum.",
                &["enlarged cardiac silhouette", "mediastinal widening"],
            ),
            ("The lungs are hyperinflated with flattening of the hemidiaphragms.", &["hyperaeration"]),
            (
                "Elevation of the left hemidiaphragm. Plate-like atelectasis in the left lower lung zone.",
                &["atelectasis", "elevated hemidiaphragm"],
            ),
            (
                "The endotracheal tube tip is at the level of the carina; withdrawal by 2 cm is suggested.",
                &["endotracheal tube"],
            ),
            (
                "Right internal jugular central venous catheter with the tip at the cavoatrial junction.",
                &["central venous catheter"],
            ),
        ];
        for (report, expected) in cases {
            assert_eq!(present(report), *expected, "{report}");
        }
    }

    #[test]
    fn negation_scope_and_synonyms() {
        assert_eq!(present("The right hemidiaphragm is not elevated. Pneumothorax has resolved."), Vec::<&str>::new());
        assert_eq!(present("No effusion, but a small pneumothorax"), ["pneumothorax"]);
        assert_eq!(
            present("ET tube and PICC in place. Enlarged heart."),
            ["enlarged cardiac silhouette", "endotracheal tube", "central venous catheter"]
        );
        assert_eq!(present(""), Vec::<&str>::new());
    }

    /// A finding of `kind` shaped as the simulator's `findings::locate` makes it: allowed positions, the
    /// sides, sizes and details its report templates read.
    fn simulated_finding(kind: Entity, rng: &mut Rng) -> Finding {
        let allowed = kind.positions();
        let mut positions: Vec<String> = (0..1 + rng.below(2)).map(|_| rng.pick(allowed).name().to_string()).collect();
        positions.dedup();
        let side = match kind {
            Entity::PleuralEffusion => *rng.pick(&[Side::Right, Side::Left, Side::Bilateral]),
            Entity::PulmonaryEdema | Entity::Hyperaeration => Side::Bilateral,
            Entity::EnlargedCardiacSilhouette | Entity::MediastinalWidening | Entity::EndotrachealTube => Side::Midline,
            Entity::CentralVenousCatheter => Side::Right,
            _ => *rng.pick(&[Side::Right, Side::Left]),
        };
        let details: Vec<String> = match kind {
            Entity::PleuralEffusion if rng.chance(0.5) => vec!["meniscus".into()],
            Entity::Atelectasis if rng.chance(0.5) => vec!["volume loss".into()],
            Entity::EndotrachealTube if positions.iter().any(|p| p == "carina") => {
                vec!["tip 6 mm above the carina".into()]
            }
            Entity::EndotrachealTube => vec!["tip 4 cm above the carina".into()],
            Entity::CentralVenousCatheter => vec![
                rng.pick(&[
                    "tip in the superior vena cava",
                    "tip at the cavoatrial junction",
                    "tip in the right atrium",
                ])
                .to_string(),
            ],
            _ => Vec::new(),
        };
        Finding {
            entity: kind,
            name: kind.name().to_string(),
            side,
            severity: *rng.pick(&[Severity::Mild, Severity::Moderate, Severity::Severe]),
            size_mm: Some(rng.uniform(6.0, 60.0) as f32),
            count: if kind == Entity::LungNodule { 1 + rng.below(3) as u32 } else { 1 },
            positions,
            details,
        }
    }

    #[test]
    fn recovers_the_simulators_truth_from_its_reports() {
        let studies = 4000;
        let mut rng = Rng::new(11);
        let mut wrong = Vec::new();
        for _ in 0..studies {
            let normal = rng.chance(0.25);
            let kinds: Vec<Entity> = Entity::ALL.iter().copied().filter(|_| !normal && rng.chance(0.25)).collect();
            let findings: Vec<Finding> = kinds.iter().map(|&k| simulated_finding(k, &mut rng)).collect();
            let mut truth = [false; ENTITY_COUNT];
            for f in &findings {
                truth[f.entity.index()] = true;
            }
            let view = *rng.pick(&["PA", "AP"]);
            let report = gkmvlp_sim::report::report(&findings, view, &mut rng, 0.5);
            let text = format!("{} {}", report.findings, report.impression);
            if mentioned_findings(&text) != truth {
                wrong.push(text);
            }
        }
        assert!(
            wrong.is_empty(),
            "{} of {studies} reports misread, e.g. {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(3)]
        );
    }

    #[test]
    fn clinical_f1_is_micro_averaged() {
        let mut predicted = [[false; ENTITY_COUNT]; 2];
        let mut truth = [[false; ENTITY_COUNT]; 2];
        (predicted[0][0], predicted[0][1], predicted[1][2]) = (true, true, true);
        (truth[0][0], truth[1][2], truth[1][3]) = (true, true, true);
        let (precision, recall, f1) = clinical_f1(&predicted, &truth);
        assert!(close(precision, 2.0 / 3.0) && close(recall, 2.0 / 3.0) && close(f1, 2.0 / 3.0));
        assert_eq!(clinical_f1(&[], &[]), (0.0, 0.0, 0.0));
        assert_eq!(clinical_f1(&[[false; ENTITY_COUNT]], &[[false; ENTITY_COUNT]]), (0.0, 0.0, 0.0));
    }

    #[test]
    fn clinical_f1_interval_holds_the_f1_and_narrows_with_more_studies() {
        // Studies cycling through a hit, a miss, a false call and a normal study: F1 2/3 at any multiple of 4.
        let studies = |n: usize| {
            let (mut predicted, mut truth) = (vec![[false; ENTITY_COUNT]; n], vec![[false; ENTITY_COUNT]; n]);
            for i in 0..n {
                (predicted[i][0], truth[i][0]) = [(true, true), (false, true), (true, false), (false, false)][i % 4];
            }
            (predicted, truth)
        };
        let width = |n: usize| {
            let (predicted, truth) = studies(n);
            let f1 = clinical_f1(&predicted, &truth).2;
            let (low, high) = clinical_f1_interval(&predicted, &truth).unwrap();
            assert!(low < f1 && f1 < high, "{low} < {f1} < {high} over {n} studies");
            high - low
        };
        let (few, many) = (width(100), width(2500));
        // The interval shrinks as 1/sqrt(studies): 25 times the studies, a fifth of the width.
        assert!(many < few / 3.0 && many > few / 8.0, "{few} over 100 studies, {many} over 2,500");

        let same = [[true; ENTITY_COUNT]; 10];
        assert_eq!(clinical_f1_interval(&same, &same), Some((1.0, 1.0)), "identical studies leave nothing to vary");
        assert_eq!(clinical_f1_interval(&[], &[]), None);
    }

    #[test]
    fn answers_match_ignores_case_and_punctuation() {
        assert!(answers_match("Yes.", "yes"));
        assert!(answers_match("In the right  lung", "in the right lung"));
        assert!(!answers_match("left", "right"));
        assert!(!answers_match("", "no"));
    }
}
