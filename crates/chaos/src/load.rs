//! A hostile query load beside the loop, and the loop's timing under it.
//!
//! [`QueryLoad`] serves the controller's query API (with its default limits) and runs
//! clients that ask, back to back, for the most expensive queries those limits allow: range
//! queries over every series at a one-second step for three hours, subqueries, 127-level
//! chains. [`loop_timing`] reads the loop's own series afterwards (`up` of every scrape, the
//! timestamps rule groups and anomaly watches record at each evaluation) and reports the
//! longest gap between consecutive samples: how late the loop ran at its worst.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use controller::Controller;
use model::{ByName, Millis, SeriesReader};
use serde::Serialize;
use tokio::task::JoinHandle;

/// The query API and its hostile clients, running until [`QueryLoad::stop`].
pub struct QueryLoad {
    tasks: Vec<JoinHandle<()>>,
    counts: Arc<Counts>,
    started: std::time::Instant,
}

#[derive(Default)]
struct Counts {
    answered: AtomicU64,
    refused: AtomicU64,
    busy: AtomicU64,
    failed: AtomicU64,
}

/// How many series the store holds, as the API answers `count({__name__=~".+"})`.
async fn series_count(client: &reqwest::Client, base: &str) -> usize {
    let url = format!("{base}/api/v1/query?query={}", encode("count({__name__=~\".+\"})"));
    let Ok(r) = client.get(&url).send().await else { return 1 };
    let Ok(json) = r.json::<serde_json::Value>().await else { return 1 };
    json["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).map_or(1, |n| n as usize)
}

/// What the clients got.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LoadTotals {
    /// Clients.
    pub clients: usize,
    /// Queries answered with a result.
    pub answered: u64,
    /// Queries refused by the sample budget or the response size, with the reason.
    pub refused: u64,
    /// Queries answered 503: out of time, or every query thread busy and the queue full.
    pub busy: u64,
    /// Requests without an HTTP answer.
    pub failed: u64,
    /// CPU seconds the query threads used.
    pub query_cpu_seconds: f64,
    /// Seconds the load ran.
    pub seconds: f64,
}

