//! The journal itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use model::{Action, Incident, IncidentId, IncidentState, Millis, Outcome, OutcomeStatus, Signal, SignalState};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

pub use crate::error::JournalError;
use crate::lock::JournalLock;
use crate::writes::{WriteHealth, WriteObserver};

/// The run mode of dry runs.
pub const DRY_RUN_MODE: &str = "dry-run";

/// Journal identity of one controller run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct RunId(pub i64);

/// Journal identity of one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ActionId(pub i64);

/// Who decided on an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionOrigin {
    /// A playbook step.
    Playbook,
    /// The supervisor's restart-on-exit policy.
    RestartPolicy,
    /// A liveness probe reaching its failure threshold (the baseline's only remedy).
    LivenessProbe,
}

impl ActionOrigin {
    fn as_str(self) -> &'static str {
        match self {
            Self::Playbook => "playbook",
            Self::RestartPolicy => "restart_policy",
            Self::LivenessProbe => "liveness_probe",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "restart_policy" => Self::RestartPolicy,
            "liveness_probe" => Self::LivenessProbe,
            _ => Self::Playbook,
        }
    }
}

/// How a signal relates to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalRole {
    /// It opened the incident.
    Trigger,
    /// It is a consequence of the incident's cause (e.g. a caller's errors).
    Symptom,
    /// It arrived while the incident was open, on the same service.
    Related,
    /// Not attached to any incident.
    Unattached,
}

impl SignalRole {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Trigger => "trigger",
            Self::Symptom => "symptom",
            Self::Related => "related",
            Self::Unattached => "unattached",
        }
    }
}

/// An action as journaled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionRecord {
    /// Its id.
    pub id: ActionId,
    /// The incident it belongs to, if any.
    pub incident: Option<IncidentId>,
    /// The playbook step index, if it came from a playbook.
    pub step: Option<usize>,
    /// Who decided on it.
    pub origin: ActionOrigin,
    /// The verb (`restart`, `rollback`, …).
    pub verb: String,
    /// The service it acts on.
    pub service: String,
    /// One line: what it does.
    pub description: String,
    /// Recorded without being done.
    pub dry_run: bool,
    /// When the intent was written.
    pub intent_at: Millis,
    /// How it ended; `None` while in flight.
    pub outcome: Option<Outcome>,
    /// When it ended.
    pub outcome_at: Option<Millis>,
}

/// The first signal journaled about a service: when, of what kind, and what it said.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// When it fired.
    pub at: Millis,
    /// Signal kind (`alert`, `anomaly`, `process_exited`, `probe_failed`, `target_down`).
    pub kind: String,
    /// Signal name (the alert's or the anomaly watch's name).
    pub name: String,
    /// Its summary.
    pub summary: String,
}

/// One line of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// When.
    pub at: Millis,
    /// `signal`, `intent`, `outcome` or a note kind (`verified`, `deadline`, `escalated`, …).
    pub kind: String,
    /// What.
    pub text: String,
}

/// An incident with its history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentRecord {
    /// The incident.
    pub incident: Incident,
    /// Its trigger's key as stored when it opened: what resumption matches a firing signal
    /// against (the trigger signal read back may be partial in a journal that lost its row).
    pub trigger_key: String,
    /// The run that opened it.
    pub run: RunId,
    /// The playbook step reached, if any.
    pub step: Option<usize>,
    /// Its timeline, oldest first.
    pub timeline: Vec<TimelineEntry>,
}

/// The durable journal. Every write commits before the call returns.
#[derive(Debug)]
pub struct Journal {
    pub(crate) conn: Mutex<Connection>,
    pub(crate) path: String,
    /// The ownership lock of a journal open for writing; `None` in memory, read-only, or
    /// once closed.
    pub(crate) lock: Mutex<Option<JournalLock>>,
    /// Closed by its controller: writes are refused (another controller may own it now).
    pub(crate) closed: AtomicBool,
    pub(crate) writes: WriteHealth,
    /// Runs up to this id were begun before this journal was opened, by earlier
    /// controllers: only those can be finished, and pruned.
    pub(crate) earlier_runs: i64,
}

