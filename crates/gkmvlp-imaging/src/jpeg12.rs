//! JPEG Extended with 12-bit samples (ITU T.81 process 4: sequential DCT, Huffman coded), the form CR
//! and DX archives use for DICOM transfer syntax 1.2.840.10008.1.2.4.51. Neither jpeg-decoder nor
//! zune-jpeg decodes DCT samples of more than 8 bits, so this does, for the one-component (grey)
//! frames DICOM holds; anything else is left to the caller to refuse.
//!
//! The frame's size has been checked against Rows and Columns before this runs, so the output buffer
//! is bounded; every table and code is checked, and a scan that ends early is an error rather than
//! grey fill.

const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
    28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54,
    47, 55, 62, 63,
];

/// Whether a frame header (SOF marker, precision, components) is a one-component 12-bit sequential
/// Huffman frame, the kind [`decode`] reads.
pub(crate) fn is_grey_12_bit(marker: u8, precision: u32, samples: u32) -> bool {
    marker == 0xC1 && precision == 12 && samples == 1
}

/// A canonical Huffman table (T.81 F.2.2.3).
#[derive(Clone)]
struct Huffman {
    max_code: [i32; 17],
    min_code: [i32; 17],
    first_value: [usize; 17],
    values: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8], values: &[u8]) -> Result<Huffman, String> {
        let (mut max_code, mut min_code, mut first_value) = ([-1i32; 17], [0i32; 17], [0usize; 17]);
        let (mut code, mut k) = (0i32, 0usize);
        for len in 1..=16 {
            let n = usize::from(counts[len - 1]);
            first_value[len] = k;
            min_code[len] = code;
            code += n as i32;
            k += n;
            if n > 0 {
                max_code[len] = code - 1;
            }
            if code > 1 << len {
                return Err("a Huffman table has more codes than its lengths allow".into());
            }
            code <<= 1;
        }
        Ok(Huffman { max_code, min_code, first_value, values: values.to_vec() })
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Result<u8, String> {
        let mut code = 0i32;
        for len in 1..=16 {
            code = (code << 1) | bits.bit() as i32;
            if code <= self.max_code[len] {
                return Ok(self.values[self.first_value[len] + (code - self.min_code[len]) as usize]);
            }
        }
        Err("an entropy-coded value matches no Huffman code".into())
    }
}

/// Reads the entropy-coded data of a scan, unstuffing 0xFF00 and stopping at a marker; past it (or
/// past the end) it gives zero bits and counts the bytes it made up.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u32,
    count: u32,
    made_up: usize,
}

impl Bits<'_> {
    fn byte(&mut self) -> u8 {
        match (self.data.get(self.pos), self.data.get(self.pos + 1)) {
            (Some(0xFF), Some(0x00)) => {
                self.pos += 2;
                0xFF
            }
            (Some(0xFF), _) | (None, _) => {
                self.made_up += 1; // a marker, or the end
                0
            }
            (Some(&b), _) => {
                self.pos += 1;
                b
            }
        }
    }

    fn bit(&mut self) -> u32 {
        if self.count == 0 {
            self.acc = u32::from(self.byte());
            self.count = 8;
        }
        self.count -= 1;
        (self.acc >> self.count) & 1
    }

    fn bits(&mut self, n: u8) -> i32 {
        (0..n).fold(0, |v, _| (v << 1) | self.bit() as i32)
    }

    /// Skips to the byte after the next RSTn marker, forgetting buffered bits.
    fn restart(&mut self) -> Result<(), String> {
        self.count = 0;
        while let Some(&b) = self.data.get(self.pos) {
            self.pos += 1;
            if b == 0xFF && self.data.get(self.pos).is_some_and(|m| (0xD0..=0xD7).contains(m)) {
                self.pos += 1;
                self.made_up = 0;
                return Ok(());
            }
        }
        Err("a restart marker is missing".into())
    }
}

