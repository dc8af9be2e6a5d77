//! Health probes: HTTP or TCP checks with timeouts and thresholds, like Kubernetes'
//! liveness probes. Each result is stored as `probe_success` / `probe_duration_seconds`;
//! crossing the failure threshold raises a `probe_failed` signal.

use std::sync::Arc;
use std::time::Duration;

use model::{Clock, Labels, Origin, Sample, SampleSink, Signal, SignalKind, SignalSink};
use tokio::time::Instant;

use crate::scrape::error_chain;

/// What a probe checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeCheck {
    /// `GET url` must answer 2xx within the timeout.
    Http {
        /// The URL.
        url: String,
    },
    /// A TCP connection to `addr` must open within the timeout.
    Tcp {
        /// `host:port`.
        addr: String,
    },
}

impl std::fmt::Display for ProbeCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http { url } => write!(f, "GET {url}"),
            Self::Tcp { addr } => write!(f, "tcp {addr}"),
        }
    }
}

/// One probe of one endpoint.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    /// What to check.
    pub check: ProbeCheck,
    /// Labels of the probed replica (`service`, `instance`, …).
    pub labels: Labels,
    /// Time between probes.
    pub period: Duration,
    /// Time one probe may take.
    pub timeout: Duration,
    /// Consecutive failures before `probe_failed` fires.
    pub failure_threshold: u32,
    /// Consecutive successes before it resolves.
    pub success_threshold: u32,
}

/// Runs a check once.
pub async fn probe_once(client: &reqwest::Client, check: &ProbeCheck, timeout: Duration) -> Result<(), String> {
    match check {
        ProbeCheck::Http { url } => match tokio::time::timeout(timeout, client.get(url).send()).await {
            Err(_) => Err(format!("timeout after {}ms", timeout.as_millis())),
            Ok(Err(e)) => Err(error_chain(&e)),
            Ok(Ok(r)) if r.status().is_success() => Ok(()),
            Ok(Ok(r)) => Err(format!("answered {}", r.status())),
        },
        ProbeCheck::Tcp { addr } => match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
            Err(_) => Err(format!("timeout after {}ms", timeout.as_millis())),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(_)) => Ok(()),
        },
    }
}

/// Probes one endpoint on its period until dropped.
pub struct Prober {
    spec: ProbeSpec,
    client: reqwest::Client,
    store: Arc<dyn SampleSink>,
    clock: Arc<dyn Clock>,
    signals: SignalSink,
    failures: u32,
    successes: u32,
    firing: Option<Signal>,
}

impl Prober {
    /// A prober writing into `store` and raising `probe_failed` on `signals`.
    pub fn new(
        spec: ProbeSpec,
        client: reqwest::Client,
        store: Arc<dyn SampleSink>,
        clock: Arc<dyn Clock>,
        signals: impl Into<SignalSink>,
    ) -> Self {
        let signals = signals.into();
        Self { spec, client, store, clock, signals, failures: 0, successes: 0, firing: None }
    }

    /// Probes forever on the period.
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(self.spec.period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let _ = self.probe().await;
        }
    }

    /// One probe; returns its result.
    pub async fn probe(&mut self) -> Result<(), String> {
        let started = Instant::now();
        let t = self.clock.now();
        let result = probe_once(&self.client, &self.spec.check, self.spec.timeout).await;
        let success = self.spec.labels.clone().with(model::METRIC_NAME, "probe_success");
        let duration = self.spec.labels.clone().with(model::METRIC_NAME, "probe_duration_seconds");
        // Health series: the store takes them even when targets have filled it.
        self.store.append_batch(
            Origin::Health,
            &[
                (success, Sample { t, v: if result.is_ok() { 1.0 } else { 0.0 } }),
                (duration, Sample { t, v: started.elapsed().as_secs_f64() }),
            ],
        );
        match &result {
            Ok(()) => {
                self.failures = 0;
                self.successes += 1;
                if self.successes >= self.spec.success_threshold.max(1)
                    && let Some(firing) = self.firing.take()
                {
                    self.signals.send(firing.resolved(t));
                }
            }
            Err(reason) => {
                self.successes = 0;
                self.failures += 1;
                if self.failures >= self.spec.failure_threshold.max(1) && self.firing.is_none() {
                    let mut signal = Signal::firing(
                        SignalKind::ProbeFailed,
                        "probe_failed",
                        self.spec.labels.clone(),
                        self.clock.now(),
                    );
                    signal.value = Some(0.0);
                    signal.annotations.insert(
                        "summary".into(),
                        format!("health probe {} failed {} times: {reason}", self.spec.check, self.failures),
                    );
                    self.signals.send(signal.clone());
                    self.firing = Some(signal);
                }
            }
        }
        result
    }

    /// Forgets past results, as a kubelet does when it restarts a container.
    pub fn reset(&mut self) {
        self.failures = 0;
        self.successes = 0;
    }
}
