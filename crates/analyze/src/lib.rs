//! Analyze: turns stored series into signals.
//!
//! - [`anomaly`]: learned baselines in the live loop (scores as series, anomaly signals).
//! - [`detect`]: streaming anomaly detectors (learned baselines).
//! - [`promql`]: a PromQL evaluator over any [`model::SeriesReader`].
//! - [`replay`]: running a detector over a CSV of history.
//! - [`rules`]: Prometheus alerting and recording rules and the alert state machine.
//! - [`timing`]: when each rule group and anomaly watch last ran, as series.

pub mod anomaly;
pub mod detect;
pub mod promql;
pub mod replay;
pub mod rules;
pub mod timing;
