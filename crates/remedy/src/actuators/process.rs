//! The `process` actuator: services run here as supervised child processes
//! ([`crate::supervisor`]).

use model::{Action, Actuator, ActuatorSpec, BoxFuture, Deployment, Outcome, ParamSpec, ServiceStatus, VerbSpec};

use crate::supervisor::{Supervisor, parse_signal};

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
pub static PROCESS: ActuatorSpec = ActuatorSpec { name: "process", verbs: VERBS, check_param };

/// Acts on services through the local [`Supervisor`].
#[derive(Debug, Clone)]
pub struct ProcessActuator {
    supervisor: Supervisor,
}

impl ProcessActuator {
    /// An actuator over `supervisor`'s services.
    pub fn new(supervisor: Supervisor) -> Self {
        Self { supervisor }
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
        Box::pin(async move { self.supervisor.status(service).ok().map(|replicas| ServiceStatus { replicas }) })
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
