//! Cone-beam projection of the phantom: geometry (PA/AP, source–detector distance, patient pose,
//! elastic field), the ray marcher that integrates attenuation and records which labelled structures
//! and which inserted findings every ray crossed, and forward projection of 3-D points to pixels.

use crate::ct::{MU_WATER, Phantom, lab};
use serde::{Deserialize, Serialize};

/// Radiographic projection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "UPPERCASE")]
pub enum View {
    /// Posteroanterior: source behind the patient, detector against the chest, ~180 cm.
    Pa,
    /// Anteroposterior: source in front, detector behind, ~100 cm (bedside); the heart is magnified.
    Ap,
}

impl View {
    pub fn as_str(self) -> &'static str {
        match self {
            View::Pa => "PA",
            View::Ap => "AP",
        }
    }
}

/// One smooth elastic mode: displacement `amp * dir * sin(k·(x, z) + phase)` in mm, in the coronal plane.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct ElasticMode {
    pub amp: f32,
    pub dir: [f32; 2],
    pub k: [f32; 2],
    pub phase: f32,
}

/// Everything that places the patient in front of the detector. All lengths in mm, angles in degrees.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pose {
    pub view: View,
    /// Source–detector distance.
    pub sid: f32,
    /// Rotation about the vertical axis (patient rotation), about the left–right axis (lordotic tilt)
    /// and about the beam axis (in-plane tilt).
    pub rot_deg: [f32; 3],
    /// Body habitus: scale across, in depth, and craniocaudal.
    pub scale: [f32; 3],
    /// Translation of the patient in the field (x, y, z).
    pub shift: [f32; 3],
    /// Inspiration: the thorax below the hinge (the carina) is stretched craniocaudally by this factor.
    pub inspiration: f32,
    /// Heart scale (radial, about its centroid; 1 = as scanned).
    pub heart_scale: f32,
    /// Field of view at the isocentre plane, square, mm.
    pub field_mm: f32,
    pub elastic: Vec<ElasticMode>,
}

/// Geometry of one exposure, ready for ray setup and forward projection.
#[derive(Clone, Debug)]
pub struct Geometry {
    pub view: View,
    /// Image size in pixels (square).
    pub size: usize,
    center: [f64; 3],
    a: [[f64; 3]; 3],
    ainv: [[f64; 3]; 3],
    shift: [f64; 3],
    source: [f64; 3],
    iso_y: f64,
    x0: f64,
    z_top: f64,
    pix: f64,
    elastic: Vec<ElasticMode>,
    pub sid: f64,
    pub sod: f64,
}

fn matmul(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut r = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            r[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    r
}
fn mv(a: &[[f64; 3]; 3], v: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|i| a[i][0] * v[0] + a[i][1] * v[1] + a[i][2] * v[2])
}
fn inv3(m: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let d = 1.0 / det;
    [
        [
            (m[1][1] * m[2][2] - m[1][2] * m[2][1]) * d,
            (m[0][2] * m[2][1] - m[0][1] * m[2][2]) * d,
            (m[0][1] * m[1][2] - m[0][2] * m[1][1]) * d,
        ],
        [
            (m[1][2] * m[2][0] - m[1][0] * m[2][2]) * d,
            (m[0][0] * m[2][2] - m[0][2] * m[2][0]) * d,
            (m[0][2] * m[1][0] - m[0][0] * m[1][2]) * d,
        ],
        [
            (m[1][0] * m[2][1] - m[1][1] * m[2][0]) * d,
            (m[0][1] * m[2][0] - m[0][0] * m[2][1]) * d,
            (m[0][0] * m[1][1] - m[0][1] * m[1][0]) * d,
        ],
    ]
}

