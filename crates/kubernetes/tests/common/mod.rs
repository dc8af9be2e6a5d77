//! The test control plane (`scripts/k8s-testbed`): a real kube-apiserver, controller
//! manager and etcd on 127.0.0.1, with kwok's fake nodes running pods. Tests use only the
//! test bed's own kubeconfig (never `$KUBECONFIG`, which may be a real cluster), each in a
//! namespace of its own. Without the test bed a test says it skipped, unless
//! `AUTONOMIC_REQUIRE_KUBERNETES` is set (as `.ci/run` sets it): then it fails.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kubernetes::{Cluster, ClusterSettings, KubernetesActuator, Workload, WorkloadKind};
use model::{Action, Clock, Millis, ORIGIN, Params, Target};
use serde_json::json;

/// The test bed's state directory (as `scripts/k8s-testbed` chooses it).
pub fn run_dir() -> PathBuf {
    std::env::var_os("AUTONOMIC_K8S_RUN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/autonomic-k8s-testbed"))
}

/// The test bed's admin kubeconfig.
pub fn kubeconfig() -> PathBuf {
    run_dir().join("admin.kubeconfig")
}

/// A client of the running test bed; `None` (the test skips) when it is not running.
pub async fn testbed() -> Option<Cluster> {
    let required = std::env::var_os("AUTONOMIC_REQUIRE_KUBERNETES").is_some();
    let path = kubeconfig();
    let missing = |why: String| {
        assert!(
            !required,
            "the Kubernetes test bed is required here: {why} (scripts/k8s-testbed build && scripts/k8s-testbed start)"
        );
        eprintln!("skipped: no Kubernetes test bed: {why} (scripts/k8s-testbed build && scripts/k8s-testbed start)");
        None
    };
    if !path.exists() {
        return missing(format!("{} does not exist", path.display()));
    }
    let settings = ClusterSettings { kubeconfig: Some(path), context: None, request_timeout: Duration::from_secs(10) };
    let cluster = match Cluster::connect(&settings).await {
        Ok(c) => c,
        Err(e) => return missing(e.to_string()),
    };
    let ns: Api<Namespace> = Api::all(cluster.client.clone());
    match cluster.call(|| "get namespace default".into(), ns.get("default")).await {
        Ok(_) => Some(cluster),
        Err(e) => missing(e.to_string()),
    }
}

/// A namespace of the test's own, deleted when dropped.
pub struct TestNamespace {
    pub name: String,
    cluster: Cluster,
}

impl TestNamespace {
    pub async fn create(cluster: &Cluster, test: &str) -> Self {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let name = format!("{test}-{:x}", nanos ^ std::process::id());
        let api: Api<Namespace> = Api::all(cluster.client.clone());
        let ns: Namespace = serde_json::from_value(json!({ "metadata": { "name": name } })).expect("namespace");
        api.create(&PostParams::default(), &ns).await.expect("create namespace");
        Self { name, cluster: cluster.clone() }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let (client, name) = (self.cluster.client.clone(), self.name.clone());
        // Best effort, without blocking the test's runtime: the test bed is throwaway.
        std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(async move {
                    let api: Api<Namespace> = Api::all(client);
                    let _ = api.delete(&name, &DeleteParams::default()).await;
                });
            }
        })
        .join()
        .ok();
    }
}

/// Waits until `check` holds, polling every 100 ms, or fails the test naming `what`.
pub async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A Deployment of `replicas` pods running `image`, labelled `app: NAME`.
pub fn deployment(name: &str, image: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "strategy": { "rollingUpdate": { "maxUnavailable": 1, "maxSurge": 1 } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": {
                    "containers": [{ "name": "app", "image": image, "ports": [{ "name": "metrics", "containerPort": 8080 }] }]
                }
            }
        }
    }))
    .expect("deployment")
}

/// Creates the Deployment and waits until it is rolled out.
pub async fn create_deployment(cluster: &Cluster, ns: &str, d: &Deployment) {
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), ns);
    api.create(&PostParams::default(), d).await.expect("create deployment");
    let name = d.metadata.name.clone().unwrap_or_default();
    wait_rolled_out(cluster, ns, &name).await;
}

