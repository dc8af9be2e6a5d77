//! Per-row weights and the threshold sweep on small hand-made inputs (SCORING.md §5 and §6).

use nab::{
    DataFile, Profile, SweepRow, ThresholdEntry, best_entry, entry_at, scaled_sigmoid, sweep_weights, threshold_sweep,
};

fn file(n: usize, windows: Vec<(usize, usize)>) -> DataFile {
    DataFile {
        key: "test/file.csv".into(),
        timestamps: vec![String::new(); n],
        times_ms: (0..n as i64).collect(),
        values: vec![0.0; n],
        windows,
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn scaled_sigmoid_values() {
    let max_tp = scaled_sigmoid(-1.0);
    assert_eq!(max_tp, 0.9866142981514305);
    assert_eq!(max_tp, 2.0 / (1.0 + (-5.0f64).exp()) - 1.0);
    assert_eq!(scaled_sigmoid(0.0), 0.0);
    assert_eq!(scaled_sigmoid(3.0000001), -1.0);
    assert!(scaled_sigmoid(3.0) > -1.0);
    for y in [-1.0, -0.5, -0.01, 0.25, 1.0, 2.9] {
        assert!(close(scaled_sigmoid(y), (-2.5 * y).tanh(), 1e-15), "{y}");
    }
}

#[test]
fn weights_around_a_100_row_window() {
    let standard = Profile::standard();
    let f = file(600, vec![(100, 199)]);
    let w = sweep_weights(&f, &standard);
    assert_eq!(w.len(), 600);
    // Before any window has ended: the full FP penalty.
    assert!(w[..100].iter().all(|&x| x == -0.11));
    // First row of the window: exactly tpWeight; middle row 0.8598; last row about 2.5/width.
    assert_eq!(w[100], 1.0);
    assert!(close(w[150], 0.8598, 5e-5), "{}", w[150]);
    assert!(close(w[199], 0.0253, 5e-5), "{}", w[199]);
    assert!(w[100..200].windows(2).all(|p| p[0] > p[1] && p[1] > 0.0));
    // Just after the window: a small penalty, growing to -0.8518 fpWeight halfway through width', and the
    // full -fpWeight once the distance exceeds 3 (width' - 1) = 297 rows.
    assert!(close(w[200] / 0.11, -0.0252, 5e-5), "{}", w[200]);
    assert!(close(w[249] / 0.11, -0.8518, 5e-5), "{}", w[249]);
    assert_eq!(w[200], scaled_sigmoid(1.0 / 99.0) * 0.11);
    assert!(w[200..].windows(2).all(|p| p[0] >= p[1]));
    assert!(w[199 + 297] > -0.11);
    assert!(w[199 + 298..].iter().all(|&x| x == -0.11));
}

#[test]
fn weights_scale_with_the_profile() {
    let f = file(60, vec![(10, 19), (30, 39)]);
    let standard = sweep_weights(&f, &Profile::standard());
    let low_fp = sweep_weights(&f, &Profile::reward_low_fp_rate());
    let low_fn = sweep_weights(&f, &Profile::reward_low_fn_rate());
    let double_tp = sweep_weights(&f, &Profile::new("tp2", 2.0, 1.0, 0.11));
    for i in 0..60 {
        let inside = (10..=19).contains(&i) || (30..=39).contains(&i);
        assert_eq!(standard[i] > 0.0, inside, "row {i}");
        if inside {
            assert_eq!(standard[i], low_fp[i]);
            assert_eq!(double_tp[i], 2.0 * standard[i]);
        } else {
            assert!(close(low_fp[i], 2.0 * standard[i], 1e-15), "row {i}");
        }
        // fnWeight does not enter the weights.
        assert_eq!(standard[i], low_fn[i]);
    }
    // Between the windows the penalty is measured from the first window's end, after the second from its end.
    assert_eq!(standard[20], scaled_sigmoid(1.0 / 9.0) * 0.11);
    assert_eq!(standard[29], scaled_sigmoid(10.0 / 9.0) * 0.11);
    assert_eq!(standard[40], standard[20]);
    assert_eq!(standard[30], 1.0);
    // Width 10: the window's last row earns scaledSigmoid(-0.1) / maxTP.
    assert_eq!(standard[19], scaled_sigmoid(-0.1) / scaled_sigmoid(-1.0));
}

fn row(score: f64, weight: f64, window: Option<usize>) -> SweepRow {
    SweepRow { score, weight, window }
}

fn entry(threshold: f64, score: f64, tp: usize, tn: usize, fp: usize, fn_: usize) -> ThresholdEntry {
    ThresholdEntry { threshold, score, tp, tn, fp, fn_ }
}

#[test]
fn sweep_on_a_tiny_input() {
    let mut rows = vec![
        row(0.2, 0.3, Some(7)),
        row(0.5, -0.11, None),
        row(0.9, -0.11, None),
        row(0.5, 1.0, Some(7)),
        row(0.0, -0.05, None),
    ];
    let entries = threshold_sweep(&mut rows, 1.0);
    // Sorted by descending score, ties kept in input order.
    let sorted: Vec<f64> = rows.iter().map(|r| r.score).collect();
    assert_eq!(sorted, [0.9, 0.5, 0.5, 0.2, 0.0]);
    assert_eq!(rows[1].window, None);
    let expected = vec![
        entry(1.1, -1.0, 0, 3, 0, 2),
        entry(0.9, -0.11 + -1.0, 0, 2, 1, 2),
        entry(0.5, (-0.11 + -0.11) + 1.0, 1, 1, 2, 1),
        // The later, lower-weighted detection does not change the window's part.
        entry(0.2, (-0.11 + -0.11) + 1.0, 2, 1, 2, 0),
        entry(0.0, (-0.11 + -0.11 + -0.05) + 1.0, 2, 0, 3, 0),
    ];
    assert_eq!(entries, expected);
    // Ties go to the highest threshold.
    assert_eq!(best_entry(&entries), Some(&expected[2]));
    // Scoring at a threshold: exact match, between two scores, below every score, above 1.1.
    assert_eq!(entry_at(&entries, 0.5), Some(&expected[2]));
    assert_eq!(entry_at(&entries, 0.6), Some(&expected[1]));
    assert_eq!(entry_at(&entries, 0.3), Some(&expected[2]));
    assert_eq!(entry_at(&entries, 0.2), Some(&expected[3]));
    assert_eq!(entry_at(&entries, -0.5), Some(&expected[4]));
    assert_eq!(entry_at(&entries, 1.1), Some(&expected[0]));
    assert_eq!(entry_at(&entries, 2.0), Some(&expected[0]));
}

#[test]
fn windows_are_summed_in_order_of_first_detection() {
    // Parts: fp, then windows in order of first appearance among the sorted rows (NAB's dict order).
    let mut rows = vec![row(0.1, 1.0, Some(0)), row(0.9, 1e-16, Some(1)), row(0.8, 6e-17, Some(2))];
    let entries = threshold_sweep(&mut rows, 0.0);
    // fn = 0: parts start at -0.0; the last entry sums fp, window 1, window 2, window 0 in that order.
    let last = entries.last().map(|e| e.score);
    assert_eq!(last, Some(((0.0 + 1e-16) + 6e-17) + 1.0));
    assert_eq!(last, Some(1.0000000000000002));
    // Summing in window-id order would give 1.0.
    assert_eq!((1.0 + 1e-16) + 6e-17, 1.0);
}

#[test]
fn negative_zero_equals_zero() {
    let mut rows = vec![row(0.0, -0.1, None), row(-0.0, -0.1, None)];
    let entries = threshold_sweep(&mut rows, 1.0);
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].fp, 2);
}

