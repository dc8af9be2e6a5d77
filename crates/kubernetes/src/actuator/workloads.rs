//! The verbs on a service's workload: restart (rolling, or one pod), rollback, scale.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use model::{Action, Target};
use serde_json::json;

use super::{
    CONFLICT_RETRIES, KubernetesActuator, Refusal, VerbResult, bounds, parse_count, parse_delta, parse_revision,
};
use crate::cluster::ApiError;
use crate::record::{ACTIONS, ActionRecord};
use crate::workload::{self, Object, Workload, WorkloadKind};

/// The pod-template annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

impl KubernetesActuator {
    /// The record of `action` as it is about to be taken.
    fn record(&self, action: &Action, detail: &str) -> Option<ActionRecord> {
        ActionRecord::of(action, &self.identity, self.clock.now(), detail)
    }

    /// Whether another replica already took this step, said as the outcome's detail.
    fn adopted(&self, object: &Object, action: &Action) -> Option<String> {
        let record = ActionRecord::taking(object.meta().annotations.as_ref(), action, self.clock.now())?;
        Some(format!(
            "not repeated: {} already took this step at {} ({})",
            record.by,
            crate::rfc3339(record.at),
            record.detail
        ))
    }

    /// A merge patch of the workload: `spec`, the action's record, and the resource version
    /// read, so that a change made since fails as a conflict instead of being overwritten.
    async fn patch_workload(
        &self,
        w: &Workload,
        object: &Object,
        record: Option<&ActionRecord>,
        spec: serde_json::Value,
    ) -> Result<(), ApiError> {
        let mut metadata = json!({ "resourceVersion": object.meta().resource_version });
        if let Some(r) = record {
            metadata["annotations"] = json!({ ACTIONS: r.appended_to(object.meta().annotations.as_ref()) });
        }
        let patch = json!({ "metadata": metadata, "spec": spec });
        let params = PatchParams::default();
        let what = || format!("patch {w}");
        let client = self.cluster.client.clone();
        match w.kind {
            WorkloadKind::Deployment => {
                let api: Api<Deployment> = Api::namespaced(client, &w.namespace);
                self.cluster.call(what, api.patch(&w.name, &params, &Patch::Merge(&patch))).await.map(drop)
            }
            WorkloadKind::StatefulSet => {
                let api: Api<StatefulSet> = Api::namespaced(client, &w.namespace);
                self.cluster.call(what, api.patch(&w.name, &params, &Patch::Merge(&patch))).await.map(drop)
            }
        }
    }

    pub(super) async fn restart(&self, w: &Workload, action: &Action) -> VerbResult {
        if let Target::One(i) = action.target {
            return Err(Refusal::Failed(format!(
                "{w}: pods are named, not numbered (asked for replica {i}); the incident's signal must carry a `pod` label"
            )));
        }
        for _ in 0..CONFLICT_RETRIES {
            let object = w.get(&self.cluster).await?;
            if let Some(done) = self.adopted(&object, action) {
                return Ok(done);
            }
            let result = match &action.target {
                Target::Named(pod) => self.delete_pod(w, &object, action, pod).await,
                _ => {
                    let now = crate::rfc3339(self.clock.now());
                    let detail = format!("rolling restart of {w} (restartedAt {now})");
                    let spec = json!({ "template": { "metadata": { "annotations": { RESTARTED_AT: now } } } });
                    self.patch_workload(w, &object, self.record(action, &detail).as_ref(), spec).await.map(|()| detail)
                }
            };
            match result {
                Err(ApiError::Conflict { .. }) => continue,
                other => return other.map_err(Refusal::from),
            }
        }
        Err(Refusal::Failed(format!("{w} kept changing: {CONFLICT_RETRIES} conflicting updates in a row")))
    }

