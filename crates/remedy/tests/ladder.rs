//! The escalation ladder under tokio's paused time: deadlines, escalation to the next step,
//! guards, dry-run, resumption, and the intent-before-action rule.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use knowledge::Journal;
use model::{
    Action, Actuator, ActuatorSpec, BoxFuture as ModelFuture, Deployment, Incident, Labels, Outcome, OutcomeStatus,
    ServiceStatus, Signal, SignalKind, Target, TokioClock,
};
use remedy::pager::PageTransport;
use remedy::playbook::{Guards, Match, MaxUnavailable, Scope, Step, StepAction, Verify};
use remedy::{Actuators, GuardState, Ladder, LadderEnd, PageRetry, Pager, Playbook, StartAt, Verifier};
use tokio::sync::watch;

/// A test double of a `process` service's actuator and of the page receiver: heals the
/// service when it performs `heals_with`; checks the journal already holds the action's
/// intent when it is asked to act.
struct Fleet {
    heals_with: &'static str,
    healed: AtomicBool,
    done: Mutex<Vec<Action>>,
    journal: Arc<Journal>,
    intents_seen_before_acting: AtomicBool,
    /// The page receiver is down: every attempt is refused.
    pager_down: AtomicBool,
    /// Pages received: URL and body.
    pages: Mutex<Vec<(String, serde_json::Value)>>,
}

impl Actuator for Fleet {
    fn spec(&self) -> &'static ActuatorSpec {
        &remedy::actuators::PROCESS
    }

    fn apply<'a>(&'a self, action: &'a Action) -> ModelFuture<'a, Outcome> {
        Box::pin(async move {
            let open = self.journal.actions_since(&action.service, 0).expect("journal");
            let in_flight = open.last().is_some_and(|a| a.outcome.is_none() && a.verb == action.verb);
            self.intents_seen_before_acting.store(in_flight, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(2)).await;
            self.done.lock().expect("lock").push(action.clone());
            if action.verb == self.heals_with {
                self.healed.store(true, Ordering::SeqCst);
            }
            Outcome::succeeded(format!("did {action}"))
        })
    }

    fn status<'a>(&'a self, _: &'a str) -> ModelFuture<'a, Option<ServiceStatus>> {
        let running =
            model::ReplicaStatus { state: model::ReplicaState::Running, pid: None, release: "1".into(), starts: 1 };
        Box::pin(async move { Some(ServiceStatus { replicas: vec![running.clone(), running], rollout: None }) })
    }

    fn history<'a>(&'a self, _: &'a str) -> ModelFuture<'a, Vec<Deployment>> {
        Box::pin(async { Vec::new() })
    }
}

impl PageTransport for Fleet {
    fn post<'a>(&'a self, url: &'a str, body: &'a serde_json::Value) -> BoxFuture<'a, Result<u16, String>> {
        Box::pin(async move {
            if self.pager_down.load(Ordering::SeqCst) {
                return Err("request failed: connection refused".into());
            }
            self.pages.lock().expect("lock").push((url.to_owned(), body.clone()));
            Ok(202)
        })
    }
}

impl Fleet {
    fn pages(&self) -> Vec<(String, serde_json::Value)> {
        self.pages.lock().expect("lock").clone()
    }
}

struct Healed(Arc<Fleet>);

impl Verifier for Healed {
    fn check<'a>(&'a self, _: &'a Verify, _: &'a Incident) -> BoxFuture<'a, bool> {
        Box::pin(async move { self.0.healed.load(Ordering::SeqCst) })
    }
}

fn playbook(cooldown_s: u64) -> Playbook {
    Playbook {
        name: "errors".into(),
        matcher: Match::default(),
        steps: vec![
            Step {
                action: Some(StepAction::act("restart", Some(Scope::Replica))),
                verify: Verify::Recovered,
                within: Duration::from_secs(20),
            },
            Step {
                action: Some(StepAction::act("rollback", None)),
                verify: Verify::Recovered,
                within: Duration::from_secs(30),
            },
        ],
        guards: Guards {
            cooldown: Duration::from_secs(cooldown_s),
            max_actions_per_hour: 10,
            max_unavailable: MaxUnavailable::Count(1),
        },
    }
}