impl Geometry {
    pub fn new(ph: &Phantom, pose: &Pose, size: usize) -> Geometry {
        let lb = &ph.lung_box;
        // Isocentre: mid-lungs across, heart centre in depth; craniocaudally the frame's top edge sits 6 % of
        // the field above the lung apices.
        let cx = 0.5 * (lb[0][0].min(lb[1][0]) + lb[0][3].max(lb[1][3])) as f64;
        let z_hi = lb[0][5].max(lb[1][5]) as f64;
        let cz = z_hi + 0.06 * pose.field_mm as f64 - 0.5 * pose.field_mm as f64;
        let cy = ph.heart_center[1] as f64;
        let center = [cx, cy, cz];
        let r = pose.rot_deg.map(|d| (d as f64).to_radians());
        let rz = [[r[0].cos(), -r[0].sin(), 0.0], [r[0].sin(), r[0].cos(), 0.0], [0.0, 0.0, 1.0]];
        let rx = [[1.0, 0.0, 0.0], [0.0, r[1].cos(), -r[1].sin()], [0.0, r[1].sin(), r[1].cos()]];
        let ry = [[r[2].cos(), 0.0, r[2].sin()], [0.0, 1.0, 0.0], [-r[2].sin(), 0.0, r[2].cos()]];
        let s = pose.scale.map(|v| v as f64);
        let sc = [[s[0], 0.0, 0.0], [0.0, s[1], 0.0], [0.0, 0.0, s[2]]];
        let a = matmul(&matmul(&matmul(&rz, &rx), &ry), &sc);
        let ainv = inv3(&a);
        let shift = pose.shift.map(|v| v as f64);
        let bb = &ph.body_box;
        let sid = pose.sid as f64;
        let (source, sod) = match pose.view {
            View::Pa => {
                let det_y = (bb[4] as f64 - cy) * s[1] + cy + 25.0;
                let sod = sid - (det_y - cy);
                ([cx, cy - sod, cz], sod)
            }
            View::Ap => {
                let det_y = cy - (cy - bb[1] as f64) * s[1] - 25.0;
                let sod = sid - (cy - det_y);
                ([cx, cy + sod, cz], sod)
            }
        };
        let field = pose.field_mm as f64;
        Geometry {
            view: pose.view,
            size,
            center,
            a,
            ainv,
            shift,
            source,
            iso_y: cy,
            x0: cx - field / 2.0,
            z_top: cz + field / 2.0,
            pix: field / size as f64,
            elastic: pose.elastic.clone(),
            sid,
            sod,
        }
    }

    fn disp(&self, x: f64, z: f64) -> [f64; 2] {
        let mut d = [0.0; 2];
        for m in &self.elastic {
            let s = m.amp as f64 * (m.k[0] as f64 * x + m.k[1] as f64 * z + m.phase as f64).sin();
            d[0] += s * m.dir[0] as f64;
            d[1] += s * m.dir[1] as f64;
        }
        d
    }

    /// World point on the isocentre plane that pixel coordinate (u, v) (edges at integers) looks at.
    fn iso_point(&self, u: f64, v: f64) -> [f64; 3] {
        let x = self.x0 + u * self.pix;
        let z = self.z_top - v * self.pix;
        let d = self.disp(x, z);
        [x + d[0], self.iso_y, z + d[1]]
    }

    fn to_volume(&self, w: [f64; 3]) -> [f64; 3] {
        let r = [
            w[0] - self.center[0] - self.shift[0],
            w[1] - self.center[1] - self.shift[1],
            w[2] - self.center[2] - self.shift[2],
        ];
        let p = mv(&self.ainv, r);
        [p[0] + self.center[0], p[1] + self.center[1], p[2] + self.center[2]]
    }

    fn to_world(&self, p: [f64; 3]) -> [f64; 3] {
        let r = [p[0] - self.center[0], p[1] - self.center[1], p[2] - self.center[2]];
        let w = mv(&self.a, r);
        [
            w[0] + self.center[0] + self.shift[0],
            w[1] + self.center[1] + self.shift[1],
            w[2] + self.center[2] + self.shift[2],
        ]
    }

    /// The ray through pixel (u, v) in volume millimetres: (origin, direction).
    pub fn ray(&self, u: f64, v: f64) -> ([f64; 3], [f64; 3]) {
        let s = self.to_volume(self.source);
        let q = self.to_volume(self.iso_point(u, v));
        (s, [q[0] - s[0], q[1] - s[1], q[2] - s[2]])
    }

