//! The journal while the loop runs. A journal that cannot be written is loud: the
//! controller's health says so, a `journal_unwritable` signal fires, and a human is paged
//! through the pager alone, since nothing that needs the journal can report its loss. What
//! has ended longer ago than the retention is pruned, at start and every hour.

use std::sync::Arc;
use std::time::Duration;

use knowledge::{Journal, WriteEvent};
use model::{Clock, Health, Labels, Millis, OutcomeStatus, Signal, SignalKind};
use remedy::Pager;
use tokio::sync::mpsc;

use crate::incidents::IncidentManager;

/// The health component of the journal.
pub const COMPONENT: &str = "journal";

/// The health component of pages that were not delivered.
const PAGER: &str = "pager";

/// The `controller_fault` signal of a journal that cannot be written.
pub const JOURNAL_UNWRITABLE: &str = "journal_unwritable";

/// While the journal is failing, how often a write is tried even if nothing else writes, so
/// that its recovery is seen.
pub(crate) const PROBE_EVERY: Duration = Duration::from_secs(10);

/// How often the journal is pruned (the first time at start).
pub(crate) const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Hands the journal's write events on. The health changes at once, inside the write that
/// failed or succeeded (so it is never behind); everything that may itself use the journal is
/// left to [`watch`].
pub(crate) fn observe(journal: &Journal, health: &Health) -> mpsc::UnboundedReceiver<WriteEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    let health = health.clone();
    journal.set_write_observer(Arc::new(move |event| {
        match event {
            WriteEvent::Unwritable { error } => {
                health.set_problem(COMPONENT, format!("cannot be written, nothing is recorded or done: {error}"));
            }
            WriteEvent::Writable { .. } => {
                health.clear(COMPONENT);
            }
        }
        let _ = tx.send(event.clone());
    }));
    rx
}

/// What [`watch`] needs.
pub(crate) struct Watch {
    pub(crate) journal: Arc<Journal>,
    pub(crate) incidents: Arc<IncidentManager>,
    pub(crate) pager: Pager,
    /// Where to page; `None` without an escalation webhook, and in dry runs.
    pub(crate) url: Option<String>,
    /// The escalation receiver's payload shape.
    pub(crate) format: remedy::PageFormat,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) health: Health,
}

/// One outage of the journal.
struct Outage {
    since: Millis,
    error: String,
    signal: Signal,
    /// Raising the signal, which may wait on the journal: its resolution waits for it.
    raised: tokio::task::JoinHandle<()>,
    /// Whether the outage itself made it into the journal.
    recorded: bool,
}

impl Watch {
    fn unwritable(&self, error: String) -> Outage {
        let now = self.clock.now();
        let path = self.journal.path().to_owned();
        tracing::error!(
            journal = %path,
            %error,
            "the journal cannot be written: no incident, signal or action is recorded, and no action runs, until it can"
        );
        let mut signal = Signal::firing(
            SignalKind::ControllerFault,
            JOURNAL_UNWRITABLE,
            Labels::from_pairs([("component", "journal")]),
            now,
        );
        signal.annotations.insert("summary".into(), format!("autonomic cannot write its journal: {error}"));
        // The page first, and on its own: it needs nothing but the webhook.
        match &self.url {
            Some(url) => {
                let reason = format!(
                    "autonomic cannot write its journal {path}: {error}\n\
                     No incident, signal or action is recorded, and no remediation runs (intent before action), until a \
                     write succeeds again. Free disk space, fix the file or move a damaged journal aside; the controller \
                     notices by itself."
                );
                let mut action = remedy::page_action_as("autonomic", url, &reason, self.format);
                action.params.insert(remedy::notify::INCIDENT.to_owned(), "journal".to_owned());
                let (pager, health, url) = (self.pager.clone(), self.health.clone(), url.clone());
                tokio::spawn(async move {
                    let outcome = pager.page(&url, &action).await;
                    if outcome.status == OutcomeStatus::Succeeded {
                        tracing::info!(%url, detail = %outcome.detail, "paged about the journal");
                        health.clear(PAGER);
                    } else {
                        tracing::error!(%url, detail = %outcome.detail, "the page about the journal was NOT delivered");
                        health.set_problem(
                            PAGER,
                            format!("the page about the journal was not delivered: {}", outcome.detail),
                        );
                    }
                });
            }
            None => tracing::error!("no escalation webhook to page about the journal (or a dry run): nobody is paged"),
        }
        // Raising the signal writes to the failing journal, which may wait on a lock: off the
        // async workers.
        let (incidents, firing) = (self.incidents.clone(), signal.clone());
        let raised = tokio::task::spawn_blocking(move || incidents.on_signal(firing));
        Outage { since: now, error, signal, raised, recorded: false }
    }