/// Waits until the Deployment's rollout is complete (as `kubectl rollout status` says).
pub async fn wait_rolled_out(cluster: &Cluster, ns: &str, name: &str) {
    let w = workload(ns, name);
    wait_for(Duration::from_secs(60), &format!("{w} to roll out"), || async {
        match w.get(cluster).await {
            Ok(o) => o.rollout().complete(),
            Err(_) => false,
        }
    })
    .await;
}

/// Sets the image of the Deployment's container (a new revision).
pub async fn set_image(cluster: &Cluster, ns: &str, name: &str, image: &str) {
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), ns);
    let patch = json!({ "spec": { "template": { "spec": { "containers": [{ "name": "app", "image": image }] } } } });
    api.patch(name, &PatchParams::default(), &Patch::Strategic(&patch)).await.expect("set image");
}

/// The image the Deployment's template runs.
pub async fn image_of(cluster: &Cluster, ns: &str, name: &str) -> String {
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), ns);
    let d = api.get(name).await.expect("get deployment");
    d.spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers.first().and_then(|c| c.image.clone()))
        .unwrap_or_default()
}

/// The pods of `app: NAME`, not terminating.
pub async fn live_pods(cluster: &Cluster, ns: &str, app: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let list = api.list(&ListParams::default().labels(&format!("app={app}"))).await.expect("list pods");
    list.items.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect()
}

pub fn workload(ns: &str, name: &str) -> Workload {
    Workload { namespace: ns.to_owned(), kind: WorkloadKind::Deployment, name: name.to_owned(), selector: None }
}

/// Wall-clock time for the actuator (its records carry real timestamps).
#[derive(Debug)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Millis {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as Millis).unwrap_or(0)
    }
}

/// An actuator for service `svc` mapped to the Deployment `ns/name`, as `identity`.
pub fn actuator(cluster: &Cluster, ns: &str, name: &str, identity: &str) -> KubernetesActuator {
    let workloads = [("svc".to_owned(), workload(ns, name))].into_iter().collect();
    KubernetesActuator::new(cluster.clone(), workloads, identity, Arc::new(WallClock))
}

/// The action a ladder's step would ask of service `svc`.
pub fn action(verb: &str, target: Target, params: &[(&str, &str)], origin: &str) -> Action {
    let mut p: Params = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    p.insert(ORIGIN.to_owned(), origin.to_owned());
    let spec = kubernetes::KUBERNETES.verb(verb).expect("a kubernetes verb");
    spec.action("svc", target, p, "test")
}

/// Nodes of the test's own (kwok runs them): labelled `autonomic.test/pool=NS` and tainted
/// so that only the test's pinned pods ([`pinned`]) run there, and deleted when dropped. A
/// test that cordons or drains acts on these, never on a node other tests share.
pub struct TestNodes {
    pub names: Vec<String>,
    cluster: Cluster,
}

impl TestNodes {
    /// Adds one node to the pool and waits until kwok reports it Ready.
    pub async fn add(&mut self, ns: &str) -> String {
        let name = format!("{ns}-node-{}", self.names.len() + 1);
        let api: Api<k8s_openapi::api::core::v1::Node> = Api::all(self.cluster.client.clone());
        let node = serde_json::from_value(json!({
            "metadata": {
                "name": name,
                "annotations": { "kwok.x-k8s.io/node": "fake" },
                "labels": { "kubernetes.io/hostname": name, "type": "kwok", "autonomic.test/pool": ns }
            },
            "spec": { "taints": [{ "key": "autonomic.test/pool", "value": ns, "effect": "NoSchedule" }] },
            "status": {
                "allocatable": { "cpu": "32", "memory": "64Gi", "pods": "110" },
                "capacity": { "cpu": "32", "memory": "64Gi", "pods": "110" }
            }
        }))
        .expect("node");
        api.create(&PostParams::default(), &node).await.expect("create node");
        self.names.push(name.clone());
        wait_for(Duration::from_secs(30), &format!("node {name} to be ready"), || async {
            let Ok(mut n) = api.get(&name).await else { return false };
            // The API server taints a new node not-ready and no node lifecycle controller
            // runs in the test bed to lift it: lift it once kwok says Ready.
            let ready = n
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            let taints = n.spec.as_mut().and_then(|s| s.taints.as_mut());
            let not_ready = taints.as_ref().is_some_and(|t| t.iter().any(|t| t.key == "node.kubernetes.io/not-ready"));
            if ready && not_ready {
                let keep: Vec<_> = n
                    .spec
                    .as_ref()
                    .and_then(|s| s.taints.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|t| t.key != "node.kubernetes.io/not-ready")
                    .collect();
                let patch = json!({ "spec": { "taints": keep } });
                let _ = api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await;
                return false;
            }
            ready && !not_ready
        })
        .await;
        name
    }

