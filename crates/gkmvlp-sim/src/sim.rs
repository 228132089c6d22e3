//! One simulated study: pose and exposure sampling, projection, anatomy, image.

use crate::SimError;
use crate::anatomy::{self, Anatomy};
use crate::ct::{LoadOptions, Phantom};
use crate::detector::{self, Exposure};
use crate::findings::{self, Finding, FindingConfig};
use crate::render::{self, ElasticMode, Geometry, Pose, View, Warp};
use crate::report::{self, Qa, Report};
use crate::rng::Rng;
use gkmvlp_vocab::NUM_REGIONS;
use std::path::Path;

pub struct Simulator {
    pub phantom: Phantom,
}

/// How one study is simulated.
#[derive(Clone, Debug)]
pub struct StudyConfig {
    /// Output image side in pixels (square).
    pub size: usize,
    /// Ray grid side (projection resolution; boxes are measured on it). Capped at `size`.
    pub render_size: usize,
    /// Probability of an AP view (0 = all PA, 1 = all AP).
    pub ap_share: f64,
    /// 0 = the CT as scanned, 1 = full variation (pose, habitus, inspiration, heart, elastic, exposure).
    pub variation: f64,
    pub findings: FindingConfig,
    /// Share of hedged ("possible …") sentences among hedgeable findings.
    pub hedge_share: f64,
}

impl Default for StudyConfig {
    fn default() -> Self {
        StudyConfig {
            size: 512,
            render_size: 224,
            ap_share: 0.3,
            variation: 1.0,
            findings: FindingConfig::default(),
            hedge_share: 0.1,
        }
    }
}

/// One simulated study with its complete ground truth.
pub struct Study {
    pub seed: u64,
    pub view: View,
    pub width: usize,
    pub height: usize,
    /// Grey levels, 0 = black, 65535 = white, row-major.
    pub pixels: Vec<u16>,
    /// The 29 boxes, normalised (x0, y0, x1, y1), indexed by `Region::index()`.
    pub boxes: [[f32; 4]; NUM_REGIONS],
    /// Present findings with the regions they lie in.
    pub findings: Vec<Finding>,
    /// `exist` for every `gkmvlp_vocab::candidates()` entry: 1 present, 0 absent.
    pub exist: Vec<u8>,
    pub report: Report,
    pub qa: Vec<Qa>,
    pub pose: Pose,
    pub exposure: Exposure,
    /// Boxes in projection pixels, landmarks, cardiothoracic ratio.
    pub anatomy: Anatomy,
    /// The ray grid: line integrals, label groups and finding bits per ray (render size).
    pub projection: render::Projection,
}

impl Study {
    /// Every candidate triplet with its `exist`, in `gkmvlp_vocab::candidates()` order.
    pub fn triplets(&self) -> Vec<(gkmvlp_vocab::Candidate, gkmvlp_vocab::Exist)> {
        gkmvlp_vocab::candidates()
            .into_iter()
            .zip(&self.exist)
            .map(|(c, &e)| (c, if e == 1 { gkmvlp_vocab::Exist::Present } else { gkmvlp_vocab::Exist::Absent }))
            .collect()
    }
}

impl Simulator {
    pub fn load(ct_dir: impl AsRef<Path>) -> Result<Simulator, SimError> {
        Self::load_with(ct_dir, LoadOptions::default())
    }

    pub fn load_with(ct_dir: impl AsRef<Path>, opts: LoadOptions) -> Result<Simulator, SimError> {
        Ok(Simulator { phantom: Phantom::load(ct_dir.as_ref(), opts)? })
    }

    pub fn sample_pose(&self, rng: &mut Rng, cfg: &StudyConfig) -> Pose {
        let v = cfg.variation;
        let view = if rng.chance(cfg.ap_share) { View::Ap } else { View::Pa };
        let mut elastic = Vec::new();
        for _ in 0..3 {
            let th = rng.uniform(0.0, std::f64::consts::TAU);
            let wl = rng.uniform(120.0, 350.0);
            let kd = rng.uniform(0.0, std::f64::consts::TAU);
            let k = std::f64::consts::TAU / wl;
            elastic.push(ElasticMode {
                amp: (v * rng.uniform(0.0, 3.0)) as f32,
                dir: [th.cos() as f32, th.sin() as f32],
                k: [(k * kd.cos()) as f32, (k * kd.sin()) as f32],
                phase: rng.uniform(0.0, std::f64::consts::TAU) as f32,
            });
        }
        let ap = view == View::Ap;
        Pose {
            view,
            sid: if ap { rng.uniform(950.0, 1100.0) } else { rng.uniform(1750.0, 1850.0) } as f32,
            rot_deg: [
                rng.normal_clamped(0.0, 3.0 * v, -8.0, 8.0) as f32,
                rng.normal_clamped(if ap { 4.0 * v } else { 0.0 }, 3.0 * v, -8.0, 12.0) as f32,
                rng.normal_clamped(0.0, 1.5 * v, -5.0, 5.0) as f32,
            ],
            scale: [
                rng.normal_clamped(1.0, 0.05 * v, 0.88, 1.12) as f32,
                rng.normal_clamped(1.0, 0.05 * v, 0.88, 1.15) as f32,
                rng.normal_clamped(1.0, 0.04 * v, 0.9, 1.1) as f32,
            ],
            shift: [
                rng.normal_clamped(0.0, 8.0 * v, -20.0, 20.0) as f32,
                0.0,
                rng.normal_clamped(0.0, 6.0 * v, -15.0, 15.0) as f32,
            ],
            inspiration: rng.normal_clamped(if ap { 1.04 } else { 1.13 }, 0.04 * v, 0.95, 1.25) as f32,
            heart_scale: rng.normal_clamped(0.93, 0.04 * v, 0.84, 1.04) as f32,
            field_mm: rng.normal_clamped(330.0, 8.0 * v, 310.0, 355.0) as f32,
            elastic,
        }
    }

