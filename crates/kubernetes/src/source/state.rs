//! What the `kubernetes` source keeps between watch events: each pod's scrape task and the
//! signals firing, so that each edge is sent once and a pod that goes resolves what it
//! raised.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Event as KubeEvent, Pod};
use kube::runtime::watcher::Event;
use model::{Labels, Millis, Origin, Sample, Signal, SignalKind, SignalSink, SourceContext};
use monitor::Scraper;
use tokio::task::JoinHandle;

use super::{KubernetesSource, Observed, SourceSettings, metrics_port};
use crate::workload::{Object, Workload, WorkloadKind};

/// One pod's scrape: the address and the task, and the `target_down` it left firing.
struct PodScrape {
    addr: String,
    task: JoinHandle<()>,
    down: Arc<Mutex<Option<Signal>>>,
}

/// A signal firing, and until when it lasts on its own (for edges the cluster does not
/// resolve: events, OOM kills).
struct Firing {
    signal: Signal,
    until: Option<Millis>,
    pod: Option<String>,
}

pub(super) struct State {
    service: String,
    workload: Workload,
    scrape: Option<monitor::ScrapeTarget>,
    client: reqwest::Client,
    settings: SourceSettings,
    ctx: SourceContext,
    scrapes: HashMap<String, PodScrape>,
    firing: BTreeMap<String, Firing>,
    /// Pods seen since the watch (re)started listing, to forget those it no longer lists.
    listing: Option<Vec<String>>,
    pods: BTreeMap<String, Labels>,
}

impl Drop for State {
    fn drop(&mut self) {
        for (_, s) in self.scrapes.drain() {
            s.task.abort();
        }
    }
}

