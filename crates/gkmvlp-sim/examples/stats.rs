use gkmvlp_sim::{Simulator, StudyConfig, render, detector, rng::Rng, anatomy};
fn main() {
    let sim = Simulator::load("assets/ct").unwrap();
    let cfg = StudyConfig::default();
    let mut rng = Rng::new(0);
    let pose = sim.sample_pose(&mut rng, &cfg);
    let ex = sim.sample_exposure(&mut rng, &cfg, 512);
    let geo = render::Geometry::new(&sim.phantom, &pose, 256);
    let warp = render::Warp { hinge_z: sim.phantom.carina[2], inspiration: 1.1, heart_c: sim.phantom.heart_center, heart_r: sim.phantom.heart_radius*2.2, heart_scale: 0.93 };
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let p = render::march(&sim.phantom, &geo, &warp, &[]);
        let t1 = t.elapsed();
        let a = anatomy::derive(&p).unwrap();
        let t2 = t.elapsed();
        let line = detector::resample(&p.line, 256, 512);
        let dev = vec![0f32; 512*512];
        let img = detector::expose(&line, &dev, 512, &ex, &mut rng);
        let t3 = t.elapsed();
        let st = sim.study(1, &cfg).unwrap();
        let t4 = t.elapsed();
        gkmvlp_sim::dataset::write_png(std::path::Path::new("/tmp/sim/x.png"), 512, 512, &st.pixels, 8).unwrap();
        let t5 = t.elapsed();
        println!("march {t1:?} anatomy {:?} expose {:?} study {:?} png {:?} {} {}", t2 - t1, t3 - t2, t4 - t3, t5 - t4, a.ctr, img.len() + st.width);
    }
}
