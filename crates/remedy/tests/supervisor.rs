//! The supervisor against real processes (`sh`, `sleep`): starts, crashes, restart budget,
//! graceful and forced stops, rollback, and cleanup of whole process groups.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use model::{Event, EventKind, ReplicaState, Target, TokioClock};
use remedy::actuators::process::supervisor::{Release, RestartPolicy, ServiceSpec, Supervisor};
use tokio::sync::broadcast;

fn sh(version: &str, script: &str) -> Release {
    Release {
        version: version.to_owned(),
        command: vec!["sh".into(), "-c".into(), script.into()],
        env: BTreeMap::from([("GREETING".to_owned(), "hello from {replica}".to_owned())]),
    }
}

fn spec(name: &str, release: Release, replicas: usize, restart: RestartPolicy) -> ServiceSpec {
    ServiceSpec {
        name: name.to_owned(),
        release,
        replica_vars: (0..replicas).map(|i| BTreeMap::from([("replica".to_owned(), i.to_string())])).collect(),
        restart,
        stop_grace: Duration::from_millis(300),
        log_lines: 50,
        readiness: None,
        ready_timeout: Duration::from_secs(5),
    }
}

fn fast_restarts(burst: u32) -> RestartPolicy {
    RestartPolicy {
        enabled: true,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        reset_after: Duration::from_secs(60),
        burst,
        interval: Duration::from_secs(60),
    }
}

fn alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie would show state Z.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

async fn next_matching(rx: &mut broadcast::Receiver<Event>, pred: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match rx.recv().await {
                Ok(e) if pred(&e) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => panic!("event stream closed"),
            }
        }
    })
    .await
    .expect("expected event did not arrive")
}

async fn wait_for_log(sup: &Supervisor, service: &str, replica: usize, needle: &str) -> Vec<String> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let logs = sup.logs(service, replica).expect("known service");
            if logs.iter().any(|l| l.contains(needle)) {
                return logs;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("log line {needle:?} never appeared"))
}

#[tokio::test]
async fn starts_replicas_captures_output_and_restarts_on_request() {
    let sup = Supervisor::new(TokioClock::shared());
    sup.start_service(spec("svc", sh("1", "echo \"$GREETING\"; exec sleep 30"), 2, fast_restarts(3))).expect("starts");
    wait_for_log(&sup, "svc", 1, "hello from 1").await;
    let before = sup.status("svc").expect("status");
    assert!(before.iter().all(|r| r.state == ReplicaState::Running));
    let old_pid = before[0].pid.expect("pid");
    assert!(alive(old_pid));

    let detail = sup.restart("svc", &Target::One(0), 1).await.expect("restart");
    assert!(detail.contains("replica 0"), "{detail}");
    let after = sup.status("svc").expect("status");
    assert_ne!(after[0].pid, Some(old_pid));
    assert_eq!(after[1].pid, before[1].pid, "the other replica was left alone");
    assert!(!alive(old_pid), "old process was stopped and reaped");

    let pids: Vec<u32> = after.iter().filter_map(|r| r.pid).collect();
    sup.shutdown().await;
    assert!(pids.iter().all(|p| !alive(*p)), "shutdown leaves nothing running");
}

#[tokio::test]
async fn crashing_process_is_restarted_until_the_budget_is_spent() {
    let sup = Supervisor::new(TokioClock::shared());
    let mut events = sup.subscribe();
    sup.start_service(spec("crashy", sh("1", "exit 3"), 1, fast_restarts(3))).expect("starts");
    let gave_up = next_matching(&mut events, |e| matches!(&e.kind, EventKind::GaveUp { .. })).await;
    assert!(matches!(gave_up.kind, EventKind::GaveUp { .. }) && gave_up.service == "crashy");
    let status = sup.status("crashy").expect("status");
    assert_eq!(status[0].state, ReplicaState::Failed);
    assert_eq!(status[0].starts, 4, "initial start plus a burst of three restarts");
    sup.shutdown().await;
}

