//! The `process` actuator: services run here as supervised child processes. Its
//! [`supervisor`] (process groups, restart backoff and budget, canary deploys, rollback) is
//! its own machinery: the rest of the controller starts services, acts and reads through
//! [`ProcessActuator`].

use std::sync::Arc;
use std::time::Duration;

use model::{
    Action, Actuator, ActuatorSpec, BoxFuture, Clock, Deployment, EventSink, Outcome, ParamSpec, ServiceStatus,
    VerbSpec,
};

pub mod supervisor;

use supervisor::Supervisor;
pub use supervisor::{
    Readiness, Release, RestartPolicy, ServiceSpec, SupervisorError, expand, kill_all_now, parse_signal,
};

const VERBS: &[VerbSpec] = &[
    VerbSpec {
        verb: "restart",
        help: "stop and start replicas, waiting for each to be ready",
        scoped: true,
        rolls_out: true,
        params: &[],
        phrase: "restart {service} {target}",
    },
    VerbSpec {
        verb: "signal",
        help: "send a Unix signal to replicas' process groups",
        scoped: true,
        rolls_out: false,
        params: &[ParamSpec { name: "signal", required: true, help: "a Unix signal as `kill -l` names it, e.g. HUP" }],
        phrase: "signal {signal} to {service} {target}",
    },
    VerbSpec {
        verb: "rollback",
        help: "go back to the previous release and roll it out over every replica",
        scoped: false,
        rolls_out: true,
        params: &[],
        phrase: "roll back {service}",
    },
];

fn check_param(verb: &str, param: &str, value: &str) -> Result<(), String> {
    match (verb, param) {
        ("signal", "signal") if parse_signal(value).is_none() => Err("unknown Unix signal".into()),
        _ => Ok(()),
    }
}

/// What the `process` actuator type can do.
pub static PROCESS: ActuatorSpec =
    ActuatorSpec { name: "process", verbs: VERBS, check_param, check_step: model::component::no_step_check };

/// Runs services as local child processes and acts on them. Cheap to clone; clones share
/// state.
#[derive(Debug, Clone)]
pub struct ProcessActuator {
    supervisor: Supervisor,
}

impl ProcessActuator {
    /// An actuator with no service yet.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { supervisor: Supervisor::new(clock) }
    }

    /// Where events go (called synchronously, before the actuator acts on them: a restart
    /// is reported before it happens).
    pub fn set_events(&self, sink: EventSink) {
        self.supervisor.set_observer(sink);
    }

    /// Events as they happen, for asynchronous listeners (tests).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<model::Event> {
        self.supervisor.subscribe()
    }

    /// Starts every replica of `spec` (without waiting for readiness; see
    /// [`Self::wait_ready`]).
    pub fn start_service(&self, spec: ServiceSpec) -> Result<(), SupervisorError> {
        self.supervisor.start_service(spec)
    }

    /// Waits until one replica answers its readiness check, or `timeout` passes.
    pub async fn wait_ready(&self, service: &str, replica: usize, timeout: Duration) -> Result<(), SupervisorError> {
        self.supervisor.wait_ready(service, replica, timeout).await
    }

    /// The release `service` runs now (what a deploy would replace).
    pub fn current_release(&self, service: &str) -> Option<Release> {
        self.supervisor.history(service).ok()?.pop().map(|d| d.release)
    }

    /// Records `release` as current and rolls it out, `max_unavailable` replicas at a time,
    /// waiting `bake` after each batch (a canary).
    pub async fn deploy(
        &self,
        service: &str,
        release: Release,
        max_unavailable: usize,
        bake: Duration,
    ) -> Result<String, SupervisorError> {
        self.supervisor.deploy(service, release, max_unavailable, bake).await
    }

    /// The last lines of output of one replica.
    pub fn logs(&self, service: &str, replica: usize) -> Result<Vec<String>, SupervisorError> {
        self.supervisor.logs(service, replica)
    }

    /// Stops every process: SIGTERM, then SIGKILL after each service's grace period.
    pub async fn shutdown(&self) {
        self.supervisor.shutdown().await
    }
}

impl Actuator for ProcessActuator {
    fn spec(&self) -> &'static ActuatorSpec {
        &PROCESS
    }

    fn apply<'a>(&'a self, action: &'a Action) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let (s, max_unavailable) = (&action.service, action.max_unavailable());
            let result = match action.verb.as_str() {
                "restart" => self.supervisor.restart(s, &action.target, max_unavailable).await,
                "signal" => match action.param("signal") {
                    Some(signal) => self.supervisor.signal(s, &action.target, signal).await,
                    None => return Outcome::failed("action `signal` without a `signal` parameter"),
                },
                "rollback" => self.supervisor.rollback(s, max_unavailable).await,
                other => return Outcome::failed(format!("a `process` service has no action `{other}`")),
            };
            match result {
                Ok(detail) => Outcome::succeeded(detail),
                Err(e) => Outcome::failed(e.to_string()),
            }
        })
    }

    fn status<'a>(&'a self, service: &'a str) -> BoxFuture<'a, Option<ServiceStatus>> {
        Box::pin(async move {
            self.supervisor.status(service).ok().map(|replicas| ServiceStatus { replicas, rollout: None })
        })
    }

    fn history<'a>(&'a self, service: &'a str) -> BoxFuture<'a, Vec<Deployment>> {
        Box::pin(async move {
            self.supervisor
                .history(service)
                .map(|h| h.into_iter().map(|d| Deployment { release: d.release.version, at: d.at }).collect())
                .unwrap_or_default()
        })
    }
}
