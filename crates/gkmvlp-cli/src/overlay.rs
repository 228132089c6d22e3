//! `gkmvlp analyze --overlay OUT.png`: the radiograph with the boxes a reader checks first — both lungs
//! (green), the cardiac silhouette (yellow), both hemidiaphragms (cyan) — and, in red, the region of every
//! finding the model calls present.

use std::path::Path;

use anyhow::{Context, Result, ensure};
use gkmvlp::inference::pipeline::Analysis;
use gkmvlp::vocab::Region;
use gkmvlp_imaging::Radiograph;
use image::{Rgb, RgbImage};

const ANATOMY: [(Region, [u8; 3]); 5] = [
    (Region::RightLung, [60, 220, 60]),
    (Region::LeftLung, [60, 220, 60]),
    (Region::CardiacSilhouette, [240, 220, 40]),
    (Region::RightHemidiaphragm, [40, 220, 240]),
    (Region::LeftHemidiaphragm, [40, 220, 240]),
];

/// Draws the outline of `bbox` (normalised) `thickness` pixels wide.
fn outline(image: &mut RgbImage, bbox: [f32; 4], colour: [u8; 3], thickness: u32) {
    let (w, h) = image.dimensions();
    let clamp = |v: f32, size: u32| ((v.clamp(0.0, 1.0) * size as f32) as u32).min(size - 1);
    let (x0, y0, x1, y1) = (clamp(bbox[0], w), clamp(bbox[1], h), clamp(bbox[2], w), clamp(bbox[3], h));
    for y in y0..=y1.max(y0) {
        for x in x0..=x1.max(x0) {
            let near_edge = x < x0 + thickness || x + thickness > x1 || y < y0 + thickness || y + thickness > y1;
            if near_edge {
                image.put_pixel(x, y, Rgb(colour));
            }
        }
    }
}

pub fn write(path: &Path, radiograph: &Radiograph, analysis: &Analysis) -> Result<()> {
    let (w, h) = (radiograph.width, radiograph.height);
    ensure!(w > 0 && h > 0, "{}: the image is empty", path.display());
    let mut image = RgbImage::from_fn(w, h, |x, y| {
        let v = (radiograph.pixels[(y * w + x) as usize].clamp(0.0, 1.0) * 255.0) as u8;
        Rgb([v, v, v])
    });
    let thickness = (w.min(h) / 256).max(1);
    for (region, colour) in ANATOMY {
        outline(&mut image, analysis.regions[region.index()].bbox, colour, thickness);
    }
    for finding in analysis.findings.iter().filter(|f| f.present) {
        outline(&mut image, analysis.regions[finding.region_index].bbox, [230, 40, 40], thickness * 2);
    }
    image.save(path).with_context(|| format!("cannot write {}", path.display()))
}
