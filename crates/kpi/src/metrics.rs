//! The metrics of the reference scorer `score_kpi.py`, re-implemented to give the same
//! numbers on the same outputs (tested against the script itself).
//!
//! - **AP**: point-wise average precision (scikit-learn's step-wise sum), on the rows as
//!   given; the mean is over series that have anomalies.
//! - **F1\*-d7**: the best F1 over all thresholds after the AIOps Challenge 2018 delay
//!   adjustment: on the series' regular grid (step = the smallest gap; missing points are
//!   label 0 and unflagged), a labelled segment counts as found in full if any of its first
//!   `delay + 1` grid points is flagged, else missed in full; flags outside segments are
//!   false positives point by point. "Mean": each series at its own best threshold;
//!   "pooled": one threshold for the whole set.
//! - **@thr** (a threshold fixed in advance, flag when score ≥ thr), on the rows as given:
//!   the delay-adjusted F1 (pooled), event recall (segments with any flagged row), recall-d7
//!   (flagged within their first `delay + 1` rows), and false alarms per 1,000 rows (runs of
//!   flagged rows that touch no labelled row).

/// Grids longer than this many times the rows are irregular stamps: the scorer then stays
/// on row order.
const MAX_BLOWUP: i64 = 20;

/// Runs of `true`: (start, end exclusive).
fn runs(mask: impl IntoIterator<Item = bool>) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    let mut n = 0;
    for (i, m) in mask.into_iter().enumerate() {
        match (m, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
        n = i + 1;
    }
    if let Some(s) = start {
        out.push((s, n));
    }
    out
}

/// Indices sorted by descending value, ties in their original order (numpy's stable sort of
/// the negated values).
fn descending(values: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    order
}

/// Point-wise average precision; `None` without a positive label.
pub fn average_precision(scores: &[f64], labels: &[u8]) -> Option<f64> {
    let pos = labels.iter().filter(|l| **l == 1).count();
    if pos == 0 {
        return None;
    }
    let order = descending(scores);
    let (mut tp, mut fp) = (0usize, 0usize);
    let (mut ap, mut last_recall) = (0.0, 0.0);
    for (k, &i) in order.iter().enumerate() {
        if labels[i] == 1 {
            tp += 1;
        } else {
            fp += 1;
        }
        let cut = order.get(k + 1).is_none_or(|&j| scores[j] != scores[i]);
        if cut {
            let precision = tp as f64 / (tp + fp) as f64;
            let recall = tp as f64 / pos as f64;
            ap += (recall - last_recall) * precision;
            last_recall = recall;
        }
    }
    Some(ap)
}

/// The series on its regular grid: labels, scores (−∞ where no row), and whether the stamps
/// were too irregular (the rows as given are used then).
fn grid(ts: &[i64], labels: &[u8], scores: &[f64]) -> (Vec<u8>, Vec<f64>, bool) {
    let as_rows = |irregular| (labels.to_vec(), scores.to_vec(), irregular);
    if ts.len() < 2 {
        return as_rows(false);
    }
    let interval = ts.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(0);
    if interval <= 0 {
        return as_rows(true);
    }
    let index = |t: i64| (t - ts[0]).div_euclid(interval);
    let n = index(ts[ts.len() - 1]) + 1;
    if n > MAX_BLOWUP * ts.len() as i64 {
        return as_rows(true);
    }
    let mut lg = vec![0u8; n as usize];
    let mut sg = vec![f64::NEG_INFINITY; n as usize];
    for ((t, l), s) in ts.iter().zip(labels).zip(scores) {
        let i = index(*t) as usize;
        lg[i] = *l;
        sg[i] = *s;
    }
    (lg, sg, false)
}

/// What the delay-adjusted F1 needs of one series: per labelled grid segment, the highest
/// score over its first `delay + 1` points and its length; and the scores of the observed
/// normal points.
#[derive(Debug, Clone, Default)]
pub struct DelayItems {
    /// Per segment, the highest score in its first `delay + 1` grid points.
    pub segment_max: Vec<f64>,
    /// Per segment, its length in grid points.
    pub segment_len: Vec<u64>,
    /// Scores of the observed normal points.
    pub normal: Vec<f64>,
}

