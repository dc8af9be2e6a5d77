//! `autonomic demo`: start the demo fleet under the controller (or the baseline), send steady
//! traffic, inject every fault in turn, and report.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use controller::{Controller, Mode, RunOptions};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::faults::FaultPlan;
use crate::load::{QueryLoad, loop_timing};
use crate::pager::PageReceiver;
use crate::report::Report;
use crate::scenario::{ScenarioOptions, run_fault};
use crate::traffic::Traffic;

/// The demo's configuration, shipped in the repository as an ordinary config file.
pub const DEMO_CONFIG: &str = include_str!("../../../examples/demo/autonomic.yaml");
/// The name the demo configuration is reported under.
pub const DEMO_CONFIG_NAME: &str = "examples/demo/autonomic.yaml";

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The autonomic binary (serves the fleet as `autonomic fleet-service`).
    pub self_exe: PathBuf,
    /// Journal file.
    pub journal: PathBuf,
    /// Faults to inject, in order.
    pub plan: Vec<FaultPlan>,
    /// Requests per second at the gateway.
    pub rate: u32,
    /// The most each fault is given to heal.
    pub budget: Duration,
    /// Hostile query clients run against the query API beside the loop (0: none, and no
    /// API); see [`crate::load`].
    pub query_load: usize,
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The embedded configuration did not check (a bug in this build).
    #[error("demo configuration is invalid:\n{0}")]
    Config(model::Diagnostics),
    /// The controller could not start.
    #[error(transparent)]
    Controller(#[from] controller::ControllerError),
    /// A local socket (the page receiver, the query API) or a thread could not be opened.
    #[error("cannot start a local listener: {0}")]
    Io(#[from] std::io::Error),
    /// A stop was requested (the reason, e.g. `SIGINT`); the fleet was stopped gracefully.
    #[error("interrupted by {0}; the fleet was stopped (SIGTERM, then SIGKILL after the grace period)")]
    Interrupted(String),
}

fn progress_bar(total: usize, mode: &str) -> ProgressBar {
    let target =
        if std::io::stdout().is_terminal() { ProgressDrawTarget::stdout() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(total as u64), target);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix} fault {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_prefix(mode.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Steady traffic before the first fault.
const WARMUP: Duration = Duration::from_secs(20);

/// Runs the demo once in `mode` and returns its report.
pub async fn run_once(opts: &DemoOptions, mode: Mode) -> Result<Report, DemoError> {
    run_until(opts, mode, std::future::pending()).await
}

/// Runs the demo once in `mode`, or until `stop` completes (a Ctrl-C, say, naming why):
/// then the fleet is stopped the orderly way — SIGTERM, each service's grace period, then
/// SIGKILL — and the result is [`DemoError::Interrupted`].
pub async fn run_until(
    opts: &DemoOptions,
    mode: Mode,
    stop: impl Future<Output = String>,
) -> Result<Report, DemoError> {
    let mut stop = std::pin::pin!(stop);
    let label = match mode {
        Mode::Autonomic => "autonomic",
        Mode::Baseline => "baseline",
    };
    let base = opts.journal.parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    let mut config = controller::compile(DEMO_CONFIG_NAME, DEMO_CONFIG, &base).map_err(DemoError::Config)?;
    let pager = PageReceiver::start().await?;
    config.escalation_url = Some(pager.url.clone());
    // Each demo starts a new fleet: no history from an earlier one.
    config.snapshot = None;
    let run = RunOptions {
        mode,
        dry_run: false,
        self_exe: opts.self_exe.clone(),
        journal: Some(opts.journal.clone()),
        label: format!("demo-{label}"),
        liveness: Default::default(),
        guards_from_journal: false,
    };
    let bar = progress_bar(opts.plan.len(), label);
    bar.set_message("starting the fleet");
    let started = tokio::time::Instant::now();
    // A stop that arrives while the controller starts is acted on once it has started: the
    // fleet it started is then stopped like any other.
    let controller = Controller::start(config, run).await?;
    let ready = tokio::select! {
        ready = controller.wait_ready(Duration::from_secs(30)) => ready,
        why = &mut stop => return Err(interrupted(&controller, &bar, why).await),
    };
    if let Err(e) = ready {
        controller.shutdown().await;
        return Err(e.into());
    }
    let load = match (opts.query_load, mode) {
        (0, _) | (_, Mode::Baseline) => None,
        (clients, Mode::Autonomic) => Some(QueryLoad::start(&controller, clients).await?),
    };
    let measured_from = controller.clock().now();
    let traffic = Traffic::start(controller.topology().addrs("gateway"), opts.rate, Duration::from_secs(2));
    // The learned baselines need about thirty clean scrapes of each series before they may
    // alarm; faults injected sooner would meet a detector still in its probation.
    bar.set_message("warming up: steady traffic while the learned baselines see what normal looks like");
    let faults = async {
        tokio::time::sleep(WARMUP).await;
        inject_all(opts, mode, &controller, &bar).await
    };
    let results = tokio::select! {
        results = faults => results,
        why = &mut stop => {
            traffic.stop();
            load.map(QueryLoad::stop);
            return Err(interrupted(&controller, &bar, why).await);
        }
    };
    bar.set_message("settling");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (totals, timeline) = traffic.stop();
    let query_load = load.map(QueryLoad::stop);
    let loop_timing =
        (mode == Mode::Autonomic).then(|| loop_timing(&controller, measured_from, controller.clock().now()));
    bar.set_message("stopping the fleet");
    controller.shutdown().await;
    bar.finish_and_clear();
    Ok(Report {
        mode: label.into(),
        faults: results,
        availability: totals.availability(),
        requests: totals.requests,
        failed_requests: totals.requests - totals.ok,
        pages: pager.pages().len(),
        duration_ms: started.elapsed().as_millis() as i64,
        traffic: timeline,
        loop_timing,
        query_load,
    })
}

/// Stops the fleet the orderly way after a stop request and says so.
async fn interrupted(controller: &Controller, bar: &ProgressBar, why: String) -> DemoError {
    bar.set_message(format!("{why}: stopping the fleet (SIGTERM, then SIGKILL after the grace period)"));
    controller.shutdown().await;
    bar.finish_and_clear();
    DemoError::Interrupted(why)
}

/// Injects every planned fault in turn and measures each.
async fn inject_all(
    opts: &DemoOptions,
    mode: Mode,
    controller: &Controller,
    bar: &ProgressBar,
) -> Vec<crate::report::FaultResult> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap_or_default();
    let scenario = ScenarioOptions {
        mode,
        budget: opts.budget,
        settle: Duration::from_secs(20),
        verify_grace: Duration::from_secs(30),
    };
    let shown = bar.clone();
    let progress: Arc<dyn Fn(usize, String) + Send + Sync> = Arc::new(move |i, msg| {
        shown.set_position(i as u64 + 1);
        shown.set_message(msg);
    });
    let mut results = Vec::new();
    for (i, plan) in opts.plan.iter().enumerate() {
        let result = run_fault(i, plan, controller, &client, &scenario, progress.as_ref()).await;
        let line = format!(
            "{} {} on {}: detected {} recovered {}",
            if result.healed { "✓" } else { "✗" },
            result.fault.name(),
            result.service,
            result.detected_after_ms.map(|m| format!("{:.1}s", m as f64 / 1000.0)).unwrap_or_else(|| "never".into()),
            result.recovered_after_ms.map(|m| format!("{:.1}s", m as f64 / 1000.0)).unwrap_or_else(|| "never".into()),
        );
        bar.println(line);
        results.push(result);
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_and_memory_have_no_threshold_rule_only_learned_baselines() {
        let rules = DEMO_CONFIG
            .split_once("rule_groups:")
            .and_then(|(_, rest)| rest.split_once("anomaly_detection:"))
            .map(|(rules, _)| rules)
            .expect("the demo config has rule groups, then anomaly watches");
        for metric in ["http_request_duration_seconds", "process_resident_memory_bytes"] {
            assert!(!rules.contains(metric), "a threshold rule reads {metric}");
        }
        let config = controller::compile(DEMO_CONFIG_NAME, DEMO_CONFIG, std::path::Path::new(".")).expect("compiles");
        let watched: Vec<&str> = config.anomaly_watches.iter().map(|w| w.expr_text.as_str()).collect();
        for metric in ["http_request_duration_seconds", "process_resident_memory_bytes"] {
            assert!(watched.iter().any(|e| e.contains(metric)), "no learned baseline watches {metric}");
        }
    }
}
