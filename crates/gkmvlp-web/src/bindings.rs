//! The JavaScript face of [`crate::session`]: one class, `GkMvlpApp`, used by the page's Web Worker.
//!
//! Every method that touches the accelerator returns a `Promise` whose future owns what it needs
//! (reference-counted), so a second call while one runs never trips wasm-bindgen's borrow checker; the
//! worker still runs model requests one at a time, by design. Errors are JS `Error`s whose `name` is
//! one of the stable kinds of [`crate::ErrorKind`] (`WeightsError`, `ImageError`, ...), never panics.

use std::cell::RefCell;
use std::ops::ControlFlow;
use std::rc::Rc;

use burn::tensor::Device;
use js_sys::{Function, Promise};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::error::{ErrorKind, WebError};
use crate::session::{self, CheckedImage, OpenImage, Session};
use gkmvlp::storage::weights::WeightFiles;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Which backend runs the model. */
export interface BackendInfo {
  kind: "webgpu" | "flex";
  /** burn's view of the adapter, e.g. "BrowserWebGpu, Cpu". */
  detail: string;
  /** Why WebGPU is not used, when kind is "flex". */
  fallback_reason: string | null;
}
export interface ModelInfo {
  trained: boolean;
  manifest_sha256: string | null;
  preset: string;
  image_size: number;
  candidates: number;
  parameters: number;
  max_generated_tokens: number;
  findings_prompt: boolean;
}
export interface WindowInfo { center: number; width: number; }
export interface ImageInfo {
  width: number;
  height: number;
  format: "PNG" | "JPEG" | "DICOM";
  bits_stored: number;
  window: WindowInfo | null;
  value_range: [number, number] | null;
  invert: boolean;
  /** How many frames the file holds (more than 1: a multi-frame DICOM), and which is open (from 1). */
  frames: number;
  frame: number;
}
/** Whether an image looks like a frontal chest radiograph (gkmvlp-imaging's input check, as in the CLI). */
export interface InputCheck {
  /** False: refused; the model reads it only when asked to analyse it anyway. */
  chest_radiograph: boolean;
  /** Closeness to real chest films in [0, 1]; under 0.5 is refused. */
  score: number;
  /** Accepted, but far from the radiographs the model was trained on: outputs deserve less trust. */
  borderline: boolean;
  /** Why, in words a user understands. */
  reason: string;
  /** What the check measured, named by gkmvlp-imaging (its set changes as the check is refitted). */
  features: Record<string, number>;
}
/** What `open` tells about an upload before any model runs. */
export interface CheckedImageInfo {
  image: ImageInfo;
  input_check: InputCheck;
}
export interface RegionBox {
  index: number;
  name: string;
  /** [x0, y0, x1, y1] in [0, 1] of the image's width and height. */
  bbox: [number, number, number, number];
}
export interface GroundedFinding {
  entity: string;
  position: string;
  region_index: number;
  probability: number;
  /** Whether the probability reaches the finding's calibrated present threshold. */
  present: boolean;
  /** Attention of the knowledge token over the 29 regions. */
  region_attention: number[];
}
export interface ZeroShotScore { finding: string; probability: number; }
export interface StageTime { stage: string; ms: number; }
export interface SentenceCheck { sentence: string; match_probability: number; }
/** `source` says who answered: the findings list, the report decoder, or no one (`unanswerable`: the question
 * asks about a finding or in words the model does not know, and `text` says so). `finding` is set when the
 * question asked only whether a finding is present (at a region), or absent (`asks_absence`: its yes is the
 * finding not called), or where it is: the answer is then its ECLS probability against its threshold, as in
 * the findings list. */
