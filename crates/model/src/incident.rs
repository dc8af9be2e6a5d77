//! Incidents: one problem on one service, however many signals it raised.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::{Millis, Signal, SignalBoard, Target};

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

/// A problem on a service and what became of it. The one incident type: the incident
/// manager opens it (the journal assigns its id), the ladder works on it, the journal reads
/// it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Journal identity.
    pub id: IncidentId,
    /// The service judged to be the cause.
    pub service: String,
    /// One line: what went wrong.
    pub title: String,
    /// The signal that opened it. Read back from the journal it has no annotations or
    /// fingerprint, and `active_since` is its `at` (the journal keeps its kind, name,
    /// labels, service, instance, value and time).
    pub trigger: Signal,
    /// The playbook chosen, if one matched.
    pub playbook: Option<String>,
    /// When it was opened.
    pub opened_at: Millis,
    /// When it was resolved or escalated.
    pub closed_at: Option<Millis>,
    /// Where it stands.
    pub state: IncidentState,
    /// The replica that replica-scoped steps act on ([`Target::One`] or [`Target::Named`]):
    /// the trigger's, until signals of other replicas join. Decided from the topology while
    /// the incident is open; not journaled.
    #[serde(skip)]
    pub replica: Option<Target>,
    /// Keys of the signals whose recovery it waits for besides the trigger's (related
    /// signals that joined while it was open). Shared by every copy of the incident, so the
    /// ladder sees what joins after it started; not journaled.
    #[serde(skip)]
    pub related: SignalKeys,
}

impl Incident {
    /// Keys of every signal whose recovery the incident waits for: the trigger's and the
    /// related ones.
    pub fn waits_for(&self) -> Vec<String> {
        let trigger = self.trigger.key();
        let mut keys = self.related.keys();
        if !keys.contains(&trigger) {
            keys.push(trigger);
        }
        keys
    }

    /// Whether none of the signals it waits for is firing on `board`. The keys are read
    /// again after the board: a signal that joined while the board was read (and may be the
    /// one still firing) makes it look again, so a join racing a resolution never reads as
    /// recovered. The set only grows, so this ends.
    pub fn recovered(&self, board: &SignalBoard) -> bool {
        let mut keys = self.waits_for();
        loop {
            if board.any_firing(&keys) {
                return false;
            }
            let again = self.waits_for();
            if again == keys {
                return true;
            }
            keys = again;
        }
    }
}

/// A set of signal keys that every clone shares: one writer (the incident manager) adds to
/// it, readers (the ladder's verifier) see the additions.
#[derive(Clone, Default)]
pub struct SignalKeys(Arc<Mutex<BTreeSet<String>>>);

impl SignalKeys {
    fn lock(&self) -> MutexGuard<'_, BTreeSet<String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `key`; whether it was new.
    pub fn insert(&self, key: String) -> bool {
        self.lock().insert(key)
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: &str) -> bool {
        self.lock().contains(key)
    }

    /// The keys, in order.
    pub fn keys(&self) -> Vec<String> {
        self.lock().iter().cloned().collect()
    }
}

impl std::fmt::Debug for SignalKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.keys()).finish()
    }
}

impl PartialEq for SignalKeys {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.keys() == other.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Labels, SignalKind};

    fn signal(name: &str, instance: &str) -> Signal {
        Signal::firing(SignalKind::Alert, name, Labels::from_pairs([("service", "a"), ("instance", instance)]), 1)
    }

    fn incident(trigger: Signal) -> Incident {
        Incident {
            id: IncidentId(1),
            service: "a".into(),
            title: "t".into(),
            trigger,
            playbook: None,
            opened_at: 1,
            closed_at: None,
            state: IncidentState::Open,
            replica: None,
            related: SignalKeys::default(),
        }
    }

    #[test]
    fn recovered_waits_for_the_trigger_and_what_joined_even_after_the_ladder_got_its_copy() {
        let board = SignalBoard::default();
        let trigger = signal("Errors", "r0");
        let other = signal("Errors", "r1");
        assert!(board.fire(&trigger));
        assert!(!board.fire(&trigger), "a repeated firing edge is not new");
        let opened = incident(trigger.clone());
        let ladders_copy = opened.clone();
        assert!(!ladders_copy.recovered(&board));
        board.fire(&other);
        opened.related.insert(other.key());
        assert!(board.resolve(&trigger.key()));
        assert!(!ladders_copy.recovered(&board), "the replica that joined later still fails");
        assert!(board.resolve(&other.key()));
        assert!(ladders_copy.recovered(&board));
        assert!(!board.resolve(&other.key()), "resolving twice changes nothing");
    }

    #[test]
    fn an_unrelated_firing_signal_does_not_hold_an_incident_open() {
        let board = SignalBoard::default();
        let trigger = signal("Errors", "r0");
        board.fire(&signal("Latency", "r0"));
        assert!(incident(trigger).recovered(&board));
        assert_eq!(board.firing().len(), 1);
    }
}
