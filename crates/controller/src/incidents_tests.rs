//! The incident manager under paused time: root cause along `depends_on`, symptoms, merges,
//! echoes, related signals, and the restart policy's journal entries.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use knowledge::{ActionOrigin, IncidentRecord, Journal};
use model::{Event, EventKind, IncidentState, Labels, Params, Signal, SignalKind, Target, TokioClock};
use remedy::ProcessActuator;
use remedy::actuators::PROCESS;
use remedy::{Actuators, GuardState, Ladder, Pager, RecordingActuator, Verifier, Verify};

use super::{IncidentManager, Mode};
use crate::topology::Topology;

const CONFIG: &str = r#"
group_wait: 1s
services:
  gateway: { run: { command: [gateway], replicas: 2 }, depends_on: [checkout] }
  checkout: { run: { command: [checkout], replicas: 2 }, depends_on: [payments] }
  payments: { run: { command: [payments], replicas: 2 } }
playbooks:
  - name: errors
    match: { alert: HighErrorRate }
    steps:
      - { action: restart, scope: replica, verify: recovered, within: 30s }
    guards: { cooldown: 0s }
"#;

/// Verifies `recovered` only, as the controller's verifier does: on the signal board.
struct RecoveredOnly(Arc<model::SignalBoard>);

impl Verifier for RecoveredOnly {
    fn check<'a>(&'a self, _: &'a Verify, incident: &'a model::Incident) -> BoxFuture<'a, bool> {
        Box::pin(async move { incident.recovered(&self.0) })
    }
}

struct World {
    manager: Arc<IncidentManager>,
    journal: Arc<Journal>,
    actuator: RecordingActuator,
    process: ProcessActuator,
}

fn world() -> World {
    world_with(Journal::in_memory().expect("journal"), vec![])
}

/// A manager over `journal`, resuming the `resumable` incidents of an earlier run.
fn world_with(journal: Journal, resumable: Vec<IncidentRecord>) -> World {
    world_from(CONFIG, journal, resumable)
}

/// A manager of the configuration `text`.
fn world_from(text: &str, journal: Journal, resumable: Vec<IncidentRecord>) -> World {
    let config = Arc::new(crate::config::compile("c.yaml", text, Path::new(".")).expect("config"));
    let topology = Arc::new(Topology::resolve(&config, Path::new("autonomic")).expect("topology"));
    let clock = Arc::new(TokioClock::anchored_at(1_000_000));
    let journal = Arc::new(journal);
    let run = journal.begin_run("test", 0).expect("run");
    // A real process actuator reports its events (a deployment in one test); the actions the
    // ladder takes go to a recording test double of a `process` actuator.
    let process = ProcessActuator::new(clock.clone());
    let actuator = RecordingActuator::answering(&PROCESS, model::OutcomeStatus::Succeeded);
    let mut actuators = Actuators::new();
    for s in &config.services {
        actuators.bind(s.name.clone(), Arc::new(actuator.clone()));
    }
    let manager = IncidentManager::new(
        journal.clone(),
        run,
        clock.clone(),
        config.clone(),
        topology,
        actuators.clone(),
        Mode::Autonomic,
        resumable,
    );
    let observer = manager.clone();
    process.set_events(Arc::new(move |e| observer.on_event(e)));
    manager.set_ladder(Ladder {
        journal: journal.clone(),
        run,
        actuators,
        pager: Pager::new(),
        verifier: Arc::new(RecoveredOnly(manager.board())),
        guards: Arc::new(Mutex::new(GuardState::new())),
        clock,
        dry_run: false,
        escalation_url: None,
        escalation_format: remedy::PageFormat::Webhook,
        poll: Duration::from_millis(100),
        health: model::Health::new(),
        metrics: Default::default(),
        leadership: model::Leadership::always(),
    });
    World { manager, journal, actuator, process }
}

fn errors(service: &str, replica: usize) -> Signal {
    let instance = format!(
        "127.0.0.1:{}{:03}",
        match service {
            "gateway" => 1,
            "checkout" => 2,
            _ => 3,
        },
        replica + 1
    );
    Signal::firing(
        SignalKind::Alert,
        "HighErrorRate",
        Labels::from_pairs([("service", service.to_owned()), ("instance", instance), ("replica", replica.to_string())]),
        1_000_000,
    )
}