impl DelayItems {
    fn of(lg: &[u8], sg: &[f64], delay: usize) -> Self {
        let mut items = DelayItems::default();
        for (s, e) in runs(lg.iter().map(|l| *l == 1)) {
            let head = &sg[s..(s + delay + 1).min(e)];
            items.segment_max.push(head.iter().copied().fold(f64::NEG_INFINITY, f64::max));
            items.segment_len.push((e - s) as u64);
        }
        items.normal = lg.iter().zip(sg).filter(|(l, s)| **l == 0 && s.is_finite()).map(|(_, s)| *s).collect();
        items
    }

    fn extend(&mut self, other: &DelayItems) {
        self.segment_max.extend_from_slice(&other.segment_max);
        self.segment_len.extend_from_slice(&other.segment_len);
        self.normal.extend_from_slice(&other.normal);
    }

    /// The best delay-adjusted F1 over all thresholds; `None` without a labelled point.
    pub fn best_f1(&self) -> Option<BestF1> {
        let pos: u64 = self.segment_len.iter().sum();
        if pos == 0 {
            return None;
        }
        let values: Vec<f64> = self.segment_max.iter().chain(&self.normal).copied().collect();
        let segments = self.segment_max.len();
        let order = descending(&values);
        let (mut tp, mut fp) = (0u64, 0u64);
        let mut best = BestF1 { f1: 0.0, precision: 0.0, recall: 0.0, threshold: None };
        for (k, &i) in order.iter().enumerate() {
            if i < segments {
                tp += self.segment_len[i];
            } else {
                fp += 1;
            }
            let cut = order.get(k + 1).is_none_or(|&j| values[j] != values[i]);
            if cut {
                let f1 = 2.0 * tp as f64 / (tp + fp + pos) as f64;
                if f1 > best.f1 {
                    best = BestF1 {
                        f1,
                        precision: tp as f64 / (tp + fp) as f64,
                        recall: tp as f64 / pos as f64,
                        threshold: Some(values[i]),
                    };
                }
            }
        }
        Some(best)
    }

    /// (true positives, false positives, positives) with the threshold `thr`.
    pub fn counts_at(&self, thr: f64) -> (u64, u64, u64) {
        let pos = self.segment_len.iter().sum();
        let tp = self.segment_max.iter().zip(&self.segment_len).filter(|(m, _)| **m >= thr).map(|(_, l)| l).sum();
        let fp = self.normal.iter().filter(|s| **s >= thr).count() as u64;
        (tp, fp, pos)
    }
}

/// The best delay-adjusted F1 and where it was reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BestF1 {
    /// The F1.
    pub f1: f64,
    /// Its precision.
    pub precision: f64,
    /// Its recall.
    pub recall: f64,
    /// The lowest score flagged; `None` when no threshold finds anything.
    pub threshold: Option<f64>,
}

/// One series' figures.
#[derive(Debug, Clone)]
pub struct SeriesScore {
    /// Rows.
    pub rows: usize,
    /// Labelled rows.
    pub anomalous: usize,
    /// The stamps were too irregular for a grid.
    pub irregular_grid: bool,
    /// Average precision; `None` without anomalies.
    pub ap: Option<f64>,
    /// Best delay-adjusted F1; `None` without anomalies.
    pub f1_best_d7: Option<f64>,
    /// Delay-adjusted F1 at the fixed threshold; `None` without anomalies.
    pub f1_d7_at_thr: Option<f64>,
    /// Labelled segments (on the rows).
    pub events: usize,
    /// Segments with a flagged row.
    pub events_detected: usize,
    /// Segments flagged within their first `delay + 1` rows.
    pub events_detected_d7: usize,
    /// Runs of flagged rows.
    pub alarms: usize,
    /// Runs of flagged rows that touch no labelled row.
    pub false_alarms: usize,
    /// Flagged rows.
    pub flagged: usize,
    /// Rows from each detected segment's onset to its first flag.
    pub delays: Vec<usize>,
    items: DelayItems,
}

