//! Autonomic's own metrics: what every stage counts about itself, served at `/metrics` in
//! the OpenMetrics format and written to the series store (so a rule can alert on the
//! controller itself).
//!
//! Every label value comes from a fixed vocabulary (a reason, a verb, a route, a status
//! code), never from what a caller sent, so the number of series stays bounded.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels1 = [(&'static str, &'static str); 1];
type Labels2 = [(&'static str, &'static str); 2];
type Owned2 = [(&'static str, String); 2];

/// The media type of [`SelfMetrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The controller's own counters. Cheap to clone: every clone counts into the same
/// registry.
#[derive(Clone)]
pub struct SelfMetrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    scrapes: Family<Labels1, Counter>,
    samples_ingested: Family<Labels1, Counter>,
    samples_rejected: Family<Labels2, Counter>,
    http_requests: Family<Owned2, Counter>,
    alerts_received: Family<Labels1, Counter>,
    signals: Family<Labels2, Counter>,
    incidents_open: Gauge,
    incidents_opened: Counter,
    actions: Family<Owned2, Counter>,
    guard_refusals: Family<Labels1, Counter>,
    ladder_steps: Family<Labels1, Counter>,
    query_seconds: Family<Labels1, Histogram>,
    store_series: Gauge,
    store_samples: Gauge,
    store_chunk_bytes: Gauge,
}

impl Default for SelfMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for SelfMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SelfMetrics")
    }
}

