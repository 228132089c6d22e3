//! Whether a decoded image looks like a frontal chest radiograph, before a model reads it.
//!
//! A few interpretable features of the image shrunk to a fixed grid (so the check reads a thumbnail
//! and a 3000-pixel film alike): how colourful the source was, its contrast, how smooth it is from
//! one cell to the next, its aspect ratio, its left–right symmetry, its correlation with the typical
//! frontal chest film, how much of it the few patterns that real chest films are made of explain
//! (the first principal components of real radiographs on a 16×16 grid), and its anatomy: a bright
//! midline between two dark lung fields, a bright band below them, the two lung regions alike, and
//! no air (the darkest level) inside the image, as there is around a CT or MR slice or a drawn shape.
//! Colour, blank, noise and extreme shapes are refused outright, each with its own reason; the rest
//! is scored by its Mahalanobis distance from real chest films in the layout features, and a refused
//! image that would pass with its grey levels inverted is told so. The template and the coefficients
//! are in `input_check_model.rs`, written by `examples/fit_input_check.rs` (how they were fitted and
//! measured is told there and in the crate README).

use std::ops::Range;

use serde::Serialize;

use crate::Radiograph;

/// Side of the grid the smoothness and contrast are read on.
pub const FINE: u32 = 64;
/// Side of the grid the layout (components, symmetry) is read on: `FINE` / 4.
pub const COARSE: usize = 16;
/// Cells of the coarse grid.
pub const CELLS: usize = COARSE * COARSE;

/// Above this chroma the source was a colour picture (a radiograph saved as RGB has about 0).
const MAX_CHROMA: f32 = 0.04;
/// Rows and columns of the fine grid that make its inner part, for `air_share`.
const INNER: Range<usize> = FINE as usize / 8..FINE as usize * 7 / 8;
/// Grey levels this close to the darkest, as a share of the range, count as air.
const AIR_LEVEL: f32 = 0.03;
/// Below this standard deviation (of grey values in `[0, 1]` on the fine grid) the image is blank.
const MIN_CONTRAST: f32 = 0.02;
/// Below this neighbour correlation on the fine grid the image is noise: a radiograph's neighbouring
/// cells are nearly equal (0.9 and more).
const MIN_SMOOTHNESS: f32 = 0.4;
/// Longest side over shortest: chest films are at most about 1.3; 3 leaves a wide margin.
const MAX_ELONGATION: f32 = 3.0;

/// The verdict on one image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputCheck {
    /// Whether the image may be analysed as a frontal chest radiograph.
    pub chest_radiograph: bool,
    /// How close the image's layout is to real chest films, in `[0, 1]`: under one half is refused;
    /// 0 for an image refused by a rule before the layout is weighed.
    pub score: f32,
    /// Accepted, but with a score close to the threshold: far from the radiographs the model was
    /// trained on, so its outputs deserve less trust.
    pub borderline: bool,
    /// Why, in words a user understands.
    pub reason: String,
    pub features: Features,
}

/// What the check reads off the image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Features {
    /// [`Radiograph::chroma`].
    pub chroma: f32,
    /// Standard deviation of the grey values on the fine grid.
    pub contrast: f32,
    /// Correlation of neighbouring cells on the fine grid (mean of across and down).
    pub smoothness: f32,
    /// `ln(width / height)`.
    pub log_aspect: f32,
    /// Correlation with the typical frontal chest radiograph (the first component) on the coarse grid.
    pub template: f32,
    /// Share of the standardised coarse image's energy that the components explain: near 1 for a
    /// chest film, lower for anything else.
    pub explained: f32,
    /// Correlation with its own mirror image on the coarse grid.
    pub symmetry: f32,
    /// How much brighter the midline (mediastinum and spine) is than the lung fields either side, in
    /// standard deviations of the coarse grid: high on a frontal chest film, low or negative for a
    /// slice with a bright body on a dark background, or a disc.
    pub midline_over_lungs: f32,
    /// How much brighter the band below the lungs (diaphragm, abdomen) is than the lung fields.
    pub below_over_lungs: f32,
    /// Correlation of the left lung region with the mirrored right one.
    pub lung_symmetry: f32,
    /// Share of the image's inner part (an eighth of each side left out, where a film's collimation
    /// border lies) within 3 % of the darkest level: the air around a CT or MR slice or a drawn shape;
    /// a chest film's lungs are dark but not as dark as the air outside the body.
    pub air_share: f32,
}

