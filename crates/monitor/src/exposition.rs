//! Prometheus text exposition format (0.0.4) and OpenMetrics 1.0 text parser.
//!
//! [`parse`] turns the body of a scrape into [`ParsedSample`]s plus the `# TYPE` and `# HELP`
//! metadata, in one pass over the bytes. A malformed exposition fails as a whole with a
//! [`ParseError`] that names the 1-based line and column (in characters), what was expected
//! and what was found, the way Prometheus marks such a scrape as failed.
//!
//! # The two formats
//!
//! | | Prometheus text 0.0.4 | OpenMetrics 1.0 |
//! |---|---|---|
//! | metadata | `# HELP`, `# TYPE`; other comments ignored | `# HELP`, `# TYPE`, `# UNIT`; no other comments |
//! | types | `counter gauge histogram summary untyped` | `counter gauge histogram gaugehistogram summary info stateset unknown` |
//! | separators | runs of spaces and tabs, leading and trailing blanks allowed | exactly one space |
//! | blank lines | skipped | an error |
//! | timestamps | integer milliseconds | (float) seconds, converted exactly and truncated to ms |
//! | exemplars | an error | ` # {labels} value [timestamp]`, parsed and dropped |
//! | end | end of input | a mandatory `# EOF` line; anything after it is an error |
//!
//! Both formats accept: label value escapes `\\`, `\"`, `\n` (any other escape is an error),
//! a trailing comma in a label set, Go-style floats (`NaN`, `+Inf`, `-Inf`, `Inf`, `inf`,
//! `Infinity` in any case, exponents, `.5`, `5.`; a signed NaN, hex floats, underscores and
//! values beyond `f64` range are errors, as in Prometheus), and the UTF-8 quoted-name form
//! `{"my.metric", "my.label"="v"}` as well as `# TYPE "my.metric" gauge`.
//!
//! `# HELP` text is unescaped (`\\` and `\n`; in OpenMetrics also `\"`); any other backslash
//! sequence in help text is kept verbatim instead of failing the scrape, since help text is
//! documentation and exporters (prometheus-client included) do not escape it consistently.
//!
//! Not validated (accepted): which suffixes belong to which family (`_total`, `_bucket`, ...),
//! the order of families, `# TYPE` after a family's samples, duplicate series, counter
//! monotonicity, exemplar size limits.
//!
//! # Limits
//!
//! [`parse_limited`] enforces a scrape's [`ParseLimits`] (Prometheus' `sample_limit`,
//! `label_limit`, `label_name_length_limit`, `label_value_length_limit`) while it reads, and
//! stops at the first one exceeded: a body of a million samples costs the parser
//! `sample_limit` samples, not a million. Its work is linear in the number of labels of a
//! sample (duplicate names are found in a sorted map, and the label set is built from it in
//! order), so a line with 100 k labels is refused quickly, and parses in O(n log n) even with
//! the limit raised.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use model::{Labels, Millis};

mod number;
mod parser;

/// Which text format a scrape returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`, the classic Prometheus text format.
    PrometheusText,
    /// `application/openmetrics-text`, OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// The format named by a `Content-Type` header: [`Format::OpenMetrics`] for
    /// `application/openmetrics-text` (any parameters, any case), otherwise (including a
    /// missing header) [`Format::PrometheusText`].
    pub fn from_content_type(ct: Option<&str>) -> Format {
        let Some(ct) = ct else {
            return Format::PrometheusText;
        };
        let media_type = ct.split(';').next().unwrap_or("").trim();
        if media_type.eq_ignore_ascii_case("application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::PrometheusText
        }
    }
}

/// One sample line of an exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    /// The series' labels, including `__name__`. Labels with empty values are dropped.
    pub labels: Labels,
    /// The sample value.
    pub value: f64,
    /// The exposed timestamp in ms since the epoch, if the line carried one.
    pub timestamp: Option<Millis>,
}

/// A metric family's type from its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`.
    Histogram,
    /// `gaugehistogram` (OpenMetrics only).
    GaugeHistogram,
    /// `summary`.
    Summary,
    /// `info` (OpenMetrics only).
    Info,
    /// `stateset` (OpenMetrics only).
    StateSet,
    /// `untyped` in the Prometheus text format, `unknown` in OpenMetrics.
    Unknown,
}

