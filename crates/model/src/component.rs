//! The contract of the loop's open end that acts: actuators.
//!
//! A service binds to one actuator by `type:` (`process` today). An actuator type declares
//! its verbs statically ([`ActuatorSpec`]), so that a configuration is checked before
//! anything runs (`autonomic check` refuses `action: rollback` on a service whose actuator
//! has none, with the step's file:line:col); a running [`Actuator`] carries actions out and
//! answers what runs ([`Actuator::status`]) and what was rolled out when
//! ([`Actuator::history`]), so that the incident manager, the verifier and
//! `deployed_within` never ask how it acts. What happens to a service on its own (a process
//! exits, a release rolls out) reaches the loop as [`Event`]s.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::action::{Action, Outcome, Params, Target};
use crate::clock::Millis;

/// A boxed future, so that the contract's traits can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A parameter a verb takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    /// Its key in a playbook step.
    pub name: &'static str,
    /// Whether a step must give it.
    pub required: bool,
    /// One line for people: what it means, with an example.
    pub help: &'static str,
}

/// A verb an actuator type can carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerbSpec {
    /// Its name in playbooks and the journal (`restart`).
    pub verb: &'static str,
    /// One line for people.
    pub help: &'static str,
    /// Whether a step may choose a target (`scope: replica` or `scope: all`); otherwise the
    /// action is on the whole service.
    pub scoped: bool,
    /// Whether it rolls out over replicas: the ladder then passes the guard's
    /// `max_unavailable` as a parameter ([`crate::action::MAX_UNAVAILABLE`]).
    pub rolls_out: bool,
    /// The parameters a step may give.
    pub params: &'static [ParamSpec],
    /// How the journal describes the action: `{service}`, `{target}`, `{verb}` and
    /// `{PARAM}` are replaced ([`Action::describe`]).
    pub phrase: &'static str,
}

impl VerbSpec {
    /// The action this verb makes of a step's target and parameters.
    pub fn action(&self, service: &str, target: Target, params: Params, reason: &str) -> Action {
        Action::new(service, self.verb, target, params, reason, self.phrase)
    }
}

/// A problem with a step's verb or parameters, found when the configuration is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepProblem {
    /// The parameter at fault; `None` for the verb itself.
    pub param: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// What an actuator type is, known without running it: the registry's entry.
#[derive(Debug, Clone, Copy)]
pub struct ActuatorSpec {
    /// Its `type:` name.
    pub name: &'static str,
    /// The verbs it carries out.
    pub verbs: &'static [VerbSpec],
    /// Checks one parameter's value for a verb (`signal: BOGUS`): the verb and the
    /// parameter's name are known to exist.
    pub check_param: fn(verb: &str, param: &str, value: &str) -> Result<(), String>,
    /// Checks a step's parameters together (`scale` needs `replicas` or `by`, not both), after
    /// each passed [`Self::check_param`]; [`no_step_check`] for a type with nothing to check.
    pub check_step: fn(verb: &str, params: &Params) -> Result<(), StepProblem>,
}

/// A [`ActuatorSpec::check_step`] that accepts every step.
pub fn no_step_check(_verb: &str, _params: &Params) -> Result<(), StepProblem> {
    Ok(())
}

