//! Running a streaming detector over the corpus and reporting it the way NAB does, plus two
//! figures NAB's oracle threshold hides: the score at a threshold fixed in advance, and the
//! score when the threshold is tuned on half the files and tested on the other half.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::{Corpus, DataFile, NabError, Profile, normalize, optimize_threshold, score_at_threshold};

/// One record at a time: `(timestamp ms, value) -> score in [0, 1]`.
pub type Stream = Box<dyn FnMut(i64, f64) -> f64>;

/// A detector's scores over the corpus and the time they took.
#[derive(Debug, Clone)]
pub struct Run {
    /// One score per row, per file, in corpus order.
    pub scores: Vec<Vec<f64>>,
    /// Time spent inside the detector (one core), excluding loading and scoring.
    pub elapsed: Duration,
}

impl Run {
    /// Records per second over the whole corpus.
    pub fn records_per_s(&self, corpus: &Corpus) -> f64 {
        corpus.rows() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs a fresh detector per file (`start` builds it from the file, which it may only use
/// for the allowed prior knowledge: min/max and probationary length), one record at a time.
pub fn run(corpus: &Corpus, mut start: impl FnMut(&DataFile) -> Stream) -> Run {
    let mut elapsed = Duration::ZERO;
    let scores = corpus
        .files
        .iter()
        .map(|file| {
            let mut detector = start(file);
            let began = Instant::now();
            let out: Vec<f64> = file.times_ms.iter().zip(&file.values).map(|(t, v)| detector(*t, *v)).collect();
            elapsed += began.elapsed();
            out
        })
        .collect();
    Run { scores, elapsed }
}

/// Writes NAB's results layout: `<dir>/<detector>/<category>/<detector>_<file>.csv` with
/// `timestamp,value,anomaly_score,label`, so NAB's own scorer can re-score it.
pub fn write_results(dir: &Path, detector: &str, corpus: &Corpus, scores: &[Vec<f64>]) -> Result<(), NabError> {
    for (file, scores) in corpus.files.iter().zip(scores) {
        let folder = dir.join(detector).join(file.category());
        let io = |source| NabError::Write { path: folder.clone(), source };
        std::fs::create_dir_all(&folder).map_err(io)?;
        let path = folder.join(format!("{detector}_{}.csv", file.name()));
        let io = |source| NabError::Write { path: path.clone(), source };
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io)?);
        writeln!(out, "timestamp,value,anomaly_score,label").map_err(io)?;
        let windows = file.window_of_rows();
        for (i, score) in scores.iter().enumerate().take(file.len()) {
            let label = u8::from(windows.get(i).is_some_and(Option::is_some));
            writeln!(out, "{},{},{score},{label}", file.timestamps[i], file.values[i]).map_err(io)?;
        }
        out.flush().map_err(io)?;
    }
    Ok(())
}

/// A detector's result under one profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileResult {
    /// Profile name.
    pub profile: String,
    /// The threshold NAB's optimiser picks (tuned on all labels, as the scoreboard does).
    pub threshold: f64,
    /// Raw score at that threshold.
    pub raw: f64,
    /// Normalised score (the scoreboard number).
    pub score: f64,
    /// Normalised score at the threshold fixed in advance.
    pub fixed_threshold_score: f64,
    /// Normalised score on held-out files with the threshold tuned on the others (mean of
    /// both halves).
    pub split_half_score: f64,
}

fn half(corpus: &Corpus, scores: &[Vec<f64>], odd: bool) -> (Corpus, Vec<Vec<f64>>) {
    let pick = |i: usize| (i % 2 == 1) == odd;
    let files = corpus.files.iter().enumerate().filter(|(i, _)| pick(*i)).map(|(_, f)| f.clone()).collect();
    let scores = scores.iter().enumerate().filter(|(i, _)| pick(*i)).map(|(_, s)| s.clone()).collect();
    (Corpus { files }, scores)
}

/// Scores `scores` under `profile`: the optimised (scoreboard) score, the score at
/// `fixed_threshold`, and the split-half score.
pub fn evaluate(
    corpus: &Corpus,
    scores: &[Vec<f64>],
    profile: &Profile,
    fixed_threshold: f64,
) -> Result<ProfileResult, NabError> {
    let windows = corpus.windows();
    let (threshold, raw) = optimize_threshold(corpus, scores, profile)?;
    let (fixed_raw, _) = score_at_threshold(corpus, scores, profile, fixed_threshold)?;
    let mut held_out = 0.0;
    for train_odd in [false, true] {
        let (train, train_scores) = half(corpus, scores, train_odd);
        let (test, test_scores) = half(corpus, scores, !train_odd);
        let (t, _) = optimize_threshold(&train, &train_scores, profile)?;
        let (test_raw, _) = score_at_threshold(&test, &test_scores, profile, t)?;
        held_out += normalize(test_raw, profile, test.windows()) / 2.0;
    }
    Ok(ProfileResult {
        profile: profile.name.clone(),
        threshold,
        raw,
        score: normalize(raw, profile, windows),
        fixed_threshold_score: normalize(fixed_raw, profile, windows),
        split_half_score: held_out,
    })
}

/// The published scoreboard: normalised score per detector and profile.
pub fn scoreboard(root: &Path) -> Result<BTreeMap<String, BTreeMap<String, f64>>, NabError> {
    let path = root.join("results").join("final_results.json");
    let text = std::fs::read_to_string(&path).map_err(|source| NabError::Io { path: path.clone(), source })?;
    serde_json::from_str(&text).map_err(|source| NabError::Json { path, source })
}
