//! int8 storage of weights: every matrix (tensors of rank ≥ 2) is stored as `i8` with one `f32` scale per
//! block of [`BLOCK`] consecutive values (symmetric: `scale = max |x| / 127`), under `<name>` and
//! `<name>.int8_scales`; vectors (biases, norms, the temperature) stay `f32`, since they are small and
//! sensitive. Two finer precisions serve the modules the caller names (those whose rounding moves the
//! outputs most): f32, or integers of 9 to 16 bits (`scale = max |x| / (2^(bits-1) - 1)`), stored as their
//! high 8 bits in the `i8` tensor plus their `bits - 8` low bits, packed end to end, in `<name>.low<k>`: each
//! extra bit costs an eighth of the int8 bytes and halves the rounding error. Loading dequantises back to
//! an `f32` safetensors image, so every backend runs the same f32 kernels and the strict name and shape
//! checks of `weights.rs` apply unchanged.

use safetensors::tensor::{Dtype, SafeTensors, TensorView, serialize};

use crate::error::{GkError, Result};

/// Values sharing one scale.
pub const BLOCK: usize = 64;
const SCALES_SUFFIX: &str = ".int8_scales";
/// `<name>.low<k>` holds k low bits a value.
const LOW_BITS_SUFFIX: &str = ".low";
/// The 2 low bits of 10-bit files written before other widths existed; the same packing as `.low2`.
const LEGACY_LOW2_SUFFIX: &str = ".int10_low";
/// The widths [`Precision::finer_bits`] may take.
pub const FINER_BITS: std::ops::RangeInclusive<u32> = 9..=16;

/// The precisions of [`quantize`], by module path (`gk_module`, `text_decoder.layers.1`); every other
/// matrix is int8.
#[derive(Debug, Clone, PartialEq)]
pub struct Precision {
    pub keep_f32: Vec<String>,
    /// Modules stored in finer integers: `module` in `finer_bits` bits, `module:bits` in a width of its own
    /// (the region head, whose boxes every pooled region feature depends on, may need more bits than the ViT).
    pub finer: Vec<String>,
    pub finer_bits: u32,
}

impl Precision {
    /// Each [`Precision::finer`] module with its width, checked.
    fn finer_widths(&self) -> Result<Vec<(String, u32)>> {
        self.finer
            .iter()
            .map(|entry| {
                let (module, bits) = match entry.rsplit_once(':') {
                    Some((module, bits)) => (
                        module,
                        bits.parse::<u32>().map_err(|_| {
                            GkError::Config(format!("`{entry}`: the width after `:` is not a whole number"))
                        })?,
                    ),
                    None => (entry.as_str(), self.finer_bits),
                };
                if !FINER_BITS.contains(&bits) {
                    return Err(GkError::Config(format!(
                        "finer storage takes {} to {} bits, not {bits} (`{entry}`)",
                        FINER_BITS.start(),
                        FINER_BITS.end()
                    )));
                }
                Ok((module.to_string(), bits))
            })
            .collect()
    }
}

impl Default for Precision {
    fn default() -> Self {
        Precision { keep_f32: Vec::new(), finer: Vec::new(), finer_bits: 10 }
    }
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The low `bits` bits of each value, end to end from the least significant bit of the first byte.
fn pack_low_bits(values: &[i32], bits: u32) -> Vec<u8> {
    let mut packed = vec![0u8; (values.len() * bits as usize).div_ceil(8)];
    for (i, &v) in values.iter().enumerate() {
        for b in 0..bits as usize {
            if (v >> b) & 1 == 1 {
                let at = i * bits as usize + b;
                packed[at / 8] |= 1 << (at % 8);
            }
        }
    }
    packed
}

/// Value `i` of [`pack_low_bits`]'s output.
fn low_bits_at(packed: &[u8], bits: u32, i: usize) -> i32 {
    (0..bits as usize).fold(0, |v, b| {
        let at = i * bits as usize + b;
        v | (((packed[at / 8] >> (at % 8)) & 1) as i32) << b
    })
}

fn parse<'a>(bytes: &'a [u8], file: &str) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|e| GkError::weights(file, format!("not a safetensors file: {e}")))
}

