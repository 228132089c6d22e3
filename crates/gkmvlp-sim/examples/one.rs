use gkmvlp_sim::findings::{FindingConfig, FindingRequest, Kind, Severity};
use gkmvlp_sim::{Simulator, StudyConfig};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let seed: u64 = a[1].parse().unwrap();
    let k = Kind::ALL[a[2].parse::<usize>().unwrap()];
    let sim = Simulator::load("assets/ct").unwrap();
    let c = StudyConfig { ap_share: 0.0, findings: FindingConfig { forced: Some(vec![FindingRequest { kind: k, side: None, severity: Some(Severity::Severe) }]), ..FindingConfig::default() }, ..StudyConfig::default() };
    let st = sim.study(seed, &c).unwrap();
    println!("{}\n{:?}", st.report.findings, st.findings);
    let p = &st.projection;
    let cnt = p.findings.iter().filter(|&&f| f != 0).count();
    let n = p.size; let (mut sx, mut sy) = (0f32, 0f32); for i in 0..n*n { if p.findings[i] != 0 { sx += (i % n) as f32; sy += (i / n) as f32; } } println!("finding rays {cnt} centroid at 512: {:.0} {:.0}", sx / cnt as f32 * 512.0 / n as f32, sy / cnt as f32 * 512.0 / n as f32);
    let c0 = StudyConfig { findings: FindingConfig { forced: Some(vec![]), ..FindingConfig::default() }, ..c.clone() };
    let st0 = sim.study(seed, &c0).unwrap();
    let mut d = 0f32; let mut dp = 0f32; for i in 0..n*n { if p.findings[i] != 0 { d = d.max(p.line[i] - st0.projection.line[i]); } }
    for i in 0..512*512 { dp = dp.max((st.pixels[i] as f32 - st0.pixels[i] as f32) / 65535.0); }
    println!("max dL {d:.3} max dpixel {dp:.3}");
    let g = image::GrayImage::from_raw(512, 512, st.pixels.iter().map(|&v| (v / 257) as u8).collect()).unwrap();
    g.save(format!("/tmp/sim/one_{}.png", a[2])).unwrap();
    let mut rgb = image::DynamicImage::ImageLuma8(g).to_rgb8();
    for (i, b) in st.boxes.iter().enumerate() {
        if ![0usize, 6, 7, 8, 14, 15, 24].contains(&i) { continue; }
        let c = image::Rgb([(i * 97 % 255) as u8, (i * 53 % 255) as u8, 255 - (i * 31 % 255) as u8]);
        let (x0, y0, x1, y1) = ((b[0] * 512.0) as u32, (b[1] * 512.0) as u32, ((b[2] * 512.0) as u32).min(511), ((b[3] * 512.0) as u32).min(511));
        for x in x0..=x1 { rgb.put_pixel(x, y0, c); rgb.put_pixel(x, y1, c); }
        for y in y0..=y1 { rgb.put_pixel(x0, y, c); rgb.put_pixel(x1, y, c); }
    }
    rgb.save(format!("/tmp/sim/one_ov_{}.png", a[2])).unwrap();
}
