//! Analyze: turns stored series into signals.
//!
//! - [`promql`]: a PromQL evaluator over any [`model::SeriesReader`].
//! - [`rules`]: Prometheus alerting and recording rules and the alert state machine.

pub mod promql;
pub mod rules;
