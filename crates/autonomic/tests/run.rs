//! `autonomic run` on a real service: a controller killed with SIGKILL in the middle of an
//! action loses no journal entry and does not repeat the action after restarting; dry-run
//! journals without acting; `check` reports every error with its position.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Cleanup, kill, serial, spawn, tag, tagged_processes, wait_until};
use rusqlite::{Connection, OptionalExtension};

const CONFIG: &str = r#"
journal: j.db
group_wait: 0s
scrape: { interval: 1s }
services:
  app:
    run:
      # Slow to start, so a restart stays in flight for seconds.
      command: ["{autonomic}", "fleet-service", "--name", "app", "--port", "{port}", "--startup-delay-ms", "3000", "--exit-with-parent"]
      replicas: 1
      ready_timeout: 20s
    health: "http://{addr}/health"
rule_groups:
  - name: always
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: label_replace(vector(1), "service", "app", "", "")
playbooks:
  - name: restart-it
    match: { alert: AlwaysFiring }
    steps:
      - { action: restart, scope: all, verify: healthy, within: 30s }
"#;

fn db(dir: &Path) -> Connection {
    Connection::open(dir.join("j.db")).expect("journal")
}

fn query_i64(dir: &Path, sql: &str) -> Option<i64> {
    db(dir).query_row(sql, [], |r| r.get(0)).optional().ok().flatten()
}

#[test]
fn sigkill_mid_action_loses_nothing_and_does_not_repeat_the_action() {
    let _one = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("autonomic.yaml"), CONFIG).expect("config");
    let tag = tag("kill-mid-action");
    let _cleanup = Cleanup(tag.clone());

    let mut first = spawn(&["run", "--config", "autonomic.yaml"], &tag, dir.path());
    wait_until(Duration::from_secs(30), "a playbook action in flight", || {
        dir.path().join("j.db").exists()
            && query_i64(dir.path(), "SELECT id FROM actions WHERE origin = 'playbook' AND outcome IS NULL").is_some()
    });
    kill(first.id(), libc::SIGKILL);
    let _ = first.wait();
    let action =
        query_i64(dir.path(), "SELECT id FROM actions WHERE origin = 'playbook'").expect("the intent row survived");
    let incident = query_i64(dir.path(), "SELECT incident_id FROM actions WHERE origin = 'playbook'")
        .expect("linked to its incident");
    assert!(
        query_i64(dir.path(), &format!("SELECT COUNT(*) FROM signals WHERE incident_id = {incident}")).unwrap_or(0)
            >= 1
    );

    let mut second = spawn(&["run", "--config", "autonomic.yaml"], &tag, dir.path());
    wait_until(Duration::from_secs(30), "the incident to be resumed and verified", || {
        query_i64(dir.path(), &format!("SELECT COUNT(*) FROM incidents WHERE id = {incident} AND state = 'resolved'"))
            == Some(1)
    });
    let outcome: String = db(dir.path())
        .query_row("SELECT outcome FROM actions WHERE id = ?1", [action], |r| r.get(0))
        .expect("outcome written at restart");
    assert_eq!(outcome, "interrupted");
    let playbook_actions = query_i64(
        dir.path(),
        &format!("SELECT COUNT(*) FROM actions WHERE incident_id = {incident} AND origin = 'playbook'"),
    );
    assert_eq!(playbook_actions, Some(1), "the interrupted restart was not run a second time");
    let resumed = query_i64(
        dir.path(),
        &format!("SELECT COUNT(*) FROM notes WHERE incident_id = {incident} AND kind = 'resumed'"),
    );
    assert_eq!(resumed, Some(1));
    assert_eq!(query_i64(dir.path(), "SELECT COUNT(*) FROM runs"), Some(2));

    kill(second.id(), libc::SIGTERM);
    let status = second.wait().expect("exits");
    assert!(status.success(), "SIGTERM is an orderly stop");
    wait_until(Duration::from_secs(5), "no process left", || tagged_processes(&tag).is_empty());
}

