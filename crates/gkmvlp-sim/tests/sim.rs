//! Tests on the real CT (assets/ct, fetched by `scripts/fetch-assets.sh --with-ct`).

use gkmvlp_sim::findings::{FindingConfig, FindingRequest, Severity, Side, lateral};
use gkmvlp_sim::render::group;
use gkmvlp_sim::{Simulator, Study, StudyConfig};
use gkmvlp_vocab::questions::unknown_question_words;
use gkmvlp_vocab::{Entity, Region, candidates};
use std::path::PathBuf;
use std::sync::OnceLock;

fn ct_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/ct")
}

fn sim() -> &'static Simulator {
    static SIM: OnceLock<Simulator> = OnceLock::new();
    SIM.get_or_init(|| {
        let dir = ct_dir();
        match Simulator::load(&dir) {
            Ok(s) => s,
            Err(e) => panic!("the CT is needed for these tests: run `scripts/fetch-assets.sh --with-ct` from the repository root ({e})"),
        }
    })
}

fn cfg(size: usize) -> StudyConfig {
    StudyConfig { size, render_size: size.min(128), ..StudyConfig::default() }
}

fn forced(size: usize, reqs: Vec<FindingRequest>) -> StudyConfig {
    StudyConfig { findings: FindingConfig { forced: Some(reqs), ..FindingConfig::default() }, ..cfg(size) }
}

fn req(entity: Entity, side: Option<Side>, severity: Option<Severity>) -> FindingRequest {
    FindingRequest { entity, side, severity }
}

fn mean_in(st: &Study, b: [f32; 4]) -> f64 {
    let (w, h) = (st.width as f32, st.height as f32);
    let (x0, y0, x1, y1) = (
        (b[0] * w) as usize,
        (b[1] * h) as usize,
        ((b[2] * w) as usize).min(st.width),
        ((b[3] * h) as usize).min(st.height),
    );
    let mut s = 0f64;
    let mut n = 0f64;
    for y in y0..y1 {
        for x in x0..x1 {
            s += st.pixels[y * st.width + x] as f64 / 65535.0;
            n += 1.0;
        }
    }
    s / n.max(1.0)
}

#[test]
fn missing_ct_is_a_clear_error() {
    let Err(e) = Simulator::load("/nonexistent/ct") else { panic!("loading a missing CT succeeded") };
    let msg = e.to_string();
    assert!(msg.contains("fetch-assets.sh --with-ct"), "{msg}");
}

#[test]
fn boxes_contain_their_projected_masks() {
    let masks = [
        (Region::RightLung, group::R_LUNG),
        (Region::LeftLung, group::L_LUNG),
        (Region::Trachea, group::TRACHEA),
        (Region::CardiacSilhouette, group::HEART),
        (Region::RightClavicle, group::R_CLAVICLE),
        (Region::LeftClavicle, group::L_CLAVICLE),
        (Region::Spine, group::SPINE),
        (Region::Svc, group::SVC),
    ];
    for seed in 0..6u64 {
        let st = sim().study(seed, &cfg(128)).expect("study");
        let p = &st.projection;
        let n = p.size;
        for (r, g) in masks {
            let b = st.anatomy.get(r);
            let mut count = 0;
            for y in 0..n {
                for x in 0..n {
                    if p.labels[y * n + x] & g != 0 {
                        count += 1;
                        let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
                        assert!(
                            fx >= b[0] && fx <= b[2] && fy >= b[1] && fy <= b[3],
                            "seed {seed}: {} pixel ({x},{y}) outside {b:?}",
                            r.name()
                        );
                    }
                }
            }
            assert!(count > 0, "seed {seed}: {} mask empty", r.name());
        }
        for (i, b) in st.boxes.iter().enumerate() {
            assert!(
                b[0] >= 0.0 && b[1] >= 0.0 && b[2] <= 1.0 && b[3] <= 1.0 && b[0] < b[2] && b[1] < b[3],
                "seed {seed}: bad box {} {b:?}",
                Region::ALL[i].name()
            );
        }
        // Zones, apical zones and costophrenic angles lie within their lung's box (± a pixel).
        for (lung, parts) in [
            (
                Region::RightLung,
                [
                    Region::RightUpperLungZone,
                    Region::RightMidLungZone,
                    Region::RightLowerLungZone,
                    Region::RightApicalZone,
                    Region::RightCostophrenicAngle,
                ],
            ),
            (
                Region::LeftLung,
                [
                    Region::LeftUpperLungZone,
                    Region::LeftMidLungZone,
                    Region::LeftLowerLungZone,
                    Region::LeftApicalZone,
                    Region::LeftCostophrenicAngle,
                ],
            ),
        ] {
            let l = st.anatomy.get(lung);
            for r in parts {
                let b = st.anatomy.get(r);
                assert!(
                    b[0] >= l[0] - 1.0 && b[2] <= l[2] + 1.0 && b[1] >= l[1] - 1.0,
                    "seed {seed}: {} {b:?} not within {} {l:?}",
                    r.name(),
                    lung.name()
                );
            }
        }
        // The carina is at the bottom of the trachea; the aortic arch above the heart's base.
        let tr = st.anatomy.get(Region::Trachea);
        let ca = st.anatomy.get(Region::Carina);
        assert!(ca[1] <= tr[3] && ca[3] >= tr[3] - 1.0, "seed {seed}: carina {ca:?} vs trachea {tr:?}");
    }
}

