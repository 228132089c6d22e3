//! The hostile corpus (issue 37, `tests/hostile/README.md`) through the `gkmvlp analyze` binary on the
//! shipped `models/demo` weights, many files per process (one JSON line each): every file ends with a
//! clear error or an answer, the process exits normally (no signal, no abort, no panic) within the time
//! and memory bounds below, and the good radiographs of the same run are still analysed. Then hostile
//! questions and reports, one process each.

#[path = "hostile_corpus/generate.rs"]
mod generate;
mod hostile_corpus;
#[path = "../../gkmvlp-imaging/tests/common/mod.rs"]
mod imaging_common;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hostile_corpus::{Expect, REPO, committed, expect, generated, good_images, images_dir, questions, reports};
use serde_json::Value;

/// Wall time one `gkmvlp analyze` process may take: a batch of the corpus with two good radiographs (each
/// analysed with its report) runs in about 10 s on 2 cores.
const MAX_SECONDS_PER_PROCESS: u64 = 60;
/// Peak resident memory one process may reach: the demo model, a 64-megapixel decode and the analysis
/// stay under 1 GB.
const MAX_PEAK_RSS_BYTES: u64 = 2 << 30;

/// What one finished `gkmvlp analyze` process gave.
struct Run {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
    seconds: f64,
    peak_rss_bytes: u64,
}

/// `VmHWM` (the peak resident set) of a running process, from `/proc`.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

/// Runs `gkmvlp analyze --json --weights models/demo ARGS`, reading its peak RSS every 10 ms until it
/// exits (the last reading comes within 10 ms of its end; `VmHWM` never falls), and asserts the bounds.
fn analyze(args: &[&str]) -> Run {
    let weights = format!("{REPO}/models/demo");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gkmvlp"))
        .args(["analyze", "--json", "--weights", &weights])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the gkmvlp binary runs");
    let start = Instant::now();
    let (mut stdout, mut stderr) = (child.stdout.take().expect("stdout"), child.stderr.take().expect("stderr"));
    let out = std::thread::spawn(move || std::io::read_to_string(&mut stdout).expect("stdout"));
    let err = std::thread::spawn(move || std::io::read_to_string(&mut stderr).expect("stderr"));
    let mut peak_rss_bytes = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for gkmvlp") {
            break status;
        }
        peak_rss_bytes = peak_rss(child.id()).unwrap_or(0).max(peak_rss_bytes);
        if start.elapsed() > Duration::from_secs(MAX_SECONDS_PER_PROCESS) {
            let _ = child.kill();
            panic!("gkmvlp analyze ran over {MAX_SECONDS_PER_PROCESS} s on {args:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let run = Run {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
        seconds: start.elapsed().as_secs_f64(),
        peak_rss_bytes,
    };
    let what = format!("{} argument(s) from {:?}", args.len(), args.first());
    eprintln!("{what}: {:.1} s, peak RSS {} MB, {}", run.seconds, run.peak_rss_bytes >> 20, run.status);
    assert!(run.status.signal().is_none() && run.status.code().is_some(), "{what}: killed by {:?}", run.status);
    assert!(!run.stderr.contains("panicked"), "{what}: a panic: {}", run.stderr);
    assert!(run.peak_rss_bytes <= MAX_PEAK_RSS_BYTES, "{what}: peak RSS {} MB", run.peak_rss_bytes >> 20);
    run
}

/// The JSON lines of a run, by the path they name.
fn lines_by_image(run: &Run) -> BTreeMap<String, Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not one JSON object ({e}): {l}")))
        .map(|v| (v["image"].as_str().expect("each line names its image").to_string(), v))
        .collect()
}

/// Whether a line is an analysis: no error, every region, a report, an answer.
fn analysed(line: &Value) -> bool {
    line.get("error").is_none()
        && line["analysis"]["regions"].as_array().map(Vec::len) == Some(29)
        && line["report"].is_string()
        && line["answer"]["source"].is_string()
}

/// Asserts the line of one corpus file: an error naming its problem in one short line, or (where the
/// file may decode) an analysis or a refusal by the input check with its reason.
fn assert_clear(name: &str, line: &Value) {
    match (expect(name), line["error"].as_str()) {
        (_, Some(error)) => {
            assert!(!error.is_empty() && error.len() < 600 && !error.contains('\n'), "{name}: unclear error {error:?}");
            if let Expect::Error(words) = expect(name) {
                assert!(words.iter().any(|w| error.contains(w)), "{name}: {error:?} names none of {words:?}");
            }
            if let Some(check) = line.get("input_check").filter(|c| !c.is_null()) {
                assert_eq!(check["chest_radiograph"], false, "{name}: refused though it passed the check");
                assert!(check["reason"].as_str().is_some_and(|r| !r.is_empty()), "{name}: a refusal without a reason");
            }
        }
        (Expect::ErrorOrResult, None) => assert!(analysed(line), "{name}: neither an error nor an analysis: {line}"),
        (Expect::Error(words), None) => panic!("{name}: analysed, but should be refused naming one of {words:?}"),
    }
}

