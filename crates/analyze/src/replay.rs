//! Replaying history through a detector: any CSV with a timestamp column and a value
//! column, one record at a time, exactly as the live loop would see it. A user checks what
//! a detector would have flagged on their own data before trusting it live.

use std::io::{Read, Write};

use model::Millis;

use crate::detect::Detector;

/// A column by header name or 0-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// Header name.
    Name(String),
    /// 0-based position.
    Index(usize),
}

impl std::str::FromStr for Column {
    type Err = std::convert::Infallible;
    /// A number is a position, anything else a header name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(s.parse().map(Column::Index).unwrap_or_else(|_| Column::Name(s.to_owned())))
    }
}

/// How to read the input.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The timestamp column (`timestamp`, else the first).
    pub time: Option<Column>,
    /// The value column (`value`, else the second).
    pub value: Option<Column>,
    /// The first line is a header (default).
    pub header: bool,
    /// Scores at or above this are reported as anomalies in the summary.
    pub threshold: f64,
}

/// A row that could not be used, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed {
    /// 1-based line in the input.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// A row scored at or above the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Flagged {
    /// 1-based line in the input.
    pub line: u64,
    /// The timestamp as written.
    pub timestamp: String,
    /// The value.
    pub value: f64,
    /// The score.
    pub score: f64,
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Rows scored.
    pub rows: u64,
    /// Rows skipped, with their line numbers.
    pub malformed: Vec<Malformed>,
    /// Rows at or above the threshold.
    pub flagged: Vec<Flagged>,
}

/// Why a replay could not run at all (bad rows are skipped, not fatal).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The input is not readable CSV.
    #[error("reading CSV: {0}")]
    Csv(#[from] csv::Error),
    /// The requested column is not in the header.
    #[error("no column {0:?} in the header {1:?}")]
    NoColumn(String, Vec<String>),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Write(#[from] std::io::Error),
}

/// Parses a timestamp: ISO 8601 / RFC 3339 (with or without an offset; none means UTC),
/// Unix seconds (with or without fraction) or Unix milliseconds (numbers above 1e11).
pub fn parse_timestamp(text: &str) -> Result<Millis, String> {
    let s = text.trim();
    if let Ok(n) = s.parse::<f64>() {
        if !n.is_finite() {
            return Err(format!("timestamp {s:?} is not finite"));
        }
        let ms = if n.abs() >= 1e11 { n } else { n * 1000.0 };
        return Ok(ms.round() as Millis);
    }
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Ok(ts.as_millisecond());
    }
    match s.parse::<jiff::civil::DateTime>() {
        Ok(dt) => jiff::tz::Offset::UTC
            .to_timestamp(dt)
            .map(|ts| ts.as_millisecond())
            .map_err(|e| format!("timestamp {s:?}: {e}")),
        Err(_) => Err(format!(
            "timestamp {s:?} is neither ISO 8601 (2024-05-01T12:00:00Z, 2024-05-01 12:00:00) nor Unix seconds/milliseconds"
        )),
    }
}

fn resolve(
    col: &Option<Column>,
    default_name: &str,
    default_index: usize,
    header: Option<&csv::StringRecord>,
) -> Result<usize, ReplayError> {
    let names: Vec<String> = header.map(|h| h.iter().map(str::to_owned).collect()).unwrap_or_default();
    match col {
        Some(Column::Index(i)) => Ok(*i),
        Some(Column::Name(n)) => {
            names.iter().position(|h| h == n).ok_or_else(|| ReplayError::NoColumn(n.clone(), names.clone()))
        }
        None => Ok(names.iter().position(|h| h.eq_ignore_ascii_case(default_name)).unwrap_or(default_index)),
    }
}

