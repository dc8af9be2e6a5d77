//! The escalation ladder: run a playbook's steps for one incident — act (under guards,
//! intent journaled first), verify within the deadline, escalate to the next step, and page
//! a human when the ladder runs out (and say so truthfully when the page did not get through).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use knowledge::{ActionOrigin, Journal, RunId};
use model::{
    Action, Clock, Incident, IncidentId, IncidentState, MAX_UNAVAILABLE, OPENED_AT, ORIGIN, Outcome, OutcomeStatus,
    Target,
};
use tokio::sync::watch;

use crate::actuators::Actuators;
use crate::guards::GuardState;
use crate::notify::{self, PageFormat};
use crate::pager::{PAGE, Pager, page_action_as};
use crate::playbook::{Playbook, Scope, StepAction, Verify};

/// Answers whether a step's recovery condition holds now.
pub trait Verifier: Send + Sync {
    /// Checks `verify` for `incident`.
    fn check<'a>(&'a self, verify: &'a Verify, incident: &'a Incident) -> BoxFuture<'a, bool>;
}

/// Where a ladder starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// Run this step's action, then verify.
    Step(usize),
    /// This step's action already ran (or was interrupted): only verify, with a fresh
    /// deadline, whatever the journal says.
    VerifyStep(usize),
    /// A restarted controller resumes an incident at this step, and the journal decides
    /// how: when it holds an intent for the step (the action ran, or was in flight when the
    /// controller died), the action is not repeated and the step only verifies, with a
    /// fresh deadline; when it holds none (the controller died after recording the step but
    /// before writing the intent), the action never ran, so it runs now, under the guards.
    Resume(usize),
}

/// How a ladder ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LadderEnd {
    /// Recovery verified after this step (0-based).
    Resolved {
        /// The step whose verification passed.
        step: usize,
    },
    /// The ladder ran out and the incident is a human's: the timeline says whether the page
    /// was delivered (`escalated`) or not (`escalation_failed`).
    Escalated,
    /// Told to stop (the incident was merged into another, or the controller is stopping).
    Stopped(String),
}

/// Everything ladders share.
#[derive(Clone)]
pub struct Ladder {
    /// The journal.
    pub journal: Arc<Journal>,
    /// This controller run.
    pub run: RunId,
    /// Carries out actions: each service's actuator.
    pub actuators: Actuators,
    /// Delivers pages.
    pub pager: Pager,
    /// Checks recovery.
    pub verifier: Arc<dyn Verifier>,
    /// Cooldowns and budgets.
    pub guards: Arc<Mutex<GuardState>>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Record actions without doing them.
    pub dry_run: bool,
    /// Where to page when the ladder runs out (and for `page` steps without a URL).
    pub escalation_url: Option<String>,
    /// The escalation receiver's payload shape.
    pub escalation_format: PageFormat,
    /// Time between verification checks.
    pub poll: Duration,
    /// The controller's own health: a page that was not delivered is a `pager` problem, until
    /// one is.
    pub health: model::Health,
    /// The controller's own counters: actions by verb and outcome, guard refusals, steps.
    pub metrics: model::SelfMetrics,
    /// Whether this replica may act ([`model::Leadership::always`] without leader
    /// election): a follower's ladder waits before each action until it leads.
    pub leadership: model::Leadership,
}

impl std::fmt::Debug for Ladder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ladder").field("run", &self.run).field("dry_run", &self.dry_run).finish_non_exhaustive()
    }
}

enum Acted {
    Done,
    Skipped,
}

/// What became of a ladder's page.
enum Paged {
    Delivered(String),
    NotDelivered { url: String, why: String },
    DryRun(String),
    NoReceiver,
}

/// The health component of undelivered pages.
const PAGER: &str = "pager";

impl Ladder {
    fn note(&self, incident: IncidentId, kind: &str, message: &str) {
        if let Err(e) = self.journal.note(Some(incident), kind, message, self.clock.now()) {
            tracing::error!(%incident, error = %e, "journal write failed");
        }
    }

    fn close(&self, incident: IncidentId, state: IncidentState) {
        if let Err(e) = self.journal.close_incident(incident, state, self.clock.now()) {
            tracing::error!(%incident, error = %e, "journal write failed");
        }
    }