export interface Answer {
  text: string;
  source: "findings" | "decoder" | "unanswerable";
  finding: { entity: string; position: string | null; probability: number; threshold: number; asks_absence: boolean } | null;
}
export interface ImageAnalysis {
  image: ImageInfo;
  input_check: InputCheck;
  regions: RegionBox[];
  findings: GroundedFinding[];
  zero_shot: ZeroShotScore[];
}
/** Names of the errors the methods throw. */
export type GkErrorName = "WeightsError" | "ImageError" | "InputError" | "DeviceError" | "StateError";
"#;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
    // cubecl reports WGSL compile errors through `log`; without a logger they vanish on wasm.
    let _ = console_log::init_with_level(log::Level::Warn);
}

fn js_error(e: WebError) -> JsValue {
    let error = js_sys::Error::new(&e.message);
    error.set_name(e.kind.name());
    error.into()
}

/// A result as a JavaScript value, through one JSON string: serde-wasm-bindgen crosses into JavaScript
/// once per field and number, which took 1.5–1.9 s for an analysis's 64 findings in Chromium.
fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    let cannot =
        |e: String| js_error(WebError::new(ErrorKind::State, format!("cannot pass the result to JavaScript: {e}")));
    let json = serde_json::to_string(value).map_err(|e| cannot(e.to_string()))?;
    js_sys::JSON::parse(&json).map_err(|e| cannot(format!("{e:?}")))
}

#[derive(Debug, Clone, Serialize)]
struct BackendInfo {
    kind: &'static str,
    detail: String,
    fallback_reason: Option<String>,
}

/// GK-MVLP on one device: load a model, open (decode and check) an image, analyse it, then ask about it.
#[wasm_bindgen]
pub struct GkMvlpApp {
    device: Device,
    backend: BackendInfo,
    session: Rc<RefCell<Option<Rc<Session>>>>,
    /// The image on display, decoded and checked; the model may not have read it.
    checked: Rc<RefCell<Option<Rc<CheckedImage>>>>,
    /// The model's encoding of `checked`, once analysed.
    image: Rc<RefCell<Option<Rc<OpenImage>>>>,
}

fn loaded(cell: &Rc<RefCell<Option<Rc<Session>>>>) -> Result<Rc<Session>, JsValue> {
    cell.borrow().clone().ok_or_else(|| js_error(WebError::state("the model is not loaded yet")))
}

fn displayed(cell: &Rc<RefCell<Option<Rc<CheckedImage>>>>) -> Result<Rc<CheckedImage>, JsValue> {
    cell.borrow().clone().ok_or_else(|| js_error(WebError::state("open an image first")))
}

fn analysed(cell: &Rc<RefCell<Option<Rc<OpenImage>>>>) -> Result<Rc<OpenImage>, JsValue> {
    cell.borrow().clone().ok_or_else(|| js_error(WebError::state("analyse the image first")))
}

#[wasm_bindgen]
impl GkMvlpApp {
    /// Starts the accelerator: `"webgpu"` tries WebGPU and falls back to burn's Flex CPU backend when
    /// there is no adapter (the reason is in `backend().fallback_reason`); `"flex"` uses Flex.
    pub async fn create(prefer: String) -> Result<GkMvlpApp, JsValue> {
        let (device, backend) = if prefer == "flex" {
            (
                Device::flex(),
                BackendInfo {
                    kind: "flex",
                    detail: "burn Flex (CPU, in wasm)".into(),
                    fallback_reason: Some("Flex was requested".into()),
                },
            )
        } else {
            match Device::wgpu_options().init_with_setup_async().await {
                Ok((device, setup)) => {
                    let info = setup.adapter.get_info();
                    let detail = format!(
                        "{:?}, {:?}{}",
                        setup.backend,
                        info.device_type,
                        if info.name.is_empty() { String::new() } else { format!(", {}", info.name) }
                    );
                    (device, BackendInfo { kind: "webgpu", detail, fallback_reason: None })
                }
                Err(e) => {
                    let reason = format!("no WebGPU adapter: {e:?}");
                    log::warn!("{reason}; falling back to Flex");
                    (
                        Device::flex(),
                        BackendInfo {
                            kind: "flex",
                            detail: "burn Flex (CPU, in wasm)".into(),
                            fallback_reason: Some(reason),
                        },
                    )
                }
            }
        };
        Ok(GkMvlpApp { device, backend, session: Rc::default(), checked: Rc::default(), image: Rc::default() })
    }

