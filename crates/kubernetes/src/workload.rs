//! A service's workload in the cluster, and what can be read of it: its rollout, its pods,
//! and its revisions (from ReplicaSets for a Deployment, ControllerRevisions for a
//! StatefulSet), as `kubectl rollout status` and `kubectl rollout history` read them.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::Api;
use kube::api::ListParams;
use model::{Condition, ReplicaState, ReplicaStatus, RolloutStatus};

use crate::cluster::{ApiError, Cluster};

/// The annotation in which a Deployment and its ReplicaSets carry their revision.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The label the Deployment controller adds to a ReplicaSet's template (not part of a
/// revision's template as the user wrote it).
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// What kind of workload a service is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
}

impl WorkloadKind {
    /// Its name in messages and the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "deployment",
            Self::StatefulSet => "statefulset",
        }
    }
}

/// A service's workload (`kubernetes: { namespace: shop, deployment: checkout }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Its namespace.
    pub namespace: String,
    /// Deployment or StatefulSet.
    pub kind: WorkloadKind,
    /// Its name.
    pub name: String,
    /// A label selector for its pods narrower than the workload's own (`track=stable`);
    /// `None`: the workload's selector.
    pub selector: Option<String>,
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind.as_str(), self.namespace, self.name)
    }
}

/// A workload as read from the API server, either kind.
#[derive(Debug, Clone)]
pub enum Object {
    /// A Deployment.
    Deployment(Box<Deployment>),
    /// A StatefulSet.
    StatefulSet(Box<StatefulSet>),
}

impl Object {
    /// Its metadata.
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Self::Deployment(d) => &d.metadata,
            Self::StatefulSet(s) => &s.metadata,
        }
    }

    /// One of its annotations.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.meta().annotations.as_ref()?.get(key).map(String::as_str)
    }

    /// Its pod template.
    pub fn template(&self) -> Option<&PodTemplateSpec> {
        match self {
            Self::Deployment(d) => d.spec.as_ref().map(|s| &s.template),
            Self::StatefulSet(s) => s.spec.as_ref().map(|s| &s.template),
        }
    }

    /// The label selector of its pods, as the API's `labelSelector` parameter.
    pub fn selector(&self) -> Option<String> {
        let selector = match self {
            Self::Deployment(d) => &d.spec.as_ref()?.selector,
            Self::StatefulSet(s) => &s.spec.as_ref()?.selector,
        };
        selector_string(selector)
    }

    /// Replicas wanted.
    pub fn desired(&self) -> u32 {
        let replicas = match self {
            Self::Deployment(d) => d.spec.as_ref().and_then(|s| s.replicas),
            Self::StatefulSet(s) => s.spec.as_ref().and_then(|s| s.replicas),
        };
        count(replicas.or(Some(1)))
    }

    /// Where its rollout stands.
    pub fn rollout(&self) -> RolloutStatus {
        let generation = self.meta().generation.unwrap_or(0);
        match self {
            Self::Deployment(d) => {
                let s = d.status.clone().unwrap_or_default();
                RolloutStatus {
                    desired: self.desired(),
                    current: count(s.replicas),
                    updated: count(s.updated_replicas),
                    ready: count(s.ready_replicas),
                    available: count(s.available_replicas),
                    generation,
                    observed_generation: s.observed_generation.unwrap_or(0),
                    revision: self.annotation(REVISION).map(str::to_owned),
                    conditions: s
                        .conditions
                        .unwrap_or_default()
                        .into_iter()
                        .map(|c| condition(c.type_, c.status, c.reason, c.message))
                        .collect(),
                }
            }
            Self::StatefulSet(st) => {
                let s = st.status.clone().unwrap_or_default();
                // A StatefulSet is rolled out when every pod runs the update revision.
                let updated = if s.update_revision.is_some() && s.update_revision == s.current_revision {
                    count(s.current_replicas)
                } else {
                    count(s.updated_replicas)
                };
                RolloutStatus {
                    desired: self.desired(),
                    current: u32::try_from(s.replicas).unwrap_or(0),
                    updated,
                    ready: count(s.ready_replicas),
                    available: count(s.available_replicas),
                    generation,
                    observed_generation: s.observed_generation.unwrap_or(0),
                    revision: s.update_revision.clone(),
                    conditions: s
                        .conditions
                        .unwrap_or_default()
                        .into_iter()
                        .map(|c| condition(c.type_, c.status, c.reason, c.message))
                        .collect(),
                }
            }
        }
    }
}

