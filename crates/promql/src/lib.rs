//! PromQL evaluation over a [`model::SeriesReader`].
//!
//! Expressions are parsed with the `promql-parser` crate and evaluated with Prometheus'
//! semantics (Prometheus 3.x, with delayed `__name__` removal): lookback and staleness,
//! `offset` and `@`, range functions with Prometheus' extrapolation, vector matching,
//! aggregations, classic-bucket `histogram_quantile`, subqueries.
//!
//! ```
//! use promql::{parse, Engine, Value};
//! # struct Empty;
//! # impl model::SeriesReader for Empty {
//! #     fn read(&self, _: &dyn model::SeriesSelector, _: i64, _: i64) -> Vec<model::SeriesData> { vec![] }
//! # }
//! let expr = parse("sum(rate(http_requests_total[5m])) > 1").unwrap();
//! let value = Engine::new().instant(&Empty, &expr, 1_700_000_000_000).unwrap();
//! assert_eq!(value, Value::Vector(vec![]));
//! ```
//!
//! How it works: before evaluating, every selector's time window over the whole query
//! (offsets, `@`, ranges and subqueries included) is computed and read once from the
//! reader; the expression is then evaluated at each step over that data. Results follow
//! Prometheus: instant vectors in evaluation order, matrices sorted by labels, `__name__`
//! removed at the end where an operation dropped it, duplicate label sets an error.
//!
//! Not supported: native histograms (the series store only holds floats; the
//! `histogram_count`/`_sum`/`_avg`/`_stddev`/`_stdvar` functions fail with
//! [`EvalError::Unsupported`]), the experimental `info()` function, start timestamps
//! (`start_timestamp()` returns nothing), and what `promql-parser` does not parse
//! (duration arithmetic, `anchored`/`smoothed` range selectors). Annotations (Prometheus'
//! info/warning messages) are not produced.

mod aggregate;
mod binary;
mod eval;
mod functions;
mod hash;
mod histogram;
pub mod limits;
mod prepare;
mod range_fns;
mod selector;
mod series_major;
mod value;

/// A map keyed by label sets. Range queries and aggregations look label sets up once per
/// series per step, so the hash is on the hot path: foldhash instead of SipHash. Label values
/// come from scraped targets, but each map lives for one query and foldhash seeds every map
/// at random, which is resistance enough for that; no output order depends on these maps.
pub(crate) type LabelMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

pub use value::{PromFloat, format_float};

#[cfg(test)]
mod extremes_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use model::{Labels, Millis, SeriesData, SeriesReader};

pub use promql_parser::parser::Expr;
pub use selector::LabelMatchers;

/// Why a query could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The query is empty or only whitespace.
    #[error("empty query")]
    Empty,
    /// The parser rejected the query; the message is the parser's.
    #[error("{0}")]
    Syntax(String),
    /// The query is longer or nests deeper than [`limits`] allow; it was not parsed.
    #[error(transparent)]
    Limit(#[from] limits::LimitError),
}

/// Why an evaluation failed. Messages follow Prometheus' wording where it has one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// Two series of one result would carry the same labels (after `__name__` removal).
    #[error("vector cannot contain metrics with the same labelset")]
    DuplicateLabelset,
    /// The "one" side of a vector match has several series for one match group.
    #[error(
        "found duplicate series for the match group {group} on the {side} hand-side of the operation: [{first}, {second}];many-to-many matching not allowed: matching labels must be unique on one side"
    )]
    ManyToMany {
        /// The matching labels, Prometheus-formatted.
        group: String,
        /// `left` or `right`.
        side: &'static str,
        /// One offending series.
        first: String,
        /// The other offending series.
        second: String,
    },
    /// One-to-one matching found several matches for one series.
    #[error("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)")]
    OneToOneMultipleMatches,
    /// Many-to-one matching produced the same result series twice.
    #[error("multiple matches for labels: grouping labels must ensure unique matches")]
    GroupingNotUnique,
    /// A function or operator argument has an unusable value (NaN k, bad regex, bad label name…).
    #[error("{0}")]
    InvalidArgument(String),
    /// The expression type cannot be the result of a range query.
    #[error("invalid expression type \"{0}\" for range query, must be Scalar or instant Vector")]
    InvalidRangeQueryType(&'static str),
    /// The range query parameters are unusable (zero step, end before start, too many steps).
    #[error("invalid range query: {0}")]
    InvalidRange(String),
    /// The query touched more samples than the engine's limit.
    #[error("query processing would load too many samples into memory (limit {limit})")]
    TooManySamples {
        /// The configured limit.
        limit: usize,
    },
    /// A construct this engine does not evaluate (native histograms, experimental functions).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The expression's types do not fit (the parser normally rejects these).
    #[error("type error: {0}")]
    Type(String),
    /// The query was interrupted from outside (it ran out of time, or its client left).
    #[error("query interrupted: it ran out of time or its client went away")]
    Interrupted,
}

