//! End to end on a real control plane: the `autonomic` binary maps a service to a
//! Deployment of the test bed (`scripts/k8s-testbed`), a real Alertmanager sends it an
//! alert, and the playbook acts through the API server; the controller manager and kwok's
//! nodes do the rest, as they would for any client.

mod common;

use std::path::Path;
use std::time::Duration;

use common::kube::{Testbed, testbed};
use common::peers::{alertmanager, alertmanager_webhook_config, available};
use common::{Cleanup, serial, spawn, tag, wait_until};
use serde_json::Value;

fn config(kubeconfig: &Path, ns: &str, api: &str, playbook: &str) -> String {
    format!(
        r#"
journal: j.db
group_wait: 0s
kubernetes: {{ kubeconfig: "{}", request_timeout: 5s }}
services:
  checkout:
    kubernetes: {{ namespace: {ns}, deployment: checkout }}
    metrics: none
api: {{ listen: "{api}" }}
sources:
  - type: alertmanager
playbooks:
{playbook}
"#,
        kubeconfig.display()
    )
}

fn deployment(image: &str, replicas: u32) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{ name: checkout }}
spec:
  replicas: {replicas}
  selector: {{ matchLabels: {{ app: checkout }} }}
  template:
    metadata: {{ labels: {{ app: checkout }} }}
    spec:
      containers: [{{ name: app, image: "{image}" }}]
"#
    )
}

/// The test bed and the fleet lock, when Alertmanager and the test bed are both here.
fn with_alertmanager() -> Option<(Testbed, std::sync::MutexGuard<'static, ()>)> {
    if !available("prometheus-alertmanager", "AUTONOMIC_REQUIRE_ALERTMANAGER", "prometheus-alertmanager") {
        return None;
    }
    let bed = testbed()?;
    Some((bed, serial()))
}

/// `checkout` rolled out at v1 of two replicas, then the bad release: v2, rolled out by the
/// controller manager as revision 2.
fn bad_release(bed: &Testbed, ns: &str) {
    bed.must(&["-n", ns, "apply", "-f", "-"], Some(&deployment("shop/checkout:v1", 2)));
    rolled_out(bed, ns);
    bed.must(&["-n", ns, "set", "image", "deployment/checkout", "app=shop/checkout:v2"], None);
    rolled_out(bed, ns);
}

/// The image `checkout`'s template runs.
fn image(bed: &Testbed, ns: &str) -> String {
    bed.must(
        &["-n", ns, "get", "deployment/checkout", "-o", "jsonpath={.spec.template.spec.containers[0].image}"],
        None,
    )
}

/// `checkout`'s revision.
fn revision(bed: &Testbed, ns: &str) -> String {
    bed.must(
        &[
            "-n",
            ns,
            "get",
            "deployment/checkout",
            "-o",
            "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
        ],
        None,
    )
}

fn rolled_out(bed: &Testbed, ns: &str) {
    bed.must(&["-n", ns, "rollout", "status", "deployment/checkout", "--timeout=60s"], None);
}

/// Fires `alertname` with `labels` at Alertmanager's own API, as Prometheus would.
fn fire(am: &str, alertname: &str, labels: &[(&str, &str)]) {
    let mut all = serde_json::Map::new();
    all.insert("alertname".into(), alertname.into());
    for (k, v) in labels {
        all.insert((*k).into(), (*v).into());
    }
    let body = serde_json::json!([{ "labels": all, "annotations": { "summary": format!("{alertname} on checkout") } }]);
    let response = reqwest::blocking::Client::new()
        .post(format!("http://{am}/api/v2/alerts"))
        .json(&body)
        .send()
        .expect("alertmanager answers");
    assert!(response.status().is_success(), "{}", response.status());
}

