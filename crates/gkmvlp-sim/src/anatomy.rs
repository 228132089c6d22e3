//! The 29 Chest ImaGenome boxes, derived from the labelmap projected with the same geometry as the
//! image. Every rule is written next to its region below and in the README.

use crate::render::{Projection, group};
use gkmvlp_vocab::{NUM_REGIONS, Region};

/// A box in pixel coordinates of the projection grid: (x0, y0, x1, y1), x1/y1 exclusive edges.
pub type PixBox = [f32; 4];

/// The 29 boxes being derived, in vocabulary order (None until set).
type Boxes = [Option<PixBox>; NUM_REGIONS];

fn bbox_where(p: &Projection, f: impl Fn(usize, usize, u32) -> bool) -> Option<PixBox> {
    let n = p.size;
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..n {
        for x in 0..n {
            if f(x, y, p.labels[y * n + x]) {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y1.max(y + 1);
            }
        }
    }
    (x0 != usize::MAX).then_some([x0 as f32, y0 as f32, x1 as f32, y1 as f32])
}

fn mask_bbox(p: &Projection, g: u32) -> Option<PixBox> {
    bbox_where(p, |_, _, l| l & g != 0)
}

fn clip(b: PixBox, n: f32) -> PixBox {
    let x0 = b[0].clamp(0.0, n - 1.0);
    let y0 = b[1].clamp(0.0, n - 1.0);
    [x0, y0, b[2].clamp(x0 + 1.0, n), b[3].clamp(y0 + 1.0, n)]
}

fn union(a: Option<PixBox>, b: Option<PixBox>) -> Option<PixBox> {
    match (a, b) {
        (Some(a), Some(b)) => Some([a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])]),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Horizontal extent of mask `g` within rows [y0, y1).
fn x_extent(p: &Projection, g: u32, y0: f32, y1: f32) -> Option<(f32, f32)> {
    let b = bbox_where(p, |_, y, l| l & g != 0 && (y as f32) >= y0.floor() && (y as f32) < y1.ceil())?;
    Some((b[0], b[2]))
}

/// Boxes for all 29 regions in projection-pixel coordinates, plus the landmarks findings need.
#[derive(Clone, Debug)]
pub struct Anatomy {
    pub boxes: [PixBox; NUM_REGIONS],
    pub size: usize,
    /// Carina (x, y) in pixels.
    pub carina: [f32; 2],
    /// Cardiothoracic ratio measured on the projected masks (heart width / inner thoracic width).
    pub ctr: f32,
}

impl Anatomy {
    pub fn get(&self, r: Region) -> PixBox {
        self.boxes[r.index()]
    }

    /// Boxes normalised to [0, 1] image coordinates.
    pub fn normalized(&self) -> [[f32; 4]; NUM_REGIONS] {
        let n = self.size as f32;
        self.boxes.map(|b| [b[0] / n, b[1] / n, b[2] / n, b[3] / n])
    }
}

