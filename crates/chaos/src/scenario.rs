//! Runs a fault plan against a live controller: one fault after another, each measured from
//! injection to detection, recovery and verification.

use std::time::Duration;

use controller::{Controller, Mode};
use model::IncidentState;

use crate::faults::{self, FaultPlan};
use crate::report::FaultResult;

/// How a scenario runs.
#[derive(Debug, Clone)]
pub struct ScenarioOptions {
    /// Full loop or baseline (decides whether verification is expected).
    pub mode: Mode,
    /// The most a fault is given to heal.
    pub budget: Duration,
    /// The most to wait for the fleet to be quiet before the next fault.
    pub settle: Duration,
    /// How long after recovery to wait for the controller's verification.
    pub verify_grace: Duration,
}

/// Progress callback: `(fault index, message)`.
pub type Progress<'a> = &'a (dyn Fn(usize, String) + Send + Sync);

/// Waits until no fault is present anywhere and (with the full loop) no signal fires.
async fn quiet(controller: &Controller, client: &reqwest::Client, mode: Mode, max: Duration) {
    let deadline = tokio::time::Instant::now() + max;
    while tokio::time::Instant::now() < deadline {
        let mut clean = mode == Mode::Baseline || controller.incidents().active_signals().is_empty();
        for s in &controller.config().services {
            if clean && faults::present(&s.name, controller, client).await {
                clean = false;
            }
        }
        if clean {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn describe_actions(controller: &Controller, service: &str, since: i64, until: i64) -> Vec<String> {
    controller
        .journal()
        .actions_since(service, since)
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.intent_at <= until)
        .map(|a| {
            let origin = match a.origin {
                knowledge::ActionOrigin::Playbook => "playbook",
                knowledge::ActionOrigin::RestartPolicy => "restart policy",
                knowledge::ActionOrigin::LivenessProbe => "liveness probe",
            };
            let outcome = a.outcome.map(|o| o.status.as_str()).unwrap_or("in flight");
            format!("{} [{origin}, {outcome}]", a.description)
        })
        .collect()
}

/// When the controller closed an incident on `service` opened after `since` as resolved.
fn verified_at(controller: &Controller, service: &str, since: i64) -> Option<i64> {
    controller
        .journal()
        .incidents(100)
        .ok()?
        .into_iter()
        .filter(|r| {
            r.incident.service == service
                && r.incident.opened_at >= since
                && r.incident.state == IncidentState::Resolved
        })
        .filter_map(|r| r.incident.closed_at)
        .min()
}

/// What caught a fault, in a few words: the rule, the learned baseline and its detector,
/// the probe or the process exit.
fn detector_of(controller: &Controller, d: &knowledge::Detection) -> String {
    match d.kind.as_str() {
        "alert" => format!("rule {}", d.name),
        "anomaly" => {
            let watch = d.name.strip_suffix("_missing").unwrap_or(&d.name);
            let detector =
                controller.config().anomaly_watches.iter().find(|w| w.name == watch).map(|w| w.detector.as_str());
            match detector {
                Some(_) if watch != d.name => format!("missing data {watch}"),
                Some(det) => format!("learned baseline {watch} ({det})"),
                None => format!("anomaly {}", d.name),
            }
        }
        _ => d.kind.replace('_', " "),
    }
}

/// Runs one fault and measures it.
pub async fn run_fault(
    index: usize,
    plan: &FaultPlan,
    controller: &Controller,
    client: &reqwest::Client,
    opts: &ScenarioOptions,
    progress: Progress<'_>,
) -> FaultResult {
    progress(index, format!("waiting for a quiet fleet before {}", plan.kind.name()));
    quiet(controller, client, opts.mode, opts.settle).await;
    let clock = controller.clock().clone();
    let injected_at = clock.now();
    progress(index, format!("injecting {} into {}", plan.kind.name(), plan.service));
    if let Err(e) = faults::inject(plan, controller, client).await {
        tracing::error!(error = %e, "injection failed");
    }
    // Give the fault a moment to take hold before asking whether it is gone.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deadline = tokio::time::Instant::now() + opts.budget;
    let mut recovered_at = None;
    while tokio::time::Instant::now() < deadline {
        if !faults::present(&plan.service, controller, client).await {
            recovered_at = Some(clock.now());
            break;
        }
        let status = controller
            .journal()
            .actions_since(&plan.service, injected_at)
            .ok()
            .and_then(|a| a.last().map(|a| a.description.clone()))
            .unwrap_or_else(|| "watching".into());
        progress(index, format!("{} on {}: {status}", plan.kind.name(), plan.service));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut verified = None;
    if recovered_at.is_some() && opts.mode == Mode::Autonomic {
        let until = tokio::time::Instant::now() + opts.verify_grace;
        while tokio::time::Instant::now() < until {
            verified = verified_at(controller, &plan.service, injected_at);
            if verified.is_some() {
                break;
            }
            progress(index, format!("{} on {}: recovered, waiting for verification", plan.kind.name(), plan.service));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    if recovered_at.is_none() {
        progress(
            index,
            format!("{} on {}: not healed in {}s; cleaning up", plan.kind.name(), plan.service, opts.budget.as_secs()),
        );
        faults::clean_up(&plan.service, controller).await;
    }
    let detection = controller.journal().first_detection(&plan.service, injected_at).ok().flatten();
    let until = recovered_at.unwrap_or_else(|| clock.now()).max(verified.unwrap_or(0));
    FaultResult {
        fault: plan.kind,
        service: plan.service.clone(),
        replica: plan.replica,
        injected_at,
        detected_after_ms: detection.as_ref().map(|d| d.at - injected_at),
        detected_by: detection.as_ref().map(|d| detector_of(controller, d)),
        detection: detection.map(|d| d.summary),
        recovered_after_ms: recovered_at.map(|at| at - injected_at),
        verified_after_ms: verified.map(|at| at - injected_at),
        actions: describe_actions(controller, &plan.service, injected_at, until),
        healed: recovered_at.is_some(),
        verified: verified.is_some(),
    }
}