#[tokio::test]
async fn restart_is_announced_before_it_happens() {
    let sup = Supervisor::new(TokioClock::shared());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    sup.set_observer(Arc::new(move |e| {
        let tag = match &e.kind {
            EventKind::Started { reason, .. } => format!("started:{reason}"),
            EventKind::Exited { .. } => "exited".into(),
            EventKind::RestartScheduled { .. } => "scheduled".into(),
            EventKind::GaveUp { .. } => "gave_up".into(),
            EventKind::Stopped { .. } => "stopped".into(),
            other => format!("{other:?}"),
        };
        log.lock().expect("lock").push(tag);
    }));
    let mut events = sup.subscribe();
    sup.start_service(spec("once", sh("1", "sleep 0.1; exit 1"), 1, fast_restarts(1))).expect("starts");
    next_matching(&mut events, |e| matches!(&e.kind, EventKind::GaveUp { .. })).await;
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen,
        vec!["started:initial start", "exited", "scheduled", "started:restart policy", "exited", "gave_up"]
    );
    sup.shutdown().await;
}

#[tokio::test]
async fn stop_escalates_to_sigkill_for_a_process_that_ignores_sigterm() {
    let sup = Supervisor::new(TokioClock::shared());
    let mut events = sup.subscribe();
    sup.start_service(spec("stubborn", sh("1", "trap '' TERM; echo ready; sleep 30 & wait"), 1, fast_restarts(1)))
        .expect("starts");
    wait_for_log(&sup, "stubborn", 0, "ready").await;
    sup.shutdown().await;
    let stopped = next_matching(&mut events, |e| matches!(&e.kind, EventKind::Stopped { .. })).await;
    let EventKind::Stopped { how, pid: Some(pid) } = stopped.kind else { unreachable!() };
    assert!(how.starts_with("killed after 300ms grace"), "{how}");
    assert!(!alive(pid));
}

