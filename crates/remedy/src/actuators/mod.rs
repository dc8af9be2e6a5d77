//! Actuators: the registry of actuator types, the binding of each service to its running
//! actuator, and a recording actuator for dry runs and tests.
//!
//! A new actuator type is a module here (or a crate of its own, as `kubernetes`) with an
//! [`ActuatorSpec`] (its `type:` name and verbs) listed in [`TYPES`], and a type
//! implementing [`Actuator`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use model::{
    Action, Actuator, ActuatorSpec, BoxFuture, Deployment, Outcome, OutcomeStatus, Params, ServiceStatus, Target,
};

pub mod process;

pub use kubernetes::{KUBERNETES, KubernetesActuator};
pub use process::{PROCESS, ProcessActuator};

/// Every actuator type, by `type:` name.
pub static TYPES: &[&ActuatorSpec] = &[&PROCESS, &KUBERNETES];

/// The actuator type named `name`.
pub fn spec(name: &str) -> Option<&'static ActuatorSpec> {
    TYPES.iter().copied().find(|s| s.name == name)
}

/// The running actuator of each service.
#[derive(Clone, Default)]
pub struct Actuators {
    by_service: BTreeMap<String, Arc<dyn Actuator>>,
}

impl std::fmt::Debug for Actuators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bound: BTreeMap<&str, &str> = self.by_service.iter().map(|(s, a)| (s.as_str(), a.spec().name)).collect();
        f.debug_struct("Actuators").field("by_service", &bound).finish()
    }
}

impl Actuators {
    /// No service bound.
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds `service` to `actuator`.
    pub fn bind(&mut self, service: impl Into<String>, actuator: Arc<dyn Actuator>) {
        self.by_service.insert(service.into(), actuator);
    }

    /// The actuator of `service`.
    pub fn of(&self, service: &str) -> Option<&Arc<dyn Actuator>> {
        self.by_service.get(service)
    }

    /// The action `verb` on `service`, described as its actuator describes it (generically
    /// for a service bound to none, or a verb its actuator lacks: [`Self::apply`] refuses it).
    pub fn action(&self, service: &str, verb: &str, target: Target, params: Params, reason: &str) -> Action {
        match self.of(service).and_then(|a| a.spec().verb(verb)) {
            Some(spec) => spec.action(service, target, params, reason),
            None => Action::new(service, verb, target, params, reason, "{verb} {service} {target}"),
        }
    }

    /// What runs of `service` now; `None` for a service bound to no actuator or unknown to it.
    pub async fn status(&self, service: &str) -> Option<ServiceStatus> {
        self.of(service)?.status(service).await
    }

    /// The releases `service` rolled out, oldest first (empty for an unbound service).
    pub async fn history(&self, service: &str) -> Vec<Deployment> {
        match self.of(service) {
            Some(a) => a.history(service).await,
            None => Vec::new(),
        }
    }

    /// Does `action` with its service's actuator; fails (never panics) for an unbound
    /// service or a verb its actuator does not have.
    pub async fn apply(&self, action: &Action) -> Outcome {
        let Some(actuator) = self.of(&action.service) else {
            return Outcome::failed(format!("service {} is bound to no actuator", action.service));
        };
        let spec = actuator.spec();
        if spec.verb(&action.verb).is_none() {
            return Outcome::failed(format!(
                "a `{}` service has no action `{}`; it has: {}",
                spec.name,
                action.verb,
                spec.verb_names()
            ));
        }
        actuator.apply(action).await
    }
}

/// Records actions instead of doing them, for tests of the ladder: a test double of an
/// actuator of the type `spec`.
#[derive(Debug, Clone)]
pub struct RecordingActuator {
    spec: &'static ActuatorSpec,
    done: Arc<Mutex<Vec<Action>>>,
    outcome: OutcomeStatus,
}

impl RecordingActuator {
    /// Records and answers with `status`, declaring `spec`'s verbs.
    pub fn answering(spec: &'static ActuatorSpec, status: OutcomeStatus) -> Self {
        Self { spec, done: Arc::default(), outcome: status }
    }

    /// What was asked, in order.
    pub fn actions(&self) -> Vec<Action> {
        self.done.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Actuator for RecordingActuator {
    fn spec(&self) -> &'static ActuatorSpec {
        self.spec
    }

    fn apply<'a>(&'a self, action: &'a Action) -> BoxFuture<'a, Outcome> {
        self.done.lock().unwrap_or_else(|p| p.into_inner()).push(action.clone());
        let status = self.outcome;
        Box::pin(async move { Outcome { status, detail: format!("recorded: {action}") } })
    }

    fn status<'a>(&'a self, _service: &'a str) -> BoxFuture<'a, Option<ServiceStatus>> {
        Box::pin(async { None })
    }

    fn history<'a>(&'a self, _service: &'a str) -> BoxFuture<'a, Vec<Deployment>> {
        Box::pin(async { Vec::new() })
    }
}
