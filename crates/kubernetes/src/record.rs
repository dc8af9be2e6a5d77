//! The record of the actions taken on an object, kept on the object itself (an annotation
//! written in the same update as the action), so that a controller replica that takes over
//! from a leader that died mid-ladder sees which steps were taken and does not take them
//! again: the journal is per replica, the cluster is shared.

use std::collections::BTreeMap;

use model::{Action, Millis, OPENED_AT, ORIGIN};
use serde::{Deserialize, Serialize};

/// The annotation that holds the records: a JSON list, oldest first.
pub const ACTIONS: &str = "autonomic.dev/actions";

/// How many records an object keeps (the oldest go first).
pub const MAX_RECORDS: usize = 16;

/// How much earlier than this replica's incident another replica may have opened its copy of
/// it (and acted): replicas see a signal at different times, and one started later sees it
/// later. An action older than that belongs to an earlier incident of the same signal; the
/// guards' cooldown keeps a new incident from acting that soon after anyway.
pub const ADOPT_SLACK: std::time::Duration = std::time::Duration::from_secs(600);

/// One action, as recorded on the object it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// The verb.
    pub verb: String,
    /// The incident's trigger and step ([`ORIGIN`]).
    pub origin: String,
    /// The controller replica that acted.
    pub by: String,
    /// When, in Unix milliseconds.
    pub at: Millis,
    /// What was done (`revision 3 -> 2`).
    pub detail: String,
}

impl ActionRecord {
    /// The record of `action` by `by` at `at`; `None` for an action with no origin (taken
    /// by hand through the API), which nothing would match.
    pub fn of(action: &Action, by: &str, at: Millis, detail: impl Into<String>) -> Option<Self> {
        let origin = action.param(ORIGIN)?.to_owned();
        Some(Self { verb: action.verb.clone(), origin, by: by.to_owned(), at, detail: detail.into() })
    }

    /// The records `annotations` hold, oldest first (none when damaged).
    pub fn all(annotations: Option<&BTreeMap<String, String>>) -> Vec<Self> {
        annotations.and_then(|a| a.get(ACTIONS)).and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default()
    }

    /// The annotation's new value: the records `annotations` hold and this one, the last
    /// [`MAX_RECORDS`] of them.
    pub fn appended_to(&self, annotations: Option<&BTreeMap<String, String>>) -> String {
        let mut all = Self::all(annotations);
        all.push(self.clone());
        let skip = all.len().saturating_sub(MAX_RECORDS);
        // Structs of strings and integers always serialize.
        serde_json::to_string(&all[skip..]).unwrap_or_default()
    }

    /// The record in `annotations` that says `action` was already taken: the same verb,
    /// incident trigger and step, taken no earlier than [`ADOPT_SLACK`] before this
    /// replica opened the incident ([`OPENED_AT`]; without it, within the slack of `now`).
    pub fn taking(annotations: Option<&BTreeMap<String, String>>, action: &Action, now: Millis) -> Option<Self> {
        let origin = action.param(ORIGIN)?;
        let opened = action.param(OPENED_AT).and_then(|v| v.parse::<Millis>().ok()).unwrap_or(now);
        let since = opened.saturating_sub(ADOPT_SLACK.as_millis() as Millis);
        Self::all(annotations).into_iter().rev().find(|r| r.verb == action.verb && r.origin == origin && r.at >= since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Params, Target};

    fn action(verb: &str, origin: &str) -> Action {
        let params =
            Params::from([(ORIGIN.to_owned(), origin.to_owned()), (OPENED_AT.to_owned(), "900000".to_owned())]);
        Action::new("checkout", verb, Target::All, params, "errors", "{verb} {service}")
    }

    #[test]
    fn every_step_recorded_by_another_replica_is_recognised_and_nothing_else_is() {
        let opened = 900_000;
        let first =
            ActionRecord::of(&action("rollback", "errors{service=checkout}#step 1"), "a", opened + 10, "3 -> 2")
                .expect("has an origin");
        let second = ActionRecord::of(&action("scale", "errors{service=checkout}#step 2"), "a", opened + 20, "2 -> 4")
            .expect("has an origin");
        let one = BTreeMap::from([(ACTIONS.to_owned(), first.appended_to(None))]);
        let annotations = BTreeMap::from([(ACTIONS.to_owned(), second.appended_to(Some(&one)))]);
        let now = opened + 5_000;
        // Both steps the leader took are found, not only the last.
        let step1 = action("rollback", "errors{service=checkout}#step 1");
        assert_eq!(ActionRecord::taking(Some(&annotations), &step1, now), Some(first.clone()));
        let step2 = action("scale", "errors{service=checkout}#step 2");
        assert_eq!(ActionRecord::taking(Some(&annotations), &step2, now), Some(second));
        // Another step, another verb, another incident: not this action.
        assert_eq!(
            ActionRecord::taking(Some(&annotations), &action("rollback", "errors{service=checkout}#step 3"), now),
            None
        );
        assert_eq!(
            ActionRecord::taking(Some(&annotations), &action("restart", "errors{service=checkout}#step 1"), now),
            None
        );
        assert_eq!(
            ActionRecord::taking(Some(&annotations), &action("rollback", "latency{service=checkout}#step 1"), now),
            None
        );
        // The same signal's incident opened long after the record is a new incident.
        let mut later = step1.clone();
        let reopened = opened + ADOPT_SLACK.as_millis() as Millis + 11;
        later.params.insert(OPENED_AT.to_owned(), reopened.to_string());
        assert_eq!(ActionRecord::taking(Some(&annotations), &later, reopened + 1), None);
        // An action taken by hand has no origin and is never taken for another.
        let by_hand = Action::new("checkout", "rollback", Target::All, Params::new(), "by hand", "{verb}");
        assert_eq!(ActionRecord::of(&by_hand, "a", 1, ""), None);
        assert_eq!(ActionRecord::taking(Some(&annotations), &by_hand, now), None);
        // A damaged annotation is no record; the list keeps only the last MAX_RECORDS.
        let damaged = BTreeMap::from([(ACTIONS.to_owned(), "[{not json".to_owned())]);
        assert_eq!(ActionRecord::taking(Some(&damaged), &step1, now), None);
        let mut many = BTreeMap::new();
        for i in 0..(MAX_RECORDS + 5) {
            let r = ActionRecord::of(&action("scale", &format!("x#step {i}")), "a", opened + i as Millis, "")
                .expect("origin");
            let value = r.appended_to(Some(&many));
            many.insert(ACTIONS.to_owned(), value);
        }
        let kept = ActionRecord::all(Some(&many));
        assert_eq!(kept.len(), MAX_RECORDS);
        assert_eq!(kept[0].origin, "x#step 5");
    }
}
