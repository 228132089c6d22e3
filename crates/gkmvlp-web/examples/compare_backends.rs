//! Untrained session on Flex and on wgpu (native): same findings? `cargo run --release -p gkmvlp-web --example compare_backends -- IMAGE`
use burn::tensor::Device;
use gkmvlp_web::session::{CheckedImage, Session};

fn main() {
    let path = std::env::args().nth(1).expect("image");
    let bytes = std::fs::read(path).unwrap();
    let tokenizer = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/tokenizer.json")).unwrap();
    let run = |device: Device| {
        let s = Session::untrained(&tokenizer, device).unwrap();
        // The untrained network reads anything: both backends must agree on every image.
        let image = s.encode(&CheckedImage::decode(&bytes).unwrap(), true).unwrap();
        let a = pollster::block_on(s.analyze(&image)).unwrap();
        a.findings
            .iter()
            .take(3)
            .map(|f| format!("{} {} {:.4}", f.entity, f.position, f.probability))
            .collect::<Vec<_>>()
    };
    println!("flex  {:?}", run(Device::flex()));
    println!("flex2 {:?}", run(Device::flex()));
    let (wgpu, _) = Device::wgpu_options().init_with_setup().unwrap();
    println!("wgpu  {:?}", run(wgpu));
}
