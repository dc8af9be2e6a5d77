//! Fuzzes `autonomic detect`'s CSV reader and the default detector behind it, with no known
//! range (as for a user's own history): never panics; every written score is a number in
//! [0, 1]; every skipped row names a line of the input; rows scored and skipped never
//! exceed the input's records.
//!
//! Run with `cargo +nightly fuzz run history_csv` from the repository root.

#![no_main]

use analyze::detect::replay::{ReplayOptions, replay};
use analyze::detect::{self, Prior};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut detector = detect::build("ensemble", Prior { probation: 8, ..Prior::default() }).expect("ensemble");
    let opts = ReplayOptions { time: None, value: None, header: true, threshold: 0.5 };
    let mut out = Vec::new();
    let Ok(summary) = replay(data, &opts, detector.as_mut(), Some(&mut out)) else { return };
    // Lines as the CSV reader counts them: ended by \n, \r\n or a lone \r.
    let lone_cr =
        data.windows(2).filter(|w| w[0] == b'\r' && w[1] != b'\n').count() + usize::from(data.last() == Some(&b'\r'));
    let lines = (data.iter().filter(|b| **b == b'\n').count() + lone_cr + 1) as u64;
    for m in &summary.malformed {
        assert!(m.line >= 1 && m.line <= lines + 1, "line {} of {lines}", m.line);
    }
    assert!(summary.malformed.len() as u64 <= summary.skipped);
    assert!(summary.rows + summary.skipped <= lines, "{} + {} rows from {lines} lines", summary.rows, summary.skipped);
    let written = String::from_utf8_lossy(&out);
    for row in written.lines().skip(1) {
        // `…,anomaly_score,alarm`: the alarm is 1 exactly where the score reaches 0.5.
        let mut tail = row.rsplit(',');
        let (alarm, score) = (tail.next(), tail.next().and_then(|s| s.parse::<f64>().ok()));
        if let Some(score) = score {
            assert!((0.0..=1.0).contains(&score), "score {score} in {row:?}");
            assert_eq!(alarm == Some("1"), score >= 0.5, "{row:?}");
        }
    }
});
