//! Shared test helpers: the fetched assets (fail loudly when missing) and image makers.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn asset(relative: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets").join(relative);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("test asset {} is missing ({e}): run scripts/fetch-assets.sh first", path.display()))
}

pub fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target")
}

/// Encodes a `DynamicImage` as PNG bytes.
pub fn png_bytes(image: &image::DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).expect("encode test PNG");
    out.into_inner()
}

/// CRC-32 (PNG chunks), bitwise.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A PNG bomb header: an IHDR claiming `width × height` 8-bit grey, then a few bytes of IDAT
/// (the start of a zlib stream) and IEND.
pub fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let chunk = |out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend(data);
        out.extend(&body);
        out.extend(crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]); // 8-bit, grey, deflate, adaptive filter, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0xed, 0xc1, 0x01, 0x0d, 0x00, 0x00]);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A xorshift generator: deterministic pseudo-random `u64`s from `seed` (not 0).
pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}

/// Deterministic pseudo-random bytes (xorshift).
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut next = xorshift(seed.max(1));
    (0..n).map(|_| (next() >> 24) as u8).collect()
}

/// A copy of `file` with 1 to 4 bytes at or after `from` overwritten, as `next` draws them.
pub fn mutated(file: &[u8], from: usize, next: &mut impl FnMut() -> u64) -> Vec<u8> {
    let mut bytes = file.to_vec();
    for _ in 0..1 + next() % 4 {
        let at = from + (next() as usize) % (bytes.len() - from);
        bytes[at] = next() as u8;
    }
    bytes
}
