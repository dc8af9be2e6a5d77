//! The `kubernetes` actuator: acts on the Deployments and StatefulSets that services are
//! mapped to, and on the nodes they run on, through the API server.
//!
//! Every change is made as one update that also records the action on the object it
//! changes ([`crate::record`]): a replica that takes over from a leader that died mid-step
//! finds the step taken and does not take it again. Conflicting updates (409) are retried
//! with the fresh object; nothing is ever forced (an eviction a PodDisruptionBudget refuses
//! waits, a pod is never deleted in its place).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use model::{
    Action, Actuator, ActuatorSpec, BoxFuture, Clock, Deployment, Outcome, ParamSpec, Params, ServiceStatus,
    StepProblem, VerbSpec,
};

use crate::cluster::{ApiError, Cluster};
use crate::workload::{self, Workload};

mod nodes;
mod workloads;

/// `scale`'s default floor: a service is never scaled to zero unless a step says `min: 0`.
pub const DEFAULT_MIN_REPLICAS: u32 = 1;
/// `scale`'s default ceiling.
pub const DEFAULT_MAX_REPLICAS: u32 = 100;
/// The most replicas any step may ask for.
pub const MAX_REPLICAS: u32 = 10_000;
/// `drain`'s default deadline.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest deadline a `drain` step may give.
pub const MAX_DRAIN_TIMEOUT: Duration = Duration::from_secs(3600);
/// Times an update is tried again after a conflict (409) with a fresh read.
const CONFLICT_RETRIES: usize = 5;

const NODE: ParamSpec = ParamSpec {
    name: "node",
    required: false,
    help: "the node's name; default: the node of the pod the incident names (a replica-scoped step)",
};

const VERBS: &[VerbSpec] = &[
    VerbSpec {
        verb: "restart",
        help: "a rolling restart (as `kubectl rollout restart`), or with `scope: replica` delete the one pod whose series fired (its controller replaces it)",
        scoped: true,
        // The workload's own strategy (maxUnavailable) paces a rolling restart.
        rolls_out: false,
        params: &[],
        phrase: "restart {service} {target}",
    },
    VerbSpec {
        verb: "rollback",
        help: "go back to the previous revision's pod template (as `kubectl rollout undo`)",
        scoped: false,
        rolls_out: false,
        params: &[ParamSpec {
            name: "revision",
            required: false,
            help: "the revision to go back to, e.g. 3; default: the one before the current",
        }],
        phrase: "roll back {service}",
    },
    VerbSpec {
        verb: "scale",
        help: "set the replica count, or change it by a number, within `min` and `max`",
        scoped: false,
        rolls_out: false,
        params: &[
            ParamSpec { name: "replicas", required: false, help: "the replica count to set, e.g. 5" },
            ParamSpec { name: "by", required: false, help: "replicas to add (or, negative, remove), e.g. 2 or -1" },
            ParamSpec { name: "min", required: false, help: "the fewest replicas a step may leave (default 1)" },
            ParamSpec { name: "max", required: false, help: "the most replicas a step may set (default 100)" },
        ],
        phrase: "scale {service}",
    },
    VerbSpec {
        verb: "cordon",
        help: "mark a node unschedulable",
        scoped: true,
        rolls_out: false,
        params: &[NODE],
        phrase: "cordon the node of {service} {target}",
    },
    VerbSpec {
        verb: "uncordon",
        help: "mark a node schedulable again",
        scoped: true,
        rolls_out: false,
        params: &[NODE],
        phrase: "uncordon the node of {service} {target}",
    },
    VerbSpec {
        verb: "drain",
        help: "cordon a node and evict its pods through the Eviction API, so PodDisruptionBudgets hold; fails at the deadline rather than force",
        scoped: true,
        rolls_out: false,
        params: &[
            NODE,
            ParamSpec {
                name: "timeout",
                required: false,
                help: "how long evictions are retried before the step fails, e.g. 2m (default 2m)",
            },
        ],
        phrase: "drain the node of {service} {target}",
    },
];

fn check_param(_verb: &str, param: &str, value: &str) -> Result<(), String> {
    match param {
        "replicas" | "min" | "max" => parse_count(value).map(drop),
        "by" => parse_delta(value).map(drop),
        "revision" => parse_revision(value).map(drop),
        "node" => crate::check_name(value),
        "timeout" => parse_timeout(value).map(drop),
        _ => Ok(()),
    }
}

fn check_step(verb: &str, params: &Params) -> Result<(), StepProblem> {
    if verb != "scale" {
        return Ok(());
    }
    let problem =
        |param: &str, message: &str| StepProblem { param: Some(param.to_owned()), message: message.to_owned() };
    match (params.get("replicas"), params.get("by")) {
        (None, None) => {
            return Err(StepProblem {
                param: None,
                message: "action `scale` needs `replicas` (a count) or `by` (a change, e.g. 2 or -1)".into(),
            });
        }
        (Some(_), Some(_)) => return Err(problem("by", "give `replicas` or `by`, not both")),
        _ => {}
    }
    let (min, max) = bounds(params).map_err(|e| problem("min", &e))?;
    if let Some(n) = params.get("replicas").and_then(|v| parse_count(v).ok())
        && !(min..=max).contains(&n)
    {
        return Err(problem("replicas", &format!("{n} is outside min {min} and max {max}")));
    }
    Ok(())
}