    /// The action a step takes for `incident`; `None` for a page with nowhere to go.
    async fn action_for(
        &self,
        step: &StepAction,
        index: usize,
        incident: &Incident,
        playbook: &Playbook,
    ) -> Option<Action> {
        let service = &incident.service;
        let reason = self.summary(incident);
        match step {
            StepAction::Page { url, format } => {
                let (url, default_format) = match url {
                    Some(url) => (url.clone(), PageFormat::Webhook),
                    None => (self.escalation_url.clone()?, self.escalation_format),
                };
                let mut page = page_action_as(service, &url, &reason, format.unwrap_or(default_format));
                page.params.insert(notify::INCIDENT.to_owned(), incident.id.0.to_string());
                Some(page)
            }
            StepAction::Act { verb, scope, params } => {
                let target = match (scope.unwrap_or(Scope::Replica), &incident.replica) {
                    (Scope::Replica, Some(replica)) => replica.clone(),
                    _ => Target::All,
                };
                let mut params = params.clone();
                let spec = self.actuators.of(service).and_then(|a| a.spec().verb(verb));
                let Some(spec) = spec else {
                    // Checked at compile time where the playbook names its service; otherwise
                    // the actuator refuses it and the ladder goes on.
                    return Some(Action::new(
                        service,
                        verb.as_str(),
                        target,
                        params,
                        reason,
                        "{verb} {service} {target}",
                    ));
                };
                let target = if spec.scoped { target } else { Target::All };
                if spec.rolls_out {
                    let replicas = self.actuators.status(service).await.map_or(1, |s| s.replicas.len());
                    let n = playbook.guards.max_unavailable.of(replicas);
                    params.insert(MAX_UNAVAILABLE.to_owned(), n.to_string());
                }
                params.insert(ORIGIN.to_owned(), format!("{}#step {}", incident.trigger.key(), index + 1));
                params.insert(OPENED_AT.to_owned(), incident.opened_at.to_string());
                Some(spec.action(service, target, params, &reason))
            }
        }
    }

    /// The incident in a few lines: title and timeline so far, for pages.
    fn summary(&self, incident: &Incident) -> String {
        let mut s = format!("Incident {} on {}: {}", incident.id, incident.service, incident.title);
        if let Ok(timeline) = self.journal.timeline(incident.id) {
            for e in timeline.iter().rev().take(12).rev() {
                s.push_str(&format!("\n  {} {}: {}", e.at, e.kind, e.text));
            }
        }
        s
    }

    /// Journals the intent, acts (unless dry-run), journals the outcome. Without a journaled
    /// intent nothing is done. For a page, also says what became of it.
    async fn act(
        &self,
        incident: &Incident,
        playbook: &Playbook,
        index: usize,
        step: &StepAction,
    ) -> (Acted, Option<Paged>) {
        let now = self.clock.now();
        let Some(action) = self.action_for(step, index, incident, playbook).await else {
            self.note(
                incident.id,
                "skipped",
                &format!("step {}: page has no URL and no escalation receiver is configured", index + 1),
            );
            return (Acted::Skipped, Some(Paged::NoReceiver));
        };
        let url = (action.verb == PAGE).then(|| action.param("url").unwrap_or_default().to_owned());
        let is_page = url.is_some();
        let blocked = if is_page {
            Ok(())
        } else {
            self.guards.lock().unwrap_or_else(|p| p.into_inner()).check(
                &incident.service,
                &playbook.name,
                incident.id,
                &playbook.guards,
                now,
            )
        };
        let id = match self.journal.intent(
            self.run,
            Some(incident.id),
            Some(index),
            ActionOrigin::Playbook,
            &action,
            self.dry_run,
            now,
        ) {
            Ok(id) => id,
            Err(e) => {
                // Intent before action: what is not journaled is not done, so that a restarted
                // controller never repeats or loses it.
                tracing::error!(
                    incident = %incident.id,
                    step = index + 1,
                    %action,
                    error = %e,
                    "step refused: its intent could not be journaled, so the action does not run"
                );
                let paged =
                    url.map(|url| Paged::NotDelivered { url, why: format!("its intent could not be journaled: {e}") });
                return (Acted::Skipped, paged);
            }
        };
        let outcome = match blocked {
            Err(reason) => {
                self.metrics.guard_refusal(if reason.starts_with("cooldown") { "cooldown" } else { "budget" });
                Outcome::skipped(reason)
            }
            Ok(()) if self.dry_run => Outcome { status: OutcomeStatus::DryRun, detail: format!("would {action}") },
            Ok(()) => {
                tracing::info!(incident = %incident.id, step = index + 1, %action, "acting");
                match &url {
                    Some(url) => self.pager.page(url, &action).await,
                    None => self.actuators.apply(&action).await,
                }
            }
        };
        if !is_page && matches!(outcome.status, OutcomeStatus::Succeeded | OutcomeStatus::Failed) {
            self.guards.lock().unwrap_or_else(|p| p.into_inner()).record(
                &incident.service,
                &playbook.name,
                incident.id,
                now,
            );
        }
        if let Err(e) = self.journal.outcome(id, &outcome, self.clock.now()) {
            tracing::error!(incident = %incident.id, error = %e, "cannot journal outcome");
        }
        self.metrics.action(&action.verb, outcome.status.as_str());
        let paged = url.map(|url| match outcome.status {
            OutcomeStatus::Succeeded => {
                self.health.clear(PAGER);
                Paged::Delivered(url)
            }
            OutcomeStatus::DryRun => Paged::DryRun(url),
            _ => {
                self.health.set_problem(
                    PAGER,
                    format!("the page for incident {} was not delivered: {}", incident.id, outcome.detail),
                );
                Paged::NotDelivered { url, why: outcome.detail.clone() }
            }
        });
        let acted = match outcome.status {
            OutcomeStatus::Succeeded | OutcomeStatus::DryRun => Acted::Done,
            _ => {
                tracing::warn!(incident = %incident.id, step = index + 1, status = outcome.status.as_str(), detail = %outcome.detail, "step did not run");
                Acted::Skipped
            }
        };
        (acted, paged)
    }

