//! Autonomic on Kubernetes, through kube-rs and exactly one API version of k8s-openapi.
//!
//! - [`cluster`]: reaching the API server: kubeconfig, per-call timeout, errors said plainly.
//! - [`workload`]: a service's Deployment or StatefulSet: its rollout, pods and revisions.
//! - [`actuator`]: the `kubernetes` actuator: restart (rolling or one pod), rollback, scale,
//!   cordon, uncordon, drain.
//! - [`source`]: the `kubernetes` source: pods as scrape targets, followed by a watch;
//!   CrashLoopBackOff, OOMKilled, Warning events and stalled rollouts as signals.
//! - [`lease`]: leader election between controller replicas through a Lease.
//! - [`record`]: the record of an action kept on the object it changed, so that a replica
//!   taking over from a leader never takes a step twice.

pub mod actuator;
pub mod cluster;
pub mod lease;
pub mod record;
pub mod source;
pub mod workload;

pub use actuator::{KUBERNETES, KubernetesActuator, NoCluster};
pub use cluster::{ApiError, Cluster, ClusterSettings, ConnectError};
pub use lease::{LeaderElector, LeaseSettings};
pub use source::{KubernetesSource, SourceSettings};
pub use workload::{Workload, WorkloadKind};

/// The API access Autonomic uses on Kubernetes, as (API group, resource, verbs): the
/// actuator's verbs, the source's watches, and leader election (`leases`, in Autonomic's
/// own namespace). `deploy/kubernetes/rbac.yaml` grants exactly these, and a test checks it.
pub const RBAC: &[(&str, &str, &[&str])] = &[
    ("apps", "deployments", &["get", "patch"]),
    ("apps", "statefulsets", &["get", "patch"]),
    ("apps", "replicasets", &["list"]),
    ("apps", "controllerrevisions", &["list"]),
    ("", "pods", &["get", "list", "watch", "delete"]),
    ("", "pods/eviction", &["create"]),
    ("", "events", &["list", "watch"]),
    ("", "nodes", &["get", "patch"]),
    ("coordination.k8s.io", "leases", &["get", "create", "update"]),
];

/// `at` (Unix milliseconds) as RFC 3339, as the API writes times.
pub fn rfc3339(at: model::Millis) -> String {
    match k8s_openapi::jiff::Timestamp::from_millisecond(at) {
        Ok(t) => t.to_string(),
        Err(_) => at.to_string(),
    }
}

/// Checks an object name (a DNS-1123 subdomain: a deployment's, a node's).
pub fn check_name(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value.split('.').all(|part| {
            !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        });
    if ok { Ok(()) } else { Err("expected a Kubernetes object name (lowercase letters, digits, '-', '.')".into()) }
}

/// Checks a namespace's name (a DNS-1123 label).
pub fn check_namespace(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok { Ok(()) } else { Err("expected a namespace name (at most 63 lowercase letters, digits and '-')".into()) }
}

/// Checks that `path` is a kubeconfig that can be read and, where `context` is given, that
/// it has that context: what `autonomic check` can know before any cluster is reached.
pub fn check_kubeconfig(path: &std::path::Path, context: Option<&str>) -> Result<(), String> {
    if !path.exists() {
        return Err("no such file".into());
    }
    let config = kube::config::Kubeconfig::read_from(path).map_err(|e| e.to_string())?;
    if let Some(context) = context
        && !config.contexts.iter().any(|c| c.name == context)
    {
        let known: Vec<&str> = config.contexts.iter().map(|c| c.name.as_str()).collect();
        return Err(format!("has no context {context:?}; it has: {}", known.join(", ")));
    }
    Ok(())
}
