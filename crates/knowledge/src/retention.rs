//! Retention: what ended before a cutoff is deleted, a few hundred rows per short
//! transaction, so the loop's own writes never wait long behind it; never what is still
//! going on (open incidents, actions without an outcome, the runs of the controller that
//! owns the journal now). No `VACUUM`: freed pages are reused by later rows, and nothing
//! holds the database for the time a rewrite of the file would take.

use model::Millis;
use rusqlite::{ToSql, TransactionBehavior};
use serde::Serialize;

use crate::journal::{Journal, Result};

/// Rows chosen per transaction.
const BATCH: i64 = 500;

/// What one prune deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Closed incidents.
    pub incidents: u64,
    /// Signals, of those incidents and unattached.
    pub signals: u64,
    /// Finished actions, of those incidents and of none.
    pub actions: u64,
    /// Timeline notes, of those incidents and of runs.
    pub notes: u64,
    /// Runs of earlier controllers with nothing left that refers to them.
    pub runs: u64,
}

impl Pruned {
    /// Rows deleted in all.
    pub fn total(&self) -> u64 {
        self.incidents + self.signals + self.actions + self.notes + self.runs
    }

    fn add(&mut self, other: &Pruned) {
        self.incidents += other.incidents;
        self.signals += other.signals;
        self.actions += other.actions;
        self.notes += other.notes;
        self.runs += other.runs;
    }

    fn count(&mut self, table: Table, n: usize) {
        let slot = match table {
            Table::Incidents => &mut self.incidents,
            Table::Signals => &mut self.signals,
            Table::Actions => &mut self.actions,
            Table::Notes => &mut self.notes,
            Table::Runs => &mut self.runs,
        };
        *slot += n as u64;
    }
}

#[derive(Clone, Copy)]
enum Table {
    Incidents,
    Signals,
    Actions,
    Notes,
    Runs,
}

/// One kind of row to forget: which ids (`?1` the cutoff, `?2` the batch size, `?3` the last
/// run of earlier controllers), and the deletes that forget them (`{ids}`), children first.
struct Sweep {
    candidates: &'static str,
    deletes: &'static [(Table, &'static str)],
}

const SWEEPS: [Sweep; 5] = [
    // A closed incident goes with its whole history, unless an action of it has no outcome.
    Sweep {
        candidates: "SELECT id FROM incidents i WHERE i.state != 'open' AND i.closed_at < ?1
                       AND NOT EXISTS (SELECT 1 FROM actions a WHERE a.incident_id = i.id AND a.outcome IS NULL)
                     ORDER BY id LIMIT ?2",
        deletes: &[
            (Table::Notes, "DELETE FROM notes WHERE incident_id IN ({ids})"),
            (Table::Signals, "DELETE FROM signals WHERE incident_id IN ({ids})"),
            (Table::Actions, "DELETE FROM actions WHERE incident_id IN ({ids})"),
            (Table::Incidents, "DELETE FROM incidents WHERE id IN ({ids})"),
        ],
    },
    Sweep {
        candidates: "SELECT id FROM signals WHERE incident_id IS NULL AND at < ?1 ORDER BY id LIMIT ?2",
        deletes: &[(Table::Signals, "DELETE FROM signals WHERE id IN ({ids})")],
    },
    // The restart policy's and liveness probes' actions, once finished.
    Sweep {
        candidates: "SELECT id FROM actions WHERE incident_id IS NULL AND outcome IS NOT NULL
                       AND COALESCE(outcome_at, intent_at) < ?1 ORDER BY id LIMIT ?2",
        deletes: &[(Table::Actions, "DELETE FROM actions WHERE id IN ({ids})")],
    },
    Sweep {
        candidates: "SELECT id FROM notes WHERE incident_id IS NULL AND at < ?1 ORDER BY id LIMIT ?2",
        deletes: &[(Table::Notes, "DELETE FROM notes WHERE id IN ({ids})")],
    },
    // Last, once their rows are gone. Only earlier controllers' runs: they have finished.
    Sweep {
        candidates: "SELECT id FROM runs r WHERE r.started_at < ?1 AND r.id <= ?3
                       AND NOT EXISTS (SELECT 1 FROM incidents WHERE run_id = r.id)
                       AND NOT EXISTS (SELECT 1 FROM signals WHERE run_id = r.id)
                       AND NOT EXISTS (SELECT 1 FROM actions WHERE run_id = r.id)
                     ORDER BY id LIMIT ?2",
        deletes: &[(Table::Runs, "DELETE FROM runs WHERE id IN ({ids})")],
    },
];

