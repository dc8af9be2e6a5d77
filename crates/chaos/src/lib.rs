//! Chaos: fault injection, traffic, and game-day reports — the engine of `autonomic demo`.
//!
//! - [`faults`]: the fault kinds, injection into the live fleet, the outside recovery oracle.
//! - [`traffic`]: steady traffic at the gateway; availability as users see it.
//! - [`scenario`]: one fault after another, each measured (MTTD, MTTR, verification).
//! - [`report`]: tables and JSON.
//! - [`pager`]: a webhook receiver standing in for the on-call.
//! - [`load`]: a hostile query load beside the loop, and the loop's timing under it.
//! - [`demo`]: the whole demo.

pub mod demo;
pub mod faults;
pub mod load;
pub mod pager;
pub mod report;
pub mod scenario;
pub mod traffic;

pub use demo::{DemoError, DemoOptions, run_once, run_until};
pub use faults::{FaultKind, FaultPlan, default_plan};
pub use load::{LoadTotals, LoopTiming, QueryLoad};
pub use report::{Report, compare_table, table};
