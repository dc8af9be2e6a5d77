//! Remedy: Plan, Execute and Verify.
//!
//! - [`playbook`]: playbooks (match, ladder of steps, guards) and their checking.
//! - [`ladder`]: running a ladder for an incident — act, verify, escalate.
//! - [`guards`]: cooldowns and hourly budgets.
//! - [`actuator`]: the [`actuator::Actuator`] seam, the local actuator and the pager.
//! - [`supervisor`]: services as supervised child processes (restart policy, rollback).

pub mod actuator;
pub mod guards;
pub mod ladder;
pub mod playbook;
pub mod supervisor;

pub use actuator::{Actuator, LocalActuator, Pager, RecordingActuator};
pub use guards::GuardState;
pub use ladder::{IncidentContext, Ladder, LadderEnd, StartAt, Verifier};
pub use playbook::{Guards, Playbook, Scope, Step, StepAction, Verify};
