//! The baseline: what a plain setup does without Autonomic — a restart-on-exit policy
//! (systemd, Kubernetes `restartPolicy: Always`) and a liveness probe with Kubernetes'
//! defaults (period 10 s, timeout 1 s, failure threshold 3) that restarts the container.

use std::sync::Arc;
use std::time::Duration;

use knowledge::{ActionOrigin, Journal, RunId, SignalRole};
use model::{Clock, Labels, MAX_UNAVAILABLE, Params, Signal, SignalKind, Target};
use monitor::ProbeCheck;
use remedy::Actuators;

/// Kubernetes' liveness-probe defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Liveness {
    /// `periodSeconds`.
    pub period: Duration,
    /// `timeoutSeconds`.
    pub timeout: Duration,
    /// `failureThreshold`.
    pub failure_threshold: u32,
}

impl Default for Liveness {
    fn default() -> Self {
        Self { period: Duration::from_secs(10), timeout: Duration::from_secs(1), failure_threshold: 3 }
    }
}

/// One replica's liveness probe, as a kubelet runs it: after `failure_threshold`
/// consecutive failures the replica is restarted and the count starts over.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn liveness_loop(
    liveness: Liveness,
    check: ProbeCheck,
    service: String,
    replica: usize,
    instance: String,
    actuators: Actuators,
    journal: Arc<Journal>,
    run: RunId,
    clock: Arc<dyn Clock>,
) {
    let client = reqwest::Client::new();
    let mut failures = 0u32;
    let mut tick = tokio::time::interval(liveness.period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match monitor::probe_once(&client, &check, liveness.timeout).await {
            Ok(()) => failures = 0,
            Err(reason) => {
                failures += 1;
                if failures < liveness.failure_threshold {
                    continue;
                }
                failures = 0;
                let now = clock.now();
                let labels = Labels::from_pairs([
                    ("service", service.clone()),
                    ("instance", instance.clone()),
                    ("replica", replica.to_string()),
                ]);
                let mut signal = Signal::firing(SignalKind::ProbeFailed, "liveness_probe_failed", labels, now);
                signal.annotations.insert(
                    "summary".into(),
                    format!("liveness probe {check} failed {} times: {reason}", liveness.failure_threshold),
                );
                let _ = journal.record_signal(run, None, SignalRole::Unattached, &signal);
                let action = actuators.action(
                    &service,
                    "restart",
                    Target::One(replica),
                    Params::from([(MAX_UNAVAILABLE.to_owned(), "1".to_owned())]),
                    "liveness probe failure threshold reached",
                );
                let Ok(id) = journal.intent(run, None, None, ActionOrigin::LivenessProbe, &action, false, now) else {
                    continue;
                };
                let outcome = actuators.apply(&action).await;
                let _ = journal.outcome(id, &outcome, clock.now());
                let _ = journal.record_signal(run, None, SignalRole::Unattached, &signal.resolved(clock.now()));
            }
        }
    }
}
