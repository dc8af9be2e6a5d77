//! The error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while loading NAB's files or scoring a detector.
///
/// Every variant names the file (and line or row) it is about.
#[derive(Debug, thiserror::Error)]
pub enum NabError {
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A results file or directory could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line of a CSV file is malformed (bad header, field count, timestamp or number).
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number (the header is line 1).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A JSON file is not valid JSON or does not have the expected shape.
    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// The corpus folder is inconsistent (no data, a data file without labels, labels without a data file).
    #[error("{}: {message}", path.display())]
    Corpus {
        /// The file or folder concerned.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A label window of a data file is invalid (timestamp not in the file, windows out of order, ...).
    #[error("labels of {key}: {message}")]
    Window {
        /// The data file's key, `category/file.csv`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A cost profile is missing or has invalid weights.
    #[error("profile {name}: {message}")]
    Profile {
        /// The profile's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The number of score vectors differs from the number of files in the corpus.
    #[error("expected anomaly scores for {expected} files, got {got}")]
    FileCount {
        /// Files in the corpus.
        expected: usize,
        /// Score vectors given.
        got: usize,
    },
    /// A file's score vector does not have one score per row.
    #[error("{key}: expected {expected} anomaly scores (one per row), got {got}")]
    ScoreLength {
        /// The data file's key.
        key: String,
        /// Rows in the file.
        expected: usize,
        /// Scores given.
        got: usize,
    },
    /// An anomaly score is NaN, infinite or outside [0, 1].
    #[error("{key} row {row}: anomaly score {value} is not a finite number in [0, 1]")]
    ScoreValue {
        /// The data file's key.
        key: String,
        /// 0-based data row (the CSV line is `row + 2`).
        row: usize,
        /// The offending value.
        value: f64,
    },
    /// A threshold is NaN.
    #[error("threshold must not be NaN")]
    Threshold,
}

impl NabError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn parse(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        Self::Parse { path: path.into(), line, message: message.into() }
    }
}
