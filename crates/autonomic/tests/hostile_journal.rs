//! The journal against a hostile but fair world, with the real binary: a second controller on
//! the same journal is refused (naming the first, which keeps acting), a journal with garbage
//! in its middle is refused at start, and a journal that cannot be written pages a human
//! through the webhook, then clears itself.

mod common;

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{Cleanup, kill, serial, tag, tagged_processes, wait_until};
use rusqlite::{Connection, OptionalExtension};

/// Starts `autonomic ARGS` in `dir`, tagged, its output going to `NAME.out` and `NAME.err`
/// there (a pipe nobody reads would fill up and stall a long-running controller).
fn start(args: &[&str], tag: &str, dir: &Path, name: &str) -> Child {
    let file = |ext: &str| std::fs::File::create(dir.join(format!("{name}.{ext}"))).expect("log file");
    Command::new(common::autonomic())
        .args(args)
        .current_dir(dir)
        .env("AUTONOMIC_E2E_TAG", tag)
        .stdin(Stdio::null())
        .stdout(Stdio::from(file("out")))
        .stderr(Stdio::from(file("err")))
        .spawn()
        .expect("start autonomic")
}

fn log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.err"))).unwrap_or_default()
}

/// Waits for `child` to exit, killing it (and failing) after `limit`.
fn exits_within(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn query_i64(dir: &Path, sql: &str) -> Option<i64> {
    let conn = Connection::open(dir.join("j.db")).ok()?;
    conn.query_row(sql, [], |r| r.get(0)).optional().ok().flatten()
}

const SUPERVISED: &str = r#"
journal: j.db
scrape: { interval: 1s }
services:
  app:
    run:
      command: ["{autonomic}", "fleet-service", "--name", "app", "--port", "{port}", "--exit-with-parent"]
      replicas: 1
    health: "http://{addr}/health"
"#;

#[test]
fn a_second_controller_is_refused_naming_the_first_which_keeps_acting() {
    let _one = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("autonomic.yaml"), SUPERVISED).expect("config");
    let tag = tag("journal-owner");
    let _cleanup = Cleanup(tag.clone());
    let mut first = start(&["run", "--config", "autonomic.yaml"], &tag, dir.path(), "first");
    let replica = || tagged_processes(&tag).into_iter().filter(|p| *p != first.id()).collect::<Vec<u32>>();
    wait_until(Duration::from_secs(30), "the first controller's replica", || {
        replica().len() == 1 && query_i64(dir.path(), "SELECT COUNT(*) FROM runs") == Some(1)
    });
    let app = replica()[0];

    let mut second = start(&["run", "--config", "autonomic.yaml"], &tag, dir.path(), "second");
    let status = exits_within(&mut second, Duration::from_secs(20));
    let refused = log(dir.path(), "second");
    assert!(!status.success(), "the second controller must not run:\n{refused}");
    assert!(refused.contains("is in use by another controller"), "{refused}");
    assert!(refused.contains(&format!("pid {}", first.id())), "names the first one's PID:\n{refused}");
    assert!(refused.contains("j.db.lock"), "names the lock file:\n{refused}");
    assert_eq!(replica(), vec![app], "the second one started no replica");
    assert!(first.try_wait().expect("wait").is_none(), "the first keeps running");
    assert_eq!(query_i64(dir.path(), "SELECT COUNT(*) FROM runs"), Some(1), "the second one began no run");

    // Readers still read while the first one owns the journal.
    let incidents = Command::new(common::autonomic())
        .args(["incidents", "--journal", "j.db"])
        .current_dir(dir.path())
        .output()
        .expect("incidents");
    assert!(incidents.status.success(), "{}", String::from_utf8_lossy(&incidents.stderr));

    // The first one still acts: its restart policy brings a killed replica back, journaled.
    kill(app, libc::SIGKILL);
    wait_until(Duration::from_secs(30), "the restart, journaled by the first controller", || {
        query_i64(
            dir.path(),
            "SELECT COUNT(*) FROM actions WHERE origin = 'restart_policy' AND outcome = 'succeeded' AND run_id = 1",
        )
        .unwrap_or(0)
            >= 1
    });
    assert_eq!(
        query_i64(dir.path(), "SELECT COUNT(*) FROM actions WHERE outcome = 'interrupted'"),
        Some(0),
        "nobody marked the first one's actions interrupted"
    );
    kill(first.id(), libc::SIGTERM);
    assert!(exits_within(&mut first, Duration::from_secs(20)).success(), "{}", log(dir.path(), "first"));
}

