//! Makes the committed files of `tests/hostile/images` (run `cargo test -p gkmvlp-cli --test
//! hostile_inputs -- --ignored write_the_committed_corpus`): each is small, deterministic and named by the
//! README's prefixes.

use crate::hostile_corpus::{
    BITS_ALLOCATED, BITS_STORED, COLUMNS, Dicom, Element, HIGH_BIT, NUMBER_OF_FRAMES, PHOTOMETRIC, PIXEL_DATA,
    RESCALE_INTERCEPT, RESCALE_SLOPE, ROWS, SAMPLES_PER_PIXEL, WINDOW_CENTER, WINDOW_WIDTH, nested_sequences,
};
use crate::imaging_common::{crc32, png_bytes, png_header_only, random_bytes};
use image::{DynamicImage, ImageBuffer, Luma};

/// PNG chunks of `png` as (kind, data).
fn chunks(png: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
    let mut at = 8;
    let mut out = Vec::new();
    while at + 12 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().expect("4 bytes")) as usize;
        out.push((png[at + 4..at + 8].try_into().expect("4 bytes"), png[at + 8..at + 8 + len].to_vec()));
        at += 12 + len;
    }
    out
}

fn png_from_chunks(chunks: &[([u8; 4], Vec<u8>)]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in chunks {
        out.extend((data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend(data);
        out.extend(&body);
        out.extend(crc32(&body).to_be_bytes());
    }
    out
}

fn ihdr(width: u32, height: u32, depth: u8, colour: u8) -> ([u8; 4], Vec<u8>) {
    let mut data = width.to_be_bytes().to_vec();
    data.extend(height.to_be_bytes());
    data.extend([depth, colour, 0, 0, 0]);
    (*b"IHDR", data)
}

fn ramp(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageLuma8(ImageBuffer::from_fn(width, height, |x, y| Luma([(x * 3 + y * 2) as u8])))
}

fn jpeg(image: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(image).expect("encode JPEG");
    out
}

fn cuts(name: &str, ext: &str, bytes: &[u8], points: &[usize]) -> Vec<(String, Vec<u8>)> {
    points.iter().map(|&n| (format!("{name}-cut-{n:05}.{ext}"), bytes[..n.min(bytes.len() - 1)].to_vec())).collect()
}

fn ds(tag: (u16, u16), value: &str) -> Element {
    Element::new(tag, b"DS", value)
}

/// Every committed file: name and bytes.
pub fn files() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>| files.push((name.to_string(), bytes));

    // PNG.
    let png = png_bytes(&ramp(64, 64));
    let parts = chunks(&png);
    let idat = parts.iter().find(|(k, _)| k == b"IDAT").expect("an IDAT").1.clone();
    let iend = (*b"IEND", Vec::new());
    add("png-magic-only.png", png[..8].to_vec());
    add("png-bad-ihdr-crc.png", {
        let mut b = png.clone();
        b[29] ^= 0xFF;
        b
    });
    add("png-ihdr-100000x100000.png", png_header_only(100_000, 100_000));
    add("png-ihdr-16000x16000.png", png_header_only(16_000, 16_000));
    add("png-ihdr-0x0.png", png_from_chunks(&[ihdr(0, 0, 8, 0), (*b"IDAT", idat.clone()), iend.clone()]));
    add("png-ihdr-1x100000.png", png_header_only(1, 100_000));
    add("png-bit-depth-3.png", png_from_chunks(&[ihdr(64, 64, 3, 0), (*b"IDAT", idat.clone()), iend.clone()]));
    add("png-colour-type-5.png", png_from_chunks(&[ihdr(64, 64, 8, 5), (*b"IDAT", idat.clone()), iend.clone()]));
    add("png-no-idat.png", png_from_chunks(&[ihdr(64, 64, 8, 0), iend.clone()]));
    add("png-no-iend.png", png_from_chunks(&[ihdr(64, 64, 8, 0), (*b"IDAT", idat.clone())]));
    add(
        "png-idat-garbage.png",
        png_from_chunks(&[ihdr(64, 64, 8, 0), (*b"IDAT", random_bytes(2048, 3)), iend.clone()]),
    );
    add("png-chunk-length-4gb.png", {
        let mut b = png[..33].to_vec();
        b.extend(u32::MAX.to_be_bytes());
        b.extend(b"IDAT");
        b.extend(&idat);
        b
    });
    // A decompression bomb: the IDAT of a 2048×2048 black image (4 MB inflated) behind a 64×64 header.
    let black = png_bytes(&DynamicImage::ImageLuma8(ImageBuffer::new(2048, 2048)));
    let big_idat: Vec<u8> = chunks(&black).into_iter().filter(|(k, _)| k == b"IDAT").flat_map(|(_, d)| d).collect();
    add("ok-png-idat-4mb-behind-64x64-header.png", png_from_chunks(&[ihdr(64, 64, 8, 0), (*b"IDAT", big_idat), iend]));
    add("png-too-small-1x1.png", png_bytes(&ramp(1, 1)));
    add("ok-png-bomb-2048x2048-black.png", black);
    add("ok-png-iend-crc-cut.png", png[..png.len() - 1].to_vec());
    for c in cuts("png", "png", &png, &[16, 33, 41, 60, 100, 300, 1000, 2000, png.len() - 12]) {
        add(&c.0, c.1);
    }

    // JPEG.
    let jpg = jpeg(&ramp(64, 64));
    add("jpeg-soi-only.jpg", jpg[..3].to_vec());
    for c in cuts("jpeg", "jpg", &jpg, &[4, 20, 100, 300, 600, jpg.len() / 2, jpg.len() * 2 / 3, jpg.len() - 2]) {
        add(&c.0, c.1);
    }
    let sof = jpg.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a SOF0");
    let with_size = |h: u16, w: u16, keep_scan: bool| {
        let mut b = jpg.clone();
        b[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
        b[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
        if !keep_scan {
            let sos = b.windows(2).position(|w| w == [0xFF, 0xDA]).expect("a SOS");
            b.truncate(sos);
            b.extend([0xFF, 0xD9]);
        }
        b
    };
    add("jpeg-sof-16000x4000-no-scan.jpg", with_size(4000, 16_000, false));
    add("jpeg-sof-65535x65535.jpg", with_size(65_535, 65_535, true));
    add("jpeg-sof-0x0.jpg", with_size(0, 0, true));
    add("jpeg-sof-8x8-with-64x64-scan.jpg", with_size(8, 8, true));
    add("ok-jpeg-scan-garbage.jpg", {
        let sos = jpg.windows(2).position(|w| w == [0xFF, 0xDA]).expect("a SOS");
        let mut b = jpg[..sos + 14].to_vec();
        b.extend(random_bytes(2000, 5).into_iter().map(|v| if v == 0xFF { 0 } else { v }));
        b.extend([0xFF, 0xD9]);
        b
    });
    add("jpeg-random-after-soi.jpg", [vec![0xFF, 0xD8, 0xFF], random_bytes(4000, 9)].concat());
    // The JPEG with an EXIF APP1 segment of `exif` right after its SOI.
    let with_exif = |exif: &[u8]| {
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xE1];
        b.extend((exif.len() as u16 + 2).to_be_bytes());
        b.extend(exif);
        b.extend(&jpg[2..]);
        b
    };
    add(
        "ok-jpeg-exif-orientation-99.jpg",
        with_exif(b"Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x63\0\0\0\0\0\0\0"),
    );
    add("ok-jpeg-exif-ifd-offset-4gb.jpg", with_exif(b"Exif\0\0II*\0\xff\xff\xff\xff"));
    add("ok-jpeg-really-a-png.jpg", png.clone());
    add("ok-png-really-a-jpeg.png", jpg.clone());

    // DICOM: a valid 32×32 file, then every way to break it.
    let dcm = || Dicom::grey8(32, 32);
    let good = dcm().bytes();
    add("ok-dcm-valid-32x32.dcm", good.clone());
    add("ok-dcm-no-preamble.dcm", good[128..].to_vec());
    for c in cuts("dcm", "dcm", &good, &[4, 128, 131, 140, 160, 200, 260, 330, 400, good.len() - 512, good.len() - 1]) {
        add(&c.0, c.1);
    }
    add("dcm-dicm-only.dcm", good[..132].to_vec());
    add("dcm-nested-40-defined.dcm", nested_sequences(40, true));
    add("dcm-nested-40-undefined.dcm", nested_sequences(40, false));
    add("dcm-pixel-length-4gb.dcm", {
        let mut pixels = Element::new(PIXEL_DATA, b"OB", random_bytes(4096, 11));
        pixels.length = Some(0xF000_0000);
        dcm().with(pixels).bytes()
    });
    add("dcm-string-length-bomb.dcm", {
        let mut name = Element::new((0x0010, 0x0010), b"UT", b"Doe^John".to_vec());
        name.length = Some(0xFFFF_FFF0);
        dcm().with(name).bytes()
    });
    add("dcm-undefined-length-native-pixels.dcm", {
        let mut pixels = Element::new(PIXEL_DATA, b"OW", vec![0u8; 2048]);
        pixels.length = Some(u32::MAX);
        dcm().with(pixels).bytes()
    });
    add("dcm-odd-length-element.dcm", {
        let mut e = Element::new((0x0008, 0x0060), b"CS", "DX");
        e.length = Some(3);
        dcm().with(e).bytes()
    });
    add("dcm-vr-garbage.dcm", dcm().with(Element::new((0x0008, 0x0060), b"ZZ", "DX")).bytes());
    add("dcm-no-pixel-data.dcm", dcm().without(PIXEL_DATA).bytes());
    add("dcm-rows-times-cols-smaller-than-data.dcm", dcm().with(Element::us(ROWS, 16)).bytes());
    add("dcm-rows-times-cols-larger-than-data.dcm", dcm().with(Element::us(ROWS, 64)).bytes());
    add("dcm-rows-0.dcm", dcm().with(Element::us(ROWS, 0)).bytes());
    add("dcm-columns-0.dcm", dcm().with(Element::us(COLUMNS, 0)).bytes());
    add(
        "dcm-65535x65535-32x32-data.dcm",
        dcm().with(Element::us(ROWS, 65535)).with(Element::us(COLUMNS, 65535)).bytes(),
    );
    add("dcm-no-rows.dcm", dcm().without(ROWS).bytes());
    for bits in [0u16, 1, 12, 64] {
        add(
            &format!("dcm-bits-allocated-{bits}.dcm"),
            dcm().with(Element::us(BITS_ALLOCATED, bits)).with(Element::us(BITS_STORED, bits)).bytes(),
        );
    }
    add(
        "dcm-bits-stored-over-allocated.dcm",
        dcm().with(Element::us(BITS_STORED, 16)).with(Element::us(HIGH_BIT, 15)).bytes(),
    );
    add("dcm-samples-0.dcm", dcm().with(Element::us(SAMPLES_PER_PIXEL, 0)).bytes());
    add("dcm-samples-4.dcm", dcm().with(Element::us(SAMPLES_PER_PIXEL, 4)).bytes());
    add("dcm-samples-3-monochrome.dcm", dcm().with(Element::us(SAMPLES_PER_PIXEL, 3)).bytes());
    add("dcm-palette-without-lut.dcm", dcm().with(Element::new(PHOTOMETRIC, b"CS", "PALETTE COLOR")).bytes());
    add("dcm-photometric-bogus.dcm", dcm().with(Element::new(PHOTOMETRIC, b"CS", "PURPLE")).bytes());
    for (name, frames) in [("0", "0"), ("minus-1", "-1"), ("1000000", "1000000"), ("text", "many")] {
        add(&format!("dcm-frames-{name}.dcm"), dcm().with(Element::new(NUMBER_OF_FRAMES, b"IS", frames)).bytes());
    }
    for (name, slope) in [
        ("dcm-rescale-slope-nan", "NaN"),
        ("dcm-rescale-slope-inf", "inf"),
        ("dcm-rescale-slope-1e39", "1e39"),
        ("dcm-rescale-slope-text", "steep"),
        ("dcm-rescale-slope-0", "0"),
    ] {
        add(&format!("{name}.dcm"), dcm().with(ds(RESCALE_SLOPE, slope)).bytes());
    }
    add(
        "dcm-rescale-intercept-minus-1e38.dcm",
        dcm().with(ds(RESCALE_SLOPE, "1e38")).with(ds(RESCALE_INTERCEPT, "-1e38")).bytes(),
    );
    for (name, center, width) in [
        ("width-0", "100", "0"),
        ("width-negative", "100", "-50"),
        ("nan", "NaN", "NaN"),
        ("text", "abc", "def"),
        ("1e38", "1e38", "1e38"),
    ] {
        add(
            &format!("ok-dcm-window-{name}.dcm"),
            dcm().with(ds(WINDOW_CENTER, center)).with(ds(WINDOW_WIDTH, width)).bytes(),
        );
    }
    for (name, uid) in [
        ("bogus", "1.2.3.4.5"),
        ("empty", ""),
        ("not-a-uid", "hello world"),
        ("mpeg2-video", "1.2.840.10008.1.2.4.100"),
        ("deflate-garbage", "1.2.840.10008.1.2.1.99"),
        ("big-endian", "1.2.840.10008.1.2.2"),
    ] {
        add(&format!("dcm-ts-{name}.dcm"), dcm().transfer_syntax(uid).bytes());
    }
    for (name, uid, fragment) in [
        ("jpeg-baseline-garbage", "1.2.840.10008.1.2.4.50", random_bytes(512, 13)),
        ("jpeg-baseline-truncated", "1.2.840.10008.1.2.4.50", jpg[..jpg.len() / 2].to_vec()),
        ("jpeg-lossless-garbage", "1.2.840.10008.1.2.4.70", random_bytes(512, 17)),
        ("jpeg-ls-garbage", "1.2.840.10008.1.2.4.80", [vec![0xFF, 0xD8, 0xFF, 0xF7], random_bytes(512, 19)].concat()),
        ("jpeg2000-garbage", "1.2.840.10008.1.2.4.90", [vec![0xFF, 0x4F, 0xFF, 0x51], random_bytes(512, 23)].concat()),
        ("rle-garbage", "1.2.840.10008.1.2.5", random_bytes(512, 29)),
        ("rle-empty-fragment", "1.2.840.10008.1.2.5", Vec::new()),
    ] {
        add(&format!("dcm-{name}.dcm"), dcm().transfer_syntax(uid).encapsulated(&fragment).bytes());
    }
    add("dcm-fragment-length-4gb.dcm", {
        let mut b = dcm().transfer_syntax("1.2.840.10008.1.2.4.50").encapsulated(&jpg).bytes();
        let at = b.len() - 8 - jpg.len() - 4;
        b[at..at + 4].copy_from_slice(&0xF000_0000u32.to_le_bytes());
        b
    });
    add("dcm-random-after-dicm.dcm", [good[..132].to_vec(), random_bytes(4000, 31)].concat());
    add("dcm-unicode-name-🫁-שלום.dcm", dcm().with(Element::us(ROWS, 0)).bytes());

    // Not images at all.
    add("other-zero-bytes.png", Vec::new());
    add("other-text.txt", b"Findings: no acute cardiopulmonary process.\n".to_vec());
    add("other-html.html", b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>".to_vec());
    add("other-svg.svg", b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1e9\"/>".to_vec());
    add("other-json.json", b"{\"image\": [1, 2, 3]}".to_vec());
    add("other-zip.zip", [b"PK\x03\x04".to_vec(), random_bytes(200, 37)].concat());
    add("other-gzip.gz", [vec![0x1F, 0x8B, 0x08, 0x00], random_bytes(200, 41)].concat());
    add("other-pdf.pdf", b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n".to_vec());
    add("other-gif.gif", b"GIF89a\x40\x00\x40\x00\x00\x00\x00;".to_vec());
    add("other-bmp.bmp", [b"BM".to_vec(), random_bytes(100, 43)].concat());
    add("other-tiff.tif", [b"II*\0".to_vec(), random_bytes(100, 47)].concat());
    add("other-webp.webp", b"RIFF\x1a\0\0\0WEBPVP8 \x0e\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec());
    add("other-elf.png", [b"\x7fELF\x02\x01\x01".to_vec(), random_bytes(200, 53)].concat());
    add("other-random-4k.jpg", random_bytes(4096, 59));
    add("other-zeros-4k.dcm", vec![0; 4096]);
    add("other-ones-4k.png", vec![0xFF; 4096]);
    add("other-utf16-bom.txt", "\u{feff}is there an effusion?".encode_utf16().flat_map(u16::to_le_bytes).collect());
    add("other-emoji-name-😷🩻.png", "🫁".repeat(50).into_bytes());
    add("other-rtl-name-\u{202e}gnp.exe", b"MZ\x90\0".to_vec());
    files
}
