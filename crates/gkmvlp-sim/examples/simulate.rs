//! Manual runs: `cargo run --release -p gkmvlp-sim --example simulate -- --n 100 --out /tmp/sim-ds`.
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: gkmvlp_sim::SimulateArgs,
}

fn main() {
    let cli = Cli::parse();
    match gkmvlp_sim::run(&cli.args) {
        Ok(s) => println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
