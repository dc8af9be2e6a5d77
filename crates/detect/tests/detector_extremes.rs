//! One extreme sample must not blind a detector: after a single wild value (a counter
//! glitch, a unit mix-up, an overflow read as 1e308) on a series of mean 10 and standard
//! deviation 1, a later level shift of +40σ is still flagged, by every detector the live
//! loop and `detect` offer, at the live loop's calibration.

use detect::{self, ALERT_THRESHOLD, DETECTORS, Prior};

const PACE_MS: i64 = 10_000;

/// Mean 10, σ about 1: uniform noise in ±1.7 from a fixed hash of `i`.
fn normal(i: usize) -> f64 {
    let x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let uniform = ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0;
    10.0 + uniform * 1.7
}

/// 1,500 normal records, the extreme at 800, then a shift to mean 50 from 1,500 on.
fn series(extreme: Option<f64>) -> Vec<(i64, f64)> {
    (0..1_560)
        .map(|i| {
            let t = 1_700_000_000_000 + i as i64 * PACE_MS;
            let v = match (i, extreme) {
                (800, Some(x)) => x,
                (1_500.., _) => normal(i) + 40.0,
                _ => normal(i),
            };
            (t, v)
        })
        .collect()
}

fn flagged_shift(name: &str, extreme: Option<f64>) -> (f64, f64) {
    let prior = Prior { probation: 60, ..Prior::default() };
    let mut d = detect::build(name, prior).expect("detector");
    let scores: Vec<f64> = series(extreme).iter().map(|(t, v)| d.observe(*t, *v)).collect();
    // Scores are reported on the record where their peak has passed: the next one.
    let at_extreme = scores[800..803].iter().copied().fold(0.0, f64::max);
    let at_shift = scores[1_500..1_510].iter().copied().fold(0.0, f64::max);
    (at_extreme, at_shift)
}

#[test]
fn one_extreme_sample_does_not_hide_a_later_level_shift() {
    let mut failures = Vec::new();
    for name in DETECTORS {
        let (_, clean) = flagged_shift(name, None);
        if clean < ALERT_THRESHOLD {
            // Detectors that miss the shift even without the spike are another matter.
            continue;
        }
        for extreme in [1e4, 1e12, 1e308, -1e12, f64::MAX] {
            let (at_extreme, at_shift) = flagged_shift(name, Some(extreme));
            if at_shift < ALERT_THRESHOLD {
                failures.push(format!("{name}: after {extreme:e} the shift scored {at_shift:.3}"));
            }
            // The default detector also flags the extreme itself (`context` looks for new
            // patterns, not new values, and lets a lone value pass).
            if *name == "ensemble" && at_extreme < ALERT_THRESHOLD {
                failures.push(format!("{name}: the extreme {extreme:e} itself scored {at_extreme:.3}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_default_detector_flags_the_shift_without_a_spike() {
    let (_, clean) = flagged_shift("ensemble", None);
    assert!(clean >= ALERT_THRESHOLD, "{clean}");
}