fn incidents(dir: &Path) -> Value {
    let out = std::process::Command::new(common::autonomic())
        .args(["incidents", "--journal", "j.db", "--json"])
        .current_dir(dir)
        .output()
        .expect("incidents");
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// Waits for an incident to end in `state`, and returns it.
fn ended(dir: &Path, state: &str, limit: Duration) -> Value {
    let mut last = Value::Null;
    let found = std::cell::RefCell::new(None);
    wait_until(limit, &format!("an incident to be {state}"), || {
        last = incidents(dir);
        let hit = last.as_array().and_then(|a| a.iter().find(|r| r["incident"]["state"] == state).cloned());
        let done = hit.is_some();
        *found.borrow_mut() = hit;
        done
    });
    found.into_inner().unwrap_or(last)
}

struct Running {
    dir: tempfile::TempDir,
    controller: std::process::Child,
    am: common::peers::Peer,
    _cleanup: Cleanup,
}

impl Drop for Running {
    fn drop(&mut self) {
        common::kill(self.controller.id(), libc::SIGTERM);
        let _ = self.controller.wait();
    }
}

fn start(bed: &Testbed, ns: &str, playbook: &str) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = format!("127.0.0.1:{}", common::http::free_port());
    std::fs::write(dir.path().join("autonomic.yaml"), config(&bed.kubeconfig, ns, &api, playbook)).expect("config");
    let tag = tag("kubernetes");
    let cleanup = Cleanup(tag.clone());
    let controller = spawn(&["run", "--config", "autonomic.yaml"], &tag, dir.path());
    wait_until(Duration::from_secs(30), "Autonomic's API", || {
        common::http::get(&api, "/-/ready", Duration::from_secs(1)).is_some_and(|(s, _)| s == 200)
    });
    let am = alertmanager(dir.path(), &alertmanager_webhook_config(&api, None));
    Running { dir, controller, am, _cleanup: cleanup }
}

#[test]
fn kubernetes_a_bad_release_named_by_an_alert_is_rolled_back_and_the_rollout_verified() {
    let Some((bed, _one)) = with_alertmanager() else { return };
    let ns = bed.namespace("badrelease");
    bad_release(&bed, &ns.name);

    let playbook = r#"
  - name: bad-release
    match: { alert: CheckoutErrors }
    steps:
      - { action: rollback, verify: rolled_out, within: 60s }"#;
    let run = start(&bed, &ns.name, playbook);
    fire(&run.am.addr, "CheckoutErrors", &[("service", "checkout"), ("severity", "page")]);

    let record = ended(run.dir.path(), "resolved", Duration::from_secs(90));
    assert_eq!(record["incident"]["playbook"], "bad-release", "{record:#}");
    let timeline = record["timeline"].to_string();
    let from_to = format!(
        "rolled back deployment {}/checkout from revision 2 (shop/checkout:v2) to revision 1 (shop/checkout:v1)",
        ns.name
    );
    assert!(timeline.contains(&from_to), "the journal says from which revision to which: {timeline}");
    assert!(timeline.contains("verified: rolled out"), "{timeline}");
    // The cluster runs the old template again, rolled out as revision 3.
    let image = image(&bed, &ns.name);
    assert_eq!(image, "shop/checkout:v1");
    let revision = revision(&bed, &ns.name);
    assert_eq!(revision, "3");
}

#[test]
fn kubernetes_a_rollback_with_nothing_to_go_back_to_escalates() {
    let Some((bed, _one)) = with_alertmanager() else { return };
    let ns = bed.namespace("norevision");
    bed.must(&["-n", &ns.name, "apply", "-f", "-"], Some(&deployment("shop/checkout:v1", 1)));
    rolled_out(&bed, &ns.name);
    let playbook = r#"
  - name: bad-release
    match: { alert: CheckoutErrors }
    steps:
      - { action: rollback, verify: rolled_out, within: 5s }"#;
    let run = start(&bed, &ns.name, playbook);
    fire(&run.am.addr, "CheckoutErrors", &[("service", "checkout")]);
    let record = ended(run.dir.path(), "escalated", Duration::from_secs(60));
    let timeline = record["timeline"].to_string();
    assert!(timeline.contains("has no previous revision to roll back to (current revision: 1)"), "{timeline}");
    let image = image(&bed, &ns.name);
    assert_eq!(image, "shop/checkout:v1", "nothing changed");
}

/// The names of the Deployment's pods that are not terminating.
fn live_pods(bed: &Testbed, ns: &str) -> Vec<String> {
    let out = bed.must(&["-n", ns, "get", "pods", "-l", "app=checkout", "-o", "json"], None);
    let list: Value = serde_json::from_str(&out).expect("pod list");
    let mut pods: Vec<String> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    pods.sort();
    pods
}