impl SeriesScore {
    /// Delay-adjusted (true positives, false positives, positives) at the threshold `thr`,
    /// in grid points.
    pub fn counts_at(&self, thr: f64) -> (u64, u64, u64) {
        self.items.counts_at(thr)
    }
}

/// Scores one series' output (`scores` are clipped to `[0, 1]` first, as the script does).
pub fn score_series(ts: &[i64], labels: &[u8], scores: &[f64], thr: f64, delay: usize) -> SeriesScore {
    let scores: Vec<f64> = scores.iter().map(|s| s.clamp(0.0, 1.0)).collect();
    let (lg, sg, irregular_grid) = grid(ts, labels, &scores);
    let items = DelayItems::of(&lg, &sg, delay);
    let best = items.best_f1();
    let (tp, fp, pos) = items.counts_at(thr);
    let flag: Vec<bool> = scores.iter().map(|s| *s >= thr).collect();
    let segments = runs(labels.iter().map(|l| *l == 1));
    let mut delays = Vec::new();
    let (mut detected, mut detected_d) = (0, 0);
    for &(s, e) in &segments {
        if let Some(first) = flag[s..e].iter().position(|f| *f) {
            detected += 1;
            delays.push(first);
            if first <= delay {
                detected_d += 1;
            }
        }
    }
    let alarms = runs(flag.iter().copied());
    let false_alarms = alarms.iter().filter(|(s, e)| labels[*s..*e].iter().all(|l| *l == 0)).count();
    SeriesScore {
        rows: labels.len(),
        anomalous: labels.iter().filter(|l| **l == 1).count(),
        irregular_grid,
        ap: average_precision(&scores, labels),
        f1_best_d7: best.map(|b| b.f1),
        f1_d7_at_thr: (pos > 0).then(|| 2.0 * tp as f64 / (tp + fp + pos) as f64),
        events: segments.len(),
        events_detected: detected,
        events_detected_d7: detected_d,
        alarms: alarms.len(),
        false_alarms,
        flagged: flag.iter().filter(|f| **f).count(),
        delays,
        items,
    }
}

/// A set's figures, under the names `bench kpi --json` prints.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    /// Series scored.
    pub series: usize,
    /// Of them, with anomalies.
    pub series_with_anomalies: usize,
    /// Rows.
    pub rows: usize,
    /// Labelled segments.
    pub events: usize,
    /// Mean AP over series with anomalies.
    pub ap: Option<f64>,
    /// Mean best delay-adjusted F1 over series with anomalies.
    pub f1_best_d7_mean: Option<f64>,
    /// Best delay-adjusted F1 with one threshold for the set.
    pub f1_best_d7_pooled: Option<f64>,
    /// Delay-adjusted F1 at the fixed threshold, pooled.
    pub f1_d7_at_thr: Option<f64>,
    /// Share of segments with a flagged row.
    pub event_recall_at_thr: Option<f64>,
    /// Share of segments flagged within their first `delay + 1` rows.
    pub recall_d7_at_thr: Option<f64>,
    /// False alarms per 1,000 rows.
    pub fa_per_1k_at_thr: Option<f64>,
    /// Share of rows flagged.
    pub flagged_share: Option<f64>,
}