/// One side's lung boxes: lung, zones, apical zone, costophrenic angle, hemidiaphragm and hilar
/// structures (side 0 right, 1 left). Returns the lung box and the dome's top (px).
fn side_boxes(p: &Projection, side: usize, carina: [f32; 2], boxes: &mut Boxes) -> Result<(PixBox, f32), &'static str> {
    let n = p.size as f32;
    let set = |boxes: &mut Boxes, r: Region, b: Option<PixBox>| boxes[r.index()] = b.map(|b| clip(b, n));
    let g = if side == 0 { group::R_LUNG } else { group::L_LUNG };
    let lung =
        mask_bbox(p, g).ok_or(if side == 0 { "right lung not in the field" } else { "left lung not in the field" })?;
    let [x0, y0, x1, y1] = lung;
    let (w, h) = (x1 - x0, y1 - y0);
    let r = |right: Region, left: Region| if side == 0 { right } else { left };
    // Lung: bounding box of the projected lobes of that side.
    set(boxes, r(Region::RightLung, Region::LeftLung), Some(lung));
    // Upper / mid / lower zones: thirds of the lung's height, as wide as the lung within the band.
    for (t, reg) in [
        (0.0, r(Region::RightUpperLungZone, Region::LeftUpperLungZone)),
        (1.0, r(Region::RightMidLungZone, Region::LeftMidLungZone)),
        (2.0, r(Region::RightLowerLungZone, Region::LeftLowerLungZone)),
    ] {
        let (a, b) = (y0 + t * h / 3.0, y0 + (t + 1.0) * h / 3.0);
        let (xa, xb) = x_extent(p, g, a, b).unwrap_or((x0, x1));
        set(boxes, reg, Some([xa, a, xb, b]));
    }
    // Apical zone: lung above the clavicle, i.e. from the apex to the median lower edge of the
    // same-side clavicle over the lung's columns (kept within 8–40 % of the lung height).
    let clav = if side == 0 { group::R_CLAVICLE } else { group::L_CLAVICLE };
    let ns = p.size;
    let mut lows = Vec::new();
    for x in x0 as usize..x1 as usize {
        if let Some(y) = (0..ns).rev().find(|&y| p.labels[y * ns + x] & clav != 0) {
            lows.push(y as f32 + 1.0);
        }
    }
    lows.sort_by(f32::total_cmp);
    let y_clav = lows.get(lows.len() / 2).copied().unwrap_or(y0 + 0.2 * h).clamp(y0 + 0.08 * h, y0 + 0.4 * h);
    let (xa, xb) = x_extent(p, g, y0, y_clav).unwrap_or((x0, x1));
    set(boxes, r(Region::RightApicalZone, Region::LeftApicalZone), Some([xa, y0, xb, y_clav]));
    // Lung base per column (lowest lung pixel).
    let mut base: Vec<(f32, f32)> = Vec::new();
    for x in x0 as usize..x1 as usize {
        if let Some(y) = (0..ns).rev().find(|&y| p.labels[y * ns + x] & g != 0) {
            base.push((x as f32, y as f32 + 1.0));
        }
    }
    // Costophrenic angle: the lowest lung point among the lateral 30 % of the lung's columns, boxed
    // 30 % of the lung width wide (from the lateral edge) and 16 % of its height tall above it.
    let lateral = |x: f32| if side == 0 { x < x0 + 0.3 * w } else { x >= x1 - 0.3 * w };
    let cp_y = base.iter().filter(|(x, _)| lateral(*x)).map(|b| b.1).fold(y0 + 0.8 * h, f32::max);
    let cp = if side == 0 {
        [x0, cp_y - 0.16 * h, x0 + 0.3 * w, cp_y + 0.02 * h]
    } else {
        [x1 - 0.3 * w, cp_y - 0.16 * h, x1, cp_y + 0.02 * h]
    };
    set(boxes, r(Region::RightCostophrenicAngle, Region::LeftCostophrenicAngle), Some(cp));
    // Hemidiaphragm: the lung base contour across the lung's width, from the dome's top (highest
    // base point over the lateral 10–65 % of the lung's columns, i.e. clear of the heart) to the
    // lowest base point, with a 3 % (of lung height) margin.
    let lat_frac = |x: f32| if side == 0 { (x - x0) / w } else { (x1 - x) / w };
    let mid: Vec<f32> = base.iter().filter(|(x, _)| (0.1..0.65).contains(&lat_frac(*x))).map(|b| b.1).collect();
    let dome = mid.iter().copied().fold(f32::MAX, f32::min).min(cp_y);
    let low = base.iter().map(|b| b.1).fold(dome, f32::max);
    set(
        boxes,
        r(Region::RightHemidiaphragm, Region::LeftHemidiaphragm),
        Some([x0, dome - 0.03 * h, x1, low + 0.02 * h]),
    );
    // Hilar structures: around the main bronchus and pulmonary vessels: projected bronchi and
    // pulmonary veins on this side of the carina, down to 30 % of the lung height below it,
    // united with a box from the lung's medial edge 30 % of the width laterally over the band from
    // 3 % above the carina to 28 % of the lung height below.
    let (band0, band1) = (carina[1] - 0.03 * h, carina[1] + 0.28 * h);
    let medial = x_extent(p, g, band0, band1).map(|e| if side == 0 { e.1 } else { e.0 }).unwrap_or(if side == 0 {
        x1
    } else {
        x0
    });
    let medial = if side == 0 { medial.min(carina[0] - 0.04 * w) } else { medial.max(carina[0] + 0.04 * w) };
    let rule =
        if side == 0 { [medial - 0.3 * w, band0, medial, band1] } else { [medial, band0, medial + 0.3 * w, band1] };
    let pv = bbox_where(p, |x, y, l| {
        l & (group::PULM_VEIN | group::BRONCHI) != 0
            && (if side == 0 { (x as f32) < carina[0] } else { x as f32 > carina[0] })
            && (y as f32) < carina[1] + 0.3 * h
    });
    let hil = union(Some(rule), pv.map(|b| [b[0].max(x0), b[1], b[2].min(x1), b[3]]));
    set(boxes, r(Region::RightHilarStructures, Region::LeftHilarStructures), hil);
    Ok((lung, dome))
}