impl Journal {
    /// Forgets what ended before `before`: closed incidents (resolved, escalated, merged) with
    /// their signals, actions and notes; unattached signals; finished actions of no incident;
    /// notes of no incident; and runs of earlier controllers that nothing refers to any more.
    /// Open incidents and actions without an outcome are kept, however old.
    pub fn prune(&self, before: Millis) -> Result<Pruned> {
        let mut pruned = Pruned::default();
        for sweep in &SWEEPS {
            loop {
                let args: [&dyn ToSql; 3] = [&before, &BATCH, &self.earlier_runs];
                // Looked at first, outside a write: an empty transaction would pass for a
                // successful write and hide an outage.
                let any = {
                    let conn = self.conn();
                    let mut stmt = conn.prepare_cached(sweep.candidates).map_err(|e| self.err(e))?;
                    let n = stmt.parameter_count();
                    stmt.exists(&args[..n]).map_err(|e| self.err(e))?
                };
                if !any {
                    break;
                }
                let (chosen, batch) = self.write(|conn| {
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    let ids: Vec<i64> = {
                        let mut stmt = tx.prepare_cached(sweep.candidates)?;
                        let n = stmt.parameter_count();
                        let rows = stmt.query_map(&args[..n], |r| r.get(0))?;
                        rows.collect::<rusqlite::Result<_>>()?
                    };
                    // Integers read from the database: safe to write into the statement.
                    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
                    let mut batch = Pruned::default();
                    for (table, sql) in sweep.deletes {
                        batch.count(*table, tx.execute(&sql.replace("{ids}", &list), [])?);
                    }
                    tx.commit()?;
                    Ok((ids.len(), batch))
                })?;
                pruned.add(&batch);
                if (chosen as i64) < BATCH {
                    break;
                }
            }
        }
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use model::{Action, IncidentState, Labels, Outcome, Params, Signal, SignalKind, Target};

    use crate::{ActionOrigin, Journal, SignalRole};

    const DAY: i64 = 86_400_000;

    fn signal(service: &str, at: i64) -> Signal {
        Signal::firing(SignalKind::Alert, "HighErrorRate", Labels::from_pairs([("service", service.to_owned())]), at)
    }

    fn restart(service: &str) -> Action {
        Action::new(service, "restart", Target::All, Params::new(), "errors", "restart {service} {target}")
    }

    fn count(j: &Journal, sql: &str) -> i64 {
        j.conn().query_row(sql, [], |r| r.get(0)).expect("count")
    }

    #[test]
    fn old_history_goes_and_what_is_still_going_on_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.db");
        let (old_closed, old_open, old_in_flight, recent_closed) = {
            let j = Journal::open(&path).expect("journal");
            let empty_run = j.begin_run("earlier", 0).expect("run");
            let _ = empty_run;
            let run = j.begin_run("earlier", DAY).expect("run");
            let incident = |service: &str, at: i64| {
                // The trigger signal is journaled with its incident.
                let id = j.open_incident(run, service, &signal(service, at), Some("p"), at).expect("incident").id;
                j.note(Some(id), "verified", "step 1 verified", at + 1).expect("note");
                id
            };
            let old_closed = incident("a", DAY);
            let a = j
                .intent(run, Some(old_closed), Some(0), ActionOrigin::Playbook, &restart("a"), false, DAY)
                .expect("intent");
            j.outcome(a, &Outcome::succeeded("done"), DAY + 1).expect("outcome");
            j.close_incident(old_closed, IncidentState::Resolved, DAY + 2).expect("close");
            let old_open = incident("b", DAY);
            let old_in_flight = incident("c", DAY);
            j.intent(run, Some(old_in_flight), Some(0), ActionOrigin::Playbook, &restart("c"), false, DAY)
                .expect("intent");
            j.close_incident(old_in_flight, IncidentState::Merged, DAY + 2).expect("close");
            let recent_closed = incident("d", 100 * DAY);
            j.close_incident(recent_closed, IncidentState::Escalated, 100 * DAY).expect("close");
            j.record_signal(run, None, SignalRole::Unattached, &signal("e", DAY)).expect("old unattached");
            j.record_signal(run, None, SignalRole::Unattached, &signal("e", 100 * DAY)).expect("recent unattached");
            let policy =
                j.intent(run, None, None, ActionOrigin::RestartPolicy, &restart("e"), false, DAY).expect("intent");
            j.outcome(policy, &Outcome::succeeded("started"), DAY + 5).expect("outcome");
            j.intent(run, None, None, ActionOrigin::RestartPolicy, &restart("f"), false, DAY).expect("in flight");
            j.note(None, "journal_recovered", "old run-level note", DAY).expect("note");
            (old_closed, old_open, old_in_flight, recent_closed)
        };
        // The next controller: runs 1 and 2 are earlier ones now.
        let j = Journal::open(&path).expect("reopen");
        let own = j.begin_run("run", 0).expect("own run, started long ago by its clock");
        let pruned = j.prune(90 * DAY).expect("prune");
        assert_eq!(
            pruned,
            super::Pruned { incidents: 1, signals: 2, actions: 2, notes: 2, runs: 1 },
            "the resolved incident with its signal, action and note; the old unattached signal; the finished policy restart; the run-level note; the empty run"
        );
        let ids: Vec<i64> = {
            let conn = j.conn();
            let mut stmt = conn.prepare("SELECT id FROM incidents ORDER BY id").expect("prepare");
            stmt.query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("rows")
        };
        assert_eq!(ids, vec![old_open.0, old_in_flight.0, recent_closed.0]);
        assert!(!ids.contains(&old_closed.0));
        assert_eq!(j.timeline(old_open).expect("timeline").len(), 2, "a kept incident keeps its history");
        assert_eq!(count(&j, "SELECT COUNT(*) FROM actions WHERE outcome IS NULL"), 2, "in-flight actions stay");
        assert_eq!(count(&j, "SELECT COUNT(*) FROM signals WHERE incident_id IS NULL"), 1);
        assert_eq!(count(&j, "SELECT COUNT(*) FROM runs"), 2, "the run with rows left, and our own");
        assert_eq!(count(&j, &format!("SELECT COUNT(*) FROM runs WHERE id = {}", own.0)), 1);
        assert_eq!(count(&j, "SELECT COUNT(*) FROM pragma_foreign_key_check"), 0);
        assert_eq!(j.prune(90 * DAY).expect("again"), super::Pruned::default(), "nothing left to prune");
    }

    #[test]
    fn many_rows_go_in_batches() {
        let j = Journal::in_memory().expect("journal");
        let run = j.begin_run("run", 0).expect("run");
        for i in 0..1_234 {
            j.record_signal(run, None, SignalRole::Unattached, &signal("a", i)).expect("signal");
        }
        j.record_signal(run, None, SignalRole::Unattached, &signal("a", 10 * DAY)).expect("recent");
        assert_eq!(j.prune(DAY).expect("prune").signals, 1_234);
        assert_eq!(count(&j, "SELECT COUNT(*) FROM signals"), 1);
        assert_eq!(count(&j, "SELECT COUNT(*) FROM runs"), 1, "our own run stays");
    }

    #[test]
    fn an_empty_prune_does_not_pass_for_a_successful_write() {
        let j = Journal::in_memory().expect("journal");
        j.begin_run("run", 0).expect("run");
        j.refuse_writes_for_tests(true).expect("refuse");
        assert!(j.note(None, "x", "y", 0).is_err());
        assert!(!j.is_writable());
        assert_eq!(j.prune(DAY).expect("nothing to prune"), super::Pruned::default());
        assert!(!j.is_writable(), "still failing: nothing was written");
    }
}
