//! The whole tiny forward (image → boxes → GK → ECLS → ITM → 8 greedy tokens) on wgpu, natively over
//! Vulkan (lavapipe on a machine without a GPU), equals the Flex backend's within 1e-3.

mod common;

use burn::module::Module;
use burn::tensor::Device;
use gkmvlp::reference_run;

#[test]
fn tiny_forward_on_wgpu_equals_flex() {
    let (wgpu, setup) = Device::wgpu_options()
        .init_with_setup()
        .unwrap_or_else(|e| panic!("no wgpu adapter (install mesa-vulkan-drivers for lavapipe): {e:?}"));
    eprintln!("wgpu adapter: {:?}", setup.adapter.get_info());

    let model = common::tiny_model(7);
    let flex = pollster::block_on(reference_run::run(&common::pipeline(model.clone(), Device::flex()), 8)).unwrap();
    let gpu = pollster::block_on(reference_run::run(&common::pipeline(model.to_device(&wgpu), wgpu), 8)).unwrap();

    let diff = flex.max_abs_diff(&gpu);
    eprintln!("max |flex - wgpu| = {diff:e}");
    assert!(diff <= 1e-3, "max abs diff {diff}");
    assert_eq!(flex.tokens.len(), 8);
    assert_eq!(flex.tokens, gpu.tokens);
}