impl Features {
    /// The features, with `components` (orthonormal, `CELLS` values each, row-major) as the patterns
    /// of chest films, the first being the typical film.
    pub fn of(image: &Radiograph, components: &[[f32; CELLS]]) -> Features {
        let fine = image.resize_square(FINE).pixels;
        let side = FINE as usize;
        let contrast = mean_std(&fine).1;
        let across = correlation(
            fine.chunks_exact(side).flat_map(|row| &row[..side - 1]).copied(),
            fine.chunks_exact(side).flat_map(|row| &row[1..]).copied(),
        );
        let down = correlation(fine[..fine.len() - side].iter().copied(), fine[side..].iter().copied());
        let coarse = standardised_coarse(&fine);
        let (darkest, brightest) = fine.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let air_level = darkest + AIR_LEVEL * (brightest - darkest);
        let inner: Vec<f32> =
            (INNER.clone()).flat_map(|row| fine[row * side..][INNER.clone()].iter().copied()).collect();
        let mirrored = coarse.chunks_exact(COARSE).flat_map(|row| row.iter().rev()).copied();
        let energy: f32 = coarse.iter().map(|v| v * v).sum();
        let projections: Vec<f32> =
            components.iter().map(|c| c.iter().zip(&coarse).map(|(a, b)| a * b).sum()).collect();
        let share = |p: f32| if energy > 0.0 { p / energy } else { 0.0 };
        let lungs = region_mean(&coarse, LUNG_ROWS, &[LEFT_LUNG_COLUMNS, RIGHT_LUNG_COLUMNS]);
        let lung_side = |mirror: bool| {
            let coarse = &coarse;
            LUNG_SIDE_ROWS.flat_map(move |row| {
                LUNG_SIDE_COLUMNS.map(move |col| coarse[row * COARSE + if mirror { COARSE - 1 - col } else { col }])
            })
        };
        Features {
            chroma: image.chroma,
            contrast,
            smoothness: (across + down) / 2.0,
            log_aspect: (image.width as f32 / image.height as f32).ln(),
            // Cosine with the first component (the image is standardised: a correlation).
            template: projections.first().map_or(0.0, |p| share(p * energy.sqrt())),
            explained: share(projections.iter().map(|p| p * p).sum()),
            symmetry: correlation(coarse.iter().copied(), mirrored),
            midline_over_lungs: region_mean(&coarse, LUNG_ROWS, &[MIDLINE_COLUMNS]) - lungs,
            below_over_lungs: region_mean(&coarse, BELOW_ROWS, &[BELOW_COLUMNS]) - lungs,
            lung_symmetry: correlation(lung_side(false), lung_side(true)),
            air_share: inner.iter().filter(|&&v| v <= air_level).count() as f32 / inner.len().max(1) as f32,
        }
    }

    /// What the distance from real chest films is measured on, in the order of [`Model::mean`]:
    /// smoothness as `ln(1 - smoothness)`, which spreads the range where films and smooth drawings differ.
    pub fn layout(&self) -> [f32; LAYOUT] {
        [
            self.explained,
            self.template,
            self.symmetry,
            (1.0 - self.smoothness).max(1e-6).ln(),
            self.midline_over_lungs,
            self.below_over_lungs,
            self.lung_symmetry,
            self.air_share,
        ]
    }
}

/// Number of layout features.
pub const LAYOUT: usize = 8;

