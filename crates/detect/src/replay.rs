//! Replaying history through a detector: any CSV with a timestamp column and a value
//! column, one record at a time, exactly as the live loop would see it. A user checks what
//! a detector would have flagged on their own data before trusting it live.
//!
//! A history may be large, so the input is not limited in size, but each line is (at
//! [`MAX_LINE_BYTES`]): input that never ends a line (a device, a binary file) is refused at
//! that point with its line number instead of being gathered into one endless record, and
//! the skipped rows are kept up to [`MAX_KEPT_MALFORMED`] and counted beyond.

use std::io::{self, Read, Write};

use model::{Millis, excerpt};

use crate::Detector;

/// The longest line [`replay`] reads, in bytes: 1 MiB.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The skipped rows a [`Summary`] keeps with their reason; the rest are only counted.
pub const MAX_KEPT_MALFORMED: usize = 1000;

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

/// The first row of an alarm: a run of rows scored at or above the threshold.
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
    /// Rows skipped, with their line numbers: the first [`MAX_KEPT_MALFORMED`].
    pub malformed: Vec<Malformed>,
    /// Rows skipped in all, those left out of `malformed` included.
    pub skipped: u64,
    /// Rows at or above the threshold.
    pub alarmed_rows: u64,
    /// Alarms: runs of consecutive rows at or above the threshold.
    pub alarms: u64,
    /// The first row of each alarm: the first [`MAX_KEPT_ALARMS`].
    pub flagged: Vec<Flagged>,
}

impl Summary {
    /// The share of rows scored that alarmed.
    pub fn alarmed_share(&self) -> f64 {
        if self.rows == 0 { 0.0 } else { self.alarmed_rows as f64 / self.rows as f64 }
    }
}

/// Alarm onsets kept in a [`Summary`] (the rest are only counted).
pub const MAX_KEPT_ALARMS: usize = 10_000;

/// Why a replay could not run at all (bad rows are skipped, not fatal).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The input is not readable CSV.
    #[error("reading CSV: {0}")]
    Csv(#[from] csv::Error),
    /// The requested column is not in the header.
    #[error("no column {:?} in the header {:?}", excerpt(.0), excerpt(&.1.join(",")))]
    NoColumn(String, Vec<String>),
    /// A line is longer than [`MAX_LINE_BYTES`]: not a history of timestamps and values.
    #[error("line {line} is longer than {limit} bytes; is this a CSV history?")]
    LineTooLong {
        /// 1-based line.
        line: u64,
        /// The limit, in bytes.
        limit: usize,
    },
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
            return Err(format!("timestamp {:?} is not finite", excerpt(s)));
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
            .map_err(|e| format!("timestamp {:?}: {e}", excerpt(s))),
        Err(_) => Err(format!(
            "timestamp {:?} is neither ISO 8601 (2024-05-01T12:00:00Z, 2024-05-01 12:00:00) nor Unix seconds/milliseconds",
            excerpt(s)
        )),
    }
}

/// Passes reads through, failing with [`LineTooLong`] inside an `io::Error` once a line
/// exceeds the limit, before the CSV reader gathers it. Lines end as the CSV reader ends
/// them: at `\n`, `\r\n` or a lone `\r`.
struct LineLimit<R> {
    inner: R,
    /// 1-based line of the next byte.
    line: u64,
    /// Bytes of that line so far.
    len: usize,
    /// The last byte was `\r`: a `\n` now ends no further line.
    after_cr: bool,
    limit: usize,
}

impl<R> LineLimit<R> {
    fn new(inner: R, limit: usize) -> Self {
        Self { inner, line: 1, len: 0, after_cr: false, limit }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("line {line} is longer than {limit} bytes")]
struct LineTooLong {
    line: u64,
    limit: usize,
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let end = rest.iter().position(|b| *b == b'\n' || *b == b'\r');
            let segment = end.unwrap_or(rest.len());
            if segment > 0 {
                self.after_cr = false;
            }
            self.len += segment;
            if self.len > self.limit {
                let long = LineTooLong { line: self.line, limit: self.limit };
                return Err(io::Error::new(io::ErrorKind::InvalidData, long));
            }
            let Some(i) = end else { break };
            if !(rest[i] == b'\n' && self.after_cr) {
                self.line += 1;
            }
            self.after_cr = rest[i] == b'\r';
            self.len = 0;
            rest = &rest[i + 1..];
        }
        Ok(n)
    }
}

