//! `autonomic bench kubernetes`: a bad release on a real control plane, healed by
//! Autonomic and left alone by plain Kubernetes, side by side. For each run: a Deployment
//! rolls out a new image (the bad release); an alert naming it is posted to Autonomic's
//! Alertmanager webhook; the times from that post to the API call that rolls back (the
//! action record Autonomic writes on the Deployment in the same update) and to the
//! journal's `verified: rolled out` are taken. Beside it, the same bad release with no
//! controller: Kubernetes keeps it (it rolls back nothing by itself).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use knowledge::Journal;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kubernetes::{Cluster, ClusterSettings, Workload, WorkloadKind};
use serde_json::json;

/// Arguments of `bench kubernetes`.
#[derive(Debug, clap::Args)]
pub struct KubernetesArgs {
    /// The cluster's kubeconfig (default: the test bed's, `scripts/k8s-testbed start`).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Bad releases to heal.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// How long plain Kubernetes is watched for a rollback that never comes.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    plain_window: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    model::parse_duration(s)
}

/// The goal for alert-to-action, on top of the playbook's own waits (none here).
const GOAL_MS: f64 = 100.0;

struct Fixture {
    cluster: Cluster,
    namespace: String,
}

impl Fixture {
    async fn new(cluster: &Cluster, name: &str) -> anyhow::Result<Self> {
        let api: Api<Namespace> = Api::all(cluster.client.clone());
        let ns: Namespace = serde_json::from_value(json!({ "metadata": { "name": name } }))?;
        api.create(&PostParams::default(), &ns).await.with_context(|| format!("create namespace {name}"))?;
        Ok(Self { cluster: cluster.clone(), namespace: name.to_owned() })
    }

    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.cluster.client.clone(), &self.namespace)
    }

    /// A Deployment rolled out at v1, then at v2 (the bad release).
    async fn bad_release(&self, name: &str) -> anyhow::Result<()> {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": { "name": name },
            "spec": {
                "replicas": 3,
                "selector": { "matchLabels": { "app": name } },
                "template": { "metadata": { "labels": { "app": name } },
                              "spec": { "containers": [{ "name": "app", "image": "shop/checkout:v1" }] } }
            }
        }))?;
        self.deployments().create(&PostParams::default(), &d).await?;
        self.rolled_out(name).await?;
        let patch = json!({ "spec": { "template": { "spec": { "containers": [{ "name": "app", "image": "shop/checkout:v2" }] } } } });
        self.deployments().patch(name, &PatchParams::default(), &Patch::Strategic(&patch)).await?;
        self.rolled_out(name).await
    }

    async fn rolled_out(&self, name: &str) -> anyhow::Result<()> {
        let w = Workload {
            namespace: self.namespace.clone(),
            kind: WorkloadKind::Deployment,
            name: name.to_owned(),
            selector: None,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if w.get(&self.cluster).await.is_ok_and(|o| o.rollout().complete()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("{w} did not roll out in 60 s")
    }

    async fn image(&self, name: &str) -> anyhow::Result<String> {
        let d = self.deployments().get(name).await?;
        Ok(d.spec.and_then(|s| s.template.spec).and_then(|s| s.containers.first()?.image.clone()).unwrap_or_default())
    }

    /// When the action record on the Deployment says the rollback was sent (Unix ms).
    async fn acted_at(&self, name: &str) -> anyhow::Result<Option<i64>> {
        let d = self.deployments().get(name).await?;
        let records = kubernetes::record::ActionRecord::all(d.metadata.annotations.as_ref());
        Ok(records.last().map(|r| r.at))
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let (client, name) = (self.cluster.client.clone(), self.namespace.clone());
        tokio::spawn(async move {
            let api: Api<Namespace> = Api::all(client);
            let _ = api.delete(&name, &DeleteParams::default()).await;
        });
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

struct Controller(Child);

impl Drop for Controller {
    fn drop(&mut self) {
        // SAFETY: kill takes no pointers.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

fn start_controller(dir: &Path, kubeconfig: &Path, ns: &str, api: &str) -> anyhow::Result<Controller> {
    let config = format!(
        "journal: j.db\ngroup_wait: 0s\nkubernetes: {{ kubeconfig: \"{}\" }}\nservices:\n  checkout:\n    kubernetes: {{ namespace: {ns}, deployment: checkout }}\n    metrics: none\napi: {{ listen: \"{api}\" }}\nsources: [{{ type: alertmanager }}]\nplaybooks:\n  - name: bad-release\n    match: {{ alert: CheckoutErrors }}\n    steps:\n      - {{ action: rollback, verify: rolled_out, within: 60s }}\n",
        kubeconfig.display()
    );
    std::fs::write(dir.join("autonomic.yaml"), config)?;
    let child = Command::new(std::env::current_exe()?)
        .args(["run", "--config", "autonomic.yaml"])
        .current_dir(dir)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(Controller(child))
}

/// The journal's `verified` entry of the first resolved incident (Unix ms).
fn verified_at(journal: &Path) -> Option<i64> {
    let journal = Journal::open_read_only(journal).ok()?;
    let incidents = journal.incidents(10).ok()?;
    incidents.iter().flat_map(|r| r.timeline.iter()).find(|e| e.kind == "verified").map(|e| e.at)
}

/// One bad release healed: (alert → API call, alert → verified rollback), in ms.
async fn heal_once(cluster: &Cluster, kubeconfig: &Path, run: usize) -> anyhow::Result<(f64, f64)> {
    let fixture = Fixture::new(cluster, &format!("bench-heal-{}-{run}", std::process::id())).await?;
    fixture.bad_release("checkout").await?;
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let api = format!("127.0.0.1:{port}");
    let _controller = start_controller(dir.path(), kubeconfig, &fixture.namespace, &api)?;
    let http = reqwest::Client::new();
    let ready = Instant::now();
    while !http.get(format!("http://{api}/-/ready")).send().await.is_ok_and(|r| r.status().is_success()) {
        if ready.elapsed() > Duration::from_secs(30) {
            bail!("the controller did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the startup check of the workload finish, so that it does not share the alert's time.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let alert = json!({
        "version": "4", "status": "firing", "receiver": "autonomic", "groupKey": "{}:{alertname=\"CheckoutErrors\"}",
        "groupLabels": { "alertname": "CheckoutErrors" }, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "",
        "alerts": [{ "status": "firing", "labels": { "alertname": "CheckoutErrors", "service": "checkout" },
                     "annotations": { "summary": "checkout errors after the release" },
                     "startsAt": k8s_openapi::jiff::Timestamp::now().to_string(), "endsAt": "0001-01-01T00:00:00Z",
                     "generatorURL": "", "fingerprint": format!("{run:016x}") }]
    });
    let sent = now_ms();
    let response = http.post(format!("http://{api}/api/v1/alerts")).json(&alert).send().await?;
    if !response.status().is_success() {
        bail!("the webhook answered {}", response.status());
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut acted = None;
    loop {
        if acted.is_none() {
            acted = fixture.acted_at("checkout").await?;
        }
        if let (Some(acted), Some(verified)) = (acted, verified_at(&dir.path().join("j.db"))) {
            if fixture.image("checkout").await? != "shop/checkout:v1" {
                bail!("verified, but the Deployment does not run the previous release");
            }
            return Ok(((acted - sent) as f64, (verified - sent) as f64));
        }
        if Instant::now() > deadline {
            bail!("no verified rollback within 90 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Runs the benchmark; exits 1 unless every bad release was rolled back and verified.
pub async fn run(args: KubernetesArgs) -> anyhow::Result<ExitCode> {
    super::super::init_logging("error");
    let kubeconfig = match args.kubeconfig {
        Some(k) => k,
        None => {
            PathBuf::from(std::env::var("AUTONOMIC_K8S_RUN").unwrap_or_else(|_| "/tmp/autonomic-k8s-testbed".into()))
                .join("admin.kubeconfig")
        }
    };
    let settings = ClusterSettings { kubeconfig: Some(kubeconfig.clone()), ..ClusterSettings::default() };
    let cluster = Cluster::connect(&settings).await?;
    let version = cluster.client.apiserver_version().await.context("the API server does not answer")?;
    println!("cluster: {} (Kubernetes {})", cluster.server, version.git_version);
    let (mut to_act, mut to_verified) = (Vec::new(), Vec::new());
    for run in 1..=args.runs.max(1) {
        let (act, verified) = heal_once(&cluster, &kubeconfig, run).await?;
        println!(
            "run {run}: alert -> rollback API call {act:>6.1} ms, -> verified rollback {:>6.2} s",
            verified / 1000.0
        );
        to_act.push(act);
        to_verified.push(verified);
    }
    // Plain Kubernetes: the same bad release, no controller.
    let plain = Fixture::new(&cluster, &format!("bench-plain-{}", std::process::id())).await?;
    plain.bad_release("checkout").await?;
    tokio::time::sleep(args.plain_window).await;
    let still = plain.image("checkout").await?;
    let (act, verified) = (median(to_act.clone()), median(to_verified));
    println!();
    let runs = format!("bad release (median of {} runs)", args.runs.max(1));
    let plain_text = format!("never: still {still} after {}", model::format_duration(args.plain_window));
    println!("| {runs:<42} | {:<11} | {:<36} |", "Autonomic", "plain Kubernetes");
    println!("|{}|{}|{}|", "-".repeat(44), "-".repeat(13), "-".repeat(38));
    println!("| {:<42} | {act:>8.1} ms | {:<36} |", "alert at the webhook -> API call that acts", "none");
    println!(
        "| {:<42} | {:>8.2} s  | {plain_text:<36} |",
        "alert -> rollback verified (rolled out)",
        verified / 1000.0
    );
    let worst = to_act.iter().copied().fold(0.0, f64::max);
    println!("\nalert -> API call: median {act:.1} ms, worst {worst:.1} ms (goal: <= {GOAL_MS} ms)");
    Ok(if worst <= GOAL_MS && still == "shop/checkout:v2" { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
