//! Hostile callers against `autonomic run --listen`: the most expensive queries the limits
//! allow from four clients at once, expressions deep enough to overflow a stack, numbers
//! out of range, clients that hang up mid-query, and a flood of idle and slow-header
//! connections. Throughout, the controller and its supervised replicas stay alive (the same
//! processes), the loop's own scrape and rule evaluation keep their interval (no gap longer
//! than two intervals), no incident opens, and every answer is a clear HTTP error or a
//! result.

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::http::{self, Target, encode, free_port};
use common::{Cleanup, kill, serial, spawn, tag, tagged_processes, wait_until};

const CONFIG: &str = r#"
journal: j.db
group_wait: 0s
scrape: { interval: 1s, timeout: 900ms }
evaluation_interval: 1s
api: { listen: "127.0.0.1:API_PORT", query_timeout: 8s, idle_timeout: 8s, read_timeout: 3s }
services:
  app:
    run:
      command: ["{autonomic}", "fleet-service", "--name", "app", "--port", "{port}", "--exit-with-parent"]
      replicas: 2
    health: "http://{addr}/health"
    metrics: "http://{addr}/metrics"
  bulk:
    targets: ["BULK_ADDR"]
    metrics: "http://{addr}/metrics"
rule_groups:
  - name: loop
    interval: 1s
    rules:
      - record: loop_heartbeat
        expr: vector(1)
      - alert: TargetDown
        expr: up == 0
        for: 2s
playbooks:
  - name: heal
    match: { signal: target_down }
    steps:
      - { action: restart, scope: all, verify: healthy, within: 30s }
"#;

/// 3,000 series: enough to make every query over them expensive.
fn bulk_target() -> Target {
    Target::text(|| {
        let mut body = String::from("# TYPE bulk_metric gauge\n");
        for i in 0..3_000 {
            body.push_str(&format!("bulk_metric{{i=\"{i}\",shard=\"{}\"}} {}\n", i % 7, i as f64 * 0.5));
        }
        body
    })
}

/// The largest gap, in seconds, between consecutive samples of any series `selector`
/// selects over the last `window` (read through the controller's own API).
fn largest_gap(api: &str, selector: &str, window: &str) -> (f64, usize) {
    let path = format!("/api/v1/query?query={}", encode(&format!("{selector}[{window}]")));
    let (status, body) = http::get(api, &path, Duration::from_secs(20)).expect("the API answers after the attack");
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

fn count(dir: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(dir.join("j.db")).and_then(|db| db.query_row(sql, [], |r| r.get(0))).unwrap_or(-1)
}

/// Every signal journaled, one per line, for failure messages.
fn signals(dir: &Path) -> String {
    let Ok(db) = rusqlite::Connection::open(dir.join("j.db")) else { return String::new() };
    let Ok(mut stmt) = db.prepare("SELECT kind, name, service, state, summary FROM signals") else {
        return String::new();
    };
    stmt.query_map([], |r| {
        Ok(format!(
            "{} {} {:?} {}: {}",
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?
        ))
    })
    .map(|rows| rows.filter_map(Result::ok).collect::<Vec<_>>().join("\n"))
    .unwrap_or_default()
}

/// Runs `client` on `n` threads until `stop` is set; collects what they return.
fn clients<T: Send + 'static>(
    n: usize,
    stop: &Arc<AtomicBool>,
    client: impl Fn(usize, &AtomicBool) -> T + Send + Sync + 'static,
) -> Vec<std::thread::JoinHandle<T>> {
    let client = Arc::new(client);
    (0..n)
        .map(|i| {
            let (stop, client) = (stop.clone(), client.clone());
            std::thread::spawn(move || client(i, &stop))
        })
        .collect()
}

