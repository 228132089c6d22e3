//! `gkmvlp`: the command line of GK-MVLP. `analyze` runs the model on one radiograph and prints what it
//! finds: region boxes, grounded findings, zero-shot scores, a report, an answer and a report check.

mod analyze;
mod overlay;
mod package;

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
    /// Simulate a chest radiograph dataset from the bundled CT (images, reports, triplets, boxes, Q&A).
    Simulate(gkmvlp_sim::SimulateArgs),
    /// Pre-train GK-MVLP (ITC, ITM, LM, ECLS, region boxes) on a dataset folder.
    Train(gkmvlp_train::TrainArgs),
    /// Evaluate weights on a held-out split: boxes, ECLS, grounding, zero-shot, reports, VQA.
    Eval(gkmvlp_train::eval::EvalArgs),
    /// Fit the per-finding present thresholds of trained weights on a validation split (into their manifest).
    Calibrate(gkmvlp_train::calibrate::CalibrateArgs),
    /// Re-package trained weights (a checkpoint) for shipping: int8 or f32, with their metrics.
    Package(package::ShipArgs),
    /// Write an untrained model in the weights format (for the browser before trained weights exist).
    PackageUntrained(package::PackageArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze::run(&args),
        Command::Simulate(args) => gkmvlp_sim::run(&args).map_err(|e| e.to_string()).and_then(|summary| {
            serde_json::to_string_pretty(&summary).map(|s| println!("{s}")).map_err(|e| e.to_string())
        }),
        Command::PackageUntrained(args) => package::run(&args),
        Command::Package(args) => package::ship(&args),
        Command::Eval(args) => gkmvlp_train::eval::run(&args).map(|_| ()),
        Command::Calibrate(args) => gkmvlp_train::calibrate::run(&args).map(|_| ()),
        // An interrupted run fails, so a script that chains stages stops there too.
        Command::Train(args) => {
            gkmvlp_train::run(&args).and_then(|step| match args.until.unwrap_or(args.steps).min(args.steps) {
                end if step < end => Err(format!("training was interrupted at step {step} of {end}")),
                _ => {
                    eprintln!("stopped at step {step}");
                    Ok(())
                }
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
