//! Support for the promqltest conformance runner.

pub mod runner;
pub mod script;
pub mod store;
