//! The whole tiny GK-MVLP forward in headless Chromium on WebGPU (SwiftShader on a machine without a GPU),
//! compared with the Flex backend in the same page. Without a WebGPU adapter the test fails: it never
//! skips.
#![cfg(target_arch = "wasm32")]

use burn::module::Module;
use burn::tensor::Device;
use gkmvlp::GkMvlpConfig;
use gkmvlp::inference::pipeline::{Pipeline, WeightsOrigin};
use gkmvlp::inference::reference_run;
use gkmvlp::tokenizer::TextTokenizer;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const TOKENIZER_JSON: &[u8] = include_bytes!("../../models/tokenizer.json");

fn pipeline(model: gkmvlp::GkMvlp, device: Device) -> Pipeline {
    let tokenizer = TextTokenizer::from_bytes(TOKENIZER_JSON).expect("tokenizer");
    Pipeline::new(
        model,
        GkMvlpConfig::tiny(),
        tokenizer,
        device,
        WeightsOrigin::Untrained { text_encoder_from_minilm: false },
    )
    .expect("pipeline")
}

#[wasm_bindgen_test]
async fn tiny_forward_on_webgpu_equals_flex() {
    console_error_panic_hook::set_once();
    let (webgpu, setup) = Device::wgpu_options()
        .init_with_setup_async()
        .await
        .unwrap_or_else(|e| panic!("no WebGPU adapter (Chromium needs --enable-unsafe-webgpu): {e:?}"));
    let info = setup.adapter.get_info();
    web_sys::console::log_1(&format!("WebGPU adapter: {info:?}").into());
    assert_eq!(format!("{:?}", setup.backend), "BrowserWebGpu", "must run on the browser's WebGPU");

    let flex_device = Device::flex();
    flex_device.seed(7);
    let model = GkMvlpConfig::tiny().init(&flex_device).expect("tiny initialises");
    let flex = reference_run::run(&pipeline(model.clone(), flex_device), 8).await.expect("flex run");
    let gpu = reference_run::run(&pipeline(model.to_device(&webgpu), webgpu), 8).await.expect("webgpu run");

    let diff = flex.max_abs_diff(&gpu);
    web_sys::console::log_1(&format!("max |flex - webgpu| = {diff:e}; tokens {:?}", gpu.tokens).into());
    assert!(diff <= 1e-3, "max abs diff {diff}");
    assert_eq!(flex.tokens.len(), 8);
    assert_eq!(flex.tokens, gpu.tokens);
}
