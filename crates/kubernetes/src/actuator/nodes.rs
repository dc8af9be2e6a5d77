//! The verbs on nodes: cordon, uncordon, and drain through the Eviction API.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{EvictParams, ListParams, Patch, PatchParams};
use model::{Action, Target};
use serde_json::json;

use super::{CONFLICT_RETRIES, DEFAULT_DRAIN_TIMEOUT, KubernetesActuator, Refusal, VerbResult, parse_timeout};
use crate::cluster::ApiError;
use crate::record::{ACTIONS, ActionRecord};
use crate::workload::Workload;

impl KubernetesActuator {
    /// The node a node verb acts on: the step's `node`, or the node of the pod the incident
    /// names.
    async fn node_of(&self, w: &Workload, action: &Action) -> Result<String, Refusal> {
        if let Some(node) = action.param("node") {
            return Ok(node.to_owned());
        }
        let Target::Named(pod) = &action.target else {
            return Err(Refusal::Failed(format!(
                "`{}` needs `node:`, or `scope: replica` on an incident whose signal names a pod",
                action.verb
            )));
        };
        let api: Api<Pod> = Api::namespaced(self.cluster.client.clone(), &w.namespace);
        let found = self.cluster.call(|| format!("get pod {}/{pod}", w.namespace), api.get(pod)).await?;
        found.spec.and_then(|s| s.node_name).ok_or_else(|| Refusal::Failed(format!("pod {pod} runs on no node yet")))
    }

