//! The hostile corpus (issue 37), shared by `gkmvlp-cli/tests/hostile_inputs.rs` (through the `gkmvlp`
//! binary) and `gkmvlp-web/tests/hostile_session.rs` (through the browser's session): the small files
//! committed in `tests/hostile/images` (listed in `tests/hostile/README.md`), the large ones made here at
//! test time, hostile questions and hostile reports for the report check. Also the raw DICOM writer the
//! committed files were made with (`dicom-object` refuses to write most of them).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The committed corpus folder.
pub fn images_dir() -> PathBuf {
    Path::new(REPO).join("crates/gkmvlp-cli/tests/hostile/images")
}

/// The simulated radiographs every run also analyses: they must still succeed beside the hostile files.
pub fn good_images() -> Vec<PathBuf> {
    ["simulated-right-effusion.png", "simulated-left-consolidation.png"]
        .iter()
        .map(|name| Path::new(REPO).join("models/samples").join(name))
        .collect()
}

/// One corpus image: its file name and bytes.
pub struct Entry {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Every committed corpus file, sorted by name.
pub fn committed() -> Vec<Entry> {
    let mut entries: Vec<Entry> = std::fs::read_dir(images_dir())
        .expect("the committed hostile corpus")
        .map(|e| e.expect("a corpus entry").path())
        .map(|path| Entry {
            name: path.file_name().expect("a file name").to_string_lossy().into_owned(),
            bytes: std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
}

/// The corpus files too large to commit, made here: DICOM sequences nested 10,000 deep (the stack
/// overflow of issue 37), a 64-megapixel all-black PNG (a decompression bomb just under the pixel limit:
/// 64 MB of zeros from a 64 kB file), and RG1's JPEG 2000 DICOM (from `scripts/fetch-assets.sh`) cut at
/// seven points.
pub fn generated() -> Vec<Entry> {
    let mut entries = vec![
        Entry { name: "dcm-nested-10000-defined.dcm".into(), bytes: nested_sequences(10_000, true) },
        Entry { name: "dcm-nested-10000-undefined.dcm".into(), bytes: nested_sequences(10_000, false) },
        Entry {
            name: "ok-png-bomb-8192x8192-zeros.png".into(),
            bytes: gkmvlp_imaging::Radiograph::grey(8192, 8192, vec![0.0; 8192 * 8192]).to_png_8bit(),
        },
    ];
    let rg1 = Path::new(REPO).join("assets/dicom/RG1_J2KR.dcm");
    let j2k = std::fs::read(&rg1)
        .unwrap_or_else(|e| panic!("{} is missing ({e}): run scripts/fetch-assets.sh first", rg1.display()));
    for k in 1..8 {
        entries.push(Entry { name: format!("dcm-j2k-rg1-cut-{k}of8.dcm"), bytes: j2k[..j2k.len() * k / 8].to_vec() });
    }
    entries
}

/// What a corpus image must give: refused with an error naming one of these words, or either that or
/// a result (decodes, then analysed or refused by the input check).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expect {
    Error(&'static [&'static str]),
    ErrorOrResult,
}

/// The expectation of a corpus file, by its name's prefix (see `tests/hostile/README.md`).
pub fn expect(name: &str) -> Expect {
    const RULES: &[(&str, Expect)] = &[
        ("ok-", Expect::ErrorOrResult),
        ("png-", Expect::Error(&["PNG file", "image too large", "image too small"])),
        ("jpeg-", Expect::Error(&["JPEG file", "image too large", "image too small"])),
        (
            "dcm-",
            Expect::Error(&[
                "DICOM",
                "image too large",
                "image too small",
                "not a grey or colour image",
                "non-finite",
                "unknown image format",
            ]),
        ),
        ("other-", Expect::Error(&["unknown image format", "empty input"])),
    ];
    RULES
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map(|&(_, expect)| expect)
        .unwrap_or_else(|| panic!("{name}: no expectation; name corpus files by the README's prefixes"))
}

/// Questions a hostile user types: very long, control characters, right-to-left text, 100 kB, emoji, only
/// whitespace, injection strings, other languages. Each must get an answer or a clear error, never a panic.
/// (No NUL: a command line cannot hold one; the session test adds it.)
pub fn questions() -> Vec<(&'static str, String)> {
    vec![
        ("empty", String::new()),
        ("whitespace", " \t \r\n  ".into()),
        ("long", "is there a pleural effusion? ".repeat(300)),
        ("100kB", "effusion ".repeat(100_000 / 9)),
        ("one long word", "x".repeat(20_000)),
        ("control characters", "\u{1}\u{7}\u{1b}[31mis there\u{8} a pleural\u{7f} effusion?\r".into()),
        ("right to left", "\u{202e}?noisuffe laruelp a ereht si".into()),
        ("arabic", "هل يوجد انصباب جنبي؟".into()),
        ("emoji", "is there a 🫁 effusion? 😷🩻👍🏽".into()),
        ("sql injection", "'; DROP TABLE studies; -- is there a pneumothorax?".into()),
        ("html injection", "<script>alert(1)</script><img src=x onerror=alert(1)> where is the nodule?".into()),
        ("format string", "%s%n%x {0} {{}} ${HOME} $(rm -rf /)".into()),
        ("french", "Y a-t-il un épanchement pleural ?".into()),
        ("chinese", "有胸腔积液吗？".into()),
        ("combining marks", "i\u{301}\u{302}\u{303}s the\u{336}re\u{489} a\u{35c} nodule?".into()),
        ("negated", "is there no pleural effusion?".into()),
        ("unknown finding", "where is the rib fracture?".into()),
    ]
}

/// Reports for the report check: 10,000 sentences, one sentence of 1 MB (`argv` holds at most 128 kB in
/// one argument, so the CLI gets 100 kB), empty, punctuation only, emoji and right-to-left text.
pub fn reports(max_bytes: usize) -> Vec<(&'static str, String)> {
    let mut one_sentence = "the heart is normal in size and the lungs are clear ".repeat(max_bytes / 52);
    one_sentence.push('.');
    vec![
        ("empty", String::new()),
        ("punctuation only", "... !!! ??? \n\n".into()),
        ("10000 sentences", "x. ".repeat(10_000)),
        ("one huge sentence", one_sentence),
        ("emoji", "🫁 effusion 😷. 🩻 no pneumothorax 👍🏽.".into()),
        ("right to left", "\u{202e}.noisuffe laruelp oN. لا يوجد انصباب.".into()),
    ]
}

/// One DICOM data element, explicit VR little endian; `length` overrides the value's own (for bombs).
pub struct Element {
    pub tag: (u16, u16),
    pub vr: [u8; 2],
    pub value: Vec<u8>,
    pub length: Option<u32>,
}

impl Element {
    pub fn new(tag: (u16, u16), vr: &[u8; 2], value: impl Into<Vec<u8>>) -> Element {
        let mut value = value.into();
        if value.len() % 2 == 1 {
            value.push(if vr == b"UI" || vr == b"OB" { 0 } else { b' ' });
        }
        Element { tag, vr: *vr, value, length: None }
    }

