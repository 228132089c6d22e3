//! Findings inserted in 3-D before projection. Each finding is sampled with a type, side, severity and
//! (for lesions) size and count, turned into lung-tissue modifications ([`LungMod`]), devices, or
//! deformations, and after projection located in the image: the regions it really lies in become its
//! present (entity, position) triplets.

use crate::anatomy::Anatomy;
use crate::ct::Phantom;
use crate::render::{LungMod, Projection, Shape};
use crate::rng::Rng;
use gkmvlp_vocab::{Entity, Region, candidates};
use serde::{Deserialize, Serialize};

/// Findings that exist on one side (or both when asked).
pub fn lateral(entity: Entity) -> bool {
    matches!(
        entity,
        Entity::PleuralEffusion
            | Entity::Consolidation
            | Entity::Atelectasis
            | Entity::LungNodule
            | Entity::LungMass
            | Entity::Pneumothorax
            | Entity::EnlargedHilum
            | Entity::ElevatedHemidiaphragm
    )
}

pub use gkmvlp_data::{Severity, Side};

/// A finding that is present in the study, with where it really lies. It serialises as a dataset
/// record's finding does: the entity as its `kind` key and its `entity` number.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(into = "gkmvlp_data::Finding", try_from = "gkmvlp_data::Finding")]
pub struct Finding {
    pub entity: Entity,
    pub name: String,
    pub side: Side,
    pub severity: Severity,
    /// Largest diameter (nodules, masses), mm.
    pub size_mm: Option<f32>,
    /// Number of lesions (nodules); 1 otherwise.
    pub count: u32,
    /// Regions (vocabulary names) where it is present: its present triplets.
    pub positions: Vec<String>,
    /// Free-form descriptors used by the report (e.g. "air bronchograms", "tip at the cavoatrial junction").
    pub details: Vec<String>,
}

impl Finding {
    pub fn regions(&self) -> Vec<Region> {
        self.positions.iter().filter_map(|p| Region::from_name(p)).collect()
    }

    /// As a dataset record stores it: the same fields and JSON, the entity as its [`Entity::key`] (`kind`)
    /// and its [`Entity::index`] (`entity`).
    pub fn to_record(&self) -> gkmvlp_data::Finding {
        gkmvlp_data::Finding {
            kind: self.entity.key().to_string(),
            entity: self.entity.index(),
            name: self.name.clone(),
            side: self.side,
            severity: self.severity,
            size_mm: self.size_mm,
            count: self.count,
            positions: self.positions.clone(),
            details: self.details.clone(),
        }
    }
}

impl From<Finding> for gkmvlp_data::Finding {
    fn from(finding: Finding) -> Self {
        finding.to_record()
    }
}

impl TryFrom<gkmvlp_data::Finding> for Finding {
    type Error = String;

    /// A record's finding, whose `kind` and `entity` must name the same entity.
    fn try_from(f: gkmvlp_data::Finding) -> Result<Self, String> {
        let entity = Entity::from_key(&f.kind).ok_or_else(|| format!("unknown finding kind `{}`", f.kind))?;
        if entity.index() != f.entity {
            return Err(format!("finding kind `{}` is entity {}, not {}", f.kind, entity.index(), f.entity));
        }
        Ok(Finding {
            entity,
            name: f.name,
            side: f.side,
            severity: f.severity,
            size_mm: f.size_mm,
            count: f.count,
            positions: f.positions,
            details: f.details,
        })
    }
}

/// A finding asked for explicitly (tests, targeted datasets). Unset fields are sampled.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct FindingRequest {
    #[serde(rename = "kind")]
    pub entity: Entity,
    pub side: Option<Side>,
    pub severity: Option<Severity>,
}

/// Default prevalence per entity (order of [`Entity::ALL`]) among abnormal studies.
pub const DEFAULT_PREVALENCE: [f64; 14] =
    [0.22, 0.14, 0.14, 0.12, 0.05, 0.08, 0.16, 0.10, 0.05, 0.04, 0.06, 0.05, 0.08, 0.12];

/// Default co-occurrences: if the first is present, the second is added with this probability.
pub const DEFAULT_CO_OCCURRENCE: [(Entity, Entity, f64); 6] = [
    (Entity::PulmonaryEdema, Entity::EnlargedCardiacSilhouette, 0.5),
    (Entity::PulmonaryEdema, Entity::PleuralEffusion, 0.5),
    (Entity::EnlargedCardiacSilhouette, Entity::PleuralEffusion, 0.25),
    (Entity::EndotrachealTube, Entity::CentralVenousCatheter, 0.6),
    (Entity::Consolidation, Entity::PleuralEffusion, 0.2),
    (Entity::Atelectasis, Entity::PleuralEffusion, 0.3),
];