async fn settle(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

#[tokio::test(start_paused = true)]
async fn upstream_incident_is_merged_into_the_downstream_root_cause() {
    let w = world();
    w.manager.on_signal(errors("checkout", 0));
    settle(0).await;
    w.manager.on_signal(errors("payments", 1));
    settle(2).await;
    let actions = w.actuator.actions();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0].service, "payments");
    assert_eq!((actions[0].verb.as_str(), &actions[0].target), ("restart", &Target::One(1)));
    assert_eq!(actions[0].max_unavailable(), 1);
    let incidents = w.journal.incidents(10).expect("list");
    let checkout = incidents.iter().find(|r| r.incident.service == "checkout").expect("checkout incident");
    assert_eq!(checkout.incident.state, IncidentState::Merged);
    assert!(checkout.timeline.iter().any(|e| e.kind == "merged" && e.text.contains("root cause is payments")));
    // Recovery of the root cause closes its incident.
    w.manager.on_signal(errors("payments", 1).resolved(1_002_000));
    settle(1).await;
    let payments = &w
        .journal
        .incidents(10)
        .expect("list")
        .into_iter()
        .find(|r| r.incident.service == "payments")
        .expect("payments");
    assert_eq!(payments.incident.state, IncidentState::Resolved);
}

#[tokio::test(start_paused = true)]
async fn upstream_signals_during_a_downstream_incident_are_symptoms() {
    let w = world();
    w.manager.on_signal(errors("payments", 0));
    w.manager.on_signal(errors("checkout", 0));
    w.manager.on_signal(errors("gateway", 1));
    settle(2).await;
    assert_eq!(w.journal.incidents(10).expect("list").len(), 1, "one incident, not three");
    let actions = w.actuator.actions();
    assert_eq!(actions.iter().map(|a| a.service.as_str()).collect::<Vec<_>>(), vec!["payments"]);
    let timeline = &w.journal.incidents(1).expect("list")[0].timeline;
    assert_eq!(timeline.iter().filter(|e| e.text.starts_with("symptom firing")).count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_second_replica_joining_during_group_wait_widens_the_action_to_all_replicas() {
    let w = world();
    w.manager.on_signal(errors("payments", 0));
    w.manager.on_signal(errors("payments", 1));
    settle(2).await;
    let actions = w.actuator.actions();
    assert_eq!(actions.len(), 1);
    assert_eq!((actions[0].verb.as_str(), &actions[0].target), ("restart", &Target::All));
    assert_eq!(actions[0].max_unavailable(), 1);
    assert!(!w.manager.recovered(w.journal.incidents(1).expect("list")[0].incident.id));
}

#[tokio::test(start_paused = true)]
async fn an_echo_of_a_resolved_root_cause_waits_and_a_real_problem_then_gets_its_incident() {
    let w = world();
    w.manager.on_signal(errors("payments", 0));
    settle(2).await;
    w.manager.on_signal(errors("payments", 0).resolved(1_002_000));
    settle(1).await;
    // Checkout's error rate still trails in its rate window: an echo, no incident yet.
    w.manager.on_signal(errors("checkout", 0));
    settle(2).await;
    assert_eq!(w.journal.incidents(10).expect("list").len(), 1);
    // It is still firing when the echo window closes: a problem of its own.
    settle(10).await;
    let incidents = w.journal.incidents(10).expect("list");
    assert_eq!(incidents.len(), 2, "{incidents:#?}");
    assert_eq!(incidents[0].incident.service, "checkout");
    assert!(w.actuator.actions().iter().any(|a| a.service == "checkout"));
}

#[tokio::test(start_paused = true)]
async fn an_echo_that_resolves_never_becomes_an_incident() {
    let w = world();
    w.manager.on_signal(errors("payments", 0));
    settle(2).await;
    w.manager.on_signal(errors("payments", 0).resolved(1_002_000));
    settle(1).await;
    w.manager.on_signal(errors("checkout", 0));
    settle(3).await;
    w.manager.on_signal(errors("checkout", 0).resolved(1_006_000));
    settle(20).await;
    assert_eq!(w.journal.incidents(10).expect("list").len(), 1);
    assert!(w.actuator.actions().iter().all(|a| a.service == "payments"));
}

#[tokio::test(start_paused = true)]
async fn errors_after_a_release_of_the_service_itself_are_not_taken_for_an_echo() {
    use remedy::actuators::process::{Release, RestartPolicy, ServiceSpec};
    let w = world();
    let release = |version: &str| Release {
        version: version.into(),
        command: vec!["sh".into(), "-c".into(), "exec sleep 30".into()],
        env: Default::default(),
    };
    w.process
        .start_service(ServiceSpec {
            name: "checkout".into(),
            release: release("1"),
            replica_vars: vec![Default::default()],
            restart: RestartPolicy::default(),
            stop_grace: Duration::from_millis(100),
            log_lines: 10,
            readiness: None,
            ready_timeout: Duration::from_secs(5),
        })
        .expect("starts");
    w.manager.on_signal(errors("payments", 0));
    settle(2).await;
    w.manager.on_signal(errors("payments", 0).resolved(1_002_000));
    settle(1).await;
    // Checkout gets a new release after payments recovered; its errors are its own.
    w.process.deploy("checkout", release("2"), 1, Duration::ZERO).await.expect("deploys");
    w.manager.on_signal(errors("checkout", 0));
    settle(2).await;
    let incidents = w.journal.incidents(10).expect("list");
    w.process.shutdown().await;
    assert_eq!(incidents.len(), 2, "{incidents:#?}");
    assert_eq!(incidents[0].incident.service, "checkout");
}

#[tokio::test(start_paused = true)]
async fn a_different_kind_of_problem_upstream_is_not_taken_for_an_echo() {
    let w = world();
    w.manager.on_signal(errors("payments", 0));
    settle(2).await;
    w.manager.on_signal(errors("payments", 0).resolved(1_002_000));
    settle(1).await;
    let mut latency = errors("checkout", 0);
    latency.name = "HighLatency".into();
    w.manager.on_signal(latency);
    settle(1).await;
    assert_eq!(w.journal.incidents(10).expect("list").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn restart_policy_actions_are_journaled_with_intent_before_the_restart() {
    let w = world();
    let event = |kind| Event { service: "payments".into(), target: Target::One(1), kind };
    w.manager.on_event(&event(EventKind::Exited {
        pid: Some(42),
        status: "exit status: 70".into(),
        uptime: Duration::from_secs(3),
    }));
    w.manager.on_event(&event(EventKind::RestartScheduled {
        delay: Duration::from_millis(100),
        after: "exit status: 70".into(),
    }));
    let incident = w.journal.incidents(1).expect("list")[0].incident.id;
    let actions = w.journal.actions_of(incident).expect("actions");
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].origin, ActionOrigin::RestartPolicy);
    assert!(actions[0].outcome.is_none(), "intent written, restart not yet done");
    w.manager.on_event(&event(EventKind::Started {
        pid: Some(43),
        release: "1".into(),
        reason: "restart policy".into(),
    }));
    let actions = w.journal.actions_of(incident).expect("actions");
    assert_eq!(actions[0].outcome.as_ref().map(|o| o.status), Some(model::OutcomeStatus::Succeeded));
    assert!(w.manager.recovered(incident), "the exit signal resolved when the replica came back");
}

#[tokio::test(start_paused = true)]
async fn a_symptom_still_firing_after_its_root_cause_resolves_gets_its_own_incident() {
    let w = world();
    w.manager.on_signal(errors("payments", 0));
    w.manager.on_signal(errors("checkout", 0));
    settle(2).await;
    w.manager.on_signal(errors("payments", 0).resolved(1_002_000));
    settle(1).await;
    assert_eq!(w.journal.incidents(10).expect("list").len(), 1, "checkout is still only a symptom");
    // Checkout keeps failing on its own, well past the echo window.
    settle(12).await;
    let incidents = w.journal.incidents(10).expect("list");
    assert_eq!(incidents.len(), 2, "{incidents:#?}");
    assert_eq!(incidents[0].incident.service, "checkout");
}

#[tokio::test(start_paused = true)]
async fn a_reconsidered_signal_is_a_symptom_if_its_downstream_failed_again() {
    let w = world();
    w.manager.on_signal(errors("payments", 0));
    settle(2).await;
    w.manager.on_signal(errors("payments", 0).resolved(1_002_000));
    settle(1).await;
    w.manager.on_signal(errors("checkout", 0)); // an echo, reconsidered later
    settle(5).await;
    w.manager.on_signal(errors("payments", 1)); // payments fails again
    settle(10).await;
    let incidents = w.journal.incidents(10).expect("list");
    assert!(incidents.iter().all(|r| r.incident.service == "payments"), "{incidents:#?}");
    assert!(w.actuator.actions().iter().all(|a| a.service == "payments"));
}

#[tokio::test(start_paused = true)]
async fn stopping_leaves_incidents_open_for_the_next_run() {
    let w = world();
    w.manager.on_signal(errors("payments", 0));
    settle(2).await;
    w.manager.stop_all();
    settle(40).await;
    let record = &w.journal.incidents(1).expect("list")[0];
    assert_eq!(record.incident.state, IncidentState::Open);
    assert!(w.actuator.actions().iter().all(|a| a.verb != remedy::PAGE), "nobody is paged");
}

/// The first run of a crash test: opens an incident on payments in the journal file at
/// `path` and records that its ladder reached step 0, as `Ladder::run` does before acting;
/// with `in_flight`, also writes the step's intent (the action started). Then the
/// controller "dies": the journal is dropped with nothing else written.
fn crash_at_step_zero(path: &Path, in_flight: bool) -> model::IncidentId {
    let journal = Journal::open(path).expect("journal");
    let run = journal.begin_run("test", 0).expect("run");
    let trigger = errors("payments", 0);
    let id = journal.open_incident(run, "payments", &trigger, Some("errors"), 1_000_000).expect("incident").id;
    journal.set_step(id, 0).expect("step");
    if in_flight {
        let restart = PROCESS.verb("restart").expect("restart");
        let action = restart.action("payments", Target::One(0), Params::new(), "errors");
        journal.intent(run, Some(id), Some(0), ActionOrigin::Playbook, &action, false, 1_000_000).expect("intent");
    }
    id
}

/// The second run: reopens the journal file as the controller does at startup.
fn restart_after_crash(path: &Path) -> World {
    // Another test of this binary forking a child in the instant the first run held the
    // journal's lock lets the child share it until it execs: wait that out, as a real
    // restart (a new process) never has to.
    let mut tries = 0;
    let journal = loop {
        match Journal::open(path) {
            Err(knowledge::JournalError::Locked { .. }) if tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.expect("journal"),
        }
    };
    journal.recover_interrupted(1_000_500).expect("recover");
    let resumable = journal.open_incidents().expect("open incidents");
    assert_eq!(resumable.len(), 1);
    assert_eq!(resumable[0].step, Some(0));
    world_with(journal, resumable)
}

#[tokio::test(start_paused = true)]
async fn resuming_runs_a_step_whose_intent_was_never_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("autonomic.db");
    let id = crash_at_step_zero(&path, false);
    let w = restart_after_crash(&path);
    w.manager.on_signal(errors("payments", 0));
    settle(2).await;
    let done = w.actuator.actions();
    assert_eq!(done.len(), 1, "the step's action never ran before the crash, so it runs now: {done:?}");
    assert_eq!((done[0].verb.as_str(), &done[0].target), ("restart", &Target::One(0)));
    let actions = w.journal.actions_of(id).expect("actions");
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].step, Some(0));
    assert_eq!(actions[0].outcome.as_ref().map(|o| o.status), Some(model::OutcomeStatus::Succeeded));
}