impl SelfMetrics {
    /// A fresh set of metrics, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let scrapes = Family::default();
        registry.register("autonomic_scrapes", "Scrapes, by result (success or why it failed)", scrapes.clone());
        let samples_ingested = Family::default();
        registry.register(
            "autonomic_samples_ingested",
            "Samples stored, by source (scrape, probe, remote_write)",
            samples_ingested.clone(),
        );
        let samples_rejected = Family::default();
        registry.register(
            "autonomic_samples_rejected",
            "Samples refused, by source and reason (out_of_order, duplicate_timestamp, too_many_series, invalid, sample_limit)",
            samples_rejected.clone(),
        );
        let http_requests = Family::default();
        registry.register(
            "autonomic_http_requests",
            "Requests to the API, by route and status code",
            http_requests.clone(),
        );
        let alerts_received = Family::default();
        registry.register(
            "autonomic_alertmanager_alerts",
            "Alerts received from Alertmanager, by what became of them (signal, repeat, resolved, unknown_resolved, refused)",
            alerts_received.clone(),
        );
        let signals = Family::default();
        registry.register("autonomic_signals", "Signal edges, by kind and state", signals.clone());
        let incidents_open = Gauge::default();
        registry.register("autonomic_incidents_open", "Incidents open now", incidents_open.clone());
        let incidents_opened = Counter::default();
        registry.register("autonomic_incidents_opened", "Incidents opened", incidents_opened.clone());
        let actions = Family::default();
        registry.register(
            "autonomic_actions",
            "Actions, by verb and outcome (succeeded, failed, dry_run)",
            actions.clone(),
        );
        let guard_refusals = Family::default();
        registry.register("autonomic_guard_refusals", "Actions a guard refused, by guard", guard_refusals.clone());
        let ladder_steps = Family::default();
        registry.register(
            "autonomic_ladder_steps",
            "Ladder steps, by how they ended (verified, not_verified, failed, refused, escalated)",
            ladder_steps.clone(),
        );
        let query_seconds = Family::<Labels1, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_25, 4.0, 10))
        });
        registry.register(
            "autonomic_query_duration_seconds",
            "Time to answer a query of the API, by kind (instant, range)",
            query_seconds.clone(),
        );
        let store_series = Gauge::default();
        registry.register("autonomic_series", "Series in the store", store_series.clone());
        let store_samples = Gauge::default();
        registry.register("autonomic_store_samples", "Samples in the store", store_samples.clone());
        let store_chunk_bytes = Gauge::default();
        registry.register(
            "autonomic_store_chunk_bytes",
            "Bytes of compressed samples in the store's chunks",
            store_chunk_bytes.clone(),
        );
        Self(Arc::new(Inner {
            registry,
            scrapes,
            samples_ingested,
            samples_rejected,
            http_requests,
            alerts_received,
            signals,
            incidents_open,
            incidents_opened,
            actions,
            guard_refusals,
            ladder_steps,
            query_seconds,
            store_series,
            store_samples,
            store_chunk_bytes,
        }))
    }

    /// One scrape ended with `result` (`success`, or a failure reason).
    pub fn scrape(&self, result: &'static str) {
        self.0.scrapes.get_or_create(&[("result", result)]).inc();
    }

    /// `n` samples from `source` stored.
    pub fn ingested(&self, source: &'static str, n: u64) {
        if n > 0 {
            self.0.samples_ingested.get_or_create(&[("source", source)]).inc_by(n);
        }
    }

    /// `n` samples from `source` refused for `reason`.
    pub fn rejected(&self, source: &'static str, reason: &'static str, n: u64) {
        if n > 0 {
            self.0.samples_rejected.get_or_create(&[("source", source), ("reason", reason)]).inc_by(n);
        }
    }

    /// A request to `route` answered with `status`.
    pub fn http_request(&self, route: &'static str, status: u16) {
        self.0.http_requests.get_or_create(&[("route", route.to_owned()), ("code", status.to_string())]).inc();
    }

    /// An alert from Alertmanager, and what became of it.
    pub fn alert(&self, outcome: &'static str) {
        self.0.alerts_received.get_or_create(&[("outcome", outcome)]).inc();
    }

    /// A signal edge of `kind` (`firing` or `resolved`).
    pub fn signal(&self, kind: &'static str, state: &'static str) {
        self.0.signals.get_or_create(&[("kind", kind), ("state", state)]).inc();
    }

    /// An incident opened.
    pub fn incident_opened(&self) {
        self.0.incidents_opened.inc();
    }

    /// Incidents open now.
    pub fn set_incidents_open(&self, n: usize) {
        self.0.incidents_open.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// An action with `verb` ended with `outcome`. Verbs come from actuators' declared
    /// vocabularies, so they are bounded.
    pub fn action(&self, verb: &str, outcome: &'static str) {
        self.0.actions.get_or_create(&[("verb", verb.to_owned()), ("outcome", outcome.to_owned())]).inc();
    }

    /// A guard refused an action.
    pub fn guard_refusal(&self, guard: &'static str) {
        self.0.guard_refusals.get_or_create(&[("guard", guard)]).inc();
    }

    /// A ladder step ended with `outcome`.
    pub fn ladder_step(&self, outcome: &'static str) {
        self.0.ladder_steps.get_or_create(&[("outcome", outcome)]).inc();
    }

    /// A query of `kind` took `took`.
    pub fn query(&self, kind: &'static str, took: Duration) {
        self.0.query_seconds.get_or_create(&[("kind", kind)]).observe(took.as_secs_f64());
    }

    /// The store holds `series` series of `samples` samples in `chunk_bytes` bytes.
    pub fn set_store(&self, series: usize, samples: usize, chunk_bytes: usize) {
        let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        self.0.store_series.set(n(series));
        self.0.store_samples.set(n(samples));
        self.0.store_chunk_bytes.set(n(chunk_bytes));
    }

    /// Everything, in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.0.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_encoded_with_their_labels() {
        let m = SelfMetrics::new();
        m.ingested("remote_write", 3);
        m.ingested("remote_write", 0);
        m.rejected("remote_write", "out_of_order", 2);
        m.http_request("/api/v1/write", 401);
        m.action("restart", "succeeded");
        m.query("instant", Duration::from_millis(3));
        let text = m.clone().encode();
        assert!(text.contains("autonomic_samples_ingested_total{source=\"remote_write\"} 3\n"), "{text}");
        assert!(text.contains("autonomic_samples_rejected_total{source=\"remote_write\",reason=\"out_of_order\"} 2\n"));
        assert!(text.contains("autonomic_http_requests_total{route=\"/api/v1/write\",code=\"401\"} 1\n"));
        assert!(text.contains("autonomic_actions_total{verb=\"restart\",outcome=\"succeeded\"} 1\n"));
        assert!(text.contains("autonomic_query_duration_seconds_count{kind=\"instant\"} 1\n"));
        assert!(text.ends_with("# EOF\n"));
    }
}
