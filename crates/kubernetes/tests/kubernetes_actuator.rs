//! The `kubernetes` actuator against a real control plane (`scripts/k8s-testbed`): a
//! kube-apiserver and controller manager built from `k8s.io/kubernetes`, etcd, the
//! scheduler, and kwok's fake nodes, which mark scheduled pods Running and Ready.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use model::{Actuator, OutcomeStatus, Target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_rollback_restores_the_previous_template_and_the_rollout_completes() {
    let Some(cluster) = testbed().await else { return };
    let ns = TestNamespace::create(&cluster, "rollback").await;
    create_deployment(&cluster, &ns.name, &deployment("checkout", "shop/checkout:v1", 2)).await;
    set_image(&cluster, &ns.name, "checkout", "shop/checkout:v2").await;
    wait_rolled_out(&cluster, &ns.name, "checkout").await;

    let actuator = actuator(&cluster, &ns.name, "checkout", "replica-a");
    let before = actuator.status("svc").await.expect("status");
    assert_eq!(before.rollout.as_ref().and_then(|r| r.revision.as_deref()), Some("2"));
    let outcome = actuator.apply(&action("rollback", Target::All, &[], "errors#step 1")).await;
    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.detail);
    assert!(
        outcome.detail.contains("from revision 2 (shop/checkout:v2) to revision 1 (shop/checkout:v1)"),
        "{}",
        outcome.detail
    );
    assert_eq!(image_of(&cluster, &ns.name, "checkout").await, "shop/checkout:v1");
    // The controller manager rolls the old ReplicaSet forward as revision 3.
    wait_for(Duration::from_secs(60), "the rollback to roll out", || async {
        actuator
            .status("svc")
            .await
            .is_some_and(|s| s.rolled_out() && s.rollout.and_then(|r| r.revision).as_deref() == Some("3"))
    })
    .await;
    let history = actuator.history("svc").await;
    let releases: Vec<&str> = history.iter().map(|d| d.release.as_str()).collect();
    assert_eq!(releases, ["revision 2 (shop/checkout:v2)", "revision 3 (shop/checkout:v1)"], "{history:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_a_step_another_replica_took_is_not_taken_again() {
    let Some(cluster) = testbed().await else { return };
    let ns = TestNamespace::create(&cluster, "adopt").await;
    create_deployment(&cluster, &ns.name, &deployment("checkout", "shop/checkout:v1", 1)).await;
    set_image(&cluster, &ns.name, "checkout", "shop/checkout:v2").await;
    wait_rolled_out(&cluster, &ns.name, "checkout").await;

    let leader = actuator(&cluster, &ns.name, "checkout", "replica-a");
    let step = action("rollback", Target::All, &[], "errors{service=\"checkout\"}#step 2");
    assert_eq!(leader.apply(&step).await.status, OutcomeStatus::Succeeded);
    wait_rolled_out(&cluster, &ns.name, "checkout").await;
    // The replica that takes over runs the same step of the same incident: it finds the
    // record on the Deployment and does not roll "back" to the bad release.
    let follower = actuator(&cluster, &ns.name, "checkout", "replica-b");
    let again = follower.apply(&step).await;
    assert_eq!(again.status, OutcomeStatus::Succeeded, "{}", again.detail);
    assert!(again.detail.contains("not repeated: replica-a already took this step"), "{}", again.detail);
    assert_eq!(image_of(&cluster, &ns.name, "checkout").await, "shop/checkout:v1");
    // Another step of the incident is its own action.
    let next = action("rollback", Target::All, &[], "errors{service=\"checkout\"}#step 3");
    let rolled = follower.apply(&next).await;
    assert_eq!(rolled.status, OutcomeStatus::Succeeded, "{}", rolled.detail);
    assert_eq!(image_of(&cluster, &ns.name, "checkout").await, "shop/checkout:v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_rollback_without_a_previous_revision_fails_and_says_so() {
    let Some(cluster) = testbed().await else { return };
    let ns = TestNamespace::create(&cluster, "norev").await;
    create_deployment(&cluster, &ns.name, &deployment("checkout", "shop/checkout:v1", 1)).await;
    let actuator = actuator(&cluster, &ns.name, "checkout", "replica-a");
    let outcome = actuator.apply(&action("rollback", Target::All, &[], "errors#step 1")).await;
    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(
        outcome.detail.contains("has no previous revision to roll back to (current revision: 1)"),
        "{}",
        outcome.detail
    );
    let missing = actuator.apply(&action("rollback", Target::All, &[("revision", "7")], "errors#step 2")).await;
    assert!(missing.detail.contains("has no revision 7; it has: 1"), "{}", missing.detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_rolling_restart_replaces_every_pod_through_the_deployment() {
    let Some(cluster) = testbed().await else { return };
    let ns = TestNamespace::create(&cluster, "restart").await;
    create_deployment(&cluster, &ns.name, &deployment("checkout", "shop/checkout:v1", 2)).await;
    let before: Vec<String> =
        live_pods(&cluster, &ns.name, "checkout").await.into_iter().filter_map(|p| p.metadata.name).collect();
    let actuator = actuator(&cluster, &ns.name, "checkout", "replica-a");
    let outcome = actuator.apply(&action("restart", Target::All, &[], "errors#step 1")).await;
    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.detail);
    assert!(
        outcome.detail.starts_with(&format!("rolling restart of deployment {}/checkout", ns.name)),
        "{}",
        outcome.detail
    );
    wait_for(Duration::from_secs(60), "every pod to be replaced", || async {
        let now = live_pods(&cluster, &ns.name, "checkout").await;
        actuator.status("svc").await.is_some_and(|s| s.rolled_out())
            && now.len() == 2
            && now.iter().all(|p| p.metadata.name.as_ref().is_some_and(|n| !before.contains(n)))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_replica_restart_deletes_exactly_the_named_pod() {
    let Some(cluster) = testbed().await else { return };
    let ns = TestNamespace::create(&cluster, "onepod").await;
    create_deployment(&cluster, &ns.name, &deployment("checkout", "shop/checkout:v1", 3)).await;
    let pods: Vec<String> =
        live_pods(&cluster, &ns.name, "checkout").await.into_iter().filter_map(|p| p.metadata.name).collect();
    let (victim, others) = (pods[1].clone(), [pods[0].clone(), pods[2].clone()]);
    let actuator = actuator(&cluster, &ns.name, "checkout", "replica-a");
    let outcome = actuator.apply(&action("restart", Target::Named(victim.clone()), &[], "errors#step 1")).await;
    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.detail);
    assert!(outcome.detail.starts_with(&format!("deleted pod {victim}")), "{}", outcome.detail);
    wait_for(Duration::from_secs(60), "a replacement pod", || async {
        let now: Vec<String> =
            live_pods(&cluster, &ns.name, "checkout").await.into_iter().filter_map(|p| p.metadata.name).collect();
        now.len() == 3 && !now.contains(&victim) && others.iter().all(|o| now.contains(o))
    })
    .await;
    // A pod that is not the workload's is refused, and nothing is deleted.
    let stranger = actuator.apply(&action("restart", Target::Named("not-a-pod".into()), &[], "errors#step 2")).await;
    assert_eq!(stranger.status, OutcomeStatus::Failed);
    assert!(stranger.detail.contains("pod not-a-pod of deployment"), "{}", stranger.detail);
    assert_eq!(live_pods(&cluster, &ns.name, "checkout").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_scale_moves_within_the_steps_bounds_and_is_refused_beyond_them() {
    let Some(cluster) = testbed().await else { return };
    let ns = TestNamespace::create(&cluster, "scale").await;
    create_deployment(&cluster, &ns.name, &deployment("checkout", "shop/checkout:v1", 2)).await;
    let actuator = actuator(&cluster, &ns.name, "checkout", "replica-a");
    let up = actuator.apply(&action("scale", Target::All, &[("by", "2"), ("max", "4")], "load#step 1")).await;
    assert_eq!(up.status, OutcomeStatus::Succeeded, "{}", up.detail);
    assert!(up.detail.contains("from 2 to 4 replicas"), "{}", up.detail);
    wait_for(Duration::from_secs(60), "4 ready replicas", || async {
        actuator.status("svc").await.is_some_and(|s| s.rolled_out() && s.replicas.len() == 4)
    })
    .await;
    let beyond = actuator.apply(&action("scale", Target::All, &[("by", "1"), ("max", "4")], "load#step 2")).await;
    assert_eq!(beyond.status, OutcomeStatus::Skipped, "{}", beyond.detail);
    assert!(beyond.detail.contains("from 4 to 5 replicas refused: above the step's max 4"), "{}", beyond.detail);
    let below = actuator.apply(&action("scale", Target::All, &[("replicas", "0"), ("min", "1")], "load#step 3")).await;
    assert_eq!(below.status, OutcomeStatus::Skipped, "{}", below.detail);
    assert!(below.detail.contains("below the step's min 1"), "{}", below.detail);
    let status = actuator.status("svc").await.expect("status");
    assert_eq!(status.rollout.map(|r| r.desired), Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_cordon_and_uncordon_mark_the_node_of_the_named_pod() {
    let Some(cluster) = testbed().await else { return };
    let ns = TestNamespace::create(&cluster, "cordon").await;
    let mut pool = TestNodes::new(&cluster);
    let node = pool.add(&ns.name).await;
    create_deployment(&cluster, &ns.name, &pinned(deployment("checkout", "shop/checkout:v1", 1), &ns.name)).await;
    let pod = live_pods(&cluster, &ns.name, "checkout").await.remove(0);
    assert_eq!(pod.spec.and_then(|s| s.node_name).as_deref(), Some(node.as_str()));
    let name = pod.metadata.name.expect("named");
    let actuator = actuator(&cluster, &ns.name, "checkout", "replica-a");
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    let unschedulable =
        || async { nodes.get(&node).await.expect("node").spec.and_then(|s| s.unschedulable) == Some(true) };
    let cordoned = actuator.apply(&action("cordon", Target::Named(name.clone()), &[], "disk#step 1")).await;
    assert_eq!(cordoned.detail, format!("cordoned node {node}"));
    assert!(unschedulable().await);
    let back = actuator.apply(&action("uncordon", Target::All, &[("node", &node)], "disk#step 2")).await;
    assert_eq!(back.detail, format!("uncordoned node {node}"));
    assert!(!unschedulable().await);
    let nowhere = actuator.apply(&action("cordon", Target::All, &[], "disk#step 3")).await;
    assert_eq!(nowhere.status, OutcomeStatus::Failed);
    assert!(nowhere.detail.contains("needs `node:`"), "{}", nowhere.detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_drain_evicts_one_pod_at_a_time_as_the_disruption_budget_allows() {
    let Some(cluster) = testbed().await else { return };
    let ns = TestNamespace::create(&cluster, "drain").await;
    let mut pool = TestNodes::new(&cluster);
    let first = pool.add(&ns.name).await;
    create_deployment(&cluster, &ns.name, &pinned(deployment("checkout", "shop/checkout:v1", 2), &ns.name)).await;
    create_pdb(&cluster, &ns.name, "checkout", 1).await;
    let on_first = || async {
        live_pods(&cluster, &ns.name, "checkout")
            .await
            .into_iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(first.as_str()))
            .count()
    };
    assert_eq!(on_first().await, 2);

    let actuator = actuator(&cluster, &ns.name, "checkout", "replica-a");
    let drain = action("drain", Target::All, &[("node", &first), ("timeout", "60s")], "disk#step 1");
    let running = tokio::spawn({
        let actuator = actuator.clone();
        async move { actuator.apply(&drain).await }
    });
    // The budget allows one disruption. With nowhere for the first pod's replacement to
    // run, the second pod's eviction is refused again and again: it stays.
    wait_for(Duration::from_secs(30), "the first eviction", || async { on_first().await == 1 }).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(on_first().await, 1, "the second pod waits for the budget");
    assert!(!running.is_finished());
    // A node for the replacement: once it is ready, the budget allows the second eviction.
    let second = pool.add(&ns.name).await;
    let outcome = running.await.expect("drain");
    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.detail);
    assert!(outcome.detail.starts_with(&format!("drained node {first}: 2 pods evicted")), "{}", outcome.detail);
    assert!(outcome.detail.contains("evictions waited on a disruption budget"), "{}", outcome.detail);
    wait_for(Duration::from_secs(60), "both pods to run on the second node", || async {
        let pods = live_pods(&cluster, &ns.name, "checkout").await;
        pods.len() == 2
            && pods.iter().all(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(second.as_str()))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_drain_that_the_budget_forbids_fails_at_its_deadline_and_forces_nothing() {
    let Some(cluster) = testbed().await else { return };
    let ns = TestNamespace::create(&cluster, "nodrain").await;
    let mut pool = TestNodes::new(&cluster);
    let node = pool.add(&ns.name).await;
    create_deployment(&cluster, &ns.name, &pinned(deployment("checkout", "shop/checkout:v1", 2), &ns.name)).await;
    pool.add(&ns.name).await;
    create_pdb(&cluster, &ns.name, "checkout", 2).await;
    let before: Vec<String> =
        live_pods(&cluster, &ns.name, "checkout").await.into_iter().filter_map(|p| p.metadata.name).collect();

    let actuator = actuator(&cluster, &ns.name, "checkout", "replica-a");
    let drain = action("drain", Target::All, &[("node", &node), ("timeout", "3s")], "disk#step 1");
    let started = std::time::Instant::now();
    let outcome = actuator.apply(&drain).await;
    assert_eq!(outcome.status, OutcomeStatus::Failed, "{}", outcome.detail);
    assert!(started.elapsed() >= Duration::from_secs(3), "it waited out its deadline");
    assert!(
        outcome.detail.contains(&format!("drain of node {node} did not finish within 3s: 2 pods left")),
        "{}",
        outcome.detail
    );
    assert!(outcome.detail.contains("disruption budget"), "{}", outcome.detail);
    assert!(outcome.detail.ends_with("nothing was forced"), "{}", outcome.detail);
    let after: Vec<String> =
        live_pods(&cluster, &ns.name, "checkout").await.into_iter().filter_map(|p| p.metadata.name).collect();
    assert_eq!(after, before, "no pod was evicted or deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_a_statefulset_rolls_back_through_its_controller_revisions() {
    use k8s_openapi::api::apps::v1::StatefulSet;
    use kube::api::{Patch, PatchParams, PostParams};
    use kubernetes::{Workload, WorkloadKind};
    let Some(cluster) = testbed().await else { return };
    let ns = TestNamespace::create(&cluster, "sts").await;
    let api: Api<StatefulSet> = Api::namespaced(cluster.client.clone(), &ns.name);
    let sts: StatefulSet = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "ledger" },
        "spec": {
            "replicas": 2,
            "serviceName": "ledger",
            "selector": { "matchLabels": { "app": "ledger" } },
            "template": { "metadata": { "labels": { "app": "ledger" } },
                          "spec": { "containers": [{ "name": "app", "image": "shop/ledger:v1" }] } }
        }
    }))
    .expect("statefulset");
    api.create(&PostParams::default(), &sts).await.expect("create");
    let w =
        Workload { namespace: ns.name.clone(), kind: WorkloadKind::StatefulSet, name: "ledger".into(), selector: None };
    let rolled = |image: &'static str| {
        let (w, cluster, api) = (w.clone(), cluster.clone(), api.clone());
        move || {
            let (w, cluster, api) = (w.clone(), cluster.clone(), api.clone());
            async move {
                let complete = w.get(&cluster).await.is_ok_and(|o| o.rollout().complete());
                let current =
                    api.get("ledger").await.ok().and_then(|s| s.spec?.template.spec?.containers.first()?.image.clone());
                complete && current.as_deref() == Some(image)
            }
        }
    };
    wait_for(Duration::from_secs(60), "v1 to roll out", rolled("shop/ledger:v1")).await;
    let patch = serde_json::json!({ "spec": { "template": { "spec": { "containers": [{ "name": "app", "image": "shop/ledger:v2" }] } } } });
    api.patch("ledger", &PatchParams::default(), &Patch::Strategic(&patch)).await.expect("v2");
    wait_for(Duration::from_secs(60), "v2 to roll out", rolled("shop/ledger:v2")).await;

    let workloads = [("svc".to_owned(), w.clone())].into();
    let actuator =
        kubernetes::KubernetesActuator::new(cluster.clone(), workloads, "replica-a", std::sync::Arc::new(WallClock));
    let outcome = actuator.apply(&action("rollback", Target::All, &[], "errors#step 1")).await;
    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.detail);
    assert!(outcome.detail.contains("(shop/ledger:v2) to revision 1 (shop/ledger:v1)"), "{}", outcome.detail);
    wait_for(Duration::from_secs(60), "the rollback to roll out", rolled("shop/ledger:v1")).await;
    assert!(actuator.status("svc").await.is_some_and(|s| s.rolled_out() && s.replicas.len() == 2));
}