impl ActuatorSpec {
    /// The verb named `verb`.
    pub fn verb(&self, verb: &str) -> Option<&'static VerbSpec> {
        self.verbs.iter().find(|v| v.verb == verb)
    }

    /// The verbs' names, for messages.
    pub fn verb_names(&self) -> String {
        let names: Vec<&str> = self.verbs.iter().map(|v| v.verb).collect();
        names.join(", ")
    }

    /// Checks a step: the verb exists, every required parameter is given, every given one
    /// is known and valid. `scoped`: the step names a target.
    pub fn check(&self, verb: &str, params: &Params, scoped: bool) -> Result<(), StepProblem> {
        let problem = |param: Option<&str>, message: String| StepProblem { param: param.map(str::to_owned), message };
        let Some(spec) = self.verb(verb) else {
            return Err(problem(
                None,
                format!("a `{}` service has no action `{verb}`; it has: {}", self.name, self.verb_names()),
            ));
        };
        if scoped && !spec.scoped {
            let scoped: Vec<&str> = self.verbs.iter().filter(|v| v.scoped).map(|v| v.verb).collect();
            let message = match scoped.split_last() {
                None => format!("`scope` applies to no action of a `{}` service", self.name),
                Some((last, [])) => format!("`scope` only applies to {last}"),
                Some((last, rest)) => format!("`scope` only applies to {} and {last}", rest.join(", ")),
            };
            return Err(problem(Some("scope"), message));
        }
        for p in spec.params.iter().filter(|p| p.required) {
            if !params.contains_key(p.name) {
                return Err(problem(None, format!("action `{verb}` needs `{}`: {}", p.name, p.help)));
            }
        }
        for (name, value) in params {
            if !spec.params.iter().any(|p| p.name == name) {
                let known: Vec<&str> = spec.params.iter().map(|p| p.name).collect();
                let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
                return Err(problem(
                    Some(name),
                    format!(
                        "`{name}` is not a parameter of `{verb}` on a `{}` service (its parameters: {known})",
                        self.name
                    ),
                ));
            }
            (self.check_param)(verb, name, value).map_err(|e| problem(Some(name), e))?;
        }
        (self.check_step)(verb, params)
    }
}

/// Where one replica of a service stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaState {
    /// Running.
    Running,
    /// It stopped on its own; it is being brought back.
    BackingOff,
    /// It stopped and will not come back by itself.
    Failed,
    /// Stopped on purpose.
    Stopped,
}

/// One replica as the actuator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// Where it stands.
    pub state: ReplicaState,
    /// Its process id, where it is a local process that runs.
    pub pid: Option<u32>,
    /// The release it runs (or last ran).
    pub release: String,
    /// How many times it was started.
    pub starts: u32,
}

/// A service as its actuator sees it: every replica, in index order, and for a service an
/// orchestrator rolls out (a Kubernetes Deployment), where its rollout stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceStatus {
    /// The replicas.
    pub replicas: Vec<ReplicaStatus>,
    /// The orchestrator's account of the rollout; `None` where the actuator rolls out itself.
    pub rollout: Option<RolloutStatus>,
}

impl ServiceStatus {
    /// Whether every replica runs (and there is at least one).
    pub fn all_running(&self) -> bool {
        !self.replicas.is_empty() && self.replicas.iter().all(|r| r.state == ReplicaState::Running)
    }

    /// Whether the latest rollout is complete: the orchestrator's rollout where there is one
    /// ([`RolloutStatus::complete`]), else every replica running.
    pub fn rolled_out(&self) -> bool {
        match &self.rollout {
            Some(r) => r.complete(),
            None => self.all_running(),
        }
    }
}

/// Where a rollout stands, as the orchestrator reports it (a Deployment's or a
/// StatefulSet's status).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RolloutStatus {
    /// Replicas wanted.
    pub desired: u32,
    /// Replicas that exist, old and new (pods still terminating excluded).
    pub current: u32,
    /// Replicas that run the latest template.
    pub updated: u32,
    /// Replicas ready.
    pub ready: u32,
    /// Replicas available (ready for the workload's `minReadySeconds`).
    pub available: u32,
    /// The generation of the spec.
    pub generation: i64,
    /// The generation the orchestrator's controller has acted on.
    pub observed_generation: i64,
    /// The revision rolled out (a Deployment's `deployment.kubernetes.io/revision`).
    pub revision: Option<String>,
    /// The workload's conditions.
    pub conditions: Vec<Condition>,
}

impl RolloutStatus {
    /// Whether the rollout is complete, as `kubectl rollout status` decides it: the
    /// controller saw the latest spec, and every replica wanted runs the latest template,
    /// is ready and available, with no old replica left.
    pub fn complete(&self) -> bool {
        self.observed_generation >= self.generation
            && self.updated == self.desired
            && self.current == self.desired
            && self.ready == self.desired
            && self.available == self.desired
    }

    /// The condition of type `kind`.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }
}

/// One condition of a workload (`Progressing`, `Available`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Condition {
    /// Its type.
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Why, in one word (`ProgressDeadlineExceeded`).
    pub reason: String,
    /// Why, for people.
    pub message: String,
}