/// A value of `s` bits made signed (T.81 F.2.2.1, EXTEND).
fn extend(v: i32, s: u8) -> i32 {
    if s == 0 {
        0
    } else if v < 1 << (s - 1) {
        v - (1 << s) + 1
    } else {
        v
    }
}

fn be16(b: &[u8], at: usize) -> Result<usize, String> {
    b.get(at..at + 2).map(|v| usize::from(u16::from_be_bytes([v[0], v[1]]))).ok_or_else(|| "truncated segment".into())
}

/// Decodes a one-component 12-bit sequential JPEG of `width × height` (checked by the caller against
/// its SOF) into row-major samples.
pub(crate) fn decode(jpeg: &[u8], width: u32, height: u32) -> Result<Vec<u16>, String> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return Err("no JPEG start-of-image marker".into());
    }
    let mut quant: [Option<[f32; 64]>; 4] = [None; 4];
    let (mut dc, mut ac): ([Option<Huffman>; 4], [Option<Huffman>; 4]) = Default::default();
    let (mut restart_interval, mut component, mut pos) = (0usize, None, 2usize);
    loop {
        while jpeg.get(pos) == Some(&0xFF) && jpeg.get(pos + 1) == Some(&0xFF) {
            pos += 1; // fill bytes
        }
        if jpeg.get(pos) != Some(&0xFF) {
            return Err(format!("no marker at byte {pos}"));
        }
        let marker = *jpeg.get(pos + 1).ok_or("truncated before the scan")?;
        let len = be16(jpeg, pos + 2)?;
        let segment = jpeg.get(pos + 4..pos + 2 + len.max(2)).ok_or("a segment runs past the end")?;
        match marker {
            0xDB => {
                let mut at = 0;
                while at < segment.len() {
                    let (wide, id) = (segment[at] >> 4, usize::from(segment[at] & 15));
                    let size = if wide == 1 { 2 } else { 1 };
                    let entries = segment.get(at + 1..at + 1 + 64 * size).ok_or("truncated quantisation table")?;
                    let table = quant.get_mut(id).ok_or("quantisation table id over 3")?;
                    let mut natural = [0f32; 64];
                    for (k, &z) in ZIGZAG.iter().enumerate() {
                        natural[z] = f32::from(if wide == 1 {
                            u16::from_be_bytes([entries[2 * k], entries[2 * k + 1]])
                        } else {
                            u16::from(entries[k])
                        });
                    }
                    *table = Some(natural);
                    at += 1 + 64 * size;
                }
            }
            0xC4 => {
                let mut at = 0;
                while at < segment.len() {
                    let (class, id) = (segment[at] >> 4, usize::from(segment[at] & 15));
                    let counts = segment.get(at + 1..at + 17).ok_or("truncated Huffman table")?;
                    let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    let values = segment.get(at + 17..at + 17 + n).ok_or("truncated Huffman table")?;
                    let table = Some(Huffman::new(counts, values)?);
                    let slot = if class == 0 { dc.get_mut(id) } else { ac.get_mut(id) };
                    *slot.ok_or("Huffman table id over 3")? = table;
                    at += 17 + n;
                }
            }
            0xDD => restart_interval = be16(segment, 0)?,
            0xC1 => {
                if (segment.first(), be16(segment, 1)?, be16(segment, 3)?)
                    != (Some(&12), height as usize, width as usize)
                    || segment.get(5) != Some(&1)
                {
                    return Err("the frame header is not one 12-bit component of Rows × Columns".into());
                }
                component =
                    Some((segment.get(6).copied(), usize::from(*segment.get(8).ok_or("truncated frame header")?)));
            }
            0xC0 | 0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(format!("frame type 0x{marker:02X} is not 12-bit sequential Huffman"));
            }
            0xDA => {
                let (id, q) = component.ok_or("scan before the frame header")?;
                if segment.first() != Some(&1) || segment.get(1).copied() != id {
                    return Err("the scan is not of the frame's one component".into());
                }
                let tables = *segment.get(2).ok_or("truncated scan header")?;
                let q = quant.get(q).copied().flatten().ok_or("missing quantisation table")?;
                let dc = dc.get(usize::from(tables >> 4)).cloned().flatten().ok_or("missing DC Huffman table")?;
                let ac = ac.get(usize::from(tables & 15)).cloned().flatten().ok_or("missing AC Huffman table")?;
                let bits = Bits { data: &jpeg[pos + 2 + len..], pos: 0, acc: 0, count: 0, made_up: 0 };
                return scan(bits, &q, &dc, &ac, restart_interval, width as usize, height as usize);
            }
            0xD9 => return Err("end of image before any scan".into()),
            _ => {} // APPn, COM and the like
        }
        pos += 2 + len;
    }
}