/// Sets the pod's container status through the API, as a kubelet would report it.
fn set_container_status(bed: &Testbed, ns: &str, pod: &str, status: &str) {
    let patch = format!(r#"{{"status":{{"containerStatuses":[{status}]}}}}"#);
    bed.must(&["-n", ns, "patch", "pod", pod, "--subresource=status", "--type=merge", "-p", &patch], None);
}

#[test]
fn kubernetes_a_crash_looping_or_oom_killed_pod_opens_an_incident_and_only_that_pod_is_replaced() {
    let Some((bed, _one)) = with_alertmanager() else { return };
    let ns = bed.namespace("crashloop");
    bed.must(&["-n", &ns.name, "apply", "-f", "-"], Some(&deployment("shop/checkout:v1", 3)));
    rolled_out(&bed, &ns.name);
    let playbook = r#"
  - name: crash-loop
    match: { signal: workload, name: CrashLoopBackOff }
    steps:
      - { action: restart, verify: recovered, within: 30s }
    guards: { cooldown: 0s }
  - name: oom
    match: { signal: workload, name: OOMKilled }
    steps:
      - { action: restart, verify: recovered, within: 30s }
    guards: { cooldown: 0s }"#;
    let run = start(&bed, &ns.name, playbook);
    let before = live_pods(&bed, &ns.name);
    assert_eq!(before.len(), 3);

    let crashing = before[0].clone();
    set_container_status(
        &bed,
        &ns.name,
        &crashing,
        r#"{"name":"app","image":"shop/checkout:v1","imageID":"","ready":false,"restartCount":4,
            "state":{"waiting":{"reason":"CrashLoopBackOff","message":"back-off 40s restarting failed container"}},
            "lastState":{"terminated":{"exitCode":1,"reason":"Error"}}}"#,
    );
    let record = ended(run.dir.path(), "resolved", Duration::from_secs(60));
    let trigger = &record["incident"]["trigger"];
    assert_eq!(
        (trigger["kind"].as_str(), trigger["name"].as_str()),
        (Some("workload"), Some("CrashLoopBackOff")),
        "{record:#}"
    );
    assert_eq!(trigger["labels"]["pod"], crashing.as_str(), "{trigger}");
    assert_eq!(trigger["labels"]["container"], "app", "{trigger}");
    let timeline = record["timeline"].to_string();
    assert!(
        timeline.contains(&format!("deleted pod {crashing}")),
        "only the crash-looping pod is replaced: {timeline}"
    );
    wait_until(Duration::from_secs(30), "a replacement pod", || {
        let now = live_pods(&bed, &ns.name);
        now.len() == 3 && !now.contains(&crashing) && before[1..].iter().all(|p| now.contains(p))
    });

    let killed = before[1].clone();
    let finished = jiff_now();
    set_container_status(
        &bed,
        &ns.name,
        &killed,
        &format!(
            r#"{{"name":"app","image":"shop/checkout:v1","imageID":"","ready":true,"restartCount":1,
                "state":{{"running":{{"startedAt":"{finished}"}}}},
                "lastState":{{"terminated":{{"exitCode":137,"reason":"OOMKilled","finishedAt":"{finished}"}}}}}}"#
        ),
    );
    wait_until(Duration::from_secs(60), "the OOM incident to resolve", || {
        incidents(run.dir.path()).as_array().is_some_and(|all| {
            all.iter().any(|r| r["incident"]["trigger"]["name"] == "OOMKilled" && r["incident"]["state"] == "resolved")
        })
    });
    let all = incidents(run.dir.path());
    let oom =
        all.as_array().and_then(|a| a.iter().find(|r| r["incident"]["trigger"]["name"] == "OOMKilled")).expect("one");
    assert_eq!(oom["incident"]["trigger"]["labels"]["pod"], killed.as_str(), "{oom:#}");
    assert!(oom["timeline"].to_string().contains(&format!("deleted pod {killed}")), "{oom:#}");
}

/// Now, as the API writes times (RFC 3339, seconds).
fn jiff_now() -> String {
    let out = std::process::Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]).output().expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Starts one controller replica in its own directory, with leader election through the
/// lease `autonomic` in `ns`.
fn replica(
    bed: &Testbed,
    ns: &str,
    identity: &str,
    playbook: &str,
) -> (tempfile::TempDir, std::process::Child, String, Cleanup) {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = format!("127.0.0.1:{}", common::http::free_port());
    let text = config(&bed.kubeconfig, ns, &api, playbook).replace(
        "request_timeout: 5s }",
        &format!("request_timeout: 5s, identity: {identity}, leader_election: {{ namespace: {ns}, lease: autonomic, duration: 3s }} }}"),
    );
    std::fs::write(dir.path().join("autonomic.yaml"), text).expect("config");
    let tag = tag(identity);
    let cleanup = Cleanup(tag.clone());
    let child = spawn(&["run", "--config", "autonomic.yaml"], &tag, dir.path());
    wait_until(Duration::from_secs(30), "Autonomic's API", || {
        common::http::get(&api, "/-/ready", Duration::from_secs(1)).is_some_and(|(s, _)| s == 200)
    });
    (dir, child, api, cleanup)
}

