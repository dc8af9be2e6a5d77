//! Properties of the scorer on random small corpora.

use nab::{Corpus, DataFile, Profile, entry_at, optimize_threshold, score_at_threshold, score_curve};
use proptest::prelude::*;

/// A file of `n` rows with windows at the given (start, width) pairs, made valid and non-overlapping.
fn file(i: usize, n: usize, windows: &[(usize, usize)]) -> DataFile {
    let mut ws: Vec<(usize, usize)> = Vec::new();
    let mut sorted = windows.to_vec();
    sorted.sort();
    for (start, width) in sorted {
        let (first, last) = (start % n, start % n + width);
        if last < n && ws.last().is_none_or(|&(_, prev)| prev < first) {
            ws.push((first, last));
        }
    }
    DataFile {
        key: format!("cat/f{i:02}.csv"),
        timestamps: vec![String::new(); n],
        times_ms: (0..n as i64).collect(),
        values: vec![0.0; n],
        windows: ws,
    }
}

/// Scores drawn from a few levels, so that many rows tie.
fn corpus_and_scores() -> impl Strategy<Value = (Corpus, Vec<Vec<f64>>)> {
    let one = (10usize..80, prop::collection::vec((0usize..80, 1usize..12), 0..4)).prop_flat_map(|(n, ws)| {
        (Just(n), Just(ws), prop::collection::vec(prop::sample::select(vec![0.0, 0.1, 0.25, 0.5, 0.75, 1.0]), n))
    });
    prop::collection::vec(one, 1..5).prop_map(|files| {
        let corpus = Corpus { files: files.iter().enumerate().map(|(i, (n, ws, _))| file(i, *n, ws)).collect() };
        let scores = files.into_iter().map(|(_, _, s)| s).collect();
        (corpus, scores)
    })
}

proptest! {
    #[test]
    fn scoring_agrees_with_the_pooled_curve_and_brute_force_counts(
        (corpus, scores) in corpus_and_scores(),
        t in prop::sample::select(vec![-0.5, 0.0, 0.1, 0.2, 0.25, 0.6, 1.0, 1.05, 2.0]),
    ) {
        for profile in Profile::nab() {
            let curve = score_curve(&corpus, &scores, &profile).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let (total, files) = score_at_threshold(&corpus, &scores, &profile, t).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let pooled = entry_at(&curve, t).map(|e| e.score).unwrap_or(f64::NAN);
            prop_assert!((total - pooled).abs() < 1e-9, "{} != {}", total, pooled);
            for ((f, s), fs) in corpus.files.iter().zip(&scores).zip(&files) {
                let in_window = f.window_of_rows();
                let (mut tp, mut tn, mut fp, mut fn_) = (0, 0, 0, 0);
                for i in f.probationary_length()..f.len() {
                    match (s[i] >= t, in_window[i].is_some()) {
                        (true, true) => tp += 1,
                        (true, false) => fp += 1,
                        (false, true) => fn_ += 1,
                        (false, false) => tn += 1,
                    }
                }
                prop_assert_eq!((fs.tp, fs.tn, fs.fp, fs.fn_), (tp, tn, fp, fn_));
            }
            // The optimiser's pick is the first maximum of the curve.
            let (best_t, best_s) = optimize_threshold(&corpus, &scores, &profile).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let first_max = curve.iter().position(|e| e.score == best_s);
            prop_assert!(curve.iter().all(|e| e.score <= best_s));
            prop_assert_eq!(first_max.map(|i| curve[i].threshold), Some(best_t));
        }
    }
}