    /// The ladder's last word: who, if anyone, the incident was handed to.
    fn hand_over(&self, incident: &Incident, paged: Option<Paged>) {
        match paged {
            Some(Paged::Delivered(url)) => {
                self.note(incident.id, "escalated", &format!("ladder exhausted; handed to a human (paged {url})"))
            }
            Some(Paged::DryRun(url)) => {
                self.note(incident.id, "escalated", &format!("ladder exhausted; [dry-run] would page {url}"))
            }
            Some(Paged::NotDelivered { url, why }) => {
                tracing::error!(incident = %incident.id, %url, %why, "ladder exhausted and the page was NOT delivered");
                self.note(
                    incident.id,
                    "escalation_failed",
                    &format!("ladder exhausted; the page to {url} was NOT delivered: {why}"),
                );
                self.health.set_problem(
                    PAGER,
                    format!("incident {} was escalated but the page to {url} was not delivered: {why}", incident.id),
                );
            }
            Some(Paged::NoReceiver) => self.note(
                incident.id,
                "escalation_failed",
                "ladder exhausted; nobody was paged: no escalation webhook is configured",
            ),
            // The page step ran before the controller restarted: its journaled outcome says.
            None => self.note(
                incident.id,
                "escalated",
                "ladder exhausted; the page step's outcome above says whether a human was paged",
            ),
        }
    }

    /// Whether resuming at `step` must only verify: the journal holds an intent for that
    /// step of `incident` (whatever its outcome, `interrupted` included), so its action is
    /// not run twice. With no intent the action never started and runs again. When the
    /// journal cannot be read, nothing is repeated.
    fn resume_verifies_only(&self, incident: &Incident, playbook: &Playbook, step: usize) -> bool {
        if playbook.steps.get(step).is_none_or(|s| s.action.is_none()) {
            return true;
        }
        match self.journal.actions_of(incident.id) {
            Ok(actions) => {
                let journaled = actions.iter().any(|a| a.origin == ActionOrigin::Playbook && a.step == Some(step));
                if !journaled {
                    self.note(
                        incident.id,
                        "resumed",
                        &format!(
                            "step {}: no intent in the journal, its action never started; running it now",
                            step + 1
                        ),
                    );
                }
                journaled
            }
            Err(e) => {
                tracing::error!(incident = %incident.id, error = %e, "cannot read the journal; resuming without acting");
                true
            }
        }
    }

