//! NAB's per-row weights (`Sweeper.calcSweepScore`) and the threshold sweep (`calcScoreByThreshold`),
//! computed with the same floating-point operations in the same order as NAB, so results are bit-identical.

use std::cmp::Ordering;

use crate::corpus::DataFile;
use crate::profile::Profile;

/// NAB's logistic function `1 / (1 + exp(-x))`.
fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// NAB's `scaledSigmoid`: -1 beyond 3, else `2*sigmoid(-5*y) - 1`, in NAB's form for bit-equality.
pub fn scaled_sigmoid(y: f64) -> f64 {
    if y > 3.0 { -1.0 } else { 2.0 * sigmoid(-5.0 * y) - 1.0 }
}

/// Per-row weights w(i) of one file under `profile` (NAB's "sweep score", its `S(t)` column), for every row
/// including the probationary ones:
///
/// - in window `[L, R]`: `scaledSigmoid(-(R - i + 1) / (R - L + 1)) * tpWeight / maxTP`
///   (the first row earns exactly `tpWeight`);
/// - before any window has ended: `-fpWeight`;
/// - after window `[L', R']`: `scaledSigmoid(|R' - i| / (R' - L')) * fpWeight`.
pub fn sweep_weights(file: &DataFile, profile: &Profile) -> Vec<f64> {
    let max_tp = scaled_sigmoid(-1.0);
    let mut out = Vec::with_capacity(file.len());
    let mut windows = file.windows.iter().copied().peekable();
    // (right index, width) of the window being walked, and of the last window left.
    let mut current: Option<(usize, f64)> = None;
    let mut previous: Option<(usize, f64)> = None;
    for i in 0..file.len() {
        if current.is_none()
            && let Some(&(first, last)) = windows.peek()
            && first == i
        {
            current = Some((last, (last.saturating_sub(first) + 1) as f64));
            windows.next();
        }
        let w = match (current, previous) {
            (Some((right, width)), _) => {
                let position = -((right + 1).saturating_sub(i) as f64) / width;
                scaled_sigmoid(position) * profile.tp_weight / max_tp
            }
            // NAB writes `-1.0 * fpWeight`; negation gives the same bits.
            (None, None) => -profile.fp_weight,
            (None, Some((right, width))) => {
                let position = right.abs_diff(i) as f64 / (width - 1.0);
                scaled_sigmoid(position) * profile.fp_weight
            }
        };
        out.push(w);
        if let Some((right, width)) = current
            && right == i
        {
            previous = Some((right, width));
            current = None;
        }
    }
    out
}

/// One scorable row: its anomaly score, its weight w(i) and the id of the window containing it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SweepRow {
    /// The detector's anomaly score.
    pub score: f64,
    /// The row's weight w(i) ([`sweep_weights`]).
    pub weight: f64,
    /// Id of the row's window, unique across all rows swept together; `None` outside windows.
    pub window: Option<usize>,
}

/// The score of a threshold: detections are the rows with `anomaly_score >= threshold`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThresholdEntry {
    /// The threshold (1.1, meaning no detections, or one of the anomaly scores).
    pub threshold: f64,
    /// The raw NAB score S.
    pub score: f64,
    /// Detected rows inside windows.
    pub tp: usize,
    /// Undetected rows outside windows.
    pub tn: usize,
    /// Detected rows outside windows.
    pub fp: usize,
    /// Undetected rows inside windows.
    pub fn_: usize,
}

/// Sorts `rows` by anomaly score, descending and stable (as Python's `sorted(..., reverse=True)`).
/// Scores must not be NaN (a NaN compares equal to everything).
pub(crate) fn sort_rows(rows: &mut [SweepRow]) {
    rows.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(Ordering::Equal));
}

/// The running state of `calcScoreByThreshold`: NAB's `scoreParts` dict (`"fp"` first, then one part per
/// window in order of first appearance), summed left to right as Python's `sum` does. Prefix sums are cached
/// and recomputed only from the first part that changed, which gives the same bits as a full re-sum.
struct Parts {
    /// `values[0]` is the FP part, `values[1 + slot]` a window's part.
    values: Vec<f64>,
    prefix: Vec<f64>,
    /// First index of `prefix` that is stale.
    dirty: usize,
}