fn ms(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> Millis {
    t.0.as_millisecond()
}

impl State {
    pub(super) fn new(source: &KubernetesSource, ctx: SourceContext) -> Self {
        let Observed { service, workload, scrape, client, settings } = source.observed();
        Self {
            service: service.to_owned(),
            workload: workload.clone(),
            scrape: scrape.cloned(),
            client: client.clone(),
            settings,
            ctx,
            scrapes: HashMap::new(),
            firing: BTreeMap::new(),
            listing: None,
            pods: BTreeMap::new(),
        }
    }

    fn now(&self) -> Millis {
        self.ctx.clock.now()
    }

    /// Fires (once) or resolves (once) the signal of `name` with `labels`.
    fn edge(&mut self, name: &str, labels: Labels, firing: bool, until: Option<Millis>, pod: Option<&str>) {
        let now = self.now();
        let signal = Signal::firing(SignalKind::Workload, name, labels, now);
        let key = signal.key();
        match (firing, self.firing.get_mut(&key)) {
            (true, Some(f)) => f.until = until.max(f.until),
            (true, None) => {
                tracing::info!(signal = %key, "kubernetes signal firing");
                self.ctx.signals.send(signal.clone());
                self.firing.insert(key, Firing { signal, until, pod: pod.map(str::to_owned) });
            }
            (false, Some(_)) => {
                if let Some(f) = self.firing.remove(&key) {
                    self.ctx.signals.send(f.signal.resolved(now));
                }
            }
            (false, None) => {}
        }
    }

    fn base_labels(&self) -> Labels {
        Labels::from_pairs([("service", self.service.clone()), ("namespace", self.workload.namespace.clone())])
    }

    fn pod_labels(&self, pod: &Pod) -> Labels {
        let mut labels = self.base_labels();
        labels.set("pod", pod.metadata.name.clone().unwrap_or_default());
        if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
            labels.set("node", node);
        }
        labels
    }

    pub(super) fn on_pod(&mut self, event: Event<Pod>) {
        match event {
            Event::Init => self.listing = Some(Vec::new()),
            Event::InitApply(pod) => {
                if let (Some(list), Some(name)) = (self.listing.as_mut(), pod.metadata.name.clone()) {
                    list.push(name);
                }
                self.apply(&pod);
            }
            Event::InitDone => {
                let listed = self.listing.take().unwrap_or_default();
                let gone: Vec<String> = self.pods.keys().filter(|p| !listed.contains(p)).cloned().collect();
                for pod in gone {
                    self.forget(&pod);
                }
            }
            Event::Apply(pod) => self.apply(&pod),
            Event::Delete(pod) => {
                if let Some(name) = pod.metadata.name.as_deref() {
                    self.forget(name);
                }
            }
        }
    }

    fn apply(&mut self, pod: &Pod) {
        let Some(name) = pod.metadata.name.clone() else { return };
        if pod.metadata.deletion_timestamp.is_some() {
            self.forget(&name);
            return;
        }
        let labels = self.pod_labels(pod);
        self.pods.insert(name.clone(), labels.clone());
        self.follow_target(pod, &name, &labels);
        let now = self.now();
        let status = pod.status.clone().unwrap_or_default();
        let mut samples = Vec::new();
        for c in status.container_statuses.iter().flatten() {
            let labels = labels.clone().with("container", c.name.clone());
            let waiting = c.state.as_ref().and_then(|s| s.waiting.as_ref()).and_then(|w| w.reason.as_deref());
            self.edge("CrashLoopBackOff", labels.clone(), waiting == Some("CrashLoopBackOff"), None, Some(&name));
            let oom = c
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .filter(|t| t.reason.as_deref() == Some("OOMKilled"));
            let oom_until =
                oom.map(|t| t.finished_at.as_ref().map_or(now, ms) + self.settings.oom_window.as_millis() as Millis);
            self.edge("OOMKilled", labels.clone(), oom_until.is_some_and(|u| u > now), oom_until, Some(&name));
            let series = |metric: &str| labels.clone().with(model::METRIC_NAME, metric);
            samples.push((
                series("kube_pod_container_status_restarts_total"),
                Sample { t: now, v: f64::from(c.restart_count) },
            ));
            samples.push((
                series("kube_pod_container_status_ready"),
                Sample { t: now, v: if c.ready { 1.0 } else { 0.0 } },
            ));
        }
        if !samples.is_empty() {
            self.ctx.samples.append_batch(Origin::Health, &samples);
        }
    }

    /// Starts (or moves) the pod's scrape when it has an address and a metrics port.
    fn follow_target(&mut self, pod: &Pod, name: &str, labels: &Labels) {
        let Some(proto) = self.scrape.clone() else { return };
        let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone()).filter(|ip| !ip.is_empty());
        let finished =
            pod.status.as_ref().and_then(|s| s.phase.as_deref()).is_some_and(|p| p == "Succeeded" || p == "Failed");
        let addr = match (ip, metrics_port(pod)) {
            _ if finished => None,
            (Some(ip), Some(port)) if ip.contains(':') => Some(format!("[{ip}]:{port}")),
            (Some(ip), Some(port)) => Some(format!("{ip}:{port}")),
            _ => None,
        };
        // A pod that finished, or lost its address or metrics port, is no target.
        let Some(addr) = addr else {
            self.stop_scrape(name);
            return;
        };
        if self.scrapes.get(name).is_some_and(|s| s.addr == addr) {
            return;
        }
        self.stop_scrape(name);
        let mut target = proto.clone();
        target.url = proto.url.replace("{addr}", &addr);
        for (k, v) in labels.iter() {
            target.labels.set(k, v);
        }
        target.labels.set("instance", addr.clone());
        // The scraper's own `target_down` is kept here too, so that a pod that goes takes its
        // signal with it.
        let down: Arc<Mutex<Option<Signal>>> = Arc::default();
        let (sink, seen) = (self.ctx.signals.clone(), down.clone());
        let signals = SignalSink::new(move |s: Signal| {
            let mut last = seen.lock().unwrap_or_else(|p| p.into_inner());
            *last = (s.state == model::SignalState::Firing).then(|| s.clone());
            sink.send(s);
        });
        let scraper =
            Scraper::new(target, self.client.clone(), self.ctx.samples.clone(), self.ctx.clock.clone(), signals)
                .with_metrics(self.ctx.metrics.clone());
        tracing::info!(pod = name, %addr, "kubernetes target");
        let task = tokio::spawn(scraper.run());
        self.scrapes.insert(name.to_owned(), PodScrape { addr, task, down });
    }

    fn stop_scrape(&mut self, pod: &str) {
        if let Some(old) = self.scrapes.remove(pod) {
            old.task.abort();
            let down = old.down.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(signal) = down {
                self.ctx.signals.send(signal.resolved(self.now()));
            }
        }
    }

    /// A pod that went: its target stops, what it raised resolves.
    fn forget(&mut self, pod: &str) {
        self.stop_scrape(pod);
        if self.pods.remove(pod).is_none() && !self.firing.values().any(|f| f.pod.as_deref() == Some(pod)) {
            return;
        }
        let now = self.now();
        let keys: Vec<String> =
            self.firing.iter().filter(|(_, f)| f.pod.as_deref() == Some(pod)).map(|(k, _)| k.clone()).collect();
        for key in keys {
            if let Some(f) = self.firing.remove(&key) {
                self.ctx.signals.send(f.signal.resolved(now));
            }
        }
    }

    /// A `Warning` event about the workload or one of its pods.
    pub(super) fn on_event(&mut self, event: Event<KubeEvent>) {
        let (Event::Apply(e) | Event::InitApply(e)) = event else { return };
        if e.type_.as_deref() != Some("Warning") {
            return;
        }
        let object = &e.involved_object;
        let name = object.name.clone().unwrap_or_default();
        let ours = match object.kind.as_deref() {
            Some("Pod") => self.pods.contains_key(&name) || names_a_pod(&self.workload, &name),
            Some("ReplicaSet") => names_a_replica_set(&self.workload, &name),
            Some("Deployment" | "StatefulSet") => name == self.workload.name,
            _ => false,
        };
        if !ours {
            return;
        }
        // The latest of the times an event can carry: events.k8s.io's series says when a
        // repeated event was last seen, where core's lastTimestamp is left empty.
        let last = [
            e.last_timestamp.as_ref().map(ms),
            e.series.as_ref().and_then(|s| s.last_observed_time.as_ref()).map(|t| t.0.as_millisecond()),
            e.event_time.as_ref().map(|t| t.0.as_millisecond()),
            e.metadata.creation_timestamp.as_ref().map(ms),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or_else(|| self.now());
        let until = last + self.settings.event_window.as_millis() as Millis;
        if until <= self.now() {
            return;
        }
        let reason = e.reason.clone().unwrap_or_else(|| "Warning".into());
        let mut labels = self.base_labels().with("reason", reason.clone());
        let kind = object.kind.clone().unwrap_or_default().to_lowercase();
        labels.set(if kind == "pod" { "pod".to_owned() } else { kind }, name.clone());
        if let Some(message) = e.message.as_deref() {
            tracing::info!(%reason, object = %name, message, "kubernetes warning event");
        }
        let pod = (object.kind.as_deref() == Some("Pod")).then_some(name);
        self.edge(&reason, labels, true, Some(until), pod.as_deref());
    }

    /// Resolves what lasts only a while (events, OOM kills) once its time is up.
    pub(super) fn expire(&mut self) {
        let now = self.now();
        let over: Vec<String> =
            self.firing.iter().filter(|(_, f)| f.until.is_some_and(|u| u <= now)).map(|(k, _)| k.clone()).collect();
        for key in over {
            if let Some(f) = self.firing.remove(&key) {
                self.ctx.signals.send(f.signal.resolved(now));
            }
        }
    }

    /// The workload's rollout: its replica counts as series, and a rollout past its progress
    /// deadline as a signal.
    pub(super) fn on_rollout(&mut self, object: &Object) {
        let rollout = object.rollout();
        let now = self.now();
        let kind = self.workload.kind.as_str();
        let labels = self.base_labels().with(kind, self.workload.name.clone());
        let series = |metric: &str| labels.clone().with(model::METRIC_NAME, format!("kube_{kind}_{metric}"));
        let samples = [
            (series("spec_replicas"), rollout.desired),
            (series("status_replicas_updated"), rollout.updated),
            (series("status_replicas_ready"), rollout.ready),
            (series("status_replicas_available"), rollout.available),
        ]
        .map(|(l, v)| (l, Sample { t: now, v: f64::from(v) }));
        self.ctx.samples.append_batch(Origin::Health, &samples);
        let stalled = rollout
            .condition("Progressing")
            .is_some_and(|c| c.status == "False" && c.reason == "ProgressDeadlineExceeded");
        self.edge("ProgressDeadlineExceeded", labels, stalled, None, None);
    }
}

