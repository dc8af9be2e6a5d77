//! What can go wrong reading a corpus.

use std::path::PathBuf;

/// A corpus that cannot be read, with the file and line at fault.
#[derive(Debug, thiserror::Error)]
pub enum KpiError {
    /// The folder or file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path at fault.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The header lacks a column the corpus needs.
    #[error("{path}:1: no {column:?} column in the header {header:?}")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column wanted.
        column: &'static str,
        /// The header as read.
        header: String,
    },
    /// A row that does not parse.
    #[error("{path}:{line}: {column} {value:?}: {why}")]
    BadField {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The column.
        column: &'static str,
        /// The text found.
        value: String,
        /// What was expected.
        why: &'static str,
    },
    /// Timestamps must increase strictly, row by row.
    #[error("{path}:{line}: timestamp {timestamp} does not follow {previous}: timestamps must increase strictly")]
    NotIncreasing {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The timestamp found.
        timestamp: i64,
        /// The row before it.
        previous: i64,
    },
    /// A folder with no labelled set in it.
    #[error("{path}: no labelled set (expected sub-folders of `timestamp,value,label` CSV files)")]
    NoSets {
        /// The folder.
        path: PathBuf,
    },
}
