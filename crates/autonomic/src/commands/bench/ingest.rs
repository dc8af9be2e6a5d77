//! `autonomic bench ingest`: remote-write ingestion, Autonomic beside Prometheus.
//!
//! Our own load generator builds the payloads once: `--series` series with label sets like
//! a node exporter's and an application's (job, instance, mode, method, code, le, …),
//! counters that grow by small steps and gauges that wander, one sample per series per
//! 15 s batch, cut into requests of `--samples-per-request` like a Prometheus queue's. The
//! same bodies go to `autonomic run` (a `remote_write` source) and to Debian's Prometheus
//! (`--web.enable-remote-write-receiver`), one after the other, each a process of its own
//! on this machine, from `--shards` senders that each own a fixed share of the series (as
//! Prometheus' shards do, so each series arrives in order), sent as fast as accepted.
//!
//! Figures for each: samples per second; memory per active series (resident memory after
//! the first batch created every series, less the idle process'); bytes per sample (the
//! resident memory the remaining batches added, per sample). Both read the same
//! `/proc/<pid>/status` VmRSS, so the two are measured alike.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use monitor::remote_write::{Label, ProtoSample, TimeSeries, WriteRequest, encode};

/// Arguments of `bench ingest`.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Active series.
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Batches of one sample per series, 15 s apart.
    #[arg(long, default_value_t = 120)]
    batches: usize,
    /// Samples per remote-write request (Prometheus 2.42's queue sends up to 500 by default,
    /// later versions 2,000).
    #[arg(long, default_value_t = 2_000)]
    samples_per_request: usize,
    /// Concurrent senders, each owning a fixed share of the series.
    #[arg(long, default_value_t = 4)]
    shards: usize,
    /// The Prometheus binary.
    #[arg(long, default_value = "prometheus")]
    prometheus: PathBuf,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

/// What one receiver did.
#[derive(Debug, Clone, Copy)]
struct Figures {
    samples_per_s: f64,
    /// Bytes of compressed chunks per sample, where the receiver says (Autonomic).
    chunk_bytes_per_sample: Option<f64>,
    bytes_per_sample: f64,
    bytes_per_series: f64,
    stored: u64,
}

/// Deterministic numbers for the generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One generated series: its labels and how its value moves.
struct GenSeries {
    name: &'static str,
    labels: Vec<Label>,
    counter: bool,
    value: f64,
}

const NODE: &[&str] = &[
    "node_cpu_seconds_total",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_memory_MemAvailable_bytes",
    "node_filesystem_avail_bytes",
    "node_load1",
];
const APP: &[&str] = &[
    "http_requests_total",
    "http_request_duration_seconds_bucket",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "go_goroutines",
];

fn label(name: &str, value: impl AsRef<str>) -> Label {
    Label::new(name, value.as_ref())
}

/// `n` distinct series: two thirds like a node exporter's, one third like an
/// application's.
fn generate(n: usize) -> Vec<GenSeries> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seen = std::collections::HashMap::<String, usize>::new();
    (0..n)
        .map(|i| {
            let host = i / 40;
            let instance = format!("10.{}.{}.{}:9100", 1 + host / 65_536 % 250, host / 256 % 256, host % 256);
            let mut labels = Vec::with_capacity(8);
            let name;
            if i % 3 < 2 {
                name = NODE[i % NODE.len()];
                labels.push(label("job", "node"));
                labels.push(label("instance", instance));
                labels.push(label("datacenter", ["eu-west-1", "us-east-1", "ap-south-1"][host % 3]));
                match name {
                    "node_cpu_seconds_total" => {
                        labels.push(label("cpu", (i / 8 % 16).to_string()));
                        labels.push(label("mode", ["user", "system", "idle", "iowait"][i / 128 % 4]));
                    }
                    n if n.starts_with("node_network") => labels.push(label("device", format!("eth{}", i / 8 % 4))),
                    n if n.starts_with("node_disk") => labels.push(label("device", format!("nvme{}n1", i / 8 % 4))),
                    "node_filesystem_avail_bytes" => {
                        labels.push(label("mountpoint", ["/", "/var", "/data"][i / 8 % 3]));
                        labels.push(label("fstype", "ext4"));
                    }
                    _ => {}
                }
            } else {
                name = APP[i % APP.len()];
                labels.push(label("job", ["checkout", "payments", "search", "catalog"][host % 4]));
                labels.push(label("instance", instance.replace(":9100", ":8080")));
                labels.push(label("namespace", "shop"));
                if name.starts_with("http_") {
                    labels.push(label("method", ["GET", "POST"][i / 5 % 2]));
                    labels.push(label("handler", format!("/api/v1/item{}", i / 10 % 12)));
                    if name.ends_with("_bucket") {
                        labels.push(label("le", ["0.005", "0.01", "0.05", "0.1", "0.5", "1", "+Inf"][i / 120 % 7]));
                    } else {
                        labels.push(label("code", ["200", "200", "404", "500"][i / 120 % 4]));
                    }
                }
            }
            labels.push(label("__name__", name));
            // The scheme above repeats some label sets: a pod suffix keeps every series its own.
            let key = labels
                .iter()
                .map(|l| format!("{}={},", String::from_utf8_lossy(&l.name), String::from_utf8_lossy(&l.value)))
                .collect::<String>();
            let repeats = seen.entry(key).or_insert(0);
            if *repeats > 0 {
                labels.push(label("pod", format!("{name}-{repeats}")));
            }
            *repeats += 1;
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            let counter = name.ends_with("_total") || name.ends_with("_bucket");
            let value = if counter { rng.below(1_000_000) as f64 } else { (rng.below(16_000) as f64) * 1024.0 };
            GenSeries { name, labels, counter, value }
        })
        .collect()
}

