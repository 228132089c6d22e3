//! One simulated study: pose and exposure sampling, projection, anatomy, image.

use crate::anatomy::{self, Anatomy};
use crate::ct::{LoadOptions, Phantom};
use crate::detector::{self, Exposure};
use crate::render::{self, ElasticMode, Geometry, Pose, View, Warp};
use crate::rng::Rng;
use crate::SimError;
use std::path::Path;

pub struct Simulator {
    pub phantom: Phantom,
}

#[derive(Clone, Debug)]
pub struct StudyConfig {
    pub size: usize,
    pub render_size: usize,
    /// Probability of an AP view (0 = all PA, 1 = all AP).
    pub ap_share: f64,
    /// 0 = the CT as scanned, 1 = full variation.
    pub variation: f64,
}

impl Default for StudyConfig {
    fn default() -> Self {
        StudyConfig { size: 512, render_size: 256, ap_share: 0.3, variation: 1.0 }
    }
}

pub struct Study {
    pub seed: u64,
    pub width: usize,
    pub height: usize,
    /// Grey levels, 0 = black, 65535 = white, row-major.
    pub pixels: Vec<u16>,
    pub boxes: [[f32; 4]; gkmvlp_vocab::NUM_REGIONS],
    pub pose: Pose,
    pub exposure: Exposure,
    pub anatomy: Anatomy,
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
            rot_deg: [rng.normal_clamped(0.0, 3.0 * v, -8.0, 8.0) as f32, rng.normal_clamped(if ap { 4.0 * v } else { 0.0 }, 3.0 * v, -8.0, 12.0) as f32, rng.normal_clamped(0.0, 1.5 * v, -5.0, 5.0) as f32],
            scale: [rng.normal_clamped(1.0, 0.05 * v, 0.88, 1.12) as f32, rng.normal_clamped(1.0, 0.05 * v, 0.88, 1.15) as f32, rng.normal_clamped(1.0, 0.04 * v, 0.9, 1.1) as f32],
            shift: [rng.normal_clamped(0.0, 8.0 * v, -20.0, 20.0) as f32, 0.0, rng.normal_clamped(0.0, 6.0 * v, -15.0, 15.0) as f32],
            inspiration: rng.normal_clamped(if ap { 1.04 } else { 1.13 }, 0.04 * v, 0.95, 1.25) as f32,
            heart_scale: rng.normal_clamped(1.0, 0.04 * v, 0.9, 1.1) as f32,
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
            unsharp: rng.uniform(0.3, 0.9) as f32,
            window: [(1.45 + v * rng.normal_clamped(0.0, 0.1, -0.25, 0.25)) as f32, (5.5 + v * rng.normal_clamped(0.0, 0.25, -0.6, 0.6)) as f32],
            gamma: rng.uniform(0.8, 1.25) as f32,
            collimation: [rng.uniform(0.0, 0.05) as f32, rng.uniform(0.02, 0.05) as f32, rng.uniform(0.0, 0.05) as f32, rng.uniform(0.0, 0.03) as f32],
            marker: if rng.chance(0.5) { Some(rng.chance(0.5)) } else { None },
        }
    }

    pub fn study(&self, seed: u64, cfg: &StudyConfig) -> Result<Study, SimError> {
        let ph = &self.phantom;
        let mut rng_pose = Rng::derive(seed, 1);
        let mut rng_noise = Rng::derive(seed, 3);
        let pose = self.sample_pose(&mut rng_pose, cfg);
        let exposure = self.sample_exposure(&mut rng_pose, cfg, cfg.size);
        let geo = Geometry::new(ph, &pose, cfg.render_size);
        let warp = Warp {
            hinge_z: ph.carina[2],
            inspiration: pose.inspiration,
            heart_c: ph.heart_center,
            heart_r: ph.heart_radius * 1.6,
            heart_scale: pose.heart_scale,
        };
        let proj = render::march(ph, &geo, &warp, &[]);
        let anatomy = anatomy::derive(&proj).map_err(|m| SimError::Invalid(format!("study {seed}: {m}")))?;
        let line = detector::resample(&proj.line, proj.size, cfg.size);
        let dev = vec![0f32; cfg.size * cfg.size];
        let img = detector::expose(&line, &dev, cfg.size, &exposure, &mut rng_noise);
        let pixels = img.iter().map(|v| (v * 65535.0).round() as u16).collect();
        Ok(Study { seed, width: cfg.size, height: cfg.size, pixels, boxes: anatomy.normalized(), pose, exposure, anatomy })
    }
}
