//! The controller's side of a Kubernetes cluster: the actuator of the `kubernetes` services
//! (and the background check that their workloads can be read), leader election, and the
//! sources that watch each service's workload.

use std::sync::Arc;
use std::time::Duration;

use knowledge::Journal;
use model::Clock;
use monitor::ScrapeTarget;

use crate::config::Config;

/// The component of `/-/healthy` that says whether the cluster can be reached and every
/// mapped workload exists.
const KUBERNETES_HEALTH: &str = "kubernetes";

/// How often the mapped workloads are read again, to raise or clear `KUBERNETES_HEALTH`.
const WORKLOAD_RECHECK: Duration = Duration::from_secs(60);

/// The actuator of the `kubernetes` services, if there are any: a client of the cluster,
/// whose workloads are read once in the background so that a missing workload, forbidden
/// access or an unreachable API server is said at startup (log, journal, `/-/healthy`); or,
/// when no client can be made, one that fails every action with the reason. Either way the
/// other services go on.
pub(crate) async fn actuator(
    config: &Config,
    clock: Arc<dyn Clock>,
    health: &model::Health,
    journal: &Arc<Journal>,
) -> Option<(Arc<dyn model::Actuator>, Option<kubernetes::Cluster>)> {
    let workloads: std::collections::BTreeMap<String, kubernetes::Workload> =
        config.services.iter().filter_map(|s| Some((s.name.clone(), s.kubernetes.clone()?))).collect();
    if workloads.is_empty() {
        return None;
    }
    let say = |message: String| {
        tracing::error!(%message, "kubernetes");
        health.set_problem(KUBERNETES_HEALTH, message.clone());
        if let Err(e) = journal.note(None, "kubernetes", &message, clock.now()) {
            tracing::error!(error = %e, "journal write failed");
        }
    };
    match kubernetes::Cluster::connect(&config.kubernetes.cluster).await {
        Ok(cluster) => {
            let client = cluster.clone();
            let actuator = kubernetes::KubernetesActuator::new(
                cluster,
                workloads,
                config.kubernetes.identity.clone(),
                clock.clone(),
            );
            let (checked, health, journal) = (actuator.clone(), health.clone(), journal.clone());
            tokio::spawn(async move {
                // Read at start, then again every minute: a workload created later, or
                // RBAC mended, clears the problem; a new one is journaled once.
                let mut said = String::new();
                loop {
                    let problems = checked.check_workloads().await;
                    let text: Vec<String> =
                        problems.iter().map(|(service, e)| format!("service {service}: {e}")).collect();
                    let message = text.join("; ");
                    if message.is_empty() {
                        health.clear(KUBERNETES_HEALTH);
                    } else {
                        health.set_problem(KUBERNETES_HEALTH, message.clone());
                    }
                    if message != said {
                        let note =
                            if message.is_empty() { "every workload can be read".to_owned() } else { message.clone() };
                        if message.is_empty() {
                            tracing::info!("kubernetes workloads: {note}");
                        } else {
                            tracing::error!(%message, "kubernetes workloads");
                        }
                        if !(said.is_empty() && message.is_empty())
                            && let Err(e) = journal.note(None, "kubernetes", &note, clock.now())
                        {
                            tracing::error!(error = %e, "journal write failed");
                        }
                        said = message;
                    }
                    tokio::time::sleep(WORKLOAD_RECHECK).await;
                }
            });
            Some((Arc::new(actuator), Some(client)))
        }
        Err(e) => {
            say(format!("{e}; actions on the kubernetes services fail until it is fixed"));
            Some((Arc::new(kubernetes::NoCluster::new(e.to_string())), None))
        }
    }
}

/// Whether this replica may act: always, unless `kubernetes.leader_election` is set; then
/// while it holds the lease, for which a task campaigns (each change journaled). Leader
/// election without a cluster client never leads: acting twice is worse than not acting.
pub(crate) fn leadership(
    config: &Config,
    cluster: Option<&kubernetes::Cluster>,
    journal: &Arc<Journal>,
    clock: &Arc<dyn Clock>,
) -> model::Leadership {
    let Some(settings) = config.kubernetes.leader_election.clone() else {
        return model::Leadership::always();
    };
    let (tx, rx) = tokio::sync::watch::channel(false);
    let Some(cluster) = cluster else {
        tracing::error!("leader election is configured but there is no cluster client: this replica never acts");
        return model::Leadership::from_watch(rx);
    };
    let identity = config.kubernetes.identity.clone();
    let mut changes = rx.clone();
    let (journal, clock) = (journal.clone(), clock.clone());
    let lease = format!("{}/{}", settings.namespace, settings.name);
    tokio::spawn(kubernetes::LeaderElector::new(cluster.clone(), settings, identity.clone()).run(tx));
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            let leads = *changes.borrow_and_update();
            let text = if leads {
                format!("{identity} holds the lease {lease}: it acts")
            } else {
                format!("{identity} does not hold the lease {lease}: it watches, another replica acts")
            };
            if let Err(e) = journal.note(None, "leadership", &text, clock.now()) {
                tracing::error!(error = %e, "journal write failed");
            }
        }
    });
    model::Leadership::from_watch(rx)
}

/// The `kubernetes` source of each service in the cluster: its pods as scrape targets
/// (through the service's `metrics` template, `{addr}` being a pod's), its workload's
/// troubles as signals.
pub(crate) fn sources(
    config: &Config,
    cluster: Option<&kubernetes::Cluster>,
    client: &reqwest::Client,
) -> Vec<kubernetes::KubernetesSource> {
    let Some(cluster) = cluster else { return Vec::new() };
    let mut sources = Vec::new();
    for s in &config.services {
        let Some(workload) = &s.kubernetes else { continue };
        let scrape = s.metrics.as_ref().map(|m| ScrapeTarget {
            url: m.replace("{service}", &s.name),
            labels: model::Labels::from_pairs([("job", s.name.clone()), ("service", s.name.clone())]),
            interval: config.scrape.interval,
            timeout: config.scrape.timeout,
            down_after: config.scrape.down_after,
            limits: config.scrape.limits,
        });
        sources.push(kubernetes::KubernetesSource::new(
            cluster.clone(),
            s.name.clone(),
            workload.clone(),
            scrape,
            client.clone(),
            kubernetes::SourceSettings::default(),
        ));
    }
    sources
}