/// How findings are drawn.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FindingConfig {
    /// Share of studies with no finding at all.
    pub normal_share: f64,
    /// Per-entity probability among abnormal studies (order of [`Entity::ALL`]).
    pub prevalence: Vec<f64>,
    pub co_occurrence: Vec<(Entity, Entity, f64)>,
    pub max_findings: usize,
    /// If set, exactly these findings (prevalence ignored).
    pub forced: Option<Vec<FindingRequest>>,
}

impl Default for FindingConfig {
    fn default() -> Self {
        FindingConfig {
            normal_share: 0.3,
            prevalence: DEFAULT_PREVALENCE.to_vec(),
            co_occurrence: DEFAULT_CO_OCCURRENCE.to_vec(),
            max_findings: 4,
            forced: None,
        }
    }
}

/// Draw the requests for one study.
pub fn draw(rng: &mut Rng, cfg: &FindingConfig) -> Vec<FindingRequest> {
    if let Some(f) = &cfg.forced {
        return f.clone();
    }
    if rng.chance(cfg.normal_share) {
        return Vec::new();
    }
    let mut kinds: Vec<Entity> = Vec::new();
    for (i, k) in Entity::ALL.iter().enumerate() {
        if rng.chance(cfg.prevalence.get(i).copied().unwrap_or(0.0)) {
            kinds.push(*k);
        }
    }
    if kinds.is_empty() {
        let total: f64 = cfg.prevalence.iter().sum();
        let mut t = rng.f64() * total;
        for (i, k) in Entity::ALL.iter().enumerate() {
            t -= cfg.prevalence.get(i).copied().unwrap_or(0.0);
            if t <= 0.0 {
                kinds.push(*k);
                break;
            }
        }
        if kinds.is_empty() {
            kinds.push(Entity::PleuralEffusion);
        }
    }
    for &(a, b, p) in &cfg.co_occurrence {
        if kinds.contains(&a) && !kinds.contains(&b) && rng.chance(p) {
            kinds.push(b);
        }
    }
    while kinds.len() > cfg.max_findings.max(1) {
        kinds.remove(rng.below(kinds.len()));
    }
    kinds.into_iter().map(|entity| FindingRequest { entity, side: None, severity: None }).collect()
}

/// A finding in construction: its request, its 3-D modifications and how to locate it afterwards.
#[derive(Clone, Debug)]
pub struct Planned {
    pub entity: Entity,
    pub side: Side,
    pub severity: Severity,
    pub size_mm: Option<f32>,
    pub count: u32,
    /// Lesion centres (volume mm) for nodules and masses.
    pub centres: Vec<([f32; 3], usize)>,
    /// Positions fixed by construction (devices, cardiomegaly, …); others are measured.
    pub fixed: Vec<Region>,
    pub details: Vec<String>,
    /// Bit in the ray finding mask.
    pub bit: u8,
}

impl Planned {
    /// Puts a one-sided finding on the side asked for, or on one drawn; returns that side's index (0 right,
    /// 1 left).
    fn place_on_side(&mut self, rng: &mut Rng, asked: Option<Side>) -> usize {
        self.side = pick_side(rng, asked);
        side_idx(self.side)
    }
}

/// The 3-D plan of a study's findings.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub planned: Vec<Planned>,
    pub mods: Vec<LungMod>,
    /// Heart scale override (cardiomegaly).
    pub heart_scale: Option<f32>,
    /// Minimum inspiration (hyperaeration).
    pub inspiration: Option<f32>,
    /// Devices as 3-D polylines in volume mm: (points, radius mm, strength, hollow, bit).
    pub devices: Vec<(Vec<[f32; 3]>, f32, f32, bool)>,
}

fn side_idx(s: Side) -> usize {
    if s == Side::Left { 1 } else { 0 }
}

fn pick_side(rng: &mut Rng, req: Option<Side>) -> Side {
    match req {
        Some(s @ (Side::Right | Side::Left)) => s,
        _ => {
            if rng.chance(0.55) {
                Side::Right
            } else {
                Side::Left
            }
        }
    }
}

fn pick_sev(rng: &mut Rng, req: Option<Severity>) -> Severity {
    req.unwrap_or_else(|| {
        *rng.pick(&[Severity::Mild, Severity::Mild, Severity::Moderate, Severity::Moderate, Severity::Severe])
    })
}