// Where a frontal chest film's anatomy lies on the 16×16 coarse grid of a tightly framed film (rows
// from the top, columns from the left); wide enough to hold on films framed a little otherwise.
const LUNG_ROWS: Range<usize> = 4..11;
const LEFT_LUNG_COLUMNS: Range<usize> = 2..6;
const RIGHT_LUNG_COLUMNS: Range<usize> = 10..14;
const MIDLINE_COLUMNS: Range<usize> = 7..9;
const BELOW_ROWS: Range<usize> = 12..15;
const BELOW_COLUMNS: Range<usize> = 4..12;
/// One side of the chest, mirrored onto the other for `lung_symmetry`.
const LUNG_SIDE_ROWS: Range<usize> = 3..12;
const LUNG_SIDE_COLUMNS: Range<usize> = 1..7;

/// A fitted check: the patterns of chest films, and where real films lie in [`Features::layout`]
/// (their mean and inverse covariance, for a Mahalanobis distance).
#[derive(Debug, Clone, Copy)]
pub struct Model<'a> {
    /// Principal components of standardised chest radiographs on the coarse grid, orthonormal.
    pub components: &'a [[f32; CELLS]],
    pub mean: [f32; LAYOUT],
    pub precision: [[f32; LAYOUT]; LAYOUT],
    /// Squared distance at which the score is one half: the refusal threshold.
    pub limit: f32,
    /// Scores below this (and at or above one half) are accepted with a caution.
    pub borderline: f32,
}

/// The committed model (`input_check_model.rs`).
pub const SHIPPED: Model<'static> = crate::input_check_model::MODEL;

impl Model<'_> {
    /// Squared Mahalanobis distance of the features from the real chest films.
    pub fn distance(&self, features: &Features) -> f32 {
        let d: Vec<f32> = features.layout().iter().zip(self.mean).map(|(x, m)| x - m).collect();
        (0..LAYOUT).map(|a| (0..LAYOUT).map(|b| d[a] * self.precision[a][b] * d[b]).sum::<f32>()).sum()
    }

    /// `limit / (limit + distance)`: 1 at the films' mean, one half at the refusal threshold.
    pub fn score(&self, features: &Features) -> f32 {
        self.limit / (self.limit + self.distance(features).max(0.0))
    }

    /// Decides whether `image` looks like a frontal chest radiograph (see the module's notes).
    pub fn check(&self, image: &Radiograph) -> InputCheck {
        let features = Features::of(image, self.components);
        let refuse =
            |reason: String| InputCheck { chest_radiograph: false, score: 0.0, borderline: false, reason, features };
        let elongation = features.log_aspect.abs().exp();
        if features.chroma > MAX_CHROMA {
            return refuse("it is a colour picture; radiographs are grey".into());
        }
        if features.contrast < MIN_CONTRAST {
            return refuse("it is blank: nearly one grey level throughout".into());
        }
        if features.smoothness < MIN_SMOOTHNESS {
            return refuse("it looks like noise: no structure larger than a few pixels".into());
        }
        if elongation > MAX_ELONGATION {
            return refuse(format!("it is {elongation:.1} times longer than wide; chest films are nearly square"));
        }
        let score = self.score(&features);
        if score < 0.5 {
            let reason = if self.looks_inverted(image) { INVERTED.into() } else { layout_reason(&features) };
            return InputCheck { score, ..refuse(reason) };
        }
        let borderline = score < self.borderline;
        let reason = if borderline {
            "it is far from the radiographs the model was trained on: read its outputs with extra caution"
        } else {
            "it looks like a frontal chest radiograph"
        };
        InputCheck { chest_radiograph: true, score, borderline, reason: reason.into(), features }
    }

    /// Whether the image with its grey levels inverted would be accepted: a film saved with the
    /// wrong polarity (a MONOCHROME1 image written out without its inversion), which the model would
    /// misread as it takes bright for dense.
    fn looks_inverted(&self, image: &Radiograph) -> bool {
        let inverted = Radiograph::grey(image.width, image.height, image.pixels.iter().map(|v| 1.0 - v).collect());
        let features = Features::of(&inverted, self.components);
        // Above the caution threshold, not merely accepted: a CT or MR slice inverted (a bright ring
        // around a dark body) can pass for a chest film, but not a typical one.
        !Self::refused_by_rule(&features) && self.score(&features) >= self.borderline
    }

    /// Whether the image is refused by a rule before the regression (colour, blank, noise, shape).
    pub fn refused_by_rule(features: &Features) -> bool {
        features.chroma > MAX_CHROMA
            || features.contrast < MIN_CONTRAST
            || features.smoothness < MIN_SMOOTHNESS
            || features.log_aspect.abs().exp() > MAX_ELONGATION
    }
}