    pub fn us(tag: (u16, u16), v: u16) -> Element {
        Element::new(tag, b"US", v.to_le_bytes())
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend(self.tag.0.to_le_bytes());
        out.extend(self.tag.1.to_le_bytes());
        out.extend(self.vr);
        let length = self.length.unwrap_or(self.value.len() as u32);
        if [b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN"].contains(&&self.vr) {
            out.extend([0, 0]);
            out.extend(length.to_le_bytes());
        } else {
            out.extend((length as u16).to_le_bytes());
        }
        out.extend(&self.value);
    }
}

pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
pub const PIXEL_DATA: (u16, u16) = (0x7FE0, 0x0010);
pub const ROWS: (u16, u16) = (0x0028, 0x0010);
pub const COLUMNS: (u16, u16) = (0x0028, 0x0011);
pub const BITS_ALLOCATED: (u16, u16) = (0x0028, 0x0100);
pub const BITS_STORED: (u16, u16) = (0x0028, 0x0101);
pub const HIGH_BIT: (u16, u16) = (0x0028, 0x0102);
pub const SAMPLES_PER_PIXEL: (u16, u16) = (0x0028, 0x0002);
pub const PHOTOMETRIC: (u16, u16) = (0x0028, 0x0004);
pub const NUMBER_OF_FRAMES: (u16, u16) = (0x0028, 0x0008);
pub const WINDOW_CENTER: (u16, u16) = (0x0028, 0x1050);
pub const WINDOW_WIDTH: (u16, u16) = (0x0028, 0x1051);
pub const RESCALE_INTERCEPT: (u16, u16) = (0x0028, 0x1052);
pub const RESCALE_SLOPE: (u16, u16) = (0x0028, 0x1053);
/// Referenced Series Sequence: an SQ element before the pixel data, for nesting.
pub const A_SEQUENCE: (u16, u16) = (0x0008, 0x1115);

/// A DICOM Part 10 file: preamble, `DICM`, the file meta group naming `transfer_syntax`, then `elements`
/// in tag order (written explicit VR little endian whatever the transfer syntax says).
pub struct Dicom {
    pub transfer_syntax: String,
    pub elements: Vec<Element>,
}

impl Dicom {
    /// A `rows × cols` 8-bit MONOCHROME2 ramp.
    pub fn grey8(rows: u16, cols: u16) -> Dicom {
        let pixels: Vec<u8> = (0..u32::from(rows) * u32::from(cols)).map(|i| (i * 7 % 251) as u8).collect();
        Dicom {
            transfer_syntax: EXPLICIT_LE.into(),
            elements: vec![
                Element::new((0x0008, 0x0016), b"UI", "1.2.840.10008.5.1.4.1.1.1.1"),
                Element::new((0x0008, 0x0018), b"UI", "1.2.3.4.5.6"),
                Element::new((0x0008, 0x0060), b"CS", "DX"),
                Element::us(SAMPLES_PER_PIXEL, 1),
                Element::new(PHOTOMETRIC, b"CS", "MONOCHROME2"),
                Element::us(ROWS, rows),
                Element::us(COLUMNS, cols),
                Element::us(BITS_ALLOCATED, 8),
                Element::us(BITS_STORED, 8),
                Element::us(HIGH_BIT, 7),
                Element::us((0x0028, 0x0103), 0),
                Element::new(PIXEL_DATA, b"OB", pixels),
            ],
        }
    }

