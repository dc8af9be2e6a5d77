//! Correlation: where a firing signal belongs, given what is open and what just resolved.
//!
//! A service's errors are often not its own fault: when a service it depends on fails, its
//! calls fail too. So a signal is placed, in this order:
//!
//! 1. with the open incident of its own service (one incident per service);
//! 2. as a symptom of an open incident of a service downstream of it (along `depends_on`,
//!    transitively): the root cause is there, acting here would be wasted;
//! 3. as the echo of a downstream incident that resolved less than the echo window ago and
//!    saw a signal of this name: rate windows drain slowly, so an upstream alert can trail a
//!    downstream recovery. A release of this service since that resolution explains the
//!    signal better, so then it is no echo. An echo is watched: if it still fires when the
//!    window closes, it is placed again;
//! 4. otherwise, in an incident of its own.
//!
//! This is the decision only, without I/O or clocks: the caller (the controller's incident
//! manager) keeps the state, journals the placement, opens incidents and places an echo again
//! once its window has closed.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use model::{IncidentId, Millis};

/// An incident open now, as correlation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open<'a> {
    /// The incident.
    pub id: IncidentId,
    /// The service it is about (its trigger's).
    pub service: &'a str,
}

/// The last incident of a service that resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved<'a> {
    /// The service it was about.
    pub service: &'a str,
    /// The incident.
    pub incident: IncidentId,
    /// When it resolved.
    pub at: Millis,
    /// The names of the signals it saw (trigger, related, symptoms).
    pub names: &'a HashSet<String>,
}

/// What correlation reads of the loop's state when a signal fires.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The incidents open now. Where several fit, the first in this order wins.
    pub open: &'a [Open<'a>],
    /// The last resolved incident of each service. Where several are echoed, the latest
    /// resolution wins.
    pub resolved: &'a [Resolved<'a>],
    /// When the signal's service last rolled out a release (its first start is not one).
    pub last_deploy: Option<Millis>,
    /// The services the signal's service depends on, transitively, itself excluded.
    pub downstream: &'a BTreeSet<String>,
    /// How long after a downstream incident resolves a signal may still be its echo.
    pub echo_window: Duration,
    /// Now.
    pub now: Millis,
}

/// Where a firing signal belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// With the open incident of the signal's own service.
    Join(IncidentId),
    /// A symptom of the open incident of a service downstream.
    Symptom(IncidentId),
    /// The echo of a downstream incident that just resolved: journaled as its symptom, and
    /// placed again after `reconsider_after` (when the echo window closes) if still firing.
    Echo {
        /// The resolved incident the signal echoes.
        incident: IncidentId,
        /// How long until the echo window closes.
        reconsider_after: Duration,
    },
    /// A problem of its own: a new incident.
    Open,
}

/// Places a firing signal named `name` of `service` (see the module's documentation).
pub fn place(service: &str, name: &str, view: &View<'_>) -> Placement {
    if let Some(own) = view.open.iter().find(|o| o.service == service) {
        return Placement::Join(own.id);
    }
    if let Some(root) = view.open.iter().find(|o| view.downstream.contains(o.service)) {
        return Placement::Symptom(root.id);
    }
    // A window beyond i64 milliseconds cannot be configured (the bound is an hour); saturate
    // rather than wrap should one ever get through.
    let window = Millis::try_from(view.echo_window.as_millis()).unwrap_or(Millis::MAX);
    let echoed = view
        .resolved
        .iter()
        .filter(|r| {
            view.downstream.contains(r.service)
                && view.now.saturating_sub(r.at) < window
                && r.names.contains(name)
                && view.last_deploy.is_none_or(|deployed| deployed < r.at)
        })
        .max_by_key(|r| r.at);
    match echoed {
        Some(r) => {
            let left = r.at.saturating_add(window).saturating_sub(view.now);
            Placement::Echo {
                incident: r.incident,
                reconsider_after: Duration::from_millis(u64::try_from(left).unwrap_or(0)),
            }
        }
        None => Placement::Open,
    }
}

#[cfg(test)]
#[path = "correlate_tests.rs"]
mod tests;