/// A reading error as a replay error: a line too long says so; any other I/O error ends the
/// replay too (reading again would only fail again).
fn read_error(e: csv::Error) -> ReplayError {
    if let csv::ErrorKind::Io(io) = e.kind()
        && let Some(long) = io.get_ref().and_then(|inner| inner.downcast_ref::<LineTooLong>())
    {
        return ReplayError::LineTooLong { line: long.line, limit: long.limit };
    }
    ReplayError::Csv(e)
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

/// Runs `detector` over every row of `input`, writing `timestamp,value,anomaly_score,alarm`
/// to `output` when given (`alarm` is 1 where the score reaches the threshold). Malformed
/// rows are skipped and reported with their line number.
pub fn replay(
    input: impl Read,
    opts: &ReplayOptions,
    detector: &mut dyn Detector,
    output: Option<&mut dyn Write>,
) -> Result<Summary, ReplayError> {
    let input = LineLimit::new(input, MAX_LINE_BYTES);
    let mut reader =
        csv::ReaderBuilder::new().has_headers(opts.header).flexible(true).trim(csv::Trim::All).from_reader(input);
    let header = if opts.header { Some(reader.headers().map_err(read_error)?.clone()) } else { None };
    let time_col = resolve(&opts.time, "timestamp", 0, header.as_ref())?;
    let value_col = resolve(&opts.value, "value", 1, header.as_ref())?;
    let mut writer = output.map(csv::Writer::from_writer);
    if let Some(w) = writer.as_mut() {
        w.write_record(["timestamp", "value", "anomaly_score", "alarm"])?;
    }
    let mut summary = Summary::default();
    fn skip(summary: &mut Summary, m: Malformed) {
        summary.skipped += 1;
        if summary.malformed.len() < MAX_KEPT_MALFORMED {
            summary.malformed.push(m);
        }
    }
    let mut record = csv::StringRecord::new();
    let mut in_alarm = false;
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) if e.is_io_error() => return Err(read_error(e)),
            Err(e) => {
                // A broken row (bad quoting, invalid UTF-8) is skipped like any other.
                skip(&mut summary, Malformed { line, message: e.to_string() });
                continue;
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(line);
        let (Some(ts_text), Some(value_text)) = (record.get(time_col), record.get(value_col)) else {
            let message = format!(
                "expected at least {} fields, found {}",
                time_col.saturating_add(1).max(value_col.saturating_add(1)),
                record.len()
            );
            skip(&mut summary, Malformed { line, message });
            continue;
        };
        let t = match parse_timestamp(ts_text) {
            Ok(t) => t,
            Err(message) => {
                skip(&mut summary, Malformed { line, message });
                continue;
            }
        };
        let value = match value_text.parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                let message = format!("value {:?} is not a finite number", excerpt(value_text));
                skip(&mut summary, Malformed { line, message });
                continue;
            }
        };
        let score = detector.observe(t, value);
        summary.rows += 1;
        let alarm = score >= opts.threshold;
        if alarm {
            summary.alarmed_rows += 1;
            if !in_alarm {
                summary.alarms += 1;
                if summary.flagged.len() < MAX_KEPT_ALARMS {
                    summary.flagged.push(Flagged { line, timestamp: ts_text.to_owned(), value, score });
                }
            }
        }
        in_alarm = alarm;
        if let Some(w) = writer.as_mut() {
            w.write_record([ts_text, value_text, &format!("{score}"), if alarm { "1" } else { "0" }])?;
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
    use crate::{Prior, build};

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
        assert!(written.starts_with("timestamp,value,anomaly_score,alarm\n2024-01-01 00:00:00,1,"));
    }

    #[test]
    fn input_that_never_ends_a_line_is_refused_with_its_line_number() {
        let mut d = build("ensemble", Prior::default()).expect("detector");
        let opts = ReplayOptions { time: None, value: None, header: true, threshold: 2.0 };
        // Endless, like /dev/zero: the limit must stop it, not the end of the input.
        let err = replay(std::io::repeat(0), &opts, d.as_mut(), None).expect_err("endless line");
        assert!(matches!(err, ReplayError::LineTooLong { line: 1, limit: MAX_LINE_BYTES }), "{err}");
        let text = format!("timestamp,value\n1700000000,1\n1700000060,{}\n", "9".repeat(MAX_LINE_BYTES));
        let err = replay(text.as_bytes(), &opts, d.as_mut(), None).expect_err("long line");
        assert!(matches!(err, ReplayError::LineTooLong { line: 3, .. }), "{err}");
        assert_eq!(err.to_string(), format!("line 3 is longer than {MAX_LINE_BYTES} bytes; is this a CSV history?"));
        let at_limit = format!("timestamp,value\n1700000000,{}\n", "1".repeat(MAX_LINE_BYTES - 11));
        let summary = replay(at_limit.as_bytes(), &opts, d.as_mut(), None).expect("a line at the limit is read");
        assert_eq!(summary.skipped, 1, "read and skipped as a value that is not finite");
    }

    #[test]
    fn lines_are_counted_as_the_csv_reader_counts_them() {
        let mut d = build("ensemble", Prior::default()).expect("detector");
        let opts = ReplayOptions { time: None, value: None, header: true, threshold: 2.0 };
        // Old Mac line ends are lines too: a long file of them is not one long line.
        let long_cr = format!("timestamp,value{}", "\r1700000000,1".repeat(MAX_LINE_BYTES / 10));
        let summary = replay(long_cr.as_bytes(), &opts, d.as_mut(), None).expect("lone \\r ends lines");
        assert_eq!(summary.rows, (MAX_LINE_BYTES / 10) as u64);
        for (sep, line) in [("\r\n", 4), ("\r", 4), ("\n", 4), ("\r\n\r\n", 7)] {
            let text = format!("timestamp,value{sep}1,1{sep}2,2{sep}{}", "9".repeat(MAX_LINE_BYTES + 1));
            let err = replay(text.as_bytes(), &opts, d.as_mut(), None).expect_err("long line");
            assert!(matches!(err, ReplayError::LineTooLong { line: l, .. } if l == line), "{sep:?}: {err}");
        }
        let mut reader = LineLimit::new(&b"a\r"[..], 4);
        let mut buf = [0u8; 2];
        assert_eq!(reader.read(&mut buf).expect("read"), 2);
        let mut rest = LineLimit { inner: &b"\nbb\r\r"[..], ..reader };
        assert_eq!(rest.read(&mut [0u8; 8]).expect("read"), 5);
        assert_eq!(rest.line, 4, "a \\r\\n split between reads ends one line");
    }

    #[test]
    fn an_input_that_fails_to_read_ends_the_replay() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let mut d = build("ensemble", Prior::default()).expect("detector");
        let opts = ReplayOptions { time: None, value: None, header: false, threshold: 2.0 };
        assert!(matches!(replay(Broken, &opts, d.as_mut(), None), Err(ReplayError::Csv(_))));
    }

    #[test]
    fn skipped_rows_are_counted_kept_up_to_a_limit_and_quoted_short() {
        let mut csv = String::from("timestamp,value\n");
        for i in 0..MAX_KEPT_MALFORMED + 500 {
            csv.push_str(&format!("{},{}\n", 1_700_000_000 + i, "x".repeat(10_000)));
        }
        let mut d = build("ensemble", Prior::default()).expect("detector");
        let opts = ReplayOptions { time: None, value: None, header: true, threshold: 2.0 };
        let summary = replay(csv.as_bytes(), &opts, d.as_mut(), None).expect("replay");
        assert_eq!(summary.skipped, (MAX_KEPT_MALFORMED + 500) as u64);
        assert_eq!(summary.malformed.len(), MAX_KEPT_MALFORMED);
        assert!(summary.malformed[0].message.len() < 200, "{}", summary.malformed[0].message);
        let opts = ReplayOptions { time: Some(Column::Name("t".repeat(100_000))), ..opts };
        let err = replay(csv.as_bytes(), &opts, d.as_mut(), None).expect_err("no such column");
        assert!(err.to_string().len() < 300, "{err}");
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