    /// Deletes one pod of the workload (its controller makes another), after recording the
    /// action on the workload.
    async fn delete_pod(&self, w: &Workload, object: &Object, action: &Action, pod: &str) -> Result<String, ApiError> {
        let pods = w.pods(&self.cluster, object).await?;
        let Some(found) = pods.iter().find(|p| p.metadata.name.as_deref() == Some(pod)) else {
            let names: Vec<&str> = pods.iter().filter_map(|p| p.metadata.name.as_deref()).collect();
            return Err(ApiError::NotFound {
                what: format!("pod {pod} of {w}"),
                message: format!("its pods are: {}", if names.is_empty() { "none".into() } else { names.join(", ") }),
            });
        };
        let node = found.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_else(|| "no node".into());
        let detail = format!("deleted pod {pod} (on {node}); its {} makes another", w.kind.as_str());
        // Deleted first, recorded after: a replica that takes over between the two finds the
        // pod gone (its own attempt answers 404, which counts as done) rather than a record
        // of a deletion that never happened.
        let api: Api<Pod> = Api::namespaced(self.cluster.client.clone(), &w.namespace);
        let what = || format!("delete pod {}/{pod}", w.namespace);
        let detail = match self.cluster.call(what, api.delete(pod, &DeleteParams::default())).await {
            Ok(_) => detail,
            Err(e) if e.is_not_found() => format!("{detail} (it was already gone)"),
            Err(e) => return Err(e),
        };
        if let Err(e) = self.patch_workload(w, object, self.record(action, &detail).as_ref(), json!({})).await {
            tracing::warn!(workload = %w, error = %e, "the pod was deleted but the action could not be recorded on the workload");
        }
        Ok(detail)
    }

