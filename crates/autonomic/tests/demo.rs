//! The real binary against the real fleet: every fault is detected, the right action runs
//! and recovery is verified; the baseline does not heal a bad release; no process outlives
//! the demo however it ends.

mod common;

use std::time::Duration;

use common::{Cleanup, kill, serial, spawn, tag, tagged_processes, wait_until};
use serde_json::Value;

fn fault<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["faults"]
        .as_array()
        .and_then(|f| f.iter().find(|x| x["fault"] == name))
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

fn actions(f: &Value) -> Vec<String> {
    f["actions"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[test]
fn demo_detects_remedies_and_verifies_every_fault() {
    let _one = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let tag = tag("demo");
    let _cleanup = Cleanup(tag.clone());
    let child = spawn(&["demo", "--json", "report.json", "--journal", "journal.db"], &tag, dir.path());
    let out = child.wait_with_output().expect("demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).expect("report")).expect("json");

    let expected_action = [
        ("crash", "restart payments replica 1 [restart policy"),
        ("hang", "restart payments replica 0 [playbook"),
        ("memory_leak", "restart payments replica 1 [playbook"),
        ("error_burst", "restart inventory replica 1 [playbook"),
        ("latency", "restart inventory replica 0 [playbook"),
        ("bad_release", "roll back checkout [playbook"),
        ("dependency_failure", "restart payments all replicas [playbook"),
    ];
    for (name, action) in expected_action {
        let f = fault(&report, name);
        assert!(f["detected_after_ms"].is_i64(), "{name} was not detected: {f}");
        assert_eq!(f["healed"], true, "{name} not healed: {f}");
        assert_eq!(f["verified"], true, "{name} not verified by the controller: {f}");
        assert!(actions(f).iter().any(|a| a.starts_with(action)), "{name}: expected {action:?}, got {:?}", actions(f));
    }
    // Latency and the leak have no threshold rule in the demo's configuration: the learned
    // baselines catch them, and the report says which detector did.
    for (name, watch) in [("latency", "LatencyAnomaly"), ("memory_leak", "MemoryAnomaly")] {
        let by = fault(&report, name)["detected_by"].as_str().unwrap_or_default().to_owned();
        assert_eq!(by, format!("learned baseline {watch} (ensemble)"), "{name}");
    }
    assert_eq!(fault(&report, "error_burst")["detected_by"], "rule HighErrorRate");
    // The dependency failure is remedied at its root: the callers are not restarted.
    let dep = actions(fault(&report, "dependency_failure"));
    assert!(dep.iter().all(|a| !a.contains("checkout") && !a.contains("gateway")), "{dep:?}");
    let requests = report["requests"].as_u64().expect("requests");
    assert!(requests > 1000, "traffic ran: {requests}");
    assert!(report["availability"].as_f64().is_some_and(|a| a > 0.9), "{}", report["availability"]);

    // The journal tells the same story.
    let incidents = std::process::Command::new(common::autonomic())
        .args(["incidents", "--journal", "journal.db", "--limit", "50"])
        .current_dir(dir.path())
        .output()
        .expect("incidents");
    let listing = String::from_utf8_lossy(&incidents.stdout);
    assert!(listing.contains("roll back checkout"), "{listing}");
    assert!(listing.contains("verified"), "{listing}");
    assert!(
        listing.contains("merged into") || listing.contains("symptom firing"),
        "correlation shows in the journal:\n{listing}"
    );

    wait_until(Duration::from_secs(5), "no fleet process left after the demo", || tagged_processes(&tag).is_empty());
}

#[test]
fn baseline_restarts_a_crash_but_never_heals_a_bad_release() {
    let _one = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let tag = tag("baseline");
    let _cleanup = Cleanup(tag.clone());
    let child = spawn(
        &[
            "demo",
            "--baseline",
            "--faults",
            "crash,bad_release",
            "--budget",
            "15",
            "--json",
            "b.json",
            "--journal",
            "b.db",
        ],
        &tag,
        dir.path(),
    );
    let out = child.wait_with_output().expect("baseline runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("b.json")).expect("report")).expect("json");
    assert_eq!(report["mode"], "baseline");
    let crash = fault(&report, "crash");
    assert_eq!(crash["healed"], true, "restart on exit heals a crash: {crash}");
    let bad = fault(&report, "bad_release");
    assert_eq!(bad["healed"], false, "nothing in the baseline rolls back: {bad}");
    assert!(actions(bad).iter().all(|a| !a.contains("roll back")), "{bad}");
    wait_until(Duration::from_secs(5), "no fleet process left", || tagged_processes(&tag).is_empty());
}

fn fleet_up(tag: &str) -> bool {
    // Eight replicas plus the controller itself.
    tagged_processes(tag).len() >= 9
}

/// Whether `pid` has a handler installed for SIGTERM (its `SigCgt` mask in /proc).
fn catches_sigterm(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return false };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (libc::SIGTERM - 1)) != 0)
}

#[test]
fn ctrl_c_stops_the_whole_fleet_gracefully() {
    let _one = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let tag = tag("sigint");
    let _cleanup = Cleanup(tag.clone());
    // Each replica appends `NAME REPLICA SIGNAL` here when a stop signal reaches it; a
    // replica killed with SIGKILL writes nothing.
    let stop_log = dir.path().join("stops.log");
    let child = std::process::Command::new(common::autonomic())
        .args(["demo", "--journal", "j.db"])
        .current_dir(dir.path())
        .env("AUTONOMIC_E2E_TAG", &tag)
        .env("DEMO_FLEET_STOP_LOG", &stop_log)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start autonomic");
    wait_until(Duration::from_secs(30), "the fleet to start and handle SIGTERM", || {
        fleet_up(&tag) && tagged_processes(&tag).into_iter().all(catches_sigterm)
    });
    kill(child.id(), libc::SIGINT);
    let out = child.wait_with_output().expect("exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an interrupted demo does not claim success");
    assert!(stderr.contains("interrupted by SIGINT"), "{stderr}");
    wait_until(Duration::from_secs(5), "no process left after Ctrl-C", || tagged_processes(&tag).is_empty());
    let stops = std::fs::read_to_string(&stop_log).unwrap_or_default();
    let mut stopped: Vec<&str> = stops.lines().collect();
    stopped.sort_unstable();
    assert_eq!(stopped.len(), 8, "every replica got a stop signal (not a SIGKILL): {stops:?}\n{stderr}");
    assert!(stopped.iter().all(|l| l.ends_with(" SIGTERM")), "the fleet is stopped with SIGTERM: {stops:?}");
    for service in ["checkout", "gateway", "inventory", "payments"] {
        let replicas = stopped.iter().filter(|l| l.starts_with(&format!("{service} "))).count();
        assert_eq!(replicas, 2, "both replicas of {service} stopped gracefully: {stops:?}");
    }
}

#[test]
fn a_panicking_controller_leaves_no_orphans() {
    let _one = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let tag = tag("panic");
    let _cleanup = Cleanup(tag.clone());
    let mut cmd = std::process::Command::new(common::autonomic());
    cmd.args(["demo", "--journal", "j.db"])
        .current_dir(dir.path())
        .env("AUTONOMIC_E2E_TAG", &tag)
        .env("AUTONOMIC_CHAOS_PANIC", "after-start")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let out = cmd.output().expect("runs");
    assert_eq!(out.status.code(), Some(101), "panics: {}", String::from_utf8_lossy(&out.stderr));
    wait_until(Duration::from_secs(5), "no process left after the panic", || tagged_processes(&tag).is_empty());
}

#[test]
fn a_sigkilled_controller_leaves_no_orphans() {
    let _one = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let tag = tag("sigkill");
    let _cleanup = Cleanup(tag.clone());
    let mut child = spawn(&["demo", "--journal", "j.db"], &tag, dir.path());
    wait_until(Duration::from_secs(30), "the fleet to start", || fleet_up(&tag));
    kill(child.id(), libc::SIGKILL);
    let _ = child.wait();
    wait_until(Duration::from_secs(5), "the kernel to take the fleet down with its parent", || {
        tagged_processes(&tag).is_empty()
    });
}
