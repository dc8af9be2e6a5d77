//! Scraping and probing real HTTP endpoints on 127.0.0.1: good expositions are stored with
//! the target's labels, a malformed or silent target is `up == 0` with the reason and its
//! series go stale, and thresholds turn failures into signals.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use model::{Labels, SeriesReader, SeriesSelector, SignalKind, SignalState, TokioClock, is_stale};
use monitor::{ProbeCheck, ProbeSpec, Prober, ScrapeLimits, ScrapeTarget, Scraper, SeriesStore};
use tokio::sync::mpsc;

#[derive(Clone, Default)]
struct Served {
    body: Arc<Mutex<(String, &'static str, u64)>>,
}

impl Served {
    fn set(&self, body: &str, content_type: &'static str, delay_ms: u64) {
        *self.body.lock().expect("lock") = (body.to_owned(), content_type, delay_ms);
    }
}

async fn metrics(State(served): State<Served>) -> impl IntoResponse {
    let (body, ct, delay) = served.body.lock().expect("lock").clone();
    tokio::time::sleep(Duration::from_millis(delay)).await;
    ([(CONTENT_TYPE, ct)], body)
}

async fn serve(served: Served) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new().route("/metrics", get(metrics)).route("/health", get(metrics)).with_state(served);
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

const PROM_TEXT: &str = "text/plain; version=0.0.4";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn setup(addr: &str) -> (Scraper, Arc<SeriesStore>, mpsc::UnboundedReceiver<model::Signal>) {
    let store = Arc::new(SeriesStore::new(Duration::from_secs(600), 10_000));
    let (tx, rx) = mpsc::unbounded_channel();
    let target = ScrapeTarget {
        url: format!("http://{addr}/metrics"),
        labels: Labels::from_pairs([("job", "svc"), ("instance", addr), ("service", "svc")]),
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(300),
        down_after: 2,
        limits: ScrapeLimits::default(),
    };
    let scraper = Scraper::new(target, reqwest::Client::new(), store.clone(), TokioClock::shared(), tx);
    (scraper, store, rx)
}

#[tokio::test]
async fn stores_samples_with_target_labels_in_both_formats() {
    let served = Served::default();
    served.set("# TYPE requests_total counter\nrequests_total{code=\"200\",job=\"inner\"} 7\n", PROM_TEXT, 0);
    let addr = serve(served.clone()).await;
    let (mut scraper, store, _rx) = setup(&addr);
    let report = scraper.scrape_once().await;
    assert!(report.up, "{report:?}");
    let got = latest(&store, "requests_total");
    assert_eq!(got.len(), 1);
    let (labels, v) = &got[0];
    assert_eq!(*v, 7.0);
    assert_eq!(labels.get("job"), Some("svc"), "target label wins");
    assert_eq!(labels.get("exported_job"), Some("inner"), "clashing label is kept as exported_");
    assert_eq!(labels.get("instance"), Some(addr.as_str()));
    assert_eq!(latest(&store, "up")[0].1, 1.0);

    served.set("# TYPE requests counter\nrequests_total{code=\"200\"} 9.0\n# EOF\n", OPENMETRICS, 0);
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(scraper.scrape_once().await.up);
    assert_eq!(
        latest(&store, "requests_total").iter().find(|(l, _)| l.get("exported_job").is_none()).map(|x| x.1),
        Some(9.0)
    );
}

#[tokio::test]
async fn malformed_exposition_fails_the_scrape_with_the_reason_and_stales_series() {
    let served = Served::default();
    served.set("good 1\n", PROM_TEXT, 0);
    let addr = serve(served.clone()).await;
    let (mut scraper, store, mut rx) = setup(&addr);
    assert!(scraper.scrape_once().await.up);

    served.set("good 1\nbad{label=\"unterminated} 2\n", PROM_TEXT, 0);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let report = scraper.scrape_once().await;
    assert!(!report.up);
    let error = report.error.expect("reason").to_string();
    assert!(error.contains("malformed exposition") && error.contains("line 2"), "{error}");
    assert_eq!(latest(&store, "up")[0].1, 0.0, "a broken target is up == 0, never healthy");
    assert!(is_stale(latest(&store, "good")[0].1), "its series are marked stale");
    assert!(rx.try_recv().is_err(), "one failure is below the down threshold");

    tokio::time::sleep(Duration::from_millis(5)).await;
    scraper.scrape_once().await;
    let down = rx.try_recv().expect("target_down after two failures");
    assert_eq!(down.kind, SignalKind::TargetDown);
    assert_eq!(down.service.as_deref(), Some("svc"));
    assert!(down.annotations["error"].contains("malformed exposition"));

    served.set("good 2\n", PROM_TEXT, 0);
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(scraper.scrape_once().await.up);
    let up = rx.try_recv().expect("resolved");
    assert_eq!(up.state, SignalState::Resolved);
    assert_eq!(up.key(), down.key());
}

#[tokio::test]
async fn slow_and_absent_targets_are_down_not_healthy() {
    let served = Served::default();
    served.set("x 1\n", PROM_TEXT, 2_000);
    let addr = serve(served).await;
    let (mut scraper, store, _rx) = setup(&addr);
    let report = scraper.scrape_once().await;
    assert!(!report.up);
    assert!(report.error.as_ref().is_some_and(|e| e.to_string().contains("timeout")), "{report:?}");
    assert_eq!(latest(&store, "up")[0].1, 0.0);

    // Nothing listens on this port.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").to_string();
    let (mut scraper, _store, _rx) = setup(&free);
    let report = scraper.scrape_once().await;
    assert!(!report.up);
    assert!(report.error.as_ref().is_some_and(|e| e.to_string().contains("request failed")), "{report:?}");
}

#[tokio::test]
async fn series_that_disappear_go_stale() {
    let served = Served::default();
    served.set("a 1\nb 1\n", PROM_TEXT, 0);
    let addr = serve(served.clone()).await;
    let (mut scraper, store, _rx) = setup(&addr);
    scraper.scrape_once().await;
    served.set("a 2\n", PROM_TEXT, 0);
    tokio::time::sleep(Duration::from_millis(5)).await;
    scraper.scrape_once().await;
    assert_eq!(latest(&store, "a")[0].1, 2.0);
    assert!(is_stale(latest(&store, "b")[0].1));
}

#[tokio::test]
async fn probe_thresholds_raise_and_resolve_probe_failed() {
    let served = Served::default();
    served.set("ok", PROM_TEXT, 0);
    let addr = serve(served.clone()).await;
    let store = Arc::new(SeriesStore::new(Duration::from_secs(600), 10_000));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let spec = ProbeSpec {
        check: ProbeCheck::Http { url: format!("http://{addr}/health") },
        labels: Labels::from_pairs([("service", "svc"), ("instance", addr.as_str())]),
        period: Duration::from_secs(1),
        timeout: Duration::from_millis(200),
        failure_threshold: 3,
        success_threshold: 1,
    };
    let mut prober = Prober::new(spec, reqwest::Client::new(), store.clone(), TokioClock::shared(), tx);
    assert!(prober.probe().await.is_ok());
    served.set("ok", PROM_TEXT, 1_000);
    for _ in 0..2 {
        assert!(prober.probe().await.is_err());
        assert!(rx.try_recv().is_err(), "below threshold");
    }
    assert!(prober.probe().await.is_err());
    let failed = rx.try_recv().expect("probe_failed at the threshold");
    assert_eq!(failed.kind, SignalKind::ProbeFailed);
    assert!(failed.summary().contains("failed 3 times: timeout"), "{}", failed.summary());
    assert_eq!(latest(&store, "probe_success")[0].1, 0.0);

    served.set("ok", PROM_TEXT, 0);
    assert!(prober.probe().await.is_ok());
    assert_eq!(rx.try_recv().expect("resolved").state, SignalState::Resolved);

    let tcp = monitor::probe_once(&reqwest::Client::new(), &ProbeCheck::Tcp { addr }, Duration::from_millis(200)).await;
    assert!(tcp.is_ok());
}

/// The registry's `scrape` and `probe` sources, run as the controller runs them (through
/// [`model::Source::run`] and a [`model::SourceContext`]), observe a real endpoint; a source
/// run again after its task was aborted starts from scratch and goes on writing.
#[tokio::test]
async fn registry_sources_write_through_their_context_and_run_again_after_an_abort() {
    let served = Served::default();
    served.set("# TYPE reqs counter\nreqs_total 7\n", PROM_TEXT, 0);
    let addr = serve(served).await;
    let store = Arc::new(SeriesStore::new(Duration::from_secs(600), 10_000));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let ctx = model::SourceContext {
        samples: store.clone(),
        signals: tx.into(),
        clock: TokioClock::shared(),
        metrics: Default::default(),
    };
    let labels = Labels::from_pairs([("job", "svc"), ("instance", addr.as_str()), ("service", "svc")]);
    let scrape = monitor::sources::build(
        monitor::SourceSpec::Scrape(ScrapeTarget {
            url: format!("http://{addr}/metrics"),
            labels: labels.clone(),
            interval: Duration::from_millis(100),
            timeout: Duration::from_millis(300),
            down_after: 1,
            limits: ScrapeLimits::default(),
        }),
        &reqwest::Client::new(),
    );
    let probe = monitor::sources::build(
        monitor::SourceSpec::Probe(ProbeSpec {
            check: ProbeCheck::Tcp { addr: "127.0.0.1:1".into() },
            labels,
            period: Duration::from_millis(100),
            timeout: Duration::from_millis(200),
            failure_threshold: 1,
            success_threshold: 1,
        }),
        &reqwest::Client::new(),
    );
    assert_eq!((scrape.type_name(), probe.type_name()), ("scrape", "probe"));
    assert_eq!(scrape.name(), format!("scrape http://{addr}/metrics"));
    let first = tokio::spawn(scrape.run(ctx.clone()));
    let probing = tokio::spawn(probe.run(ctx.clone()));
    tokio::time::sleep(Duration::from_millis(350)).await;
    first.abort();
    assert_eq!(latest(&store, "reqs_total").first().map(|s| s.1), Some(7.0));
    assert_eq!(latest(&store, "up").first().map(|s| s.1), Some(1.0));
    let down = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await.expect("a signal").expect("open");
    assert_eq!(down.kind, SignalKind::ProbeFailed, "{down:?}");
    probing.abort();
    let samples_before = store.read(&Named("up"), 0, i64::MAX)[0].samples.len();
    let again = tokio::spawn(scrape.run(ctx));
    tokio::time::sleep(Duration::from_millis(350)).await;
    again.abort();
    let samples_after = store.read(&Named("up"), 0, i64::MAX)[0].samples.len();
    assert!(samples_after > samples_before, "{samples_before} then {samples_after} `up` samples");
}