pub(crate) type Result<T> = std::result::Result<T, JournalError>;

impl Journal {
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn err(&self, source: rusqlite::Error) -> JournalError {
        JournalError::Sqlite { path: self.path.clone(), source }
    }

    /// Runs one write and reports how it went to the write state (and its observer).
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        if self.closed.load(Ordering::Acquire) {
            return Err(JournalError::Closed { path: self.path.clone() });
        }
        let result = f(&mut self.conn());
        self.writes.record(result.as_ref().map(|_| ()), || {
            result.as_ref().err().map(|e| format!("journal {}: {e}", self.path)).unwrap_or_default()
        });
        result.map_err(|e| self.err(e))
    }

    /// The file (or `:memory:`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Tells `observer` whenever the journal stops or starts again being writable. It is
    /// called while the write state is locked: it must be quick and must not use the journal.
    pub fn set_write_observer(&self, observer: WriteObserver) {
        self.writes.set_observer(observer);
    }

    /// Whether the last write that could tell succeeded.
    pub fn is_writable(&self) -> bool {
        self.writes.writable()
    }

    /// Releases the ownership lock and refuses every later write, for a controller that has
    /// stopped: its lingering tasks must not write into a journal that another controller (in
    /// this process, as `demo --compare` runs one after another) may own next. Reads still work.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.lock.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Makes every later write fail as SQLite fails on a read-only database (`refuse`), or
    /// lets writes through again: a real SQLite failure for tests of an unwritable journal
    /// that works as root, where file permissions do not stop writes.
    #[doc(hidden)]
    pub fn refuse_writes_for_tests(&self, refuse: bool) -> Result<()> {
        self.conn().pragma_update(None, "query_only", refuse).map_err(|e| self.err(e))
    }

    /// Records the start of a controller run (`mode`: `run`, `demo`, `baseline`, …).
    pub fn begin_run(&self, mode: &str, at: Millis) -> Result<RunId> {
        self.write(|conn| {
            conn.execute(
                "INSERT INTO runs (started_at, mode, pid) VALUES (?1, ?2, ?3)",
                params![at, mode, std::process::id()],
            )?;
            Ok(RunId(conn.last_insert_rowid()))
        })
    }

    /// Marks every action that has an intent but no outcome (the controller died while it
    /// was in flight) as `interrupted`, and returns them. Called once at startup, before
    /// any new action, so nothing in flight is ever re-run blindly.
    pub fn recover_interrupted(&self, at: Millis) -> Result<Vec<ActionRecord>> {
        let pending: Vec<ActionId> = {
            let conn = self.conn();
            let mut stmt =
                conn.prepare("SELECT id FROM actions WHERE outcome IS NULL ORDER BY id").map_err(|e| self.err(e))?;
            let rows = stmt.query_map([], |r| r.get(0).map(ActionId)).map_err(|e| self.err(e))?;
            rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))?
        };
        let mut out = Vec::new();
        for id in pending {
            self.outcome(
                id,
                &Outcome {
                    status: OutcomeStatus::Interrupted,
                    detail: "controller stopped while this action was in flight; not repeated".into(),
                },
                at,
            )?;
            if let Some(a) = self.action(id)? {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Records which playbook step an incident has reached.
    pub fn set_step(&self, incident: IncidentId, step: usize) -> Result<()> {
        self.write(|conn| {
            conn.execute("UPDATE incidents SET step = ?1 WHERE id = ?2", params![step as i64, incident.0])
        })?;
        Ok(())
    }

    /// Closes an incident as resolved or escalated.
    pub fn close_incident(&self, incident: IncidentId, state: IncidentState, at: Millis) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                // Only an open incident closes: a merge and a verification racing each other
                // cannot overwrite one another.
                "UPDATE incidents SET state = ?1, closed_at = ?2 WHERE id = ?3 AND state = 'open'",
                params![state.as_str(), at, incident.0],
            )
        })?;
        Ok(())
    }

    /// Records a signal edge, attached to an incident or not.
    pub fn record_signal(
        &self,
        run: RunId,
        incident: Option<IncidentId>,
        role: SignalRole,
        signal: &Signal,
    ) -> Result<()> {
        self.write(|conn| insert_signal(conn, run, incident, role, signal))
    }

    /// Adds a timeline note to an incident (or to the run, with `None`).
    pub fn note(&self, incident: Option<IncidentId>, kind: &str, message: &str, at: Millis) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                "INSERT INTO notes (incident_id, at, kind, message) VALUES (?1, ?2, ?3, ?4)",
                params![incident.map(|i| i.0), at, kind, message],
            )
        })?;
        Ok(())
    }

    /// Writes the intent of an action. Call before the action runs; the returned id takes
    /// the outcome afterwards.
    #[allow(clippy::too_many_arguments)]
    pub fn intent(
        &self,
        run: RunId,
        incident: Option<IncidentId>,
        step: Option<usize>,
        origin: ActionOrigin,
        action: &Action,
        dry_run: bool,
        at: Millis,
    ) -> Result<ActionId> {
        let body = serde_json::to_string(action).unwrap_or_default();
        self.write(|conn| {
            conn.execute(
            "INSERT INTO actions (run_id, incident_id, step, origin, verb, service, description, action, dry_run, intent_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                run.0,
                incident.map(|i| i.0),
                step.map(|s| s as i64),
                origin.as_str(),
                action.verb,
                action.service,
                action.to_string(),
                body,
                dry_run,
                at
            ],
        )?;
            Ok(ActionId(conn.last_insert_rowid()))
        })
    }

    /// Writes the outcome of an action. Only the first outcome counts.
    pub fn outcome(&self, id: ActionId, outcome: &Outcome, at: Millis) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                "UPDATE actions SET outcome = ?1, outcome_detail = ?2, outcome_at = ?3 WHERE id = ?4 AND outcome IS NULL",
                params![outcome.status.as_str(), outcome.detail, at, id.0],
            )
        })?;
        Ok(())
    }

    fn read_action(row: &rusqlite::Row<'_>) -> rusqlite::Result<ActionRecord> {
        let outcome: Option<String> = row.get(9)?;
        let detail: Option<String> = row.get(10)?;
        Ok(ActionRecord {
            id: ActionId(row.get(0)?),
            incident: row.get::<_, Option<i64>>(1)?.map(IncidentId),
            step: row.get::<_, Option<i64>>(2)?.map(|s| s as usize),
            origin: ActionOrigin::parse(&row.get::<_, String>(3)?),
            verb: row.get(4)?,
            service: row.get(5)?,
            description: row.get(6)?,
            dry_run: row.get(7)?,
            intent_at: row.get(8)?,
            outcome: outcome.map(|o| Outcome {
                status: OutcomeStatus::parse(&o).unwrap_or(OutcomeStatus::Failed),
                detail: detail.unwrap_or_default(),
            }),
            outcome_at: row.get(11)?,
        })
    }

    const ACTION_COLUMNS: &'static str = "id, incident_id, step, origin, verb, service, description, dry_run, intent_at, outcome, outcome_detail, outcome_at";

    /// One action by id.
    pub fn action(&self, id: ActionId) -> Result<Option<ActionRecord>> {
        let conn = self.conn();
        conn.query_row(
            &format!("SELECT {} FROM actions WHERE id = ?1", Self::ACTION_COLUMNS),
            params![id.0],
            Self::read_action,
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    /// Actions on `service` whose intent was written at or after `since`, oldest first.
    pub fn actions_since(&self, service: &str, since: Millis) -> Result<Vec<ActionRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {} FROM actions WHERE service = ?1 AND intent_at >= ?2 ORDER BY id",
                Self::ACTION_COLUMNS
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map(params![service, since], Self::read_action).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Actions of one incident, oldest first.
    pub fn actions_of(&self, incident: IncidentId) -> Result<Vec<ActionRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!("SELECT {} FROM actions WHERE incident_id = ?1 ORDER BY id", Self::ACTION_COLUMNS))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map(params![incident.0], Self::read_action).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Playbook actions that ran (succeeded or failed, not dry-run) at or after `since`, as
    /// `(service, playbook, incident, intent time)`: what the guards must remember across a
    /// controller restart.
    pub fn playbook_actions_since(&self, since: Millis) -> Result<Vec<(String, String, IncidentId, Millis)>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT a.service, i.playbook, a.incident_id, a.intent_at FROM actions a JOIN incidents i ON i.id = a.incident_id
                 WHERE a.origin = 'playbook' AND a.dry_run = 0 AND a.verb != 'page' AND a.outcome IN ('succeeded', 'failed', 'interrupted')
                   AND a.intent_at >= ?1 AND i.playbook IS NOT NULL ORDER BY a.id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![since], |r| Ok((r.get(0)?, r.get(1)?, IncidentId(r.get(2)?), r.get(3)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The first firing signal about `service` at or after `since`: when and what.
    pub fn first_detection(&self, service: &str, since: Millis) -> Result<Option<Detection>> {
        let conn = self.conn();
        conn.query_row(
            "SELECT at, kind, name, summary FROM signals WHERE service = ?1 AND state = 'firing' AND at >= ?2 ORDER BY at, id LIMIT 1",
            params![service, since],
            |r| Ok(Detection { at: r.get(0)?, kind: r.get(1)?, name: r.get(2)?, summary: r.get(3)? }),
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    /// The newest `limit` notes about the controller itself rather than an incident (the
    /// journal's own outages, say), newest first.
    pub fn controller_notes(&self, limit: usize) -> Result<Vec<TimelineEntry>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT at, kind, message FROM notes WHERE incident_id IS NULL ORDER BY at DESC, id DESC LIMIT ?1")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![limit as i64], |r| Ok(TimelineEntry { at: r.get(0)?, kind: r.get(1)?, text: r.get(2)? }))
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// An incident's timeline: signals, intents, outcomes and notes, oldest first.
    pub fn timeline(&self, incident: IncidentId) -> Result<Vec<TimelineEntry>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT at, kind, text, ord FROM (
                    SELECT at, 'signal' AS kind, role || ' ' || state || ': ' || summary AS text, id * 4 AS ord
                      FROM signals WHERE incident_id = ?1
                    UNION ALL
                    SELECT intent_at, 'intent', CASE WHEN dry_run THEN '[dry-run] ' ELSE '' END || description || ' (' || origin || COALESCE(', step ' || (step + 1), '') || ')', id * 4 + 1
                      FROM actions WHERE incident_id = ?1
                    UNION ALL
                    SELECT outcome_at, 'outcome', outcome || ': ' || COALESCE(outcome_detail, ''), id * 4 + 2
                      FROM actions WHERE incident_id = ?1 AND outcome IS NOT NULL
                    UNION ALL
                    SELECT at, kind, message, id * 4 + 3 FROM notes WHERE incident_id = ?1
                 ) ORDER BY at, ord",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![incident.0], |r| Ok(TimelineEntry { at: r.get(0)?, kind: r.get(1)?, text: r.get(2)? }))
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }
}

/// Inserts one signal edge.
pub(crate) fn insert_signal(
    conn: &Connection,
    run: RunId,
    incident: Option<IncidentId>,
    role: SignalRole,
    signal: &Signal,
) -> rusqlite::Result<()> {
    let labels = serde_json::to_string(&signal.labels).unwrap_or_else(|_| "{}".into());
    let state = match signal.state {
        SignalState::Firing => "firing",
        SignalState::Resolved => "resolved",
    };
    conn.execute(
        "INSERT INTO signals (run_id, incident_id, role, kind, name, service, instance, state, labels, summary, value, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            run.0,
            incident.map(|i| i.0),
            role.as_str(),
            signal.kind.as_str(),
            signal.name,
            signal.service,
            signal.instance,
            state,
            labels,
            signal.summary(),
            signal.value.filter(|v| v.is_finite()),
            signal.at
        ],
    )?;
    Ok(())
}
