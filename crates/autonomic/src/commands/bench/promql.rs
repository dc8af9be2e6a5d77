//! `autonomic bench promql`: range queries through the query API over many series, timed
//! beside a real Prometheus that holds the same samples, with the results compared.
//!
//! Both sides are asked over HTTP by the same client, so both pay for parsing, evaluation
//! and JSON encoding. Prometheus gets the samples as TSDB blocks built by its own `promtool`
//! from an OpenMetrics file (backfilling), the way an operator would import history.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use model::{Labels, Sample};

#[derive(Debug, clap::Args)]
pub struct PromqlArgs {
    /// Series to generate (counters named `req_total`, three `job`s).
    #[arg(long, default_value_t = 1000)]
    series: usize,
    /// Hours of history per series (the queries start an hour in).
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(2..))]
    hours: u32,
    /// Scrape interval of the generated samples, in seconds.
    #[arg(long, default_value_t = 15)]
    scrape_s: u32,
    /// Step of the range queries, in seconds.
    #[arg(long, default_value_t = 60)]
    step_s: u32,
    /// Timed runs per query and side (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The Prometheus binary to compare with (skipped if it cannot be found).
    #[arg(long, default_value = "prometheus")]
    prometheus: PathBuf,
    /// Prometheus' `promtool`, which builds its blocks from the samples.
    #[arg(long, default_value = "promtool")]
    promtool: PathBuf,
    /// Only time Autonomic.
    #[arg(long)]
    no_peer: bool,
    /// A query to run instead of the standard five (repeatable); the generated series are
    /// counters named `req_total` with labels `instance` and `job`.
    #[arg(long = "query")]
    queries: Vec<String>,
    /// Print only a JSON summary.
    #[arg(long)]
    json: bool,
}

/// The queries timed: a per-series rate, an aggregation of it, a long window, and a subquery.
const QUERIES: &[&str] = &[
    "rate(req_total[5m])",
    "sum by (job) (rate(req_total[5m]))",
    "increase(req_total[1h])",
    "max_over_time(req_total[10m:1m])",
    "topk(5, rate(req_total[5m]))",
];

/// The longest range any of [`QUERIES`] reads.
const LONGEST_WINDOW_MS: i64 = 3_600_000;

/// Query times sit this far past whole minutes (see `History::new`).
const QUERY_OFFSET_MS: i64 = 7_000;

/// The generated history.
struct History {
    labels: Vec<Labels>,
    /// Timestamp (ms) of the first sample.
    start: i64,
    scrape_ms: i64,
    samples_per_series: usize,
}

impl History {
    fn new(args: &PromqlArgs) -> Self {
        let scrape_ms = i64::from(args.scrape_s.max(1)) * 1000;
        let span_ms = i64::from(args.hours.max(1)) * 3_600_000;
        // Recent history (TSDB retention is relative to now), on a whole hour.
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        // Samples off the whole second, so that no window edge of the queries (whole minutes
        // plus QUERY_OFFSET_MS) falls on a sample: Prometheus 2 closes range windows on the
        // left and Prometheus 3 (and Autonomic) does not, and this compares evaluation, not
        // that change.
        let start = (now - span_ms - 3_600_000) / 3_600_000 * 3_600_000 + 1_234;
        let labels = (0..args.series)
            .map(|i| {
                Labels::from_pairs([
                    ("__name__", "req_total"),
                    ("instance", format!("host-{i}").as_str()),
                    ("job", ["api", "web", "db"][i % 3]),
                ])
            })
            .collect();
        Self { labels, start, scrape_ms, samples_per_series: (span_ms / scrape_ms) as usize }
    }

    fn end(&self) -> i64 {
        self.start + (self.samples_per_series as i64 - 1) * self.scrape_ms
    }

    fn total(&self) -> usize {
        self.labels.len() * self.samples_per_series
    }

    /// Series `i`'s samples: a counter with a rate of its own (no two series tie, so `topk`
    /// has one answer) and a wobble; one series in 25 is restarted (its counter reset)
    /// halfway.
    fn samples(&self, i: usize) -> impl Iterator<Item = Sample> + '_ {
        let half = self.samples_per_series / 2;
        let own_rate = 1.0 + i as f64 / self.labels.len() as f64;
        let mut value = 0.0;
        (0..self.samples_per_series).map(move |k| {
            if i.is_multiple_of(25) && k == half {
                value = 0.0;
            }
            value += own_rate + ((k * (i + 1)) % 5) as f64;
            Sample { t: self.start + k as i64 * self.scrape_ms, v: value }
        })
    }
}