/// A random lung voxel of `side` within `z_range`, at least 45 mm lateral of the carina and `clear` mm
/// above the abdominal organs in its column (so that the lesion is seen through lung rather than through
/// the mediastinum or the liver).
fn lung_point(ph: &Phantom, rng: &mut Rng, side: usize, z_range: Option<(f32, f32)>, clear: f32) -> [f32; 3] {
    let v = &ph.lung_voxels[side];
    for _ in 0..400 {
        let p = ph.voxel_mm(v[rng.below(v.len())] as usize);
        let col = ((p[0] / ph.dx) as usize).min(ph.nx - 1);
        if z_range.is_none_or(|(a, b)| p[2] >= a && p[2] <= b)
            && (p[0] - ph.carina[0]).abs() >= 45.0
            && p[2] >= ph.abdomen_top[col] + clear
        {
            return p;
        }
    }
    ph.voxel_mm(v[rng.below(v.len())] as usize)
}

fn lesion_bbox(c: [f32; 3], r: f32) -> [f32; 6] {
    [c[0] - r, c[1] - r, c[2] - r, c[0] + r, c[1] + r, c[2] + r]
}

/// Turn the requests into 3-D modifications of the phantom.
pub fn plan(ph: &Phantom, rng: &mut Rng, reqs: &[FindingRequest]) -> Plan {
    let mut plan = Plan::default();
    // One finding per entity (the first request wins).
    let mut seen = Vec::new();
    for req in reqs {
        if seen.contains(&req.entity) || plan.planned.len() >= 15 {
            continue;
        }
        seen.push(req.entity);
        let bit = plan.planned.len() as u8;
        let severity = pick_sev(rng, req.severity);
        let mut p = Planned {
            entity: req.entity,
            side: Side::Midline,
            severity,
            size_mm: None,
            count: 1,
            centres: Vec::new(),
            fixed: Vec::new(),
            details: Vec::new(),
            bit,
        };
        match req.entity {
            Entity::PleuralEffusion => pleural_effusion(ph, rng, req.side, &mut p, &mut plan),
            Entity::Pneumothorax => pneumothorax(ph, rng, req.side, &mut p, &mut plan),
            Entity::Consolidation => consolidation(ph, rng, req.side, &mut p, &mut plan),
            Entity::Atelectasis => atelectasis(ph, rng, req.side, &mut p, &mut plan),
            Entity::LungNodule | Entity::LungMass => lung_lesions(ph, rng, req.side, &mut p, &mut plan),
            Entity::EnlargedCardiacSilhouette => enlarged_cardiac_silhouette(rng, &mut p, &mut plan),
            Entity::PulmonaryEdema => pulmonary_edema(ph, &mut p, &mut plan),
            Entity::EnlargedHilum => enlarged_hilum(ph, rng, req.side, &mut p, &mut plan),
            Entity::MediastinalWidening => mediastinal_widening(ph, &mut p, &mut plan),
            Entity::ElevatedHemidiaphragm => elevated_hemidiaphragm(ph, rng, req.side, &mut p, &mut plan),
            Entity::Hyperaeration => hyperaeration(&mut p, &mut plan),
            Entity::EndotrachealTube => endotracheal_tube(ph, rng, &mut p, &mut plan),
            Entity::CentralVenousCatheter => central_venous_catheter(ph, rng, &mut p, &mut plan),
        }
        plan.planned.push(p);
    }
    plan
}

/// 0, 0.5, 1 for mild, moderate, severe: how far along its range a finding's size or density goes.
fn severity_t(severity: Severity) -> f32 {
    match severity {
        Severity::Mild => 0.0,
        Severity::Moderate => 0.5,
        Severity::Severe => 1.0,
    }
}

/// Pleural effusion (25 % bilateral unless a side is asked): the lung below a fluid level with a lateral
/// meniscus becomes water; the costophrenic angle, and with size the hemidiaphragm and lower zone, are its
/// positions.
fn pleural_effusion(ph: &Phantom, rng: &mut Rng, asked: Option<Side>, p: &mut Planned, plan: &mut Plan) {
    let bit = p.bit;
    let severity = p.severity;
    let bilateral = asked == Some(Side::Bilateral) || (asked.is_none() && rng.chance(0.25));
    let sides: Vec<Side> = if bilateral { vec![Side::Right, Side::Left] } else { vec![pick_side(rng, asked)] };
    p.side = if bilateral { Side::Bilateral } else { sides[0] };
    for s in sides {
        let si = side_idx(s);
        let lb = ph.lung_box[si];
        let h = match severity {
            Severity::Mild => rng.uniform(14.0, 22.0),
            Severity::Moderate => rng.uniform(40.0, 60.0),
            Severity::Severe => rng.uniform(80.0, 110.0),
        } as f32;
        let meniscus = 0.35 * h + 15.0;
        let x_med = if si == 0 { lb[3] } else { lb[0] };
        let z0 = lb[2] + h;
        plan.mods.push(LungMod {
            side: Some(si),
            bbox: [lb[0], lb[1], lb[2] - 5.0, lb[3], lb[4], z0 + 1.5 * meniscus],
            bit,
            shape: Shape::Effusion { z0, meniscus, x_med, half_w: lb[3] - lb[0], y_ant: lb[4] },
        });
        let r = |a: Region, b: Region| if si == 0 { a } else { b };
        p.fixed.push(r(Region::RightCostophrenicAngle, Region::LeftCostophrenicAngle));
        if severity >= Severity::Moderate {
            p.fixed.push(r(Region::RightHemidiaphragm, Region::LeftHemidiaphragm));
        }
        if severity == Severity::Severe {
            p.fixed.push(r(Region::RightLowerLungZone, Region::LeftLowerLungZone));
        }
    }
    if severity >= Severity::Moderate {
        p.details.push("meniscus".into());
    }
}

