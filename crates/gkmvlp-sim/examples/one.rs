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
    image::GrayImage::from_raw(512, 512, st.pixels.iter().map(|&v| (v / 257) as u8).collect()).unwrap().save(format!("/tmp/sim/one_{}.png", a[2])).unwrap();
}