/// A release that was rolled out, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// Its version label.
    pub release: String,
    /// When its rollout started.
    pub at: Millis,
}

/// Something that happened to a service, reported by its actuator.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The service.
    pub service: String,
    /// What within it.
    pub target: Target,
    /// What happened.
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A replica started.
    Started {
        /// Its process id, where it is a local process.
        pid: Option<u32>,
        /// The release it runs.
        release: String,
        /// `requested` (an action or the first start) or `restart policy`.
        reason: String,
    },
    /// A replica stopped on its own.
    Exited {
        /// Its process id, where it was a local process.
        pid: Option<u32>,
        /// How it ended (exit status, reason).
        status: String,
        /// How long it ran.
        uptime: Duration,
    },
    /// The actuator will start the replica again after `delay`. Reported before it does,
    /// so that the intent is journaled first.
    RestartScheduled {
        /// Backoff delay.
        delay: Duration,
        /// What happened before.
        after: String,
    },
    /// The actuator stopped bringing the replica back.
    GaveUp {
        /// Why.
        reason: String,
    },
    /// A replica was stopped on purpose.
    Stopped {
        /// Its process id, where it was a local process.
        pid: Option<u32>,
        /// How it ended.
        how: String,
    },
    /// A release started rolling out.
    Deployed {
        /// Its version.
        release: String,
    },
    /// The service went back to an earlier release.
    RolledBack {
        /// The release it left.
        from: String,
        /// The release it went back to.
        to: String,
    },
}

/// Where actuators report events. Called synchronously, before the actuator goes on, so
/// that what it is about to do is journaled first.
pub type EventSink = std::sync::Arc<dyn Fn(&Event) + Send + Sync>;

/// A running actuator: carries out actions on the services bound to it.
pub trait Actuator: Send + Sync {
    /// What it is: its type name and verbs.
    fn spec(&self) -> &'static ActuatorSpec;

    /// Does `action` and reports how it went. Never panics; failures are outcomes.
    fn apply<'a>(&'a self, action: &'a Action) -> BoxFuture<'a, Outcome>;

    /// What runs now; `None` for a service it does not know.
    fn status<'a>(&'a self, service: &'a str) -> BoxFuture<'a, Option<ServiceStatus>>;

    /// The releases rolled out, oldest first; the last is current. The first entry is the
    /// service's first release, not a deployment.
    fn history<'a>(&'a self, service: &'a str) -> BoxFuture<'a, Vec<Deployment>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERBS: &[VerbSpec] = &[VerbSpec {
        verb: "signal",
        help: "send a signal",
        scoped: true,
        rolls_out: false,
        params: &[ParamSpec { name: "signal", required: true, help: "a Unix signal, e.g. HUP" }],
        phrase: "signal {signal} to {service} {target}",
    }];

    fn check_param(_verb: &str, _param: &str, value: &str) -> Result<(), String> {
        if value == "HUP" { Ok(()) } else { Err(format!("unknown signal {value}")) }
    }

    const SPEC: ActuatorSpec = ActuatorSpec { name: "test", verbs: VERBS, check_param, check_step: no_step_check };

    #[test]
    fn a_step_is_checked_against_the_verbs_declared() {
        let ok = Params::from([("signal".to_owned(), "HUP".to_owned())]);
        assert_eq!(SPEC.check("signal", &ok, true), Ok(()));
        let unknown = SPEC.check("rollback", &ok, false).expect_err("no rollback");
        assert_eq!(unknown.param, None);
        assert!(unknown.message.contains("has no action `rollback`; it has: signal"), "{}", unknown.message);
        let missing = SPEC.check("signal", &Params::new(), false).expect_err("needs signal");
        assert!(missing.message.contains("needs `signal`"), "{}", missing.message);
        let bad = Params::from([("signal".to_owned(), "BOGUS".to_owned())]);
        assert_eq!(SPEC.check("signal", &bad, false).expect_err("bad").param.as_deref(), Some("signal"));
        let extra = Params::from([("signal".to_owned(), "HUP".to_owned()), ("url".to_owned(), "x".to_owned())]);
        assert_eq!(SPEC.check("signal", &extra, false).expect_err("extra").param.as_deref(), Some("url"));
    }
}
