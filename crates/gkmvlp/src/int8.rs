//! int8 storage of weights: every matrix (tensors of rank ≥ 2) is stored as `i8` with one `f32` scale per
//! block of [`BLOCK`] consecutive values (symmetric: `scale = max |x| / 127`), under `<name>` and
//! `<name>.int8_scales`; vectors (biases, norms, the temperature) stay `f32`, since they are small and
//! sensitive; so do the modules the caller names (those whose rounding moves the outputs most). Loading dequantises back to an `f32` safetensors image, so every backend runs the same f32
//! kernels and the strict name and shape checks of `weights.rs` apply unchanged.

use safetensors::tensor::{Dtype, SafeTensors, TensorView, serialize};

use crate::error::{GkError, Result};

/// Values sharing one scale.
pub const BLOCK: usize = 64;
const SCALES_SUFFIX: &str = ".int8_scales";

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

/// Quantises an f32 safetensors file, leaving the tensors of `keep_f32` modules in f32.
pub fn quantize(f32_bytes: &[u8], file: &str, keep_f32: &[String]) -> Result<Vec<u8>> {
    let source = parse(f32_bytes, file)?;
    if let Some(unknown) = keep_f32.iter().find(|m| !source.names().iter().any(|name| inside(name, std::slice::from_ref(m)))) {
        return Err(GkError::weights(file, format!("no tensor lies in module `{unknown}` (to keep in f32)")));
    }
    let mut out = Vec::new();
    for (name, view) in source.tensors() {
        let shape = view.shape().to_vec();
        if view.dtype() != Dtype::F32 || shape.len() < 2 || inside(&name, keep_f32) {
            out.push((name, view.dtype(), shape, view.data().to_vec()));
            continue;
        }
        let values = f32s(view.data());
        let mut quantized = Vec::with_capacity(values.len());
        let mut scales = Vec::with_capacity(values.len().div_ceil(BLOCK));
        for block in values.chunks(BLOCK) {
            let scale = block.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
            scales.push(scale);
            quantized.extend(block.iter().map(|v| if scale > 0.0 { (v / scale).round().clamp(-127.0, 127.0) as i8 as u8 } else { 0 }));
        }
        out.push((format!("{name}{SCALES_SUFFIX}"), Dtype::F32, vec![scales.len()], le_bytes(&scales)));
        out.push((name, Dtype::I8, shape, quantized));
    }
    write(out, file)
}

/// Turns an int8 file back into f32 safetensors bytes.
pub fn dequantize(int8_bytes: &[u8], file: &str) -> Result<Vec<u8>> {
    let source = parse(int8_bytes, file)?;
    let mut out = Vec::new();
    for (name, view) in source.tensors() {
        if name.ends_with(SCALES_SUFFIX) {
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
        let values: Vec<f32> = data.iter().enumerate().map(|(i, &q)| q as i8 as f32 * scales[i / BLOCK]).collect();
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
        let int8_file = quantize(&f32_file, "t", &[]).unwrap();
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
        let int8_file = quantize(&f32_file, "t", &["gk_module".into()]).unwrap();
        let int8_file = SafeTensors::deserialize(&int8_file).unwrap();
        assert_eq!(int8_file.tensor("gk_module.layers.0.weight").unwrap().dtype(), Dtype::F32);
        assert_eq!(int8_file.tensor("gk_module_extra.weight").unwrap().dtype(), Dtype::I8, "a prefix of a name is not a module");
        let err = quantize(&f32_file, "t", &["ecls_head".into()]).unwrap_err().to_string();
        assert!(err.contains("ecls_head"), "{err}");
    }
}