    pub fn sample_exposure(&self, rng: &mut Rng, cfg: &StudyConfig, size: usize) -> Exposure {
        let v = cfg.variation;
        let px = size as f32 / 512.0;
        Exposure {
            photons: (rng.uniform(4000.0, 20000.0) / (px * px) as f64) as f32,
            spr: rng.uniform(0.15, 0.5) as f32,
            blur_px: (rng.uniform(0.5, 1.1) as f32) * px,
            unsharp: rng.uniform(0.9, 1.6) as f32,
            window: [
                (1.45 + v * rng.normal_clamped(0.0, 0.1, -0.25, 0.25)) as f32,
                (6.6 + v * rng.normal_clamped(0.0, 0.25, -0.6, 0.6)) as f32,
            ],
            gamma: rng.uniform(0.8, 1.25) as f32,
            collimation: [
                rng.uniform(0.0, 0.05) as f32,
                rng.uniform(0.02, 0.05) as f32,
                rng.uniform(0.0, 0.05) as f32,
                rng.uniform(0.0, 0.03) as f32,
            ],
            marker: if rng.chance(0.5) { Some(rng.chance(0.5)) } else { None },
        }
    }

    /// Simulate one study. The same seed and config give the same study, bit for bit. Independent random
    /// streams drive pose, findings, noise and text, so asking for a different finding leaves the pose
    /// and the noise of a seed unchanged.
    pub fn study(&self, seed: u64, cfg: &StudyConfig) -> Result<Study, SimError> {
        if cfg.size < 32 || cfg.size > 4096 {
            return Err(SimError::Invalid(format!("image size {} out of range 32..=4096", cfg.size)));
        }
        let ph = &self.phantom;
        let mut rng_pose = Rng::derive(seed, 1);
        let mut rng_find = Rng::derive(seed, 2);
        let mut rng_noise = Rng::derive(seed, 3);
        let mut rng_text = Rng::derive(seed, 4);
        let mut pose = self.sample_pose(&mut rng_pose, cfg);
        let mut exposure = self.sample_exposure(&mut rng_pose, cfg, cfg.size);
        let reqs = findings::draw(&mut rng_find, &cfg.findings);
        let plan = findings::plan(ph, &mut rng_find, &reqs);
        if let Some(h) = plan.heart_scale {
            pose.heart_scale = h;
        }
        if let Some(i) = plan.inspiration {
            pose.inspiration = pose.inspiration.max(i);
        }
        let render_size = cfg.render_size.clamp(16, cfg.size);
        let geo = Geometry::new(ph, &pose, render_size);
        // The CT ends a little above the lung apices: the top collimator blade never opens above the
        // volume's top edge (projected at the patient's midline, highest over the field's width).
        let top_z = (ph.nz - 1) as f32 * ph.dz;
        let mid = 0.5 * (ph.lung_box[0][0] + ph.lung_box[1][3]);
        let edge = [mid - 150.0, mid, mid + 150.0]
            .iter()
            .map(|&x| geo.project([x, ph.heart_center[1], top_z])[1] as f32 / render_size as f32)
            .fold(0f32, f32::max);
        exposure.collimation[1] = exposure.collimation[1].max((edge + 0.01).min(0.2));
        let warp = Warp {
            hinge_z: ph.carina[2],
            inspiration: pose.inspiration,
            heart_c: ph.heart_center,
            heart_r: ph.heart_radius * 2.2,
            heart_scale: pose.heart_scale,
        };
        let proj = render::march(ph, &geo, &warp, &plan.mods);
        let anatomy = anatomy::derive(&proj).map_err(|m| SimError::Invalid(format!("study {seed}: {m}")))?;
        let found = findings::locate(&plan, &proj, &anatomy, |p| geo.project(p));
        let exist = findings::triplets(&found);
        // Devices: their 3-D centre lines projected with the same geometry, drawn at output resolution.
        let scale = cfg.size as f64 / render_size as f64;
        let mut dev = vec![0f32; cfg.size * cfg.size];
        for (pts, radius_mm, strength, hollow) in &plan.devices {
            let points: Vec<[f64; 2]> = pts
                .iter()
                .map(|p| {
                    let q = geo.project(*p);
                    [q[0] * scale, q[1] * scale]
                })
                .collect();
            let radius = *radius_mm as f64 / geo.pixel_mm() * scale;
            detector::draw_device(
                &mut dev,
                cfg.size,
                &detector::Device { points, radius, strength: *strength, hollow: *hollow },
            );
        }
        let line = detector::resample(&proj.line, proj.size, cfg.size);
        let img = detector::expose(&line, &dev, cfg.size, &exposure, &mut rng_noise);
        let pixels = img.iter().map(|v| (v * 65535.0).round() as u16).collect();
        let report = report::report(&found, pose.view.as_str(), &mut rng_text, cfg.hedge_share);
        let qa = report::qa(&found, &exist, &mut rng_text);
        Ok(Study {
            seed,
            view: pose.view,
            width: cfg.size,
            height: cfg.size,
            pixels,
            boxes: anatomy.normalized(),
            findings: found,
            exist,
            report,
            qa,
            pose,
            exposure,
            anatomy,
            projection: proj,
        })
    }
}