impl GenSeries {
    /// The next value: a counter grows by a small step; a gauge wanders (some as whole
    /// numbers, like bytes; some as fractions, like a load average).
    fn step(&mut self, rng: &mut Rng) -> f64 {
        let name = self.name;
        if self.counter {
            self.value += if name.contains("seconds") { rng.below(1_500) as f64 / 100.0 } else { rng.below(40) as f64 };
        } else if name == "node_load1" {
            self.value = (rng.below(400) as f64) / 100.0;
        } else {
            self.value = (self.value + (rng.below(2_048) as f64 - 1_024.0) * 4.0).max(0.0);
        }
        self.value
    }
}

/// The request bodies of each shard, in the order that shard sends them.
fn payloads(args: &IngestArgs, start_ms: i64) -> Vec<Vec<Vec<u8>>> {
    let mut series = generate(args.series);
    let mut rng = Rng(7);
    let shards = args.shards.max(1);
    let mut out: Vec<Vec<Vec<u8>>> = vec![Vec::new(); shards];
    for batch in 0..args.batches {
        let t = start_ms + batch as i64 * 15_000;
        for (shard, bodies) in out.iter_mut().enumerate() {
            let mine: Vec<usize> = (shard..series.len()).step_by(shards).collect();
            for chunk in mine.chunks(args.samples_per_request.max(1)) {
                let timeseries = chunk
                    .iter()
                    .map(|&i| {
                        let v = series[i].step(&mut rng);
                        TimeSeries {
                            labels: series[i].labels.clone(),
                            samples: vec![ProtoSample { value: v, timestamp: t }],
                        }
                    })
                    .collect();
                bodies.push(encode(&WriteRequest { timeseries }));
            }
        }
    }
    out
}

/// Resident memory of `pid`, in bytes.
fn rss(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")?;
    Ok(kb * 1024.0)
}

/// A receiver process: its pid, its write URL, and how to read how many samples it stored.
struct Receiver {
    child: tokio::process::Child,
    base: String,
    write_path: &'static str,
    stored_metric: &'static str,
    token: Option<String>,
}

impl Receiver {
    fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the receiver exited")
    }

    async fn wait_ready(&self, client: &reqwest::Client) -> anyhow::Result<()> {
        for _ in 0..600 {
            if let Ok(r) = client.get(format!("{}/-/ready", self.base)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("{} was not ready within a minute", self.base)
    }

    /// The receiver's own `/metrics`.
    async fn metrics(&self, client: &reqwest::Client) -> anyhow::Result<String> {
        let mut request = client.get(format!("{}/metrics", self.base));
        if let Some(t) = &self.token {
            request = request.bearer_auth(t);
        }
        Ok(request.send().await?.text().await?)
    }
}

/// The value on the first sample line of `text` for `name`: a metric name (any labels) or a
/// whole series (`name{…}`).
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || (!name.contains('{') && rest.starts_with('{')))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