/// One side's timing of one query (seconds, the response read in full).
#[derive(Debug, Clone)]
struct Timing {
    median_s: f64,
    runs_s: Vec<f64>,
}

/// Runs the benchmark.
pub async fn run(args: PromqlArgs) -> anyhow::Result<ExitCode> {
    let history = History::new(&args);
    let progress = |msg: &str| {
        if !args.json {
            eprintln!("{msg}");
        }
    };
    progress(&format!(
        "{} series × {} samples ({} h at {} s): {:.2} M samples",
        history.labels.len(),
        history.samples_per_series,
        args.hours,
        args.scrape_s,
        history.total() as f64 / 1e6
    ));
    let ours = start_autonomic(&history).await?;
    let peer = if args.no_peer {
        None
    } else {
        match Prometheus::start(&args, &history, &progress).await {
            Ok(p) => Some(p),
            Err(e) => {
                progress(&format!("no Prometheus to compare with: {e:#}"));
                None
            }
        }
    };
    let client = reqwest::Client::builder().timeout(Duration::from_secs(600)).build()?;
    // From the first time at which every window lies inside the history: where a series
    // starts inside a window, Prometheus 2 limits `rate`'s extrapolation to the counter's
    // zero point before deciding whether to extrapolate at all, Prometheus 3 (and Autonomic)
    // after, and this compares evaluation, not that change.
    let first = history.start + LONGEST_WINDOW_MS;
    let range = RangeParams {
        start: (first - first % 60_000 + 60_000 + QUERY_OFFSET_MS) as f64 / 1000.0,
        end: history.end() as f64 / 1000.0,
        step: f64::from(args.step_s.max(1)),
    };
    let queries: Vec<&str> =
        if args.queries.is_empty() { QUERIES.to_vec() } else { args.queries.iter().map(String::as_str).collect() };
    let mut rows = Vec::new();
    for q in &queries {
        // One untimed run each: the first touches cold memory.
        let ours_body = query(&client, &ours, q, &range).await.with_context(|| format!("autonomic: {q}"))?;
        let peer_body = match &peer {
            Some(p) => Some(query(&client, &p.url, q, &range).await.with_context(|| format!("prometheus: {q}"))?),
            None => None,
        };
        let mut ours_runs = Vec::new();
        let mut peer_runs = Vec::new();
        for _ in 0..args.runs.max(1) {
            ours_runs.push(timed(&client, &ours, q, &range).await?);
            if let Some(p) = &peer {
                peer_runs.push(timed(&client, &p.url, q, &range).await?);
            }
        }
        let agreement = peer_body.as_ref().map(|p| compare(&ours_body, p));
        progress(&format!("{q}: done"));
        rows.push((q, timing(ours_runs), peer.as_ref().map(|_| timing(peer_runs)), agreement));
    }
    if let Some(p) = peer {
        p.stop().await;
    }
    report(&args, &history, &range, &rows)
}

fn timing(mut runs: Vec<f64>) -> Timing {
    let shown = runs.clone();
    runs.sort_by(f64::total_cmp);
    Timing { median_s: runs[runs.len() / 2], runs_s: shown }
}

type Row<'a> = (&'a &'a str, Timing, Option<Timing>, Option<Agreement>);

