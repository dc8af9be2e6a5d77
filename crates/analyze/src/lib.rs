//! Analyze: turns stored series and firing signals into what the loop acts on.
//!
//! This crate holds what ties the PromQL engine and the detectors to the loop:
//!
//! - [`rules`]: Prometheus alerting and recording rules and the alert state machine.
//! - [`anomaly`]: learned baselines in the live loop (scores as series, anomaly signals); it
//!   evaluates a PromQL expression and feeds each series to a detector.
//! - [`correlate`]: where a firing signal belongs (an open incident of its service, a symptom
//!   of one downstream, the echo of one that just resolved, or a new incident); a pure
//!   decision, the controller's incident manager keeps the state and acts on it.
//! - [`timing`]: when each rule group and anomaly watch last ran, as series.
//!
//! The engine and the detectors are crates of their own, re-exported here so that
//! `analyze::promql` and `analyze::detect` name them:
//!
//! - [`promql`]: a PromQL evaluator over any [`model::SeriesReader`] (crate `promql`).
//! - [`detect`]: streaming anomaly detectors and replaying CSV history through one
//!   ([`detect::replay`]) (crate `detect`).

pub use detect;
pub use promql;

pub mod anomaly;
pub mod correlate;
pub mod rules;
pub mod timing;