impl Parts {
    fn new(windows: usize, fn_weight: f64) -> Self {
        let mut values = vec![-fn_weight; windows + 1];
        values[0] = 0.0;
        Self { prefix: vec![0.0; values.len()], values, dirty: 0 }
    }

    fn add_fp(&mut self, w: f64) {
        self.values[0] += w;
        self.dirty = 0;
    }

    fn detect_in_window(&mut self, slot: usize, w: f64) {
        let i = slot + 1;
        if w > self.values[i] {
            self.values[i] = w;
            self.dirty = self.dirty.min(i);
        }
    }

    fn sum(&mut self) -> f64 {
        let mut acc = if self.dirty == 0 { 0.0 } else { self.prefix[self.dirty - 1] };
        for i in self.dirty..self.values.len() {
            acc += self.values[i];
            self.prefix[i] = acc;
        }
        self.dirty = self.values.len();
        acc
    }
}

/// Runs NAB's `calcScoreByThreshold` over rows already sorted by [`sort_rows`], calling `visit` with each
/// entry in order (threshold 1.1 first, then every distinct score, descending); `visit` returns `false` to
/// stop early. `fn_weight` is the cost of a missed window. Window ids must be small (they index a table).
pub(crate) fn sweep_sorted(rows: &[SweepRow], fn_weight: f64, mut visit: impl FnMut(&ThresholdEntry) -> bool) {
    // Slot of each window id in order of first appearance among the sorted rows (NAB's dict insertion order).
    let max_id = rows.iter().filter_map(|r| r.window).max();
    let mut slot_of: Vec<usize> = vec![usize::MAX; max_id.map_or(0, |m| m + 1)];
    let mut windows = 0;
    let mut in_window = 0;
    for id in rows.iter().filter_map(|r| r.window) {
        in_window += 1;
        if slot_of[id] == usize::MAX {
            slot_of[id] = windows;
            windows += 1;
        }
    }
    let mut parts = Parts::new(windows, fn_weight);
    let mut entry =
        ThresholdEntry { threshold: 1.1, score: 0.0, tp: 0, tn: rows.len() - in_window, fp: 0, fn_: in_window };
    for row in rows {
        if row.score != entry.threshold {
            entry.score = parts.sum();
            if !visit(&entry) {
                return;
            }
            entry.threshold = row.score;
        }
        match row.window {
            Some(id) => {
                entry.tp += 1;
                entry.fn_ -= 1;
                parts.detect_in_window(slot_of[id], row.weight);
            }
            None => {
                entry.fp += 1;
                entry.tn -= 1;
                parts.add_fp(row.weight);
            }
        }
    }
    entry.score = parts.sum();
    visit(&entry);
}

/// NAB's `calcScoreByThreshold`: sorts `rows` (stable, by descending score) and returns the score at every
/// candidate threshold, highest threshold first. `rows` must not contain NaN scores.
pub fn threshold_sweep(rows: &mut [SweepRow], fn_weight: f64) -> Vec<ThresholdEntry> {
    sort_rows(rows);
    // `sweep_sorted` indexes by window id: renumber the ids densely (in order of first appearance).
    let mut ids = std::collections::HashMap::new();
    let dense: Vec<SweepRow> = rows
        .iter()
        .map(|r| {
            let next = ids.len();
            SweepRow { window: r.window.map(|id| *ids.entry(id).or_insert(next)), ..*r }
        })
        .collect();
    let mut out = Vec::new();
    sweep_sorted(&dense, fn_weight, |e| {
        out.push(*e);
        true
    });
    out
}

/// The entry NAB's `scoreDataSet` picks for `threshold` among `entries` (highest threshold first): the last
/// one whose threshold is `>= threshold`, i.e. the one with exactly the detections `score >= threshold`.
/// A threshold below every score takes the last entry (where NAB crashes, issue #361); one above 1.1 the first.
pub fn entry_at(entries: &[ThresholdEntry], threshold: f64) -> Option<&ThresholdEntry> {
    entries.iter().take_while(|e| e.threshold >= threshold).last().or(entries.first())
}

/// The entry with the largest score, the first one (highest threshold) among equals, as NAB's optimiser.
pub fn best_entry(entries: &[ThresholdEntry]) -> Option<&ThresholdEntry> {
    entries.iter().fold(None, |best: Option<&ThresholdEntry>, e| match best {
        Some(b) if e.score <= b.score => Some(b),
        _ => Some(e),
    })
}