struct Setup {
    ladder: Ladder,
    fleet: Arc<Fleet>,
    journal: Arc<Journal>,
}

fn setup(heals_with: &'static str, dry_run: bool) -> Setup {
    let journal = Arc::new(Journal::in_memory().expect("journal"));
    let clock = Arc::new(TokioClock::anchored_at(1_000_000));
    let run = journal.begin_run("test", 0).expect("run");
    let fleet = Arc::new(Fleet {
        heals_with,
        healed: AtomicBool::new(false),
        done: Mutex::new(Vec::new()),
        journal: journal.clone(),
        intents_seen_before_acting: AtomicBool::new(false),
        pager_down: AtomicBool::new(false),
        pages: Mutex::new(Vec::new()),
    });
    let mut actuators = Actuators::new();
    actuators.bind("checkout", fleet.clone());
    let ladder = Ladder {
        journal: journal.clone(),
        run,
        actuators,
        pager: Pager::new()
            .with_transport(fleet.clone())
            .with_retry(PageRetry { retry_for: Duration::from_secs(60), ..PageRetry::default() }),
        verifier: Arc::new(Healed(fleet.clone())),
        guards: Arc::new(Mutex::new(GuardState::new())),
        clock,
        dry_run,
        escalation_url: Some("http://127.0.0.1:9/page".into()),
        escalation_format: remedy::PageFormat::Webhook,
        poll: Duration::from_millis(500),
        health: model::Health::new(),
        metrics: Default::default(),
        leadership: model::Leadership::always(),
    };
    Setup { ladder, fleet, journal }
}

fn incident(s: &Setup) -> Incident {
    let trigger = Signal::firing(
        SignalKind::Alert,
        "HighErrorRate",
        Labels::from_pairs([("service", "checkout"), ("replica", "1")]),
        1_000_000,
    );
    let mut incident =
        s.journal.open_incident(s.ladder.run, "checkout", &trigger, Some("errors"), 1_000_000).expect("incident");
    incident.replica = Some(Target::One(1));
    incident
}

fn no_stop() -> watch::Receiver<Option<String>> {
    let (tx, rx) = watch::channel(None);
    std::mem::forget(tx);
    rx
}

#[tokio::test(start_paused = true)]
async fn escalates_to_the_next_step_after_the_deadline_then_resolves() {
    let s = setup("rollback", false);
    let inc = incident(&s);
    let started = tokio::time::Instant::now();
    let end = s.ladder.run(&inc, &playbook(60), StartAt::Step(0), &mut no_stop()).await;
    assert_eq!(end, LadderEnd::Resolved { step: 1 });
    // 2 s restart + 20 s deadline + 2 s rollback, then verified at once.
    assert_eq!(started.elapsed(), Duration::from_secs(24));
    let done = s.fleet.done.lock().expect("lock").clone();
    assert_eq!(done.len(), 2);
    assert_eq!(done[0].to_string(), "restart checkout replica 1");
    assert_eq!((done[0].target.clone(), done[0].max_unavailable()), (Target::One(1), 1));
    assert_eq!(done[1].to_string(), "roll back checkout");
    assert_eq!((done[1].target.clone(), done[1].max_unavailable()), (Target::All, 1));
    assert!(s.fleet.intents_seen_before_acting.load(Ordering::SeqCst), "intent journaled before acting");
    let timeline: Vec<String> = s.journal.timeline(inc.id).expect("timeline").into_iter().map(|e| e.kind).collect();
    // The trigger is journaled with the incident it opens.
    assert_eq!(timeline, vec!["signal", "intent", "outcome", "deadline", "intent", "outcome", "verified"]);
    let record = &s.journal.incidents(1).expect("list")[0];
    assert_eq!(record.incident.state, model::IncidentState::Resolved);
    assert_eq!(record.step, Some(1));
}

