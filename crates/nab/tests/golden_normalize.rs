//! Normalisation of all 16 shipped detectors' raw totals into NAB's final results.

mod common;

use common::{corpus, golden_detectors, golden_scores, profiles, read_json, root};
use nab::{Profile, normalize};

#[test]
fn sixteen_detectors_totals_normalise_to_the_final_results() {
    let detectors = golden_detectors();
    assert_eq!(detectors.len(), 16, "{detectors:?}");
    let golden = read_json(&root().join("golden").join("final_results_at_shipped_thresholds.json"));
    // The published file lacks bayesChangePt; golden/README.md says the two agree to 5e-11.
    let published = read_json(&root().join("results").join("final_results.json"));
    let windows = corpus().windows();
    let mut checked = 0;
    for detector in &detectors {
        for profile in profiles() {
            let (_, totals) = golden_scores(detector, &profile.name);
            let n = normalize(totals.score, &profile, windows);
            let want =
                golden[detector][&profile.name].as_f64().unwrap_or_else(|| panic!("{detector} {}", profile.name));
            assert!((n - want).abs() <= 1e-12, "{detector} {}: {n} != {want}", profile.name);
            if let Some(p) = published[detector][&profile.name].as_f64() {
                assert!((n - p).abs() <= 5e-11, "{detector} {}: {n} != published {p}", profile.name);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 48);
}

#[test]
fn null_and_perfect_detectors() {
    for profile in profiles() {
        // The null detector never detects: -fnWeight per window, which normalises to 0.
        let (_, totals) = golden_scores("null", &profile.name);
        assert_eq!(totals.score, -profile.fn_weight * 116.0);
        assert_eq!(normalize(totals.score, &profile, 116), 0.0);
        assert_eq!(normalize(116.0 * profile.tp_weight, &profile, 116), 100.0);
    }
}

#[test]
fn normalisation_formula_per_profile() {
    let raw = 57.66075157860636;
    assert_eq!(normalize(raw, &Profile::standard(), 116), 100.0 * (raw + 116.0) / 232.0);
    assert_eq!(normalize(raw, &Profile::reward_low_fp_rate(), 116), 100.0 * (raw + 116.0) / 232.0);
    assert_eq!(normalize(raw, &Profile::reward_low_fn_rate(), 116), 100.0 * (raw + 232.0) / 348.0);
    // Scores below the null detector's are negative.
    assert!(normalize(-200.0, &Profile::standard(), 116) < 0.0);
}
