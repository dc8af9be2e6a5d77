//! Actuators carry out actions. The ladder talks to one [`Actuator`] trait object; this
//! module has the local one (supervisor + pager) and a recording one for dry runs and tests.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use model::{Action, ActionKind, Outcome, OutcomeStatus};

use crate::supervisor::Supervisor;

/// Carries out actions.
pub trait Actuator: Send + Sync {
    /// Does `action` and reports how it went. Never panics; failures are outcomes.
    fn apply<'a>(&'a self, action: &'a Action) -> BoxFuture<'a, Outcome>;
}

/// Sends pages: a JSON POST to a webhook, as Alertmanager receivers and PagerDuty/Slack
/// bridges accept.
#[derive(Debug, Clone)]
pub struct Pager {
    client: reqwest::Client,
}

impl Pager {
    /// A pager with a 5 s timeout per page.
    pub fn new() -> Self {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        Self { client }
    }

    /// POSTs the page.
    pub async fn page(&self, url: &str, action: &Action) -> Outcome {
        let body = serde_json::json!({
            "service": action.service,
            "summary": action.reason.lines().next().unwrap_or_default(),
            "details": action.reason,
            "source": "autonomic",
        });
        match self.client.post(url).json(&body).send().await {
            Ok(r) if r.status().is_success() => Outcome::succeeded(format!("paged {url} ({})", r.status())),
            Ok(r) => Outcome::failed(format!("page to {url} answered {}", r.status())),
            Err(e) => Outcome::failed(format!("page to {url} failed: {e}")),
        }
    }
}

impl Default for Pager {
    fn default() -> Self {
        Self::new()
    }
}

/// The local actuator: process actions through the [`Supervisor`], pages through the [`Pager`].
#[derive(Debug, Clone)]
pub struct LocalActuator {
    supervisor: Supervisor,
    pager: Pager,
}

impl LocalActuator {
    /// An actuator over this supervisor.
    pub fn new(supervisor: Supervisor) -> Self {
        Self { supervisor, pager: Pager::new() }
    }
}

impl Actuator for LocalActuator {
    fn apply<'a>(&'a self, action: &'a Action) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let s = &action.service;
            let result = match &action.kind {
                ActionKind::Signal { signal, scope } => self.supervisor.signal(s, scope, signal).await,
                ActionKind::Restart { scope, max_unavailable } => {
                    self.supervisor.restart(s, scope, *max_unavailable).await
                }
                ActionKind::Rollback { max_unavailable } => self.supervisor.rollback(s, *max_unavailable).await,
                ActionKind::Page { url } => return self.pager.page(url, action).await,
            };
            match result {
                Ok(detail) => Outcome::succeeded(detail),
                Err(e) => Outcome::failed(e.to_string()),
            }
        })
    }
}

/// Records actions instead of doing them: the `--dry-run` actuator, and a test double.
#[derive(Debug, Clone, Default)]
pub struct RecordingActuator {
    done: Arc<Mutex<Vec<Action>>>,
    outcome: Option<OutcomeStatus>,
}

impl RecordingActuator {
    /// Records and answers `dry_run`.
    pub fn dry_run() -> Self {
        Self { done: Arc::default(), outcome: Some(OutcomeStatus::DryRun) }
    }

    /// Records and answers with `status` (for tests of the ladder).
    pub fn answering(status: OutcomeStatus) -> Self {
        Self { done: Arc::default(), outcome: Some(status) }
    }

    /// What was asked, in order.
    pub fn actions(&self) -> Vec<Action> {
        self.done.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Actuator for RecordingActuator {
    fn apply<'a>(&'a self, action: &'a Action) -> BoxFuture<'a, Outcome> {
        self.done.lock().unwrap_or_else(|p| p.into_inner()).push(action.clone());
        let status = self.outcome.unwrap_or(OutcomeStatus::DryRun);
        Box::pin(async move { Outcome { status, detail: format!("recorded: {action}") } })
    }
}