#[test]
fn left_and_right_are_not_swapped() {
    for (seed, ap) in [(1u64, 0.0), (2, 1.0)] {
        let c = StudyConfig { ap_share: ap, ..cfg(128) };
        let st = sim().study(seed, &c).expect("study");
        let cx = |r: Region| 0.5 * (st.boxes[r.index()][0] + st.boxes[r.index()][2]);
        // Patient's left is on the image's right in both PA and AP displays.
        assert!(cx(Region::LeftLung) > cx(Region::RightLung), "{:?}: lungs swapped", st.view);
        assert!(cx(Region::LeftClavicle) > cx(Region::RightClavicle), "{:?}: clavicles swapped", st.view);
        // The heart lies mostly left of the midline: on the image's right of the spine's centre.
        assert!(cx(Region::CardiacSilhouette) > cx(Region::Spine), "{:?}: heart on the wrong side", st.view);
        assert!(cx(Region::Svc) < cx(Region::Spine) + 0.02, "{:?}: SVC should be on the patient's right", st.view);
    }
}

#[test]
fn right_effusion_brightens_right_angle_and_spares_left_lung() {
    let seed = 7;
    let normal = sim().study(seed, &forced(256, vec![])).expect("normal");
    let eff = sim()
        .study(seed, &forced(256, vec![req(Entity::PleuralEffusion, Some(Side::Right), Some(Severity::Moderate))]))
        .expect("effusion");
    assert_eq!(normal.pose.rot_deg, eff.pose.rot_deg, "the finding must not change the pose");
    let cpa = normal.boxes[Region::RightCostophrenicAngle.index()];
    let d_right = mean_in(&eff, cpa) - mean_in(&normal, cpa);
    let left = normal.boxes[Region::LeftLung.index()];
    let d_left = (mean_in(&eff, left) - mean_in(&normal, left)).abs();
    let lcpa = normal.boxes[Region::LeftCostophrenicAngle.index()];
    let d_lcpa = (mean_in(&eff, lcpa) - mean_in(&normal, lcpa)).abs();
    assert!(d_right > 0.05, "right costophrenic angle brightened by only {d_right:.4}");
    assert!(d_left < 0.01, "left lung changed by {d_left:.4}");
    assert!(d_lcpa < 0.01, "left costophrenic angle changed by {d_lcpa:.4}");
    let f = eff.findings.iter().find(|f| f.entity == Entity::PleuralEffusion).expect("effusion located");
    assert_eq!(f.side, Side::Right);
    assert!(f.positions.iter().any(|p| p == "right costophrenic angle"));
    assert!(f.positions.iter().all(|p| p.starts_with("right")));
    assert!(normal.findings.is_empty() && normal.exist.iter().all(|&e| e == 0));
}

