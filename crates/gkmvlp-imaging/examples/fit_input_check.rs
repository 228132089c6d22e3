//! Fits the input check (`src/input_check.rs`) and measures it without testing on what it was fitted
//! on; writes `src/input_check_model.rs` with the final fit and the measurements.
//!
//! ```sh
//! scripts/fetch-assets.sh --with-ct              # the negatives in assets/negatives (laterals from the CT)
//! target/release/gkmvlp simulate --n 40 --seed 3 --size 256 --out /tmp/sim
//! GKMVLP_SIMULATED=/tmp/sim/images/train cargo run --release -p gkmvlp-imaging --example fit_input_check
//! ```
//!
//! Positives: the real radiographs of `../shared/realcxr` with four framings each (zoomed out with a
//! black or white border, shifted, zoomed in), the simulated ones and RG1; negatives play no part in
//! the fit. Measured: the positives' acceptance over five folds split by patient (a fold's patients are
//! in no fit that judges them), with variants of each held-out film that no fit sees (tilted 5°,
//! scaled to 1024 px) and how many of its misoriented or inverted versions are refused; and every
//! negative source's refusal, by file and by distinct image.

#[path = "../tests/corpus/mod.rs"]
mod corpus;

use std::collections::BTreeMap;
use std::fmt::Write;

use corpus::Sample;
use gkmvlp_imaging::input_check::{CELLS, COARSE, Features, InputCheck, LAYOUT, Model, coarse_grid};

const FOLDS: u64 = 5;
/// Principal components kept: the patterns chest films are made of.
const COMPONENTS: usize = 12;
/// The refusal limit over the largest squared distance of a training positive.
const MARGIN: f32 = 1.5;
/// Share of the training positives scored under the borderline (cautioned).
const BORDERLINE_SHARE: f32 = 0.01;

struct Fit {
    components: Vec<[f32; CELLS]>,
    mean: [f32; LAYOUT],
    precision: [[f32; LAYOUT]; LAYOUT],
    limit: f32,
    borderline: f32,
}

impl Fit {
    fn model(&self) -> Model<'_> {
        Model {
            components: &self.components,
            mean: self.mean,
            precision: self.precision,
            limit: self.limit,
            borderline: self.borderline,
        }
    }
}

