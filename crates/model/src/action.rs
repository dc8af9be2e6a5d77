//! Actions the planner asks actuators to take, and their outcomes.
//!
//! An action is open: a verb that its service's actuator declares (see
//! [`crate::component::VerbSpec`]), a target within the service, and named parameters.
//! Nothing here knows what a verb does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What within a service an action touches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// One replica (instance, member), by index.
    One(usize),
    /// One replica by name: a Kubernetes pod, which has no stable index.
    Named(String),
    /// The whole service: every replica, no more than the guard's `max_unavailable` at a
    /// time where the verb rolls out.
    All,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::One(i) => write!(f, "replica {i}"),
            Self::Named(name) => write!(f, "replica {name}"),
            Self::All => f.write_str("all replicas"),
        }
    }
}

/// An action's named parameters, as written in the playbook step (`signal: USR1`) or set by
/// the ladder (`max_unavailable`), checked against the verb's [`crate::component::ParamSpec`]s.
pub type Params = BTreeMap<String, String>;

/// The parameter through which the ladder passes a guard's `max_unavailable` (a replica
/// count) to verbs that roll out.
pub const MAX_UNAVAILABLE: &str = "max_unavailable";

/// The parameter through which the ladder names what an action is for: the incident's
/// trigger signal and the step (`{trigger key}#step 2`). The same on every controller
/// replica that saw the same signal, so an actuator that records its actions in the world (a
/// Kubernetes annotation) can tell that another replica already took this step.
pub const ORIGIN: &str = "origin";

/// The parameter through which the ladder says when this replica opened the incident (Unix
/// milliseconds), so that an action recorded for an earlier incident of the same signal is
/// not taken for this one's.
pub const OPENED_AT: &str = "opened_at";

/// An action on a service, with the reason it is taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// The service it is done to.
    pub service: String,
    /// What to do: a verb of the service's actuator (`restart`, `rollback`, `signal`, `page`…).
    pub verb: String,
    /// What within the service.
    pub target: Target,
    /// The verb's parameters.
    #[serde(default)]
    pub params: Params,
    /// Why: the incident's title, carried into the journal and pages.
    pub reason: String,
    /// One line for people (`restart payments replica 1`), from the verb's phrase.
    pub description: String,
}

impl Action {
    /// An action described by `phrase`, in which `{service}`, `{target}`, `{verb}` and
    /// `{PARAM}` are replaced by the action's own values.
    pub fn new(
        service: impl Into<String>,
        verb: impl Into<String>,
        target: Target,
        params: Params,
        reason: impl Into<String>,
        phrase: &str,
    ) -> Self {
        let mut action = Self {
            service: service.into(),
            verb: verb.into(),
            target,
            params,
            reason: reason.into(),
            description: String::new(),
        };
        action.description = action.describe(phrase);
        action
    }

    /// `phrase` with this action's values in its placeholders.
    pub fn describe(&self, phrase: &str) -> String {
        let mut out = String::with_capacity(phrase.len() + 32);
        let mut rest = phrase;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else {
                out.push_str(&rest[open..]);
                return out;
            };
            let name = &rest[open + 1..open + close];
            match name {
                "service" => out.push_str(&self.service),
                "verb" => out.push_str(&self.verb),
                "target" => out.push_str(&self.target.to_string()),
                param => out.push_str(self.params.get(param).map(String::as_str).unwrap_or("?")),
            }
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        out
    }

    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The `max_unavailable` the ladder set (at least 1; 1 when unset or unreadable).
    pub fn max_unavailable(&self) -> usize {
        self.param(MAX_UNAVAILABLE).and_then(|v| v.parse().ok()).unwrap_or(1).max(1)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.description.is_empty() {
            write!(f, "{} {} {}", self.verb, self.service, self.target)
        } else {
            f.write_str(&self.description)
        }
    }
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    /// The actuator did what was asked.
    Succeeded,
    /// The actuator tried and failed.
    Failed,
    /// A guard (cooldown, budget, blast radius) stopped it before it ran.
    Skipped,
    /// Dry-run mode: recorded, not done.
    DryRun,
    /// The controller stopped while it was in flight; it is never re-run blindly.
    Interrupted,
}

impl OutcomeStatus {
    /// The name stored in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::DryRun => "dry_run",
            Self::Interrupted => "interrupted",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Succeeded, Self::Failed, Self::Skipped, Self::DryRun, Self::Interrupted]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// The result of applying an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// How it ended.
    pub status: OutcomeStatus,
    /// What happened, for the journal.
    pub detail: String,
}

impl Outcome {
    /// A success with a note.
    pub fn succeeded(detail: impl Into<String>) -> Self {
        Self { status: OutcomeStatus::Succeeded, detail: detail.into() }
    }
    /// A failure with the reason.
    pub fn failed(detail: impl Into<String>) -> Self {
        Self { status: OutcomeStatus::Failed, detail: detail.into() }
    }
    /// Stopped by a guard, with the guard's reason.
    pub fn skipped(detail: impl Into<String>) -> Self {
        Self { status: OutcomeStatus::Skipped, detail: detail.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phrase_names_the_actions_own_values() {
        let params = Params::from([("signal".to_owned(), "USR1".to_owned())]);
        let a =
            Action::new("payments", "signal", Target::One(1), params, "leak", "signal {signal} to {service} {target}");
        assert_eq!(a.to_string(), "signal USR1 to payments replica 1");
        assert_eq!(a.describe("{verb} {missing} {unclosed"), "signal ? {unclosed");
        assert_eq!(a.max_unavailable(), 1);
    }
}