    /// Before step `index` acts: waits while another controller replica leads.
    /// `Ok(true)`: this replica leads, act. `Ok(false)`: the incident recovered meanwhile
    /// (the leader healed it) and is closed as resolved. `Err` carries a stop reason.
    async fn await_lead(
        &self,
        incident: &Incident,
        index: usize,
        stop: &mut watch::Receiver<Option<String>>,
    ) -> Result<bool, String> {
        if self.leadership.is_leader() {
            return Ok(true);
        }
        self.note(
            incident.id,
            "following",
            &format!(
                "step {}: another controller replica leads; this one acts only once it holds the lease",
                index + 1
            ),
        );
        let mut leadership = self.leadership.clone();
        loop {
            if let Some(reason) = stop.borrow().clone() {
                return Err(reason);
            }
            if self.verifier.check(&Verify::Recovered, incident).await {
                self.note(incident.id, "verified", "recovered while another controller replica led");
                self.close(incident.id, IncidentState::Resolved);
                return Ok(false);
            }
            tokio::select! {
                _ = leadership.wait() => {
                    self.note(incident.id, "leading", &format!("this replica leads now: step {} goes on", index + 1));
                    return Ok(true);
                }
                _ = tokio::time::sleep(self.poll) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Waits until `verify` holds or `within` passes. `Err` carries a stop reason.
    async fn verify(
        &self,
        incident: &Incident,
        verify: &Verify,
        within: Duration,
        stop: &mut watch::Receiver<Option<String>>,
    ) -> Result<bool, String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(reason) = stop.borrow().clone() {
                return Err(reason);
            }
            if self.verifier.check(verify, incident).await {
                return Ok(true);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let wait = self.poll.min(deadline - now);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Runs `playbook` for `incident` from `start` until recovery, exhaustion or a stop.
    pub async fn run(
        &self,
        incident: &Incident,
        playbook: &Playbook,
        start: StartAt,
        stop: &mut watch::Receiver<Option<String>>,
    ) -> LadderEnd {
        let (first, resume_verify) = match start {
            StartAt::Step(i) => (i, false),
            StartAt::VerifyStep(i) => (i, true),
            StartAt::Resume(i) => (i, self.resume_verifies_only(incident, playbook, i)),
        };
        // Whether the playbook pages on its own, and what became of its last page.
        let mut pages = false;
        let mut last_page = None;
        for (index, step) in playbook.steps.iter().enumerate().skip(first) {
            if let Some(reason) = stop.borrow().clone() {
                return LadderEnd::Stopped(reason);
            }
            if let Err(e) = self.journal.set_step(incident.id, index) {
                tracing::error!(incident = %incident.id, error = %e, "journal write failed");
            }
            let skip_action = resume_verify && index == first;
            pages |= matches!(step.action, Some(StepAction::Page { .. }));
            if step.action.is_some() && !skip_action {
                match self.await_lead(incident, index, stop).await {
                    Ok(true) => {}
                    Ok(false) => return LadderEnd::Resolved { step: index },
                    Err(reason) => return LadderEnd::Stopped(reason),
                }
            }
            if let (Some(action), false) = (&step.action, skip_action) {
                let (acted, paged) = self.act(incident, playbook, index, action).await;
                if paged.is_some() {
                    last_page = paged;
                }
                if let Acted::Skipped = acted {
                    continue;
                }
            }
            match self.verify(incident, &step.verify, step.within, stop).await {
                Err(reason) => return LadderEnd::Stopped(reason),
                Ok(true) => {
                    self.metrics.ladder_step("verified");
                    self.note(
                        incident.id,
                        "verified",
                        &format!("step {} verified: {}", index + 1, describe(&step.verify)),
                    );
                    self.close(incident.id, IncidentState::Resolved);
                    return LadderEnd::Resolved { step: index };
                }
                Ok(false) => {
                    self.metrics.ladder_step("not_verified");
                    self.note(
                        incident.id,
                        "deadline",
                        &format!(
                            "step {}: not {} within {}",
                            index + 1,
                            describe(&step.verify),
                            model::format_duration(step.within)
                        ),
                    )
                }
            }
        }
        if !pages {
            match self.await_lead(incident, playbook.steps.len(), stop).await {
                Ok(true) => {}
                Ok(false) => return LadderEnd::Resolved { step: playbook.steps.len() },
                Err(reason) => return LadderEnd::Stopped(reason),
            }
            let page = StepAction::Page { url: None, format: None };
            last_page = self.act(incident, playbook, playbook.steps.len(), &page).await.1;
        }
        self.hand_over(incident, last_page);
        self.metrics.ladder_step("escalated");
        self.close(incident.id, IncidentState::Escalated);
        LadderEnd::Escalated
    }
}

fn describe(v: &Verify) -> String {
    match v {
        Verify::Recovered => "recovered".into(),
        Verify::Healthy => "healthy".into(),
        Verify::RolledOut => "rolled out".into(),
        Verify::Expr(e) => format!("true: {e}"),
    }
}