fn main() {
    let dir = corpus::realcxr_dir().expect("../shared/realcxr (or $GKMVLP_REALCXR) is needed to fit the check");
    let real = corpus::realcxr(&dir);
    let others = corpus::other_positives();
    let (mut negatives, undecodable) = corpus::fetched_negatives().expect("run scripts/fetch-assets.sh first");
    negatives.extend(corpus::generated());
    eprintln!(
        "{} real, {} other positives, {} negatives ({} negative files do not decode)",
        real.len(),
        others.len(),
        negatives.len(),
        undecodable.len()
    );
    let positives: Vec<&Sample> = real.iter().chain(&others).collect();
    let framed: Vec<Vec<gkmvlp_imaging::Radiograph>> = real.iter().map(|s| corpus::framings(&s.image)).collect();

    // Positives: patient folds; every negative in every fit.
    let mut report = String::new();
    let mut held_scores = Vec::new();
    let (mut accepted, mut framed_accepted, mut framed_total) = (BTreeMap::<String, [usize; 2]>::new(), 0, 0);
    // Accepted and judged of the variants that must be accepted; refused, told inverted and judged of
    // the rest.
    let (mut unseen, mut misoriented) = (BTreeMap::<&str, [usize; 2]>::new(), BTreeMap::<&str, [usize; 3]>::new());
    for fold in 0..FOLDS {
        let train: Vec<usize> = (0..positives.len()).filter(|&i| positives[i].group % FOLDS != fold).collect();
        let fit = fit(&positives, &framed, &train);
        let model = fit.model();
        for (i, s) in positives.iter().enumerate().filter(|(i, _)| !train.contains(i)) {
            let check = model.check(&s.image);
            let entry = accepted.entry(s.source.clone()).or_default();
            entry[0] += usize::from(check.chest_radiograph);
            entry[1] += 1;
            held_scores.push((check.score, s.name.clone()));
            if let Some(frames) = framed.get(i) {
                framed_total += frames.len();
                framed_accepted += frames.iter().filter(|f| model.check(f).chest_radiograph).count();
                for (variant, image) in corpus::unseen_variants(&s.image) {
                    let check = model.check(&image);
                    let entry = unseen.entry(variant).or_default();
                    entry[0] += usize::from(check.chest_radiograph);
                    entry[1] += 1;
                    held_scores.push((check.score, format!("{} {variant}", s.name)));
                }
                let inverted = std::iter::once(("inverted", corpus::inverted(&s.image)));
                for (variant, image) in corpus::turned(&s.image).into_iter().chain(inverted) {
                    let check = model.check(&image);
                    let entry = misoriented.entry(variant).or_default();
                    entry[0] += usize::from(!check.chest_radiograph);
                    entry[1] += usize::from(says_inverted(&check));
                    entry[2] += 1;
                }
            }
        }
    }
    writeln!(report, "Positives accepted, {FOLDS} folds by patient (each judged by a fit without its patient):").ok();
    for (source, [a, n]) in &accepted {
        writeln!(report, "  {source}: {a} / {n}").ok();
    }
    writeln!(report, "  realcxr in other framings: {framed_accepted} / {framed_total}").ok();
    for (variant, [a, n]) in &unseen {
        writeln!(report, "  realcxr {variant} (not in any fit): {a} / {n}").ok();
    }
    held_scores.sort_by(|a, b| a.0.total_cmp(&b.0));
    let lowest: Vec<String> = held_scores.iter().take(3).map(|(s, n)| format!("{n} {s:.3}")).collect();
    writeln!(report, "  lowest held-out scores: {}", lowest.join(", ")).ok();

    writeln!(report, "Real films refused when misoriented or inverted (held-out fits):").ok();
    for (variant, [r, told, n]) in &misoriented {
        writeln!(report, "  {variant}: {r} / {n} ({told} told it looks inverted)").ok();
    }

    // Negatives: the fit uses none, so each source is left out of the one fit that judges them all.
    let all: Vec<usize> = (0..positives.len()).collect();
    let fit = fit(&positives, &framed, &all);
    writeln!(report, "Negatives refused (no negative is in any fit):").ok();
    let mut sources: Vec<&str> = negatives.iter().map(|n| n.source.as_str()).collect();
    sources.dedup();
    let checks: Vec<bool> = negatives.iter().map(|n| fit.model().check(&n.image).chest_radiograph).collect();
    for source in sources {
        let held: Vec<(&Sample, bool)> =
            negatives.iter().zip(&checks).filter(|(n, _)| n.source == source).map(|(n, &c)| (n, c)).collect();
        let kept: Vec<String> = held
            .iter()
            .filter(|(_, accepted)| *accepted)
            .map(|(n, _)| format!("{} {:.2}", n.name, fit.model().check(&n.image).score))
            .collect();
        writeln!(report, "  {source}: {} / {} (accepted: {})", held.len() - kept.len(), held.len(), kept.join(", "))
            .ok();
    }
    let told_inverted: Vec<&str> =
        negatives.iter().filter(|n| says_inverted(&fit.model().check(&n.image))).map(|n| n.name.as_str()).collect();
    writeln!(report, "  told they look like an inverted chest film: {}", told_inverted.join(", ")).ok();
    let refused = checks.iter().filter(|&&accepted| !accepted).count();
    let distinct = distinct_images(&negatives);
    let distinct_refused = distinct.iter().filter(|copies| copies.iter().all(|&i| !checks[i])).count();
    writeln!(
        report,
        "  all: {refused} / {} files; {distinct_refused} / {} distinct images (an image in several encodings \
         or sizes counted once, as refused only if every copy is); files the decoder refuses: {}",
        negatives.len(),
        distinct.len(),
        undecodable.len()
    )
    .ok();

    eprint!("{report}");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/input_check_model.rs");
    std::fs::write(path, source(&fit, &report)).expect("write src/input_check_model.rs");
    eprintln!("wrote {path}");
}