#[tokio::test(start_paused = true)]
async fn exhausted_ladder_pages_and_escalates() {
    let s = setup("nothing-heals", false);
    let inc = incident(&s);
    let end = s.ladder.run(&inc, &playbook(60), StartAt::Step(0), &mut no_stop()).await;
    assert_eq!(end, LadderEnd::Escalated);
    let pages = s.fleet.pages();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].0, "http://127.0.0.1:9/page");
    let details = pages[0].1["details"].as_str().unwrap_or_default();
    assert!(details.contains("Incident #1 on checkout"), "page carries the summary: {details}");
    let record = &s.journal.incidents(1).expect("list")[0];
    assert_eq!(record.incident.state, model::IncidentState::Escalated);
    let last = record.timeline.last().expect("timeline");
    assert_eq!(
        (last.kind.as_str(), last.text.as_str()),
        ("escalated", "ladder exhausted; handed to a human (paged http://127.0.0.1:9/page)")
    );
    assert!(s.ladder.health.is_healthy());
}

/// The last note of the incident's timeline.
fn last_note(s: &Setup, id: model::IncidentId) -> (String, String) {
    let timeline = s.journal.timeline(id).expect("timeline");
    let last = timeline.last().expect("a note");
    (last.kind.clone(), last.text.clone())
}

#[tokio::test(start_paused = true)]
async fn an_undelivered_page_is_never_reported_as_handed_to_a_human() {
    let s = setup("nothing-heals", false);
    s.fleet.pager_down.store(true, Ordering::SeqCst);
    let inc = incident(&s);
    let end = s.ladder.run(&inc, &playbook(0), StartAt::Step(0), &mut no_stop()).await;
    assert_eq!(end, LadderEnd::Escalated);
    let (kind, text) = last_note(&s, inc.id);
    assert_eq!(kind, "escalation_failed");
    assert!(
        text.starts_with(
            "ladder exhausted; the page to http://127.0.0.1:9/page was NOT delivered: page to http://127.0.0.1:9/page was NOT delivered ("
        ) && text.ends_with("): request failed: connection refused"),
        "{text}"
    );
    assert!(s.journal.timeline(inc.id).expect("timeline").iter().all(|e| !e.text.contains("handed to a human")));
    let problems = s.ladder.health.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].0, "pager");
    assert!(problems[0].1.contains("was not delivered"), "{}", problems[0].1);

    // The receiver is back: the next page gets through and the pager is healthy again.
    s.fleet.pager_down.store(false, Ordering::SeqCst);
    let next = incident(&s);
    s.ladder.run(&next, &playbook(0), StartAt::Step(0), &mut no_stop()).await;
    assert_eq!(last_note(&s, next.id).0, "escalated");
    assert!(s.ladder.health.is_healthy(), "{:?}", s.ladder.health.problems());
}

#[tokio::test(start_paused = true)]
async fn without_a_receiver_the_timeline_says_nobody_was_paged() {
    let mut s = setup("nothing-heals", false);
    s.ladder.escalation_url = None;
    let inc = incident(&s);
    s.ladder.run(&inc, &playbook(0), StartAt::Step(0), &mut no_stop()).await;
    assert_eq!(
        last_note(&s, inc.id),
        (
            "escalation_failed".to_owned(),
            "ladder exhausted; nobody was paged: no escalation webhook is configured".to_owned()
        )
    );
}