/// Runs `detector` over every row of `input`, writing `timestamp,value,anomaly_score` to
/// `output` when given. Malformed rows are skipped and reported with their line number.
pub fn replay(
    input: impl Read,
    opts: &ReplayOptions,
    detector: &mut dyn Detector,
    output: Option<&mut dyn Write>,
) -> Result<Summary, ReplayError> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(opts.header).flexible(true).trim(csv::Trim::All).from_reader(input);
    let header = if opts.header { Some(reader.headers()?.clone()) } else { None };
    let time_col = resolve(&opts.time, "timestamp", 0, header.as_ref())?;
    let value_col = resolve(&opts.value, "value", 1, header.as_ref())?;
    let mut writer = output.map(csv::Writer::from_writer);
    if let Some(w) = writer.as_mut() {
        w.write_record(["timestamp", "value", "anomaly_score"])?;
    }
    let mut summary = Summary::default();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // A broken row (bad quoting, invalid UTF-8) is skipped like any other.
                summary.malformed.push(Malformed { line, message: e.to_string() });
                continue;
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(line);
        let (Some(ts_text), Some(value_text)) = (record.get(time_col), record.get(value_col)) else {
            summary.malformed.push(Malformed {
                line,
                message: format!("expected at least {} fields, found {}", time_col.max(value_col) + 1, record.len()),
            });
            continue;
        };
        let t = match parse_timestamp(ts_text) {
            Ok(t) => t,
            Err(message) => {
                summary.malformed.push(Malformed { line, message });
                continue;
            }
        };
        let value = match value_text.parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                summary
                    .malformed
                    .push(Malformed { line, message: format!("value {value_text:?} is not a finite number") });
                continue;
            }
        };
        let score = detector.observe(t, value);
        summary.rows += 1;
        if score >= opts.threshold {
            summary.flagged.push(Flagged { line, timestamp: ts_text.to_owned(), value, score });
        }
        if let Some(w) = writer.as_mut() {
            w.write_record([ts_text, value_text, &format!("{score}")])?;
        }
    }
    if let Some(mut w) = writer {
        w.flush()?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{Prior, build};

    #[test]
    fn timestamps_in_every_supported_form() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z"), Ok(1_000));
        assert_eq!(parse_timestamp("1970-01-01 00:00:01"), Ok(1_000));
        assert_eq!(parse_timestamp("1970-01-01T01:00:01+01:00"), Ok(1_000));
        assert_eq!(parse_timestamp("1970-01-01 00:00:01.250000"), Ok(1_250));
        assert_eq!(parse_timestamp("1700000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_timestamp("1700000000.5"), Ok(1_700_000_000_500));
        assert_eq!(parse_timestamp("1700000000123"), Ok(1_700_000_000_123));
        assert!(parse_timestamp("yesterday").is_err());
        assert!(parse_timestamp("2024-13-01 00:00:00").is_err());
    }

    #[test]
    fn malformed_rows_are_skipped_with_their_line_numbers() {
        let csv = "timestamp,value\n2024-01-01 00:00:00,1\nnot-a-time,2\n2024-01-01 00:02:00,abc\n2024-01-01 00:03:00\n2024-01-01 00:04:00,4\n";
        let mut d = build("ensemble", Prior { probation: 1, ..Prior::default() }).expect("detector");
        let mut out = Vec::new();
        let opts = ReplayOptions { time: None, value: None, header: true, threshold: 2.0 };
        let summary = replay(csv.as_bytes(), &opts, d.as_mut(), Some(&mut out)).expect("replay");
        assert_eq!(summary.rows, 2);
        let lines: Vec<u64> = summary.malformed.iter().map(|m| m.line).collect();
        assert_eq!(lines, vec![3, 4, 5]);
        assert!(summary.malformed[0].message.contains("not-a-time"));
        let written = String::from_utf8(out).expect("utf8");
        assert_eq!(written.lines().count(), 3);
        assert!(written.starts_with("timestamp,value,anomaly_score\n2024-01-01 00:00:00,1,"));
    }

    #[test]
    fn columns_by_name_or_position() {
        let csv = "v,ts\n5,1700000000\n6,1700000060\n";
        let mut d = build("ensemble", Prior::default()).expect("detector");
        let opts = ReplayOptions {
            time: Some("ts".parse().expect("col")),
            value: Some(Column::Index(0)),
            header: true,
            threshold: 2.0,
        };
        let summary = replay(csv.as_bytes(), &opts, d.as_mut(), None).expect("replay");
        assert_eq!(summary.rows, 2);
        let opts = ReplayOptions { time: Some(Column::Name("nope".into())), value: None, header: true, threshold: 2.0 };
        assert!(matches!(replay(csv.as_bytes(), &opts, d.as_mut(), None), Err(ReplayError::NoColumn(..))));
    }
}
