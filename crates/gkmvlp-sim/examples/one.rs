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
    println!("finding rays {cnt}");
    image::GrayImage::from_raw(512, 512, st.pixels.iter().map(|&v| (v / 257) as u8).collect()).unwrap().save(format!("/tmp/sim/one_{}.png", a[2])).unwrap();
}