    pub fn new(cluster: &Cluster) -> Self {
        Self { names: Vec::new(), cluster: cluster.clone() }
    }
}

impl Drop for TestNodes {
    fn drop(&mut self) {
        let (client, names) = (self.cluster.client.clone(), std::mem::take(&mut self.names));
        std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(async move {
                    let api: Api<k8s_openapi::api::core::v1::Node> = Api::all(client);
                    for n in names {
                        let _ = api.delete(&n, &DeleteParams::default()).await;
                    }
                });
            }
        })
        .join()
        .ok();
    }
}

/// `d` pinned to the test's own nodes (see [`TestNodes`]).
pub fn pinned(mut d: Deployment, ns: &str) -> Deployment {
    if let Some(spec) = d.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
        spec.node_selector = Some([("autonomic.test/pool".to_owned(), ns.to_owned())].into_iter().collect());
        spec.tolerations = Some(vec![
            serde_json::from_value(
                json!({ "key": "autonomic.test/pool", "operator": "Equal", "value": ns, "effect": "NoSchedule" }),
            )
            .expect("toleration"),
        ]);
    }
    d
}

/// A PodDisruptionBudget over `app: NAME` keeping `min_available` pods.
pub async fn create_pdb(cluster: &Cluster, ns: &str, app: &str, min_available: i32) {
    let api: Api<k8s_openapi::api::policy::v1::PodDisruptionBudget> = Api::namespaced(cluster.client.clone(), ns);
    let pdb = serde_json::from_value(json!({
        "metadata": { "name": app },
        "spec": { "minAvailable": min_available, "selector": { "matchLabels": { "app": app } } }
    }))
    .expect("pdb");
    api.create(&PostParams::default(), &pdb).await.expect("create pdb");
    // The disruption controller computes what the budget allows: wait until it has.
    wait_for(Duration::from_secs(30), "the disruption controller to compute the budget", || async {
        api.get(app).await.is_ok_and(|p| p.status.is_some_and(|s| s.observed_generation.is_some()))
    })
    .await;
}

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the test bed's `kubectl` with its admin kubeconfig; its output, or a failed test.
pub fn kubectl(args: &[&str]) -> String {
    let env = std::process::Command::new("bash")
        .arg(repo().join("scripts/k8s-testbed"))
        .arg("env")
        .output()
        .expect("k8s-testbed env");
    let env = String::from_utf8_lossy(&env.stdout).into_owned();
    let bin = env
        .lines()
        .find_map(|l| l.strip_prefix("export PATH="))
        .and_then(|p| p.split(':').next())
        .map(PathBuf::from)
        .expect("the test bed's PATH");
    let out = std::process::Command::new(bin.join("kubectl"))
        .arg("--kubeconfig")
        .arg(kubeconfig())
        .args(args)
        .output()
        .expect("kubectl runs");
    assert!(out.status.success(), "kubectl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A client of the test bed acting as `user` (impersonated by the admin).
pub async fn impersonating(user: &str) -> Cluster {
    let mut config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(kubeconfig()).expect("kubeconfig"),
        &Default::default(),
    )
    .await
    .expect("config");
    config.auth_info.impersonate = Some(user.to_owned());
    config.default_retry = false;
    Cluster {
        client: kube::Client::try_from(config).expect("client"),
        server: String::new(),
        request_timeout: Duration::from_secs(10),
    }
}