/// One element of an instant vector; its timestamp is the evaluation time.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSample {
    /// The series' labels (without `__name__` where the expression drops it).
    pub labels: Labels,
    /// The value.
    pub v: f64,
}

/// The result of an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A single number.
    Scalar(f64),
    /// An instant vector, in Prometheus' result order.
    Vector(Vec<VectorSample>),
    /// A range vector (instant query of `x[5m]` or a subquery) or the result of a range
    /// query, sorted by labels.
    Matrix(Vec<SeriesData>),
    /// A string literal.
    String(String),
}

/// Parses a PromQL expression; the error carries the parser's message.
pub fn parse(query: &str) -> Result<Expr, ParseError> {
    if query.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    limits::check(query)?;
    // promql-parser 0.11 panics on some out-of-range numbers (a range or offset of 1e30
    // seconds overflows its `Duration`). An expression comes from a user's file or an HTTP
    // request: it must be refused with an error, never take the process or the request down.
    match std::panic::catch_unwind(|| promql_parser::parser::parse(query)) {
        // The parser's messages can quote the query (`illegal regex for …`): only an excerpt.
        Ok(parsed) => parsed.map_err(|m| ParseError::Syntax(model::excerpt_to(&m, model::MESSAGE_CHARS).to_string())),
        Err(_) => {
            Err(ParseError::Syntax("a number in this expression is out of range (the parser failed on it)".into()))
        }
    }
}

/// Evaluates PromQL expressions against a [`SeriesReader`].
#[derive(Debug, Clone)]
pub struct Engine {
    lookback_ms: i64,
    subquery_step_ms: i64,
    max_samples: usize,
    max_steps: usize,
    interrupt: Option<Arc<AtomicBool>>,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Engine {
    /// An engine with Prometheus' defaults: 5 minute lookback, 1 minute subquery step,
    /// at most 50 million samples per query.
    pub fn new() -> Self {
        Self {
            lookback_ms: 300_000,
            subquery_step_ms: 60_000,
            max_samples: 50_000_000,
            max_steps: 11_000,
            interrupt: None,
        }
    }

    /// Makes evaluations stop with [`EvalError::Interrupted`] soon after `flag` becomes
    /// true: a query's owner sets it when the query runs out of time or its client leaves.
    pub fn with_interrupt(mut self, flag: Arc<AtomicBool>) -> Self {
        self.interrupt = Some(flag);
        self
    }

    /// Sets how far back an instant selector looks for the latest sample (at least 1ms).
    pub fn with_lookback(mut self, d: Duration) -> Self {
        self.lookback_ms = duration_ms(d).max(1);
        self
    }

    /// Sets the step of subqueries that do not give one (Prometheus uses the global
    /// evaluation interval).
    pub fn with_default_subquery_step(mut self, d: Duration) -> Self {
        self.subquery_step_ms = duration_ms(d).max(1);
        self
    }

    /// Sets the most samples one query may load or hold (points of a range query's result
    /// included).
    pub fn with_max_samples(mut self, n: usize) -> Self {
        self.max_samples = n;
        self
    }

    /// Evaluates at one instant `t`.
    pub fn instant(&self, reader: &dyn SeriesReader, expr: &Expr, t: Millis) -> Result<Value, EvalError> {
        let ev = eval::Evaluator::prepare(self, reader, expr, t, t, 0)?;
        ev.run_instant(expr, t)
    }

    /// Evaluates at each step from `start` to `end` inclusive (Prometheus range-query
    /// semantics), returning a [`Value::Matrix`] sorted by labels.
    pub fn range(
        &self,
        reader: &dyn SeriesReader,
        expr: &Expr,
        start: Millis,
        end: Millis,
        step: Duration,
    ) -> Result<Value, EvalError> {
        let step_ms = duration_ms(step);
        if step_ms <= 0 {
            return Err(EvalError::InvalidRange("zero or negative query resolution step width".into()));
        }
        if end < start {
            return Err(EvalError::InvalidRange("end timestamp must not be before start time".into()));
        }
        let steps = (end.saturating_sub(start) / step_ms).saturating_add(1);
        if usize::try_from(steps).map_or(true, |s| s > self.max_steps) {
            return Err(EvalError::InvalidRange(format!(
                "exceeded maximum resolution of {} points per timeseries",
                self.max_steps
            )));
        }
        let ev = eval::Evaluator::prepare(self, reader, expr, start, end, step_ms)?;
        ev.run_range(expr, start, end, step_ms)
    }
}
