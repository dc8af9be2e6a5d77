//! Hostile scrape targets against `autonomic run`: one serving 400,000 series, one a 200 MB
//! body, one a series with 100,000 labels, one that trickles its body forever, one that
//! answers garbage, and one that fills the series store. Each fails its own scrape with the
//! reason (`up == 0`), while the controller's memory stays bounded, its own series (`up` of
//! the healthy service, rule results) keep coming every interval, and the healthy service's
//! replicas are left alone.

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::http::{self, Target, encode, free_port};
use common::{Cleanup, kill, serial, spawn, tag, tagged_processes, wait_until};

const CONFIG: &str = r#"
journal: j.db
group_wait: 0s
max_series: 20000
scrape: { interval: 1s, timeout: 900ms }
evaluation_interval: 1s
api: { listen: "127.0.0.1:API_PORT" }
services:
  app:
    run:
      command: ["{autonomic}", "fleet-service", "--name", "app", "--port", "{port}", "--exit-with-parent"]
      replicas: 2
    health: "http://{addr}/health"
    metrics: "http://{addr}/metrics"
  many: { targets: ["MANY"], metrics: "http://{addr}/metrics" }
  huge: { targets: ["HUGE"], metrics: "http://{addr}/metrics" }
  wide: { targets: ["WIDE"], metrics: "http://{addr}/metrics" }
  trickle: { targets: ["TRICKLE"], metrics: "http://{addr}/metrics" }
  garbage: { targets: ["GARBAGE"], metrics: "http://{addr}/metrics" }
  filler: { targets: ["FILLER"], metrics: "http://{addr}/metrics" }
rule_groups:
  - name: loop
    interval: 1s
    rules:
      - record: loop_heartbeat
        expr: vector(1)
      - record: loop_up_by_service
        expr: sum by (service) (up)
"#;

fn cached(body: Vec<u8>) -> Target {
    let body = Arc::new(body);
    Target::serve(move |conn| {
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = conn.write_all(&body);
    })
}

fn many_series(n: usize, name: &str) -> Vec<u8> {
    let mut body = String::with_capacity(n * 20);
    for i in 0..n {
        body.push_str(&format!("{name}{{i=\"{i}\"}} 1\n"));
    }
    body.into_bytes()
}

/// 200 MB of valid lines, announced up front and streamed.
fn huge() -> Target {
    Target::serve(|conn| {
        let total: usize = 200 * 1024 * 1024;
        let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {total}\r\n\r\n");
        let chunk = "h 1\n".repeat(16 * 1024);
        let mut sent = 0;
        while sent < total {
            if conn.write_all(chunk.as_bytes()).is_err() {
                return;
            }
            sent += chunk.len();
        }
    })
}

fn wide() -> Vec<u8> {
    let labels: Vec<String> = (0..100_000).map(|i| format!("l{i}=\"v\"")).collect();
    format!("w{{{}}} 1\n", labels.join(",")).into_bytes()
}