#[tokio::test(start_paused = true)]
async fn resuming_does_not_repeat_an_action_that_was_in_flight() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("autonomic.db");
    let id = crash_at_step_zero(&path, true);
    let w = restart_after_crash(&path);
    w.manager.on_signal(errors("payments", 0));
    settle(2).await;
    assert!(w.actuator.actions().is_empty(), "the interrupted action is verified, not repeated");
    let actions = w.journal.actions_of(id).expect("actions");
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].outcome.as_ref().map(|o| o.status), Some(model::OutcomeStatus::Interrupted));
    // The signal clears: the resumed step verifies and resolves the incident.
    w.manager.on_signal(errors("payments", 0).resolved(1_003_000));
    settle(2).await;
    assert_eq!(w.journal.incidents(1).expect("list")[0].incident.state, IncidentState::Resolved);
}

#[tokio::test(start_paused = true)]
async fn without_an_echo_window_a_trailing_upstream_signal_is_a_problem_of_its_own_at_once() {
    let text = format!("echo_window: 0s\n{CONFIG}");
    let w = world_from(&text, Journal::in_memory().expect("journal"), vec![]);
    w.manager.on_signal(errors("payments", 0));
    settle(2).await;
    w.manager.on_signal(errors("payments", 0).resolved(1_002_000));
    settle(1).await;
    w.manager.on_signal(errors("checkout", 0));
    settle(2).await;
    let incidents = w.journal.incidents(10).expect("list");
    assert_eq!(incidents.len(), 2, "with the default 10 s window this is an echo: {incidents:#?}");
    assert_eq!(incidents[0].incident.service, "checkout");
}
