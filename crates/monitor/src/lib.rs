//! Monitor: telemetry in, samples and signals out.
//!
//! - [`exposition`]: the Prometheus / OpenMetrics text-format parser.

pub mod exposition;
