//! Fuzzes the labelled-KPI reader (`bench kpi`'s input) and the metrics over what it reads:
//! never panics; an error names the file and a line of the input; what is read has strictly
//! increasing timestamps, labels of 0 or 1, and metrics that are numbers in range.
//!
//! Run with `cargo +nightly fuzz run kpi_corpus` from the repository root.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz/7.csv");
    let series = match kpi::parse_series(path, data) {
        Ok(s) => s,
        Err(e) => {
            assert!(e.to_string().starts_with("fuzz/7.csv"), "{e}");
            return;
        }
    };
    assert!(series.timestamps.windows(2).all(|w| w[0] < w[1]));
    assert!(series.labels.iter().all(|l| *l <= 1));
    // Scores from the values themselves (any finite-or-not input), clipped as the scorer does.
    let scores: Vec<f64> = series.values.iter().map(|v| if v.is_finite() { v.abs().fract() } else { 0.5 }).collect();
    let s = kpi::metrics::score_series(&series.timestamps, &series.labels, &scores, 0.5, 7);
    for x in [s.ap, s.f1_best_d7, s.f1_d7_at_thr].into_iter().flatten() {
        assert!((0.0..=1.0).contains(&x), "{x}");
    }
    assert!(s.false_alarms <= s.alarms && s.events_detected_d7 <= s.events_detected);
});
