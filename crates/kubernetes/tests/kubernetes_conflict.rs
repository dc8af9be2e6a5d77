//! A conflicting update (409) on the real control plane: the Deployment changes between the
//! actuator's read and its write. The change is made by a relay in front of the API server
//! (a test double of the network path only: it forwards every request to the real API
//! server with the test bed's credentials, and before the first patch of the Deployment
//! changes it, as another client would), so the conflict is the API server's own answer.

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kubernetes::{Cluster, ClusterSettings, KubernetesActuator};
use model::{Actuator, OutcomeStatus, Target};
use serde_json::json;

/// Relays to the API server; before the first PATCH of `deployment`, annotates it through
/// `admin` (a concurrent writer). Counts the patches and the conflicts answered.
async fn relay(
    admin: Cluster,
    ns: String,
    deployment: String,
    patches: Arc<AtomicUsize>,
    conflicts: Arc<AtomicUsize>,
) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (admin, ns, deployment, patches, conflicts) =
                (admin.clone(), ns.clone(), deployment.clone(), patches.clone(), conflicts.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let (admin, ns, deployment, patches, conflicts) =
                        (admin.clone(), ns.clone(), deployment.clone(), patches.clone(), conflicts.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
                        let ours = parts.uri.path().ends_with(&format!("/namespaces/{ns}/deployments/{deployment}"));
                        if parts.method == http::Method::PATCH && ours && patches.fetch_add(1, Ordering::SeqCst) == 0 {
                            let api: Api<Deployment> = Api::namespaced(admin.client.clone(), &ns);
                            let change = json!({ "metadata": { "annotations": { "someone-else": "was here" } } });
                            api.patch(&deployment, &PatchParams::default(), &Patch::Merge(&change))
                                .await
                                .expect("concurrent write");
                        }
                        let mut forward = http::Request::builder().method(parts.method).uri(parts.uri);
                        for (k, v) in parts
                            .headers
                            .iter()
                            .filter(|(k, _)| *k == http::header::CONTENT_TYPE || *k == http::header::ACCEPT)
                        {
                            forward = forward.header(k, v);
                        }
                        let forward = forward.body(kube::client::Body::from(body)).expect("request");
                        let response = admin.client.send(forward).await.expect("the API server answers");
                        if response.status() == http::StatusCode::CONFLICT {
                            conflicts.fetch_add(1, Ordering::SeqCst);
                        }
                        let (parts, body) = response.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        Ok::<_, Infallible>(http::Response::from_parts(parts, http_body_util::Full::new(body)))
                    }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_a_conflicting_update_is_tried_again_on_the_fresh_object() {
    let Some(cluster) = testbed().await else { return };
    let ns = TestNamespace::create(&cluster, "conflict").await;
    create_deployment(&cluster, &ns.name, &deployment("checkout", "shop/checkout:v1", 2)).await;
    let (patches, conflicts) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let port = relay(cluster.clone(), ns.name.clone(), "checkout".into(), patches.clone(), conflicts.clone()).await;
    let dir = tempfile::tempdir().expect("dir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters: [{{ name: relay, cluster: {{ server: \"http://127.0.0.1:{port}\" }} }}]\nusers: [{{ name: u, user: {{}} }}]\ncontexts: [{{ name: relay, context: {{ cluster: relay, user: u }} }}]\ncurrent-context: relay\n"),
    )
    .expect("kubeconfig");
    let settings =
        ClusterSettings { kubeconfig: Some(kubeconfig), context: None, request_timeout: Duration::from_secs(10) };
    let through_relay = Cluster::connect(&settings).await.expect("client");
    let workloads = [("svc".to_owned(), workload(&ns.name, "checkout"))].into();
    let actuator = KubernetesActuator::new(through_relay, workloads, "replica-a", Arc::new(WallClock));

    let outcome = actuator.apply(&action("scale", Target::All, &[("by", "1"), ("max", "5")], "load#step 1")).await;
    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{}", outcome.detail);
    assert_eq!(outcome.detail, format!("scaled deployment {}/checkout from 2 to 3 replicas", ns.name));
    // The first write met the API server's 409; each conflict was sent again on the fresh
    // object (the Deployment controller's own status writes may add conflicts of their own).
    let (conflicts, patches) = (conflicts.load(Ordering::SeqCst), patches.load(Ordering::SeqCst));
    assert!(conflicts >= 1, "the concurrent write made the first patch conflict");
    assert_eq!(patches, conflicts + 1, "every conflict was tried again, and the last write succeeded");
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns.name);
    let d = api.get("checkout").await.expect("deployment");
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(3));
    let annotations = d.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations.get("someone-else").map(String::as_str),
        Some("was here"),
        "the other writer's change stands"
    );
    assert!(annotations.contains_key(kubernetes::record::ACTIONS));
}
