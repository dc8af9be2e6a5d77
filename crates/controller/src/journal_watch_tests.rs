//! The journal while the loop runs, under paused time: an outage is loud once (health,
//! signal, one page that needs no journal) and clears itself; pruning runs at start and
//! hourly; a controller owns its journal until it shuts down.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use knowledge::Journal;
use model::{Health, IncidentState, Labels, Signal, SignalKind, TokioClock};
use remedy::pager::PageTransport;
use remedy::{PageRetry, Pager};

use super::{COMPONENT, JOURNAL_UNWRITABLE, PROBE_EVERY, Watch, observe, prune_every, watch};
use crate::incidents::{IncidentManager, Mode};
use crate::topology::Topology;
use crate::{Controller, ControllerError, RunOptions};

/// A page receiver that takes every page (or refuses them all) and keeps their bodies.
#[derive(Default)]
struct Receiver {
    pages: Mutex<Vec<serde_json::Value>>,
    down: std::sync::atomic::AtomicBool,
}

impl PageTransport for Receiver {
    fn post<'a>(&'a self, _: &'a str, body: &'a serde_json::Value) -> BoxFuture<'a, Result<u16, String>> {
        Box::pin(async move {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err("request failed: connection refused".into());
            }
            self.pages.lock().expect("lock").push(body.clone());
            Ok(200)
        })
    }
}

struct World {
    journal: Arc<Journal>,
    health: Health,
    incidents: Arc<IncidentManager>,
    receiver: Arc<Receiver>,
}

fn world() -> World {
    let config = Arc::new(crate::config::compile("c.yaml", "services: {}\n", Path::new(".")).expect("config"));
    let topology = Arc::new(Topology::resolve(&config, Path::new("autonomic")).expect("topology"));
    let clock = Arc::new(TokioClock::anchored_at(1_000_000));
    let journal = Arc::new(Journal::in_memory().expect("journal"));
    let run = journal.begin_run("test", 0).expect("run");
    let health = Health::new();
    let events = observe(&journal, &health);
    let incidents = IncidentManager::new(
        journal.clone(),
        run,
        clock.clone(),
        config,
        topology,
        remedy::Actuators::new(),
        Mode::Autonomic,
        Vec::new(),
    );
    let receiver = Arc::new(Receiver::default());
    let pager = Pager::new()
        .with_transport(receiver.clone())
        .with_retry(PageRetry { retry_for: Duration::from_secs(60), ..PageRetry::default() });
    tokio::spawn(watch(
        events,
        Watch {
            journal: journal.clone(),
            incidents: incidents.clone(),
            pager,
            url: Some("http://pager/page".into()),
            format: remedy::PageFormat::Webhook,
            clock,
            health: health.clone(),
        },
    ));
    World { journal, health, incidents, receiver }
}

fn unwritable_active(w: &World) -> bool {
    w.incidents.active_signals().iter().any(|s| s.kind == SignalKind::ControllerFault && s.name == JOURNAL_UNWRITABLE)
}

