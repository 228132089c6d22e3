//! int8 storage of weights: every matrix (tensors of rank ≥ 2) is stored as `i8` with one `f32` scale per
//! block of [`BLOCK`] consecutive values (symmetric: `scale = max |x| / 127`), under `<name>` and
//! `<name>.int8_scales`; vectors (biases, norms, the temperature) stay `f32`, since they are small and
//! sensitive. Two finer precisions serve the modules the caller names (those whose rounding moves the
//! outputs most): f32, or 10-bit integers (`scale = max |x| / 511`), stored as their high 8 bits in the
//! `i8` tensor plus their 2 low bits, four to a byte, in `<name>.int10_low`: a quarter more bytes than int8
//! and a quarter of the rounding error. Loading dequantises back to an `f32` safetensors image, so every
//! backend runs the same f32 kernels and the strict name and shape checks of `weights.rs` apply unchanged.

use safetensors::tensor::{Dtype, SafeTensors, TensorView, serialize};

use crate::error::{GkError, Result};

/// Values sharing one scale.
pub const BLOCK: usize = 64;
const SCALES_SUFFIX: &str = ".int8_scales";
const LOW_BITS_SUFFIX: &str = ".int10_low";

/// The precisions of [`quantize`], by module path (`gk_module`, `text_decoder.layers.1`); every other
/// matrix is int8.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Precision {
    pub keep_f32: Vec<String>,
    pub int10: Vec<String>,
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn parse<'a>(bytes: &'a [u8], file: &str) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|e| GkError::weights(file, format!("not a safetensors file: {e}")))
}

