//! A target cannot blind the controller (real HTTP on 127.0.0.1): a target over any of its
//! limits fails its scrape with the reason and `up == 0`, counting towards `target_down`; a
//! huge streamed body is cut off at `body_size_limit`; the timeout covers the whole scrape;
//! and a store filled by scraped series still takes `up` and Autonomic's own series, and
//! counts and logs what it refuses.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use model::{Labels, Sample, SeriesReader, SeriesSelector, SeriesWriter, SignalKind, TokioClock, is_stale};
use monitor::{ScrapeError, ScrapeLimits, ScrapeTarget, Scraper, SeriesStore};
use tokio::sync::mpsc;

const PROM_TEXT: &str = "text/plain; version=0.0.4";

#[derive(Clone, Default)]
struct Target {
    body: Arc<Mutex<String>>,
    /// Bytes the endless `/stream` has produced so far.
    streamed: Arc<AtomicU64>,
}

impl Target {
    fn set(&self, body: impl Into<String>) {
        *self.body.lock().expect("lock") = body.into();
    }
}

async fn metrics(State(t): State<Target>) -> impl IntoResponse {
    let body = t.body.lock().expect("lock").clone();
    ([(CONTENT_TYPE, PROM_TEXT)], body)
}

/// An endless exposition, sent chunked (no Content-Length), 64 KiB at a time.
async fn endless(State(t): State<Target>) -> impl IntoResponse {
    let line = "flood_metric{i=\"0123456789\"} 1\n";
    let chunk = Bytes::from(line.repeat(64 * 1024 / line.len()));
    let counter = t.streamed.clone();
    let stream = futures::stream::repeat_with(move || {
        counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        Ok::<_, std::io::Error>(chunk.clone())
    });
    ([(CONTENT_TYPE, PROM_TEXT)], Body::from_stream(stream))
}

/// Headers after 600 ms, then six lines 100 ms apart: each half fits in a 1 s timeout,
/// the whole does not.
async fn slow() -> impl IntoResponse {
    tokio::time::sleep(Duration::from_millis(600)).await;
    let stream = futures::stream::unfold(0, |i| async move {
        if i == 6 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((Ok::<_, std::io::Error>(Bytes::from(format!("slow_{i} 1\n"))), i + 1))
    });
    ([(CONTENT_TYPE, PROM_TEXT)], Body::from_stream(stream))
}

async fn serve(target: Target) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/stream", get(endless))
        .route("/slow", get(slow))
        .with_state(target);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr.to_string()
}