    /// Pixel coordinates (u, v), edges at integers, of a point given in volume millimetres.
    pub fn project(&self, p: [f32; 3]) -> [f64; 2] {
        let w = self.to_world(p.map(|v| v as f64));
        let s = self.source;
        let t = (self.iso_y - s[1]) / (w[1] - s[1]);
        let qx = s[0] + t * (w[0] - s[0]);
        let qz = s[2] + t * (w[2] - s[2]);
        // Invert the elastic displacement by fixed-point iteration (it is small and smooth).
        let (mut x, mut z) = (qx, qz);
        for _ in 0..6 {
            let d = self.disp(x, z);
            x = qx - d[0];
            z = qz - d[1];
        }
        [(x - self.x0) / self.pix, (self.z_top - z) / self.pix]
    }

    /// Magnification of a point (detector size / object size) relative to the isocentre plane.
    pub fn pixel_mm(&self) -> f64 {
        self.pix
    }
}

/// A change to lung tissue made by an inserted finding, evaluated on every lung sample a ray crosses.
#[derive(Clone, Debug)]
pub struct LungMod {
    /// 0 = right, 1 = left, None = both lungs.
    pub side: Option<usize>,
    /// Bounding box in volume mm (x0, y0, z0, x1, y1, z1); samples outside are untouched.
    pub bbox: [f32; 6],
    /// Bit of the ray's finding mask this modification sets.
    pub bit: u8,
    pub shape: Shape,
}

#[derive(Clone, Debug)]
pub enum Shape {
    /// A lobulated solid lesion (nodule, mass, hilar node): soft tissue inside.
    Lesion { c: [f32; 3], r: f32, lobes: [f32; 3], density: f32 },
    /// Soft-tissue ellipsoid replacing lung (mediastinal widening); the lung there stops being lung.
    Ellipsoid { c: [f32; 3], r: [f32; 3] },
    /// Pleural fluid: fills lung below `z0 + meniscus * lateral²`, lateral measured from `x_med`
    /// over `half_w`, plus a posterior rise.
    Effusion { z0: f32, meniscus: f32, x_med: f32, half_w: f32, y_ant: f32 },
    /// Pneumothorax: lung farther than `r` from `c` is pleural air (no vessels); a 1.5 mm shell inside
    /// `r` is the visceral pleural line.
    Pneumothorax { c: [f32; 3], r: f32 },
    /// Airspace opacity made of blobs, with air bronchograms (segments kept air).
    Consolidation { blobs: Vec<([f32; 3], f32)>, bronchi: Vec<([f32; 3], [f32; 3])>, density: f32 },
    /// Perihilar haze (edema): extra density `amount * exp(-d²/r²)` around `c`.
    Haze { c: [f32; 3], r: f32, amount: f32 },
    /// The lung base rises by `delta` mm (elevated hemidiaphragm, volume loss): lung below becomes
    /// abdomen.
    BaseRise { delta: f32 },
    /// Plate-like atelectasis band / wedge of collapsed lung near `c`.
    Collapse { c: [f32; 3], r: [f32; 3], density: f32 },
    /// Hyperaeration: lung attenuation scaled by `factor` (< 1).
    Lucent { factor: f32 },
}

fn seg_dist2(p: [f32; 3], a: [f32; 3], b: [f32; 3]) -> f32 {
    let ab = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
    let ap = [p[0] - a[0], p[1] - a[1], p[2] - a[2]];
    let l2 = ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2];
    let t = if l2 > 0.0 { ((ap[0] * ab[0] + ap[1] * ab[1] + ap[2] * ab[2]) / l2).clamp(0.0, 1.0) } else { 0.0 };
    let d = [ap[0] - t * ab[0], ap[1] - t * ab[1], ap[2] - t * ab[2]];
    d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
}