#[test]
fn seeds_reproduce_bit_for_bit() {
    let c = cfg(128);
    let a = sim().study(42, &c).expect("a");
    let b = sim().study(42, &c).expect("b");
    assert_eq!(a.pixels, b.pixels);
    assert_eq!(a.boxes, b.boxes);
    assert_eq!(a.exist, b.exist);
    assert_eq!(a.report.findings, b.report.findings);
    assert_eq!(a.report.impression, b.report.impression);
    let c2 = sim().study(43, &c).expect("c");
    assert_ne!(a.pixels, c2.pixels);
}

/// Words that name each entity in generated text (report and questions).
fn synonyms(k: Entity) -> &'static [&'static str] {
    match k {
        Entity::PleuralEffusion => &["pleural effusion"],
        Entity::Consolidation => &["consolidation"],
        Entity::Atelectasis => &["atelectasis"],
        Entity::LungNodule => &["nodule"],
        Entity::LungMass => &["mass"],
        Entity::Pneumothorax => &["pneumothorax"],
        Entity::EnlargedCardiacSilhouette => &["cardiomegaly", "cardiac silhouette", "heart size"],
        Entity::PulmonaryEdema => &["edema"],
        Entity::EnlargedHilum => &["hilum", "hilar"],
        Entity::MediastinalWidening => &["mediastinum", "mediastinal"],
        Entity::ElevatedHemidiaphragm => &["elevat"],
        Entity::Hyperaeration => &["hyperinflat", "hyperaeration"],
        Entity::EndotrachealTube => &["endotracheal tube"],
        Entity::CentralVenousCatheter => &["central venous catheter"],
    }
}

/// Check one study's text against its triplets, both through the claims each sentence carries and
/// through the words of the sentence.
fn check_text(st: &Study) {
    let cands = candidates();
    let present_at = |e: Entity, pos: &str| {
        cands.iter().zip(&st.exist).any(|(c, x)| *x == 1 && c.entity == e && c.position.name() == pos)
    };
    let present_any = |e: Entity| cands.iter().zip(&st.exist).any(|(c, x)| *x == 1 && c.entity == e);
    let side_ok = |e: Entity, side: &str| {
        cands.iter().zip(&st.exist).any(|(c, x)| *x == 1 && c.entity == e && c.position.name().starts_with(side))
    };
    for s in &st.report.sentences {
        for c in &s.claims {
            if c.present {
                assert!(present_any(c.entity), "seed {}: '{}' claims {} present", st.seed, s.text, c.entity.name());
                for p in &c.positions {
                    assert!(
                        present_at(c.entity, p),
                        "seed {}: '{}' claims {} at {p}",
                        st.seed,
                        s.text,
                        c.entity.name()
                    );
                }
            } else if c.positions.is_empty() {
                assert!(
                    !present_any(c.entity),
                    "seed {}: '{}' denies {} but it is present",
                    st.seed,
                    s.text,
                    c.entity.name()
                );
            }
        }
        // The words: a sentence naming an entity with a negation cue must be about an absent one; one
        // without must be about a present one, on the side it names.
        let t = s.text.to_lowercase();
        let negative = t.starts_with("no ")
            || t.contains(" no ")
            || t.contains("without")
            || t.contains("normal")
            || t.contains("clear")
            || t.contains("sharp");
        for e in Entity::ALL {
            if !synonyms(e).iter().any(|w| t.contains(w)) {
                continue;
            }
            if negative {
                // "No cardiomegaly", "The lungs are clear": absent (mass/nodule words inside negations too).
                assert!(
                    !present_any(e) || s.claims.iter().any(|c| c.entity == e && c.present),
                    "seed {}: '{}' negates {} which is present",
                    st.seed,
                    s.text,
                    e.name()
                );
            } else if s.claims.iter().any(|c| c.entity == e) {
                assert!(present_any(e), "seed {}: '{}' affirms absent {}", st.seed, s.text, e.name());
                for side in ["right", "left"] {
                    if t.contains(&format!("{side} "))
                        && lateral(e)
                        && !t.contains("right internal jugular")
                        && !t.contains("right-sided")
                    {
                        assert!(side_ok(e, side), "seed {}: '{}' puts {} on the {side}", st.seed, s.text, e.name());
                    }
                }
            }
        }
    }
    // Q&A, every question in words the runtime knows as the model's own.
    for q in &st.qa {
        let unknown = unknown_question_words(&q.question);
        assert!(
            unknown.is_empty(),
            "seed {}: '{}' has words the runtime does not know: {unknown:?}",
            st.seed,
            q.question
        );
        match q.kind.as_str() {
            "presence" => {
                let e = q.entity().expect("entity");
                assert_eq!(q.answer == "yes", present_any(e), "seed {}: {} → {}", st.seed, q.question, q.answer);
            }
            "region" => {
                let e = q.entity().expect("entity");
                let pos = cands
                    .iter()
                    .find(|c| {
                        c.entity == e
                            && q.question.contains(&format!(" in the {}?", c.position.name()))
                            && q.question.contains(e.name())
                    })
                    .map(|c| c.position.name())
                    .expect("position in question");
                assert_eq!(q.answer == "yes", present_at(e, pos), "seed {}: {} → {}", st.seed, q.question, q.answer);
            }
            "side" => {
                let e = q.entity().expect("entity");
                let want = match (side_ok(e, "right"), side_ok(e, "left")) {
                    (true, true) => "both sides",
                    (true, false) => "right",
                    (false, true) => "left",
                    _ => "midline",
                };
                assert_eq!(q.answer, want, "seed {}: {}", st.seed, q.question);
            }
            "zone" => {
                let e = q.entity().expect("entity");
                for r in Region::ALL {
                    if q.answer.contains(r.name())
                        && !(r.name() == "right lung" && q.answer.contains("right lung zone"))
                    {
                        assert!(present_at(e, r.name()), "seed {}: {} → {}", st.seed, q.question, q.answer);
                    }
                }
            }
            "count" | "size" | "severity" => {
                let e = q.entity().expect("entity");
                let f = st.findings.iter().find(|f| f.entity == e).expect("finding for count/size");
                if q.kind == "count" {
                    let n =
                        ["no", "one", "two", "three", "four"].iter().position(|w| *w == q.answer).expect("count word");
                    assert_eq!(n as u32, f.count);
                } else if let (Some(sz), true) = (f.size_mm, q.answer.starts_with("about")) {
                    assert_eq!(q.answer, format!("about {sz:.0} mm"));
                }
            }
            "open" => {
                let names: Vec<&str> = st.findings.iter().map(|f| f.entity.name()).collect();
                if names.is_empty() {
                    assert_eq!(q.answer, "none");
                } else {
                    for n in names {
                        assert!(q.answer.contains(n));
                    }
                }
            }
            other => panic!("unknown QA kind {other}"),
        }
    }
}