    /// Marks `node` (un)schedulable, recording the action on it; `None` when another
    /// replica already took this step.
    async fn set_unschedulable(&self, node: &str, action: &Action, on: bool) -> Result<Option<String>, ApiError> {
        let api: Api<Node> = Api::all(self.cluster.client.clone());
        let mut last = None;
        // A node's status changes every heartbeat: a conflict is tried again, fresh.
        for _ in 0..CONFLICT_RETRIES {
            let current = self.cluster.call(|| format!("get node {node}"), api.get(node)).await?;
            if let Some(r) = ActionRecord::taking(current.metadata.annotations.as_ref(), action, self.clock.now()) {
                return Ok(Some(format!("not repeated: {} already took this step ({})", r.by, r.detail)));
            }
            let detail = format!("{} node {node}", if on { "cordoned" } else { "uncordoned" });
            let mut metadata = json!({ "resourceVersion": current.metadata.resource_version });
            if let Some(r) = ActionRecord::of(action, &self.identity, self.clock.now(), &detail) {
                metadata["annotations"] = json!({ ACTIONS: r.appended_to(current.metadata.annotations.as_ref()) });
            }
            let patch = json!({ "metadata": metadata, "spec": { "unschedulable": on } });
            let what = || format!("{} node {node}", if on { "cordon" } else { "uncordon" });
            let params = PatchParams::default();
            match self.cluster.call(what, api.patch(node, &params, &Patch::Merge(&patch))).await {
                Ok(_) => return Ok(None),
                Err(e @ ApiError::Conflict { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ApiError::Conflict { what: format!("patch node {node}"), message: String::new() }))
    }

    pub(super) async fn cordon(&self, w: &Workload, action: &Action, on: bool) -> VerbResult {
        let node = self.node_of(w, action).await?;
        match self.set_unschedulable(&node, action, on).await? {
            Some(adopted) => Ok(adopted),
            None => Ok(format!("{} node {node}", if on { "cordoned" } else { "uncordoned" })),
        }
    }

    /// Cordons the node, then evicts its pods (not DaemonSet pods or static pods, which
    /// would come straight back) until none is left or the deadline passes. An eviction a
    /// PodDisruptionBudget refuses (429) is tried again each poll; nothing is deleted in its
    /// place.
    pub(super) async fn drain(&self, w: &Workload, action: &Action) -> VerbResult {
        let timeout = match action.param("timeout") {
            Some(t) => parse_timeout(t).map_err(Refusal::Failed)?,
            None => DEFAULT_DRAIN_TIMEOUT,
        };
        let node = self.node_of(w, action).await?;
        // A drain another replica started may not have finished: evictions are safe to
        // repeat, so a drain is always carried on to the end, never adopted.
        if let Some(adopted) = self.set_unschedulable(&node, action, true).await? {
            tracing::info!(node, %adopted, "carrying on a drain another replica started");
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let pods: Api<Pod> = Api::all(self.cluster.client.clone());
        let on_node = ListParams::default().fields(&format!("spec.nodeName={node}"));
        let mut evicted: BTreeSet<(String, String)> = BTreeSet::new();
        let mut last_refusal: Option<String> = None;
        loop {
            let list = self.cluster.call(|| format!("list pods on node {node}"), pods.list(&on_node)).await?;
            let left: Vec<&Pod> = list.items.iter().filter(|p| evictable(p)).collect();
            if left.is_empty() {
                return Ok(format!(
                    "drained node {node}: {} pods evicted{}",
                    evicted.len(),
                    last_refusal
                        .map(|r| format!(" (evictions waited on a disruption budget: {r})"))
                        .unwrap_or_default()
                ));
            }
            // As `kubectl drain` without --force: a pod no controller would make again, or one
            // whose emptyDir data would be lost, is not evicted, and the drain fails.
            if let Some(why) = left.iter().find_map(|p| unsafe_to_evict(p)) {
                return Err(Refusal::Failed(format!("drain of node {node} refused: {why}; nothing was forced")));
            }
            for pod in &left {
                let (Some(ns), Some(name)) = (pod.metadata.namespace.clone(), pod.metadata.name.clone()) else {
                    continue;
                };
                if pod.metadata.deletion_timestamp.is_some() || evicted.contains(&(ns.clone(), name.clone())) {
                    continue;
                }
                let api: Api<Pod> = Api::namespaced(self.cluster.client.clone(), &ns);
                let what = || format!("evict pod {ns}/{name}");
                match self.cluster.call(what, api.evict(&name, &EvictParams::default())).await {
                    Ok(_) => {
                        tracing::info!(node, pod = %name, namespace = %ns, "evicted");
                        evicted.insert((ns, name));
                    }
                    Err(ApiError::TooManyRequests { message, .. }) => {
                        last_refusal = Some(format!("pod {ns}/{name}: {message}"));
                    }
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                let names: Vec<String> = left
                    .iter()
                    .filter_map(|p| {
                        Some(format!("{}/{}", p.metadata.namespace.as_deref()?, p.metadata.name.as_deref()?))
                    })
                    .collect();
                return Err(Refusal::Failed(format!(
                    "drain of node {node} did not finish within {}: {} pods left ({}){}; nothing was forced",
                    model::format_duration(timeout),
                    names.len(),
                    names.join(", "),
                    last_refusal.map(|r| format!("; the last refused eviction: {r}")).unwrap_or_default()
                )));
            }
            tokio::time::sleep(self.poll.min(deadline - now).max(Duration::from_millis(10))).await;
        }
    }
}

/// Whether a pod on a node being drained must leave it: not a DaemonSet's (it tolerates the
/// cordon and would come back), not a static pod (the kubelet owns it), not finished.
fn evictable(pod: &Pod) -> bool {
    let daemon = pod.metadata.owner_references.iter().flatten().any(|o| o.kind == "DaemonSet");
    let mirror = pod.metadata.annotations.as_ref().is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
    let finished =
        pod.status.as_ref().and_then(|s| s.phase.as_deref()).is_some_and(|p| p == "Succeeded" || p == "Failed");
    !daemon && !mirror && !finished
}

/// Why evicting `pod` would lose something, if it would.
fn unsafe_to_evict(pod: &Pod) -> Option<String> {
    let name = format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    );
    let managed = pod.metadata.owner_references.iter().flatten().any(|o| o.controller == Some(true));
    if !managed {
        return Some(format!("pod {name} is managed by no controller: evicting it would delete it for good"));
    }
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
    if let Some(v) = volumes.into_iter().flatten().find(|v| v.empty_dir.is_some()) {
        return Some(format!("pod {name} keeps data in the emptyDir volume {}, which eviction would delete", v.name));
    }
    None
}