impl LungMod {
    /// New attenuation and whether the sample is still lung (for the anatomy labels), or None if the
    /// sample is untouched.
    #[inline]
    fn apply(&self, ph: &Phantom, side: usize, p: [f32; 3], mu: f32) -> Option<(f32, bool)> {
        if let Some(s) = self.side
            && s != side
        {
            return None;
        }
        let b = &self.bbox;
        if p[0] < b[0] || p[0] > b[3] || p[1] < b[1] || p[1] > b[4] || p[2] < b[2] || p[2] > b[5] {
            return None;
        }
        match &self.shape {
            Shape::Lesion { c, r, lobes, density } => {
                let d = [p[0] - c[0], p[1] - c[1], p[2] - c[2]];
                let dist = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                let inv = 1.0 / dist.max(1e-3);
                let rr =
                    r * (1.0 + lobes[0] * (d[0] * inv * 3.1 + lobes[1]).sin() * (d[2] * inv * 2.3 + lobes[2]).cos());
                if dist < rr {
                    let edge = ((rr - dist) / 1.5).min(1.0);
                    Some((mu + (density * MU_WATER - mu) * edge, true))
                } else {
                    None
                }
            }
            Shape::Ellipsoid { c, r } => {
                let q =
                    ((p[0] - c[0]) / r[0]).powi(2) + ((p[1] - c[1]) / r[1]).powi(2) + ((p[2] - c[2]) / r[2]).powi(2);
                (q < 1.0).then_some((MU_WATER * 1.02, false))
            }
            Shape::Effusion { z0, meniscus, x_med, half_w, y_ant } => {
                let lat = ((p[0] - x_med).abs() / half_w).min(1.0);
                let post = ((y_ant - p[1]) / 150.0).clamp(0.0, 1.0);
                let level = z0 + meniscus * lat * lat + 0.35 * meniscus * post;
                // The fluid thins out over its top 12 mm: a hazy upper border, not a fluid level.
                let w = ((level - p[2]) / 12.0).clamp(0.0, 1.0);
                (w > 0.0).then_some((mu + (MU_WATER - mu) * w, true))
            }
            Shape::Pneumothorax { c, r } => {
                let d = ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2) + (p[2] - c[2]).powi(2)).sqrt();
                if d > *r {
                    Some((0.0, true))
                } else if d > r - 1.5 {
                    Some((MU_WATER * 0.9, true))
                } else {
                    None
                }
            }
            Shape::Consolidation { blobs, bronchi, density } => {
                let mut w = 0f32;
                for (c, r) in blobs {
                    let q = ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2) + (p[2] - c[2]).powi(2)) / (r * r);
                    if q < 1.0 {
                        w = w.max(((1.0 - q) * 3.0).min(1.0));
                    }
                }
                if w <= 0.0 {
                    return None;
                }
                if bronchi.iter().any(|(a, b)| seg_dist2(p, *a, *b) < 2.2) {
                    return Some((0.0, true));
                }
                Some((mu + (density * MU_WATER - mu) * w, true))
            }
            Shape::Haze { c, r, amount } => {
                let d2 = (p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2) + (p[2] - c[2]).powi(2);
                let w = (-d2 / (r * r)).exp();
                (w > 0.02).then_some((mu + amount * MU_WATER * w, true))
            }
            Shape::BaseRise { delta } => {
                let base = ph.base_at(side, p[0], p[1]);
                (p[2] < base + delta).then_some((MU_WATER * 1.05, false))
            }
            Shape::Collapse { c, r, density } => {
                let q =
                    ((p[0] - c[0]) / r[0]).powi(2) + ((p[1] - c[1]) / r[1]).powi(2) + ((p[2] - c[2]) / r[2]).powi(2);
                (q < 1.0).then_some((mu + (density * MU_WATER - mu) * ((1.0 - q) * 2.5).min(1.0), true))
            }
            Shape::Lucent { factor } => Some((mu * factor, true)),
        }
    }
}

/// Deformations evaluated per sample: inspiration (craniocaudal stretch below a hinge) and heart size
/// (smooth radial scaling about the heart centroid).
#[derive(Clone, Copy, Debug)]
pub struct Warp {
    pub hinge_z: f32,
    pub inspiration: f32,
    pub heart_c: [f32; 3],
    pub heart_r: f32,
    pub heart_scale: f32,
}

impl Warp {
    /// The heart warp of a sample (after the inspiration warp): within the heart radius, points are
    /// scaled about the centre by 1/scale near it, blending smoothly to 1 at the radius. None outside.
    #[inline(always)]
    fn heart(&self, p: [f32; 3]) -> Option<[f32; 3]> {
        let (c, hr, inv_s) = (self.heart_c, self.heart_r, 1.0 / self.heart_scale);
        let r = [p[0] - c[0], p[1] - c[1], p[2] - c[2]];
        let q2 = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]) * (1.0 / (hr * hr));
        (q2 < 1.0).then(|| {
            let q = q2.sqrt();
            let t = ((q - 0.45) / 0.55).clamp(0.0, 1.0);
            let sm = t * t * (3.0 - 2.0 * t);
            let f = inv_s + (1.0 - inv_s) * sm;
            [c[0] + r[0] * f, c[1] + r[1] * f, c[2] + r[2] * f]
        })
    }
}