#[test]
fn dry_run_journals_the_action_and_leaves_the_service_alone() {
    let _one = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("autonomic.yaml"), CONFIG).expect("config");
    let tag = tag("dry-run");
    let _cleanup = Cleanup(tag.clone());
    let mut child = spawn(&["run", "--config", "autonomic.yaml", "--dry-run"], &tag, dir.path());
    wait_until(Duration::from_secs(30), "a dry-run action", || {
        dir.path().join("j.db").exists()
            && query_i64(dir.path(), "SELECT COUNT(*) FROM actions WHERE dry_run = 1 AND outcome = 'dry_run'")
                .unwrap_or(0)
                >= 1
    });
    let before: Vec<u32> = tagged_processes(&tag).into_iter().filter(|p| *p != child.id()).collect();
    assert_eq!(before.len(), 1, "the one replica runs");
    std::thread::sleep(Duration::from_secs(2));
    let after: Vec<u32> = tagged_processes(&tag).into_iter().filter(|p| *p != child.id()).collect();
    assert_eq!(before, after, "dry-run restarted nothing");
    kill(child.id(), libc::SIGTERM);
    let _ = child.wait();
}

#[test]
fn check_reports_every_error_and_accepts_the_demo_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A typo at the top level (`jurnal`) does not hide the errors further down.
    let bad = "jurnal: x.db\nservices:\n  a:\n    run: { command: [x], replicas: 2, stop_grace: soon }\n    depends_on: [b]\nplaybooks:\n  - name: p\n    match: { alert: X }\n    steps: [{ action: explode }]\n";
    std::fs::write(dir.path().join("bad.yaml"), bad).expect("write");
    let out = std::process::Command::new(common::autonomic())
        .args(["check", "bad.yaml"])
        .current_dir(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for want in [
        "bad.yaml:1:1: jurnal = \"jurnal\": unknown field `jurnal`",
        "bad.yaml:4:51: services.a.run.stop_grace = \"soon\": not a duration",
        "bad.yaml:5:18: services.a.depends_on[0] = \"b\": no service with this name",
        "bad.yaml:9:23: playbooks[0].steps[0].action = \"explode\": unknown action",
        "bad.yaml: 4 error(s)",
    ] {
        assert!(stderr.contains(want), "missing {want:?} in:\n{stderr}");
    }
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo/autonomic.yaml");
    let out = std::process::Command::new(common::autonomic()).args(["check", demo]).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("ok (4 service(s), 1 rule group(s), 2 anomaly watch(es), 7 playbook(s))")
    );
}

#[test]
fn check_validates_a_playbook_file_on_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let check = |files: &[&str]| {
        std::process::Command::new(common::autonomic())
            .arg("check")
            .args(files)
            .current_dir(dir.path())
            .output()
            .expect("runs")
    };
    // No `services:` here, so `match.service` cannot be checked and is not reported.
    let good = "playbooks:\n  - name: a\n    match: { alert: X, service: checkout }\n    steps: [{ action: rollback }]\n  - name: b\n    match: { signal: process_exited }\n    steps: [{ verify: healthy, within: 30s }]\n";
    std::fs::write(dir.path().join("good.yaml"), good).expect("write");
    let out = check(&["good.yaml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("good.yaml: ok (2 playbook(s); service names not checked without a configuration)"),
        "{stdout}"
    );

    let bad = "playbooks:\n  - name: a\n    match: { alert: X }\n    steps: [{ action: explode }]\n  - name: a\n    match: { alert: Y }\n    steps: [{ action: page, within: later }]\nextra: 1\n";
    std::fs::write(dir.path().join("bad.yaml"), bad).expect("write");
    let out = check(&["bad.yaml", "good.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for want in [
        "bad.yaml:4:23: playbooks[0].steps[0].action = \"explode\": unknown action",
        "bad.yaml:5:11: playbooks[1].name = \"a\": playbook name is used twice (first at bad.yaml:2:11)",
        "bad.yaml:7:37: playbooks[1].steps[0].within = \"later\": not a duration",
        "bad.yaml:8:1: extra = \"extra\": unknown field `extra`",
        "bad.yaml: 4 error(s)",
    ] {
        assert!(stderr.contains(want), "missing {want:?} in:\n{stderr}");
    }
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("good.yaml: ok (2 playbook(s)"),
        "the next file is still checked"
    );

    // Listed by a configuration, the same file's service names are checked.
    let config = "services:\n  api: { targets: [\"127.0.0.1:80\"] }\nplaybook_files: [good.yaml]\n";
    std::fs::write(dir.path().join("config.yaml"), config).expect("write");
    let out = check(&["config.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("good.yaml:3:33: playbooks[0].match.service = \"checkout\": no service with this name"),
        "{stderr}"
    );
}

fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

#[test]
fn run_serves_the_query_api_with_the_learned_baselines_scores() {
    let _one = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = r#"
journal: j.db
scrape: { interval: 500ms }
evaluation_interval: 500ms
services:
  app:
    run:
      command: ["{autonomic}", "fleet-service", "--name", "app", "--port", "{port}", "--exit-with-parent"]
      replicas: 1
    health: "http://{addr}/health"
anomaly_detection:
  - name: memory
    expr: process_resident_memory_bytes
    direction: up
"#;
    std::fs::write(dir.path().join("autonomic.yaml"), config).expect("config");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let addr = format!("127.0.0.1:{port}");
    let tag = tag("query-api");
    let _cleanup = Cleanup(tag.clone());
    let mut child = spawn(&["run", "--config", "autonomic.yaml", "--listen", &addr], &tag, dir.path());
    let query = "/api/v1/query?query=autonomic_anomaly_score%7Bwatch%3D%22memory%22%7D";
    let mut last = String::new();
    wait_until(Duration::from_secs(30), "the anomaly score of the app's memory, through the API", || {
        last = http_get(&addr, query).unwrap_or_default();
        last.contains("\"resultType\":\"vector\"") && last.contains("\"metric\":\"process_resident_memory_bytes\"")
    });
    assert!(last.starts_with("HTTP/1.1 200"), "{last}");
    assert!(last.contains("\"service\":\"app\""), "{last}");
    let bad = http_get(&addr, "/api/v1/query?query=sum(").unwrap_or_default();
    assert!(bad.starts_with("HTTP/1.1 400") && bad.contains("\"errorType\":\"bad_data\""), "{bad}");
    kill(child.id(), libc::SIGTERM);
    let _ = child.wait();
}

#[test]
fn a_panic_caught_in_a_task_leaves_the_fleet_running() {
    let _one = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = "journal: j.db\nservices:\n  app:\n    run:\n      command: [\"{autonomic}\", \"fleet-service\", \"--name\", \"app\", \"--port\", \"{port}\", \"--exit-with-parent\"]\n      replicas: 2\n    health: \"http://{addr}/health\"\n";
    std::fs::write(dir.path().join("autonomic.yaml"), config).expect("config");
    let tag = tag("caught-panic");
    let _cleanup = Cleanup(tag.clone());
    let mut child = std::process::Command::new(common::autonomic())
        .args(["run", "--config", "autonomic.yaml"])
        .current_dir(dir.path())
        .env("AUTONOMIC_E2E_TAG", &tag)
        .env("AUTONOMIC_CHAOS_PANIC", "in-task")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).expect("log file"))
        .spawn()
        .expect("start autonomic");
    wait_until(Duration::from_secs(30), "two replicas", || {
        tagged_processes(&tag).into_iter().filter(|p| *p != child.id()).count() == 2
    });
    let before: Vec<u32> = tagged_processes(&tag).into_iter().filter(|p| *p != child.id()).collect();
    // The task panics a second after start; give the hook time to do whatever it does.
    std::thread::sleep(Duration::from_secs(3));
    assert!(child.try_wait().expect("wait").is_none(), "the controller died of a caught panic");
    let after: Vec<u32> = tagged_processes(&tag).into_iter().filter(|p| *p != child.id()).collect();
    assert_eq!(before, after, "a caught panic killed or restarted the fleet");
    kill(child.id(), libc::SIGTERM);
    let status = child.wait().expect("exits");
    let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    assert!(stderr.contains("AUTONOMIC_CHAOS_PANIC=in-task"), "the panic was not reported: {stderr}");
    assert!(status.success(), "{stderr}");
}
