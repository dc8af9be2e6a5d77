//! ARTime's published scores, reproduced from its per-row anomaly scores.

mod common;

use common::{artime_scores, corpus, golden_scores, profiles, root};
use nab::{Corpus, normalize, optimize_threshold, score_at_threshold};

/// (profile, shipped threshold, raw score, normalised score to 4 decimals), from golden/README.md.
const EXPECTED: [(&str, f64, f64, f64); 3] = [
    ("standard", 0.317486, 57.66075157860638, 74.8538),
    ("reward_low_FP_rate", 0.317585, 35.1572804170157, 65.1540),
    ("reward_low_FN_rate", 0.317486, 47.66075157860638, 80.3623),
];

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

#[test]
fn shipped_thresholds_are_in_config() {
    let shipped = nab::load_thresholds(&root()).unwrap_or_else(|e| panic!("{e}"));
    for (profile, threshold, raw, _) in EXPECTED {
        let t = shipped["ARTime"][profile];
        assert_eq!(t.threshold, threshold, "{profile}");
        assert_eq!(t.score, raw, "{profile}");
    }
}

#[test]
fn raw_and_normalised_scores_at_shipped_thresholds() {
    let corpus = corpus();
    for (profile, (name, threshold, raw, normalised)) in profiles().iter().zip(EXPECTED) {
        assert_eq!(profile.name, name);
        let (total, files) =
            score_at_threshold(corpus, artime_scores(), profile, threshold).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(files.len(), 58);
        assert!((total - raw).abs() < 1e-9, "{name}: raw {total} != {raw}");
        let n = normalize(total, profile, corpus.windows());
        assert_eq!(round4(n), normalised, "{name}: normalised {n}");
    }
}

#[test]
fn optimiser_finds_the_shipped_thresholds() {
    let corpus = corpus();
    for (profile, (name, threshold, raw, _)) in profiles().iter().zip(EXPECTED) {
        let (t, s) = optimize_threshold(corpus, artime_scores(), profile).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t, threshold, "{name}");
        assert!((s - raw).abs() < 1e-9, "{name}: pooled raw {s} != {raw}");
    }
}

#[test]
fn every_file_row_and_the_totals_are_reproduced() {
    let corpus = corpus();
    for (profile, (name, threshold, _, _)) in profiles().iter().zip(EXPECTED) {
        let (golden, totals) = golden_scores("ARTime", name);
        assert_eq!(golden.len(), 58);
        let (total, files) =
            score_at_threshold(corpus, artime_scores(), profile, threshold).unwrap_or_else(|e| panic!("{e}"));
        for g in &golden {
            assert_eq!(g.threshold, Some(threshold));
            let f = files.iter().find(|f| f.key == g.file).unwrap_or_else(|| panic!("{name}: no score for {}", g.file));
            // A file's score does not depend on the corpus order: it is bit-identical to NAB's.
            assert_eq!(f.score.to_bits(), g.score.to_bits(), "{name} {}: score {} != {}", g.file, f.score, g.score);
            assert!((f.score - g.score).abs() < 1e-9);
            assert_eq!((f.tp, f.tn, f.fp, f.fn_), (g.tp, g.tn, g.fp, g.fn_), "{name} {}", g.file);
            assert_eq!(f.tp + f.tn + f.fp + f.fn_, g.total, "{name} {}", g.file);
        }
        assert!((total - totals.score).abs() < 1e-9, "{name}: total {total} != {}", totals.score);
        let sum = |get: fn(&nab::FileScore) -> usize| files.iter().map(get).sum::<usize>();
        assert_eq!(
            (sum(|f| f.tp), sum(|f| f.tn), sum(|f| f.fp), sum(|f| f.fn_)),
            (totals.tp, totals.tn, totals.fp, totals.fn_),
            "{name}"
        );
    }
}

/// NAB pools and sums the files in its directory-walk order (the order of the golden CSVs), which only
/// changes the last bits of sums. In that order every number is bit-identical to NAB's, which also checks
/// that the sort is stable and the sums are done in NAB's order.
#[test]
fn bit_identical_in_nab_file_order() {
    let corpus = corpus();
    let (golden_order, _) = golden_scores("ARTime", "standard");
    let position = |key: &str| golden_order.iter().position(|g| g.file == key).unwrap_or(usize::MAX);
    let mut order: Vec<usize> = (0..corpus.files.len()).collect();
    order.sort_by_key(|&i| position(&corpus.files[i].key));
    let reordered = Corpus { files: order.iter().map(|&i| corpus.files[i].clone()).collect() };
    let scores: Vec<Vec<f64>> = order.iter().map(|&i| artime_scores()[i].clone()).collect();
    for (profile, (name, threshold, raw, _)) in profiles().iter().zip(EXPECTED) {
        let (t, s) = optimize_threshold(&reordered, &scores, profile).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t, s.to_bits()), (threshold, raw.to_bits()), "{name}: pooled raw {s} != {raw}");
        let (_, totals) = golden_scores("ARTime", name);
        let (total, _) = score_at_threshold(&reordered, &scores, profile, threshold).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(total.to_bits(), totals.score.to_bits(), "{name}: total {total} != {}", totals.score);
    }
}