fn condition(kind: String, status: String, reason: Option<String>, message: Option<String>) -> Condition {
    Condition { kind, status, reason: reason.unwrap_or_default(), message: message.unwrap_or_default() }
}

fn count(n: Option<i32>) -> u32 {
    n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

/// A label selector as the API's `labelSelector` parameter (`app=checkout,tier in (web)`);
/// `None` for one that selects nothing (no terms at all).
pub fn selector_string(selector: &LabelSelector) -> Option<String> {
    let mut terms: Vec<String> = Vec::new();
    for (k, v) in selector.match_labels.iter().flatten() {
        terms.push(format!("{k}={v}"));
    }
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        terms.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            _ => continue,
        });
    }
    (!terms.is_empty()).then(|| terms.join(","))
}

/// One revision of a workload: a ReplicaSet of a Deployment, a ControllerRevision of a
/// StatefulSet.
#[derive(Debug, Clone)]
pub struct Revision {
    /// Its number.
    pub number: i64,
    /// The object that holds it (the ReplicaSet's or ControllerRevision's name).
    pub name: String,
    /// When it was made, in Unix milliseconds.
    pub created: model::Millis,
    /// Its pod template, as the user wrote it (a Deployment's; the controller's own
    /// `pod-template-hash` label removed).
    pub template: Option<PodTemplateSpec>,
    /// A StatefulSet revision's patch of the pod template (`data`).
    pub patch: Option<serde_json::Value>,
}

impl Revision {
    /// The images its pod template runs, for messages (`shop/checkout:v2`).
    pub fn images(&self) -> String {
        match &self.template {
            Some(t) => images(t),
            None => self
                .patch
                .as_ref()
                .and_then(|p| p.pointer("/spec/template/spec/containers"))
                .and_then(|c| c.as_array())
                .map(|cs| cs.iter().filter_map(|c| c.get("image")?.as_str()).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
        }
    }
}

/// The images a pod template runs, comma-separated.
pub fn images(template: &PodTemplateSpec) -> String {
    let containers = template.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or_default();
    containers.iter().filter_map(|c| c.image.as_deref()).collect::<Vec<_>>().join(", ")
}

fn millis(meta: &ObjectMeta) -> model::Millis {
    meta.creation_timestamp.as_ref().map_or(0, |t| t.0.as_millisecond())
}

fn owned_by(meta: &ObjectMeta, owner: &ObjectMeta) -> bool {
    let Some(uid) = owner.uid.as_deref() else { return false };
    meta.owner_references.iter().flatten().any(|r| r.uid == uid && r.controller == Some(true))
}

impl Workload {
    /// Reads the workload.
    pub async fn get(&self, cluster: &Cluster) -> Result<Object, ApiError> {
        let what = || format!("get {self}");
        match self.kind {
            WorkloadKind::Deployment => {
                let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &self.namespace);
                cluster.call(what, api.get(&self.name)).await.map(|d| Object::Deployment(Box::new(d)))
            }
            WorkloadKind::StatefulSet => {
                let api: Api<StatefulSet> = Api::namespaced(cluster.client.clone(), &self.namespace);
                cluster.call(what, api.get(&self.name)).await.map(|s| Object::StatefulSet(Box::new(s)))
            }
        }
    }

    /// The label selector of its pods: the configured one with the workload's own.
    pub fn pod_selector(&self, object: &Object) -> Option<String> {
        match (object.selector(), &self.selector) {
            (Some(own), Some(extra)) => Some(format!("{own},{extra}")),
            (own, extra) => own.or_else(|| extra.clone()),
        }
    }

