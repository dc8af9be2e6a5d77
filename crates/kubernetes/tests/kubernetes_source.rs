//! The `kubernetes` source against the test control plane: pods found by a watch become
//! scrape targets (really scraped: kwok gives a host-network pod its node's address,
//! 127.0.0.1, where the test serves metrics), and container states set through the API
//! become signals that resolve when the pod goes.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use kubernetes::{KubernetesSource, SourceSettings};
use model::{ByName, Labels, SelfMetrics, SeriesReader, Signal, SignalSink, SignalState, Source, SourceContext};
use monitor::{ScrapeLimits, ScrapeTarget, SeriesStore};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves one counter on 127.0.0.1 to whoever asks; returns the port.
async fn metrics_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let body = "# TYPE checkout_requests_total counter\ncheckout_requests_total 42\n";
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(body.as_bytes()).await;
            });
        }
    });
    port
}

fn pod_values(store: &SeriesStore, metric: &str) -> Vec<(String, f64)> {
    let now = model::Clock::now(&WallClock);
    let mut out: Vec<(String, f64)> = store
        .read(&ByName(metric), now - 60_000, now + 1_000)
        .into_iter()
        .filter_map(|s| Some((s.labels.get("pod")?.to_owned(), s.samples.last()?.v)))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_source_scrapes_each_pod_and_raises_its_container_states() {
    let Some(cluster) = testbed().await else { return };
    let ns = TestNamespace::create(&cluster, "source").await;
    let port = metrics_server().await;
    let mut d = deployment("checkout", "shop/checkout:v1", 2);
    if let Some(spec) = d.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
        spec.host_network = Some(true);
        spec.containers[0].ports =
            Some(vec![serde_json::from_value(json!({ "name": "metrics", "containerPort": port })).expect("port")]);
    }
    create_deployment(&cluster, &ns.name, &d).await;
    let pods: Vec<String> =
        live_pods(&cluster, &ns.name, "checkout").await.into_iter().filter_map(|p| p.metadata.name).collect();

    let store = Arc::new(SeriesStore::new(Duration::from_secs(600), 10_000));
    let signals: Arc<Mutex<Vec<Signal>>> = Arc::default();
    let seen = signals.clone();
    let ctx = SourceContext {
        samples: store.clone(),
        signals: SignalSink::new(move |s| seen.lock().expect("signals").push(s)),
        clock: Arc::new(WallClock),
        metrics: SelfMetrics::new(),
    };
    let prototype = ScrapeTarget {
        url: "http://{addr}/metrics".into(),
        labels: Labels::from_pairs([("job", "checkout"), ("service", "checkout")]),
        interval: Duration::from_millis(200),
        timeout: Duration::from_millis(150),
        down_after: 2,
        limits: ScrapeLimits::default(),
    };
    let source = KubernetesSource::new(
        cluster.clone(),
        "checkout",
        workload(&ns.name, "checkout"),
        Some(prototype),
        reqwest::Client::new(),
        SourceSettings::default(),
    );
    let running = tokio::spawn(source.run(ctx));

    // Every pod is a target, scraped, its series labelled with the pod, node and namespace.
    wait_for(Duration::from_secs(20), "both pods to be scraped", || async {
        pod_values(&store, "checkout_requests_total").len() == 2
    })
    .await;
    let want: Vec<(String, f64)> = pods.iter().map(|p| (p.clone(), 42.0)).collect();
    assert_eq!(pod_values(&store, "checkout_requests_total"), want);
    let now = model::Clock::now(&WallClock);
    for s in store.read(&ByName("checkout_requests_total"), now - 60_000, now + 1_000) {
        assert_eq!(s.labels.get("namespace"), Some(ns.name.as_str()), "{}", s.labels);
        assert_eq!(s.labels.get("service"), Some("checkout"));
        assert!(s.labels.get("node").is_some_and(|n| n.starts_with("testbed-node-")), "{}", s.labels);
        assert_eq!(s.labels.get("instance"), Some(format!("127.0.0.1:{port}").as_str()));
    }
    wait_for(Duration::from_secs(10), "restart counts as series", || async {
        pod_values(&store, "kube_pod_container_status_restarts_total").len() == 2
    })
    .await;

    // A container in CrashLoopBackOff, set through the API as a kubelet would.
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns.name);
    let status = json!({ "status": { "containerStatuses": [{
        "name": "app", "image": "shop/checkout:v1", "imageID": "", "ready": false, "restartCount": 3,
        "state": { "waiting": { "reason": "CrashLoopBackOff" } } }] } });
    api.patch_status(&pods[0], &PatchParams::default(), &Patch::Merge(&status)).await.expect("status");
    let edge = |state: SignalState| {
        let (signals, pod) = (signals.clone(), pods[0].clone());
        move || {
            let (signals, pod) = (signals.clone(), pod.clone());
            async move {
                signals.lock().expect("signals").iter().any(|s| {
                    s.name == "CrashLoopBackOff" && s.state == state && s.labels.get("pod") == Some(pod.as_str())
                })
            }
        }
    };
    wait_for(Duration::from_secs(10), "a CrashLoopBackOff signal", edge(SignalState::Firing)).await;
    wait_for(Duration::from_secs(10), "its restart count", || async {
        pod_values(&store, "kube_pod_container_status_restarts_total").iter().any(|(p, v)| p == &pods[0] && *v == 3.0)
    })
    .await;
    {
        let all = signals.lock().expect("signals");
        let fired: Vec<&Signal> = all.iter().filter(|s| s.name == "CrashLoopBackOff").collect();
        assert_eq!(fired.len(), 1, "one edge, not one per watch event: {fired:?}");
        assert_eq!(fired[0].service.as_deref(), Some("checkout"));
        assert_eq!(fired[0].labels.get("container"), Some("app"));
    }
    // The pod goes: its signal resolves, and its target with it.
    api.delete(&pods[0], &DeleteParams::default()).await.expect("delete");
    wait_for(Duration::from_secs(20), "the signal to resolve", edge(SignalState::Resolved)).await;
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns.name);
    deployments
        .patch("checkout", &PatchParams::default(), &Patch::Merge(&json!({ "spec": { "replicas": 1 } })))
        .await
        .expect("scale");
    wait_rolled_out(&cluster, &ns.name, "checkout").await;
    running.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_source_raises_a_warning_event_about_a_pod_until_it_goes_quiet() {
    use k8s_openapi::api::core::v1::Event as KubeEvent;
    use kube::api::PostParams;
    let Some(cluster) = testbed().await else { return };
    let ns = TestNamespace::create(&cluster, "events").await;
    create_deployment(&cluster, &ns.name, &deployment("checkout", "shop/checkout:v1", 1)).await;
    let pod = live_pods(&cluster, &ns.name, "checkout").await.remove(0).metadata.name.expect("pod");
    let signals: Arc<Mutex<Vec<Signal>>> = Arc::default();
    let seen = signals.clone();
    let ctx = SourceContext {
        samples: Arc::new(SeriesStore::new(Duration::from_secs(600), 10_000)),
        signals: SignalSink::new(move |s| seen.lock().expect("signals").push(s)),
        clock: Arc::new(WallClock),
        metrics: SelfMetrics::new(),
    };
    let settings = SourceSettings { event_window: Duration::from_secs(2), ..SourceSettings::default() };
    let source = KubernetesSource::new(
        cluster.clone(),
        "checkout",
        workload(&ns.name, "checkout"),
        None,
        reqwest::Client::new(),
        settings,
    );
    let running = tokio::spawn(source.run(ctx));
    // An event another workload's pod raised is not this service's.
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let event = |name: &str, about: &str| -> KubeEvent {
        serde_json::from_value(json!({
            "metadata": { "name": name },
            "involvedObject": { "kind": "Pod", "name": about, "namespace": ns.name },
            "type": "Warning", "reason": "Unhealthy", "message": "Readiness probe failed: HTTP probe failed with statuscode: 503",
            "firstTimestamp": now, "lastTimestamp": now, "count": 1, "source": { "component": "kubelet" }
        }))
        .expect("event")
    };
    let events: Api<KubeEvent> = Api::namespaced(cluster.client.clone(), &ns.name);
    events.create(&PostParams::default(), &event("other", "payments-0")).await.expect("event");
    events.create(&PostParams::default(), &event("ours", &pod)).await.expect("event");
    let unhealthy = |state: SignalState| {
        let (signals, pod) = (signals.clone(), pod.clone());
        move || {
            let (signals, pod) = (signals.clone(), pod.clone());
            async move {
                signals
                    .lock()
                    .expect("signals")
                    .iter()
                    .any(|s| s.name == "Unhealthy" && s.state == state && s.labels.get("pod") == Some(pod.as_str()))
            }
        }
    };
    wait_for(Duration::from_secs(10), "an Unhealthy signal", unhealthy(SignalState::Firing)).await;
    // Quiet for the event window: it resolves by itself.
    wait_for(Duration::from_secs(10), "the signal to resolve", unhealthy(SignalState::Resolved)).await;
    let all = signals.lock().expect("signals").clone();
    assert!(all.iter().all(|s| s.labels.get("pod") != Some("payments-0")), "{all:?}");
    assert_eq!(all.iter().filter(|s| s.state == SignalState::Firing).count(), 1, "{all:?}");
    assert_eq!(all[0].kind, model::SignalKind::Workload);
    running.abort();
}
