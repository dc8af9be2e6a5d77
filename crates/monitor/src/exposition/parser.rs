//! The single-pass parser behind [`super::parse`].
//!
//! Every read of the input goes through `get`, and every slice of it through `str::get`, so
//! no input can make the parser panic. Positions only ever stop on ASCII delimiters or at the
//! start of a character, so the slices are char boundaries in practice anyway.
//!
//! Limits are checked as soon as what they bound is read, so the parser never does more
//! work than the limits allow; the label set of a sample is a sorted map, which makes
//! duplicate detection and building the sorted [`Labels`] O(n log n) in its size.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use model::{Labels, METRIC_NAME};

use super::number::{self, NumberError};
use super::{Exposition, ExpositionError, Format, LimitExceeded, MetricType, ParseError, ParseLimits, ParsedSample};

mod labels;
mod metadata;

use labels::LabelName;

type Result<T> = std::result::Result<T, ExpositionError>;

pub(super) fn parse(
    text: &str,
    format: Format,
    limits: ParseLimits,
    cancel: Option<&AtomicBool>,
) -> Result<Exposition> {
    Parser {
        src: text,
        b: text.as_bytes(),
        pos: 0,
        line: 1,
        line_start: 0,
        om: format == Format::OpenMetrics,
        out: Exposition::default(),
        labels: BTreeMap::new(),
        limits,
        cancel,
    }
    .run()
}

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn is_metric_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_metric_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

fn is_label_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_label_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The metadata comments.
#[derive(Clone, Copy)]
enum Meta {
    Help,
    Type,
    Unit,
}

impl Meta {
    fn keyword(self) -> &'static str {
        match self {
            Meta::Help => "HELP",
            Meta::Type => "TYPE",
            Meta::Unit => "UNIT",
        }
    }
}

/// What a quoted string is, for error messages.
#[derive(Clone, Copy)]
enum Quoted {
    LabelValue,
    Name,
}

impl Quoted {
    fn what(self) -> &'static str {
        match self {
            Quoted::LabelValue => "label value",
            Quoted::Name => "quoted name",
        }
    }
}

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    /// 1-based number of the line `pos` is on.
    line: usize,
    /// Byte offset where that line starts.
    line_start: usize,
    om: bool,
    out: Exposition,
    /// The current sample's labels (without a metric name written before the `{`).
    labels: BTreeMap<LabelName, String>,
    limits: ParseLimits,
    /// Set by the caller to stop early; checked once a line.
    cancel: Option<&'a AtomicBool>,
}

