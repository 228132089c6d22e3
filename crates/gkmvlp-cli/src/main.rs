//! `gkmvlp`: the command line of GK-MVLP. `analyze` checks that an image is a frontal chest radiograph,
//! runs the model on it and prints what it finds: region boxes, grounded findings, zero-shot scores, a
//! report, an answer and a report check.

mod analyze;
mod overlay;
mod package;
mod samples;

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gkmvlp", version, about = "GK-MVLP chest X-ray vision-language model (not a medical device)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyze radiographs (PNG, JPEG or DICOM; files or folders), after checking that each is a frontal
    /// chest radiograph: text or JSON for one, a JSON line each for several.
    Analyze(analyze::AnalyzeArgs),
    /// Simulate a chest radiograph dataset from the bundled CT (images, reports, triplets, boxes, Q&A).
    Simulate(gkmvlp_sim::SimulateArgs),
    /// Pre-train GK-MVLP (ITC, ITM, LM, ECLS, region boxes) on a dataset folder.
    Train(gkmvlp_train::TrainArgs),
    /// Evaluate weights on a held-out split: boxes, ECLS, grounding, zero-shot, reports, VQA.
    Eval(gkmvlp_train::eval::EvalArgs),
    /// Evaluate weights on real radiographs with NIH ChestX-ray14 image-level labels: AUC per finding with
    /// a 95 % interval over patients, calls on positive and on "No Finding" images.
    EvalReal(gkmvlp_train::eval_real::EvalRealArgs),
    /// Fit the per-finding present thresholds of trained weights on a validation split (into their manifest).
    Calibrate(gkmvlp_train::calibrate::CalibrateArgs),
    /// Re-package trained weights (a checkpoint) for shipping: int8 or f32, with their metrics.
    Package(package::ShipArgs),
    /// Write an untrained model in the weights format (for the browser before trained weights exist).
    PackageUntrained(package::PackageArgs),
    /// Write the page's sample images (RG1 as PNG and DICOM, simulated radiographs, a synthetic picture)
    /// and their index.json into a folder.
    Samples(samples::SamplesArgs),
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}`: the whole chain on one line, from what was being done to what failed underneath.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Analyze(args) => analyze::run(&args),
        Command::Simulate(args) => {
            let summary = gkmvlp_sim::run(&args)
                .with_context(|| format!("cannot simulate a dataset into {}", args.out.display()))?;
            println!("{}", serde_json::to_string_pretty(&summary).context("cannot print the summary")?);
            Ok(())
        }
        Command::PackageUntrained(args) => package::run(&args),
        Command::Package(args) => package::ship(&args),
        Command::Samples(args) => samples::run(&args),
        Command::Eval(args) => gkmvlp_train::eval::run(&args).map(|_| ()),
        Command::EvalReal(args) => gkmvlp_train::eval_real::run(&args).map(|_| ()),
        Command::Calibrate(args) => gkmvlp_train::calibrate::run(&args).map(|_| ()),
        // An interrupted run fails, so a script that chains stages stops there too.
        Command::Train(args) => {
            let step = gkmvlp_train::run(&args)?;
            match args.until.unwrap_or(args.steps).min(args.steps) {
                end if step < end => bail!("training was interrupted at step {step} of {end}"),
                _ => {
                    eprintln!("stopped at step {step}");
                    Ok(())
                }
            }
        }
    }
}