/// The most expensive queries the API's default limits let through, at `now` (seconds),
/// over a store of `series` series: each is sized so that its work comes to about four
/// fifths of the sample budget (or Prometheus' 11,000-point resolution limit): range queries
/// over every series at a one-second step, subqueries at a one-second step inside range
/// and instant queries, raw samples of every series for an hour, a chain of 100
/// aggregations. Series are told apart by a copy of their name, so that operators that
/// drop `__name__` do not make the answer an error.
fn expensive_queries(now: i64, series: usize) -> Vec<String> {
    let budget = server::ApiLimits::default().max_samples;
    let work = budget * 4 / 5 / series.max(1);
    let every = "label_replace({__name__=~\".+\"}, \"name\", \"$1\", \"__name__\", \"(.+)\")";
    let range = |q: &str, steps: usize| {
        let steps = steps.clamp(60, 10_999) as i64;
        format!("/api/v1/query_range?query={}&start={}&end={now}&step=1", encode(q), now - steps)
    };
    let instant = |q: &str| format!("/api/v1/query?query={}", encode(q));
    let chain = vec!["count({__name__=~\".+\"})"; 100].join(" + ");
    vec![
        range(&format!("{every} * 1"), work),
        range(&format!("sum by (name) ({every})"), work),
        instant(&format!("max_over_time(({every} * 1)[{}s:1s])", work.max(60))),
        range(&format!("max_over_time(({every} * 1)[1m:1s])"), work / 60),
        instant("{__name__=~\".+\"}[1h]"),
        instant(&chain),
        range(&format!("topk(5, {every}) or bottomk(5, {every})"), work),
    ]
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

impl QueryLoad {
    /// Serves the query API over `controller`'s store on 127.0.0.1 and starts `clients`
    /// clients against it.
    pub async fn start(controller: &Controller, clients: usize) -> std::io::Result<Self> {
        let state = server::ApiState::new(
            controller.store().clone(),
            controller.clock().clone(),
            analyze::promql::Engine::new(),
            controller.health().clone(),
            server::ApiLimits::default(),
        )?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let mut tasks = vec![tokio::spawn(async move {
            let _ = server::serve(listener, state).await;
        })];
        let counts = Arc::new(Counts::default());
        let clock = controller.clock().clone();
        for i in 0..clients {
            let (base, counts, clock) = (base.clone(), counts.clone(), clock.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap_or_default();
                let mut k = i;
                loop {
                    let series = series_count(&client, &base).await;
                    let queries = expensive_queries(clock.now() / 1000, series);
                    let url = format!("{base}{}", queries[k % queries.len()]);
                    k += 1;
                    match client.get(&url).send().await {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            // Read the whole answer, as a dashboard would.
                            let _ = r.bytes().await;
                            let counter = match status {
                                200..=299 => &counts.answered,
                                503 => &counts.busy,
                                _ => &counts.refused,
                            };
                            counter.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            counts.failed.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }));
        }
        Ok(Self { tasks, counts, started: std::time::Instant::now() })
    }

    /// Stops the clients and the API; what they got.
    pub fn stop(self) -> LoadTotals {
        let query_cpu_seconds = query_threads_cpu_seconds();
        for t in &self.tasks {
            t.abort();
        }
        LoadTotals {
            clients: self.tasks.len().saturating_sub(1),
            answered: self.counts.answered.load(Ordering::Relaxed),
            refused: self.counts.refused.load(Ordering::Relaxed),
            busy: self.counts.busy.load(Ordering::Relaxed),
            failed: self.counts.failed.load(Ordering::Relaxed),
            query_cpu_seconds,
            seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}

/// CPU time (user and system) used so far by this process' query threads, from Linux's
/// `/proc/self/task/*/stat`; 0 where that cannot be read.
fn query_threads_cpu_seconds() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0.0 };
    let mut total = 0u64;
    for task in tasks.filter_map(Result::ok) {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        // The kernel keeps 15 characters of a thread's name: "autonomic-query".
        if !comm.starts_with("autonomic-query") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis: state is the 3rd field of the
        // line, utime and stime the 14th and 15th.
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        total += field(11) + field(12);
    }
    total as f64 / ticks
}

/// The loop's worst lateness over a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LoopTiming {
    /// The longest time between two consecutive scrapes of one target (`up` samples).
    pub largest_scrape_gap_ms: i64,
    /// The scrape interval.
    pub scrape_interval_ms: i64,
    /// The longest time between two consecutive evaluations of one rule group or anomaly
    /// watch, in multiples of its interval.
    pub largest_evaluation_gap_intervals: f64,
    /// That gap in milliseconds.
    pub largest_evaluation_gap_ms: i64,
}

fn largest_gap(samples: &[model::Sample]) -> i64 {
    samples.windows(2).map(|w| w[1].t - w[0].t).max().unwrap_or(0)
}

/// The loop's timing between `from` and `to`, from its own series in `controller`'s store.
pub fn loop_timing(controller: &Controller, from: Millis, to: Millis) -> LoopTiming {
    let store = controller.store().as_ref();
    let scrape_interval_ms = controller.config().scrape.interval.as_millis() as i64;
    let largest_scrape_gap_ms =
        store.read(&ByName("up"), from, to).iter().map(|s| largest_gap(&s.samples)).max().unwrap_or(0);
    let mut worst = (0.0f64, 0i64);
    let intervals = controller
        .config()
        .rule_groups
        .iter()
        .map(|g| (("rule_group", g.name.clone()), g.interval))
        .chain(controller.config().anomaly_watches.iter().map(|w| (("watch", w.name.clone()), w.interval)));
    let evaluations = [
        ("rule_group", store.read(&ByName("autonomic_rule_group_last_evaluation_timestamp_seconds"), from, to)),
        ("watch", store.read(&ByName("autonomic_anomaly_watch_last_evaluation_timestamp_seconds"), from, to)),
    ];
    for ((label, name), interval) in intervals {
        let interval_ms = (interval.as_millis() as i64).max(1);
        for (kind, series) in &evaluations {
            for s in series.iter().filter(|s| *kind == label && s.labels.get(label) == Some(name.as_str())) {
                let gap = largest_gap(&s.samples);
                let ratio = gap as f64 / interval_ms as f64;
                if ratio > worst.0 {
                    worst = (ratio, gap);
                }
            }
        }
    }
    LoopTiming {
        largest_scrape_gap_ms,
        scrape_interval_ms,
        largest_evaluation_gap_intervals: worst.0,
        largest_evaluation_gap_ms: worst.1,
    }
}
