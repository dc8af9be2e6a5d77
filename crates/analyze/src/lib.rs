//! Analyze: turns stored series into signals.
//!
//! - [`promql`]: a PromQL evaluator over any [`model::SeriesReader`].

pub mod promql;