#[tokio::test]
async fn stop_reaches_grandchildren_in_the_process_group() {
    let sup = Supervisor::new(TokioClock::shared());
    sup.start_service(spec("parent", sh("1", "sleep 300 & echo child=$!; wait"), 1, fast_restarts(1))).expect("starts");
    let logs = wait_for_log(&sup, "parent", 0, "child=").await;
    let child: u32 = logs
        .iter()
        .find_map(|l| l.strip_prefix("child=").and_then(|p| p.trim().parse().ok()))
        .expect("child pid printed");
    assert!(alive(child));
    sup.shutdown().await;
    // The grandchild is not ours to reap: give init a moment, then check it is gone.
    let gone = tokio::time::timeout(Duration::from_secs(5), async {
        while alive(child) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "grandchild {child} survived the stop");
}

#[tokio::test]
async fn deploy_then_rollback_runs_the_previous_release_again() {
    let sup = Supervisor::new(TokioClock::shared());
    sup.start_service(spec("app", sh("1.0", "echo running v1.0; exec sleep 30"), 2, fast_restarts(3))).expect("starts");
    wait_for_log(&sup, "app", 0, "running v1.0").await;
    sup.deploy("app", sh("2.0", "echo running v2.0; exec sleep 30"), 1, Duration::ZERO).await.expect("deploy");
    wait_for_log(&sup, "app", 1, "running v2.0").await;
    assert!(sup.status("app").expect("status").iter().all(|r| r.release == "2.0"));
    assert_eq!(sup.history("app").expect("history").len(), 2);

    let detail = sup.rollback("app", 1).await.expect("rollback");
    assert!(detail.starts_with("rolled back from 2.0"), "{detail}");
    assert!(sup.status("app").expect("status").iter().all(|r| r.release == "1.0"));
    tokio::time::timeout(Duration::from_secs(10), async {
        while sup.logs("app", 0).expect("logs").last().map(String::as_str) != Some("running v1.0") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the old release's process runs again");
    assert!(matches!(
        sup.rollback("app", 1).await,
        Err(remedy::actuators::process::supervisor::SupervisorError::NoPreviousRelease(_))
    ));
    sup.shutdown().await;
}

#[tokio::test]
async fn signal_is_delivered_to_the_process() {
    let sup = Supervisor::new(TokioClock::shared());
    sup.start_service(spec(
        "hup",
        sh("1", "trap 'echo got HUP' HUP; echo ready; while true; do sleep 0.05; done"),
        1,
        fast_restarts(1),
    ))
    .expect("starts");
    wait_for_log(&sup, "hup", 0, "ready").await;
    sup.signal("hup", &Target::All, "HUP").await.expect("signal");
    wait_for_log(&sup, "hup", 0, "got HUP").await;
    assert!(sup.signal("hup", &Target::All, "NOPE").await.is_err());
    sup.shutdown().await;
}

#[tokio::test]
async fn missing_program_is_reported_and_counts_against_the_budget() {
    let sup = Supervisor::new(TokioClock::shared());
    let mut events = sup.subscribe();
    let release = Release { version: "1".into(), command: vec!["/nonexistent/program".into()], env: BTreeMap::new() };
    sup.start_service(spec("ghost", release, 1, fast_restarts(2))).expect("registered");
    next_matching(&mut events, |e| matches!(&e.kind, EventKind::GaveUp { .. })).await;
    let logs = sup.logs("ghost", 0).expect("logs");
    assert!(logs.iter().any(|l| l.contains("cannot start `/nonexistent/program`")), "{logs:?}");
    sup.shutdown().await;
}

#[tokio::test]
async fn rollback_stops_a_canary_deploy_and_leaves_untouched_replicas_alone() {
    let sup = Supervisor::new(TokioClock::shared());
    let mut events = sup.subscribe();
    sup.start_service(spec("canary", sh("1.0", "echo running v1.0; exec sleep 30"), 2, fast_restarts(3)))
        .expect("starts");
    wait_for_log(&sup, "canary", 1, "running v1.0").await;
    let untouched = sup.status("canary").expect("status")[1].pid;

    // A long bake after the first replica: the deploy is a canary until someone decides.
    let deployer = sup.clone();
    let deploy = tokio::spawn(async move {
        deployer.deploy("canary", sh("2.0", "echo running v2.0; exec sleep 30"), 1, Duration::from_secs(3600)).await
    });
    next_matching(&mut events, |e| matches!(&e.kind, EventKind::Started { release, .. } if release == "2.0")).await;
    let detail = sup.rollback("canary", 1).await.expect("rollback");
    assert!(detail.contains("replica 0"), "{detail}");
    assert!(!detail.contains("replica 1"), "replica 1 never ran 2.0 and is not restarted: {detail}");
    let outcome = tokio::time::timeout(Duration::from_secs(5), deploy).await.expect("deploy stops").expect("join");
    assert!(
        matches!(outcome, Err(remedy::actuators::process::supervisor::SupervisorError::Superseded { .. })),
        "{outcome:?}"
    );
    let status = sup.status("canary").expect("status");
    assert!(status.iter().all(|r| r.release == "1.0"));
    assert_eq!(status[1].pid, untouched);
    sup.shutdown().await;
}

/// Replica `i` is ready when the file `ready-i` exists in `dir`; the script creates it at
/// start unless `sick-i` exists.
fn file_readiness(dir: std::path::PathBuf) -> remedy::actuators::process::supervisor::Readiness {
    Arc::new(move |_service: &str, replica: usize| {
        let ready = dir.join(format!("ready-{replica}")).exists();
        Box::pin(async move { ready })
    })
}

#[tokio::test]
async fn rolling_restart_takes_down_the_unready_replica_first_and_respects_max_unavailable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    std::fs::write(dir.path().join("sick-1"), "").expect("marker");
    let script =
        format!("if [ ! -e {d}/sick-{{replica}} ]; then touch {d}/ready-{{replica}}; fi; echo up; exec sleep 30");
    let mut s = spec("avail", sh("1", &script), 2, fast_restarts(3));
    s.readiness = Some(file_readiness(dir.path().to_path_buf()));
    let sup = Supervisor::new(TokioClock::shared());
    let mut events = sup.subscribe();
    sup.start_service(s).expect("starts");
    wait_for_log(&sup, "avail", 0, "up").await;
    wait_for_log(&sup, "avail", 1, "up").await;

    // Replica 1 is down (unready): restarting replica 0 alone would leave nothing serving.
    let refused = sup.restart("avail", &Target::One(0), 1).await;
    assert!(
        matches!(
            refused,
            Err(remedy::actuators::process::supervisor::SupervisorError::WouldExceedUnavailable { down: 1, .. })
        ),
        "{refused:?}"
    );

    // A rolling restart of all replicas starts with the one that is already down.
    std::fs::remove_file(dir.path().join("sick-1")).expect("heal");
    sup.restart("avail", &Target::All, 1).await.expect("rolling restart");
    let first =
        next_matching(&mut events, |e| matches!(&e.kind, EventKind::Started { reason, .. } if reason == "requested"))
            .await;
    assert!(matches!(first.kind, EventKind::Started { .. }) && first.target == Target::One(1), "{first:?}");
    sup.shutdown().await;
}