    pub(super) async fn rollback(&self, w: &Workload, action: &Action) -> VerbResult {
        let wanted = action.param("revision").map(parse_revision).transpose().map_err(Refusal::Failed)?;
        for _ in 0..CONFLICT_RETRIES {
            let object = w.get(&self.cluster).await?;
            if let Some(done) = self.adopted(&object, action) {
                return Ok(done);
            }
            let revisions = w.revisions(&self.cluster, &object).await?;
            let current = workload::current_revision(&object, &revisions);
            if current.is_none() && wanted.is_none() {
                return Err(Refusal::Failed(format!(
                    "cannot tell which revision {w} runs (its controller has not recorded one yet): give `revision:`"
                )));
            }
            let numbers: Vec<String> = revisions.iter().map(|r| r.number.to_string()).collect();
            let target = match wanted {
                Some(n) => revisions.iter().find(|r| r.number == n).ok_or_else(|| {
                    Refusal::Failed(format!("{w} has no revision {n}; it has: {}", numbers.join(", ")))
                })?,
                None => revisions.iter().rev().find(|r| current.is_none_or(|c| r.number < c)).ok_or_else(|| {
                    let only = current.map_or_else(|| "none".to_owned(), |c| c.to_string());
                    Refusal::Failed(format!("{w} has no previous revision to roll back to (current revision: {only})"))
                })?,
            };
            let from = match current.and_then(|c| revisions.iter().find(|r| r.number == c)) {
                Some(r) => format!("revision {} ({})", r.number, r.images()),
                None => "its current template".to_owned(),
            };
            if Some(target.number) == current {
                return Err(Refusal::Failed(format!("{w} already runs revision {}", target.number)));
            }
            let detail = format!("rolled back {w} from {from} to revision {} ({})", target.number, target.images());
            let record = self.record(action, &detail);
            let result = match &object {
                Object::Deployment(d) => {
                    if d.spec.as_ref().and_then(|s| s.paused) == Some(true) {
                        return Err(Refusal::Failed(format!("{w} is paused: resume it before rolling back")));
                    }
                    let Some(template) = target.template.clone() else {
                        return Err(Refusal::Failed(format!("revision {} of {w} has no pod template", target.number)));
                    };
                    let template = serde_json::to_value(template).unwrap_or_default();
                    // A merge patch would merge the old template into the new one (an added
                    // container or variable would stay): replace the template whole.
                    self.replace_template(w, &object, record.as_ref(), template).await
                }
                Object::StatefulSet(_) => {
                    let Some(mut patch) = target.patch.clone().filter(serde_json::Value::is_object) else {
                        return Err(Refusal::Failed(format!(
                            "revision {} of {w} has no template patch",
                            target.number
                        )));
                    };
                    let mut metadata = json!({ "resourceVersion": object.meta().resource_version });
                    if let Some(r) = &record {
                        metadata["annotations"] = json!({ ACTIONS: r.appended_to(object.meta().annotations.as_ref()) });
                    }
                    patch["metadata"] = metadata;
                    let api: Api<StatefulSet> = Api::namespaced(self.cluster.client.clone(), &w.namespace);
                    let what = || format!("patch {w} to revision {}", target.number);
                    let (params, patch) = (PatchParams::default(), Patch::Strategic(&patch));
                    self.cluster.call(what, api.patch(&w.name, &params, &patch)).await.map(drop)
                }
            };
            match result {
                Ok(()) => return Ok(detail),
                Err(ApiError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Refusal::Failed(format!("{w} kept changing: {CONFLICT_RETRIES} conflicting updates in a row")))
    }

    /// Replaces a Deployment's pod template whole (a strategic merge patch with `$patch:
    /// replace`, as a StatefulSet's revisions hold it; a plain merge would keep what the
    /// newer template added), recording the action in the same update, which fails as a
    /// conflict if the Deployment changed since it was read.
    async fn replace_template(
        &self,
        w: &Workload,
        object: &Object,
        record: Option<&ActionRecord>,
        mut template: serde_json::Value,
    ) -> Result<(), ApiError> {
        template["$patch"] = json!("replace");
        let mut metadata = json!({ "resourceVersion": object.meta().resource_version });
        if let Some(r) = record {
            metadata["annotations"] = json!({ ACTIONS: r.appended_to(object.meta().annotations.as_ref()) });
        }
        let patch = json!({ "metadata": metadata, "spec": { "template": template } });
        let api: Api<Deployment> = Api::namespaced(self.cluster.client.clone(), &w.namespace);
        let (params, patch) = (PatchParams::default(), Patch::Strategic(&patch));
        self.cluster.call(|| format!("patch {w}"), api.patch(&w.name, &params, &patch)).await.map(drop)
    }

    pub(super) async fn scale(&self, w: &Workload, action: &Action) -> VerbResult {
        let (min, max) = bounds(&action.params).map_err(Refusal::Failed)?;
        for _ in 0..CONFLICT_RETRIES {
            let object = w.get(&self.cluster).await?;
            if let Some(done) = self.adopted(&object, action) {
                return Ok(done);
            }
            let current = object.desired();
            let wanted = match (action.param("replicas"), action.param("by")) {
                (Some(n), _) => i64::from(parse_count(n).map_err(Refusal::Failed)?),
                (None, Some(by)) => i64::from(current) + parse_delta(by).map_err(Refusal::Failed)?,
                (None, None) => return Err(Refusal::Failed("`scale` needs `replicas` or `by`".into())),
            };
            if wanted < i64::from(min) {
                return Err(Refusal::Skipped(format!(
                    "scale {w} from {current} to {wanted} replicas refused: below the step's min {min}"
                )));
            }
            if wanted > i64::from(max) {
                return Err(Refusal::Skipped(format!(
                    "scale {w} from {current} to {wanted} replicas refused: above the step's max {max}"
                )));
            }
            if wanted == i64::from(current) {
                return Ok(format!("{w} already has {current} replicas"));
            }
            let detail = format!("scaled {w} from {current} to {wanted} replicas");
            let record = self.record(action, &detail);
            match self.patch_workload(w, &object, record.as_ref(), json!({ "replicas": wanted })).await {
                Ok(()) => return Ok(detail),
                Err(ApiError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Refusal::Failed(format!("{w} kept changing: {CONFLICT_RETRIES} conflicting updates in a row")))
    }
}