/// Lets spawned and blocking work finish.
async fn settle() {
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn an_outage_is_loud_once_and_clears_itself_when_a_write_succeeds() {
    let w = world();
    w.journal.refuse_writes_for_tests(true).expect("refuse");
    for i in 0..5 {
        assert!(w.journal.note(None, "x", "lost", i).is_err());
    }
    // At once, inside the failing write: nothing waits for a task to run.
    let problems = w.health.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].0, COMPONENT);
    assert!(problems[0].1.contains("attempt to write a readonly database"), "{}", problems[0].1);
    settle().await;
    let pages = w.receiver.pages.lock().expect("lock").clone();
    assert_eq!(pages.len(), 1, "one page per outage, not per lost write: {pages:?}");
    assert_eq!(pages[0]["service"], "autonomic");
    assert!(pages[0]["summary"].as_str().is_some_and(|s| s.contains("cannot write its journal")), "{}", pages[0]);
    assert!(unwritable_active(&w), "the journal_unwritable signal fires");

    // Writable again, and nothing else writes: the watcher's own probe notices.
    w.journal.refuse_writes_for_tests(false).expect("allow");
    tokio::time::sleep(PROBE_EVERY + Duration::from_secs(1)).await;
    settle().await;
    assert!(w.health.is_healthy(), "{:?}", w.health.problems());
    assert!(!unwritable_active(&w), "the signal resolved");
    let notes = w.journal.controller_notes(10).expect("notes");
    let kinds: Vec<&str> = notes.iter().map(|n| n.kind.as_str()).collect();
    assert_eq!(kinds, vec!["journal_recovered", JOURNAL_UNWRITABLE], "{notes:?}");
    assert!(notes[0].text.contains("6 write(s) were lost"), "{}", notes[0].text);
    assert!(notes[1].text.contains("attempt to write a readonly database"), "{}", notes[1].text);
    assert_eq!(w.receiver.pages.lock().expect("lock").len(), 1, "no page for the recovery");

    // A second outage is a second page.
    w.journal.refuse_writes_for_tests(true).expect("refuse");
    assert!(w.journal.note(None, "x", "lost", 0).is_err());
    settle().await;
    assert_eq!(w.receiver.pages.lock().expect("lock").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_page_about_the_journal_that_is_not_delivered_is_a_pager_problem() {
    let w = world();
    w.receiver.down.store(true, std::sync::atomic::Ordering::SeqCst);
    w.journal.refuse_writes_for_tests(true).expect("refuse");
    assert!(w.journal.note(None, "x", "lost", 0).is_err());
    // retry_for is 1m: the pager gives up after it.
    tokio::time::sleep(Duration::from_secs(90)).await;
    settle().await;
    let components: Vec<String> = w.health.problems().into_iter().map(|(c, _)| c).collect();
    assert_eq!(components, vec!["journal".to_owned(), "pager".to_owned()]);
}

#[tokio::test(start_paused = true)]
async fn pruning_runs_at_start_and_every_hour() {
    const DAY: i64 = 86_400_000;
    let journal = Arc::new(Journal::in_memory().expect("journal"));
    let run = journal.begin_run("test", 0).expect("run");
    let old = |at: i64| {
        let s = Signal::firing(SignalKind::Alert, "A", Labels::from_pairs([("service", "a")]), at);
        let id = journal.open_incident(run, "a", &s, None, at).expect("incident").id;
        journal.close_incident(id, IncidentState::Resolved, at + 1).expect("close");
    };
    old(DAY);
    let now = 100 * DAY;
    let clock = Arc::new(TokioClock::anchored_at(now));
    tokio::spawn(prune_every(journal.clone(), clock, Duration::from_secs(90 * 86_400), Duration::from_secs(3600)));
    settle().await;
    assert_eq!(journal.incidents(10).expect("list").len(), 0, "pruned at start");
    old(2 * DAY);
    tokio::time::sleep(Duration::from_secs(1800)).await;
    settle().await;
    assert_eq!(journal.incidents(10).expect("list").len(), 1, "not before the hour");
    tokio::time::sleep(Duration::from_secs(1800)).await;
    settle().await;
    assert_eq!(journal.incidents(10).expect("list").len(), 0, "pruned an hour later");
}

#[tokio::test]
async fn a_controller_owns_its_journal_until_it_shuts_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || crate::config::compile("c.yaml", "journal: j.db\nservices: {}\n", dir.path()).expect("config");
    let first = Controller::start(config(), RunOptions::autonomic("autonomic".into())).await.expect("first");
    match Controller::start(config(), RunOptions::autonomic("autonomic".into())).await {
        Err(ControllerError::Journal(knowledge::JournalError::Locked { holder, .. })) => {
            assert_eq!(holder, Some(std::process::id()))
        }
        Err(e) => panic!("expected the journal to be locked, got {e}"),
        Ok(_) => panic!("a second controller started on the same journal"),
    }
    first.journal().note(None, "still", "the first controller still writes", 0).expect("write");
    first.shutdown().await;
    let second = Controller::start(config(), RunOptions::autonomic("autonomic".into())).await.expect("after shutdown");
    second.shutdown().await;
}
