//! The journal on a real SQLite file: what is written is there after reopening, in-flight
//! actions are recovered as interrupted, timelines come back in order.

use knowledge::{ActionOrigin, Journal, SignalRole};
use model::{Action, IncidentState, Labels, Outcome, OutcomeStatus, Params, Signal, SignalKind, Target};

fn signal(service: &str, at: i64) -> Signal {
    Signal::firing(
        SignalKind::Alert,
        "HighErrorRate",
        Labels::from_pairs([("service", service), ("instance", "127.0.0.1:9000")]),
        at,
    )
}

fn restart(service: &str) -> Action {
    Action::new(service, "restart", Target::One(0), Params::new(), "errors", "restart {service} {target}")
}

#[test]
fn survives_reopen_and_recovers_in_flight_actions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.db");
    let (incident, done, in_flight) = {
        let j = Journal::open(&path).expect("open");
        let run = j.begin_run("run", 1_000).expect("run");
        let s = signal("checkout", 1_000);
        let incident = j.open_incident(run, "checkout", &s, Some("errors"), 1_000).expect("incident").id;
        let done = j
            .intent(run, Some(incident), Some(0), ActionOrigin::Playbook, &restart("checkout"), false, 1_100)
            .expect("intent");
        j.outcome(done, &Outcome::succeeded("replica 0 pid 42"), 1_900).expect("outcome");
        let in_flight = j
            .intent(run, Some(incident), Some(1), ActionOrigin::Playbook, &restart("checkout"), false, 2_000)
            .expect("intent");
        (incident, done, in_flight)
        // Dropped without an outcome for `in_flight`, as if the controller was killed.
    };

    let j = Journal::open(&path).expect("reopen");
    let recovered = j.recover_interrupted(5_000).expect("recover");
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].id, in_flight);
    assert_eq!(recovered[0].outcome.as_ref().map(|o| o.status), Some(OutcomeStatus::Interrupted));
    assert_eq!(j.action(done).expect("read").and_then(|a| a.outcome).map(|o| o.status), Some(OutcomeStatus::Succeeded));
    assert!(j.recover_interrupted(6_000).expect("again").is_empty(), "recovery is idempotent");

    let open = j.open_incidents().expect("open incidents");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].incident.id, incident);
    let kinds: Vec<&str> = open[0].timeline.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, vec!["signal", "intent", "outcome", "intent", "outcome"]);
    assert!(open[0].timeline[4].text.starts_with("interrupted"), "{:?}", open[0].timeline[4]);

    j.close_incident(incident, IncidentState::Resolved, 7_000).expect("close");
    assert!(j.open_incidents().expect("open").is_empty());
    let all = j.incidents(10).expect("list");
    assert_eq!(all[0].incident.state, IncidentState::Resolved);
    assert_eq!(all[0].incident.closed_at, Some(7_000));
}

#[test]
fn outcome_is_written_once() {
    let j = Journal::in_memory().expect("journal");
    let run = j.begin_run("run", 0).expect("run");
    let id = j.intent(run, None, None, ActionOrigin::RestartPolicy, &restart("a"), false, 10).expect("intent");
    j.outcome(id, &Outcome::succeeded("first"), 20).expect("outcome");
    j.outcome(id, &Outcome::failed("second"), 30).expect("outcome");
    let a = j.action(id).expect("read").expect("exists");
    assert_eq!(a.outcome.map(|o| o.detail), Some("first".into()));
    assert_eq!(a.outcome_at, Some(20));
}

#[test]
fn first_detection_and_actions_since_filter_by_service_and_time() {
    let j = Journal::in_memory().expect("journal");
    let run = j.begin_run("demo", 0).expect("run");
    j.record_signal(run, None, SignalRole::Unattached, &signal("payments", 50)).expect("signal");
    j.record_signal(run, None, SignalRole::Unattached, &signal("checkout", 120)).expect("signal");
    j.record_signal(run, None, SignalRole::Unattached, &signal("payments", 150)).expect("signal");
    let d = j.first_detection("payments", 100).expect("query").expect("found");
    assert_eq!(d.at, 150);
    assert_eq!((d.kind.as_str(), d.name.as_str()), ("alert", "HighErrorRate"));
    assert!(d.summary.contains("HighErrorRate"), "{}", d.summary);
    assert!(j.first_detection("inventory", 0).expect("query").is_none());

    j.intent(run, None, None, ActionOrigin::Playbook, &restart("payments"), true, 90).expect("intent");
    j.intent(run, None, None, ActionOrigin::Playbook, &restart("payments"), false, 160).expect("intent");
    j.intent(run, None, None, ActionOrigin::Playbook, &restart("checkout"), false, 170).expect("intent");
    let since = j.actions_since("payments", 100).expect("query");
    assert_eq!(since.len(), 1);
    assert_eq!(since[0].verb, "restart");
    assert!(!since[0].dry_run);
}

#[test]
fn playbook_actions_since_feeds_the_guards_after_a_restart() {
    let j = Journal::in_memory().expect("journal");
    let run = j.begin_run("run", 0).expect("run");
    let s = signal("checkout", 100);
    let incident = j.open_incident(run, "checkout", &s, Some("errors"), 100).expect("incident").id;
    let done = j
        .intent(run, Some(incident), Some(0), ActionOrigin::Playbook, &restart("checkout"), false, 200)
        .expect("intent");
    j.outcome(done, &Outcome::succeeded("ok"), 300).expect("outcome");
    let dry = j
        .intent(run, Some(incident), Some(1), ActionOrigin::Playbook, &restart("checkout"), true, 400)
        .expect("intent");
    j.outcome(dry, &Outcome { status: OutcomeStatus::DryRun, detail: String::new() }, 500).expect("outcome");
    let policy =
        j.intent(run, None, None, ActionOrigin::RestartPolicy, &restart("checkout"), false, 600).expect("intent");
    j.outcome(policy, &Outcome::succeeded("ok"), 700).expect("outcome");
    let got = j.playbook_actions_since(0).expect("query");
    assert_eq!(got, vec![("checkout".to_owned(), "errors".to_owned(), incident, 200)]);
    assert!(j.playbook_actions_since(201).expect("query").is_empty());
}

#[test]
fn dry_run_incidents_are_not_resumable_and_closed_incidents_stay_closed() {
    let j = Journal::in_memory().expect("journal");
    let dry = j.begin_run(knowledge::DRY_RUN_MODE, 0).expect("run");
    j.open_incident(dry, "a", &signal("a", 1), None, 1).expect("incident");
    let real = j.begin_run("run", 2).expect("run");
    let open = j.open_incident(real, "b", &signal("b", 3), None, 3).expect("incident").id;
    let resumable: Vec<String> = j.open_incidents().expect("open").into_iter().map(|r| r.incident.service).collect();
    assert_eq!(resumable, vec!["b"]);
    j.close_incident(open, IncidentState::Merged, 4).expect("close");
    j.close_incident(open, IncidentState::Resolved, 5).expect("second close is a no-op");
    let record = &j.incidents(1).expect("list")[0];
    assert_eq!((record.incident.state, record.incident.closed_at), (IncidentState::Merged, Some(4)));
}