/// Pneumothorax: the lung beyond a cap distance from a point below the hilum becomes air, with a visceral
/// pleural line; apical zone and lung, and the upper zone when at least moderate.
fn pneumothorax(ph: &Phantom, rng: &mut Rng, asked: Option<Side>, p: &mut Planned, plan: &mut Plan) {
    let bit = p.bit;
    let severity = p.severity;
    let si = p.place_on_side(rng, asked);
    let lb = ph.lung_box[si];
    let c = [ph.hilum[si][0], ph.hilum[si][1], lb[2] - 20.0];
    let d_apex = lb[5] - c[2];
    let cap = match severity {
        Severity::Mild => rng.uniform(22.0, 32.0),
        Severity::Moderate => rng.uniform(55.0, 75.0),
        Severity::Severe => rng.uniform(100.0, 130.0),
    } as f32;
    plan.mods.push(LungMod {
        side: Some(si),
        bbox: [lb[0], lb[1], lb[2], lb[3], lb[4], lb[5] + 5.0],
        bit,
        shape: Shape::Pneumothorax { c, r: d_apex - cap },
    });
    let r = |a: Region, b: Region| if si == 0 { a } else { b };
    p.fixed.push(r(Region::RightApicalZone, Region::LeftApicalZone));
    p.fixed.push(r(Region::RightLung, Region::LeftLung));
    if severity >= Severity::Moderate {
        p.fixed.push(r(Region::RightUpperLungZone, Region::LeftUpperLungZone));
    }
    p.details.push("visceral pleural line".into());
}

/// Consolidation: four blobs at a random lung point, with four air bronchograms from the hilum; its zones
/// are measured after projection.
fn consolidation(ph: &Phantom, rng: &mut Rng, asked: Option<Side>, p: &mut Planned, plan: &mut Plan) {
    let bit = p.bit;
    let sev_t = severity_t(p.severity);
    let si = p.place_on_side(rng, asked);
    let c = lung_point(ph, rng, si, Some((ph.lung_box[si][2], ph.lung_box[si][5] - 10.0)), 15.0);
    let r0 = (20.0 + 22.0 * sev_t + rng.uniform(0.0, 8.0) as f32).min(50.0);
    let mut blobs = vec![(c, r0)];
    for _ in 0..3 {
        let o = [rng.normal() as f32 * r0 * 0.45, rng.normal() as f32 * r0 * 0.45, rng.normal() as f32 * r0 * 0.35];
        blobs.push(([c[0] + o[0], c[1] + o[1], c[2] + o[2]], r0 * rng.uniform(0.5, 0.85) as f32));
    }
    let h = ph.hilum[si];
    let mut bronchi = Vec::new();
    for _ in 0..4 {
        let t0 = rng.uniform(0.0, 0.4) as f32;
        let a = [h[0] + (c[0] - h[0]) * t0, h[1] + (c[1] - h[1]) * t0, h[2] + (c[2] - h[2]) * t0];
        let b = [
            c[0] + rng.normal() as f32 * r0 * 0.6,
            c[1] + rng.normal() as f32 * r0 * 0.6,
            c[2] + rng.normal() as f32 * r0 * 0.6,
        ];
        bronchi.push((a, b));
    }
    let rr = r0 * 1.6;
    plan.mods.push(LungMod {
        side: Some(si),
        bbox: lesion_bbox(c, rr),
        bit,
        shape: Shape::Consolidation { blobs, bronchi, density: 0.9 },
    });
    p.fixed.push(if si == 0 { Region::RightLung } else { Region::LeftLung });
    p.details.push("air bronchograms".into());
}