impl Receiver {
    /// The receiver's own count of stored samples.
    async fn stored(&self, client: &reqwest::Client) -> anyhow::Result<u64> {
        let text = self.metrics(client).await?;
        Ok(metric(&text, self.stored_metric).context("no stored-samples counter")? as u64)
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn start_autonomic(dir: &Path, args: &IngestArgs) -> anyhow::Result<Receiver> {
    let port = free_port()?;
    std::fs::write(dir.join("write.token"), "bench-token\n")?;
    let config = format!(
        "journal: {journal}\nretention: 2h\nmax_series: {max}\napi:\n  listen: 127.0.0.1:{port}\n  tokens: [{{ name: bench, role: admin, file: write.token }}]\nsources: [{{ type: remote_write }}]\n",
        journal = dir.join("bench.db").display(),
        max = args.series * 2 + 1_000,
    );
    std::fs::write(dir.join("autonomic.yaml"), config)?;
    let child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["run", "--config"])
        .arg(dir.join("autonomic.yaml"))
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting autonomic run")?;
    Ok(Receiver {
        child,
        base: format!("http://127.0.0.1:{port}"),
        write_path: "/api/v1/write",
        stored_metric: "autonomic_samples_ingested_total{source=\"remote_write\"}",
        token: Some("bench-token".into()),
    })
}

async fn start_prometheus(dir: &Path, args: &IngestArgs) -> anyhow::Result<Receiver> {
    let found =
        std::process::Command::new(&args.prometheus).arg("--version").output().is_ok_and(|o| o.status.success());
    anyhow::ensure!(found, "{} is not installed (apt-get install prometheus)", args.prometheus.display());
    let port = free_port()?;
    std::fs::write(dir.join("prometheus.yml"), "global:\n  scrape_interval: 1h\n")?;
    let child = tokio::process::Command::new(&args.prometheus)
        .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(["--web.enable-remote-write-receiver", "--log.level=warn"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", args.prometheus.display()))?;
    Ok(Receiver {
        child,
        base: format!("http://127.0.0.1:{port}"),
        write_path: "/api/v1/write",
        stored_metric: "prometheus_tsdb_head_samples_appended_total",
        token: None,
    })
}

/// Sends every shard's bodies, each shard in order, all shards at once; `first` bodies of
/// each shard (the first batch) go first, then the memory is read, then the rest.
async fn send(
    receiver: &Receiver,
    client: &reqwest::Client,
    bodies: &Arc<Vec<Vec<Vec<u8>>>>,
    range: std::ops::Range<usize>,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    for shard in 0..bodies.len() {
        let (client, bodies, bar) = (client.clone(), bodies.clone(), bar.clone());
        let url = format!("{}{}", receiver.base, receiver.write_path);
        let token = receiver.token.clone();
        let range = range.clone();
        tasks.push(tokio::spawn(async move {
            for i in range {
                let Some(body) = bodies[shard].get(i) else { break };
                let mut request = client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .header("content-encoding", "snappy")
                    .header("x-prometheus-remote-write-version", "0.1.0")
                    .body(body.clone());
                if let Some(t) = &token {
                    request = request.bearer_auth(t);
                }
                let response = request.send().await?;
                let status = response.status();
                if !status.is_success() {
                    anyhow::bail!("{url} answered {status}: {}", response.text().await.unwrap_or_default());
                }
                bar.inc(1);
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

async fn measure(
    name: &str,
    receiver: Receiver,
    args: &IngestArgs,
    bodies: &Arc<Vec<Vec<Vec<u8>>>>,
) -> anyhow::Result<Figures> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.shards).build()?;
    receiver.wait_ready(&client).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = receiver.pid()?;
    let idle = rss(pid)?;
    let per_batch = bodies[0].len() / args.batches.max(1);
    let total: usize = bodies.iter().map(Vec::len).sum();
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!("{name:>10} {{bar:40}} {{pos}}/{{len}} requests {{per_sec}}"))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    send(&receiver, &client, bodies, 0..per_batch, &bar).await?;
    let first_took = started.elapsed();
    let after_first = rss(pid)?;
    let rest_started = Instant::now();
    send(&receiver, &client, bodies, per_batch..usize::MAX, &bar).await?;
    let took = first_took + rest_started.elapsed();
    bar.finish_and_clear();
    let after_all = rss(pid)?;
    let stored = receiver.stored(&client).await?;
    // The controller publishes its store's figures on each compaction (every 10 s).
    let mut chunk_bytes_per_sample = None;
    if receiver.token.is_some() {
        for _ in 0..100 {
            let text = receiver.metrics(&client).await?;
            if let (Some(bytes), Some(samples)) =
                (metric(&text, "autonomic_store_chunk_bytes"), metric(&text, "autonomic_store_samples"))
                && samples >= (args.series * args.batches) as f64
            {
                chunk_bytes_per_sample = Some(bytes / samples);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let samples = (args.series * args.batches) as f64;
    let later_samples = (args.series * args.batches.saturating_sub(1)).max(1) as f64;
    Ok(Figures {
        samples_per_s: samples / took.as_secs_f64(),
        chunk_bytes_per_sample,
        bytes_per_sample: (after_all - after_first).max(0.0) / later_samples,
        bytes_per_series: (after_first - idle).max(0.0) / args.series.max(1) as f64,
        stored,
    })
}

/// Runs the benchmark.
pub async fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.batches >= 2, "--batches must be at least 2 (the first creates the series)");
    let dir = std::env::temp_dir().join(format!("autonomic-bench-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let _cleanup = Cleanup(dir.clone());
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    // The last batch lands a minute before now: inside both receivers' windows.
    let start_ms = now_ms - 60_000 - (args.batches as i64 - 1) * 15_000;
    let started = Instant::now();
    let bodies = Arc::new(payloads(&args, start_ms));
    let bytes: usize = bodies.iter().flatten().map(Vec::len).sum();
    let requests: usize = bodies.iter().map(Vec::len).sum();
    if !args.json {
        println!(
            "generated {} series × {} batches = {} samples in {requests} requests ({:.1} MB snappy) in {:.1}s",
            args.series,
            args.batches,
            args.series * args.batches,
            bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
    }
    let ours_dir = dir.join("autonomic");
    std::fs::create_dir_all(&ours_dir)?;
    let ours = measure("autonomic", start_autonomic(&ours_dir, &args).await?, &args, &bodies).await?;
    let theirs_dir = dir.join("prometheus");
    std::fs::create_dir_all(&theirs_dir)?;
    let theirs = measure("prometheus", start_prometheus(&theirs_dir, &args).await?, &args, &bodies).await?;
    let expected = (args.series * args.batches) as u64;
    let complete = ours.stored == expected && theirs.stored == expected;
    if args.json {
        let report = serde_json::json!({
            "series": args.series,
            "batches": args.batches,
            "samples": expected,
            "autonomic_samples_per_s": ours.samples_per_s,
            "prometheus_samples_per_s": theirs.samples_per_s,
            "ratio_samples_per_s": ours.samples_per_s / theirs.samples_per_s,
            "autonomic_bytes_per_sample": ours.bytes_per_sample,
            "prometheus_bytes_per_sample": theirs.bytes_per_sample,
            "autonomic_bytes_per_series": ours.bytes_per_series,
            "autonomic_chunk_bytes_per_sample": ours.chunk_bytes_per_sample,
            "prometheus_bytes_per_series": theirs.bytes_per_series,
            "autonomic_stored": ours.stored,
            "prometheus_stored": theirs.stored,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{:<28} {:>14} {:>14} {:>8}", "", "autonomic", "prometheus", "ratio");
        let row = |what: &str, a: f64, p: f64| println!("{what:<28} {a:>14.0} {p:>14.0} {:>7.2}×", a / p);
        row("samples/s", ours.samples_per_s, theirs.samples_per_s);
        let row2 = |what: &str, a: f64, p: f64| println!("{what:<28} {a:>14.2} {p:>14.2} {:>7.2}×", a / p);
        row2("bytes per sample (RSS)", ours.bytes_per_sample, theirs.bytes_per_sample);
        row("bytes per series (RSS)", ours.bytes_per_series, theirs.bytes_per_series);
        if let Some(b) = ours.chunk_bytes_per_sample {
            println!("autonomic's chunks alone: {b:.2} bytes per sample");
        }
        println!("samples stored: autonomic {} / prometheus {} of {expected}", ours.stored, theirs.stored);
        println!("goals: ≥ 2× Prometheus' samples/s; bytes per sample ≤ Prometheus'");
    }
    if !complete {
        eprintln!(
            "not every sample was stored: autonomic {}, prometheus {}, of {expected}",
            ours.stored, theirs.stored
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Removes the benchmark's folder, whatever happened.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