fn parse_count(value: &str) -> Result<u32, String> {
    match value.trim().parse::<u32>() {
        Ok(n) if n <= MAX_REPLICAS => Ok(n),
        _ => Err(format!("expected a replica count from 0 to {MAX_REPLICAS}")),
    }
}

fn parse_delta(value: &str) -> Result<i64, String> {
    match value.trim().trim_start_matches('+').parse::<i64>() {
        Ok(n) if n != 0 && n.unsigned_abs() <= u64::from(MAX_REPLICAS) => Ok(n),
        _ => Err(format!("expected a non-zero change of at most {MAX_REPLICAS} replicas, e.g. 2 or -1")),
    }
}

fn parse_revision(value: &str) -> Result<i64, String> {
    match value.trim().parse::<i64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("expected a revision number, 1 or more".into()),
    }
}

fn parse_timeout(value: &str) -> Result<Duration, String> {
    let d = model::parse_duration(value)?;
    if d < Duration::from_secs(1) || d > MAX_DRAIN_TIMEOUT {
        return Err(format!("must be from 1s to {}", model::format_duration(MAX_DRAIN_TIMEOUT)));
    }
    Ok(d)
}

/// `scale`'s `min` and `max`, defaults filled in.
fn bounds(params: &Params) -> Result<(u32, u32), String> {
    let get = |name: &str, default: u32| params.get(name).map_or(Ok(default), |v| parse_count(v));
    let (min, max) = (get("min", DEFAULT_MIN_REPLICAS)?, get("max", DEFAULT_MAX_REPLICAS)?);
    if min > max {
        return Err(format!("min {min} is above max {max}"));
    }
    Ok((min, max))
}

/// What the `kubernetes` actuator type can do.
pub static KUBERNETES: ActuatorSpec = ActuatorSpec { name: "kubernetes", verbs: VERBS, check_param, check_step };

/// Acts on the workloads services are mapped to. Cheap to clone.
#[derive(Clone)]
pub struct KubernetesActuator {
    cluster: Cluster,
    workloads: Arc<BTreeMap<String, Workload>>,
    identity: String,
    clock: Arc<dyn Clock>,
    poll: Duration,
}

impl std::fmt::Debug for KubernetesActuator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesActuator")
            .field("cluster", &self.cluster)
            .field("workloads", &self.workloads)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// Why a verb did not do what was asked: it failed, or a bound refused it before it ran.
enum Refusal {
    Failed(String),
    Skipped(String),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Self::Failed(e.to_string())
    }
}

type VerbResult = Result<String, Refusal>;

impl KubernetesActuator {
    /// Acts on `workloads` (by service) in `cluster`, as `identity` (recorded on what it
    /// changes: a pod name, a host name).
    pub fn new(
        cluster: Cluster,
        workloads: BTreeMap<String, Workload>,
        identity: impl Into<String>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { cluster, workloads: Arc::new(workloads), identity: identity.into(), clock, poll: Duration::from_secs(1) }
    }

    /// The workload of `service`.
    pub fn workload(&self, service: &str) -> Option<&Workload> {
        self.workloads.get(service)
    }

    /// Reads every workload once: what is missing, forbidden or out of reach, by service,
    /// so that it is said at startup rather than at the first incident.
    pub async fn check_workloads(&self) -> Vec<(String, ApiError)> {
        let mut problems = Vec::new();
        for (service, w) in self.workloads.iter() {
            if let Err(e) = w.get(&self.cluster).await {
                problems.push((service.clone(), e));
            }
        }
        problems
    }

    async fn act(&self, action: &Action) -> VerbResult {
        let Some(w) = self.workloads.get(&action.service) else {
            return Err(Refusal::Failed(format!("service {} is mapped to no Kubernetes workload", action.service)));
        };
        match action.verb.as_str() {
            "restart" => self.restart(w, action).await,
            "rollback" => self.rollback(w, action).await,
            "scale" => self.scale(w, action).await,
            "cordon" => self.cordon(w, action, true).await,
            "uncordon" => self.cordon(w, action, false).await,
            "drain" => self.drain(w, action).await,
            other => Err(Refusal::Failed(format!("a `kubernetes` service has no action `{other}`"))),
        }
    }

    async fn read_status(&self, w: &Workload) -> Result<ServiceStatus, ApiError> {
        let object = w.get(&self.cluster).await?;
        let pods = w.pods(&self.cluster, &object).await?;
        Ok(ServiceStatus {
            replicas: pods.iter().map(workload::replica_status).collect(),
            rollout: Some(object.rollout()),
        })
    }