/// Atelectasis: a plate-like band, in the lower zone (70 %, with a rise of the lung base: volume loss) or
/// the mid zone; its zone is measured after projection.
fn atelectasis(ph: &Phantom, rng: &mut Rng, asked: Option<Side>, p: &mut Planned, plan: &mut Plan) {
    let bit = p.bit;
    let sev_t = severity_t(p.severity);
    let si = p.place_on_side(rng, asked);
    let lb = ph.lung_box[si];
    let lower = rng.chance(0.7);
    let cz =
        if lower { lb[2] + rng.uniform(35.0, 60.0) as f32 } else { ph.hilum[si][2] - rng.uniform(0.0, 20.0) as f32 };
    let cx = 0.5 * (lb[0] + lb[3]) + rng.uniform(-15.0, 15.0) as f32;
    let cy = 0.5 * (lb[1] + lb[4]);
    let r = [(lb[3] - lb[0]) * 0.3, (lb[4] - lb[1]) * 0.3, 7.0 + 8.0 * sev_t];
    plan.mods.push(LungMod {
        side: Some(si),
        bbox: [cx - r[0], cy - r[1], cz - r[2], cx + r[0], cy + r[1], cz + r[2]],
        bit,
        shape: Shape::Collapse { c: [cx, cy, cz], r, density: 0.75 },
    });
    if lower {
        let delta = 6.0 + 10.0 * sev_t;
        plan.mods.push(LungMod {
            side: Some(si),
            bbox: [lb[0], lb[1], lb[2] - 5.0, lb[3], lb[4], lb[2] + 120.0],
            bit,
            shape: Shape::BaseRise { delta },
        });
        p.details.push("volume loss".into());
    }
    p.details.push(if lower { "lower".into() } else { "mid".into() });
}

/// Lung nodules (1–3, 7–28 mm, sometimes both sides) or one mass (32–60 mm): lobulated spheres at random
/// lung points; the severity follows the largest diameter, the zones are where the centres project.
fn lung_lesions(ph: &Phantom, rng: &mut Rng, asked: Option<Side>, p: &mut Planned, plan: &mut Plan) {
    let bit = p.bit;
    let sev_t = severity_t(p.severity);
    let mass = p.entity == Entity::LungMass;
    let count = if mass { 1 } else { *rng.pick(&[1u32, 1, 1, 1, 2, 2, 3]) };
    let bilateral = count > 1 && rng.chance(0.3) && asked.is_none();
    let first = pick_side(rng, asked);
    let mut sides = Vec::new();
    let mut max_d = 0f32;
    for n in 0..count {
        let s = if bilateral && n == 1 { if first == Side::Right { Side::Left } else { Side::Right } } else { first };
        sides.push(s);
        let si = side_idx(s);
        let d = if mass {
            rng.uniform(32.0, 60.0)
        } else {
            (rng.uniform(7.0, 14.0) + 12.0 * sev_t as f64 * rng.f64()).min(28.0)
        } as f32;
        max_d = max_d.max(d);
        let lb = ph.lung_box[si];
        // Keep the lesion above the diaphragm's silhouette and off the apex, within lung.
        let c = lung_point(ph, rng, si, Some((lb[2], lb[5] - 15.0 - d / 2.0)), 5.0 + d / 2.0);
        let lobes = [
            if mass { 0.18 } else { 0.08 } * rng.f64() as f32,
            rng.uniform(0.0, std::f64::consts::TAU) as f32,
            rng.uniform(0.0, std::f64::consts::TAU) as f32,
        ];
        plan.mods.push(LungMod {
            side: Some(si),
            bbox: lesion_bbox(c, d),
            bit,
            shape: Shape::Lesion { c, r: d / 2.0, lobes, density: 1.05 },
        });
        p.centres.push((c, si));
    }
    p.side = if sides.iter().all(|s| *s == sides[0]) { sides[0] } else { Side::Bilateral };
    p.count = count;
    p.size_mm = Some((max_d).round());
    p.severity = if max_d > 45.0 || (!mass && max_d > 18.0) {
        Severity::Severe
    } else if max_d > 12.0 {
        Severity::Moderate
    } else {
        Severity::Mild
    };
}

/// Enlarged cardiac silhouette: the heart scaled 1.2–1.45.
fn enlarged_cardiac_silhouette(rng: &mut Rng, p: &mut Planned, plan: &mut Plan) {
    let sev_t = severity_t(p.severity);
    p.side = Side::Midline;
    plan.heart_scale = Some(1.2 + 0.2 * sev_t + rng.uniform(0.0, 0.05) as f32);
    p.fixed.push(Region::CardiacSilhouette);
}

/// Pulmonary edema: a perihilar haze around both hila.
fn pulmonary_edema(ph: &Phantom, p: &mut Planned, plan: &mut Plan) {
    let bit = p.bit;
    let sev_t = severity_t(p.severity);
    p.side = Side::Bilateral;
    for si in 0..2 {
        let c = ph.hilum[si];
        let r = 60.0 + 25.0 * sev_t;
        plan.mods.push(LungMod {
            side: Some(si),
            bbox: lesion_bbox(c, r * 2.0),
            bit,
            shape: Shape::Haze { c, r, amount: 0.22 + 0.25 * sev_t },
        });
    }
    p.fixed.extend([Region::RightLung, Region::LeftLung, Region::RightHilarStructures, Region::LeftHilarStructures]);
    p.details.push("perihilar".into());
}

