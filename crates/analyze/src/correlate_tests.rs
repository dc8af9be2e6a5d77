//! Each placement, in its order of precedence, and the echo's edges: the window's last
//! millisecond, a release of the service at or after the resolution.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use model::{IncidentId, Millis};

use super::{Open, Placement, Resolved, View, place};

const NOW: Millis = 1_000_000;
const WINDOW: Duration = Duration::from_secs(60);

/// gateway → checkout → payments: what gateway depends on.
fn downstream() -> BTreeSet<String> {
    BTreeSet::from(["checkout".to_owned(), "payments".to_owned()])
}

fn names(of: &[&str]) -> HashSet<String> {
    of.iter().map(|n| (*n).to_owned()).collect()
}

fn open(id: i64, service: &str) -> Open<'_> {
    Open { id: IncidentId(id), service }
}

fn resolved<'a>(service: &'a str, id: i64, at: Millis, names: &'a HashSet<String>) -> Resolved<'a> {
    Resolved { service, incident: IncidentId(id), at, names }
}

/// Places gateway's `HighErrorRate` with these incidents and this last release.
fn gateway(open: &[Open<'_>], resolved: &[Resolved<'_>], last_deploy: Option<Millis>) -> Placement {
    let downstream = downstream();
    let view = View { open, resolved, last_deploy, downstream: &downstream, echo_window: WINDOW, now: NOW };
    place("gateway", "HighErrorRate", &view)
}

fn echo(id: i64, after_ms: u64) -> Placement {
    Placement::Echo { incident: IncidentId(id), reconsider_after: Duration::from_millis(after_ms) }
}

#[test]
fn with_nothing_open_or_resolved_a_signal_opens_an_incident() {
    assert_eq!(gateway(&[], &[], None), Placement::Open);
}

#[test]
fn a_signal_joins_the_open_incident_of_its_service_before_anything_downstream() {
    assert_eq!(gateway(&[open(1, "gateway")], &[], None), Placement::Join(IncidentId(1)));
    assert_eq!(gateway(&[open(2, "payments"), open(1, "gateway")], &[], None), Placement::Join(IncidentId(1)));
}

#[test]
fn an_open_incident_downstream_makes_the_signal_its_symptom_transitively() {
    assert_eq!(gateway(&[open(2, "checkout")], &[], None), Placement::Symptom(IncidentId(2)));
    assert_eq!(gateway(&[open(3, "payments")], &[], None), Placement::Symptom(IncidentId(3)));
    // Several fit: the first in the view's order.
    assert_eq!(gateway(&[open(3, "payments"), open(2, "checkout")], &[], None), Placement::Symptom(IncidentId(3)));
}

#[test]
fn an_incident_upstream_or_elsewhere_explains_nothing() {
    assert_eq!(gateway(&[open(4, "frontend")], &[], None), Placement::Open);
    let nothing_downstream = BTreeSet::new();
    let view = View {
        open: &[open(1, "gateway")],
        resolved: &[],
        last_deploy: None,
        downstream: &nothing_downstream,
        echo_window: WINDOW,
        now: NOW,
    };
    assert_eq!(place("payments", "HighErrorRate", &view), Placement::Open);
}

#[test]
fn a_signal_trailing_a_downstream_resolution_is_its_echo_until_the_window_closes() {
    let seen = names(&["HighErrorRate", "Latency"]);
    assert_eq!(gateway(&[], &[resolved("checkout", 7, NOW - 10_000, &seen)], None), echo(7, 50_000));
}

#[test]
fn an_open_incident_downstream_takes_precedence_over_an_echo() {
    let seen = names(&["HighErrorRate"]);
    let ended = [resolved("checkout", 7, NOW - 10_000, &seen)];
    assert_eq!(gateway(&[open(8, "payments")], &ended, None), Placement::Symptom(IncidentId(8)));
}

#[test]
fn the_echo_window_ends_at_its_last_millisecond() {
    let seen = names(&["HighErrorRate"]);
    let window = WINDOW.as_millis() as Millis;
    assert_eq!(gateway(&[], &[resolved("checkout", 7, NOW - window + 1, &seen)], None), echo(7, 1));
    assert_eq!(gateway(&[], &[resolved("checkout", 7, NOW - window, &seen)], None), Placement::Open);
}

#[test]
fn without_an_echo_window_there_are_no_echoes() {
    let seen = names(&["HighErrorRate"]);
    let ended = [resolved("checkout", 7, NOW, &seen)];
    let downstream = downstream();
    let view = View {
        open: &[],
        resolved: &ended,
        last_deploy: None,
        downstream: &downstream,
        echo_window: Duration::ZERO,
        now: NOW,
    };
    assert_eq!(place("gateway", "HighErrorRate", &view), Placement::Open);
}

#[test]
fn only_a_signal_name_the_downstream_incident_saw_is_an_echo() {
    let seen = names(&["Latency"]);
    assert_eq!(gateway(&[], &[resolved("checkout", 7, NOW - 10_000, &seen)], None), Placement::Open);
}

#[test]
fn only_a_downstream_resolution_is_echoed() {
    let seen = names(&["HighErrorRate"]);
    assert_eq!(gateway(&[], &[resolved("frontend", 7, NOW - 10_000, &seen)], None), Placement::Open);
}

#[test]
fn a_release_of_the_service_at_or_after_the_resolution_rules_out_an_echo() {
    let seen = names(&["HighErrorRate"]);
    let at = NOW - 10_000;
    let ended = [resolved("checkout", 7, at, &seen)];
    assert_eq!(gateway(&[], &ended, Some(at - 1)), echo(7, 50_000), "released before it resolved");
    assert_eq!(gateway(&[], &ended, Some(at)), Placement::Open);
    assert_eq!(gateway(&[], &ended, Some(at + 5_000)), Placement::Open);
}

#[test]
fn of_several_echoed_incidents_the_latest_resolution_wins() {
    let seen = names(&["HighErrorRate"]);
    let ended = [resolved("payments", 3, NOW - 20_000, &seen), resolved("checkout", 7, NOW - 5_000, &seen)];
    assert_eq!(gateway(&[], &ended, None), echo(7, 55_000));
    let reversed = [ended[1], ended[0]];
    assert_eq!(gateway(&[], &reversed, None), echo(7, 55_000));
}