fn report(args: &PromqlArgs, history: &History, range: &RangeParams, rows: &[Row<'_>]) -> anyhow::Result<ExitCode> {
    if args.json {
        let out: Vec<serde_json::Value> = rows
            .iter()
            .map(|(q, ours, peer, agree)| {
                serde_json::json!({
                    "query": q,
                    "autonomic_s": ours.median_s,
                    "autonomic_runs_s": ours.runs_s,
                    "prometheus_s": peer.as_ref().map(|p| p.median_s),
                    "prometheus_runs_s": peer.as_ref().map(|p| p.runs_s.clone()),
                    "speedup": peer.as_ref().map(|p| p.median_s / ours.median_s),
                    "results_agree": agree.as_ref().map(Agreement::agrees),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "series": history.labels.len(), "samples": history.total(), "queries": out })
        );
        let all_agree = rows.iter().all(|(_, _, _, agree)| agree.as_ref().is_none_or(Agreement::agrees));
        return Ok(if all_agree { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    let steps = ((range.end - range.start) / range.step) as i64 + 1;
    println!(
        "range queries over {:.1} h at a {} s step ({steps} steps), {} series; median of {} runs",
        (range.end - range.start) / 3600.0,
        args.step_s,
        history.labels.len(),
        args.runs
    );
    println!("{:<38} {:>12} {:>12} {:>10}  results", "query", "autonomic", "prometheus", "speedup");
    let mut all_agree = true;
    for (q, ours, peer, agree) in rows {
        let (p, ratio) = match peer {
            Some(p) => (format!("{:.3} s", p.median_s), format!("{:.2}×", p.median_s / ours.median_s)),
            None => ("—".into(), "—".into()),
        };
        let verdict = match agree {
            Some(a) => {
                all_agree &= a.agrees();
                a.to_string()
            }
            None => "not compared".into(),
        };
        println!("{q:<38} {:>10.3} s {p:>12} {ratio:>10}  {verdict}", ours.median_s);
    }
    println!("(speedup: Prometheus' time over Autonomic's; above 1, Autonomic is faster)");
    Ok(if all_agree { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Loads the history into the controller's own store and serves the query API over it.
async fn start_autonomic(history: &History) -> anyhow::Result<String> {
    let span = Duration::from_millis((history.end() - history.start) as u64) + Duration::from_secs(7200);
    let store = Arc::new(monitor::SeriesStore::new(span, history.labels.len() + 1));
    for (i, labels) in history.labels.iter().enumerate() {
        for sample in history.samples(i) {
            store.append(labels, sample);
        }
    }
    // The benchmark's queries are its own: no budget, time or size limit gets in their way.
    let limits = server::ApiLimits {
        max_samples: usize::MAX,
        max_response_bytes: usize::MAX,
        query_timeout: Duration::from_secs(3600),
        ..server::ApiLimits::default()
    };
    let state = server::ApiState::new(
        store,
        model::TokioClock::shared(),
        analyze::promql::Engine::new(),
        model::Health::new(),
        limits,
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(server::serve(listener, state));
    Ok(url)
}

/// A folder removed when dropped, whatever happened after its creation.
struct TempDir(PathBuf);

impl TempDir {
    fn create(path: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A Prometheus started on the history's blocks, in a folder of its own that goes with it.
struct Prometheus {
    child: tokio::process::Child,
    url: String,
    _dir: TempDir,
}

impl Prometheus {
    async fn start(args: &PromqlArgs, history: &History, progress: &dyn Fn(&str)) -> anyhow::Result<Self> {
        for tool in [&args.promtool, &args.prometheus] {
            let found = std::process::Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
            anyhow::ensure!(found, "{} is not installed (apt-get install prometheus)", tool.display());
        }
        let dir = TempDir::create(std::env::temp_dir().join(format!("autonomic-bench-promql-{}", std::process::id())))?;
        let started = Instant::now();
        let om = dir.0.join("history.om");
        write_openmetrics(&om, history)?;
        progress(&format!("wrote {} for promtool in {:.1} s", om.display(), started.elapsed().as_secs_f64()));
        let started = Instant::now();
        let tsdb = dir.0.join("tsdb");
        let out = tokio::process::Command::new(&args.promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&om)
            .arg(&tsdb)
            .output()
            .await
            .with_context(|| format!("running {}", args.promtool.display()))?;
        if !out.status.success() {
            anyhow::bail!("promtool failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::fs::remove_file(&om)?;
        progress(&format!("promtool built Prometheus' blocks in {:.1} s", started.elapsed().as_secs_f64()));
        let config = dir.0.join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1h\n")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = tokio::process::Command::new(&args.prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", tsdb.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(["--storage.tsdb.retention.time=10y", "--query.max-samples=2000000000", "--query.timeout=10m"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", args.prometheus.display()))?;
        let url = format!("http://127.0.0.1:{port}");
        let me = Self { child, url, _dir: dir };
        me.wait_ready().await?;
        Ok(me)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(r) = client.get(format!("{}/-/ready", self.url)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("Prometheus was not ready within a minute")
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Writes the history as OpenMetrics text (timestamps in seconds), series after series.
fn write_openmetrics(path: &Path, history: &History) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (i, labels) in history.labels.iter().enumerate() {
        // OpenMetrics allows no space after the commas that Labels' Display writes.
        let pairs: Vec<String> =
            labels.iter().filter(|(k, _)| *k != model::METRIC_NAME).map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let selector = format!("{}{{{}}}", labels.metric_name().unwrap_or_default(), pairs.join(","));
        for s in history.samples(i) {
            writeln!(out, "{selector} {} {}", s.v, s.t as f64 / 1000.0)?;
        }
    }
    writeln!(out, "# EOF")?;
    out.flush()?;
    Ok(())
}

struct RangeParams {
    start: f64,
    end: f64,
    step: f64,
}

async fn query(client: &reqwest::Client, base: &str, q: &str, r: &RangeParams) -> anyhow::Result<Vec<u8>> {
    let form = format!("query={}&start={}&end={}&step={}", form_encode(q), r.start, r.end, r.step);
    let resp = client
        .post(format!("{base}/api/v1/query_range"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await?;
    let status = resp.status();
    let body: Vec<u8> = resp.bytes().await?.into();
    if !status.is_success() {
        anyhow::bail!("{status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body)
}

/// Percent-encodes a form value.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn timed(client: &reqwest::Client, base: &str, q: &str, r: &RangeParams) -> anyhow::Result<f64> {
    let started = Instant::now();
    query(client, base, q, r).await?;
    Ok(started.elapsed().as_secs_f64())
}

/// How two range-query responses compare.
#[derive(Debug, Clone, PartialEq)]
enum Agreement {
    Same { series: usize, points: usize },
    Differ(String),
}

impl Agreement {
    fn agrees(&self) -> bool {
        matches!(self, Self::Same { .. })
    }
}

impl std::fmt::Display for Agreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Same { series, points } => write!(f, "same ({series} series, {points} points)"),
            Self::Differ(why) => write!(f, "DIFFER: {why}"),
        }
    }
}

type Matrix = BTreeMap<String, Vec<(f64, f64)>>;

fn matrix(body: &[u8]) -> Result<Matrix, String> {
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let result = json["data"]["result"].as_array().ok_or("no data.result")?;
    let mut out = Matrix::new();
    for series in result {
        let metric = series["metric"].as_object().ok_or("no metric")?;
        let key: BTreeMap<&String, &serde_json::Value> = metric.iter().collect();
        let key = serde_json::to_string(&key).map_err(|e| e.to_string())?;
        let values = series["values"].as_array().ok_or("no values")?;
        let points = values
            .iter()
            .map(|p| {
                let t = p[0].as_f64().ok_or("bad timestamp")?;
                let v: f64 = p[1].as_str().ok_or("bad value")?.parse().map_err(|_| "bad value")?;
                Ok((t, v))
            })
            .collect::<Result<Vec<_>, &str>>()?;
        out.insert(key, points);
    }
    Ok(out)
}

/// Same series, same timestamps, values equal to within 1e-9 relative.
fn compare(ours: &[u8], theirs: &[u8]) -> Agreement {
    let (a, b) = match (matrix(ours), matrix(theirs)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) => return Agreement::Differ(format!("autonomic's response: {e}")),
        (_, Err(e)) => return Agreement::Differ(format!("prometheus' response: {e}")),
    };
    if let Some(k) = a.keys().find(|k| !b.contains_key(*k)) {
        return Agreement::Differ(format!("{} series vs {}; only autonomic has {k}", a.len(), b.len()));
    }
    if let Some(k) = b.keys().find(|k| !a.contains_key(*k)) {
        return Agreement::Differ(format!("{} series vs {}; only prometheus has {k}", a.len(), b.len()));
    }
    let mut points = 0;
    for (k, pa) in &a {
        let pb = &b[k];
        if pa.len() != pb.len() {
            return Agreement::Differ(format!("{k}: {} points vs {}", pa.len(), pb.len()));
        }
        for ((ta, va), (tb, vb)) in pa.iter().zip(pb) {
            let close =
                va == vb || (va.is_nan() && vb.is_nan()) || (va - vb).abs() <= 1e-9 * va.abs().max(vb.abs()).max(1.0);
            if ta != tb || !close {
                return Agreement::Differ(format!("{k} at {ta}: {va} vs {vb} at {tb}"));
            }
        }
        points += pa.len();
    }
    Agreement::Same { series: a.len(), points }
}