    #[wasm_bindgen(unchecked_return_type = "BackendInfo")]
    pub fn backend(&self) -> Result<JsValue, JsValue> {
        to_js(&self.backend)
    }

    /// Loads trained weights (the files of a weights folder; `knowledge` when the manifest lists
    /// `knowledge.safetensors`), checking each against the manifest.
    #[wasm_bindgen(js_name = loadWeights, unchecked_return_type = "ModelInfo")]
    pub fn load_weights(
        &self,
        manifest: Vec<u8>,
        model: Vec<u8>,
        tokenizer: Vec<u8>,
        knowledge: Option<Vec<u8>>,
    ) -> Result<JsValue, JsValue> {
        let files = WeightFiles { manifest_json: manifest, model, tokenizer_json: tokenizer, knowledge };
        let session = Session::from_weights(files, self.device.clone()).map_err(js_error)?;
        self.install(session)
    }

    /// Builds the untrained `tiny` model (seeded random weights) from a `tokenizer.json`.
    #[wasm_bindgen(js_name = loadUntrained, unchecked_return_type = "ModelInfo")]
    pub fn load_untrained(&self, tokenizer: &[u8]) -> Result<JsValue, JsValue> {
        let session = Session::untrained(tokenizer, self.device.clone()).map_err(js_error)?;
        self.install(session)
    }

    fn install(&self, session: Session) -> Result<JsValue, JsValue> {
        let info = session.model_info();
        // An image opened (decoded and checked: no model needed) while the model loaded stays open for
        // the new model to analyse; only an encoding made by an earlier model is dropped.
        *self.image.borrow_mut() = None;
        *self.session.borrow_mut() = Some(Rc::new(session));
        to_js(&info)
    }

    /// Checks one weights file against `manifest.json` (size and sha256); throws `WeightsError`.
    #[wasm_bindgen(js_name = verifyFile)]
    pub fn verify_file(manifest: &[u8], name: &str, bytes: &[u8]) -> Result<(), JsValue> {
        session::verify_file(manifest, name, bytes).map_err(js_error)
    }