fn says_inverted(check: &InputCheck) -> bool {
    !check.chest_radiograph && check.reason.contains("inverted")
}

/// The negatives grouped by image: the same picture in several encodings (lossy ones included) or
/// sizes has nearly the same standardised coarse grid. Indices into `negatives`.
fn distinct_images(negatives: &[Sample]) -> Vec<Vec<usize>> {
    /// Largest cell difference, in standard deviations, between copies of one image.
    const SAME: f32 = 0.1;
    let grids: Vec<Vec<f32>> = negatives.iter().map(|n| coarse_grid(&n.image)).collect();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, grid) in grids.iter().enumerate() {
        let same = |g: &Vec<usize>| grids[g[0]].iter().zip(grid).all(|(a, b)| (a - b).abs() < SAME);
        match groups.iter_mut().find(|g| same(g)) {
            Some(group) => group.push(i),
            None => groups.push(vec![i]),
        }
    }
    groups
}

/// Components from the training positives (real ones, their framings, simulated ones); their layout
/// features' mean and inverse covariance; the limit `MARGIN` times the largest training distance.
/// Negatives play no part: what is fitted is where chest films lie, not a boundary against the
/// negatives seen.
fn fit(positives: &[&Sample], framed: &[Vec<gkmvlp_imaging::Radiograph>], train: &[usize]) -> Fit {
    let images: Vec<&gkmvlp_imaging::Radiograph> = train
        .iter()
        .flat_map(|&i| std::iter::once(&positives[i].image).chain(framed.get(i).into_iter().flatten()))
        .collect();
    let grids: Vec<Vec<f32>> = images.iter().map(|image| coarse_grid(image)).collect();
    let components = principal_components(&grids);
    let layouts: Vec<[f32; LAYOUT]> = images
        .iter()
        .map(|image| Features::of(image, &components))
        .filter(|f| !Model::refused_by_rule(f))
        .map(|f| f.layout())
        .collect();
    let n = layouts.len() as f64;
    let mean: [f64; LAYOUT] = std::array::from_fn(|k| layouts.iter().map(|l| f64::from(l[k])).sum::<f64>() / n);
    let covariance: [[f64; LAYOUT]; LAYOUT] = std::array::from_fn(|a| {
        std::array::from_fn(|b| {
            layouts.iter().map(|l| (f64::from(l[a]) - mean[a]) * (f64::from(l[b]) - mean[b])).sum::<f64>() / n
        })
    });
    let inverse = invert(covariance);
    let mut fit = Fit {
        components,
        mean: mean.map(|m| m as f32),
        precision: inverse.map(|row| row.map(|v| v as f32)),
        limit: 1.0,
        borderline: 0.5,
    };
    let mut distances: Vec<f32> = images
        .iter()
        .map(|image| Features::of(image, &fit.components))
        .filter(|f| !Model::refused_by_rule(f))
        .map(|f| fit.model().distance(&f))
        .collect();
    distances.sort_by(f32::total_cmp);
    fit.limit = MARGIN * distances[distances.len() - 1];
    let caution = distances[((1.0 - BORDERLINE_SHARE) * distances.len() as f32) as usize];
    fit.borderline = fit.limit / (fit.limit + caution);
    fit
}

