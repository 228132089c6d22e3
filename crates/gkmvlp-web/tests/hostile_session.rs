//! The hostile corpus of `gkmvlp-cli/tests/hostile` through the browser's session (natively on Flex, the
//! untrained `tiny` network): decoding and the input check, the analysis (anyway, for what decodes), hostile
//! questions and hostile reports. Each case runs under `catch_unwind` and must end with a typed error whose
//! message names the problem, or a result; never a panic. Memory: the test process's peak RSS is bounded.

#[path = "../../gkmvlp-cli/tests/hostile_corpus/mod.rs"]
mod hostile_corpus;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use burn::tensor::Device;
use gkmvlp_web::ErrorKind;
use gkmvlp_web::session::{CheckedImage, Session};
use hostile_corpus::{Entry, Expect, committed, expect, generated, good_images, questions, reports};

const TOKENIZER: &[u8] = include_bytes!("../../../models/tokenizer.json");

/// Time one case may take on 2 cores (the 64-megapixel PNG decodes and is checked in about 2 s).
const MAX_SECONDS_PER_CASE: u64 = 30;
/// Peak resident memory of this whole test process: the tiny model, a 64-megapixel decode, 1 MB reports.
const MAX_PEAK_RSS_BYTES: u64 = 2 << 30;

/// Runs `case` under `catch_unwind` and the time bound; a panic fails the test naming the case.
fn bounded<T>(what: &str, case: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(case)).unwrap_or_else(|_| panic!("{what}: panicked"));
    assert!(start.elapsed() < Duration::from_secs(MAX_SECONDS_PER_CASE), "{what}: took {:?}", start.elapsed());
    result
}

fn assert_peak_rss_bounded() {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM");
    eprintln!("peak RSS {} MB", kb >> 10);
    assert!(kb * 1024 <= MAX_PEAK_RSS_BYTES, "peak RSS {} MB", kb >> 10);
}

/// One image the way the page takes it: decode and check, then open (refused with the check's reason,
/// unless anyway) and analyse.
fn assert_image(session: &Session, entry: &Entry) {
    let name = entry.name.as_str();
    bounded(name, || match (CheckedImage::decode(&entry.bytes), expect(name)) {
        (Err(e), expected) => {
            assert_eq!(e.kind, ErrorKind::Image, "{name}: {}", e.message);
            assert!(!e.message.is_empty() && !e.message.contains('\n'), "{name}: {:?}", e.message);
            if let Expect::Error(words) = expected {
                assert!(words.iter().any(|w| e.message.contains(w)), "{name}: {:?} names none of {words:?}", e.message);
            }
        }
        (Ok(checked), Expect::ErrorOrResult) => {
            if !checked.input_check.chest_radiograph {
                let refused = session.encode(&checked, false).err().expect("refused by the input check");
                assert_eq!(refused.kind, ErrorKind::Input);
                assert!(refused.message.contains(&checked.input_check.reason), "{name}: {}", refused.message);
            }
            let image = session.encode(&checked, true).unwrap_or_else(|e| panic!("{name}: {}", e.message));
            let analysis =
                pollster::block_on(session.analyze(&image)).unwrap_or_else(|e| panic!("{name}: {}", e.message));
            assert_eq!(analysis.regions.len(), 29, "{name}");
            assert!(analysis.findings.iter().all(|f| f.probability.is_finite()), "{name}: a non-finite probability");
        }
        (Ok(_), Expect::Error(words)) => panic!("{name}: decoded, but should be refused naming one of {words:?}"),
    });
}

#[test]
fn every_hostile_image_gets_a_typed_error_or_an_analysis() {
    let session = Session::untrained(TOKENIZER, Device::flex()).expect("the untrained session");
    let corpus: Vec<Entry> = committed().into_iter().chain(generated()).collect();
    assert!(corpus.len() >= 100, "the corpus has {} images", corpus.len());
    for entry in &corpus {
        assert_image(&session, entry);
    }
    for path in good_images() {
        let bytes = std::fs::read(&path).expect("a sample radiograph");
        let checked = CheckedImage::decode(&bytes).expect("the sample decodes");
        assert!(checked.input_check.chest_radiograph, "{}", path.display());
        pollster::block_on(session.analyze(&session.encode(&checked, false).expect("opens"))).expect("analysed");
    }
    assert_peak_rss_bounded();
}

#[test]
fn hostile_questions_and_reports_get_an_answer_or_a_typed_error() {
    let session = Session::untrained(TOKENIZER, Device::flex()).expect("the untrained session");
    let bytes = std::fs::read(&good_images()[0]).expect("a sample radiograph");
    let image = session.encode(&CheckedImage::decode(&bytes).expect("decodes"), false).expect("opens");
    let mut asked = questions();
    asked.push(("NUL", "is there\0 a pleural effusion?\0".into()));
    for (name, question) in asked {
        match bounded(name, || pollster::block_on(session.answer(&image, &question))) {
            // An answer may quote the words it does not know, but holds little more than the question.
            Ok(answer) => assert!(
                answer.text.len() <= question.len() + 1_000,
                "question {name}: {} bytes of answer",
                answer.text.len()
            ),
            Err(e) => {
                assert_eq!(e.kind, ErrorKind::Input, "question {name}: {}", e.message);
                assert!(e.message.contains("question"), "question {name}: {}", e.message);
            }
        }
    }
    for (name, report) in reports(1 << 20) {
        match bounded(name, || pollster::block_on(session.check_report(&image, &report))) {
            Ok(checks) => {
                assert!(!checks.is_empty() && checks.len() <= 200, "report {name}: {} checks", checks.len());
                assert!(checks.iter().all(|c| c.match_probability.is_finite()), "report {name}: a non-finite score");
            }
            Err(e) => {
                assert_eq!(e.kind, ErrorKind::Input, "report {name}: {}", e.message);
                assert!(e.message.contains("report"), "report {name}: {}", e.message);
            }
        }
    }
    assert_peak_rss_bounded();
}