fn write(tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>, file: &str) -> Result<Vec<u8>> {
    let views = tensors
        .iter()
        .map(|(name, dtype, shape, data)| {
            TensorView::new(*dtype, shape.clone(), data).map(|view| (name.clone(), view)).map_err(|e| GkError::weights(file, format!("{name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    serialize(views, None).map_err(|e| GkError::weights(file, format!("cannot serialise: {e}")))
}

/// Whether tensor `name` lies in one of `modules` (module paths such as `gk_module` or `text_decoder.layers.1`).
fn inside(name: &str, modules: &[String]) -> bool {
    modules.iter().any(|m| name.strip_prefix(m.as_str()).is_some_and(|rest| rest.starts_with('.')))
}

/// Quantises an f32 safetensors file: int8, except the modules `precision` names.
pub fn quantize(f32_bytes: &[u8], file: &str, precision: &Precision) -> Result<Vec<u8>> {
    let source = parse(f32_bytes, file)?;
    for (modules, what) in [(&precision.keep_f32, "to keep in f32"), (&precision.int10, "to store in 10 bits")] {
        if let Some(unknown) = modules.iter().find(|m| !source.names().iter().any(|name| inside(name, std::slice::from_ref(m)))) {
            return Err(GkError::weights(file, format!("no tensor lies in module `{unknown}` ({what})")));
        }
    }
    let mut out = Vec::new();
    for (name, view) in source.tensors() {
        let shape = view.shape().to_vec();
        if view.dtype() != Dtype::F32 || shape.len() < 2 || inside(&name, &precision.keep_f32) {
            out.push((name, view.dtype(), shape, view.data().to_vec()));
            continue;
        }
        let int10 = inside(&name, &precision.int10);
        let levels = if int10 { 511.0 } else { 127.0 };
        let values = f32s(view.data());
        let mut quantized = Vec::with_capacity(values.len());
        let mut scales = Vec::with_capacity(values.len().div_ceil(BLOCK));
        for block in values.chunks(BLOCK) {
            let scale = block.iter().fold(0.0f32, |m, v| m.max(v.abs())) / levels;
            scales.push(scale);
            quantized.extend(block.iter().map(|v| if scale > 0.0 { (v / scale).round().clamp(-levels, levels) as i32 } else { 0 }));
        }
        out.push((format!("{name}{SCALES_SUFFIX}"), Dtype::F32, vec![scales.len()], le_bytes(&scales)));
        if int10 {
            // q = 4 · high + low, with high = floor(q / 4) in [-128, 127] and low in 0..4.
            let low: Vec<u8> = quantized.chunks(4).map(|four| four.iter().enumerate().fold(0u8, |byte, (i, q)| byte | (((q & 3) as u8) << (2 * i)))).collect();
            out.push((format!("{name}{LOW_BITS_SUFFIX}"), Dtype::U8, vec![low.len()], low));
        }
        let high = quantized.iter().map(|&q| if int10 { q >> 2 } else { q } as i8 as u8).collect();
        out.push((name, Dtype::I8, shape, high));
    }
    write(out, file)
}

/// Turns an int8 file back into f32 safetensors bytes.
pub fn dequantize(int8_bytes: &[u8], file: &str) -> Result<Vec<u8>> {
    let source = parse(int8_bytes, file)?;
    let mut out = Vec::new();
    for (name, view) in source.tensors() {
        if name.ends_with(SCALES_SUFFIX) || name.ends_with(LOW_BITS_SUFFIX) {
            continue;
        }
        if view.dtype() != Dtype::I8 {
            out.push((name, view.dtype(), view.shape().to_vec(), view.data().to_vec()));
            continue;
        }
        let scales_name = format!("{name}{SCALES_SUFFIX}");
        let scales = source
            .tensor(&scales_name)
            .map_err(|_| GkError::weights(file, format!("int8 tensor `{name}` has no `{scales_name}`")))?;
        let scales = f32s(scales.data());
        let data = view.data();
        if scales.len() != data.len().div_ceil(BLOCK) {
            return Err(GkError::weights(file, format!("`{scales_name}` has {} scales for {} values", scales.len(), data.len())));
        }
        let low_name = format!("{name}{LOW_BITS_SUFFIX}");
        let low = source.tensor(&low_name).ok().map(|low| low.data().to_vec());
        if low.as_ref().is_some_and(|low| low.len() != data.len().div_ceil(4)) {
            return Err(GkError::weights(file, format!("`{low_name}` does not fit {} values", data.len())));
        }
        let values: Vec<f32> = data
            .iter()
            .enumerate()
            .map(|(i, &high)| {
                let q = match &low {
                    Some(low) => 4 * (high as i8 as i32) + ((low[i / 4] >> (2 * (i % 4))) & 3) as i32,
                    None => high as i8 as i32,
                };
                q as f32 * scales[i / BLOCK]
            })
            .collect();
        out.push((name, Dtype::F32, view.shape().to_vec(), le_bytes(&values)));
    }
    write(out, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_close_and_vectors_stay_exact() {
        let matrix: Vec<f32> = (0..300).map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0).collect();
        let bias = vec![0.1f32, -0.2, 0.3];
        let f32_file = write(
            vec![
                ("m".into(), Dtype::F32, vec![3, 100], le_bytes(&matrix)),
                ("b".into(), Dtype::F32, vec![3], le_bytes(&bias)),
            ],
            "t",
        )
        .unwrap();
        let int8_file = quantize(&f32_file, "t", &Precision::default()).unwrap();
        assert!(int8_file.len() < f32_file.len() / 2);
        let back = dequantize(&int8_file, "t").unwrap();
        let back = SafeTensors::deserialize(&back).unwrap();
        assert_eq!(f32s(back.tensor("b").unwrap().data()), bias);
        let restored = f32s(back.tensor("m").unwrap().data());
        for (block, (a, b)) in matrix.chunks(BLOCK).zip(restored.chunks(BLOCK)).enumerate() {
            let step = a.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() <= step / 2.0 + 1e-6, "block {block}: {x} vs {y}");
            }
        }
        assert!(dequantize(b"junk", "w.safetensors").unwrap_err().to_string().contains("w.safetensors"));
    }

    #[test]
    fn named_modules_stay_f32() {
        let matrix = le_bytes(&[0.5f32; 128]);
        let f32_file = write(
            vec![
                ("gk_module.layers.0.weight".into(), Dtype::F32, vec![2, 64], matrix.clone()),
                ("gk_module_extra.weight".into(), Dtype::F32, vec![2, 64], matrix.clone()),
            ],
            "t",
        )
        .unwrap();
        let int8_file = quantize(&f32_file, "t", &Precision { keep_f32: vec!["gk_module".into()], ..Default::default() }).unwrap();
        let int8_file = SafeTensors::deserialize(&int8_file).unwrap();
        assert_eq!(int8_file.tensor("gk_module.layers.0.weight").unwrap().dtype(), Dtype::F32);
        assert_eq!(int8_file.tensor("gk_module_extra.weight").unwrap().dtype(), Dtype::I8, "a prefix of a name is not a module");
        let err = quantize(&f32_file, "t", &Precision { int10: vec!["ecls_head".into()], ..Default::default() }).unwrap_err().to_string();
        assert!(err.contains("ecls_head"), "{err}");
    }

    #[test]
    fn ten_bits_round_trip_within_a_quarter_of_the_int8_step() {
        // 301 values: the last byte of low bits is partly filled; negative values exercise floor division.
        let matrix: Vec<f32> = (0..301).map(|i| ((i * 53 % 211) as f32 - 105.0) / 13.0).collect();
        let f32_file = write(vec![("image.weight".into(), Dtype::F32, vec![7, 43], le_bytes(&matrix)), ("text.weight".into(), Dtype::F32, vec![7, 43], le_bytes(&matrix))], "t").unwrap();
        let precision = Precision { int10: vec!["image".into()], ..Default::default() };
        let stored = quantize(&f32_file, "t", &precision).unwrap();
        let back = dequantize(&stored, "t").unwrap();
        let back = SafeTensors::deserialize(&back).unwrap();
        let error = |name: &str| {
            let restored = f32s(back.tensor(name).unwrap().data());
            let mut worst = 0.0f32;
            for (block, (a, b)) in matrix.chunks(BLOCK).zip(restored.chunks(BLOCK)).enumerate() {
                let step = a.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 511.0;
                for (x, y) in a.iter().zip(b) {
                    assert!(name != "image.weight" || (x - y).abs() <= step / 2.0 + 1e-6, "block {block}: {x} vs {y}");
                    worst = worst.max((x - y).abs());
                }
            }
            worst
        };
        let (ten, eight) = (error("image.weight"), error("text.weight"));
        assert!(ten < eight / 3.0, "10 bits {ten}, 8 bits {eight}");
        assert_eq!(back.names().len(), 2, "no side tensor survives dequantisation");

        // Low bits that do not fit their tensor are refused.
        let stored = SafeTensors::deserialize(&stored).unwrap();
        let mut tensors: Vec<_> = stored.tensors().into_iter().map(|(name, view)| (name, view.dtype(), view.shape().to_vec(), view.data().to_vec())).collect();
        for (name, _, shape, data) in &mut tensors {
            if name.ends_with(LOW_BITS_SUFFIX) {
                data.pop();
                shape[0] -= 1;
            }
        }
        let err = dequantize(&write(tensors, "t").unwrap(), "w.safetensors").unwrap_err().to_string();
        assert!(err.contains("int10_low") && err.contains("w.safetensors"), "{err}");
    }
}
