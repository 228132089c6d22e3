//! Decodes a file and prints what came out: `cargo run --release --example decode_file -- FILE [OUT.png]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: decode_file FILE [OUT.png]");
        std::process::exit(2);
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let start = std::time::Instant::now();
    match gkmvlp_imaging::decode(&bytes) {
        Ok(r) => {
            println!(
                "{path}: {:?} {}x{}, bits stored {}, window {:?}, invert {} ({:?})",
                r.format,
                r.width,
                r.height,
                r.bits_stored,
                r.window,
                r.invert,
                start.elapsed()
            );
            if let Some(out) = args.next()
                && let Err(e) = std::fs::write(&out, r.to_png_8bit())
            {
                eprintln!("{out}: {e}");
                std::process::exit(1);
            }
        }
        Err(e) => {
            println!("{path}: error: {e} ({:?})", start.elapsed());
            std::process::exit(1);
        }
    }
}
