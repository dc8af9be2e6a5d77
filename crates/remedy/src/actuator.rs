//! Actuators carry out actions. The ladder talks to one [`Actuator`] trait object; this
//! module has the local one (supervisor + pager) and a recording one for dry runs and tests.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use model::{Action, ActionKind, Outcome, OutcomeStatus};

use crate::pager::Pager;
use crate::supervisor::Supervisor;

/// Carries out actions.
pub trait Actuator: Send + Sync {
    /// Does `action` and reports how it went. Never panics; failures are outcomes.
    fn apply<'a>(&'a self, action: &'a Action) -> BoxFuture<'a, Outcome>;
}

/// The local actuator: process actions through the [`Supervisor`], pages through the [`Pager`].
#[derive(Debug, Clone)]
pub struct LocalActuator {
    supervisor: Supervisor,
    pager: Pager,
}

impl LocalActuator {
    /// An actuator over this supervisor, paging with the default retries.
    pub fn new(supervisor: Supervisor) -> Self {
        Self::with_pager(supervisor, Pager::new())
    }

    /// An actuator over this supervisor, paging with `pager`.
    pub fn with_pager(supervisor: Supervisor, pager: Pager) -> Self {
        Self { supervisor, pager }
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