/// Gauss–Jordan inverse of a covariance matrix.
fn invert(mut m: [[f64; LAYOUT]; LAYOUT]) -> [[f64; LAYOUT]; LAYOUT] {
    let mut inv: [[f64; LAYOUT]; LAYOUT] =
        std::array::from_fn(|a| std::array::from_fn(|b| f64::from(u8::from(a == b))));
    for col in 0..LAYOUT {
        let pivot = (col..LAYOUT).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs())).unwrap_or(col);
        m.swap(col, pivot);
        inv.swap(col, pivot);
        let p = m[col][col];
        assert!(p.abs() > 1e-12, "the positives' layout features are degenerate");
        for k in 0..LAYOUT {
            m[col][k] /= p;
            inv[col][k] /= p;
        }
        for row in 0..LAYOUT {
            if row != col {
                let f = m[row][col];
                for k in 0..LAYOUT {
                    m[row][k] -= f * m[col][k];
                    inv[row][k] -= f * inv[col][k];
                }
            }
        }
    }
    inv
}

/// The first `COMPONENTS` eigenvectors of the grids' second-moment matrix (uncentred, so the first is
/// the typical film), by power iteration with deflation; rounded to 4 decimals as committed.
fn principal_components(grids: &[Vec<f32>]) -> Vec<[f32; CELLS]> {
    let mut moment = vec![0f64; CELLS * CELLS];
    for g in grids {
        for (a, &x) in g.iter().enumerate() {
            for (b, &y) in g.iter().enumerate() {
                moment[a * CELLS + b] += f64::from(x * y) / grids.len() as f64;
            }
        }
    }
    let mut components = Vec::new();
    for k in 0..COMPONENTS {
        let mut v: Vec<f64> = (0..CELLS).map(|i| 1.0 + ((i * 7919 + k * 104_729) % 97) as f64 / 97.0).collect();
        let mut eigenvalue = 0.0;
        for _ in 0..500 {
            let mut next: Vec<f64> =
                (0..CELLS).map(|a| (0..CELLS).map(|b| moment[a * CELLS + b] * v[b]).sum()).collect();
            eigenvalue = next.iter().map(|x| x * x).sum::<f64>().sqrt();
            next.iter_mut().for_each(|x| *x /= eigenvalue);
            v = next;
        }
        for a in 0..CELLS {
            for b in 0..CELLS {
                moment[a * CELLS + b] -= eigenvalue * v[a] * v[b];
            }
        }
        // The first component's sign: positively correlated with the films (the others' is arbitrary).
        let along: f64 = grids.iter().map(|g| g.iter().zip(&v).map(|(x, c)| f64::from(*x) * c).sum::<f64>()).sum();
        let sign = if along < 0.0 { -1.0 } else { 1.0 };
        components.push(std::array::from_fn(|i| ((sign * v[i] * 1e4).round() / 1e4) as f32));
    }
    components
}

fn source(fit: &Fit, report: &str) -> String {
    let mut out = String::from(
        "//! The input check's fitted model, written by `examples/fit_input_check.rs` (do not edit; run it again).\n//!\n",
    );
    for line in report.lines() {
        writeln!(out, "//! {line}").ok();
    }
    out.push_str("\nuse crate::input_check::Model;\n\n");
    out.push_str(
        "/// Components: the first principal components of standardised chest radiographs on the 16×16 grid\n",
    );
    out.push_str("/// (uncentred: the first is the typical film). Layout: as `Features::layout` orders it.\n");
    out.push_str("#[rustfmt::skip]\npub const MODEL: Model<'static> = Model {\n    components: &[\n");
    for c in &fit.components {
        out.push_str("        [\n");
        for row in c.chunks(COARSE) {
            let cells: Vec<String> = row.iter().map(|v| format!("{v:.4}")).collect();
            writeln!(out, "            {},", cells.join(", ")).ok();
        }
        out.push_str("        ],\n");
    }
    let mean: Vec<String> = fit.mean.iter().map(|v| format!("{v:?}")).collect();
    writeln!(out, "    ],\n    mean: [{}],\n    precision: [", mean.join(", ")).ok();
    for row in &fit.precision {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:?}")).collect();
        writeln!(out, "        [{}],", cells.join(", ")).ok();
    }
    writeln!(out, "    ],\n    limit: {:?},\n    borderline: {:?},\n}};", fit.limit, fit.borderline).ok();
    out
}
