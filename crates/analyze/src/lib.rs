//! Analyze: turns stored series into signals.
//!
//! - [`detect`]: streaming anomaly detectors (learned baselines).
//! - [`promql`]: a PromQL evaluator over any [`model::SeriesReader`].
//! - [`rules`]: Prometheus alerting and recording rules and the alert state machine.

pub mod detect;
pub mod promql;
pub mod rules;
