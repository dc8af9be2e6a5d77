//! Autonomic in a Prometheus shop, against the real peers (Debian's Prometheus 2.42 and
//! Alertmanager 0.25): a real Prometheus remote-writes to Autonomic with a bearer token and
//! both query APIs then answer the same; a real Prometheus rule fires, a real Alertmanager
//! routes it to Autonomic's webhook, and a playbook heals the service and verifies; every
//! route refuses a request without a token (401) or with a token of the wrong role (403).

mod common;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::http::free_port;
use common::peers::{Peer, alertmanager, alertmanager_webhook_config, available, prometheus};
use common::{Cleanup, serial, spawn, tag, wait_until};
use serde_json::Value;

const WRITE_TOKEN: &str = "w-0123456789abcdef";
const READ_TOKEN: &str = "r-0123456789abcdef";
const ADMIN_TOKEN: &str = "a-0123456789abcdef";

/// The controller's configuration: one supervised service on a fixed port (so Prometheus
/// can scrape it), both push sources, three tokens, and a playbook for the shop's own
/// alert.
fn autonomic_config(app_port: u16, api: &str) -> String {
    format!(
        r#"
journal: j.db
group_wait: 0s
services:
  app:
    run:
      command: ["{{autonomic}}", "fleet-service", "--name", "app", "--port", "{{port}}", "--exit-with-parent"]
      port: {app_port}          # fixed, so that the shop's Prometheus finds it
      replicas: 1
      stop_grace: 1s
    metrics: none               # the shop's Prometheus scrapes it, not Autonomic
api:
  listen: {api}
  tokens:
    - {{ name: prometheus, role: write, file: write.token }}
    - {{ name: grafana,    role: read,  file: read.token }}
    - {{ name: oncall,     role: admin, file: admin.token }}
sources:
  - type: remote_write
  - type: alertmanager
playbooks:
  - name: restart-when-down
    match: {{ alert: AppDown }}
    steps:
      - {{ action: restart, scope: all, verify: recovered, within: 60s }}
"#
    )
}

fn prometheus_config(app_port: u16, api: &str, alertmanager: Option<&str>) -> String {
    let alerting = alertmanager
        .map(|am| format!("alerting:\n  alertmanagers: [{{ static_configs: [{{ targets: [\"{am}\"] }}] }}]\n"))
        .unwrap_or_default();
    format!(
        r#"
global: {{ scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s }}
scrape_configs:
  - job_name: shop
    static_configs: [{{ targets: ["127.0.0.1:{app_port}"], labels: {{ service: app }} }}]
rule_files: [rules.yml]
{alerting}
remote_write:
  - url: http://{api}/api/v1/write
    authorization: {{ credentials_file: write.token }}
    queue_config: {{ batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s }}
"#
    )
}

const RULES: &str = r#"
groups:
  - name: app
    rules:
      - alert: AppDown
        expr: up{job="shop"} == 0
        labels: { severity: page, team: checkout }
        annotations: { summary: "app does not answer its scrapes" }
"#;