/// Runs `files` (with the good radiographs) through one process; every file must have its clear line and
/// every good radiograph its analysis.
fn assert_batch(files: &[(String, PathBuf)], extra_good: &[PathBuf]) {
    let good: Vec<PathBuf> = good_images().into_iter().chain(extra_good.iter().cloned()).collect();
    let mut args: Vec<String> = files.iter().map(|(_, p)| p.to_str().expect("UTF-8 paths").to_string()).collect();
    args.extend(good.iter().map(|p| p.to_str().expect("UTF-8 paths").to_string()));
    let run = analyze(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.status.code(), Some(1), "a batch with refused files exits 1: {}", run.stderr);
    let lines = lines_by_image(&run);
    assert_eq!(lines.len(), args.len(), "one line per file: {}", run.stdout);
    for (name, path) in files {
        assert_clear(name, &lines[path.to_str().expect("UTF-8")]);
    }
    for path in &good {
        let line = &lines[path.to_str().expect("UTF-8")];
        assert!(analysed(line) && line["input_check"]["chest_radiograph"] == true, "{}: {line}", path.display());
    }
}

#[test]
fn every_committed_hostile_file_gets_a_clear_answer_within_bounds() {
    let files: Vec<(String, PathBuf)> =
        committed().into_iter().map(|e| (images_dir().join(&e.name), e.name)).map(|(p, n)| (n, p)).collect();
    assert!(files.len() >= 100, "the committed corpus has {} files", files.len());
    // A good radiograph under a name of emoji, right-to-left text and spaces.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostile-names");
    std::fs::create_dir_all(&dir).expect("a test folder");
    let unicode = dir.join("胸部 🫁 \u{202e}gnp.png");
    std::fs::copy(&good_images()[0], &unicode).expect("copy a radiograph");
    assert_batch(&files, &[unicode]);
}

#[test]
fn every_generated_hostile_file_gets_a_clear_answer_within_bounds() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostile-generated");
    std::fs::create_dir_all(&dir).expect("a test folder");
    let files: Vec<(String, PathBuf)> = generated()
        .into_iter()
        .map(|e| {
            let path = dir.join(&e.name);
            std::fs::write(&path, &e.bytes).expect("write a generated file");
            (e.name, path)
        })
        .collect();
    assert_batch(&files, &[]);
}

/// Runs `analyze` on a good radiograph with each of `cases` as `flag`'s value, two processes at a time;
/// each must give an analysis, or exit 1 with one clear error line naming `subject` (on stderr: with one
/// image, a failure is printed there).
fn assert_texts(flag: &str, subject: &str, cases: Vec<(&'static str, String)>) {
    let image = good_images()[0].to_str().expect("UTF-8").to_string();
    for pair in cases.chunks(2) {
        std::thread::scope(|s| {
            let runs: Vec<_> = pair
                .iter()
                .map(|(name, text)| (name, s.spawn(|| analyze(&[image.as_str(), flag, text.as_str()]))))
                .collect();
            for (name, run) in runs {
                let run = run.join().expect("a run");
                if run.status.success() {
                    let line: Value = serde_json::from_str(run.stdout.trim())
                        .unwrap_or_else(|e| panic!("{flag} {name}: not JSON ({e}): {}", run.stdout));
                    assert!(analysed(&line), "{flag} {name}: {line}");
                    eprintln!("{flag} {name}: answered");
                } else {
                    let error = run.stderr.trim();
                    assert_eq!(run.status.code(), Some(1), "{flag} {name}: {error}");
                    assert!(error.starts_with("error: ") && error.contains(subject), "{flag} {name}: {error}");
                    assert!(!error.contains('\n') && error.len() < 300, "{flag} {name}: {error}");
                    eprintln!("{flag} {name}: {error}");
                }
            }
        });
    }
}

#[test]
fn hostile_questions_get_an_answer_or_a_clear_error() {
    assert_texts("--question", "question", questions());
}

/// One argument of a command line holds at most 128 kB (`MAX_ARG_STRLEN`): the CLI gets a 100 kB
/// sentence; the session test gives the page's path 1 MB.
#[test]
fn hostile_reports_get_a_check_or_a_clear_error() {
    assert_texts("--check-report", "report", reports(100_000));
}

/// The committed files are exactly what the generator makes, and the README lists each.
#[test]
fn the_committed_corpus_is_what_the_generator_makes() {
    let readme = std::fs::read_to_string(images_dir().join("../README.md")).expect("the corpus README");
    let made: BTreeMap<String, Vec<u8>> = generate::files().into_iter().collect();
    let committed: BTreeMap<String, Vec<u8>> = committed().into_iter().map(|e| (e.name, e.bytes)).collect();
    assert_eq!(made.keys().collect::<Vec<_>>(), committed.keys().collect::<Vec<_>>());
    for (name, bytes) in &made {
        assert!(&committed[name] == bytes, "{name} differs from the generator's: run write_the_committed_corpus");
        assert!(readme.contains(&format!("`{name}`")), "the README does not list {name}");
        expect(name);
    }
}

#[test]
#[ignore = "rewrites tests/hostile/images"]
fn write_the_committed_corpus() {
    let dir = images_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the corpus folder");
    for (name, bytes) in generate::files() {
        std::fs::write(dir.join(name), bytes).expect("write a corpus file");
    }
}