/// Enlarged hilum: a lobulated mass at one hilum.
fn enlarged_hilum(ph: &Phantom, rng: &mut Rng, asked: Option<Side>, p: &mut Planned, plan: &mut Plan) {
    let bit = p.bit;
    let sev_t = severity_t(p.severity);
    let si = p.place_on_side(rng, asked);
    let h = ph.hilum[si];
    let c = [h[0] + if si == 0 { -8.0 } else { 8.0 }, h[1], h[2]];
    let r = 16.0 + 10.0 * sev_t;
    plan.mods.push(LungMod {
        side: Some(si),
        bbox: lesion_bbox(c, r * 1.3),
        bit,
        shape: Shape::Lesion { c, r, lobes: [0.12, 1.0, 2.0], density: 1.05 },
    });
    p.fixed.push(if si == 0 { Region::RightHilarStructures } else { Region::LeftHilarStructures });
}

/// Mediastinal widening: a soft-tissue ellipsoid above the carina.
fn mediastinal_widening(ph: &Phantom, p: &mut Planned, plan: &mut Plan) {
    let bit = p.bit;
    let sev_t = severity_t(p.severity);
    p.side = Side::Midline;
    let t = ph.trachea_line.get(ph.trachea_line.len() / 3).copied().unwrap_or(ph.carina);
    let c = [t[0], ph.carina[1], ph.carina[2] + 35.0];
    let r = [45.0 + 20.0 * sev_t, 45.0, 55.0];
    plan.mods.push(LungMod {
        side: None,
        bbox: [c[0] - r[0], c[1] - r[1], c[2] - r[2], c[0] + r[0], c[1] + r[1], c[2] + r[2]],
        bit,
        shape: Shape::Ellipsoid { c, r },
    });
    p.fixed.extend([Region::UpperMediastinum, Region::Mediastinum]);
}

/// Elevated hemidiaphragm: the lung near its base becomes abdomen.
fn elevated_hemidiaphragm(ph: &Phantom, rng: &mut Rng, asked: Option<Side>, p: &mut Planned, plan: &mut Plan) {
    let bit = p.bit;
    let sev_t = severity_t(p.severity);
    let si = p.place_on_side(rng, asked);
    let lb = ph.lung_box[si];
    let delta = 22.0 + 20.0 * sev_t;
    plan.mods.push(LungMod {
        side: Some(si),
        bbox: [lb[0], lb[1], lb[2] - 5.0, lb[3], lb[4], lb[2] + 160.0],
        bit,
        shape: Shape::BaseRise { delta },
    });
    p.fixed.push(if si == 0 { Region::RightHemidiaphragm } else { Region::LeftHemidiaphragm });
}

/// Hyperaeration: lucent lungs and a deep inspiration (flattened domes).
fn hyperaeration(p: &mut Planned, plan: &mut Plan) {
    let bit = p.bit;
    let sev_t = severity_t(p.severity);
    p.side = Side::Bilateral;
    plan.mods.push(LungMod {
        side: None,
        bbox: [f32::MIN, f32::MIN, f32::MIN, f32::MAX, f32::MAX, f32::MAX],
        bit,
        shape: Shape::Lucent { factor: 0.72 - 0.1 * sev_t },
    });
    plan.inspiration = Some(1.24 + 0.06 * sev_t);
    p.fixed.extend([Region::RightLung, Region::LeftLung]);
    p.details.push("flattened hemidiaphragms".into());
}

/// Endotracheal tube down the trachea's centre line, its tip 3–6 cm above the carina (20 %: 2–10 mm).
fn endotracheal_tube(ph: &Phantom, rng: &mut Rng, p: &mut Planned, plan: &mut Plan) {
    p.side = Side::Midline;
    let low = rng.chance(0.2);
    let above = if low { rng.uniform(2.0, 10.0) } else { rng.uniform(30.0, 60.0) } as f32;
    let mut pts: Vec<[f32; 3]> = Vec::new();
    let top = ph.nz as f32 * ph.dz + 60.0;
    let t0 = ph.trachea_line.first().copied().unwrap_or(ph.carina);
    pts.push([t0[0], t0[1] + 8.0, top]);
    for q in &ph.trachea_line {
        if q[2] > ph.carina[2] + above {
            pts.push(*q);
        }
    }
    let tip_z = ph.carina[2] + above;
    let last = *pts.last().unwrap_or(&t0);
    pts.push([last[0], last[1], tip_z]);
    plan.devices.push((pts, 4.0, 1.6, true));
    p.fixed.push(Region::Trachea);
    if low {
        p.fixed.push(Region::Carina);
        p.details.push(format!("tip {above:.0} mm above the carina"));
    } else {
        p.details.push(format!("tip {:.0} cm above the carina", above / 10.0));
    }
}