/// Label groups recorded per ray (bits of [`Projection::labels`]).
pub mod group {
    pub const R_LUNG: u32 = 1 << 0;
    pub const L_LUNG: u32 = 1 << 1;
    pub const TRACHEA: u32 = 1 << 2;
    pub const HEART: u32 = 1 << 3;
    pub const AORTA: u32 = 1 << 4;
    pub const SVC: u32 = 1 << 5;
    pub const R_CLAVICLE: u32 = 1 << 6;
    pub const L_CLAVICLE: u32 = 1 << 7;
    pub const SPINE: u32 = 1 << 8;
    pub const PULM_VEIN: u32 = 1 << 9;
    pub const LIVER: u32 = 1 << 10;
    pub const STOMACH_SPLEEN: u32 = 1 << 11;
    pub const ESOPHAGUS: u32 = 1 << 12;
    pub const GREAT_VESSELS: u32 = 1 << 13;
    pub const RIBS: u32 = 1 << 14;
    pub const BRONCHI: u32 = 1 << 15;
}

fn group_lut() -> [u32; 256] {
    let mut t = [0u32; 256];
    for l in 0..=255u8 {
        t[l as usize] = match l {
            12..=14 => group::R_LUNG,
            10 | 11 => group::L_LUNG,
            lab::TRACHEA => group::TRACHEA,
            lab::HEART | lab::LEFT_ATRIAL_APPENDAGE => group::HEART,
            lab::AORTA => group::AORTA,
            lab::SVC => group::SVC,
            lab::CLAVICLE_RIGHT => group::R_CLAVICLE,
            lab::CLAVICLE_LEFT => group::L_CLAVICLE,
            lab::VERT_FIRST..=lab::VERT_LAST => group::SPINE,
            lab::PULMONARY_VEIN => group::PULM_VEIN,
            lab::LIVER => group::LIVER,
            lab::STOMACH | lab::SPLEEN | lab::COLON => group::STOMACH_SPLEEN,
            lab::BRONCHI => group::BRONCHI,
            lab::ESOPHAGUS => group::ESOPHAGUS,
            // Brachiocephalic trunk and veins (not the subclavian and carotid arteries, which run out of
            // the mediastinum).
            54 | 59 | 60 => group::GREAT_VESSELS,
            92..=115 => group::RIBS,
            _ => 0,
        };
    }
    t
}

/// Output of the ray marcher, one value per pixel of a `size × size` grid.
#[derive(Clone, Debug)]
pub struct Projection {
    pub size: usize,
    /// Line integral of attenuation (dimensionless).
    pub line: Vec<f32>,
    /// Label groups crossed ([`group`] bits).
    pub labels: Vec<u32>,
    /// Inserted findings crossed (bit = [`LungMod::bit`]).
    pub findings: Vec<u16>,
    /// Aerated-lung path length per ray, right and left, in mm (lung samples × step).
    pub lung_mm: Vec<[f32; 2]>,
}

/// A ray "sees" a lung where it crosses at least this much of it (mm) and crosses no abdominal organ
/// (liver, spleen, stomach, colon). The posterior costophrenic recesses reach far below the domes but
/// are hidden behind the liver on a frontal film: the radiographic lung ends at the diaphragm's
/// silhouette, and so do the lung boxes.
pub const VISIBLE_LUNG_MM: f32 = 25.0;

