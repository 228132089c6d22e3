use gkmvlp_sim::{Simulator, StudyConfig};
fn main() {
    let sim = Simulator::load("assets/ct").unwrap();
    let ph = &sim.phantom;
    println!("body_box {:?} dy {} ny {}", ph.body_box, ph.dy, ph.ny);
    let cfg = StudyConfig::default();
    let t = std::time::Instant::now();
    for s in 0..10 { let _ = sim.study(s, &cfg).unwrap(); }
    println!("10 studies {:?}", t.elapsed());
}
