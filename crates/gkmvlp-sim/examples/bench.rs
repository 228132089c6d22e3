//! Throughput of the whole pipeline (simulate + PNG + JSONL + scene graph), as `gkmvlp simulate` runs it:
//! `cargo run --release -p gkmvlp-sim --example bench -- [N] [RUNS] [THREADS]`. Prints the median.
use gkmvlp_sim::dataset::{SimulateArgs, run};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let n: usize = a.get(1).and_then(|s| s.parse().ok()).unwrap_or(64);
    let runs: usize = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let threads: usize = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
    let out = std::env::temp_dir().join(format!("gkmvlp-sim-bench-{}", std::process::id()));
    let mut rates = Vec::new();
    for r in 0..runs {
        let _ = std::fs::remove_dir_all(&out);
        let mut args = SimulateArgs::new(&out, n, r as u64);
        args.threads = threads;
        let s = run(&args).expect("run (is assets/ct there? scripts/fetch-assets.sh --with-ct)");
        println!(
            "run {r}: {n} images 512x512 in {:.2} s = {:.2} images/s (CT load {:.2} s)",
            s.simulate_s, s.images_per_s, s.load_s
        );
        rates.push(s.images_per_s);
    }
    rates.sort_by(f64::total_cmp);
    let med = rates[rates.len() / 2];
    let t = if threads == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { threads };
    println!("median: {med:.2} images/s on {t} threads → 20,000 images in {:.1} min", 20000.0 / med / 60.0);
    let _ = std::fs::remove_dir_all(&out);
}
