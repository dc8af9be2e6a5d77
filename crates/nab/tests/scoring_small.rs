//! Scoring and optimising on a tiny hand-made corpus, and input validation.

use nab::{Corpus, DataFile, NabError, Profile, optimize_threshold, score_at_threshold, score_curve, sweep_weights};

fn file(key: &str, n: usize, windows: Vec<(usize, usize)>) -> DataFile {
    DataFile {
        key: key.into(),
        timestamps: vec![String::new(); n],
        times_ms: (0..n as i64).collect(),
        values: vec![0.0; n],
        windows,
    }
}

/// Two 20-row files (probationary length 3): `test/a.csv` with window rows 8..=11, `test/b.csv` without.
fn corpus() -> Corpus {
    Corpus { files: vec![file("test/a.csv", 20, vec![(8, 11)]), file("test/b.csv", 20, vec![])] }
}

fn scores(a: &[(usize, f64)], b: &[(usize, f64)]) -> Vec<Vec<f64>> {
    let mut out = vec![vec![0.0; 20], vec![0.0; 20]];
    for &(i, s) in a {
        out[0][i] = s;
    }
    for &(i, s) in b {
        out[1][i] = s;
    }
    out
}

#[test]
fn probationary_rows_are_not_scored() {
    let c = corpus();
    // Row 0 is a sure FP if it counted; it is in the probationary period.
    let s = scores(&[(0, 1.0), (8, 0.8)], &[(2, 0.9)]);
    let p = Profile::standard();
    assert_eq!(optimize_threshold(&c, &s, &p).ok(), Some((0.8, 1.0)));
    let (total, files) = score_at_threshold(&c, &s, &p, 0.8).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(total, 1.0);
    assert_eq!((files[0].tp, files[0].tn, files[0].fp, files[0].fn_), (1, 13, 0, 3));
    assert_eq!((files[1].tp, files[1].tn, files[1].fp, files[1].fn_), (0, 17, 0, 0));
    // Even at threshold 0 (everything detected) the probationary rows are not counted.
    let (_, files) = score_at_threshold(&c, &s, &p, 0.0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((files[0].tp + files[0].fp, files[1].fp), (17, 17));
}

#[test]
fn optimiser_breaks_ties_towards_the_highest_threshold() {
    let c = corpus();
    // Detecting row 10 as well as row 8 does not change the window's part: 0.8 and 0.3 tie at 1.0.
    let s = scores(&[(8, 0.8), (10, 0.3)], &[]);
    let p = Profile::standard();
    let curve = score_curve(&c, &s, &p).unwrap_or_else(|e| panic!("{e}"));
    let points: Vec<(f64, f64)> = curve.iter().map(|e| (e.threshold, e.score)).collect();
    assert_eq!(points[..3], [(1.1, -1.0), (0.8, 1.0), (0.3, 1.0)]);
    assert_eq!(optimize_threshold(&c, &s, &p).ok(), Some((0.8, 1.0)));
    // A profile where every detection loses (no windows): "no detections" at 1.1 wins.
    let none = Corpus { files: vec![file("test/b.csv", 20, vec![])] };
    assert_eq!(optimize_threshold(&none, &[vec![0.5; 20]], &p).ok(), Some((1.1, 0.0)));
}

#[test]
fn scoring_at_thresholds_between_below_and_above_the_scores() {
    let c = corpus();
    let p = Profile::standard();
    let s = scores(&[(8, 0.8), (10, 0.3), (15, 0.6)], &[(5, 0.5), (6, 0.5)]);
    let wa = sweep_weights(&c.files[0], &p);
    let at = |t: f64| score_at_threshold(&c, &s, &p, t).unwrap_or_else(|e| panic!("{e}"));

    // Exactly a score (0.3) and just above it: row 10 in or out; the window's part is row 8's weight either way.
    let (_, f) = at(0.3);
    assert_eq!((f[0].tp, f[0].fp), (2, 1));
    assert_eq!(f[0].score, (0.0 + wa[15]) + 1.0);
    let (_, f) = at(0.30000000000000004);
    assert_eq!((f[0].tp, f[0].fp), (1, 1));
    // Between two scores: the detections are the rows >= threshold.
    let (total, f) = at(0.55);
    assert_eq!((f[0].tp, f[0].fp, f[1].fp), (1, 1, 0));
    assert_eq!(total, f[0].score + f[1].score);
    assert_eq!(f[1].score, 0.0);
    // Below every score of a file: the last entry, every scorable row detected.
    let (_, f) = at(0.0);
    assert_eq!((f[1].tp, f[1].tn, f[1].fp, f[1].fn_), (0, 0, 17, 0));
    assert_eq!(f[1].score, (0..17).fold(0.0, |acc, _| acc + -0.11));
    let (_, f) = at(-1.0);
    assert_eq!(f[1].fp, 17);
    // Above 1.1: nothing detected; each window is a miss.
    let (total, f) = at(1.5);
    assert_eq!((total, f[0].fn_, f[0].tn, f[1].tn), (-1.0, 4, 13, 17));
}

#[test]
fn fn_weight_scales_the_misses() {
    let c = corpus();
    let s = scores(&[], &[]);
    let (total, _) = score_at_threshold(&c, &s, &Profile::reward_low_fn_rate(), 0.5).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(total, -2.0);
}

fn err_text(r: Result<impl std::fmt::Debug, NabError>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn invalid_scores_are_rejected_with_file_and_row() {
    let c = corpus();
    let p = Profile::standard();
    assert_eq!(
        err_text(score_at_threshold(&c, &[vec![0.0; 20]], &p, 0.5)),
        "expected anomaly scores for 2 files, got 1"
    );
    let short = vec![vec![0.0; 20], vec![0.0; 19]];
    assert_eq!(
        err_text(optimize_threshold(&c, &short, &p)),
        "test/b.csv: expected 20 anomaly scores (one per row), got 19"
    );
    for (bad, shown) in [(f64::NAN, "NaN"), (1.5, "1.5"), (-0.1, "-0.1"), (f64::INFINITY, "inf")] {
        let s = scores(&[], &[(5, bad)]);
        let want = format!("test/b.csv row 5: anomaly score {shown} is not a finite number in [0, 1]");
        assert_eq!(err_text(score_at_threshold(&c, &s, &p, 0.5)), want);
        assert_eq!(err_text(optimize_threshold(&c, &s, &p)), want);
        assert_eq!(err_text(score_curve(&c, &s, &p)), want);
    }
    // The bounds themselves are valid.
    assert!(optimize_threshold(&c, &scores(&[(3, 0.0), (4, 1.0)], &[]), &p).is_ok());
    assert_eq!(err_text(score_at_threshold(&c, &scores(&[], &[]), &p, f64::NAN)), "threshold must not be NaN");

    // Hand-made files with invalid windows are rejected too.
    for windows in [vec![(5, 5)], vec![(5, 20)], vec![(2, 6), (6, 9)], vec![(9, 12), (2, 5)]] {
        let bad = Corpus { files: vec![file("test/w.csv", 20, windows)] };
        let e = err_text(optimize_threshold(&bad, &[vec![0.0; 20]], &p));
        assert!(e.starts_with("labels of test/w.csv: window rows"), "{e}");
    }
}
