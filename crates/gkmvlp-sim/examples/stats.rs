use gkmvlp_sim::{Simulator, StudyConfig, render::{self, group}, rng::Rng};
fn pct(mut v: Vec<f32>, p: &[f32]) -> Vec<f32> { v.sort_by(f32::total_cmp); p.iter().map(|q| v[((v.len()-1) as f32 * q) as usize]).collect() }
fn main() {
    let sim = Simulator::load("assets/ct").unwrap();
    let cfg = StudyConfig::default();
    let mut rng = Rng::new(0);
    let pose = sim.sample_pose(&mut rng, &cfg);
    let geo = render::Geometry::new(&sim.phantom, &pose, 256);
    let warp = render::Warp { hinge_z: 0.0, inspiration: 1.0, heart_c: [0.0;3], heart_r: 1.0, heart_scale: 1.0 };
    let p = render::march(&sim.phantom, &geo, &warp, &[]);
    let sel = |f: &dyn Fn(u32) -> bool| p.line.iter().zip(&p.labels).filter(|(_, l)| f(**l)).map(|(a, _)| *a).collect::<Vec<_>>();
    let lung = sel(&|l| l & (group::R_LUNG|group::L_LUNG) != 0 && l & (group::HEART|group::SPINE|group::LIVER) == 0);
    let heart = sel(&|l| l & group::HEART != 0 && l & group::SPINE == 0 && l & (group::R_LUNG|group::L_LUNG) == 0);
    let spine = sel(&|l| l & group::SPINE != 0 && l & group::HEART != 0);
    let liver = sel(&|l| l & group::LIVER != 0 && l & (group::R_LUNG|group::L_LUNG) == 0);
    let all = p.line.clone();
    for (n, v) in [("lung", lung), ("heart", heart), ("spine+heart", spine), ("liver", liver), ("all", all)] {
        println!("{n}: {} {:?}", v.len(), pct(v, &[0.01, 0.1, 0.5, 0.9, 0.99]));
    }
}
