//! Recovery checks for playbook steps, through the seams below the ladder: the signal
//! board (is any of the incident's signals still firing?), the actuators' status (is every
//! replica running, is the rollout complete?) and the
//! series store through the query engine. Nothing here reads the incident manager.

use std::sync::Arc;

use analyze::promql::{Engine, Value};
use futures::future::BoxFuture;
use model::{Clock, Incident, Labels, Millis, SeriesReader, SeriesSelector, SignalBoard};
use monitor::SeriesStore;
use remedy::{Actuators, Verifier, Verify};

use crate::config::Config;
use crate::topology::Topology;

/// Selects series by name and exact label values.
pub(crate) struct Exact<'a> {
    pub name: &'a str,
    pub labels: Vec<(&'a str, &'a str)>,
}

impl SeriesSelector for Exact<'_> {
    fn metric_name(&self) -> Option<&str> {
        Some(self.name)
    }
    fn matches(&self, l: &Labels) -> bool {
        l.metric_name() == Some(self.name) && self.labels.iter().all(|(k, v)| l.get(k) == Some(*v))
    }
}

/// The latest sample of `name{service, instance}` newer than `since`, if any.
pub(crate) fn latest(
    store: &SeriesStore,
    name: &str,
    service: &str,
    instance: &str,
    since: Millis,
    now: Millis,
) -> Option<f64> {
    let sel = Exact { name, labels: vec![("service", service), ("instance", instance)] };
    store.read(&sel, since, now).into_iter().filter_map(|s| s.samples.last().copied()).max_by_key(|s| s.t).map(|s| s.v)
}

/// Checks `recovered`, `healthy` and PromQL conditions.
pub struct LoopVerifier {
    pub(crate) board: Arc<SignalBoard>,
    pub(crate) store: Arc<SeriesStore>,
    pub(crate) engine: Engine,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) actuators: Actuators,
    pub(crate) config: Arc<Config>,
    pub(crate) topology: Arc<Topology>,
}

impl LoopVerifier {
    async fn healthy(&self, incident: &Incident) -> bool {
        let service = &incident.service;
        let Some(cfg) = self.config.service(service) else {
            return false;
        };
        // What the actuator runs must all be running; an observed service has no actuator.
        if self.actuators.of(service).is_some()
            && !self.actuators.status(service).await.is_some_and(|s| s.all_running())
        {
            return false;
        }
        let now = self.clock.now();
        // Evidence must be fresh: taken after the problem was seen.
        let since = incident.trigger.at;
        self.topology.replicas(service).iter().all(|r| {
            let scraped = cfg.metrics.is_none() || latest(&self.store, "up", service, &r.addr, since, now) == Some(1.0);
            let probed =
                cfg.health.is_none() || latest(&self.store, "probe_success", service, &r.addr, since, now) == Some(1.0);
            scraped && probed
        })
    }

    fn expr_holds(&self, expr: &str, incident: &Incident) -> bool {
        let text = expr
            .replace("{service}", &incident.service)
            .replace("{instance}", incident.trigger.instance.as_deref().unwrap_or_default());
        let Ok(parsed) = analyze::promql::parse(&text) else {
            return false;
        };
        match self.engine.instant(self.store.as_ref(), &parsed, self.clock.now()) {
            Ok(Value::Vector(v)) => !v.is_empty(),
            Ok(Value::Scalar(s)) => s != 0.0 && !s.is_nan(),
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(incident = %incident.id, error = %e, "verify expression failed");
                false
            }
        }
    }
}

impl Verifier for LoopVerifier {
    fn check<'a>(&'a self, verify: &'a Verify, incident: &'a Incident) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            match verify {
                Verify::Recovered => incident.recovered(&self.board),
                Verify::Healthy => self.healthy(incident).await,
                Verify::RolledOut => self.actuators.status(&incident.service).await.is_some_and(|s| s.rolled_out()),
                Verify::Expr(e) => self.expr_holds(e, incident),
            }
        })
    }
}