fn holder(bed: &Testbed, ns: &str) -> String {
    bed.kubectl(&["-n", ns, "get", "lease", "autonomic", "-o", "jsonpath={.spec.holderIdentity}"], None)
        .unwrap_or_default()
}

#[test]
fn kubernetes_when_the_leader_dies_mid_ladder_the_follower_takes_over_and_does_not_repeat_the_action() {
    let Some((bed, _one)) = with_alertmanager() else { return };
    let ns = bed.namespace("leader");
    bad_release(&bed, &ns.name);
    // The alert keeps firing, so the step never verifies: the ladder is still running when
    // the leader dies.
    let playbook = r#"
  - name: bad-release
    match: { alert: CheckoutErrors }
    steps:
      - { action: rollback, verify: recovered, within: 5m }"#;
    let (a_dir, mut a, a_api, _a_cleanup) = replica(&bed, &ns.name, "replica-a", playbook);
    wait_until(Duration::from_secs(15), "replica-a to hold the lease", || holder(&bed, &ns.name) == "replica-a");
    let (b_dir, mut b, b_api, _b_cleanup) = replica(&bed, &ns.name, "replica-b", playbook);
    // Alertmanager sends every alert to both replicas.
    let am_config = format!(
        "route: {{ receiver: both, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 1h }}\nreceivers:\n  - name: both\n    webhook_configs:\n      - {{ url: \"http://{a_api}/api/v1/alerts\" }}\n      - {{ url: \"http://{b_api}/api/v1/alerts\" }}\n"
    );
    let am = alertmanager(a_dir.path(), &am_config);
    fire(&am.addr, "CheckoutErrors", &[("service", "checkout")]);

    let timeline = |dir: &Path| incidents(dir).to_string();
    wait_until(Duration::from_secs(30), "the leader to roll back", || {
        timeline(a_dir.path()).contains("rolled back deployment")
    });
    wait_until(Duration::from_secs(30), "the follower to wait for the lease", || {
        timeline(b_dir.path()).contains("another controller replica leads")
    });
    assert!(!timeline(b_dir.path()).contains("rolled back"), "the follower did not act");
    rolled_out(&bed, &ns.name);

    // The leader dies mid-ladder; the follower takes the lease once it expires (3 s).
    common::kill(a.id(), libc::SIGKILL);
    let _ = a.wait();
    let killed = std::time::Instant::now();
    wait_until(Duration::from_secs(15), "replica-b to take the lease", || holder(&bed, &ns.name) == "replica-b");
    let takeover = killed.elapsed();
    assert!(takeover < Duration::from_secs(3) + Duration::from_millis(1500), "took over after {takeover:?}");
    wait_until(Duration::from_secs(30), "the follower to run the step", || {
        timeline(b_dir.path()).contains("not repeated: replica-a already took this step")
    });
    // Had it rolled back again, the "previous" revision would have been the bad release.
    let image = image(&bed, &ns.name);
    assert_eq!(image, "shop/checkout:v1");
    let revision = revision(&bed, &ns.name);
    assert_eq!(revision, "3", "one rollback, not two");
    eprintln!("takeover after the leader died: {takeover:?}");
    drop(am);
    common::kill(b.id(), libc::SIGTERM);
    let _ = b.wait();
}

