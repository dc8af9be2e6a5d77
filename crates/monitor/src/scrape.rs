//! Prometheus-style scraping: fetch a target's `/metrics`, parse it with our own parser,
//! attach the target's labels, store the samples, and keep `up` honest.
//!
//! A target cannot blind the controller: per-target [`ScrapeLimits`] (Prometheus'
//! `sample_limit`, `body_size_limit`, `label_limit`, `label_name_length_limit`,
//! `label_value_length_limit`) fail a scrape that exceeds them, with the reason and `up` 0,
//! as any failed scrape; the timeout covers the whole scrape, parsing included; and its
//! health series are written with [`Origin::Health`], so the store always takes them.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use model::{Appended, Clock, Labels, Origin, Sample, SampleSink, Signal, SignalKind, SignalSink};
use tokio::time::Instant;

use crate::exposition::ParseLimits;

mod fetch;

pub use fetch::{INLINE_PARSE_MAX, ScrapeError, Stage};

/// Limits on what one scrape of a target may bring, with Prometheus' names and meanings;
/// a scrape over any of them fails. Unlike Prometheus, no limit is "0 = none": each has a
/// finite default, so an unconfigured target is bounded too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrapeLimits {
    /// Most samples one scrape may expose (`sample_limit`).
    pub sample_limit: usize,
    /// Most body bytes (uncompressed) one scrape may return (`body_size_limit`).
    pub body_size_limit: u64,
    /// Most labels of one sample, its metric name and the target's labels included
    /// (`label_limit`).
    pub label_limit: usize,
    /// Longest label name in bytes (`label_name_length_limit`).
    pub label_name_length_limit: usize,
    /// Longest label value (and metric name) in bytes (`label_value_length_limit`).
    pub label_value_length_limit: usize,
}

impl ScrapeLimits {
    /// The defaults: 50,000 samples, 16 MiB, 64 labels, 256-byte names, 4,096-byte values.
    pub const DEFAULT: ScrapeLimits = ScrapeLimits {
        sample_limit: 50_000,
        body_size_limit: 16 * 1024 * 1024,
        label_limit: 64,
        label_name_length_limit: 256,
        label_value_length_limit: 4096,
    };

    /// The limits the exposition parser enforces (the target's labels are counted after it).
    pub fn parse_limits(&self) -> ParseLimits {
        ParseLimits {
            samples: self.sample_limit,
            labels: self.label_limit,
            label_name_length: self.label_name_length_limit,
            label_value_length: self.label_value_length_limit,
        }
    }
}

impl Default for ScrapeLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

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
    /// What one scrape may bring.
    pub limits: ScrapeLimits,
}

/// The result of one scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeReport {
    /// Whether the target answered with a valid exposition within its limits.
    pub up: bool,
    /// Samples the target exposed (0 when the scrape failed).
    pub samples: usize,
    /// Of those, samples the store refused because it is full (new series).
    pub refused: usize,
    /// Body bytes received (never more than one network chunk past `body_size_limit`).
    pub body_bytes: u64,
    /// Why it failed.
    pub error: Option<ScrapeError>,
    /// How long it took, parsing included.
    pub duration: Duration,
}

/// Scrapes one target on its interval until dropped.
pub struct Scraper {
    target: ScrapeTarget,
    client: reqwest::Client,
    store: Arc<dyn SampleSink>,
    clock: Arc<dyn Clock>,
    signals: SignalSink,
    previous: HashSet<Labels>,
    consecutive_failures: u32,
    down: Option<Signal>,
    metrics: model::SelfMetrics,
}

impl Scraper {
    /// A scraper writing into `store` and raising `target_down` on `signals`.
    pub fn new(
        target: ScrapeTarget,
        client: reqwest::Client,
        store: Arc<dyn SampleSink>,
        clock: Arc<dyn Clock>,
        signals: impl Into<SignalSink>,
    ) -> Self {
        let signals = signals.into();
        Self {
            target,
            client,
            store,
            clock,
            signals,
            previous: HashSet::new(),
            consecutive_failures: 0,
            down: None,
            metrics: model::SelfMetrics::default(),
        }
    }

    /// Counts its scrapes and samples into `metrics`.
    pub fn with_metrics(mut self, metrics: model::SelfMetrics) -> Self {
        self.metrics = metrics;
        self
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

    /// One scrape: store what the target exposes, or mark it down and its series stale.
    pub async fn scrape_once(&mut self) -> ScrapeReport {
        let started = Instant::now();
        let t = self.clock.now();
        let request = fetch::Request {
            client: &self.client,
            url: &self.target.url,
            labels: &self.target.labels,
            limits: self.target.limits,
            timeout: self.target.timeout,
            t,
        };
        let fetched = fetch::fetch(request, started).await;
        let duration = started.elapsed();
        let body_bytes = fetched.bytes;
        let report = match fetched.result {
            Ok(batch) => {
                let appended = self.store.append_batch(Origin::Target, &batch);
                let refused = appended.iter().filter(|a| **a == Appended::TooManySeries).count();
                let stored = appended.iter().filter(|a| a.is_stored()).count();
                self.metrics.ingested("scrape", stored as u64);
                self.metrics.rejected("scrape", "too_many_series", refused as u64);
                let out_of_order = appended.len() - stored - refused;
                self.metrics.rejected("scrape", "out_of_order", out_of_order as u64);
                let current: HashSet<Labels> = batch.into_iter().map(|(l, _)| l).collect();
                for gone in self.previous.difference(&current) {
                    self.store.mark_stale(gone, t);
                }
                let samples = current.len();
                self.previous = current;
                ScrapeReport { up: true, samples, refused, body_bytes, error: None, duration }
            }
            Err(error) => {
                for gone in self.previous.drain() {
                    self.store.mark_stale(&gone, t);
                }
                ScrapeReport { up: false, samples: 0, refused: 0, body_bytes, error: Some(error), duration }
            }
        };
        self.metrics.scrape(report.error.as_ref().map_or("success", ScrapeError::reason));
        self.record_health(&report, t);
        report
    }

    /// Writes the target's health series ([`Origin::Health`]: the store always takes them),
    /// then raises or resolves `target_down`.
    fn record_health(&mut self, report: &ScrapeReport, t: i64) {
        // As Prometheus: the body size of a successful scrape, -1 when the body was over
        // its limit, 0 for any other failure.
        let body_size = match &report.error {
            None => report.body_bytes as f64,
            Some(ScrapeError::BodyTooLarge { .. }) => -1.0,
            Some(_) => 0.0,
        };
        let series = [
            ("up", if report.up { 1.0 } else { 0.0 }),
            ("scrape_duration_seconds", report.duration.as_secs_f64()),
            ("scrape_samples_scraped", report.samples as f64),
            ("scrape_series_refused", report.refused as f64),
            ("scrape_sample_limit", self.target.limits.sample_limit as f64),
            ("scrape_body_size_bytes", body_size),
        ]
        .map(|(name, v)| (self.target.labels.clone().with(model::METRIC_NAME, name), Sample { t, v }));
        self.store.append_batch(Origin::Health, &series);
        if report.up {
            self.consecutive_failures = 0;
            if let Some(down) = self.down.take() {
                tracing::info!(target = %self.target.url, "scrape target is back up");
                self.signals.send(down.resolved(t));
            }
            return;
        }
        self.consecutive_failures += 1;
        let reason = report.error.as_ref().map(ToString::to_string).unwrap_or_default();
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
            self.signals.send(signal.clone());
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