/// Central venous catheter: a right internal jugular line down the SVC, its tip in the SVC, at the
/// cavoatrial junction or in the right atrium.
fn central_venous_catheter(ph: &Phantom, rng: &mut Rng, p: &mut Planned, plan: &mut Plan) {
    p.side = Side::Right;
    let svc = &ph.svc_line;
    let top = svc.first().copied().unwrap_or(ph.carina);
    let bottom = svc.last().copied().unwrap_or(ph.carina);
    let mut pts =
        vec![[top[0] - 35.0, top[1] + 5.0, ph.nz as f32 * ph.dz + 40.0], [top[0] - 12.0, top[1], top[2] + 25.0], top];
    let which = rng.below(3);
    let (tip, reg, word) = match which {
        0 => (svc[svc.len() / 2], Region::Svc, "superior vena cava"),
        1 => (bottom, Region::CavoatrialJunction, "cavoatrial junction"),
        _ => {
            let hc = ph.heart_center;
            ([bottom[0] + 0.25 * (hc[0] - bottom[0]), bottom[1], bottom[2] - 28.0], Region::RightAtrium, "right atrium")
        }
    };
    for q in svc.iter() {
        if q[2] > tip[2] {
            pts.push(*q);
        }
    }
    pts.push(tip);
    // Radiopaque (barium-striped) like a real line: at strength 0.9 it was a faint grey thread at
    // 256 px and ECLS learned nothing of it (AUC 0.5); 2.2 matches the tube's stripe.
    plan.devices.push((pts, 1.3, 2.2, false));
    p.fixed.push(reg);
    p.details.push(if reg == Region::CavoatrialJunction {
        format!("tip at the {word}")
    } else {
        format!("tip in the {word}")
    });
}

/// Zone of a point's height `y` (projection px) within a side's lung: apical (if above the apical box's
/// bottom), and upper / mid / lower thirds of the lung box.
fn zones_of_point(an: &Anatomy, si: usize, y: f32) -> Vec<Region> {
    let r = |a: Region, b: Region| if si == 0 { a } else { b };
    let lung = an.get(r(Region::RightLung, Region::LeftLung));
    let h = (lung[3] - lung[1]).max(1.0);
    let t = ((y - lung[1]) / h).clamp(0.0, 0.999);
    let mut out = vec![match (t * 3.0) as u32 {
        0 => r(Region::RightUpperLungZone, Region::LeftUpperLungZone),
        1 => r(Region::RightMidLungZone, Region::LeftMidLungZone),
        _ => r(Region::RightLowerLungZone, Region::LeftLowerLungZone),
    }];
    if y < an.get(r(Region::RightApicalZone, Region::LeftApicalZone))[3] {
        out.push(r(Region::RightApicalZone, Region::LeftApicalZone));
    }
    out
}

/// Where nodules and masses lie: the lung each was placed in, and the zone where its centre projects.
fn lesion_regions(p: &Planned, an: &Anatomy, project: &impl Fn([f32; 3]) -> [f64; 2]) -> Vec<Region> {
    let mut regions = Vec::new();
    for (c, side) in &p.centres {
        let [_, v] = project(*c);
        regions.push(if *side == 0 { Region::RightLung } else { Region::LeftLung });
        regions.extend(zones_of_point(an, *side, v as f32));
    }
    regions
}

/// The zone boxes of a consolidation's or atelectasis's side that hold at least 30 % of its projected
/// pixels `pix`, or the one holding most (atelectasis: mid or lower zone only).
fn zones_holding(p: &Planned, an: &Anatomy, pix: &[(f32, f32)]) -> Vec<Region> {
    let si = side_idx(p.side);
    let r = |a: Region, b: Region| if si == 0 { a } else { b };
    let zones: Vec<Region> = if p.entity == Entity::Atelectasis {
        vec![
            r(Region::RightMidLungZone, Region::LeftMidLungZone),
            r(Region::RightLowerLungZone, Region::LeftLowerLungZone),
        ]
    } else {
        vec![
            r(Region::RightUpperLungZone, Region::LeftUpperLungZone),
            r(Region::RightMidLungZone, Region::LeftMidLungZone),
            r(Region::RightLowerLungZone, Region::LeftLowerLungZone),
            r(Region::RightApicalZone, Region::LeftApicalZone),
        ]
    };
    let total = pix.len() as f32;
    let mut best = (0f32, zones[0]);
    let mut regions = Vec::new();
    for z in &zones {
        let b = an.get(*z);
        let inside =
            pix.iter().filter(|(x, y)| *x >= b[0] && *x < b[2] && *y >= b[1] && *y < b[3]).count() as f32 / total;
        if inside > best.0 {
            best = (inside, *z);
        }
        if inside >= 0.3 {
            regions.push(*z);
        }
    }
    if regions.is_empty() {
        regions.push(best.1);
    }
    regions
}