/// Decodes the blocks of the one scan, in raster order, into samples.
fn scan(
    mut bits: Bits<'_>,
    quant: &[f32; 64],
    dc: &Huffman,
    ac: &Huffman,
    restart_interval: usize,
    width: usize,
    height: usize,
) -> Result<Vec<u16>, String> {
    let cos = idct_table();
    let (blocks_x, blocks_y) = (width.div_ceil(8), height.div_ceil(8));
    let mut out = vec![0u16; width * height];
    let mut prediction = 0i32;
    for b in 0..blocks_x * blocks_y {
        if restart_interval > 0 && b > 0 && b % restart_interval == 0 {
            bits.restart()?;
            prediction = 0;
        }
        let mut coef = [0f32; 64];
        let s = dc.decode(&mut bits)?;
        if s > 15 {
            return Err(format!("DC difference category {s}"));
        }
        // Wrapping: a corrupt scan's differences may sum past i32 (garbage out, but no overflow).
        prediction = prediction.wrapping_add(extend(bits.bits(s), s));
        coef[0] = prediction as f32 * quant[0];
        let mut k = 1;
        while k < 64 {
            let rs = ac.decode(&mut bits)?;
            let (run, s) = (usize::from(rs >> 4), rs & 15);
            if s == 0 {
                if run != 15 {
                    break; // end of block
                }
                k += 16;
                continue;
            }
            k += run;
            if k > 63 {
                return Err("AC coefficients run past the block".into());
            }
            coef[ZIGZAG[k]] = extend(bits.bits(s), s) as f32 * quant[ZIGZAG[k]];
            k += 1;
        }
        if bits.made_up > 2 {
            return Err("the scan ends before its last block".into());
        }
        let (bx, by) = (b % blocks_x * 8, b / blocks_x * 8);
        let block = idct(&coef, &cos);
        for y in 0..8.min(height - by) {
            for x in 0..8.min(width - bx) {
                out[(by + y) * width + bx + x] = (block[y * 8 + x] + 2048.0).round().clamp(0.0, 4095.0) as u16;
            }
        }
    }
    Ok(out)
}

/// `c[u][x] = C(u) / 2 · cos((2x + 1) u π / 16)`, with C(0) = 1/√2 and 1 otherwise.
fn idct_table() -> [[f32; 8]; 8] {
    let mut c = [[0f32; 8]; 8];
    for (u, row) in c.iter_mut().enumerate() {
        let scale = if u == 0 { std::f64::consts::FRAC_1_SQRT_2 } else { 1.0 } / 2.0;
        for (x, v) in row.iter_mut().enumerate() {
            *v = (scale * ((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / 16.0).cos()) as f32;
        }
    }
    c
}

/// The separable inverse DCT of T.81 A.3.3, rows then columns.
fn idct(coef: &[f32; 64], c: &[[f32; 8]; 8]) -> [f32; 64] {
    let mut rows = [0f32; 64];
    for v in 0..8 {
        for x in 0..8 {
            rows[v * 8 + x] = (0..8).map(|u| c[u][x] * coef[v * 8 + u]).sum();
        }
    }
    let mut out = [0f32; 64];
    for y in 0..8 {
        for x in 0..8 {
            out[y * 8 + x] = (0..8).map(|v| c[v][y] * rows[v * 8 + x]).sum();
        }
    }
    out
}