#[test]
fn every_finding_is_inserted_located_and_reported() {
    for (i, k) in Entity::ALL.iter().enumerate() {
        let st =
            sim().study(100 + i as u64, &forced(128, vec![req(*k, None, Some(Severity::Moderate))])).expect("study");
        let f = st.findings.iter().find(|f| f.entity == *k).unwrap_or_else(|| panic!("{} not located", k.name()));
        let allowed = f.entity.positions();
        for p in f.regions() {
            assert!(allowed.contains(&p), "{} at disallowed {}", k.name(), p.name());
        }
        let present: usize = st.exist.iter().map(|&e| e as usize).sum();
        assert!(present >= 1 && present == st.findings.iter().map(|f| f.positions.len()).sum::<usize>());
        assert!(st.report.findings.len() + st.report.impression.len() > 10);
        check_text(&st);
    }
}

#[test]
fn reports_and_answers_agree_with_triplets() {
    let c = StudyConfig { hedge_share: 0.3, ..cfg(96) };
    let mut normals = 0;
    let mut hedged = 0;
    for seed in 200..260u64 {
        let st = sim().study(seed, &c).expect("study");
        assert_eq!(st.exist.len(), candidates().len());
        if st.findings.is_empty() {
            normals += 1;
        }
        hedged += st.report.sentences.iter().filter(|s| s.hedged).count();
        check_text(&st);
    }
    assert!(normals > 5, "normal studies: {normals}");
    // The hedged sentences were checked like the others; they must have been there to check.
    assert!(hedged > 0, "no hedged sentence at a hedge share of 0.3");
}

