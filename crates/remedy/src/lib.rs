//! Remedy: Plan, Execute and Verify.
//!
//! - [`endpoint`]: checking the hosts, ports and URLs a configuration connects to.
//! - [`playbook`]: playbooks (match, ladder of steps, guards) and their checking.
//! - [`ladder`]: running a ladder for an incident — act, verify, escalate.
//! - [`guards`]: cooldowns and hourly budgets.
//! - [`actuator`]: the [`actuator::Actuator`] seam and the local actuator.
//! - [`pager`]: pages to a webhook, retried until delivered or a deadline.
//! - [`supervisor`]: services as supervised child processes (restart policy, rollback).

pub mod actuator;
pub mod endpoint;
pub mod guards;
pub mod ladder;
pub mod pager;
pub mod playbook;
pub mod supervisor;

pub use actuator::{Actuator, LocalActuator, RecordingActuator};
pub use guards::GuardState;
pub use ladder::{IncidentContext, Ladder, LadderEnd, StartAt, Verifier};
pub use pager::{PageRetry, Pager};
pub use playbook::{Guards, Playbook, Scope, Step, StepAction, Verify};