#[test]
fn empty_sweep_has_only_the_no_detection_entry() {
    assert_eq!(threshold_sweep(&mut [], 1.0), vec![entry(1.1, 0.0, 0, 0, 0, 0)]);
}

/// FP weights of very different magnitudes make the sum depend on the order of tied rows: the sweep must
/// take them in input order within a score (a stable sort), as a plain reference computation does.
#[test]
fn tied_rows_are_summed_in_input_order() {
    let n = 3000;
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let levels = [0.9, 0.7, 0.5, 0.3, 0.1];
    let mut rows: Vec<SweepRow> = (0..n)
        .map(|_| {
            let r = next();
            let score = levels[(r % 5) as usize];
            let magnitude = 10f64.powi(((r >> 8) % 17) as i32 - 8) * (1.0 + ((r >> 16) % 1000) as f64 / 1000.0);
            row(score, -magnitude, None)
        })
        .collect();
    let original = rows.clone();
    let entries = threshold_sweep(&mut rows, 1.0);
    // Reference: groups of equal score, highest first, each in input order.
    let mut fp = 0.0;
    let mut expected = vec![0.0];
    for level in levels {
        for r in original.iter().filter(|r| r.score == level) {
            fp += r.weight;
        }
        expected.push(fp);
    }
    let got: Vec<f64> = entries.iter().map(|e| e.score).collect();
    assert_eq!(got.len(), 6);
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g.to_bits(), e.to_bits(), "{got:?} != {expected:?}");
    }
}