#[test]
fn nodule_zone_matches_where_it_projects() {
    for seed in 300..306u64 {
        let st = sim()
            .study(seed, &forced(128, vec![req(Entity::LungNodule, None, Some(Severity::Severe))]))
            .expect("study");
        let Some(f) = st.findings.iter().find(|f| f.entity == Entity::LungNodule) else { continue };
        // The nodule's pixels (finding bit 0) mostly lie in the lung it is reported in.
        let mut lungs = Vec::new();
        if f.positions.iter().any(|p| p.starts_with("right")) {
            lungs.push(st.anatomy.get(Region::RightLung));
        }
        if f.positions.iter().any(|p| p.starts_with("left")) {
            lungs.push(st.anatomy.get(Region::LeftLung));
        }
        let p = &st.projection;
        let n = p.size;
        let (mut inside, mut total) = (0, 0);
        for y in 0..n {
            for x in 0..n {
                if p.findings[y * n + x] & 1 != 0 {
                    total += 1;
                    if lungs
                        .iter()
                        .any(|b| (x as f32) >= b[0] && (x as f32) < b[2] && (y as f32) >= b[1] && (y as f32) < b[3])
                    {
                        inside += 1;
                    }
                }
            }
        }
        assert!(
            total > 0 && inside * 10 >= total * 8,
            "seed {seed}: {inside}/{total} nodule pixels in the lungs it is reported in ({:?})",
            f.positions
        );
    }
}

#[test]
fn ap_view_magnifies_the_heart() {
    // Same seeds, same pose draws; only the view (and the draws that depend on it) differ.
    let (mut pa, mut ap) = (0f32, 0f32);
    for seed in 400..404u64 {
        let mut c = forced(128, vec![]);
        c.variation = 0.0;
        c.ap_share = 0.0;
        pa += sim().study(seed, &c).expect("pa").anatomy.ctr;
        c.ap_share = 1.0;
        let st = sim().study(seed, &c).expect("ap");
        assert_eq!(st.view, gkmvlp_sim::View::Ap);
        ap += st.anatomy.ctr;
    }
    assert!(ap > pa * 1.02, "cardiothoracic ratio AP {:.3} vs PA {:.3}", ap / 4.0, pa / 4.0);
}

/// Pixel noise of a study: the RMS of each pixel less the mean of its 3x3 neighbourhood, over the right lung.
fn noise_sd(st: &Study) -> f64 {
    let n = st.width;
    let lung = st.anatomy.normalized()[Region::RightLung.index()];
    let [x0, y0, x1, y1] = lung.map(|v| ((v * n as f32) as usize).clamp(1, n - 2));
    let px = |x: usize, y: usize| st.pixels[y * n + x] as f64 / 65535.0;
    let residuals: Vec<f64> = (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| (x, y)))
        .map(|(x, y)| px(x, y) - (0..9).map(|k| px(x + k % 3 - 1, y + k / 3 - 1)).sum::<f64>() / 9.0)
        .collect();
    (residuals.iter().map(|r| r * r).sum::<f64>() / residuals.len().max(1) as f64).sqrt()
}

#[test]
fn a_nodule_stands_out_of_the_pixel_noise() {
    // The same seed with and without the nodule: pose, exposure and noise are drawn from their own streams,
    // so the difference is the nodule alone.
    let at_256 = |reqs| StudyConfig {
        size: 256,
        render_size: 224,
        findings: FindingConfig { forced: Some(reqs), ..FindingConfig::default() },
        ..StudyConfig::default()
    };
    for seed in 400..403u64 {
        let with =
            sim().study(seed, &at_256(vec![req(Entity::LungNodule, None, Some(Severity::Moderate))])).expect("study");
        let without = sim().study(seed, &at_256(vec![])).expect("study");
        let peak = with
            .pixels
            .iter()
            .zip(&without.pixels)
            .map(|(a, b)| (*a as f64 - *b as f64).abs() / 65535.0)
            .fold(0.0, f64::max);
        let noise = noise_sd(&without);
        let size = with.findings[0].size_mm.expect("a nodule has a size");
        assert!(
            peak > 3.0 * noise,
            "seed {seed}: a {size} mm nodule changes a pixel by {peak:.3} at most, against noise {noise:.4}"
        );
    }
}