/// Whether `name` is a name the workload's controller gives its pods (one gone already, an
/// evicted one): `NAME-HASH-SUFFIX` for a Deployment, `NAME-ORDINAL` for a StatefulSet;
/// never another workload's whose name starts the same (`web` and `web-api`).
fn names_a_pod(workload: &Workload, name: &str) -> bool {
    let Some(rest) = name.strip_prefix(&format!("{}-", workload.name)) else { return false };
    match workload.kind {
        WorkloadKind::Deployment => {
            let parts: Vec<&str> = rest.split('-').collect();
            parts.len() == 2 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        }
        WorkloadKind::StatefulSet => !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// Whether `name` is one of the Deployment's ReplicaSets (`NAME-HASH`).
fn names_a_replica_set(workload: &Workload, name: &str) -> bool {
    workload.kind == WorkloadKind::Deployment
        && name
            .strip_prefix(&format!("{}-", workload.name))
            .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(kind: WorkloadKind, name: &str) -> Workload {
        Workload { namespace: "shop".into(), kind, name: name.into(), selector: None }
    }

    #[test]
    fn events_are_matched_to_the_workloads_own_objects_not_to_a_namesake() {
        let web = w(WorkloadKind::Deployment, "web");
        assert!(names_a_pod(&web, "web-7d9f8b6c4d-x2k9p"));
        assert!(!names_a_pod(&web, "web-api-7d9f8b6c4d-x2k9p"), "another Deployment's pod");
        assert!(!names_a_pod(&web, "web-7d9f8b6c4d"));
        assert!(names_a_replica_set(&web, "web-7d9f8b6c4d"));
        assert!(!names_a_replica_set(&web, "web-api-7d9f8b6c4d"));
        let db = w(WorkloadKind::StatefulSet, "db");
        assert!(names_a_pod(&db, "db-0") && names_a_pod(&db, "db-12"));
        assert!(!names_a_pod(&db, "db-replica-0"));
        assert!(!names_a_replica_set(&db, "db-abc"));
    }
}