    /// Sets (or adds) an element.
    pub fn with(mut self, element: Element) -> Dicom {
        self.elements.retain(|e| e.tag != element.tag);
        self.elements.push(element);
        self
    }

    pub fn without(mut self, tag: (u16, u16)) -> Dicom {
        self.elements.retain(|e| e.tag != tag);
        self
    }

    pub fn transfer_syntax(mut self, uid: &str) -> Dicom {
        self.transfer_syntax = uid.into();
        self
    }

    /// Pixel data as one encapsulated fragment (with an empty offset table).
    pub fn encapsulated(self, fragment: &[u8]) -> Dicom {
        let mut value = Vec::new();
        for (tag, bytes) in [((0xFFFEu16, 0xE000u16), &[][..]), ((0xFFFE, 0xE000), fragment)] {
            value.extend(tag.0.to_le_bytes());
            value.extend(tag.1.to_le_bytes());
            value.extend((bytes.len() as u32).to_le_bytes());
            value.extend(bytes);
        }
        value.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        let mut pixels = Element::new(PIXEL_DATA, b"OB", value);
        pixels.length = Some(u32::MAX);
        self.with(pixels)
    }

    pub fn bytes(mut self) -> Vec<u8> {
        let mut meta = Vec::new();
        let ts = Element::new((0x0002, 0x0010), b"UI", self.transfer_syntax.as_bytes());
        for e in [
            Element::new((0x0002, 0x0001), b"OB", [0u8, 1]),
            Element::new((0x0002, 0x0002), b"UI", "1.2.840.10008.5.1.4.1.1.1.1"),
            Element::new((0x0002, 0x0003), b"UI", "1.2.3.4.5.6"),
            ts,
            Element::new((0x0002, 0x0012), b"UI", "1.2.3.4"),
        ] {
            e.write(&mut meta);
        }
        let mut out = vec![0u8; 128];
        out.extend(b"DICM");
        Element::new((0x0002, 0x0000), b"UL", (meta.len() as u32).to_le_bytes()).write(&mut out);
        out.extend(meta);
        self.elements.sort_by_key(|e| e.tag);
        for e in &self.elements {
            e.write(&mut out);
        }
        out
    }
}

/// A 32×32 file with `depth` sequences nested inside each other's items before its pixel data, of defined
/// lengths or undefined ones (closed by delimiters).
pub fn nested_sequences(depth: usize, defined: bool) -> Vec<u8> {
    let header = |out: &mut Vec<u8>, tag: (u16, u16), length: u32| {
        out.extend(tag.0.to_le_bytes());
        out.extend(tag.1.to_le_bytes());
        out.extend(length.to_le_bytes());
    };
    let mut inner = Vec::new();
    for _ in 0..depth {
        let mut item = Vec::new();
        header(&mut item, (0xFFFE, 0xE000), if defined { inner.len() as u32 } else { u32::MAX });
        item.extend(&inner);
        if !defined {
            header(&mut item, (0xFFFE, 0xE00D), 0);
        }
        let mut sequence = Element::new(A_SEQUENCE, b"SQ", Vec::new());
        sequence.length = Some(if defined { item.len() as u32 } else { u32::MAX });
        inner.clear();
        sequence.write(&mut inner);
        inner.extend(item);
        if !defined {
            header(&mut inner, (0xFFFE, 0xE0DD), 0);
        }
    }
    let mut file = Dicom::grey8(32, 32).bytes();
    let at = file.windows(4).position(|w| w == [0x28, 0x00, 0x02, 0x00]).expect("the image group");
    file.splice(at..at, inner);
    file
}