impl<'a> Parser<'a> {
    fn run(mut self) -> Result<Exposition> {
        while self.pos < self.b.len() {
            if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(ExpositionError::Cancelled);
            }
            if self.om {
                if self.om_line()? {
                    return Ok(self.out);
                }
            } else {
                self.text_line()?;
            }
        }
        if self.om {
            return Err(self.expected(self.pos, "'# EOF' at the end of an OpenMetrics exposition"));
        }
        Ok(self.out)
    }

    // ---- low-level helpers ----

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn at(&self, c: u8) -> bool {
        self.peek() == Some(c)
    }

    fn at_eol(&self) -> bool {
        matches!(self.peek(), None | Some(b'\n'))
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(is_blank) {
            self.pos += 1;
        }
    }

    fn starts_with(&self, s: &[u8]) -> bool {
        self.b.get(self.pos..).is_some_and(|rest| rest.starts_with(s))
    }

    /// Moves `pos` forward while `pred` holds.
    fn advance_while(&mut self, pred: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
    }

    /// Moves `pos` to the next `'\n'` (or the end of input), not consuming it.
    fn advance_to_eol(&mut self) {
        let rest = self.b.get(self.pos..).unwrap_or(&[]);
        self.pos += rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
    }

    /// Consumes the `'\n'` at `pos`, if any, and starts the next line.
    fn end_line(&mut self) {
        if self.at(b'\n') {
            self.pos += 1;
            self.line += 1;
            self.line_start = self.pos;
        }
    }

    fn slice(&self, start: usize, end: usize) -> &'a str {
        self.src.get(start..end).unwrap_or("")
    }

    /// A token running to the next space (and, in the text format, tab) or end of line.
    fn token(&mut self) -> (usize, &'a str) {
        let start = self.pos;
        if self.om {
            self.advance_while(|c| c != b' ' && c != b'\n');
        } else {
            self.advance_while(|c| !is_blank(c) && c != b'\n');
        }
        (start, self.slice(start, self.pos))
    }

    // ---- errors ----

    fn column(&self, pos: usize) -> usize {
        let before = self.b.get(self.line_start..pos).unwrap_or(&[]);
        // Count characters by counting the bytes that start one.
        before.iter().filter(|&&c| c & 0xC0 != 0x80).count() + 1
    }

    fn error(&self, pos: usize, message: impl Into<String>) -> ExpositionError {
        ExpositionError::Malformed(ParseError { line: self.line, column: self.column(pos), message: message.into() })
    }

    fn found(&self, pos: usize) -> String {
        match self.src.get(pos..).and_then(|rest| rest.chars().next()) {
            None if pos >= self.b.len() => "end of input".to_owned(),
            None => "an invalid character boundary".to_owned(),
            Some('\n') => "end of line".to_owned(),
            Some(c) => format!("{c:?}"),
        }
    }

    fn expected(&self, pos: usize, what: &str) -> ExpositionError {
        self.error(pos, format!("expected {what}, found {}", self.found(pos)))
    }

    // ---- lines ----

    /// One line of the Prometheus text format.
    fn text_line(&mut self) -> Result<()> {
        self.skip_blanks();
        match self.peek() {
            None => Ok(()),
            Some(b'\n') => {
                self.end_line();
                Ok(())
            }
            Some(b'#') => self.text_comment(),
            Some(_) => self.sample(),
        }
    }

    /// `name{labels} value [timestamp] [exemplar]`.
    fn sample(&mut self) -> Result<()> {
        if self.out.samples.len() >= self.limits.samples {
            return Err(LimitExceeded::Samples { limit: self.limits.samples }.into());
        }
        let line_pos = self.pos;
        self.labels.clear();
        let mut name: Option<String> = None;
        match self.peek() {
            Some(c) if is_metric_name_start(c) => {
                let start = self.pos;
                self.advance_while(is_metric_name_char);
                let n = self.slice(start, self.pos);
                // At the end of the line, the missing value is the better complaint.
                let separated = match self.peek() {
                    None | Some(b'{' | b' ' | b'\n') => true,
                    Some(c) => !self.om && is_blank(c),
                };
                if !separated {
                    let what = if self.om {
                        format!("'{{' or ' ' after metric name {n:?}")
                    } else {
                        format!("'{{' or whitespace after metric name {n:?}")
                    };
                    return Err(self.expected(self.pos, &what));
                }
                self.check_value_length(METRIC_NAME, n)?;
                name = Some(n.to_owned());
            }
            Some(b'{') => {}
            _ => return Err(self.expected(self.pos, "a metric name or '{'")),
        }
        if !self.om {
            self.skip_blanks();
        }
        if self.at(b'{') {
            self.label_set(&mut name, false)?;
        }
        let named = name.is_some() || self.labels.get(METRIC_NAME).is_some_and(|v| !v.is_empty());
        if !named {
            return Err(
                self.error(line_pos, "missing metric name: expected a name before '{' or a quoted name inside it")
            );
        }

        // Value.
        if self.om {
            if !self.at(b' ') {
                return Err(self.expected(self.pos, "' ' before the sample value"));
            }
            self.pos += 1;
        } else {
            self.skip_blanks();
        }
        let value = self.value("sample value")?;

        // Timestamp and exemplar.
        let mut timestamp = None;
        if self.om {
            if self.at(b' ') {
                self.pos += 1;
                if self.at(b'#') {
                    self.exemplar()?;
                } else {
                    let (ts_pos, ts) = self.token();
                    if ts.is_empty() {
                        return Err(self.expected(ts_pos, "a timestamp or '# {' exemplar"));
                    }
                    timestamp = Some(self.om_timestamp(ts_pos, ts)?);
                    if self.at(b' ') {
                        self.pos += 1;
                        if !self.at(b'#') {
                            return Err(self.expected(self.pos, "'#' starting an exemplar"));
                        }
                        self.exemplar()?;
                    }
                }
            }
            if !self.at_eol() {
                return Err(self.expected(self.pos, "end of line"));
            }
        } else {
            self.skip_blanks();
            if !self.at_eol() {
                let (ts_pos, ts) = self.token();
                timestamp = Some(number::parse_millis(ts).map_err(|e| {
                    let why = match e {
                        NumberError::OutOfRange => "is out of range for 64-bit milliseconds",
                        _ => "is not an integer number of milliseconds",
                    };
                    self.error(ts_pos, format!("invalid timestamp {ts:?}: {why}"))
                })?);
                self.skip_blanks();
                if !self.at_eol() {
                    return Err(self.expected(self.pos, "end of line after the timestamp"));
                }
            }
        }
        self.end_line();

        let mut map = std::mem::take(&mut self.labels);
        if let Some(name) = name {
            // A `__name__` label beside a metric name was refused as a duplicate.
            map.insert(LabelName::new(METRIC_NAME.to_owned()), name);
        }
        // In name order, so that each insertion lands at the end of the sorted set.
        let labels = Labels::from_pairs(map.into_iter().map(|(k, v)| (k.into_string(), v)));
        self.out.samples.push(ParsedSample { labels, value, timestamp });
        Ok(())
    }

    /// A float token at `pos`; `what` names it in errors.
    fn value(&mut self, what: &str) -> Result<f64> {
        let (pos, token) = self.token();
        if token.is_empty() {
            return Err(self.expected(pos, what));
        }
        number::parse_value(token).map_err(|e| {
            let message = match e {
                NumberError::OutOfRange => {
                    format!("{what} {token:?} is out of range for a 64-bit float")
                }
                _ => format!("invalid {what} {token:?}: expected a number such as 1, -2.5e3, NaN, +Inf or -Inf"),
            };
            self.error(pos, message)
        })
    }

    fn om_timestamp(&self, pos: usize, token: &str) -> Result<model::Millis> {
        number::parse_seconds_as_millis(token).map_err(|e| {
            let why = match e {
                NumberError::Invalid => "expected seconds since the epoch such as 1712345678.123",
                NumberError::NotFinite => "a timestamp must be finite",
                NumberError::OutOfRange => "out of range for 64-bit milliseconds",
            };
            self.error(pos, format!("invalid timestamp {token:?}: {why}"))
        })
    }

    /// ` # {labels} value [timestamp]` after an OpenMetrics sample; `pos` is at the `#`.
    fn exemplar(&mut self) -> Result<()> {
        self.pos += 1; // '#'
        if !self.at(b' ') {
            return Err(self.expected(self.pos, "' ' after the '#' of an exemplar"));
        }
        self.pos += 1;
        if !self.at(b'{') {
            return Err(self.expected(self.pos, "'{' starting the exemplar's label set"));
        }
        self.label_set(&mut None, true)?;
        if !self.at(b' ') {
            return Err(self.expected(self.pos, "' ' before the exemplar value"));
        }
        self.pos += 1;
        self.value("exemplar value")?;
        if self.at(b' ') {
            self.pos += 1;
            let (ts_pos, ts) = self.token();
            if ts.is_empty() {
                return Err(self.expected(ts_pos, "an exemplar timestamp"));
            }
            self.om_timestamp(ts_pos, ts)?;
        }
        if !self.at_eol() {
            return Err(self.expected(self.pos, "end of line after the exemplar"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
