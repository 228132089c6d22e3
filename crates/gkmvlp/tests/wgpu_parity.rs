//! The whole tiny forward (image → boxes → GK → ECLS → ITM → 8 greedy tokens) on wgpu, natively over
//! Vulkan (lavapipe on a machine without a GPU), equals the Flex backend's within 1e-3.

mod common;

use std::sync::OnceLock;

use burn::module::Module;
use burn::tensor::Device;
use gkmvlp::GkMvlpConfig;
use gkmvlp::inference::reference_run;

/// The wgpu device, set up once: a process sets up the default wgpu device only once.
fn wgpu() -> Device {
    static WGPU: OnceLock<Device> = OnceLock::new();
    WGPU.get_or_init(|| {
        let (device, setup) = Device::wgpu_options()
            .init_with_setup()
            .unwrap_or_else(|e| panic!("no wgpu adapter (install mesa-vulkan-drivers for lavapipe): {e:?}"));
        eprintln!("wgpu adapter: {:?}", setup.adapter.get_info());
        device
    })
    .clone()
}

fn assert_wgpu_equals_flex(config: GkMvlpConfig) {
    let wgpu = wgpu();
    let model = common::model(&config, 7);
    let flex = pollster::block_on(reference_run::run(
        &common::pipeline_with(model.clone(), config.clone(), Device::flex()),
        8,
    ))
    .unwrap();
    let gpu = pollster::block_on(reference_run::run(&common::pipeline_with(model.to_device(&wgpu), config, wgpu), 8))
        .unwrap();

    let diff = flex.max_abs_diff(&gpu);
    eprintln!("max |flex - wgpu| = {diff:e}");
    assert!(diff <= 1e-3, "max abs diff {diff}");
    assert_eq!(flex.tokens.len(), 8);
    assert_eq!(flex.tokens, gpu.tokens);
}

#[test]
fn tiny_forward_on_wgpu_equals_flex() {
    assert_wgpu_equals_flex(GkMvlpConfig::tiny());
}

/// With `region_patches` the GK module also masks the image patches by the predicted boxes (int and bool
/// kernels that the plain forward does not use).
#[test]
fn tiny_forward_with_region_patches_on_wgpu_equals_flex() {
    assert_wgpu_equals_flex(GkMvlpConfig::tiny().with_region_patches(true));
}