/// Headers at once, then a byte every 100 ms, never finishing.
fn trickle() -> Target {
    Target::serve(|conn| {
        let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n");
        for _ in 0..100_000 {
            if conn.write_all(b"#").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

fn largest_gap(api: &str, selector: &str, window: &str) -> (f64, usize) {
    let path = format!("/api/v1/query?query={}", encode(&format!("{selector}[{window}]")));
    let (status, body) = http::get(api, &path, Duration::from_secs(20)).expect("the API answers");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    let mut largest = 0.0f64;
    let mut points = 0;
    for series in json["data"]["result"].as_array().expect("matrix") {
        let times: Vec<f64> =
            series["values"].as_array().expect("values").iter().filter_map(|p| p[0].as_f64()).collect();
        points += times.len();
        for pair in times.windows(2) {
            largest = largest.max(pair[1] - pair[0]);
        }
    }
    (largest, points)
}

fn instant(api: &str, query: &str) -> serde_json::Value {
    let (status, body) =
        http::get(api, &format!("/api/v1/query?query={}", encode(query)), Duration::from_secs(20)).expect("answer");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("json")
}

fn summaries(dir: &Path, service: &str) -> Vec<String> {
    let Ok(db) = rusqlite::Connection::open(dir.join("j.db")) else { return vec![] };
    let Ok(mut stmt) =
        db.prepare("SELECT summary FROM signals WHERE kind = 'target_down' AND state = 'firing' AND service = ?1")
    else {
        return vec![];
    };
    stmt.query_map([service], |r| r.get::<_, String>(0))
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

/// Peak resident memory of `pid`, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[test]
fn hostile_targets_fail_their_own_scrapes_and_blind_nothing_else() {
    let _one = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let many = cached(many_series(400_000, "m"));
    let huge = huge();
    let wide = cached(wide());
    let trickle = trickle();
    let garbage = cached(b"\x00\xff{{{ not an exposition\n\n}}}}".repeat(1000));
    // 19,000 series: with the healthy targets' and the rules' series, more than max_series.
    let filler = cached(many_series(19_000, "fill"));
    let api_port = free_port();
    let api = format!("127.0.0.1:{api_port}");
    let config = CONFIG
        .replace("API_PORT", &api_port.to_string())
        .replace("MANY", &many.addr)
        .replace("HUGE", &huge.addr)
        .replace("WIDE", &wide.addr)
        .replace("TRICKLE", &trickle.addr)
        .replace("GARBAGE", &garbage.addr)
        .replace("FILLER", &filler.addr);
    std::fs::write(dir.path().join("autonomic.yaml"), config).expect("config");
    let tag = tag("hostile-targets");
    let _cleanup = Cleanup(tag.clone());
    let mut controller = spawn(&["run", "--config", "autonomic.yaml"], &tag, dir.path());
    let started = Instant::now();

    wait_until(Duration::from_secs(60), "the API and both replicas", || {
        http::get(
            &api,
            &format!("/api/v1/query?query={}", encode("count(up{service=\"app\"} == 1)")),
            Duration::from_secs(5),
        )
        .is_some_and(|(s, b)| s == 200 && b.contains("\"2\""))
    });
    let replicas: Vec<u32> = tagged_processes(&tag).into_iter().filter(|p| *p != controller.id()).collect();
    assert_eq!(replicas.len(), 2);
    std::thread::sleep(Duration::from_secs(15));

    // Each hostile target is down, and says why.
    for (service, reason) in [
        ("many", "sample_limit"),
        ("huge", "body_size_limit"),
        ("wide", "label_limit"),
        ("trickle", "timeout"),
        ("garbage", "malformed"),
    ] {
        let up = instant(&api, &format!("up{{service=\"{service}\"}}"));
        assert_eq!(up["data"]["result"][0]["value"][1], "0", "{service}: {up}");
        let said = summaries(dir.path(), service);
        assert!(said.iter().any(|s| s.contains(reason)), "{service}: target_down does not say {reason:?}: {said:?}");
    }
    // The store is full, yet the loop's own series get in: up of the healthy service and the
    // rules' results, every interval.
    let window = format!("{}s", started.elapsed().as_secs().min(20));
    let (scrape_gap, scrape_points) = largest_gap(&api, "up{service=\"app\"}", &window);
    let (eval_gap, eval_points) =
        largest_gap(&api, "autonomic_rule_group_last_evaluation_timestamp_seconds{rule_group=\"loop\"}", &window);
    eprintln!(
        "largest scrape gap {scrape_gap}s ({scrape_points} points), evaluation gap {eval_gap}s ({eval_points} points)"
    );
    assert!(scrape_points >= 20 && eval_points >= 10, "{scrape_points} scrape points, {eval_points} evaluations");
    assert!(scrape_gap <= 2.0, "the healthy service's scrape paused for {scrape_gap}s");
    assert!(eval_gap <= 2.0, "rule evaluation paused for {eval_gap}s");
    let up_app = instant(&api, "loop_up_by_service{service=\"app\"}");
    assert_eq!(up_app["data"]["result"][0]["value"][1], "2", "{up_app}");
    let refused = instant(&api, "autonomic_store_refused_samples_total");
    assert!(!refused["data"]["result"].as_array().is_none_or(Vec::is_empty), "refusals are not counted: {refused}");

    // Alive, same replicas, memory bounded, no incident on the healthy service.
    assert!(controller.try_wait().expect("wait").is_none(), "the controller died");
    let after: Vec<u32> = tagged_processes(&tag).into_iter().filter(|p| *p != controller.id()).collect();
    assert_eq!(after, replicas, "the healthy service's replicas were touched");
    let rss = peak_rss(controller.id());
    eprintln!("controller peak RSS {} MiB", rss >> 20);
    assert!(rss < 600 << 20, "the controller grew to {} MiB", rss >> 20);
    assert!(summaries(dir.path(), "app").is_empty(), "the healthy service was reported down");
    kill(controller.id(), libc::SIGTERM);
    assert!(controller.wait().expect("exits").success());
    wait_until(Duration::from_secs(10), "no process left", || tagged_processes(&tag).is_empty());
}
