//! Remedy: Plan, Execute and Verify.
//!
//! - [`supervisor`]: the local actuator — services as supervised child processes.

pub mod supervisor;