/// Derive the boxes. Fails only if a lung, the heart or the trachea is outside the field.
pub fn derive(p: &Projection) -> Result<Anatomy, String> {
    let n = p.size as f32;
    let mut boxes: Boxes = [None; NUM_REGIONS];
    let set = |boxes: &mut Boxes, r: Region, b: Option<PixBox>| boxes[r.index()] = b.map(|b| clip(b, n));

    let trachea = mask_bbox(p, group::TRACHEA).ok_or("trachea not in the field")?;
    let heart = mask_bbox(p, group::HEART).ok_or("heart not in the field")?;
    // Carina: the lowest point of the trachea label (TotalSegmentator's trachea ends at the bifurcation).
    let yb = trachea[3] - 1.0;
    let tb = bbox_where(p, |_, y, l| l & group::TRACHEA != 0 && y as f32 >= yb - 2.0).unwrap_or(trachea);
    let carina = [0.5 * (tb[0] + tb[2]), yb];

    let mut thorax = (f32::MAX, f32::MIN);
    let mut base_tops = Vec::new();
    for side in 0..2 {
        let (lung, dome) = side_boxes(p, side, carina, &mut boxes)?;
        thorax = (thorax.0.min(lung[0]), thorax.1.max(lung[2]));
        base_tops.push(dome);
    }
    let tw = thorax.1 - thorax.0;
    // Trachea: its projected label, above the carina.
    set(&mut boxes, Region::Trachea, Some(trachea));
    // Carina: a square of 10 % of the thoracic width centred just above the bifurcation point.
    let s = 0.1 * tw;
    set(
        &mut boxes,
        Region::Carina,
        Some([carina[0] - s / 2.0, carina[1] - 0.6 * s, carina[0] + s / 2.0, carina[1] + 0.4 * s]),
    );
    // Spine: projected vertebrae in the field.
    set(&mut boxes, Region::Spine, mask_bbox(p, group::SPINE));
    // Clavicles: their projected labels.
    set(&mut boxes, Region::RightClavicle, mask_bbox(p, group::R_CLAVICLE));
    set(&mut boxes, Region::LeftClavicle, mask_bbox(p, group::L_CLAVICLE));
    // Aortic arch: the projected aorta above the carina.
    let arch = bbox_where(p, |_, y, l| l & group::AORTA != 0 && (y as f32) < carina[1]);
    set(&mut boxes, Region::AorticArch, arch);
    // SVC: its projected label.
    let svc = mask_bbox(p, group::SVC);
    set(&mut boxes, Region::Svc, svc);
    // Cavoatrial junction: a square of 8 % of the thoracic width centred on the lowest SVC point.
    if let Some(sv) = svc {
        let ys = sv[3] - 1.0;
        let sb = bbox_where(p, |_, y, l| l & group::SVC != 0 && y as f32 >= ys - 2.0).unwrap_or(sv);
        let xs = 0.5 * (sb[0] + sb[2]);
        let c = 0.08 * tw;
        set(&mut boxes, Region::CavoatrialJunction, Some([xs - c / 2.0, ys - c / 2.0, xs + c / 2.0, ys + c / 2.0]));
    }
    // Right atrium: the heart's right-lower border: heart pixels in the patient-right 45 % of the heart
    // width and below the top 35 % of its height.
    let (hx0, hy0, hw, hh) = (heart[0], heart[1], heart[2] - heart[0], heart[3] - heart[1]);
    let ra =
        bbox_where(p, |x, y, l| l & group::HEART != 0 && (x as f32) < hx0 + 0.45 * hw && (y as f32) >= hy0 + 0.35 * hh);
    set(&mut boxes, Region::RightAtrium, ra);
    // Cardiac silhouette: the projected heart.
    set(&mut boxes, Region::CardiacSilhouette, Some(heart));
    // Mediastinum: from the top of the trachea (or lung apices, whichever is lower) to the heart's
    // base, spanning trachea, heart, SVC and the aorta above the heart's base.
    let apex = boxes[Region::RightLung.index()].unwrap_or(trachea)[1]
        .min(boxes[Region::LeftLung.index()].unwrap_or(trachea)[1]);
    let top = trachea[1].max(apex);
    let aorta_th = bbox_where(p, |_, y, l| l & group::AORTA != 0 && (y as f32) < heart[3]);
    let med = union(union(union(Some(trachea), Some(heart)), svc), aorta_th).unwrap_or(heart);
    set(&mut boxes, Region::Mediastinum, Some([med[0], top, med[2], heart[3]]));
    // Upper mediastinum: the mediastinal structures (trachea, SVC, aorta, great vessels) above the
    // carina / heart top, from the mediastinum's top down to that level.
    let cut = heart[1].max(carina[1]);
    let up = bbox_where(p, |_, y, l| {
        l & (group::TRACHEA | group::SVC | group::AORTA | group::GREAT_VESSELS) != 0
            && (y as f32) < cut
            && (y as f32) >= top
    });
    let up = up.unwrap_or([trachea[0], top, trachea[2], cut]);
    set(&mut boxes, Region::UpperMediastinum, Some([up[0], top, up[2], cut]));
    // Abdomen: below the higher hemidiaphragm dome to the image's bottom, across the thorax.
    let dome = base_tops.iter().copied().fold(f32::MAX, f32::min);
    set(&mut boxes, Region::Abdomen, Some([thorax.0, dome, thorax.1, n]));

    let mut out = [[0f32; 4]; NUM_REGIONS];
    for (i, b) in boxes.iter().enumerate() {
        out[i] = b.ok_or_else(|| format!("{} not in the field", Region::ALL[i].name()))?;
    }
    // Cardiothoracic ratio: heart width over the inner thoracic width (lung outer edges).
    let ctr = hw / tw.max(1.0);
    Ok(Anatomy { boxes: out, size: p.size, carina, ctr })
}