#[test]
fn hostile_queries_and_connections_leave_the_loop_on_time_and_the_fleet_untouched() {
    let _one = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let bulk = bulk_target();
    let api_port = free_port();
    let api = format!("127.0.0.1:{api_port}");
    let config = CONFIG.replace("API_PORT", &api_port.to_string()).replace("BULK_ADDR", &bulk.addr);
    std::fs::write(dir.path().join("autonomic.yaml"), config).expect("config");
    let tag = tag("hostile-api");
    let _cleanup = Cleanup(tag.clone());
    let mut controller = spawn(&["run", "--config", "autonomic.yaml"], &tag, dir.path());

    wait_until(Duration::from_secs(60), "both replicas and the bulk target scraped", || {
        http::get(&api, &format!("/api/v1/query?query={}", encode("count(up == 1)")), Duration::from_secs(5))
            .is_some_and(|(s, b)| s == 200 && b.contains("\"3\""))
    });
    // A few seconds of calm first, so that the windows below start before the attack.
    std::thread::sleep(Duration::from_secs(3));
    let replicas: Vec<u32> = tagged_processes(&tag).into_iter().filter(|p| *p != controller.id()).collect();
    assert_eq!(replicas.len(), 2, "two replicas run");
    let attack_started = Instant::now();
    let attack_started_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);

    // Phase 1: four clients of the most expensive queries the limits allow, and worse.
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let chain_120 = vec!["bulk_metric"; 120].join(" + ");
    let chain_2500 = vec!["up"; 2_500].join(" + ");
    let nested_abs = format!("{}up{}", "abs(".repeat(5_000), ")".repeat(5_000));
    let parens = format!("{}up{}", "(".repeat(50_000), ")".repeat(50_000));
    let end = now();
    let start = end - 1_500;
    let queries: Vec<(String, &[u16])> = vec![
        // Expensive and valid: the budget, the time limit or the pool decides.
        (
            format!("/api/v1/query_range?query={}&start={start}&end={end}&step=1", encode("bulk_metric * 1")),
            &[200, 422, 503],
        ),
        (
            format!(
                "/api/v1/query_range?query={}&start={start}&end={end}&step=1",
                encode("sum by (shard) (rate(bulk_metric[1m]))")
            ),
            &[200, 422, 503],
        ),
        (format!("/api/v1/query?query={}", encode(&chain_120)), &[200, 422, 503]),
        (
            format!("/api/v1/query?query={}", encode("max_over_time(max_over_time(bulk_metric[1m:1ms])[10m:1ms])")),
            &[200, 422, 503],
        ),
        (format!("/api/v1/query?query={}", encode("bulk_metric")), &[200, 422, 503]),
        // Hostile: refused before any work, with the reason.
        (format!("/api/v1/query?query={}", encode(&chain_2500)), &[400]),
        (format!("/api/v1/query?query={}", encode(&nested_abs)), &[400]),
        (format!("/api/v1/query?query={}", encode(&parens[..40_000])), &[400, 414, 431]),
        ("/api/v1/query_range?query=up&start=1&end=2&step=1e300".to_string(), &[400]),
        ("/api/v1/query_range?query=up&start=-1e300&end=2&step=1".to_string(), &[400]),
        ("/api/v1/query?query=up&time=NaN".to_string(), &[400]),
    ];
    let queries = Arc::new(queries);
    let stop = Arc::new(AtomicBool::new(false));
    let query_clients = clients(4, &stop, {
        let (api, queries) = (api.clone(), queries.clone());
        move |i, stop| {
            let mut answered = Vec::new();
            let mut k = i;
            while !stop.load(Ordering::Relaxed) {
                let (path, allowed) = &queries[k % queries.len()];
                k += 1;
                if let Some((status, body)) = http::get(&api, path, Duration::from_secs(30)) {
                    answered.push((path.chars().take(120).collect::<String>(), status, body.len(), allowed.to_vec()));
                    if status != 200 && status < 414 {
                        assert!(body.contains("\"error\""), "{status} without a reason: {body}");
                        assert!(body.len() < 2_000, "an error echoes its input ({} bytes)", body.len());
                    }
                }
            }
            answered
        }
    });
    // A fifth client starts expensive queries and hangs up at once.
    let quitters = clients(1, &stop, {
        let api = api.clone();
        move |_, stop| {
            let path = format!(
                "/api/v1/query_range?query={}&start={start}&end={end}&step=1",
                encode("bulk_metric * on(i) group_left bulk_metric")
            );
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(mut conn) = TcpStream::connect(&api) {
                    use std::io::Write;
                    let _ = write!(conn, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
                    std::thread::sleep(Duration::from_millis(150));
                    n += 1;
                }
            }
            n
        }
    });
    std::thread::sleep(Duration::from_secs(12));
    stop.store(true, Ordering::Relaxed);
    let mut answered = Vec::new();
    for c in query_clients {
        answered.extend(c.join().expect("query client"));
    }
    let quit: usize = quitters.into_iter().map(|q| q.join().expect("quitter")).sum();
    assert!(quit > 10, "the quitting client got few connections in ({quit})");
    assert!(answered.len() >= 8, "few queries were answered: {answered:?}");
    for (path, status, _, allowed) in &answered {
        assert!(allowed.contains(status), "{path} answered {status}, expected one of {allowed:?}");
    }

    // Phase 2: 1,100 connections that never send a request, or only half of one.
    let flood: Vec<TcpStream> = (0..1_100)
        .filter_map(|i| {
            let mut conn = TcpStream::connect_timeout(&api.parse().ok()?, Duration::from_millis(200)).ok()?;
            if i % 2 == 0 {
                use std::io::Write;
                let _ = conn.write_all(b"GET /api/v1/query?query=up HTTP/1.1\r\nHost: slow");
            }
            Some(conn)
        })
        .collect();
    assert!(flood.len() >= 300, "only {} flood connections were made", flood.len());
    std::thread::sleep(Duration::from_secs(8));
    drop(flood);
    let attack = attack_started.elapsed();

    // The controller and the very same replicas are alive.
    assert!(controller.try_wait().expect("wait").is_none(), "the controller died");
    let after: Vec<u32> = tagged_processes(&tag).into_iter().filter(|p| *p != controller.id()).collect();
    assert_eq!(after, replicas, "replicas were restarted or killed");
    // The loop kept its timing: its own scrapes and rule evaluations, every second.
    wait_until(Duration::from_secs(20), "the API to answer again after the flood", || {
        http::get(&api, "/-/healthy", Duration::from_secs(2)).is_some_and(|(s, _)| s == 200)
    });
    let window = format!("{}s", attack.as_secs() + 2);
    let (scrape_gap, scrape_points) = largest_gap(&api, "up{job=\"app\"}", &window);
    let (eval_gap, eval_points) =
        largest_gap(&api, "autonomic_rule_group_last_evaluation_timestamp_seconds{rule_group=\"loop\"}", &window);
    eprintln!(
        "attack {attack:?}: {} queries answered, {quit} hung up; largest scrape gap {scrape_gap}s ({scrape_points} points), largest evaluation gap {eval_gap}s ({eval_points} points)",
        answered.len()
    );
    assert!(scrape_points as u64 >= attack.as_secs(), "scrapes missing: {scrape_points} points over {attack:?}");
    assert!(scrape_gap <= 2.0, "the loop's own scrape paused for {scrape_gap}s under attack");
    assert!(eval_gap <= 2.0, "rule evaluation paused for {eval_gap}s under attack");
    // No false incident, no false signal about the healthy service.
    assert_eq!(
        count(dir.path(), &format!("SELECT COUNT(*) FROM incidents WHERE opened_at >= {attack_started_ms}")),
        0,
        "an incident opened under attack: {}",
        signals(dir.path())
    );
    assert_eq!(
        count(
            dir.path(),
            &format!(
                "SELECT COUNT(*) FROM signals WHERE at >= {attack_started_ms} \
                 AND kind IN ('alert', 'target_down', 'probe_failed', 'anomaly', 'controller_fault')"
            )
        ),
        0,
        "a false signal was raised under attack: {}",
        signals(dir.path())
    );
    kill(controller.id(), libc::SIGTERM);
    let status = controller.wait().expect("exits");
    assert!(status.success(), "SIGTERM is an orderly stop");
    wait_until(Duration::from_secs(10), "no process left", || tagged_processes(&tag).is_empty());
}