impl Radiograph {
    /// Whether this image looks like a frontal chest radiograph, by the committed model.
    pub fn check_frontal_chest(&self) -> InputCheck {
        SHIPPED.check(self)
    }
}

const INVERTED: &str = "it looks like a frontal chest film with its grey levels inverted (lungs bright, bones dark): save it with bones bright";

/// The reason for a low score: whichever of the layout features falls furthest short.
fn layout_reason(f: &Features) -> String {
    if f.template < 0.3 && f.symmetry >= 0.3 {
        "it lacks the layout of a frontal chest film: two dark lung fields either side of a bright midline".into()
    } else if f.symmetry < 0.3 {
        "it is not left–right symmetric as a frontal chest film is (another body part, a lateral view, or not a radiograph)"
            .into()
    } else {
        "its layout and grey levels are unlike those of a frontal chest film".into()
    }
}

/// Mean of the coarse grid over `rows` and the union of `column_ranges`.
fn region_mean(coarse: &[f32], rows: Range<usize>, column_ranges: &[Range<usize>]) -> f32 {
    let cells: Vec<f32> = rows
        .flat_map(|row| {
            column_ranges.iter().flat_map(move |cols| cols.clone().map(move |col| coarse[row * COARSE + col]))
        })
        .collect();
    mean_std(&cells).0
}

fn mean_std(values: &[f32]) -> (f32, f32) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    (mean as f32, var.sqrt() as f32)
}

/// Pearson correlation of two equally long sequences; 0 when either is constant.
fn correlation(a: impl Iterator<Item = f32>, b: impl Iterator<Item = f32>) -> f32 {
    let (mut n, mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0f64, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (x, y) in a.zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        n += 1.0;
        sa += x;
        sb += y;
        saa += x * x;
        sbb += y * y;
        sab += x * y;
    }
    let cov = sab - sa * sb / n.max(1.0);
    let va = saa - sa * sa / n.max(1.0);
    let vb = sbb - sb * sb / n.max(1.0);
    if va <= 1e-12 || vb <= 1e-12 { 0.0 } else { (cov / (va * vb).sqrt()) as f32 }
}

/// The image's 4×4 means of the fine grid, standardised (mean 0, standard deviation 1; all 0 when
/// blank): what the components are fitted on and read from.
pub fn coarse_grid(image: &Radiograph) -> Vec<f32> {
    standardised_coarse(&image.resize_square(FINE).pixels)
}

fn standardised_coarse(fine: &[f32]) -> Vec<f32> {
    let (side, step) = (FINE as usize, FINE as usize / COARSE);
    let coarse: Vec<f32> = (0..CELLS)
        .map(|i| {
            let (y, x) = (step * (i / COARSE), step * (i % COARSE));
            (0..step * step).map(|k| fine[(y + k / step) * side + x + k % step]).sum::<f32>() / (step * step) as f32
        })
        .collect();
    let (mean, std) = mean_std(&coarse);
    coarse.iter().map(|v| if std > 1e-6 { (v - mean) / std } else { 0.0 }).collect()
}
