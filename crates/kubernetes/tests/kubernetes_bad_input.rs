//! What the `kubernetes` actuator makes of a cluster that says no: a workload that does not
//! exist, RBAC that forbids a verb (a real 403 from the test control plane), an API server
//! out of reach or silent, a kubeconfig that is missing or not one. Each is a failed
//! outcome or a connect error that says what and where; nothing panics.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use kubernetes::{ApiError, Cluster, ClusterSettings, ConnectError, KubernetesActuator};
use model::{Actuator, OutcomeStatus, Target};

fn settings(kubeconfig: std::path::PathBuf, timeout: Duration) -> ClusterSettings {
    ClusterSettings { kubeconfig: Some(kubeconfig), context: None, request_timeout: timeout }
}

/// A kubeconfig whose server is `https://127.0.0.1:PORT`.
fn kubeconfig_for(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{ server: \"https://127.0.0.1:{port}\", insecure-skip-tls-verify: true }}\nusers:\n- name: u\n  user: {{ token: t }}\ncontexts:\n- name: c\n  context: {{ cluster: c, user: u }}\ncurrent-context: c\n"
    );
    std::fs::write(&path, text).expect("kubeconfig");
    path
}

#[tokio::test]
async fn kubernetes_a_missing_or_broken_kubeconfig_is_a_clear_connect_error() {
    let dir = tempfile::tempdir().expect("dir");
    let missing = dir.path().join("nope.kubeconfig");
    let e = Cluster::connect(&settings(missing.clone(), Duration::from_secs(1))).await.expect_err("missing");
    assert!(
        matches!(&e, ConnectError::Kubeconfig { path, reason } if path == &missing.display().to_string() && reason == "no such file"),
        "{e}"
    );
    let broken = dir.path().join("broken.kubeconfig");
    std::fs::write(&broken, "clusters: [oops").expect("write");
    let e = Cluster::connect(&settings(broken.clone(), Duration::from_secs(1))).await.expect_err("broken");
    assert!(e.to_string().starts_with(&format!("kubeconfig {}: ", broken.display())), "{e}");
    assert!(kubernetes::check_kubeconfig(&broken, None).is_err());
    let good = kubeconfig_for(dir.path(), 1);
    assert_eq!(kubernetes::check_kubeconfig(&good, Some("c")), Ok(()));
    let context = kubernetes::check_kubeconfig(&good, Some("prod")).expect_err("no such context");
    assert_eq!(context, "has no context \"prod\"; it has: c");
}

#[tokio::test]
async fn kubernetes_an_api_server_out_of_reach_or_silent_fails_the_action_in_time() {
    let dir = tempfile::tempdir().expect("dir");
    // Nothing listens on a port just released: connection refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let cluster =
        Cluster::connect(&settings(kubeconfig_for(dir.path(), closed), Duration::from_secs(2))).await.expect("client");
    let actuator = KubernetesActuator::new(
        cluster,
        [("svc".to_owned(), workload("shop", "checkout"))].into(),
        "a",
        Arc::new(WallClock),
    );
    let outcome = actuator.apply(&action("restart", Target::All, &[], "errors#step 1")).await;
    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(
        outcome.detail.starts_with("get deployment shop/checkout: cannot reach the API server"),
        "{}",
        outcome.detail
    );
    assert_eq!(actuator.status("svc").await, None);

    // A server that accepts connections and never answers: the call's timeout ends it.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let cluster = Cluster::connect(&settings(kubeconfig_for(dir.path(), port), Duration::from_millis(500)))
        .await
        .expect("client");
    let actuator = KubernetesActuator::new(
        cluster,
        [("svc".to_owned(), workload("shop", "checkout"))].into(),
        "a",
        Arc::new(WallClock),
    );
    let started = std::time::Instant::now();
    let outcome = actuator.apply(&action("scale", Target::All, &[("by", "1")], "load#step 1")).await;
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(outcome.detail, "get deployment shop/checkout: the API server did not answer within 500ms");
    held.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_a_missing_workload_and_a_forbidden_verb_are_failed_outcomes() {
    let Some(cluster) = testbed().await else { return };
    let ns = TestNamespace::create(&cluster, "badinput").await;
    let actuator = actuator(&cluster, &ns.name, "no-such-deployment", "replica-a");
    let problems = actuator.check_workloads().await;
    assert_eq!(problems.len(), 1);
    assert!(problems[0].1.is_not_found(), "{:?}", problems[0]);
    let outcome = actuator.apply(&action("rollback", Target::All, &[], "errors#step 1")).await;
    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(
        outcome.detail.starts_with(&format!("get deployment {}/no-such-deployment: not found (404)", ns.name)),
        "{}",
        outcome.detail
    );

    // The same calls as a service account that RBAC grants nothing: the API server's 403.
    create_deployment(&cluster, &ns.name, &deployment("checkout", "shop/checkout:v1", 1)).await;
    let mut config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(kubeconfig()).expect("kubeconfig"),
        &Default::default(),
    )
    .await
    .expect("config");
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{}:nobody", ns.name));
    let nobody = Cluster {
        client: kube::Client::try_from(config).expect("client"),
        server: String::new(),
        request_timeout: Duration::from_secs(10),
    };
    let forbidden = KubernetesActuator::new(
        nobody,
        [("svc".to_owned(), workload(&ns.name, "checkout"))].into(),
        "replica-a",
        Arc::new(WallClock),
    );
    let problems = forbidden.check_workloads().await;
    assert!(matches!(&problems[..], [(_, ApiError::Forbidden { .. })]), "{problems:?}");
    let outcome = forbidden.apply(&action("restart", Target::All, &[], "errors#step 1")).await;
    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.detail.contains("forbidden (403)"), "{}", outcome.detail);
    assert!(outcome.detail.contains("cannot get resource \"deployments\""), "{}", outcome.detail);
}
