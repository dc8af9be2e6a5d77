//! The demo fleet: one small HTTP service that `autonomic demo` starts as several real OS
//! processes (`gateway → checkout → {payments, inventory}`, two replicas each).
//!
//! Each replica serves real traffic (`GET /work`, calling its downstream services over
//! HTTP), exposes Prometheus metrics (`/metrics`), a liveness endpoint (`/health`) and a
//! fault-control endpoint (`/fault`). Faults are real: a crash exits the process, a hang
//! stops answering, a leak allocates and touches memory, an error burst answers 5xx, a
//! latency fault slows requests down, a defective release fails half its requests, and a
//! dependency outage makes every request fail until the process is restarted.

mod faults;
mod metrics;
mod service;

pub use faults::{Fault, FaultReport};
pub use service::{ServiceError, ServiceOptions, run};
