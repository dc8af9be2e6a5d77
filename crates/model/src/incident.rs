//! Incidents: one problem on one service, however many signals it raised.

use serde::{Deserialize, Serialize};

use crate::Millis;

/// Journal identity of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IncidentId(pub i64);

impl std::fmt::Display for IncidentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// Opened; remediation running or about to.
    Open,
    /// Recovery was verified.
    Resolved,
    /// The ladder ran out (or no playbook matched): a human was paged.
    Escalated,
    /// Folded into another incident whose service is the root cause.
    Merged,
}

impl IncidentState {
    /// The name stored in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolved => "resolved",
            Self::Escalated => "escalated",
            Self::Merged => "merged",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "resolved" => Some(Self::Resolved),
            "escalated" => Some(Self::Escalated),
            "merged" => Some(Self::Merged),
            _ => None,
        }
    }
}

/// A problem on a service and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Journal identity.
    pub id: IncidentId,
    /// The service judged to be the cause.
    pub service: String,
    /// One line: what went wrong.
    pub title: String,
    /// Key of the signal that opened it.
    pub trigger: String,
    /// The playbook chosen, if one matched.
    pub playbook: Option<String>,
    /// When it was opened.
    pub opened_at: Millis,
    /// When it was resolved or escalated.
    pub closed_at: Option<Millis>,
    /// Where it stands.
    pub state: IncidentState,
}