#[test]
fn a_journal_with_garbage_in_its_middle_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.db");
    {
        let journal = knowledge::Journal::open(&path).expect("journal");
        journal.begin_run("earlier", 0).expect("run");
        for i in 0..200 {
            journal.note(None, "filler", &format!("row {i} {}", "x".repeat(100)), i).expect("note");
        }
    }
    let mut bytes = std::fs::read(&path).expect("read");
    let page = 4096;
    assert!(bytes.len() > 6 * page, "a journal of several pages: {} bytes", bytes.len());
    bytes[3 * page..4 * page].fill(0xA5);
    std::fs::write(&path, &bytes).expect("garbage");
    std::fs::write(dir.path().join("autonomic.yaml"), SUPERVISED).expect("config");
    let tag = tag("journal-damaged");
    let _cleanup = Cleanup(tag.clone());

    let mut run = start(&["run", "--config", "autonomic.yaml"], &tag, dir.path(), "run");
    let status = exits_within(&mut run, Duration::from_secs(20));
    let refused = log(dir.path(), "run");
    assert!(!status.success(), "a damaged journal must be refused:\n{refused}");
    assert!(refused.contains("j.db is damaged; SQLite's quick_check found:"), "{refused}");
    assert!(refused.contains("btreeInitPage") || refused.contains("malformed"), "what SQLite found:\n{refused}");
    assert!(refused.contains("Move it aside"), "what to do:\n{refused}");
    assert!(refused.len() < 4_000, "a bounded message, not a dump:\n{refused}");
    assert!(tagged_processes(&tag).is_empty(), "no replica was started");
    assert_eq!(std::fs::read(&path).expect("read"), bytes, "the damaged journal is left as it was");
}

#[test]
fn a_journal_that_cannot_be_written_pages_through_the_webhook_and_recovers() {
    let _one = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let receiver = runtime.block_on(chaos::pager::PageReceiver::start()).expect("page receiver");
    // An alert that fires and resolves every second: the controller writes all the time.
    let config = format!(
        r#"
journal: j.db
escalation: {{ webhook: "{}", retry_for: 1m }}
rule_groups:
  - name: flap
    interval: 500ms
    rules:
      - alert: Flapping
        expr: vector(time()) % 2 < 1
"#,
        receiver.url
    );
    std::fs::write(dir.path().join("autonomic.yaml"), config).expect("config");
    let tag = tag("journal-unwritable");
    let _cleanup = Cleanup(tag.clone());
    let mut controller = start(&["run", "--config", "autonomic.yaml"], &tag, dir.path(), "run");
    wait_until(Duration::from_secs(30), "the controller journaling signals", || {
        query_i64(dir.path(), "SELECT COUNT(*) FROM signals").unwrap_or(0) >= 2
    });
    assert!(receiver.pages().is_empty());

    // A real SQLite failure that holds for root: another connection keeps the write lock, so
    // every write of the controller fails once its busy timeout passes.
    let blocker = Connection::open(dir.path().join("j.db")).expect("open");
    blocker.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
    blocker.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
    let about_journal = |p: &serde_json::Value| {
        p["service"] == "autonomic" && p["summary"].as_str().is_some_and(|s| s.contains("cannot write its journal"))
    };
    wait_until(Duration::from_secs(30), "a page about the journal", || receiver.pages().iter().any(about_journal));
    assert!(
        controller.try_wait().expect("wait").is_none(),
        "the controller keeps running:\n{}",
        log(dir.path(), "run")
    );

    blocker.execute_batch("ROLLBACK").expect("release");
    drop(blocker);
    wait_until(Duration::from_secs(30), "the journal's recovery, journaled", || {
        query_i64(dir.path(), "SELECT COUNT(*) FROM notes WHERE kind = 'journal_recovered' AND incident_id IS NULL")
            .unwrap_or(0)
            >= 1
    });
    let pages = receiver.pages();
    assert_eq!(pages.iter().filter(|p| about_journal(p)).count(), 1, "one page per outage: {pages:?}");
    assert!(
        query_i64(dir.path(), "SELECT COUNT(*) FROM signals WHERE name = 'journal_unwritable' AND state = 'resolved'")
            .unwrap_or(0)
            >= 1,
        "the journal_unwritable signal resolved"
    );
    let incidents = Command::new(common::autonomic())
        .args(["incidents", "--journal", "j.db"])
        .current_dir(dir.path())
        .output()
        .expect("incidents");
    let shown = String::from_utf8_lossy(&incidents.stdout);
    assert!(shown.contains("journal_recovered the journal is writable again"), "{shown}");
    kill(controller.id(), libc::SIGTERM);
    assert!(exits_within(&mut controller, Duration::from_secs(20)).success(), "{}", log(dir.path(), "run"));
}