#[test]
fn kubernetes_the_example_configuration_in_deploy_passes_check() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes/configmap.yaml"))
            .expect("configmap.yaml");
    let start = manifest.find("autonomic.yaml: |").expect("the embedded configuration");
    let embedded: String = manifest[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect();
    let dir = tempfile::tempdir().expect("dir");
    let token = dir.path().join("write.token");
    std::fs::write(&token, "a-token-of-enough-length-0123456789\n").expect("token");
    let text = embedded.replace("/etc/autonomic/tokens/write", &token.display().to_string());
    std::fs::write(dir.path().join("autonomic.yaml"), &text).expect("config");
    let out = std::process::Command::new(common::autonomic())
        .args(["check", "autonomic.yaml"])
        .current_dir(dir.path())
        .output()
        .expect("check");
    assert!(
        out.status.success(),
        "{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kubernetes_a_workload_that_does_not_exist_is_said_at_startup_and_the_controller_goes_on() {
    let Some(bed) = testbed() else { return };
    let _one = serial();
    let ns = bed.namespace("missing");
    let dir = tempfile::tempdir().expect("tempdir");
    let api = format!("127.0.0.1:{}", common::http::free_port());
    let text = config(&bed.kubeconfig, &ns.name, &api, "  []").replace("deployment: checkout", "deployment: nowhere");
    std::fs::write(dir.path().join("autonomic.yaml"), text).expect("config");
    let tag = tag("missing");
    let _cleanup = Cleanup(tag.clone());
    let mut controller = spawn(&["run", "--config", "autonomic.yaml"], &tag, dir.path());
    let want = format!("kubernetes: service checkout: get deployment {}/nowhere: not found (404)", ns.name);
    let mut last = String::new();
    wait_until(Duration::from_secs(30), "the missing workload in /-/healthy", || {
        last = common::http::get(&api, "/-/healthy", Duration::from_secs(1)).map(|(_, b)| b).unwrap_or_default();
        last.contains(&want)
    });
    // The API still answers queries: the loop runs.
    let (status, _) =
        common::http::get(&api, "/api/v1/query?query=up", Duration::from_secs(2)).expect("the API answers");
    assert_eq!(status, 200);
    assert!(controller.try_wait().expect("wait").is_none(), "the controller keeps running");
    common::kill(controller.id(), libc::SIGTERM);
    let _ = controller.wait();
}

#[test]
fn kubernetes_alerts_drive_a_rolling_restart_and_a_restart_of_exactly_the_pod_they_name() {
    let Some((bed, _one)) = with_alertmanager() else { return };
    let ns = bed.namespace("restarts");
    bed.must(&["-n", &ns.name, "apply", "-f", "-"], Some(&deployment("shop/checkout:v1", 3)));
    rolled_out(&bed, &ns.name);
    let playbook = r#"
  - name: slow-pod
    match: { alert: CheckoutPodSlow }
    steps:
      - { action: restart, verify: rolled_out, within: 60s }
    guards: { cooldown: 0s }
  - name: stale-config
    match: { alert: CheckoutConfigStale }
    steps:
      - { action: restart, scope: all, verify: rolled_out, within: 60s }
    guards: { cooldown: 0s }"#;
    let run = start(&bed, &ns.name, playbook);
    let before = live_pods(&bed, &ns.name);

    // An alert about one pod: that pod, and no other, is replaced.
    let slow = before[2].clone();
    fire(&run.am.addr, "CheckoutPodSlow", &[("service", "checkout"), ("pod", &slow)]);
    let record = ended(run.dir.path(), "resolved", Duration::from_secs(60));
    assert!(record["timeline"].to_string().contains(&format!("deleted pod {slow}")), "{record:#}");
    wait_until(Duration::from_secs(30), "a replacement for the slow pod", || {
        let now = live_pods(&bed, &ns.name);
        now.len() == 3 && !now.contains(&slow) && before[..2].iter().all(|p| now.contains(p))
    });

    // An alert about the service: a rolling restart through the Deployment replaces them all.
    let middle = live_pods(&bed, &ns.name);
    fire(&run.am.addr, "CheckoutConfigStale", &[("service", "checkout")]);
    wait_until(Duration::from_secs(60), "the rolling restart to be verified", || {
        incidents(run.dir.path()).as_array().is_some_and(|all| {
            all.iter().any(|r| {
                r["incident"]["trigger"]["name"] == "CheckoutConfigStale"
                    && r["incident"]["state"] == "resolved"
                    && r["timeline"].to_string().contains("rolling restart of deployment")
            })
        })
    });
    rolled_out(&bed, &ns.name);
    let after = live_pods(&bed, &ns.name);
    assert_eq!(after.len(), 3);
    assert!(after.iter().all(|p| !middle.contains(p)), "every pod was replaced: {middle:?} -> {after:?}");
    let restarted_at = bed.must(
        &["-n", &ns.name, "get", "deployment/checkout", "-o", "jsonpath={.spec.template.metadata.annotations}"],
        None,
    );
    assert!(restarted_at.contains("kubectl.kubernetes.io/restartedAt"), "{restarted_at}");
}