impl MetricType {
    /// The OpenMetrics keyword for this type.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// Everything one exposition contained.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    /// Sample lines, in input order.
    pub samples: Vec<ParsedSample>,
    /// Metric family name (as written on its `# TYPE` line) to type.
    pub types: BTreeMap<String, MetricType>,
    /// Metric family name (as written on its `# HELP` line) to unescaped help text.
    pub help: BTreeMap<String, String>,
}

/// Why an exposition was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters (not bytes).
    pub column: usize,
    /// What was expected and what was found.
    pub message: String,
}

/// Per-exposition limits, with Prometheus' meanings. Lengths are in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Most sample lines (`sample_limit`).
    pub samples: usize,
    /// Most labels on one sample, its metric name included (`label_limit`).
    pub labels: usize,
    /// Longest label name (`label_name_length_limit`).
    pub label_name_length: usize,
    /// Longest label value, the metric name included (`label_value_length_limit`).
    pub label_value_length: usize,
}

impl ParseLimits {
    /// No limit at all: what [`parse`] applies.
    pub const NONE: ParseLimits = ParseLimits {
        samples: usize::MAX,
        labels: usize::MAX,
        label_name_length: usize::MAX,
        label_value_length: usize::MAX,
    };
}

/// Which limit an exposition exceeded; the text names the limit as Prometheus' option does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// More sample lines than `sample_limit`.
    #[error("sample_limit exceeded: more than {limit} samples")]
    Samples {
        /// The limit.
        limit: usize,
    },
    /// A sample with more labels than `label_limit`.
    #[error("label_limit exceeded: a sample of {metric} has more than {limit} labels (line {line})")]
    Labels {
        /// The limit.
        limit: usize,
        /// The sample's metric name (shortened), or `(unnamed)` if not known yet.
        metric: String,
        /// 1-based line of the sample.
        line: usize,
    },
    /// A label name longer than `label_name_length_limit`.
    #[error(
        "label_name_length_limit exceeded: label name {name} is {length} bytes long, more than {limit} (line {line})"
    )]
    LabelNameLength {
        /// The limit.
        limit: usize,
        /// The name (shortened, quoted).
        name: String,
        /// Its length in bytes.
        length: usize,
        /// 1-based line of the sample.
        line: usize,
    },
    /// A label value (or metric name) longer than `label_value_length_limit`.
    #[error(
        "label_value_length_limit exceeded: the value of label {name} is {length} bytes long, more than {limit} (line {line})"
    )]
    LabelValueLength {
        /// The limit.
        limit: usize,
        /// The label's name (shortened, quoted); `"__name__"` for the metric name.
        name: String,
        /// The value's length in bytes.
        length: usize,
        /// 1-based line of the sample.
        line: usize,
    },
}

/// Why [`parse_limited`] gave up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExpositionError {
    /// The text is not a valid exposition.
    #[error(transparent)]
    Malformed(#[from] ParseError),
    /// The exposition exceeds a limit.
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
    /// The caller cancelled the parse (its deadline passed).
    #[error("parsing was cancelled")]
    Cancelled,
}

/// Parses a whole exposition in `format`. Never panics, whatever `text` holds.
pub fn parse(text: &str, format: Format) -> Result<Exposition, ParseError> {
    match parser::parse(text, format, ParseLimits::NONE, None) {
        Ok(exposition) => Ok(exposition),
        Err(ExpositionError::Malformed(e)) => Err(e),
        // Neither can happen without limits and without a cancel flag; kept total anyway.
        Err(other) => Err(ParseError { line: 0, column: 0, message: other.to_string() }),
    }
}

/// Parses a whole exposition in `format`, stopping at the first limit exceeded, and as soon
/// as `cancel` (checked once a line) is set. Never panics, whatever `text` holds.
pub fn parse_limited(
    text: &str,
    format: Format,
    limits: ParseLimits,
    cancel: Option<&AtomicBool>,
) -> Result<Exposition, ExpositionError> {
    parser::parse(text, format, limits, cancel)
}