fn write(tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>, file: &str) -> Result<Vec<u8>> {
    let views = tensors
        .iter()
        .map(|(name, dtype, shape, data)| {
            TensorView::new(*dtype, shape.clone(), data)
                .map(|view| (name.clone(), view))
                .map_err(|e| GkError::weights(file, format!("{name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    serialize(views, None).map_err(|e| GkError::weights(file, format!("cannot serialise: {e}")))
}

/// Whether tensor `name` lies in one of `modules` (module paths such as `gk_module` or `text_decoder.layers.1`),
/// or is one of them: a parameter held directly by a module, such as `region_head.queries`, is named as itself.
fn inside(name: &str, modules: &[String]) -> bool {
    modules.iter().any(|m| name.strip_prefix(m.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('.')))
}

/// Whether module paths `a` and `b` overlap (one is, or contains, the other).
fn overlap(a: &str, b: &str) -> bool {
    inside(a, &[b.to_string()]) || inside(b, &[a.to_string()])
}

/// Quantises an f32 safetensors file: int8, except the modules `precision` names.
pub fn quantize(f32_bytes: &[u8], file: &str, precision: &Precision) -> Result<Vec<u8>> {
    let finer = precision.finer_widths()?;
    let named: Vec<(&String, String)> = precision
        .keep_f32
        .iter()
        .map(|m| (m, "to keep in f32".to_string()))
        .chain(finer.iter().map(|(m, bits)| (m, format!("to store in {bits} bits"))))
        .collect();
    for (i, (a, what_a)) in named.iter().enumerate() {
        if let Some((b, what_b)) = named[i + 1..].iter().find(|(b, _)| overlap(a, b)) {
            return Err(GkError::Config(format!(
                "module `{a}` ({what_a}) and `{b}` ({what_b}) overlap: name each once"
            )));
        }
    }
    let source = parse(f32_bytes, file)?;
    if let Some((unknown, what)) =
        named.iter().find(|(m, _)| !source.names().iter().any(|name| inside(name, std::slice::from_ref(*m))))
    {
        return Err(GkError::weights(file, format!("no tensor lies in module `{unknown}` ({what})")));
    }
    let mut out = Vec::new();
    for (name, view) in source.tensors() {
        let shape = view.shape().to_vec();
        if view.dtype() != Dtype::F32 || shape.len() < 2 || inside(&name, &precision.keep_f32) {
            out.push((name, view.dtype(), shape, view.data().to_vec()));
            continue;
        }
        let low_bits = finer
            .iter()
            .find(|(module, _)| inside(&name, std::slice::from_ref(module)))
            .map_or(0, |(_, bits)| bits - 8);
        let levels = ((1i32 << (7 + low_bits)) - 1) as f32;
        let values = f32s(view.data());
        let mut quantized = Vec::with_capacity(values.len());
        let mut scales = Vec::with_capacity(values.len().div_ceil(BLOCK));
        for block in values.chunks(BLOCK) {
            let scale = block.iter().fold(0.0f32, |m, v| m.max(v.abs())) / levels;
            scales.push(scale);
            quantized.extend(
                block.iter().map(|v| if scale > 0.0 { (v / scale).round().clamp(-levels, levels) as i32 } else { 0 }),
            );
        }
        out.push((format!("{name}{SCALES_SUFFIX}"), Dtype::F32, vec![scales.len()], le_bytes(&scales)));
        if low_bits > 0 {
            // q = 2^k · high + low, with high = floor(q / 2^k) in [-128, 127] and low in 0..2^k.
            let low = pack_low_bits(&quantized, low_bits);
            out.push((format!("{name}{LOW_BITS_SUFFIX}{low_bits}"), Dtype::U8, vec![low.len()], low));
        }
        let high = quantized.iter().map(|&q| (q >> low_bits) as i8 as u8).collect();
        out.push((name, Dtype::I8, shape, high));
    }
    write(out, file)
}

/// The low bits stored beside int8 tensor `name`, and their width, if any.
fn low_bits_of<'a>(source: &'a SafeTensors, name: &str) -> Option<(String, u32, TensorView<'a>)> {
    let legacy = format!("{name}{LEGACY_LOW2_SUFFIX}");
    (1..=8)
        .map(|k| (format!("{name}{LOW_BITS_SUFFIX}{k}"), k))
        .chain([(legacy, 2)])
        .find_map(|(low_name, k)| source.tensor(&low_name).ok().map(|view| (low_name, k, view)))
}

/// Turns an int8 file back into f32 safetensors bytes.
pub fn dequantize(int8_bytes: &[u8], file: &str) -> Result<Vec<u8>> {
    let source = parse(int8_bytes, file)?;
    let mut out = Vec::new();
    for (name, view) in source.tensors() {
        if name.ends_with(SCALES_SUFFIX)
            || name.ends_with(LEGACY_LOW2_SUFFIX)
            || name.rsplit_once(LOW_BITS_SUFFIX).is_some_and(|(_, k)| k.parse::<u32>().is_ok())
        {
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
            return Err(GkError::weights(
                file,
                format!("`{scales_name}` has {} scales for {} values", scales.len(), data.len()),
            ));
        }
        let low = low_bits_of(&source, &name);
        if let Some((low_name, k, low)) = &low
            && low.data().len() != (data.len() * *k as usize).div_ceil(8)
        {
            return Err(GkError::weights(file, format!("`{low_name}` does not fit {} values of {k} bits", data.len())));
        }
        let values: Vec<f32> = data
            .iter()
            .enumerate()
            .map(|(i, &high)| {
                let q = match &low {
                    Some((_, k, low)) => ((high as i8 as i32) << k) + low_bits_at(low.data(), *k, i),
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
        let int8_file =
            quantize(&f32_file, "t", &Precision { keep_f32: vec!["gk_module".into()], ..Default::default() }).unwrap();
        let int8_file = SafeTensors::deserialize(&int8_file).unwrap();
        assert_eq!(int8_file.tensor("gk_module.layers.0.weight").unwrap().dtype(), Dtype::F32);
        assert_eq!(
            int8_file.tensor("gk_module_extra.weight").unwrap().dtype(),
            Dtype::I8,
            "a prefix of a name is not a module"
        );
        let err = quantize(&f32_file, "t", &Precision { finer: vec!["ecls_head".into()], ..Default::default() })
            .unwrap_err()
            .to_string();
        assert!(err.contains("ecls_head"), "{err}");
    }

    #[test]
    fn finer_bits_round_trip_within_half_a_step() {
        // 301 values: the last byte of low bits is partly filled; negative values exercise floor division.
        let matrix: Vec<f32> = (0..301).map(|i| ((i * 53 % 211) as f32 - 105.0) / 13.0).collect();
        let f32_file = write(
            vec![
                ("image.weight".into(), Dtype::F32, vec![7, 43], le_bytes(&matrix)),
                ("text.weight".into(), Dtype::F32, vec![7, 43], le_bytes(&matrix)),
            ],
            "t",
        )
        .unwrap();
        let mut previous = f32::INFINITY;
        for bits in FINER_BITS {
            let precision = Precision { finer: vec!["image".into()], finer_bits: bits, ..Default::default() };
            let stored = quantize(&f32_file, "t", &precision).unwrap();
            let back = dequantize(&stored, "t").unwrap();
            let back = SafeTensors::deserialize(&back).unwrap();
            assert_eq!(back.names().len(), 2, "no side tensor survives dequantisation");
            let error = |name: &str, levels: f32| {
                let restored = f32s(back.tensor(name).unwrap().data());
                let mut worst = 0.0f32;
                for (block, (a, b)) in matrix.chunks(BLOCK).zip(restored.chunks(BLOCK)).enumerate() {
                    let step = a.iter().fold(0.0f32, |m, v| m.max(v.abs())) / levels;
                    for (x, y) in a.iter().zip(b) {
                        assert!((x - y).abs() <= step / 2.0 + 1e-6, "{bits} bits, {name}, block {block}: {x} vs {y}");
                        worst = worst.max((x - y).abs());
                    }
                }
                worst
            };
            let finer = error("image.weight", ((1 << (bits - 1)) - 1) as f32);
            error("text.weight", 127.0);
            assert!(finer < previous, "{bits} bits: {finer}, one bit fewer: {previous}");
            previous = finer;
        }
    }

    #[test]
    fn a_module_may_take_its_own_width() {
        let matrix: Vec<f32> = (0..128).map(|i| ((i * 31 % 89) as f32 - 44.0) / 9.0).collect();
        let tensor = |name: &str| (name.to_string(), Dtype::F32, vec![2, 64], le_bytes(&matrix));
        let f32_file =
            write(vec![tensor("image.weight"), tensor("boxes.weight"), tensor("boxes.queries")], "t").unwrap();
        // `boxes.queries` is a parameter of `boxes` itself: named as itself it takes a width of its own.
        let precision = Precision {
            finer: vec!["image".into(), "boxes.weight:14".into(), "boxes.queries:16".into()],
            finer_bits: 11,
            ..Default::default()
        };
        let stored = quantize(&f32_file, "t", &precision).unwrap();
        let stored = SafeTensors::deserialize(&stored).unwrap();
        let has = |name: &str| stored.tensor(name).is_ok();
        assert!(
            has("image.weight.low3") && has("boxes.weight.low6") && has("boxes.queries.low8"),
            "{:?}",
            stored.names()
        );
    }

    #[test]
    fn ten_bit_files_of_the_earlier_layout_still_load() {
        let matrix: Vec<f32> = (0..130).map(|i| ((i * 29 % 97) as f32 - 48.0) / 7.0).collect();
        let f32_file = write(vec![("image.weight".into(), Dtype::F32, vec![2, 65], le_bytes(&matrix))], "t").unwrap();
        let stored =
            quantize(&f32_file, "t", &Precision { finer: vec!["image".into()], finer_bits: 10, ..Default::default() })
                .unwrap();
        let renamed = |from: &str, to: &str| {
            let stored = SafeTensors::deserialize(&stored).unwrap();
            let tensors = stored
                .tensors()
                .into_iter()
                .map(|(name, view)| (name.replace(from, to), view.dtype(), view.shape().to_vec(), view.data().to_vec()))
                .collect();
            write(tensors, "t").unwrap()
        };
        let legacy = renamed(".low2", ".int10_low");
        assert_eq!(dequantize(&legacy, "t").unwrap(), dequantize(&stored, "t").unwrap());
    }

    #[test]
    fn bad_precisions_are_refused() {
        let f32_file =
            write(vec![("gk_module.layers.0.weight".into(), Dtype::F32, vec![2, 64], le_bytes(&[0.5f32; 128]))], "t")
                .unwrap();
        let refused = |precision: Precision| quantize(&f32_file, "t", &precision).unwrap_err().to_string();
        let err = refused(Precision { finer: vec!["gk_module".into()], finer_bits: 17, ..Default::default() });
        assert!(err.contains("17"), "{err}");
        let err = refused(Precision {
            keep_f32: vec!["gk_module.layers.0".into()],
            finer: vec!["gk_module".into()],
            finer_bits: 10,
        });
        assert!(err.contains("overlap"), "{err}");
        let err = refused(Precision {
            finer: vec!["gk_module".into(), "gk_module.layers.0:16".into()],
            ..Default::default()
        });
        assert!(err.contains("overlap") && err.contains("16 bits"), "{err}");
        let err = refused(Precision { finer: vec!["gk_module:17".into()], ..Default::default() });
        assert!(err.contains("not 17") && err.contains("gk_module:17"), "{err}");
        let err = refused(Precision { finer: vec!["gk_module:x".into()], ..Default::default() });
        assert!(err.contains("gk_module:x"), "{err}");
    }

    #[test]
    fn low_bits_that_do_not_fit_are_refused() {
        let f32_file =
            write(vec![("image.weight".into(), Dtype::F32, vec![3, 43], le_bytes(&[0.25f32; 129]))], "t").unwrap();
        let stored =
            quantize(&f32_file, "t", &Precision { finer: vec!["image".into()], finer_bits: 11, ..Default::default() })
                .unwrap();
        let stored = SafeTensors::deserialize(&stored).unwrap();
        let mut tensors: Vec<_> = stored
            .tensors()
            .into_iter()
            .map(|(name, view)| (name, view.dtype(), view.shape().to_vec(), view.data().to_vec()))
            .collect();
        for (name, _, shape, data) in &mut tensors {
            if name.ends_with(".low3") {
                data.pop();
                shape[0] -= 1;
            }
        }
        let err = dequantize(&write(tensors, "t").unwrap(), "w.safetensors").unwrap_err().to_string();
        assert!(err.contains("low3") && err.contains("w.safetensors"), "{err}");
    }
}
