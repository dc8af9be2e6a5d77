//! Signals: what the analyze stage tells the planner. An alert that fires, a process that
//! exits, a probe that fails, a target that stops answering: each is a signal with a
//! firing and a resolved edge.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Labels, Millis};

/// What produced a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// A Prometheus-style alerting rule reached `firing`.
    Alert,
    /// A supervised process exited.
    ProcessExited,
    /// A health probe failed repeatedly.
    ProbeFailed,
    /// A scrape target stopped answering or served garbage (`up == 0`).
    TargetDown,
    /// A learned baseline flagged a deviation.
    Anomaly,
    /// Something is wrong with the controller itself (a loop task panicked, the journal
    /// cannot be written): never about a service, never remediated, always reported.
    ControllerFault,
}

impl SignalKind {
    /// The name used in playbooks and the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alert => "alert",
            Self::ProcessExited => "process_exited",
            Self::ProbeFailed => "probe_failed",
            Self::TargetDown => "target_down",
            Self::Anomaly => "anomaly",
            Self::ControllerFault => "controller_fault",
        }
    }

    /// Parses the name used in playbooks.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Alert, Self::ProcessExited, Self::ProbeFailed, Self::TargetDown, Self::Anomaly, Self::ControllerFault]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Edge of a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalState {
    /// The condition holds.
    Firing,
    /// The condition no longer holds.
    Resolved,
}

/// One observed problem (or its end), attributed to a service where possible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// What produced it.
    pub kind: SignalKind,
    /// Alert name, or a fixed name for built-in signals (`process_exited`, `probe_failed`, …).
    pub name: String,
    /// The service it is about (the `service` label, else `job`).
    pub service: Option<String>,
    /// The replica it is about (the `instance` label), when it is about one.
    pub instance: Option<String>,
    /// Identifying labels (an alert's labels).
    pub labels: Labels,
    /// Human-oriented annotations (`summary`, `description`).
    pub annotations: BTreeMap<String, String>,
    /// Firing or resolved.
    pub state: SignalState,
    /// The value that crossed the line, when there is one.
    pub value: Option<f64>,
    /// When the condition started to hold (start of `pending` for alerts).
    pub active_since: Millis,
    /// When this edge was observed.
    pub at: Millis,
    /// Alertmanager's fingerprint of the alert, for alerts received from Alertmanager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

impl Signal {
    /// A firing signal of `kind` named `name` with these labels, at `at`; service and
    /// instance are read from the labels.
    pub fn firing(kind: SignalKind, name: impl Into<String>, labels: Labels, at: Millis) -> Self {
        let service = labels.get("service").or_else(|| labels.get("job")).map(str::to_owned);
        let instance = labels.get("instance").map(str::to_owned);
        Self {
            kind,
            name: name.into(),
            service,
            instance,
            labels,
            annotations: BTreeMap::new(),
            state: SignalState::Firing,
            value: None,
            active_since: at,
            at,
            fingerprint: None,
        }
    }

    /// The resolved edge of this signal, at `at`.
    pub fn resolved(&self, at: Millis) -> Self {
        Self { state: SignalState::Resolved, at, ..self.clone() }
    }

    /// Stable identity: the same condition on the same series always has the same key,
    /// across firing and resolved edges.
    pub fn key(&self) -> String {
        format!("{}:{}{}", self.kind.as_str(), self.name, self.labels)
    }

    /// One line for logs and pages.
    pub fn summary(&self) -> String {
        if let Some(s) = self.annotations.get("summary") {
            return s.clone();
        }
        let mut s = format!("{} {}", self.kind.as_str(), self.name);
        if let Some(svc) = &self.service {
            s.push_str(&format!(" on {svc}"));
        }
        if let Some(inst) = &self.instance {
            s.push_str(&format!(" ({inst})"));
        }
        if let Some(v) = self.value {
            s.push_str(&format!(" value={v}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_comes_from_service_then_job_label() {
        let s = Signal::firing(SignalKind::Alert, "A", Labels::from_pairs([("job", "j")]), 1);
        assert_eq!(s.service.as_deref(), Some("j"));
        let s = Signal::firing(SignalKind::Alert, "A", Labels::from_pairs([("job", "j"), ("service", "s")]), 1);
        assert_eq!(s.service.as_deref(), Some("s"));
    }

    #[test]
    fn key_is_stable_across_edges() {
        let s = Signal::firing(SignalKind::Alert, "A", Labels::from_pairs([("a", "1")]), 1);
        assert_eq!(s.key(), s.resolved(5).key());
        assert_eq!(SignalKind::parse("probe_failed"), Some(SignalKind::ProbeFailed));
    }
}
