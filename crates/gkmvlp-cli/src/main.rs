//! `gkmvlp`: the command line of GK-MVLP. `analyze` runs the model on one radiograph and prints what it
//! finds: region boxes, grounded findings, zero-shot scores, a report, an answer and a report check.

mod analyze;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gkmvlp", version, about = "GK-MVLP chest X-ray vision-language model (not a medical device)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyze one radiograph (PNG, JPEG or DICOM).
    Analyze(analyze::AnalyzeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
