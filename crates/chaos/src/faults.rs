//! The faults the demo injects, how to inject each into the live fleet, and an outside
//! oracle that says whether a fault is still present — independent of the controller, so
//! the report never takes the controller's word for its own success.

use std::time::Duration;

use controller::Controller;
use demo_fleet::{Fault, FaultReport};
use model::ReplicaState;
use remedy::actuators::process::Release;
use serde::Serialize;

/// Kinds of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The process exits.
    Crash,
    /// The process stops answering but stays alive.
    Hang,
    /// The process allocates memory it never frees.
    MemoryLeak,
    /// A fraction of requests answer 5xx.
    ErrorBurst,
    /// Requests slow down.
    Latency,
    /// A new release fails half its requests; only a rollback heals it.
    BadRelease,
    /// A downstream service fails; its callers' errors are symptoms.
    DependencyFailure,
}

impl FaultKind {
    /// Every kind, in demo order.
    pub const ALL: [FaultKind; 7] = [
        Self::Crash,
        Self::Hang,
        Self::MemoryLeak,
        Self::ErrorBurst,
        Self::Latency,
        Self::BadRelease,
        Self::DependencyFailure,
    ];

    /// The snake_case name used in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Crash => "crash",
            Self::Hang => "hang",
            Self::MemoryLeak => "memory_leak",
            Self::ErrorBurst => "error_burst",
            Self::Latency => "latency",
            Self::BadRelease => "bad_release",
            Self::DependencyFailure => "dependency_failure",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s.replace('-', "_"))
    }
}

/// One fault to inject.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultPlan {
    /// What.
    pub kind: FaultKind,
    /// Into which service.
    pub service: String,
    /// Into which replica; `None` for every replica.
    pub replica: Option<usize>,
}

/// The demo's default sequence: each fault in a different place of the topology.
pub fn default_plan() -> Vec<FaultPlan> {
    let plan = |kind, service: &str, replica| FaultPlan { kind, service: service.to_owned(), replica };
    vec![
        plan(FaultKind::Crash, "payments", Some(1)),
        plan(FaultKind::Hang, "payments", Some(0)),
        plan(FaultKind::ErrorBurst, "inventory", Some(1)),
        plan(FaultKind::BadRelease, "checkout", None),
        plan(FaultKind::DependencyFailure, "payments", None),
        // Caught by learned baselines, not rules: they come last, each in a replica whose
        // baseline has had time to learn what normal looks like (about 35 clean scrapes).
        plan(FaultKind::Latency, "inventory", Some(0)),
        plan(FaultKind::MemoryLeak, "payments", Some(1)),
    ]
}

/// Why an injection failed.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    /// The fault endpoint did not take it.
    #[error("injecting {fault} into {addr}: {reason}")]
    Http {
        /// Fault name.
        fault: &'static str,
        /// Replica address.
        addr: String,
        /// What went wrong.
        reason: String,
    },
    /// The service is not supervised, so no release can be deployed.
    #[error("deploying to {0}: {1}")]
    Deploy(String, String),
}

fn fault_body(kind: FaultKind) -> Option<Fault> {
    Some(match kind {
        FaultKind::Crash => Fault::Crash,
        FaultKind::Hang => Fault::Hang,
        FaultKind::MemoryLeak => Fault::Leak { mb_per_s: 8 },
        FaultKind::ErrorBurst => Fault::ErrorBurst { rate: 0.5 },
        FaultKind::Latency => Fault::Latency { ms: 400 },
        FaultKind::DependencyFailure => Fault::DependencyDown { rate: 0.5 },
        FaultKind::BadRelease => return None,
    })
}

/// The defective release: the current command with a new version and a built-in defect.
pub fn defective_release(current: &Release) -> Release {
    let mut command = current.command.clone();
    command.extend(["--release".to_owned(), "2.0.0".to_owned(), "--defect".to_owned(), "fail-half".to_owned()]);
    Release { version: "2.0.0".into(), command, env: current.env.clone() }
}

/// Injects `plan` into the live fleet. A bad release starts rolling out in the background.
pub async fn inject(plan: &FaultPlan, controller: &Controller, client: &reqwest::Client) -> Result<(), InjectError> {
    let Some(body) = fault_body(plan.kind) else {
        let current = controller
            .process()
            .current_release(&plan.service)
            .ok_or_else(|| InjectError::Deploy(plan.service.clone(), "not run here: no release".into()))?;
        let process = controller.process().clone();
        let service = plan.service.clone();
        let release = defective_release(&current);
        tokio::spawn(async move {
            if let Err(e) = process.deploy(&service, release, 1, Duration::from_secs(5)).await {
                tracing::warn!(%service, error = %e, "deploy of the defective release did not complete");
            }
        });
        return Ok(());
    };
    let replicas = controller.topology().replicas(&plan.service);
    for r in replicas.iter().filter(|r| plan.replica.is_none_or(|i| i == r.index)) {
        let response = client.post(format!("http://{}/fault", r.addr)).json(&body).send().await;
        match response {
            Ok(resp) if resp.status().is_success() => {}
            Ok(resp) => {
                return Err(InjectError::Http {
                    fault: plan.kind.name(),
                    addr: r.addr.clone(),
                    reason: resp.status().to_string(),
                });
            }
            Err(e) => {
                return Err(InjectError::Http { fault: plan.kind.name(), addr: r.addr.clone(), reason: e.to_string() });
            }
        }
    }
    Ok(())
}

/// Asks one replica what faults it carries; `None` when it does not answer promptly.
async fn report(client: &reqwest::Client, addr: &str) -> Option<FaultReport> {
    let resp = client.get(format!("http://{addr}/fault")).timeout(Duration::from_millis(400)).send().await.ok()?;
    resp.json().await.ok()
}

/// Whether any replica of `service` still shows a fault: it does not answer, carries an
/// injected fault, runs a defective release, or is not running under the supervisor.
pub async fn present(service: &str, controller: &Controller, client: &reqwest::Client) -> bool {
    if let Some(status) = controller.actuators().status(service).await
        && status.replicas.iter().any(|r| r.state != ReplicaState::Running)
    {
        return true;
    }
    for r in controller.topology().replicas(service) {
        match report(client, &r.addr).await {
            Some(rep) if rep.faults.is_empty() && rep.defect.is_none() => {}
            _ => return true,
        }
    }
    false
}

/// Removes whatever is left of a fault nobody healed, so the next one starts clean: roll back
/// a deployed release, restart the service's replicas. Not counted as anyone's remedy.
pub async fn clean_up(service: &str, controller: &Controller) {
    let actuators = controller.actuators();
    let one_at_a_time = || model::Params::from([(model::MAX_UNAVAILABLE.to_owned(), "1".to_owned())]);
    let reason = "clean-up after the fault's budget ran out";
    if actuators.history(service).await.len() > 1 {
        let rollback = actuators.action(service, "rollback", model::Target::All, one_at_a_time(), reason);
        let _ = actuators.apply(&rollback).await;
    }
    let restart = actuators.action(service, "restart", model::Target::All, one_at_a_time(), reason);
    let _ = actuators.apply(&restart).await;
}
