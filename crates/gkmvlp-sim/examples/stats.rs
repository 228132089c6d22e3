use gkmvlp_sim::{Simulator, StudyConfig, render, rng::Rng};
fn main() {
    let sim = Simulator::load("assets/ct").unwrap();
    let cfg = StudyConfig::default();
    let mut rng = Rng::derive(0, 1);
    let pose = sim.sample_pose(&mut rng, &cfg);
    let geo = render::Geometry::new(&sim.phantom, &pose, 256);
    let warp = render::Warp { hinge_z: sim.phantom.carina[2], inspiration: pose.inspiration, heart_c: sim.phantom.heart_center, heart_r: sim.phantom.heart_radius*1.6, heart_scale: pose.heart_scale };
    let p = render::march(&sim.phantom, &geo, &warp, &[]);
    for x in [30usize, 60, 90] {
        for y in (140..230).step_by(6) {
            let o = y * 256 + x;
            println!("x {x} y {y} L {:.2} lung {:.0} bits {:b}", p.line[o], p.lung_mm[o][0], p.labels[o]);
        }
    }
    let ph = &sim.phantom;
    let mut c = std::collections::HashMap::new();
    for l in &ph.label { *c.entry(*l).or_insert(0) += 1; }
    println!("liver {:?} lungR {:?} bronchi {:?} trachea {:?}", c.get(&5), c.get(&14), c.get(&200), c.get(&16));
}
