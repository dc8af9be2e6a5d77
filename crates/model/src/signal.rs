//! Signals: what the analyze stage tells the planner. An alert that fires, a process that
//! exits, a probe that fails, a target that stops answering: each is a signal with a
//! firing and a resolved edge.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

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
    /// An orchestrator reports a workload in trouble: a container in `CrashLoopBackOff`, one
    /// `OOMKilled`, a `Warning` event, a rollout past its progress deadline. Named after the
    /// orchestrator's own reason.
    Workload,
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
            Self::Workload => "workload",
        }
    }

    /// Parses the name used in playbooks.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Alert,
            Self::ProcessExited,
            Self::ProbeFailed,
            Self::TargetDown,
            Self::Anomaly,
            Self::ControllerFault,
            Self::Workload,
        ]
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

/// The signals firing now, by key: what the loop's sources have raised and not yet resolved.
/// The incident manager keeps it (it is the one writer); the verifier reads it to tell
/// whether an incident's signals stopped firing, without asking the incident manager.
#[derive(Debug, Default)]
pub struct SignalBoard {
    firing: Mutex<HashMap<String, Signal>>,
}

impl SignalBoard {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Signal>> {
        self.firing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a firing edge; whether the signal was not firing before. A repeated firing
    /// edge of a signal already on the board replaces it (its time, value and annotations
    /// are the latest).
    pub fn fire(&self, signal: &Signal) -> bool {
        self.lock().insert(signal.key(), signal.clone()).is_none()
    }

    /// Records a resolved edge of the signal `key`; whether it was firing.
    pub fn resolve(&self, key: &str) -> bool {
        self.lock().remove(key).is_some()
    }

    /// Whether the signal `key` is firing.
    pub fn is_firing(&self, key: &str) -> bool {
        self.lock().contains_key(key)
    }

    /// Whether any of the signals `keys` is firing, all read at one instant.
    pub fn any_firing(&self, keys: &[String]) -> bool {
        let firing = self.lock();
        keys.iter().any(|k| firing.contains_key(k))
    }

    /// The firing signal `key`, as its latest firing edge had it.
    pub fn get(&self, key: &str) -> Option<Signal> {
        self.lock().get(key).cloned()
    }

    /// Every firing signal.
    pub fn firing(&self) -> Vec<Signal> {
        self.lock().values().cloned().collect()
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
