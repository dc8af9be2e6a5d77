//! The record of the last action taken on an object, kept on the object itself (an
//! annotation written in the same update as the action), so that a controller replica that
//! takes over from a leader that died mid-ladder sees that the step was taken and does not
//! take it again: the journal is per replica, the cluster is shared.

use std::collections::BTreeMap;

use model::{Action, Millis, ORIGIN};
use serde::{Deserialize, Serialize};

/// The annotation that holds the record.
pub const LAST_ACTION: &str = "autonomic.dev/last-action";

/// How long a record answers for its step: a step taken longer ago than this is taken again
/// (the incident must be another one with the same signal).
pub const ADOPT_WITHIN: std::time::Duration = std::time::Duration::from_secs(3600);

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

    /// The annotation's value.
    pub fn to_json(&self) -> String {
        // A struct of strings and an integer always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The record in `annotations` that says `action` was already taken (same verb, same
    /// incident trigger, same step, within [`ADOPT_WITHIN`] of `now`).
    pub fn taking(annotations: Option<&BTreeMap<String, String>>, action: &Action, now: Millis) -> Option<Self> {
        let origin = action.param(ORIGIN)?;
        let record: Self = serde_json::from_str(annotations?.get(LAST_ACTION)?).ok()?;
        let recent = now.saturating_sub(record.at) <= ADOPT_WITHIN.as_millis() as Millis;
        (record.verb == action.verb && record.origin == origin && recent).then_some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Params, Target};

    fn action(verb: &str, origin: &str) -> Action {
        let params = Params::from([(ORIGIN.to_owned(), origin.to_owned())]);
        Action::new("checkout", verb, Target::All, params, "errors", "{verb} {service}")
    }

    #[test]
    fn a_step_recorded_by_another_replica_is_recognised_and_nothing_else_is() {
        let done = ActionRecord::of(&action("rollback", "errors{service=checkout}#step 2"), "a", 1_000, "3 -> 2")
            .expect("has an origin");
        let annotations = BTreeMap::from([(LAST_ACTION.to_owned(), done.to_json())]);
        let now = 5_000;
        let same = action("rollback", "errors{service=checkout}#step 2");
        assert_eq!(ActionRecord::taking(Some(&annotations), &same, now), Some(done.clone()));
        // Another step, another verb, another incident, or long ago: not this action.
        assert_eq!(
            ActionRecord::taking(Some(&annotations), &action("rollback", "errors{service=checkout}#step 3"), now),
            None
        );
        assert_eq!(
            ActionRecord::taking(Some(&annotations), &action("restart", "errors{service=checkout}#step 2"), now),
            None
        );
        assert_eq!(
            ActionRecord::taking(Some(&annotations), &action("rollback", "latency{service=checkout}#step 2"), now),
            None
        );
        let later = 1_000 + ADOPT_WITHIN.as_millis() as Millis + 1;
        assert_eq!(ActionRecord::taking(Some(&annotations), &same, later), None);
        // An action taken by hand has no origin and is never taken for another.
        let by_hand = Action::new("checkout", "rollback", Target::All, Params::new(), "by hand", "{verb}");
        assert_eq!(ActionRecord::of(&by_hand, "a", 1, ""), None);
        assert_eq!(ActionRecord::taking(Some(&annotations), &by_hand, now), None);
        // A damaged annotation is no record.
        let damaged = BTreeMap::from([(LAST_ACTION.to_owned(), "{not json".to_owned())]);
        assert_eq!(ActionRecord::taking(Some(&damaged), &same, now), None);
    }
}