#[tokio::test(start_paused = true)]
async fn nothing_runs_whose_intent_cannot_be_journaled() {
    let s = setup("restart", false);
    let inc = incident(&s);
    // A real SQLite refusal (a read-only database), which holds for root too.
    s.journal.refuse_writes_for_tests(true).expect("refuse");
    let end = s.ladder.run(&inc, &playbook(0), StartAt::Step(0), &mut no_stop()).await;
    assert_eq!(end, LadderEnd::Escalated, "every step was refused");
    assert!(s.fleet.done.lock().expect("lock").is_empty(), "no restart, no rollback without an intent");
    assert!(s.fleet.pages().is_empty(), "no page without an intent");
    assert!(!s.journal.is_writable());
    s.journal.refuse_writes_for_tests(false).expect("allow");
    assert!(s.journal.actions_of(inc.id).expect("actions").is_empty());
    let problems = s.ladder.health.problems();
    assert!(
        problems.iter().any(|(c, why)| c == "pager" && why.contains("intent could not be journaled")),
        "{problems:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn cooldown_skips_actions_of_a_second_incident_and_pages_instead() {
    let s = setup("nothing-heals", false);
    let first = incident(&s);
    s.ladder.run(&first, &playbook(600), StartAt::Step(0), &mut no_stop()).await;
    let (before, pages_before) = (s.fleet.done.lock().expect("lock").len(), s.fleet.pages().len());
    let second = incident(&s);
    s.ladder.run(&second, &playbook(600), StartAt::Step(0), &mut no_stop()).await;
    let after = s.fleet.done.lock().expect("lock").len();
    assert_eq!((after, s.fleet.pages().len()), (before, pages_before + 1), "only the page went out");
    let actions = s.journal.actions_of(second.id).expect("actions");
    let statuses: Vec<OutcomeStatus> = actions.iter().filter_map(|a| a.outcome.as_ref().map(|o| o.status)).collect();
    assert_eq!(statuses, vec![OutcomeStatus::Skipped, OutcomeStatus::Skipped, OutcomeStatus::Succeeded]);
    assert!(actions[0].outcome.as_ref().is_some_and(|o| o.detail.starts_with("cooldown")));
}

#[tokio::test(start_paused = true)]
async fn dry_run_journals_without_acting() {
    let s = setup("restart", true);
    let inc = incident(&s);
    let end = s.ladder.run(&inc, &playbook(60), StartAt::Step(0), &mut no_stop()).await;
    assert_eq!(end, LadderEnd::Escalated, "nothing was done, so nothing recovered");
    assert!(s.fleet.done.lock().expect("lock").is_empty());
    let actions = s.journal.actions_of(inc.id).expect("actions");
    assert_eq!(actions.len(), 3);
    assert!(
        actions.iter().all(|a| { a.dry_run && a.outcome.as_ref().is_some_and(|o| o.status == OutcomeStatus::DryRun) })
    );
}

#[tokio::test(start_paused = true)]
async fn resuming_verifies_without_repeating_the_action() {
    let s = setup("restart", false);
    let inc = incident(&s);
    s.fleet.healed.store(true, Ordering::SeqCst);
    let end = s.ladder.run(&inc, &playbook(60), StartAt::VerifyStep(0), &mut no_stop()).await;
    assert_eq!(end, LadderEnd::Resolved { step: 0 });
    assert!(s.fleet.done.lock().expect("lock").is_empty(), "the interrupted step's action is not run again");
}

#[tokio::test(start_paused = true)]
async fn stop_signal_ends_the_ladder_during_verification() {
    let s = setup("nothing-heals", false);
    let inc = incident(&s);
    let (tx, mut rx) = watch::channel(None);
    let ladder = s.ladder.clone();
    let pb = playbook(60);
    let task = tokio::spawn(async move { ladder.run(&inc, &pb, StartAt::Step(0), &mut rx).await });
    tokio::time::sleep(Duration::from_secs(5)).await;
    tx.send(Some("merged into #9".into())).expect("send");
    assert_eq!(task.await.expect("join"), LadderEnd::Stopped("merged into #9".into()));
    assert_eq!(s.fleet.done.lock().expect("lock").len(), 1);
}
