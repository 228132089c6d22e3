//! Regenerates the README pictures: `cargo run --release -p gkmvlp-sim --example docs -- [OUT_DIR]`.
//! docs/contact_sheet.png: 16 random studies; docs/findings.png: one study per finding kind;
//! docs/overlay.png: the 29 boxes on one PA study, in three panels.
use gkmvlp_sim::Entity;
use gkmvlp_sim::findings::{FindingConfig, FindingRequest, Severity};
use gkmvlp_sim::{Simulator, Study, StudyConfig};
use image::{GrayImage, Rgb, RgbImage};

fn grey(st: &Study) -> GrayImage {
    GrayImage::from_raw(st.width as u32, st.height as u32, st.pixels.iter().map(|&v| (v / 257) as u8).collect())
        .expect("size")
}

fn sheet(tiles: &[GrayImage], cols: u32, tile: u32) -> GrayImage {
    let rows = (tiles.len() as u32).div_ceil(cols);
    let mut out = GrayImage::new(cols * tile, rows * tile);
    for (i, t) in tiles.iter().enumerate() {
        let t = image::imageops::resize(t, tile, tile, image::imageops::FilterType::Triangle);
        image::imageops::replace(&mut out, &t, ((i as u32 % cols) * tile) as i64, ((i as u32 / cols) * tile) as i64);
    }
    out
}

fn rect(img: &mut RgbImage, b: [f32; 4], c: [u8; 3], ox: u32) {
    let s = img.height() as f32;
    let (x0, y0) = ((b[0] * s) as u32, (b[1] * s) as u32);
    let (x1, y1) = (((b[2] * s) as u32).min(s as u32 - 1), ((b[3] * s) as u32).min(s as u32 - 1));
    for x in x0..=x1 {
        for t in 0..2 {
            img.put_pixel(ox + x, (y0 + t).min(y1), Rgb(c));
            img.put_pixel(ox + x, y1.saturating_sub(t).max(y0), Rgb(c));
        }
    }
    for y in y0..=y1 {
        for t in 0..2 {
            img.put_pixel(ox + (x0 + t).min(x1), y, Rgb(c));
            img.put_pixel(ox + x1.saturating_sub(t).max(x0), y, Rgb(c));
        }
    }
}

fn main() {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "crates/gkmvlp-sim/docs".into()));
    std::fs::create_dir_all(&out).expect("out dir");
    let sim = Simulator::load("assets/ct").expect("run scripts/fetch-assets.sh --with-ct");
    let cfg = StudyConfig::default();
    let tiles: Vec<GrayImage> = (0..16u64)
        .map(|s| {
            let st = sim.study(1000 + s, &cfg).expect("study");
            println!(
                "{:>4} {} ctr {:.2} | {} | {}",
                1000 + s,
                st.anatomy.ctr,
                st.view.as_str(),
                st.findings
                    .iter()
                    .map(|f| format!("{} {} {:?}", f.side.word(), f.name, f.positions))
                    .collect::<Vec<_>>()
                    .join("; "),
                st.report.impression
            );
            grey(&st)
        })
        .collect();
    sheet(&tiles, 4, 192).save(out.join("contact_sheet.png")).expect("save");
    let mut tiles = Vec::new();
    for (i, entity) in Entity::ALL.into_iter().enumerate() {
        let c = StudyConfig {
            ap_share: 0.0,
            findings: FindingConfig {
                forced: Some(vec![FindingRequest { entity, side: None, severity: Some(Severity::Severe) }]),
                ..FindingConfig::default()
            },
            ..StudyConfig::default()
        };
        let st = sim.study(2000 + i as u64, &c).expect("study");
        println!("findings.png #{i}: ctr {:.2} {}", st.anatomy.ctr, st.report.findings);
        tiles.push(grey(&st));
    }
    sheet(&tiles, 5, 192).save(out.join("findings.png")).expect("save");
    let st = sim
        .study(
            7,
            &StudyConfig {
                ap_share: 0.0,
                findings: FindingConfig { forced: Some(vec![]), ..FindingConfig::default() },
                ..StudyConfig::default()
            },
        )
        .expect("study");
    let g = image::imageops::resize(&grey(&st), 256, 256, image::imageops::FilterType::Triangle);
    let mut ov = RgbImage::new(256 * 3, 256);
    for p in 0..3 {
        for (x, y, v) in g.enumerate_pixels() {
            ov.put_pixel(p * 256 + x, y, Rgb([v[0]; 3]));
        }
    }
    use gkmvlp_vocab::Region::*;
    let panels: [&[(gkmvlp_vocab::Region, [u8; 3])]; 3] = [
        &[
            (RightLung, [255, 60, 60]),
            (LeftLung, [255, 60, 60]),
            (RightUpperLungZone, [60, 200, 255]),
            (RightMidLungZone, [60, 255, 60]),
            (RightLowerLungZone, [255, 220, 0]),
            (LeftUpperLungZone, [60, 200, 255]),
            (LeftMidLungZone, [60, 255, 60]),
            (LeftLowerLungZone, [255, 220, 0]),
            (RightApicalZone, [255, 0, 255]),
            (LeftApicalZone, [255, 0, 255]),
        ],
        &[
            (RightCostophrenicAngle, [255, 60, 60]),
            (LeftCostophrenicAngle, [255, 60, 60]),
            (RightHemidiaphragm, [255, 220, 0]),
            (LeftHemidiaphragm, [255, 220, 0]),
            (RightHilarStructures, [60, 255, 60]),
            (LeftHilarStructures, [60, 255, 60]),
            (Abdomen, [60, 200, 255]),
            (RightClavicle, [255, 0, 255]),
            (LeftClavicle, [255, 0, 255]),
        ],
        &[
            (Trachea, [60, 200, 255]),
            (Carina, [255, 255, 255]),
            (Spine, [120, 120, 255]),
            (AorticArch, [255, 60, 60]),
            (Mediastinum, [255, 160, 0]),
            (UpperMediastinum, [255, 0, 255]),
            (Svc, [60, 255, 60]),
            (CardiacSilhouette, [255, 220, 0]),
            (CavoatrialJunction, [0, 255, 200]),
            (RightAtrium, [200, 120, 60]),
        ],
    ];
    for (p, regs) in panels.iter().enumerate() {
        for (r, c) in regs.iter() {
            rect(&mut ov, st.boxes[r.index()], *c, p as u32 * 256);
        }
    }
    ov.save(out.join("overlay.png")).expect("save");
}
