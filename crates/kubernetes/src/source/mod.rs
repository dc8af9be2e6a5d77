//! The `kubernetes` source: what the cluster says about a service's workload.
//!
//! - **Discovery.** The workload's pods, followed by a watch (not polling), become scrape
//!   targets: the pod's IP and the port named `metrics` (or annotated
//!   `prometheus.io/port`), labelled `namespace`, `pod`, `node` and `service`; a pod that
//!   goes takes its target, and its `target_down`, with it.
//! - **States as signals** (kind `workload`, named after the cluster's reason): a container
//!   waiting in `CrashLoopBackOff`; one whose last termination was `OOMKilled` (for
//!   [`SourceSettings::oom_window`] after it); a `Warning` event about the workload or its
//!   pods (`BackOff`, `Unhealthy`, `FailedScheduling`, `Evicted`…, for
//!   [`SourceSettings::event_window`] after its last occurrence); a rollout past its
//!   progress deadline (`ProgressDeadlineExceeded`).
//! - **Series**, under kube-state-metrics' names: each container's restart count
//!   (`kube_pod_container_status_restarts_total`, so a rule can alert on restarts rising)
//!   and readiness, and the workload's replica counts.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event as KubeEvent, Pod};
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use model::{BoxFuture, Source, SourceContext};
use monitor::ScrapeTarget;

use crate::cluster::Cluster;
use crate::workload::Workload;

mod state;

use state::State;

/// How long the source's own signals last.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceSettings {
    /// An `OOMKilled` signal fires for this long after the kill.
    pub oom_window: Duration,
    /// A `Warning` event's signal fires for this long after its last occurrence (older
    /// events found at start raise nothing).
    pub event_window: Duration,
    /// How often the workload's rollout is read.
    pub rollout_every: Duration,
}

impl Default for SourceSettings {
    fn default() -> Self {
        Self {
            oom_window: Duration::from_secs(600),
            event_window: Duration::from_secs(120),
            rollout_every: Duration::from_secs(5),
        }
    }
}

/// Observes one service's workload.
#[derive(Clone)]
pub struct KubernetesSource {
    cluster: Cluster,
    service: String,
    workload: Workload,
    scrape: Option<ScrapeTarget>,
    client: reqwest::Client,
    settings: SourceSettings,
}

impl KubernetesSource {
    /// Observes `workload` as `service`. `scrape`, when the service is scraped, is the
    /// target every pod gets: its `url` holds `{addr}` (the pod's IP and metrics port),
    /// its labels are every target's (the pod's own are added).
    pub fn new(
        cluster: Cluster,
        service: impl Into<String>,
        workload: Workload,
        scrape: Option<ScrapeTarget>,
        client: reqwest::Client,
        settings: SourceSettings,
    ) -> Self {
        Self { cluster, service: service.into(), workload, scrape, client, settings }
    }

    /// Waits until the workload can be read, and returns its pods' label selector.
    async fn selector(&self) -> String {
        let mut warned = false;
        loop {
            match self.workload.get(&self.cluster).await {
                Ok(object) => match self.workload.pod_selector(&object) {
                    Some(selector) => return selector,
                    None if !warned => {
                        tracing::error!(workload = %self.workload, "the workload selects no pods");
                        warned = true;
                    }
                    None => {}
                },
                Err(e) if !warned => {
                    tracing::error!(service = %self.service, error = %e, "cannot read the workload; trying again every 5s");
                    warned = true;
                }
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }

    async fn observe(self, ctx: SourceContext) {
        let selector = self.selector().await;
        let ns = &self.workload.namespace;
        let pods: Api<Pod> = Api::namespaced(self.cluster.client.clone(), ns);
        let events: Api<KubeEvent> = Api::namespaced(self.cluster.client.clone(), ns);
        let mut pods = watcher(pods, watcher::Config::default().labels(&selector)).default_backoff().boxed();
        let mut events = watcher(events, watcher::Config::default().fields("type=Warning")).default_backoff().boxed();
        let mut state = State::new(&self, ctx);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut rollout = tokio::time::interval(self.settings.rollout_every);
        loop {
            tokio::select! {
                Some(event) = pods.next() => match event {
                    Ok(e) => state.on_pod(e),
                    Err(e) => tracing::warn!(workload = %self.workload, error = %e, "pod watch (resumed with backoff)"),
                },
                Some(event) = events.next() => match event {
                    Ok(e) => state.on_event(e),
                    Err(e) => tracing::warn!(workload = %self.workload, error = %e, "event watch (resumed with backoff)"),
                },
                _ = tick.tick() => state.expire(),
                _ = rollout.tick() => match self.workload.get(&self.cluster).await {
                    Ok(object) => state.on_rollout(&object),
                    Err(e) => tracing::warn!(workload = %self.workload, error = %e, "cannot read the rollout"),
                },
            }
        }
    }
}

impl Source for KubernetesSource {
    fn type_name(&self) -> &'static str {
        "kubernetes"
    }

    fn name(&self) -> String {
        format!("kubernetes {}", self.workload)
    }

    fn run(&self, ctx: SourceContext) -> BoxFuture<'static, ()> {
        Box::pin(self.clone().observe(ctx))
    }
}

/// Where a pod serves its metrics: the `prometheus.io/port` annotation, else the port of
/// its containers named `metrics`.
pub fn metrics_port(pod: &Pod) -> Option<u16> {
    if let Some(port) = pod.metadata.annotations.as_ref().and_then(|a| a.get("prometheus.io/port")) {
        return port.trim().parse().ok().filter(|p| *p != 0);
    }
    let containers = pod.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or_default();
    containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some("metrics"))
        .and_then(|p| u16::try_from(p.container_port).ok())
        .filter(|p| *p != 0)
}

/// The source's view for [`State`].
pub(crate) struct Observed<'a> {
    pub service: &'a str,
    pub workload: &'a Workload,
    pub scrape: Option<&'a ScrapeTarget>,
    pub client: &'a reqwest::Client,
    pub settings: SourceSettings,
}

impl KubernetesSource {
    pub(crate) fn observed(&self) -> Observed<'_> {
        Observed {
            service: &self.service,
            workload: &self.workload,
            scrape: self.scrape.as_ref(),
            client: &self.client,
            settings: self.settings,
        }
    }
}