/// Bilinear fetch within slab `base`. Callers pass `fi` in [0, nx-1], `fk` in [0, nz-1] and `base` a
/// slab start, so every index below is in bounds (checked in debug builds).
#[inline(always)]
fn bilinear(ph: &Phantom, base: usize, fi: f32, fk: f32) -> f32 {
    let i0 = (fi as usize).min(ph.nx - 1);
    let k0 = (fk as usize).min(ph.nz - 1);
    let i1 = (i0 + 1).min(ph.nx - 1);
    let k1 = (k0 + 1).min(ph.nz - 1);
    let ti = fi - i0 as f32;
    let tk = fk - k0 as f32;
    let m = &ph.mu;
    let r0 = base + ph.nx * k0;
    let r1 = base + ph.nx * k1;
    debug_assert!(r1 + i1 < m.len());
    // SAFETY: i0, i1 < nx and k0, k1 < nz by the clamps above, and base ≤ slab·(ny-1), so
    // r1 + i1 < slab·ny = m.len().
    let (a0, a1, b0, b1) = unsafe {
        (*m.get_unchecked(r0 + i0), *m.get_unchecked(r0 + i1), *m.get_unchecked(r1 + i0), *m.get_unchecked(r1 + i1))
    };
    let a = a0 + (a1 - a0) * ti;
    let b = b0 + (b1 - b0) * ti;
    a + (b - a) * tk
}

/// The rays of one image row as lines through the depth slabs: at slab `j` ray `u` is at
/// x = x0 + bx·j, z = z0 + bz·j (mm), and each slab adds `ds` mm of path.
struct RowRays {
    /// False for a ray parallel to the slabs (never, in practice).
    valid: Vec<bool>,
    x0: Vec<f32>,
    bx: Vec<f32>,
    z0: Vec<f32>,
    bz: Vec<f32>,
    ds: Vec<f32>,
    /// Rays that pass farther than the warp radius from the heart centre skip the per-sample check.
    near_heart: Vec<bool>,
}

impl RowRays {
    fn new(n: usize) -> RowRays {
        RowRays {
            valid: vec![false; n],
            x0: vec![0f32; n],
            bx: vec![0f32; n],
            z0: vec![0f32; n],
            bz: vec![0f32; n],
            ds: vec![0f32; n],
            near_heart: vec![false; n],
        }
    }

    /// The rays of row `v` (slab spacing `dy`; `heart_on`: the heart warp is active).
    fn set_row(&mut self, geo: &Geometry, warp: &Warp, v: usize, dy: f32, heart_on: bool) {
        for u in 0..self.valid.len() {
            let (s, d) = geo.ray(u as f64 + 0.5, v as f64 + 0.5);
            self.valid[u] = d[1].abs() > 1e-9;
            if !self.valid[u] {
                continue;
            }
            // Position at slab j: p = s + (j*dy - s.y)/d.y * d.
            self.bx[u] = (d[0] / d[1]) as f32 * dy;
            self.bz[u] = (d[2] / d[1]) as f32 * dy;
            self.x0[u] = (s[0] - s[1] / d[1] * d[0]) as f32;
            self.z0[u] = (s[2] - s[1] / d[1] * d[2]) as f32;
            self.ds[u] = dy * ((d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt() / d[1].abs()) as f32;
            if heart_on {
                // Distance from the heart centre to the ray's line (before the inspiration warp, which
                // only moves samples below the hinge towards it; 15 mm slack covers that).
                let c = [warp.heart_c[0] as f64 - s[0], warp.heart_c[1] as f64 - s[1], warp.heart_c[2] as f64 - s[2]];
                let dl = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                let t = (c[0] * d[0] + c[1] * d[1] + c[2] * d[2]) / dl;
                let dist2 = (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]) - t * t;
                let lim = warp.heart_r as f64 + 15.0 + (1.0 - 1.0 / warp.inspiration as f64).abs() * 300.0;
                self.near_heart[u] = dist2 < lim * lim;
            }
        }
    }
}