    /// Tries to journal the outage itself, once: also the probe that finds out whether the
    /// journal is writable again when nothing else writes.
    async fn record(&self, outage: &mut Outage) {
        if outage.recorded {
            return;
        }
        let (journal, since) = (self.journal.clone(), outage.since);
        let message = format!("the journal could not be written: {}", outage.error);
        let wrote = tokio::task::spawn_blocking(move || journal.note(None, JOURNAL_UNWRITABLE, &message, since));
        outage.recorded = matches!(wrote.await, Ok(Ok(())));
    }

    async fn writable(&self, mut outage: Outage, lost: u64) {
        let now = self.clock.now();
        let took = model::format_duration(Duration::from_millis((now - outage.since).max(0) as u64));
        tracing::warn!(journal = %self.journal.path(), lost, outage = %took, "the journal can be written again");
        self.record(&mut outage).await;
        let message = format!(
            "the journal is writable again after {took}; {lost} write(s) were lost (incidents, signals or actions of that time may be missing)"
        );
        let _ = (&mut outage.raised).await;
        let (journal, incidents, resolved) =
            (self.journal.clone(), self.incidents.clone(), outage.signal.resolved(now));
        let _ = tokio::task::spawn_blocking(move || {
            let _ = journal.note(None, "journal_recovered", &message, now);
            incidents.on_signal(resolved);
        })
        .await;
    }
}

/// Acts on the journal's write events until the journal is dropped.
pub(crate) async fn watch(mut events: mpsc::UnboundedReceiver<WriteEvent>, w: Watch) {
    let mut outage: Option<Outage> = None;
    loop {
        let event = match outage.as_mut() {
            None => events.recv().await,
            Some(o) => tokio::select! {
                e = events.recv() => e,
                _ = tokio::time::sleep(PROBE_EVERY) => {
                    w.record(o).await;
                    continue;
                }
            },
        };
        let Some(event) = event else { return };
        match (event, outage.take()) {
            (WriteEvent::Unwritable { error }, _) => outage = Some(w.unwritable(error)),
            (WriteEvent::Writable { lost }, Some(o)) => w.writable(o, lost).await,
            (WriteEvent::Writable { .. }, None) => {}
        }
    }
}

/// The cutoff of a retention at `now`.
fn cutoff(now: Millis, retention: Duration) -> Millis {
    now.saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX))
}

/// Prunes what ended more than `retention` ago, now and then every `every`.
pub(crate) async fn prune_every(journal: Arc<Journal>, clock: Arc<dyn Clock>, retention: Duration, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let before = cutoff(clock.now(), retention);
        let j = journal.clone();
        match tokio::task::spawn_blocking(move || j.prune(before)).await {
            Ok(Ok(pruned)) if pruned.total() > 0 => {
                tracing::info!(?pruned, retention = %model::format_duration(retention), "pruned the journal")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "pruning the journal failed; trying again at the next round"),
            Err(e) => tracing::warn!(error = %e, "pruning the journal stopped; trying again at the next round"),
        }
    }
}

#[cfg(test)]
#[path = "journal_watch_tests.rs"]
mod tests;