    /// Its pods, by name.
    pub async fn pods(&self, cluster: &Cluster, object: &Object) -> Result<Vec<Pod>, ApiError> {
        let Some(selector) = self.pod_selector(object) else { return Ok(Vec::new()) };
        let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &self.namespace);
        let params = ListParams::default().labels(&selector);
        let list = cluster.call(|| format!("list pods of {self} ({selector})"), api.list(&params)).await?;
        let mut pods = list.items;
        pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        Ok(pods)
    }

    /// Its revisions, oldest first.
    pub async fn revisions(&self, cluster: &Cluster, object: &Object) -> Result<Vec<Revision>, ApiError> {
        let selector = object.selector().unwrap_or_default();
        let params = ListParams::default().labels(&selector);
        let mut out = match self.kind {
            WorkloadKind::Deployment => {
                let api: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), &self.namespace);
                let list = cluster.call(|| format!("list replicasets of {self}"), api.list(&params)).await?;
                list.items
                    .into_iter()
                    .filter(|rs| owned_by(&rs.metadata, object.meta()))
                    .filter_map(|rs| {
                        let number = rs.metadata.annotations.as_ref()?.get(REVISION)?.parse().ok()?;
                        let mut template = rs.spec.as_ref().and_then(|s| s.template.clone());
                        if let Some(labels) = template.as_mut().and_then(|t| t.metadata.as_mut()?.labels.as_mut()) {
                            labels.remove(POD_TEMPLATE_HASH);
                        }
                        Some(Revision {
                            number,
                            name: rs.metadata.name.clone().unwrap_or_default(),
                            created: millis(&rs.metadata),
                            template,
                            patch: None,
                        })
                    })
                    .collect::<Vec<_>>()
            }
            WorkloadKind::StatefulSet => {
                let api: Api<ControllerRevision> = Api::namespaced(cluster.client.clone(), &self.namespace);
                let list = cluster.call(|| format!("list controllerrevisions of {self}"), api.list(&params)).await?;
                list.items
                    .into_iter()
                    .filter(|r| owned_by(&r.metadata, object.meta()))
                    .map(|r| Revision {
                        number: r.revision,
                        name: r.metadata.name.clone().unwrap_or_default(),
                        created: millis(&r.metadata),
                        template: None,
                        patch: r.data.map(|d| d.0),
                    })
                    .collect()
            }
        };
        out.sort_by_key(|r| r.number);
        Ok(out)
    }
}

/// The revision a workload runs now: a Deployment's revision annotation, the ControllerRevision a StatefulSet
/// updates to.
pub fn current_revision(object: &Object, revisions: &[Revision]) -> Option<i64> {
    match object {
        Object::Deployment(_) => object.annotation(REVISION)?.parse().ok(),
        Object::StatefulSet(s) => {
            let name = s.status.as_ref()?.update_revision.as_deref()?;
            revisions.iter().find(|r| r.name == name).map(|r| r.number)
        }
    }
}

/// One pod as a replica: running when ready; backing off while a container waits to start
/// again (`CrashLoopBackOff`) or the pod is not ready yet; failed when its phase says so;
/// stopped while it terminates.
pub fn replica_status(pod: &Pod) -> ReplicaStatus {
    let status = pod.status.clone().unwrap_or_default();
    let containers = status.container_statuses.clone().unwrap_or_default();
    let restarts: i64 = containers.iter().map(|c| i64::from(c.restart_count.max(0))).sum();
    let ready = status.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
    let state = if pod.metadata.deletion_timestamp.is_some() {
        ReplicaState::Stopped
    } else {
        match status.phase.as_deref() {
            Some("Failed") => ReplicaState::Failed,
            Some("Succeeded") => ReplicaState::Stopped,
            _ if ready => ReplicaState::Running,
            _ => ReplicaState::BackingOff,
        }
    };
    let labels: BTreeMap<String, String> = pod.metadata.labels.clone().unwrap_or_default();
    let release =
        labels.get(POD_TEMPLATE_HASH).or_else(|| labels.get("controller-revision-hash")).cloned().unwrap_or_default();
    ReplicaStatus { state, pid: None, release, starts: u32::try_from(restarts.saturating_add(1)).unwrap_or(u32::MAX) }
}
