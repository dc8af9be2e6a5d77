//! Remedy: Plan, Execute and Verify.
//!
//! - [`endpoint`]: checking the hosts, ports and URLs a configuration connects to.
//! - [`playbook`]: playbooks (match, ladder of steps, guards) and their checking against the
//!   verbs of the actuators they can reach.
//! - [`ladder`]: running a ladder for an incident — act, verify, escalate.
//! - [`guards`]: cooldowns and hourly budgets.
//! - [`actuators`]: the registry of actuator types, each service's running actuator, and a
//!   recording actuator for tests; the `process` actuator runs services as supervised child
//!   processes (restart policy, canary deploys, rollback).
//! - [`pager`]: pages to a webhook, retried until delivered or a deadline.
//! - [`notify`]: what a page says: a generic webhook, PagerDuty Events v2, or Slack.

pub mod actuators;
pub mod endpoint;
pub mod guards;
pub mod ladder;
pub mod notify;
pub mod pager;
pub mod playbook;

pub use actuators::{Actuators, ProcessActuator, RecordingActuator};
pub use guards::GuardState;
pub use ladder::{Ladder, LadderEnd, StartAt, Verifier};
pub use notify::PageFormat;
pub use pager::{PAGE, PageRetry, Pager, page_action, page_action_as};
pub use playbook::{Guards, Playbook, Scope, Step, StepAction, Verify};
