use gkmvlp_sim::{Simulator, StudyConfig};
fn main() {
    let dir = std::env::args().nth(1).unwrap_or("assets/ct".into());
    let n: u64 = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(4);
    let t = std::time::Instant::now();
    let sim = Simulator::load(&dir).unwrap();
    eprintln!("load {:?} vol {}x{}x{}", t.elapsed(), sim.phantom.nx, sim.phantom.ny, sim.phantom.nz);
    let cfg = StudyConfig::default();
    for s in 0..n {
        let t = std::time::Instant::now();
        let st = sim.study(s, &cfg).unwrap();
        eprintln!("study {s} {:?} view {:?} ctr {:.2}\n  {:?}\n  F: {}\n  I: {}", t.elapsed(), st.pose.view, st.anatomy.ctr, st.findings.iter().map(|f| (f.name.clone(), f.side, f.severity, f.positions.clone())).collect::<Vec<_>>(), st.report.findings, st.report.impression);
        let img = image::ImageBuffer::<image::Luma<u16>, _>::from_raw(st.width as u32, st.height as u32, st.pixels.clone()).unwrap();
        let img8 = image::DynamicImage::ImageLuma16(img).to_luma8();
        let mut rgb = image::DynamicImage::ImageLuma8(img8).to_rgb8();
        for r in gkmvlp_vocab::Region::ALL { let b = st.boxes[r.index()]; eprintln!("   {:28} {:4.0} {:4.0} {:4.0} {:4.0}", r.name(), b[0]*512.0, b[1]*512.0, b[2]*512.0, b[3]*512.0); }
        let sel: Vec<usize> = std::env::var("REG").ok().map(|v| v.split(',').map(|x| x.parse().unwrap()).collect()).unwrap_or((0..29).collect());
        for (i, b) in st.boxes.iter().enumerate() { if !sel.contains(&i) { continue; }
            let c = [(i * 97 % 255) as u8, (i * 53 % 255) as u8, 255 - (i * 31 % 255) as u8];
            let w = st.width as f32;
            let (x0, y0, x1, y1) = ((b[0] * w) as u32, (b[1] * w) as u32, ((b[2] * w) as u32).min(st.width as u32 - 1), ((b[3] * w) as u32).min(st.width as u32 - 1));
            for x in x0..=x1 { rgb.put_pixel(x, y0, image::Rgb(c)); rgb.put_pixel(x, y1, image::Rgb(c)); }
            for y in y0..=y1 { rgb.put_pixel(x0, y, image::Rgb(c)); rgb.put_pixel(x1, y, image::Rgb(c)); }
        }
        rgb.save(format!("/tmp/sim/ov{s}.png")).unwrap();
        image::DynamicImage::ImageLuma16(image::ImageBuffer::from_raw(st.width as u32, st.height as u32, st.pixels).unwrap()).to_luma8().save(format!("/tmp/sim/img{s}.png")).unwrap();
    }
}