    async fn read_history(&self, w: &Workload) -> Result<Vec<Deployment>, ApiError> {
        let object = w.get(&self.cluster).await?;
        let revisions = w.revisions(&self.cluster, &object).await?;
        Ok(revisions
            .iter()
            .map(|r| Deployment { release: format!("revision {} ({})", r.number, r.images()), at: r.created })
            .collect())
    }
}

impl Actuator for KubernetesActuator {
    fn spec(&self) -> &'static ActuatorSpec {
        &KUBERNETES
    }

    fn apply<'a>(&'a self, action: &'a Action) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match self.act(action).await {
                Ok(detail) => Outcome::succeeded(detail),
                Err(Refusal::Failed(why)) => Outcome::failed(why),
                Err(Refusal::Skipped(why)) => Outcome::skipped(why),
            }
        })
    }

    fn status<'a>(&'a self, service: &'a str) -> BoxFuture<'a, Option<ServiceStatus>> {
        Box::pin(async move {
            let w = self.workloads.get(service)?;
            match self.read_status(w).await {
                Ok(status) => Some(status),
                Err(e) => {
                    tracing::warn!(service, error = %e, "cannot read the workload's status");
                    None
                }
            }
        })
    }

    fn history<'a>(&'a self, service: &'a str) -> BoxFuture<'a, Vec<Deployment>> {
        Box::pin(async move {
            let Some(w) = self.workloads.get(service) else { return Vec::new() };
            self.read_history(w).await.unwrap_or_else(|e| {
                tracing::warn!(service, error = %e, "cannot read the workload's revisions");
                Vec::new()
            })
        })
    }
}

/// The `kubernetes` actuator when no client could be made (a missing kubeconfig): every
/// action fails with the reason, so the ladder escalates, and every other service goes on.
#[derive(Debug, Clone)]
pub struct NoCluster {
    reason: String,
}

impl NoCluster {
    /// Fails every action with `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Self { reason: reason.into() }
    }
}

impl Actuator for NoCluster {
    fn spec(&self) -> &'static ActuatorSpec {
        &KUBERNETES
    }

    fn apply<'a>(&'a self, _action: &'a Action) -> BoxFuture<'a, Outcome> {
        Box::pin(async move { Outcome::failed(format!("no Kubernetes cluster: {}", self.reason)) })
    }

    fn status<'a>(&'a self, _service: &'a str) -> BoxFuture<'a, Option<ServiceStatus>> {
        Box::pin(async { None })
    }

    fn history<'a>(&'a self, _service: &'a str) -> BoxFuture<'a, Vec<Deployment>> {
        Box::pin(async { Vec::new() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn scale_steps_are_checked_before_anything_runs() {
        let ok = params(&[("by", "2"), ("max", "6")]);
        assert_eq!(KUBERNETES.check("scale", &ok, false), Ok(()));
        let none = KUBERNETES.check("scale", &Params::new(), false).expect_err("needs a count");
        assert!(none.message.contains("needs `replicas`"), "{}", none.message);
        let both = KUBERNETES.check("scale", &params(&[("replicas", "3"), ("by", "1")]), false).expect_err("both");
        assert_eq!(both.param.as_deref(), Some("by"));
        let outside = KUBERNETES.check("scale", &params(&[("replicas", "9"), ("max", "6")]), false).expect_err("max");
        assert!(outside.message.contains("outside min 1 and max 6"), "{}", outside.message);
        let inverted = KUBERNETES.check("scale", &params(&[("by", "1"), ("min", "5"), ("max", "2")]), false);
        assert!(inverted.expect_err("min above max").message.contains("min 5 is above max 2"));
        for (param, value) in [("by", "0"), ("by", "x"), ("replicas", "-1"), ("replicas", "20000")] {
            let e = KUBERNETES.check("scale", &params(&[(param, value)]), false).expect_err(value);
            assert_eq!(e.param.as_deref(), Some(param), "{value}: {}", e.message);
        }
    }

    #[test]
    fn node_and_revision_parameters_are_checked() {
        assert_eq!(
            KUBERNETES.check("drain", &params(&[("node", "worker-1.zone-a"), ("timeout", "90s")]), true),
            Ok(())
        );
        for (verb, param, value) in [
            ("drain", "node", "Worker_1"),
            ("drain", "timeout", "0s"),
            ("drain", "timeout", "2h"),
            ("cordon", "node", ""),
            ("rollback", "revision", "0"),
        ] {
            let e = KUBERNETES.check(verb, &params(&[(param, value)]), false).expect_err(value);
            assert_eq!(e.param.as_deref(), Some(param), "{verb} {param}={value}: {}", e.message);
        }
        let scoped = KUBERNETES.check("rollback", &Params::new(), true).expect_err("not scoped");
        assert_eq!(scoped.param.as_deref(), Some("scope"));
    }
}
