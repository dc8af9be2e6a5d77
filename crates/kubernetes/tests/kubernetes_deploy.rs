//! `deploy/kubernetes/` on the test control plane: every manifest passes the API server's
//! server-side dry run, and the service account's RBAC allows exactly what Autonomic uses
//! (`kubernetes::RBAC`), shown by `kubectl auth can-i --list` and by doing it: the actuator,
//! the source and leader election run as that service account.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use kubernetes::{KubernetesActuator, LeaderElector, LeaseSettings};
use model::{Actuator, OutcomeStatus, Target};

const SERVICE_ACCOUNT: &str = "system:serviceaccount:autonomic:autonomic";

/// What `kubectl auth can-i --list` says the service account may do on resources, by
/// resource: the discovery and self-review rules every authenticated user has left out.
fn granted(namespace: &str) -> BTreeMap<String, BTreeSet<String>> {
    let out = kubectl(&["auth", "can-i", "--list", "--as", SERVICE_ACCOUNT, "-n", namespace]);
    let mut rules: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in out.lines().skip(1) {
        let resource = line.split_whitespace().next().unwrap_or_default();
        if resource.is_empty() || line.starts_with(' ') || resource.starts_with("selfsubject") {
            continue;
        }
        let verbs = line.rsplit_once('[').map(|(_, v)| v.trim_end_matches(']').trim()).unwrap_or_default();
        rules.entry(resource.to_owned()).or_default().extend(verbs.split_whitespace().map(str::to_owned));
    }
    rules
}

fn expected(with_leases: bool) -> BTreeMap<String, BTreeSet<String>> {
    kubernetes::RBAC
        .iter()
        .filter(|(_, resource, _)| with_leases || *resource != "leases")
        .map(|(group, resource, verbs)| {
            let name = if group.is_empty() { resource.to_string() } else { format!("{resource}.{group}") };
            (name, verbs.iter().map(|v| v.to_string()).collect())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_deploy_manifests_pass_dry_run_and_grant_exactly_what_autonomic_uses() {
    let Some(cluster) = testbed().await else { return };
    let dir = repo().join("deploy/kubernetes");
    let file = |name: &str| dir.join(name).display().to_string();
    // The namespace first (the others live in it), then every manifest, server-side.
    kubectl(&["apply", "--dry-run=server", "-f", &file("namespace.yaml")]);
    kubectl(&["apply", "-f", &file("namespace.yaml"), "-f", &file("serviceaccount.yaml"), "-f", &file("rbac.yaml")]);
    let dry = kubectl(&["apply", "--dry-run=server", "-f", &dir.display().to_string()]);
    for kind in [
        "deployment.apps/autonomic",
        "service/autonomic",
        "configmap/autonomic",
        "clusterrole.rbac.authorization.k8s.io/autonomic",
    ] {
        assert!(dry.contains(kind), "{kind} in {dry}");
    }

    // Nothing beyond: in Autonomic's namespace, the lease too; elsewhere, not even that.
    assert_eq!(granted("autonomic"), expected(true));
    assert_eq!(granted("default"), expected(false));

    // Everything listed is what the code does: run it as the service account.
    let ns = TestNamespace::create(&cluster, "rbac").await;
    let mut pool = TestNodes::new(&cluster);
    pool.add(&ns.name).await;
    create_deployment(&cluster, &ns.name, &pinned(deployment("checkout", "shop/checkout:v1", 2), &ns.name)).await;
    set_image(&cluster, &ns.name, "checkout", "shop/checkout:v2").await;
    wait_rolled_out(&cluster, &ns.name, "checkout").await;
    let spare = pool.add(&ns.name).await;
    let sa = impersonating(SERVICE_ACCOUNT).await;
    let workloads = [("svc".to_owned(), workload(&ns.name, "checkout"))].into();
    let actuator = KubernetesActuator::new(sa.clone(), workloads, "rbac-test", Arc::new(WallClock));
    assert!(actuator.check_workloads().await.is_empty());
    assert!(actuator.status("svc").await.is_some_and(|s| s.replicas.len() == 2));
    assert_eq!(actuator.history("svc").await.len(), 2);
    let steps = [
        action("rollback", Target::All, &[], "rbac#step 1"),
        action("scale", Target::All, &[("by", "1"), ("max", "3")], "rbac#step 2"),
        action("restart", Target::All, &[], "rbac#step 3"),
        action("cordon", Target::All, &[("node", &spare)], "rbac#step 4"),
        action("uncordon", Target::All, &[("node", &spare)], "rbac#step 5"),
        action("drain", Target::All, &[("node", &spare), ("timeout", "30s")], "rbac#step 6"),
    ];
    for step in &steps {
        let outcome = actuator.apply(step).await;
        assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{step}: {}", outcome.detail);
    }
    let pod = live_pods(&cluster, &ns.name, "checkout").await.remove(0).metadata.name.expect("pod");
    let one = actuator.apply(&action("restart", Target::Named(pod), &[], "rbac#step 7")).await;
    assert_eq!(one.status, OutcomeStatus::Succeeded, "{}", one.detail);

    // Leader election in Autonomic's namespace.
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let settings = LeaseSettings::with_duration("autonomic", format!("rbac-{}", ns.name), Duration::from_secs(3));
    let elector = tokio::spawn(LeaderElector::new(sa.clone(), settings, "rbac-test").run(tx));
    tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|leads| *leads))
        .await
        .expect("leads")
        .expect("elector runs");
    elector.abort();
}
