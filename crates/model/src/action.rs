//! Actions the planner asks actuators to take, and their outcomes.

use serde::{Deserialize, Serialize};

/// Which replicas of a service an action touches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaScope {
    /// One replica, by index.
    One(usize),
    /// Every replica, no more than the guard's `max_unavailable` at a time.
    All,
}

impl std::fmt::Display for ReplicaScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::One(i) => write!(f, "replica {i}"),
            Self::All => f.write_str("all replicas"),
        }
    }
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionKind {
    /// Send a Unix signal (`SIGHUP`, `SIGUSR1`, …) to replicas.
    Signal {
        /// Signal name as in `kill -l`, with or without the `SIG` prefix.
        signal: String,
        /// Which replicas.
        scope: ReplicaScope,
    },
    /// Stop and start replicas, waiting for each to report healthy.
    Restart {
        /// Which replicas.
        scope: ReplicaScope,
        /// At most this many replicas down at once.
        max_unavailable: usize,
    },
    /// Go back to the previous release and roll it out over every replica.
    Rollback {
        /// At most this many replicas down at once.
        max_unavailable: usize,
    },
    /// Tell a human: POST the incident summary to a webhook.
    Page {
        /// Webhook URL.
        url: String,
    },
}

impl ActionKind {
    /// The verb used in playbooks and the journal.
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Signal { .. } => "signal",
            Self::Restart { .. } => "restart",
            Self::Rollback { .. } => "rollback",
            Self::Page { .. } => "page",
        }
    }
}

/// An action on a service, with the reason it is taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// What to do.
    pub kind: ActionKind,
    /// The service it is done to.
    pub service: String,
    /// Why: the incident's title, carried into the journal and pages.
    pub reason: String,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            ActionKind::Signal { signal, scope } => {
                write!(f, "signal {signal} to {} {scope}", self.service)
            }
            ActionKind::Restart { scope, .. } => write!(f, "restart {} {scope}", self.service),
            ActionKind::Rollback { .. } => write!(f, "roll back {}", self.service),
            ActionKind::Page { url } => write!(f, "page {url} about {}", self.service),
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
