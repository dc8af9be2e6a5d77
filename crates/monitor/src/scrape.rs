//! Prometheus-style scraping: fetch a target's `/metrics`, parse it with our own parser,
//! attach the target's labels, store the samples, and keep `up` honest.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use model::{Clock, Labels, Sample, Signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::exposition::{self, Format};
use crate::store::SeriesStore;

/// One endpoint to scrape.
#[derive(Debug, Clone)]
pub struct ScrapeTarget {
    /// The metrics URL.
    pub url: String,
    /// Labels attached to every series from this target (`job`, `instance`, `service`, …).
    pub labels: Labels,
    /// Time between scrapes.
    pub interval: Duration,
    /// Time a scrape may take.
    pub timeout: Duration,
    /// Consecutive failed scrapes before a `target_down` signal fires.
    pub down_after: u32,
}

/// The result of one scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeReport {
    /// Whether the target answered with a valid exposition.
    pub up: bool,
    /// Samples stored.
    pub samples: usize,
    /// Why it failed.
    pub error: Option<String>,
    /// How long it took.
    pub duration: Duration,
}

/// Scrapes one target on its interval until dropped.
#[derive(Debug)]
pub struct Scraper {
    target: ScrapeTarget,
    client: reqwest::Client,
    store: Arc<SeriesStore>,
    clock: Arc<dyn Clock>,
    signals: mpsc::UnboundedSender<Signal>,
    previous: HashSet<Labels>,
    consecutive_failures: u32,
    down: Option<Signal>,
}

const ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

impl Scraper {
    /// A scraper writing into `store` and raising `target_down` on `signals`.
    pub fn new(
        target: ScrapeTarget,
        client: reqwest::Client,
        store: Arc<SeriesStore>,
        clock: Arc<dyn Clock>,
        signals: mpsc::UnboundedSender<Signal>,
    ) -> Self {
        Self { target, client, store, clock, signals, previous: HashSet::new(), consecutive_failures: 0, down: None }
    }

    /// Scrapes forever on the target's interval.
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(self.target.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.scrape_once().await;
        }
    }

    async fn fetch(&self) -> Result<exposition::Exposition, String> {
        let request = self.client.get(&self.target.url).header(reqwest::header::ACCEPT, ACCEPT).send();
        let response = match tokio::time::timeout(self.target.timeout, request).await {
            Err(_) => {
                return Err(format!("timeout after {}ms", self.target.timeout.as_millis()));
            }
            Ok(Err(e)) => return Err(format!("request failed: {}", error_chain(&e))),
            Ok(Ok(r)) => r,
        };
        if !response.status().is_success() {
            return Err(format!("server answered {}", response.status()));
        }
        let content_type =
            response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = match tokio::time::timeout(self.target.timeout, response.text()).await {
            Err(_) => {
                return Err(format!("timeout reading body after {}ms", self.target.timeout.as_millis()));
            }
            Ok(Err(e)) => return Err(format!("reading body failed: {}", error_chain(&e))),
            Ok(Ok(b)) => b,
        };
        exposition::parse(&body, Format::from_content_type(content_type.as_deref()))
            .map_err(|e| format!("malformed exposition: {e}"))
    }

    /// One scrape: store what the target exposes, or mark it down and its series stale.
    pub async fn scrape_once(&mut self) -> ScrapeReport {
        let started = Instant::now();
        let t = self.clock.now();
        let result = self.fetch().await;
        let duration = started.elapsed();
        let report = match result {
            Ok(exposition) => {
                let mut current = HashSet::with_capacity(exposition.samples.len());
                let mut batch = Vec::with_capacity(exposition.samples.len());
                for s in exposition.samples {
                    let labels = self.with_target_labels(s.labels);
                    batch.push((labels.clone(), Sample { t: s.timestamp.unwrap_or(t), v: s.value }));
                    current.insert(labels);
                }
                self.store.append_all(batch.iter().map(|(l, s)| (l, *s)));
                for gone in self.previous.difference(&current) {
                    self.store.mark_stale(gone, t);
                }
                let samples = current.len();
                self.previous = current;
                ScrapeReport { up: true, samples, error: None, duration }
            }
            Err(error) => {
                for gone in self.previous.drain() {
                    self.store.mark_stale(&gone, t);
                }
                ScrapeReport { up: false, samples: 0, error: Some(error), duration }
            }
        };
        self.record_health(&report, t);
        report
    }

    /// Target labels win; a clashing exposed label is kept as `exported_<name>`, as
    /// Prometheus does with `honor_labels: false`.
    fn with_target_labels(&self, mut labels: Labels) -> Labels {
        for (k, v) in self.target.labels.iter() {
            if let Some(exposed) = labels.get(k).map(str::to_owned)
                && exposed != v
            {
                labels.set(format!("exported_{k}"), exposed);
            }
            labels.set(k, v);
        }
        labels
    }

    fn record_health(&mut self, report: &ScrapeReport, t: i64) {
        let synthetic = |name: &str| self.target.labels.clone().with(model::METRIC_NAME, name);
        let up = synthetic("up");
        let dur = synthetic("scrape_duration_seconds");
        let count = synthetic("scrape_samples_scraped");
        let up_value = if report.up { 1.0 } else { 0.0 };
        self.store.append_all([
            (&up, Sample { t, v: up_value }),
            (&dur, Sample { t, v: report.duration.as_secs_f64() }),
            (&count, Sample { t, v: report.samples as f64 }),
        ]);
        if report.up {
            self.consecutive_failures = 0;
            if let Some(down) = self.down.take() {
                tracing::info!(target = %self.target.url, "scrape target is back up");
                let _ = self.signals.send(down.resolved(t));
            }
            return;
        }
        self.consecutive_failures += 1;
        let reason = report.error.clone().unwrap_or_default();
        if self.consecutive_failures == 1 {
            tracing::warn!(target = %self.target.url, %reason, "scrape failed");
        }
        if self.consecutive_failures >= self.target.down_after.max(1) && self.down.is_none() {
            let mut signal =
                Signal::firing(SignalKind::TargetDown, "target_down", self.target.labels.clone(), self.clock.now());
            signal.value = Some(0.0);
            signal.annotations.insert(
                "summary".into(),
                format!("scrape of {} failed {} times: {reason}", self.target.url, self.consecutive_failures),
            );
            signal.annotations.insert("error".into(), reason);
            let _ = self.signals.send(signal.clone());
            self.down = Some(signal);
        }
    }
}

/// An error with its causes, so "error sending request" says why.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}