/// March every ray through the phantom. Rays step one depth slab at a time (the phantom's `j`), which
/// for the near-parallel chest geometry (fan half-angle < 12°) samples every slab exactly once. A row
/// of rays is advanced together, slab by slab, so that each slab's rows stay in the L1 cache.
pub fn march(ph: &Phantom, geo: &Geometry, warp: &Warp, mods: &[LungMod]) -> Projection {
    let n = geo.size;
    let lut = group_lut();
    let mut line = vec![0f32; n * n];
    let mut labels = vec![0u32; n * n];
    let mut findings = vec![0u16; n * n];
    let mut lung_mm = vec![[0f32; 2]; n * n];
    let (nx, ny, nz) = (ph.nx, ph.ny, ph.nz);
    let (dx, dy, dz) = (ph.dx, ph.dy, ph.dz);
    let xmax = (nx - 1) as f32;
    let zmax = (nz - 1) as f32;
    let ymax = (ny - 1) as f32;
    let heart_on = (warp.heart_scale - 1.0).abs() > 1e-3;
    let insp_on = (warp.inspiration - 1.0).abs() > 1e-4;
    let inv_insp = 1.0 / warp.inspiration;
    // Slabs outside the body (plus a voxel) hold only air: skip them.
    let j_lo = ((ph.body_box[1] / dy).floor() as usize).saturating_sub(1);
    let j_hi = ((ph.body_box[4] / dy).ceil() as usize + 2).min(ny);
    let mut rays = RowRays::new(n);
    let mut acc = vec![0f32; n];
    let mut bits = vec![0u32; n];
    let mut fbs = vec![0u16; n];
    let mut nl = vec![[0u32; 2]; n];
    let mut nb = vec![0u32; n];
    for v in 0..n {
        rays.set_row(geo, warp, v, dy, heart_on);
        let RowRays { valid, x0: rx0, bx: rbx, z0: rz0, bz: rbz, ds: rds, near_heart } = &rays;
        acc.iter_mut().for_each(|a| *a = 0.0);
        bits.iter_mut().for_each(|a| *a = 0);
        fbs.iter_mut().for_each(|a| *a = 0);
        nl.iter_mut().for_each(|a| *a = [0; 2]);
        nb.iter_mut().for_each(|a| *a = 0);
        for j in j_lo..j_hi {
            let base = ph.slab * j;
            let yj = j as f32 * dy;
            for u in 0..n {
                if !valid[u] {
                    continue;
                }
                let mut x = rx0[u] + rbx[u] * j as f32;
                let mut y = yj;
                let mut z = rz0[u] + rbz[u] * j as f32;
                if insp_on && z < warp.hinge_z {
                    z = warp.hinge_z - (warp.hinge_z - z) * inv_insp;
                }
                let mut warped = false;
                if near_heart[u]
                    && let Some(w) = warp.heart([x, y, z])
                {
                    [x, y, z] = w;
                    warped = true;
                }
                let fi = x / dx;
                if !(0.0..=xmax).contains(&fi) {
                    continue;
                }
                let fk = (z / dz).clamp(0.0, zmax);
                let li_idx = nx * ((fk + 0.5) as usize).min(nz - 1) + ((fi + 0.5) as usize).min(nx - 1);
                // Warped samples leave their slab: take the nearest one (2.8 mm), which is invisible in
                // projection and keeps every sample a single bilinear fetch.
                let b = if warped { ph.slab * ((y / dy + 0.5).clamp(0.0, ymax) as usize) } else { base };
                let mut mu = bilinear(ph, b, fi, fk);
                let li = ph.label[b + li_idx];
                let mut g = lut[li as usize];
                if !mods.is_empty()
                    && let Some(side) = lab::lung_side(li)
                {
                    let p = [x, y, z];
                    for m in mods {
                        if let Some((nmu, still)) = m.apply(ph, side, p, mu) {
                            mu = nmu;
                            fbs[u] |= 1 << m.bit;
                            if !still {
                                g = 0;
                            }
                        }
                    }
                }
                acc[u] += mu;
                bits[u] |= g;
                nb[u] += (mu > 0.2 * MU_WATER || g != 0) as u32;
                if g & (group::R_LUNG | group::L_LUNG) != 0 {
                    nl[u][(g & group::L_LUNG != 0) as usize] += 1;
                }
            }
        }
        for u in 0..n {
            let o = v * n + u;
            let ds = rds[u];
            line[o] = acc[u] * ds;
            labels[o] = bits[u];
            findings[o] = fbs[u];
            lung_mm[o] = [nl[u][0] as f32 * ds, nl[u][1] as f32 * ds];
            // Lung bits mean "visible lung" (see VISIBLE_LUNG_MM).
            let below_diaphragm = bits[u] & (group::LIVER | group::STOMACH_SPLEEN) != 0;
            for (s, g) in [(0usize, group::R_LUNG), (1, group::L_LUNG)] {
                if lung_mm[o][s] < VISIBLE_LUNG_MM || below_diaphragm {
                    labels[o] &= !g;
                }
            }
        }
    }
    Projection { size: n, line, labels, findings, lung_mm }
}
