//! The `kubernetes:` section (how to reach the cluster) and a service's `kubernetes:` (the
//! workload it is).
//!
//! ```yaml
//! kubernetes:
//!   kubeconfig: /etc/autonomic/kubeconfig   # default: $KUBECONFIG, ~/.kube/config, then in-cluster
//!   context: prod                           # default: the kubeconfig's current context
//!   request_timeout: 10s                    # one API call
//!   identity: autonomic-0                   # recorded on what it changes; default: $POD_NAME, the host name
//!   leader_election: { namespace: autonomic, lease: autonomic, duration: 15s }   # one replica of several acts
//! services:
//!   checkout:
//!     kubernetes: { namespace: shop, deployment: checkout }   # or statefulset:, and selector: "track=stable"
//! ```

use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use kubernetes::{ClusterSettings, Workload, WorkloadKind};
use model::Diagnostics;
use serde::Deserialize;
use yamlspan::Spanned;

use super::bounds::dur;

/// `kubernetes.request_timeout`: 1s to 5m.
pub const REQUEST_TIMEOUT: RangeInclusive<Duration> = Duration::from_secs(1)..=Duration::from_secs(300);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKubernetes {
    #[serde(default)]
    kubeconfig: Option<Spanned<String>>,
    #[serde(default)]
    context: Option<Spanned<String>>,
    #[serde(default)]
    request_timeout: Option<Spanned<String>>,
    #[serde(default)]
    identity: Option<Spanned<String>>,
    #[serde(default)]
    leader_election: Option<RawLeaderElection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLeaderElection {
    #[serde(default)]
    namespace: Option<Spanned<String>>,
    #[serde(default)]
    lease: Option<Spanned<String>>,
    #[serde(default)]
    duration: Option<Spanned<String>>,
}

/// `kubernetes.leader_election.duration`: 2s to 5m (default 15s, as client-go's).
pub const LEASE_DURATION: RangeInclusive<Duration> = Duration::from_secs(2)..=Duration::from_secs(300);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkload {
    #[serde(default)]
    namespace: Option<Spanned<String>>,
    #[serde(default)]
    deployment: Option<Spanned<String>>,
    #[serde(default)]
    statefulset: Option<Spanned<String>>,
    #[serde(default)]
    selector: Option<Spanned<String>>,
}

/// How Autonomic reaches the cluster its `kubernetes` services run in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KubernetesSettings {
    /// Kubeconfig, context, request timeout.
    pub cluster: ClusterSettings,
    /// Who this controller is, in what it records on the objects it changes and in the
    /// lease.
    pub identity: String,
    /// Leader election between replicas (`leader_election:`): only the holder of the lease
    /// acts. `None`: this controller always acts.
    pub leader_election: Option<kubernetes::LeaseSettings>,
}

/// This process's name for itself: `$POD_NAME` (set through the downward API in
/// `deploy/kubernetes/`), else the host name (a pod's own name), else `autonomic`.
fn default_identity() -> String {
    std::env::var("POD_NAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "autonomic".into())
}

pub(super) fn compile_cluster(raw: Option<&RawKubernetes>, base: &Path, diags: &mut Diagnostics) -> KubernetesSettings {
    let Some(raw) = raw else {
        return KubernetesSettings {
            cluster: ClusterSettings::default(),
            identity: default_identity(),
            leader_election: None,
        };
    };
    let kubeconfig = raw.kubeconfig.as_ref().map(|k| {
        let path = base.join(&k.value);
        if let Err(e) = kubernetes::check_kubeconfig(&path, raw.context.as_ref().map(|c| c.value.as_str())) {
            diags.push(k.diagnostic("kubernetes.kubeconfig", format!("{}: {e}", path.display())));
        }
        path
    });
    let request_timeout = dur(
        &raw.request_timeout,
        "kubernetes.request_timeout",
        kubernetes::cluster::DEFAULT_REQUEST_TIMEOUT,
        &REQUEST_TIMEOUT,
        diags,
    );
    let identity = match &raw.identity {
        Some(i) if i.value.trim().is_empty() || i.value.len() > 253 => {
            diags.push(i.diagnostic("kubernetes.identity", "must be 1 to 253 characters"));
            default_identity()
        }
        Some(i) => i.value.clone(),
        None => default_identity(),
    };
    let leader_election = raw.leader_election.as_ref().map(|le| {
        let namespace = le.namespace.as_ref().map_or_else(
            || std::env::var("POD_NAMESPACE").unwrap_or_else(|_| "default".into()),
            |ns| {
                if let Err(e) = kubernetes::check_namespace(&ns.value) {
                    diags.push(ns.diagnostic("kubernetes.leader_election.namespace", e));
                }
                ns.value.clone()
            },
        );
        let lease = le.lease.as_ref().map_or_else(
            || "autonomic".to_owned(),
            |l| {
                if let Err(e) = kubernetes::check_name(&l.value) {
                    diags.push(l.diagnostic("kubernetes.leader_election.lease", e));
                }
                l.value.clone()
            },
        );
        let duration =
            dur(&le.duration, "kubernetes.leader_election.duration", Duration::from_secs(15), &LEASE_DURATION, diags);
        kubernetes::LeaseSettings::with_duration(namespace, lease, duration)
    });
    KubernetesSettings {
        leader_election,
        cluster: ClusterSettings {
            kubeconfig,
            context: raw.context.as_ref().map(|c| c.value.clone()),
            request_timeout,
        },
        identity,
    }
}

pub(super) fn compile_workload(
    raw: &RawWorkload,
    node: &yamlspan::Node,
    path: &str,
    diags: &mut Diagnostics,
) -> Option<Workload> {
    let namespace = match &raw.namespace {
        Some(ns) => {
            if let Err(e) = kubernetes::check_namespace(&ns.value) {
                diags.push(ns.diagnostic(format!("{path}.namespace"), e));
            }
            ns.value.clone()
        }
        None => "default".into(),
    };
    let (kind, name) = match (&raw.deployment, &raw.statefulset) {
        (Some(d), None) => (WorkloadKind::Deployment, d),
        (None, Some(s)) => (WorkloadKind::StatefulSet, s),
        (Some(_), Some(s)) => {
            diags.push(s.diagnostic(
                format!("{path}.statefulset"),
                "a service is one workload: `deployment` or `statefulset`, not both",
            ));
            return None;
        }
        (None, None) => {
            diags.push(node.diagnostic(path, "needs `deployment: NAME` or `statefulset: NAME`"));
            return None;
        }
    };
    if let Err(e) = kubernetes::check_name(&name.value) {
        diags.push(name.diagnostic(format!("{path}.{}", kind.as_str()), e));
    }
    let selector = raw.selector.as_ref().and_then(|s| {
        let ok = !s.value.trim().is_empty() && !s.value.contains(['\n', '\r']) && s.value.len() <= 1024;
        if !ok {
            diags.push(s.diagnostic(format!("{path}.selector"), "expected a label selector, e.g. track=stable"));
        }
        ok.then(|| s.value.clone())
    });
    Some(Workload { namespace, kind, name: name.value.clone(), selector })
}