    /// Runs every kernel once on a synthetic image (shader compilation).
    #[wasm_bindgen(js_name = warmUp, unchecked_return_type = "Promise<void>")]
    pub fn warm_up(&self) -> Promise {
        let cell = self.session.clone();
        future_to_promise(async move {
            loaded(&cell)?.warm_up().await.map_err(js_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Decodes a PNG, JPEG or DICOM and checks that it looks like a frontal chest radiograph; no model
    /// runs, and none need be loaded yet. `frame` picks the frame of a multi-frame DICOM, counted from 1
    /// (omitted: the first; one the file lacks is an `ImageError`). The image replaces the open one (its
    /// display pixels, its requests) even when refused.
    #[wasm_bindgen(unchecked_return_type = "CheckedImageInfo")]
    pub fn open(&self, image_bytes: &[u8], frame: Option<u32>) -> Result<JsValue, JsValue> {
        let checked = CheckedImage::decode_frame(image_bytes, frame).map_err(js_error)?;
        let info = checked.info();
        *self.image.borrow_mut() = None;
        *self.checked.borrow_mut() = Some(Rc::new(checked));
        to_js(&info)
    }

    /// Encodes the open image once and returns its regions, grounded findings and zero-shot scores; the
    /// encoding serves every later request. An image the input check refused is analysed only with
    /// `analyse_anyway` (else an `InputError` with the reason).
    #[wasm_bindgen(unchecked_return_type = "Promise<ImageAnalysis>")]
    pub fn analyze(&self, analyse_anyway: bool) -> Promise {
        let (session, checked, image) = (self.session.clone(), self.checked.clone(), self.image.clone());
        future_to_promise(async move {
            let (session, checked) = (loaded(&session)?, displayed(&checked)?);
            let open = Rc::new(session.encode(&checked, analyse_anyway).map_err(js_error)?);
            *image.borrow_mut() = Some(open.clone());
            to_js(&session.analyze(&open).await.map_err(js_error)?)
        })
    }

    /// How long each step of opening and analysing `image_bytes` takes, in ms (the benchmark's
    /// breakdown); leaves the open image as it is.
    #[wasm_bindgen(js_name = stageTimes, unchecked_return_type = "Promise<StageTime[]>")]
    pub fn stage_times(&self, image_bytes: Vec<u8>) -> Promise {
        let session = self.session.clone();
        future_to_promise(async move {
            let session = loaded(&session)?;
            to_js(&session.stage_times(&image_bytes).await.map_err(js_error)?)
        })
    }

    /// The open image's display pixels as RGBA (`width * height * 4` bytes).
    #[wasm_bindgen(js_name = displayPixels)]
    pub fn display_pixels(&self) -> Result<Vec<u8>, JsValue> {
        Ok(session::rgba(&displayed(&self.checked)?.radiograph))
    }

    /// The open DICOM's display pixels (RGBA) with another VOI window; the model's input is unchanged.
    #[wasm_bindgen(js_name = windowedPixels)]
    pub fn windowed_pixels(&self, center: f32, width: f32) -> Result<Vec<u8>, JsValue> {
        let checked = displayed(&self.checked)?;
        Ok(session::rgba(&session::rewindow(&checked.radiograph, center, width).map_err(js_error)?))
    }

    /// Zero-shot score of each finding text against the open image.
    #[wasm_bindgen(js_name = zeroShot, unchecked_return_type = "Promise<ZeroShotScore[]>")]
    pub fn zero_shot(&self, texts: Vec<String>) -> Promise {
        let (session, image) = (self.session.clone(), self.image.clone());
        future_to_promise(async move {
            let (session, image) = (loaded(&session)?, analysed(&image)?);
            to_js(&session.zero_shot(&image, &texts).await.map_err(js_error)?)
        })
    }

    /// Generates the report of the open image; `on_text` receives the decoder's whole text so far after
    /// each token, and stops the report there by returning `false` (the promise then resolves to the text
    /// so far). Otherwise the promise resolves to the report made to agree with the findings list, which
    /// may differ from the last text streamed.
    #[wasm_bindgen(js_name = generateReport, unchecked_return_type = "Promise<string>")]
    pub fn generate_report(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(text: string) => boolean | void")] on_text: Function,
    ) -> Promise {
        let (session, image) = (self.session.clone(), self.image.clone());
        future_to_promise(async move {
            let (session, image) = (loaded(&session)?, analysed(&image)?);
            let text = session
                .generate_report(&image, |text| match on_text.call1(&JsValue::NULL, &JsValue::from_str(text)) {
                    Ok(answer) if answer.as_bool() == Some(false) => ControlFlow::Break(()),
                    _ => ControlFlow::Continue(()),
                })
                .await
                .map_err(js_error)?;
            Ok(JsValue::from_str(&text))
        })
    }

    /// Answers a free-text question about the open image.
    #[wasm_bindgen(unchecked_return_type = "Promise<Answer>")]
    pub fn answer(&self, question: String) -> Promise {
        let (session, image) = (self.session.clone(), self.image.clone());
        future_to_promise(async move {
            let (session, image) = (loaded(&session)?, analysed(&image)?);
            to_js(&session.answer(&image, &question).await.map_err(js_error)?)
        })
    }

    /// ITM score of each sentence of `report` against the open image.
    #[wasm_bindgen(js_name = checkReport, unchecked_return_type = "Promise<SentenceCheck[]>")]
    pub fn check_report(&self, report: String) -> Promise {
        let (session, image) = (self.session.clone(), self.image.clone());
        future_to_promise(async move {
            let (session, image) = (loaded(&session)?, analysed(&image)?);
            to_js(&session.check_report(&image, &report).await.map_err(js_error)?)
        })
    }
}
