//! Properties every streaming detector keeps for any input: scores finite and in [0, 1]
//! (NaN, ±∞, huge jumps, constant series, irregular or backwards timestamps), bounded state,
//! and determinism (same input, same output).

use detect::{self, Calibration, MAX_STATE_BYTES, Prior};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => -1e3f64..1e3,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(1e300),
        1 => Just(-1e300),
        1 => Just(0.0),
        1 => any::<f64>(),
    ]
}

fn series() -> impl Strategy<Value = Vec<(i64, f64)>> {
    // Long enough for searches of a period (every 512 records) to run on wild input.
    prop::collection::vec((-5_000i64..120_000, value()), 1..1_600).prop_map(|steps| {
        let mut t = 1_700_000_000_000i64;
        steps
            .into_iter()
            .map(|(dt, v)| {
                t = t.saturating_add(dt);
                (t, v)
            })
            .collect()
    })
}

fn prior() -> impl Strategy<Value = Prior> {
    prop_oneof![
        Just(Prior { min: None, max: None, probation: 20, ..Prior::default() }),
        Just(Prior { probation: 20, calibration: Calibration::RecordsSeen, ..Prior::default() }),
        Just(Prior { probation: 20, calibration: Calibration::FalseAlarmEvery(1), ..Prior::default() }),
        Just(Prior { min: Some(-1e3), max: Some(1e3), probation: 50, ..Prior::default() }),
        Just(Prior { min: Some(5.0), max: Some(5.0), probation: 1, ..Prior::default() }),
        Just(Prior { min: Some(f64::NAN), max: Some(f64::INFINITY), probation: 0, ..Prior::default() }),
    ]
}

fn run(name: &str, prior: Prior, input: &[(i64, f64)]) -> (Vec<f64>, usize) {
    let mut d = detect::build(name, prior).or_else(|| detect::build_reference(name, prior)).expect("known detector");
    let mut max_state = d.state_bytes();
    let scores = input
        .iter()
        .map(|(t, v)| {
            let s = d.observe(*t, *v);
            max_state = max_state.max(d.state_bytes());
            s
        })
        .collect();
    (scores, max_state)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// The reference detectors keep CAD's unbounded memory: only the state bound is waived.
    #[test]
    fn scores_are_finite_in_unit_range_bounded_and_deterministic(input in series(), prior in prior()) {
        for name in detect::DETECTORS.iter().chain(detect::REFERENCE_DETECTORS) {
            let (first, state) = run(name, prior, &input);
            for (i, s) in first.iter().enumerate() {
                prop_assert!(s.is_finite() && (0.0..=1.0).contains(s), "{name}: score {s} at {i}");
            }
            if !detect::REFERENCE_DETECTORS.contains(name) {
                prop_assert!(state <= MAX_STATE_BYTES, "{name}: {state} bytes of state");
            }
            let (second, _) = run(name, prior, &input);
            prop_assert_eq!(first.iter().map(|s| s.to_bits()).collect::<Vec<_>>(), second.iter().map(|s| s.to_bits()).collect::<Vec<_>>(), "{} is not deterministic", name);
        }
    }
}

#[test]
fn long_constant_and_long_noisy_series_stay_in_bounds() {
    let constant: Vec<(i64, f64)> = (0..20_000).map(|i| (i * 60_000, 42.0)).collect();
    let noisy: Vec<(i64, f64)> = (0..20_000).map(|i| (i * 60_000, ((i * 7919) % 1000) as f64)).collect();
    for name in detect::DETECTORS {
        for input in [&constant, &noisy] {
            let (scores, state) = run(name, Prior { probation: 750, ..Prior::default() }, input);
            assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)), "{name}");
            assert!(state <= MAX_STATE_BYTES, "{name}: {state} bytes");
        }
        let (scores, _) = run(name, Prior { probation: 750, ..Prior::default() }, &constant);
        assert!(scores.iter().all(|s| *s == 0.0), "{name} alarms on a constant series");
    }
}

/// A noisy series with a spike `size` noise deviations above its mean at record 1,100, scored
/// by the live loop's (unshaped) detector: the spike's score.
fn spike_score(name: &str, seed: u64, size: f64) -> f64 {
    let mut x = seed | 1;
    let mut noise = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (0..12).map(|k| ((x.rotate_left(k * 5) >> 11) as f64) / (1u64 << 53) as f64).sum::<f64>() - 6.0
    };
    let mut d = detect::build_live(name, Prior { probation: 300, ..Prior::default() }).expect("detector");
    let mut score = 0.0;
    for i in 0..=1_100i64 {
        let v = if i == 1_100 { 100.0 + 5.0 * size } else { 100.0 + 5.0 * noise() };
        score = d.observe(i * 60_000, v);
    }
    score
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    /// The score ranks: on the same history, a larger spike never scores lower than a smaller
    /// one at the same point, and only the larger of two very different spikes may alarm
    /// where the smaller does not.
    #[test]
    fn a_larger_spike_never_scores_lower(seed in any::<u64>(), small in 3.0f64..12.0, extra in 0.0f64..12.0) {
        for name in ["ensemble", "novelty", "ewma", "mad"] {
            let (a, b) = (spike_score(name, seed, small), spike_score(name, seed, small + extra));
            prop_assert!(b >= a, "{name}: a spike of {} scored {b}, one of {small} scored {a}", small + extra);
        }
    }
}

#[test]
fn the_ranking_score_separates_ordinary_points_from_a_spike() {
    // Ordinary points get scores of their own (not a flat 0), all below a clear spike's.
    let ordinary: Vec<f64> = (0..8).map(|k| spike_score("ensemble", 7, f64::from(k) * 0.25 - 1.0)).collect();
    assert!(ordinary.iter().all(|s| *s > 0.0 && *s < detect::ALERT_THRESHOLD), "{ordinary:?}");
    assert!(spike_score("ensemble", 7, 15.0) >= detect::ALERT_THRESHOLD);
}