fn mean(xs: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let xs: Vec<f64> = xs.flatten().collect();
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Pools the series of one set.
pub fn summarize(per: &[SeriesScore], thr: f64) -> Summary {
    let with_anomalies: Vec<&SeriesScore> = per.iter().filter(|s| s.anomalous > 0).collect();
    let mut pooled = DelayItems::default();
    for s in per {
        pooled.extend(&s.items);
    }
    let (tp, fp, pos) = pooled.counts_at(thr);
    let rows: usize = per.iter().map(|s| s.rows).sum();
    let events: usize = per.iter().map(|s| s.events).sum();
    let share = |n: usize, of: usize| (of > 0).then(|| n as f64 / of as f64);
    Summary {
        series: per.len(),
        series_with_anomalies: with_anomalies.len(),
        rows,
        events,
        ap: mean(with_anomalies.iter().map(|s| s.ap)),
        f1_best_d7_mean: mean(with_anomalies.iter().map(|s| s.f1_best_d7)),
        f1_best_d7_pooled: pooled.best_f1().map(|b| b.f1),
        f1_d7_at_thr: (pos > 0).then(|| 2.0 * tp as f64 / (tp + fp + pos) as f64),
        event_recall_at_thr: share(per.iter().map(|s| s.events_detected).sum(), events),
        recall_d7_at_thr: share(per.iter().map(|s| s.events_detected_d7).sum(), events),
        fa_per_1k_at_thr: (rows > 0)
            .then(|| 1000.0 * per.iter().map(|s| s.false_alarms).sum::<usize>() as f64 / rows as f64),
        flagged_share: share(per.iter().map(|s| s.flagged).sum(), rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_precision_is_the_step_wise_sum_over_distinct_scores() {
        // scikit-learn: y = [0, 0, 1, 1], s = [0.1, 0.4, 0.35, 0.8] → 0.8333…
        let ap = average_precision(&[0.1, 0.4, 0.35, 0.8], &[0, 0, 1, 1]).expect("ap");
        assert!((ap - 0.833_333_333_333_333_4).abs() < 1e-12, "{ap}");
        // All scores tied: precision is the base rate.
        let ap = average_precision(&[0.0; 4], &[0, 1, 0, 0]).expect("ap");
        assert!((ap - 0.25).abs() < 1e-12, "{ap}");
        assert_eq!(average_precision(&[0.5], &[0]), None);
    }

    #[test]
    fn a_segment_counts_in_full_when_flagged_within_its_first_eight_points() {
        // One segment of 12 points from row 10; a flag at its 8th point (offset 7) finds it,
        // one at offset 8 does not.
        let ts: Vec<i64> = (0..40).map(|i| i * 60).collect();
        let labels: Vec<u8> = (0..40).map(|i| u8::from((10..22).contains(&i))).collect();
        let mut scores = vec![0.0; 40];
        scores[17] = 0.9;
        let s = score_series(&ts, &labels, &scores, 0.5, 7);
        assert_eq!(s.f1_best_d7, Some(1.0));
        assert_eq!((s.events, s.events_detected_d7, s.false_alarms), (1, 1, 0));
        scores[17] = 0.0;
        scores[18] = 0.9;
        let s = score_series(&ts, &labels, &scores, 0.5, 7);
        assert_eq!(s.f1_d7_at_thr, Some(0.0));
        assert_eq!((s.events_detected, s.events_detected_d7, s.delays.clone()), (1, 0, vec![8]));
    }

    #[test]
    fn missing_points_lie_on_the_grid_as_normal_and_unflagged() {
        // Five missing minutes inside a segment: on the grid they are label 0, so the
        // segment falls in two (2 and 5 points), and a flag in the second finds only it.
        let mut ts: Vec<i64> = (0..10).map(|i| i * 60).collect();
        ts.extend((15..30).map(|i| i * 60));
        let labels: Vec<u8> = ts.iter().map(|t| u8::from((8 * 60..20 * 60).contains(t))).collect();
        let mut scores = vec![0.0; ts.len()];
        scores[11] = 0.9; // 16 min
        let s = score_series(&ts, &labels, &scores, 0.5, 7);
        assert_eq!(s.items.segment_len, vec![2, 5]);
        assert_eq!(s.f1_d7_at_thr, Some(2.0 * 5.0 / 12.0));
        // On the rows as given it is one segment, flagged 3 rows in.
        assert_eq!((s.events, s.events_detected_d7, s.delays.clone()), (1, 1, vec![3]));
    }

    #[test]
    fn false_alarms_are_runs_that_touch_no_label() {
        let ts: Vec<i64> = (0..20).collect();
        let labels: Vec<u8> = (0..20).map(|i| u8::from((5..8).contains(&i))).collect();
        let flagged = [1, 2, 7, 8, 9, 15];
        let scores: Vec<f64> = (0..20).map(|i| if flagged.contains(&i) { 0.6 } else { 0.1 }).collect();
        let s = score_series(&ts, &labels, &scores, 0.5, 7);
        assert_eq!((s.alarms, s.false_alarms), (3, 2));
        let sum = summarize(&[s], 0.5);
        assert_eq!(sum.fa_per_1k_at_thr, Some(100.0));
    }
}