fn write_files(dir: &Path, app_port: u16, api: &str) {
    std::fs::write(dir.join("autonomic.yaml"), autonomic_config(app_port, api)).expect("config");
    std::fs::write(dir.join("rules.yml"), RULES).expect("rules");
    for (file, token) in [("write.token", WRITE_TOKEN), ("read.token", READ_TOKEN), ("admin.token", ADMIN_TOKEN)] {
        std::fs::write(dir.join(file), format!("{token}\n")).expect("token");
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().expect("client")
}

/// A GET with an optional bearer token: status and JSON body (null when not JSON).
fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = client().get(url);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    match request.send() {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

fn now_s() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs_f64().floor()
}

/// A query's result with its series sorted by labels, for comparison.
fn result(body: &Value) -> Vec<Value> {
    let mut r = body["data"]["result"].as_array().cloned().unwrap_or_default();
    r.sort_by_key(|s| s["metric"].to_string());
    r
}

fn start_autonomic(dir: &Path, tag: &str) -> std::process::Child {
    spawn(&["run", "--config", "autonomic.yaml"], tag, dir)
}

fn wait_for_api(api: &str) {
    wait_until(Duration::from_secs(30), "Autonomic's API", || {
        common::http::get(api, "/-/ready", Duration::from_secs(1)).is_some_and(|(s, _)| s == 200)
    });
}

#[test]
fn a_real_prometheus_remote_writes_every_sample_once_and_both_query_apis_agree() {
    if !available("prometheus", "AUTONOMIC_REQUIRE_PROMETHEUS", "prometheus") {
        return;
    }
    let _one = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let (app_port, api) = (free_port(), format!("127.0.0.1:{}", free_port()));
    write_files(dir.path(), app_port, &api);
    let tag = tag("remote-write");
    let _cleanup = Cleanup(tag.clone());
    let mut controller = start_autonomic(dir.path(), &tag);
    wait_for_api(&api);
    let prom: Peer = prometheus(dir.path(), &prometheus_config(app_port, &api, None));
    // Prometheus starts scraping a few seconds after it is ready (its discovery updates
    // are throttled): wait for a handful of scrapes.
    let raw_up = || get(&format!("http://{}/api/v1/query?query=up{{job=%22shop%22}}[1m]", prom.addr), None).1;
    wait_until(Duration::from_secs(40), "ten scrapes by Prometheus", || {
        raw_up()["data"]["result"][0]["values"].as_array().is_some_and(|v| v.len() >= 10)
    });
    let first = raw_up()["data"]["result"][0]["values"][0][0].as_f64().expect("first scrape");
    let (start, end) = (first.ceil(), now_s() - 1.0);
    // Evaluations start once every 3 s window lies inside the series: where a window reaches
    // back before a counter's first sample, Prometheus 2.42 (this peer) and Prometheus 3 (whose
    // semantics we follow, README "Known gaps") clamp `rate`'s extrapolation differently.
    let eval_start = start + 4.0;

    // Every sample Prometheus holds for the window arrived once: the raw samples of every
    // series agree, and so do queries over them.
    let queries = [
        format!("{{job=\"shop\"}}[{}s]", (end - start) as u64),
        "up{job=\"shop\"}".to_owned(),
        "rate(process_cpu_seconds_total{job=\"shop\"}[3s])".to_owned(),
        "sum by (job) (scrape_samples_scraped)".to_owned(),
        "demo_build_info".to_owned(),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    for q in &queries {
        let path = |base: &str, kind: &str| {
            let mut url = reqwest::Url::parse(&format!("http://{base}/api/v1/{kind}")).expect("url");
            if kind == "query" {
                url.query_pairs_mut().append_pair("query", q).append_pair("time", &end.to_string());
            } else {
                url.query_pairs_mut()
                    .append_pair("query", q)
                    .append_pair("start", &eval_start.to_string())
                    .append_pair("end", &end.to_string())
                    .append_pair("step", "1");
            }
            url.to_string()
        };
        let kinds: &[&str] = if q.ends_with("s]") { &["query"] } else { &["query", "query_range"] };
        for &kind in kinds {
            let (ps, theirs) = get(&path(&prom.addr, kind), None);
            assert_eq!(ps, 200, "Prometheus: {theirs}");
            assert!(!result(&theirs).is_empty(), "Prometheus has no data for {q}: {theirs} {}", prom.log());
            // Remote write lags behind the scrape by up to its batch deadline: wait for it.
            loop {
                let (status, ours) = get(&path(&api, kind), Some(READ_TOKEN));
                assert_eq!(status, 200, "{ours}");
                if result(&ours) == result(&theirs) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{kind} {q}:\nAutonomic:  {}\nPrometheus: {}",
                    Value::Array(result(&ours)),
                    Value::Array(result(&theirs))
                );
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
    // Nothing was refused, and the series are first-class: the metadata API lists them.
    let metrics = client().get(format!("http://{api}/metrics")).bearer_auth(READ_TOKEN).send().expect("metrics");
    let text = metrics.text().expect("text");
    assert!(!text.contains("autonomic_samples_rejected_total{source=\"remote_write\""), "{text}");
    assert!(text.contains("autonomic_samples_ingested_total{source=\"remote_write\"}"), "{text}");
    let (_, labels) = get(&format!("http://{api}/api/v1/label/job/values"), Some(READ_TOKEN));
    assert!(labels["data"].as_array().is_some_and(|v| v.contains(&Value::from("shop"))), "{labels}");

    drop(prom);
    common::kill(controller.id(), libc::SIGTERM);
    let _ = controller.wait();
}

#[test]
fn every_route_needs_a_token_and_the_right_role() {
    let _one = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let (app_port, api) = (free_port(), format!("127.0.0.1:{}", free_port()));
    write_files(dir.path(), app_port, &api);
    let tag = tag("tokens");
    let _cleanup = Cleanup(tag.clone());
    let mut controller = start_autonomic(dir.path(), &tag);
    wait_for_api(&api);
    let body = monitor::remote_write::encode(&monitor::remote_write::WriteRequest::default());
    // (method, path, the role it needs)
    let routes: [(&str, &str, &str); 9] = [
        ("GET", "/api/v1/query?query=up", "read"),
        ("POST", "/api/v1/query?query=up", "read"),
        ("GET", "/api/v1/query_range?query=up&start=1&end=2&step=1", "read"),
        ("GET", "/api/v1/series?match[]=up", "read"),
        ("GET", "/api/v1/labels", "read"),
        ("GET", "/api/v1/label/job/values", "read"),
        ("GET", "/metrics", "read"),
        ("POST", "/api/v1/write", "write"),
        ("POST", "/api/v1/alerts", "write"),
    ];
    let send = |method: &str, path: &str, token: Option<&str>| {
        let url = format!("http://{api}{path}");
        let mut r = if method == "GET" { client().get(url) } else { client().post(url) };
        if path.ends_with("/write") {
            r = r.header("content-type", "application/x-protobuf").body(body.clone());
        } else if path.ends_with("/alerts") {
            r = r.body(r#"{"version":"4","alerts":[]}"#);
        }
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let response = r.send().expect("answer");
        let status = response.status().as_u16();
        let challenge = response.headers().get("www-authenticate").is_some();
        (status, challenge, response.json::<Value>().unwrap_or(Value::Null))
    };
    for (method, path, role) in routes {
        let (status, challenge, body) = send(method, path, None);
        assert_eq!((status, challenge), (401, true), "{method} {path} without a token: {body}");
        assert_eq!(body["status"], "error");
        assert_eq!(body["errorType"], "unauthorized");
        let (status, _, _) = send(method, path, Some("not-a-token"));
        assert_eq!(status, 401, "{method} {path} with a wrong token");
        let wrong = if role == "read" { WRITE_TOKEN } else { READ_TOKEN };
        let (status, _, body) = send(method, path, Some(wrong));
        assert_eq!(status, 403, "{method} {path} with a token of another role: {body}");
        assert_eq!(body["errorType"], "forbidden");
        assert!(body["error"].as_str().is_some_and(|e| e.contains(&format!("needs role {role}"))), "{body}");
        let right = if role == "read" { READ_TOKEN } else { WRITE_TOKEN };
        for token in [right, ADMIN_TOKEN] {
            let (status, _, body) = send(method, path, Some(token));
            assert!((200..300).contains(&status), "{method} {path} with the right token: {status} {body}");
        }
    }
    // Health checks carry no token.
    assert_eq!(get(&format!("http://{api}/-/healthy"), None).0, 200);
    // The refusals are counted.
    let text =
        client().get(format!("http://{api}/metrics")).bearer_auth(ADMIN_TOKEN).send().expect("m").text().unwrap();
    assert!(text.contains("autonomic_http_requests_total{route=\"/api/v1/write\",code=\"403\"} 1"), "{text}");
    common::kill(controller.id(), libc::SIGTERM);
    let _ = controller.wait();
}

#[test]
fn a_real_alertmanager_routes_a_real_alert_to_a_playbook_that_heals_and_verifies() {
    if !available("prometheus", "AUTONOMIC_REQUIRE_PROMETHEUS", "prometheus")
        || !available("prometheus-alertmanager", "AUTONOMIC_REQUIRE_ALERTMANAGER", "prometheus-alertmanager")
    {
        return;
    }
    let _one = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let (app_port, api) = (free_port(), format!("127.0.0.1:{}", free_port()));
    write_files(dir.path(), app_port, &api);
    let tag = tag("alertmanager");
    let _cleanup = Cleanup(tag.clone());
    let mut controller = start_autonomic(dir.path(), &tag);
    wait_for_api(&api);
    let am = alertmanager(dir.path(), &alertmanager_webhook_config(&api, Some("write.token")));
    let prom = prometheus(dir.path(), &prometheus_config(app_port, &api, Some(&am.addr)));
    let app = format!("127.0.0.1:{app_port}");
    wait_until(Duration::from_secs(30), "Prometheus to scrape the app", || {
        let url = format!("http://{}/api/v1/query?query=up{{job=%22shop%22}}", prom.addr);
        get(&url, None).1["data"]["result"][0]["value"][1] == "1"
    });

    // The app stops answering: Prometheus' AppDown fires, Alertmanager sends it to the
    // webhook, the playbook restarts the app, the alert resolves, and the step verifies.
    let hang = client().post(format!("http://{app}/fault")).body(r#"{"kind":"hang"}"#);
    hang.header("content-type", "application/json").send().expect("fault injected");
    let incidents = || {
        let out = std::process::Command::new(common::autonomic())
            .args(["incidents", "--journal", "j.db", "--json"])
            .current_dir(dir.path())
            .output()
            .expect("incidents");
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)
    };
    let mut last = Value::Null;
    let resolved = (0..1200).any(|_| {
        last = incidents();
        if last.as_array().is_some_and(|a| a.iter().any(|r| r["incident"]["state"] == "resolved")) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
        false
    });
    assert!(resolved, "no incident resolved: {last:#}\nprometheus: {}\nalertmanager: {}", prom.log(), am.log());
    let record = last.as_array().and_then(|a| a.iter().find(|r| r["incident"]["state"] == "resolved")).expect("one");
    let trigger = &record["incident"]["trigger"];
    assert_eq!((trigger["kind"].as_str(), trigger["name"].as_str()), (Some("alert"), Some("AppDown")), "{record:#}");
    for (name, value) in [("alertname", "AppDown"), ("severity", "page"), ("team", "checkout"), ("job", "shop")] {
        assert_eq!(trigger["labels"][name], value, "the alert's own labels ({name}): {trigger}");
    }
    assert_eq!(record["incident"]["title"], "app does not answer its scrapes", "its summary annotation");
    assert_eq!(record["incident"]["playbook"], "restart-when-down");
    let timeline = record["timeline"].to_string();
    assert!(timeline.contains("restart"), "the action is in the timeline: {timeline}");
    assert!(timeline.contains("verified"), "{timeline}");
    // The app answers again.
    assert!(common::http::get(&app, "/health", Duration::from_secs(2)).is_some_and(|(s, _)| s == 200));
    // And the human-readable listing shows the alert and the action.
    let listing = std::process::Command::new(common::autonomic())
        .args(["incidents", "--journal", "j.db"])
        .current_dir(dir.path())
        .output()
        .expect("incidents");
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("AppDown") && listing.contains("restart"), "{listing}");
    assert!(listing.contains("severity=\"page\""), "the alert's labels are shown: {listing}");
    assert!(listing.contains("app does not answer its scrapes"), "{listing}");

    drop(prom);
    drop(am);
    common::kill(controller.id(), libc::SIGTERM);
    let _ = controller.wait();
}

#[test]
fn a_restart_keeps_the_stored_history_and_a_corrupt_snapshot_is_skipped() {
    use monitor::remote_write::{Label, ProtoSample, TimeSeries, WriteRequest, encode};
    let _one = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let (app_port, api) = (free_port(), format!("127.0.0.1:{}", free_port()));
    write_files(dir.path(), app_port, &api);
    let tag = tag("snapshot");
    let _cleanup = Cleanup(tag.clone());
    let now_ms = (now_s() as i64) * 1000;
    let body = encode(&WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![Label::new("__name__", "learnt_total"), Label::new("job", "history")],
            samples: (0..100)
                .map(|i| ProtoSample { value: i as f64, timestamp: now_ms - 600_000 + i * 5_000 })
                .collect(),
        }],
    });
    let count = || {
        let url = format!("http://{api}/api/v1/query?query=count_over_time(learnt_total[15m])");
        get(&url, Some(READ_TOKEN)).1["data"]["result"][0]["value"][1].as_str().map(str::to_owned)
    };
    let first = start_autonomic(dir.path(), &tag);
    wait_for_api(&api);
    let sent = client()
        .post(format!("http://{api}/api/v1/write"))
        .bearer_auth(WRITE_TOKEN)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .expect("sent");
    assert_eq!(sent.status().as_u16(), 204);
    assert_eq!(count().as_deref(), Some("100"));
    common::kill(first.id(), libc::SIGTERM);
    let out = first.wait_with_output().expect("exit");
    assert!(out.status.success(), "{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("j.snapshot").exists(), "the store is saved on shutdown");

    let mut second = start_autonomic(dir.path(), &tag);
    wait_for_api(&api);
    assert_eq!(count().as_deref(), Some("100"), "the history survives the restart");
    common::kill(second.id(), libc::SIGTERM);
    let _ = second.wait();

    // A corrupt snapshot is reported and skipped: the controller starts without it.
    let path = dir.path().join("j.snapshot");
    let mut bytes = std::fs::read(&path).expect("snapshot");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, bytes).expect("corrupted");
    let third = start_autonomic(dir.path(), &tag);
    wait_for_api(&api);
    assert_eq!(count(), None, "nothing of a corrupt snapshot is loaded");
    common::kill(third.id(), libc::SIGTERM);
    let out = third.wait_with_output().expect("exit");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("snapshot not loaded") && log.contains("checksum mismatch"), "{log}");
}