/// Locate every planned finding in the projection and produce the present findings. A finding whose
/// inserted tissue never reached a ray (outside the field) is dropped: it is not in the image.
pub fn locate(plan: &Plan, proj: &Projection, an: &Anatomy, project: impl Fn([f32; 3]) -> [f64; 2]) -> Vec<Finding> {
    let n = proj.size;
    let mut out = Vec::new();
    for p in &plan.planned {
        let device = matches!(
            p.entity,
            Entity::EndotrachealTube | Entity::CentralVenousCatheter | Entity::EnlargedCardiacSilhouette
        );
        let bit = 1u16 << p.bit;
        let pix: Vec<(f32, f32)> = if device {
            Vec::new()
        } else {
            (0..n * n)
                .filter(|&i| proj.findings[i] & bit != 0)
                .map(|i| ((i % n) as f32 + 0.5, (i / n) as f32 + 0.5))
                .collect()
        };
        if !device && pix.is_empty() {
            continue;
        }
        let mut regions: Vec<Region> = p.fixed.clone();
        match p.entity {
            Entity::LungNodule | Entity::LungMass => regions.extend(lesion_regions(p, an, &project)),
            Entity::Consolidation | Entity::Atelectasis => regions.extend(zones_holding(p, an, &pix)),
            _ => {}
        }
        // Keep only positions the vocabulary allows for this entity, in vocabulary order, unique.
        let allowed = p.entity.positions();
        let mut pos: Vec<Region> = allowed.iter().copied().filter(|r| regions.contains(r)).collect();
        pos.dedup();
        if pos.is_empty() {
            continue;
        }
        let mut side = p.side;
        if matches!(p.entity, Entity::LungNodule | Entity::LungMass) {
            let r = pos.iter().any(|r| r.name().starts_with("right"));
            let l = pos.iter().any(|r| r.name().starts_with("left"));
            side = if r && l {
                Side::Bilateral
            } else if l {
                Side::Left
            } else {
                Side::Right
            };
        }
        out.push(Finding {
            entity: p.entity,
            name: p.entity.name().to_string(),
            side,
            severity: p.severity,
            size_mm: p.size_mm,
            count: p.count,
            positions: pos.iter().map(|r| r.name().to_string()).collect(),
            details: p.details.clone(),
        });
    }
    out
}

/// `exist` for every candidate of `gkmvlp_vocab::candidates()`: 1 present, 0 absent.
pub fn triplets(findings: &[Finding]) -> Vec<u8> {
    candidates()
        .iter()
        .map(|c| {
            findings.iter().any(|f| f.entity == c.entity && f.positions.iter().any(|p| p == c.position.name())) as u8
        })
        .collect()
}

#[cfg(test)]
mod entity_tests {
    use super::*;

    #[test]
    fn entities_serialise_as_the_simulators_kinds_did() {
        for entity in Entity::ALL {
            assert_eq!(serde_json::to_value(entity).unwrap(), entity.key());
            assert_eq!(serde_json::from_value::<Entity>(entity.key().into()).unwrap(), entity);
        }
        let request = FindingRequest { entity: Entity::LungNodule, side: None, severity: None };
        assert_eq!(serde_json::to_string(&request).unwrap(), r#"{"kind":"lung_nodule","side":null,"severity":null}"#);
    }

    #[test]
    fn a_record_finding_serialises_as_the_simulators() {
        let finding = Finding {
            entity: Entity::LungNodule,
            name: Entity::LungNodule.name().into(),
            side: Side::Bilateral,
            severity: Severity::Moderate,
            size_mm: Some(14.0),
            count: 2,
            positions: vec!["right lung".into(), "left upper lung zone".into()],
            details: vec!["lobulated".into()],
        };
        let json = serde_json::to_string(&finding).unwrap();
        assert_eq!(serde_json::to_string(&finding.to_record()).unwrap(), json);
        let back: Finding = serde_json::from_str(&json).unwrap();
        assert_eq!(back.entity, Entity::LungNodule);
        assert!(json.starts_with(r#"{"kind":"lung_nodule","entity":3,"#), "{json}");
        let mismatched = json.replace(r#""entity":3"#, r#""entity":4"#);
        assert!(serde_json::from_str::<Finding>(&mismatched).is_err());
    }
}