struct Named(&'static str);
impl SeriesSelector for Named {
    fn metric_name(&self) -> Option<&str> {
        Some(self.0)
    }
    fn matches(&self, l: &Labels) -> bool {
        l.metric_name() == Some(self.0)
    }
}

fn latest(store: &SeriesStore, name: &'static str) -> Vec<(Labels, f64)> {
    store
        .read(&Named(name), 0, i64::MAX)
        .into_iter()
        .filter_map(|s| s.samples.last().map(|x| (s.labels, x.v)))
        .collect()
}

fn latest_for(store: &SeriesStore, name: &'static str, instance: &str) -> Option<f64> {
    latest(store, name).into_iter().find(|(l, _)| l.get("instance") == Some(instance)).map(|x| x.1)
}

fn scraper(
    addr: &str,
    path: &str,
    limits: ScrapeLimits,
    timeout: Duration,
    store: &Arc<SeriesStore>,
) -> (Scraper, mpsc::UnboundedReceiver<model::Signal>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let target = ScrapeTarget {
        url: format!("http://{addr}{path}"),
        labels: Labels::from_pairs([("job", "svc"), ("instance", addr), ("service", "svc")]),
        interval: Duration::from_secs(1),
        timeout,
        down_after: 2,
        limits,
    };
    (Scraper::new(target, reqwest::Client::new(), store.clone(), TokioClock::shared(), tx), rx)
}

const SMALL: ScrapeLimits = ScrapeLimits {
    sample_limit: 3,
    body_size_limit: 4096,
    label_limit: 6,
    label_name_length_limit: 20,
    label_value_length_limit: 30,
};

#[tokio::test]
async fn a_target_over_any_limit_fails_with_the_reason_up_0_and_goes_down() {
    let target = Target::default();
    let addr = serve(target.clone()).await;
    let store = Arc::new(SeriesStore::new(Duration::from_secs(600), 10_000));
    let (mut scraper, mut rx) = scraper(&addr, "/metrics", SMALL, Duration::from_secs(5), &store);
    let good = "a 1\nb{x=\"1\"} 2\n";
    let over = [
        ("a 1\nb 2\nc 3\nd 4\n", "sample_limit exceeded: more than 3 samples"),
        // __name__, x, y + job, instance, service = 6 fits; one more label does not.
        ("a{x=\"1\",y=\"2\"} 1\n", ""),
        ("a{x=\"1\",y=\"2\",z=\"3\"} 1\n", "label_limit exceeded"),
        ("a{a_very_long_label_name_indeed=\"1\"} 1\n", "label_name_length_limit exceeded"),
        ("a{x=\"0123456789012345678901234567890123456789\"} 1\n", "label_value_length_limit exceeded"),
        (&*"pad 1\n".repeat(1000), "body_size_limit exceeded: the body is larger than 4096 bytes"),
    ];
    for (body, reason) in over {
        target.set(good);
        tokio::time::sleep(Duration::from_millis(2)).await;
        let report = scraper.scrape_once().await;
        assert!(report.up, "{report:?}");
        assert_eq!(latest_for(&store, "up", &addr), Some(1.0));
        target.set(body);
        tokio::time::sleep(Duration::from_millis(2)).await;
        let report = scraper.scrape_once().await;
        if reason.is_empty() {
            assert!(report.up, "at the limit is within it: {report:?}");
            continue;
        }
        assert!(!report.up, "{body:?} must fail the scrape");
        let error = report.error.as_ref().map(ToString::to_string).unwrap_or_default();
        assert!(error.contains(reason), "{error:?} lacks {reason:?}");
        assert_eq!(latest_for(&store, "up", &addr), Some(0.0), "over a limit is up == 0");
        assert!(is_stale(latest(&store, "a")[0].1), "the previous series go stale");
        assert_eq!(latest_for(&store, "scrape_samples_scraped", &addr), Some(0.0));
    }
    // The body over its limit is reported as Prometheus does.
    assert_eq!(latest_for(&store, "scrape_body_size_bytes", &addr), Some(-1.0));
    assert_eq!(latest_for(&store, "scrape_sample_limit", &addr), Some(3.0));

    // Like any failed scrape, it counts towards `down_after` (2).
    target.set(good);
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert!(scraper.scrape_once().await.up);
    while rx.try_recv().is_ok() {}
    target.set("a 1\nb 2\nc 3\nd 4\n");
    tokio::time::sleep(Duration::from_millis(2)).await;
    scraper.scrape_once().await;
    assert!(rx.try_recv().is_err(), "one failure is below down_after");
    tokio::time::sleep(Duration::from_millis(2)).await;
    scraper.scrape_once().await;
    let down = rx.try_recv().expect("target_down after two scrapes over the limit");
    assert_eq!(down.kind, SignalKind::TargetDown);
    assert!(down.annotations["error"].contains("sample_limit exceeded"), "{:?}", down.annotations);
}

#[tokio::test]
async fn an_endless_body_is_cut_off_at_body_size_limit() {
    let target = Target::default();
    let addr = serve(target.clone()).await;
    let store = Arc::new(SeriesStore::new(Duration::from_secs(600), 10_000));
    let limit = 1 << 20;
    let limits = ScrapeLimits { body_size_limit: limit, ..ScrapeLimits::DEFAULT };
    let (mut scraper, _rx) = scraper(&addr, "/stream", limits, Duration::from_secs(30), &store);
    let report = scraper.scrape_once().await;
    assert!(!report.up);
    assert_eq!(report.error, Some(ScrapeError::BodyTooLarge { limit }), "cut off, not timed out: {report:?}");
    // Read no more than one 64 KiB chunk past the limit, and stopped the target sending.
    assert!(report.body_bytes > limit && report.body_bytes <= limit + 64 * 1024, "{}", report.body_bytes);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = target.streamed.load(Ordering::Relaxed);
    assert!(sent < 64 << 20, "the connection was dropped: the target produced only {sent} bytes");
    assert_eq!(latest_for(&store, "up", &addr), Some(0.0));
    assert_eq!(latest_for(&store, "scrape_body_size_bytes", &addr), Some(-1.0));
}

#[tokio::test]
async fn the_timeout_covers_the_whole_scrape_not_each_step() {
    let addr = serve(Target::default()).await;
    let store = Arc::new(SeriesStore::new(Duration::from_secs(600), 10_000));
    let timeout = Duration::from_secs(1);
    let (mut scraper, _rx) = scraper(&addr, "/slow", ScrapeLimits::DEFAULT, timeout, &store);
    let report = scraper.scrape_once().await;
    // Headers came after 600 ms and the body was still coming at 1 s: with a timeout for
    // each step (600 ms, then 600 ms) this scrape would have succeeded.
    assert_eq!(report.error, Some(ScrapeError::Timeout { timeout, stage: monitor::scrape::Stage::Body }));
    assert_eq!(latest_for(&store, "up", &addr), Some(0.0));
}

/// Everything the subscriber writes, for asserting on log lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_full_store_still_takes_up_rule_results_and_anomaly_scores_and_counts_refusals() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let flood = Target::default();
    let flood_addr = serve(flood.clone()).await;
    let healthy = Target::default();
    let healthy_addr = serve(healthy.clone()).await;
    let store = Arc::new(SeriesStore::new(Duration::from_secs(600), 1_000));
    // 3,000 series: within the flood target's sample_limit, three times the store's room.
    flood.set((0..3_000).map(|i| format!("flood{{i=\"{i}\"}} 1\n")).collect::<String>());
    healthy.set("requests_total 5\n");
    let (mut flood_scraper, _rx) =
        scraper(&flood_addr, "/metrics", ScrapeLimits::DEFAULT, Duration::from_secs(5), &store);
    let (mut healthy_scraper, _rx2) =
        scraper(&healthy_addr, "/metrics", ScrapeLimits::DEFAULT, Duration::from_secs(5), &store);
    let report = flood_scraper.scrape_once().await;
    assert!(report.up, "within its limits: {report:?}");
    assert_eq!(report.refused, 2_000, "the store took 1,000 of 3,000");
    assert_eq!(latest_for(&store, "scrape_series_refused", &flood_addr), Some(2_000.0));

    // The other target's own series find no room, but its health series do.
    let report = healthy_scraper.scrape_once().await;
    assert_eq!(report.refused, 1);
    assert_eq!(latest_for(&store, "up", &healthy_addr), Some(1.0));
    assert_eq!(latest_for(&store, "scrape_series_refused", &healthy_addr), Some(1.0));
    // A target that goes down is still seen to: `up == 0` can fire.
    healthy.set("broken{ 1\n");
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert!(!healthy_scraper.scrape_once().await.up);
    assert_eq!(latest_for(&store, "up", &healthy_addr), Some(0.0));

    // Recording rules and anomaly watches write through `SeriesWriter`: the reserve takes them.
    let score = Labels::from_pairs([
        ("__name__", "autonomic_anomaly_score"),
        ("watch", "latency"),
        ("detector", "ensemble"),
        ("instance", healthy_addr.as_str()),
    ]);
    let rule = Labels::from_pairs([("__name__", "job:flood:sum"), ("job", "svc")]);
    SeriesWriter::write(&*store, &score, Sample { t: 10, v: 0.97 });
    SeriesWriter::write(&*store, &rule, Sample { t: 10, v: 3000.0 });
    assert_eq!(latest(&store, "autonomic_anomaly_score"), vec![(score, 0.97)]);
    assert_eq!(latest(&store, "job:flood:sum"), vec![(rule, 3000.0)]);

    // Refusals are counted as series PromQL can read…
    store.record_own_series(20);
    let refused = latest(&store, "autonomic_store_refused_samples_total");
    let target_refused = refused.iter().find(|(l, _)| l.get("origin") == Some("target")).map(|x| x.1);
    assert_eq!(target_refused, Some(2_001.0));
    assert_eq!(store.refused(monitor::Origin::Internal), 0);
    // …and logged once, not once per refused sample.
    let text = String::from_utf8(logs.0.lock().expect("lock").clone()).expect("utf-8");
    assert_eq!(text.matches("series store full").count(), 1, "{text}");
    assert!(text.contains("origin=\"target\"") || text.contains("origin=target"), "{text}");
}
