//! Scoring a detector over the corpus: at a given threshold, at the optimal threshold, and normalised.

use crate::corpus::{Corpus, DataFile};
use crate::error::NabError;
use crate::profile::Profile;
use crate::sweep::{SweepRow, ThresholdEntry, sort_rows, sweep_sorted, sweep_weights};

/// One file's row of NAB's `<detector>_<profile>_scores.csv`. Counts are rows after the probationary period.
#[derive(Clone, Debug, PartialEq)]
pub struct FileScore {
    /// The data file's key.
    pub key: String,
    /// Raw NAB score of the file.
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

/// Checks that there is one score vector per file, one score per row, every score finite and in [0, 1], and
/// that every file's windows are valid row ranges.
pub fn validate_scores(corpus: &Corpus, scores: &[Vec<f64>]) -> Result<(), NabError> {
    if scores.len() != corpus.files.len() {
        return Err(NabError::FileCount { expected: corpus.files.len(), got: scores.len() });
    }
    for (file, s) in corpus.files.iter().zip(scores) {
        validate_windows(file)?;
        if s.len() != file.len() {
            return Err(NabError::ScoreLength { key: file.key.clone(), expected: file.len(), got: s.len() });
        }
        if let Some((row, &value)) = s.iter().enumerate().find(|(_, v)| !(0.0..=1.0).contains(*v)) {
            return Err(NabError::ScoreValue { key: file.key.clone(), row, value });
        }
    }
    Ok(())
}

/// Checks a file's windows (as [`Corpus::load`] does): in range, sorted, non-overlapping, at least 2 rows wide.
fn validate_windows(file: &DataFile) -> Result<(), NabError> {
    let mut prev_last: Option<usize> = None;
    for &(first, last) in &file.windows {
        if first >= last || last >= file.len() || prev_last.is_some_and(|p| p >= first) {
            return Err(NabError::Window {
                key: file.key.clone(),
                message: format!(
                    "window rows ({first}, {last}) must be in 0..{}, at least 2 rows wide and after the previous window",
                    file.len()
                ),
            });
        }
        prev_last = Some(last);
    }
    Ok(())
}

/// Appends the scorable (post-probation) rows of `file` to `out`; window ids are offset by `window_base`.
fn push_rows(out: &mut Vec<SweepRow>, file: &DataFile, scores: &[f64], weights: &[f64], window_base: usize) {
    let windows = file.window_of_rows();
    let start = file.probationary_length();
    let rows = scores.iter().zip(weights).zip(windows).skip(start);
    out.extend(rows.map(|((&score, &weight), window)| SweepRow {
        score,
        weight,
        window: window.map(|w| w + window_base),
    }));
}

/// Scores every file at `threshold` (detections: `anomaly_score >= threshold`) as NAB's scoring step does.
/// Returns the raw total (the sum of the file scores in corpus order, NAB's "Totals" row) and one
/// [`FileScore`] per file, in corpus order. `scores` holds one vector per file of `corpus`, one score per row.
pub fn score_at_threshold(
    corpus: &Corpus,
    scores: &[Vec<f64>],
    profile: &Profile,
    threshold: f64,
) -> Result<(f64, Vec<FileScore>), NabError> {
    if threshold.is_nan() {
        return Err(NabError::Threshold);
    }
    validate_scores(corpus, scores)?;
    let mut total = 0.0;
    let mut out = Vec::with_capacity(corpus.files.len());
    let mut rows = Vec::new();
    for (file, s) in corpus.files.iter().zip(scores) {
        rows.clear();
        push_rows(&mut rows, file, s, &sweep_weights(file, profile), 0);
        sort_rows(&mut rows);
        let mut chosen: Option<ThresholdEntry> = None;
        sweep_sorted(&rows, profile.fn_weight, |e| {
            // Entries come in decreasing threshold order: keep the last one at or above `threshold` (or the
            // first, "no detections", when the threshold is above 1.1).
            if chosen.is_none() || e.threshold >= threshold {
                chosen = Some(*e);
            }
            e.threshold >= threshold
        });
        // `sweep_sorted` always visits at least the first entry.
        let e = chosen.unwrap_or(ThresholdEntry { threshold: 1.1, score: 0.0, tp: 0, tn: 0, fp: 0, fn_: 0 });
        total += e.score;
        out.push(FileScore { key: file.key.clone(), score: e.score, tp: e.tp, tn: e.tn, fp: e.fp, fn_: e.fn_ });
    }
    Ok((total, out))
}

/// The scorable rows of the whole corpus under `profile`, in corpus order, with corpus-wide window ids.
fn pooled_rows(corpus: &Corpus, scores: &[Vec<f64>], profile: &Profile) -> Vec<SweepRow> {
    let scorable: usize = corpus.files.iter().map(|f| f.len() - f.probationary_length()).sum();
    let mut rows = Vec::with_capacity(scorable);
    let mut window_base = 0;
    for (file, s) in corpus.files.iter().zip(scores) {
        push_rows(&mut rows, file, s, &sweep_weights(file, profile), window_base);
        window_base += file.windows.len();
    }
    rows
}

/// The score curve of the whole corpus: NAB's `calcScoreByThreshold` over the pooled scorable rows of all
/// files, one entry per candidate threshold (1.1, then every distinct anomaly score, descending).
pub fn score_curve(corpus: &Corpus, scores: &[Vec<f64>], profile: &Profile) -> Result<Vec<ThresholdEntry>, NabError> {
    validate_scores(corpus, scores)?;
    let mut rows = pooled_rows(corpus, scores, profile);
    sort_rows(&mut rows);
    let mut out = Vec::new();
    sweep_sorted(&rows, profile.fn_weight, |e| {
        out.push(*e);
        true
    });
    Ok(out)
}

/// NAB's threshold optimiser: pools the scorable rows of all files, sweeps every candidate threshold and
/// returns `(threshold, raw score)` of the best one; ties go to the highest threshold.
pub fn optimize_threshold(corpus: &Corpus, scores: &[Vec<f64>], profile: &Profile) -> Result<(f64, f64), NabError> {
    validate_scores(corpus, scores)?;
    let mut rows = pooled_rows(corpus, scores, profile);
    sort_rows(&mut rows);
    let mut best: Option<(f64, f64)> = None;
    sweep_sorted(&rows, profile.fn_weight, |e| {
        if best.is_none_or(|(_, s)| e.score > s) {
            best = Some((e.threshold, e.score));
        }
        true
    });
    // `sweep_sorted` always visits at least the first entry, "no detections": -fnWeight per window.
    Ok(best.unwrap_or((1.1, 0.0)))
}

/// NAB's normalisation: `100 * (raw - null) / (perfect - null)` with `null = -fnWeight * windows` (the null
/// detector's raw score) and `perfect = tpWeight * windows`. The null detector scores 0, a perfect one 100.
pub fn normalize(raw: f64, profile: &Profile, windows: usize) -> f64 {
    let null = -profile.fn_weight * windows as f64;
    let perfect = windows as f64 * profile.tp_weight;
    100.0 * (raw - null) / (perfect - null)
}
