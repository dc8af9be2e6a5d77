//! Incidents in the journal: opened with their trigger in one transaction, read back as the
//! same [`Incident`] type the incident manager and the ladder use.

use model::{Incident, IncidentId, IncidentState, Labels, Millis, Signal, SignalKeys, SignalKind, SignalState};
use rusqlite::{OptionalExtension, params};

use crate::journal::{DRY_RUN_MODE, IncidentRecord, Journal, JournalError, RunId, SignalRole, insert_signal};

type Result<T> = std::result::Result<T, JournalError>;

/// An incident row before its trigger is attached.
struct Row {
    id: IncidentId,
    run: RunId,
    service: String,
    title: String,
    trigger_key: String,
    playbook: Option<String>,
    step: Option<usize>,
    opened_at: Millis,
    closed_at: Option<Millis>,
    state: String,
}

/// A signal row as stored.
struct StoredSignal {
    kind: String,
    name: String,
    service: Option<String>,
    instance: Option<String>,
    state: String,
    labels: String,
    value: Option<f64>,
    at: Millis,
}

impl StoredSignal {
    fn into_signal(self) -> std::result::Result<Signal, String> {
        let kind = SignalKind::parse(&self.kind).ok_or_else(|| format!("signal kind {:?}", self.kind))?;
        let labels: Labels =
            serde_json::from_str(&self.labels).map_err(|e| format!("signal labels {:?}: {e}", self.labels))?;
        let state = match self.state.as_str() {
            "firing" => SignalState::Firing,
            "resolved" => SignalState::Resolved,
            other => return Err(format!("signal state {other:?}")),
        };
        let (service, instance, value) = (self.service, self.instance, self.value);
        Ok(Signal { service, instance, state, value, ..Signal::firing(kind, self.name, labels, self.at) })
    }
}

const INCIDENT_COLUMNS: &str = "id, run_id, service, title, trigger_key, playbook, step, opened_at, closed_at, state";

impl Journal {
    /// Opens an incident on `service`, triggered by `trigger`: the incident and its trigger
    /// signal are written together (both or neither), and the journal assigns its id.
    pub fn open_incident(
        &self,
        run: RunId,
        service: &str,
        trigger: &Signal,
        playbook: Option<&str>,
        at: Millis,
    ) -> Result<Incident> {
        let title = trigger.summary();
        let id = self.write(|conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO incidents (run_id, service, title, trigger_key, playbook, opened_at, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open')",
                params![run.0, service, title, trigger.key(), playbook, at],
            )?;
            let id = IncidentId(tx.last_insert_rowid());
            insert_signal(&tx, run, Some(id), SignalRole::Trigger, trigger)?;
            tx.commit()?;
            Ok(id)
        })?;
        Ok(Incident {
            id,
            service: service.to_owned(),
            title,
            trigger: trigger.clone(),
            playbook: playbook.map(str::to_owned),
            opened_at: at,
            closed_at: None,
            state: IncidentState::Open,
            replica: None,
            related: SignalKeys::default(),
        })
    }

    /// The newest `limit` incidents, newest first, each with its timeline.
    pub fn incidents(&self, limit: usize) -> Result<Vec<IncidentRecord>> {
        self.incidents_where("ORDER BY id DESC LIMIT ?1", params![limit as i64])
    }

    /// Incidents still open (possibly from an earlier run), oldest first; those of dry runs
    /// are left out (nothing was done for them).
    pub fn open_incidents(&self) -> Result<Vec<IncidentRecord>> {
        self.incidents_where(
            "WHERE state = 'open' AND run_id NOT IN (SELECT id FROM runs WHERE mode = ?1) ORDER BY id",
            params![DRY_RUN_MODE],
        )
    }

    fn incidents_where(&self, clause: &str, args: impl rusqlite::Params) -> Result<Vec<IncidentRecord>> {
        let rows: Vec<Row> = {
            let conn = self.conn();
            let mut stmt =
                conn.prepare(&format!("SELECT {INCIDENT_COLUMNS} FROM incidents {clause}")).map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(args, |r| {
                    Ok(Row {
                        id: IncidentId(r.get(0)?),
                        run: RunId(r.get(1)?),
                        service: r.get(2)?,
                        title: r.get(3)?,
                        trigger_key: r.get(4)?,
                        playbook: r.get(5)?,
                        step: r.get::<_, Option<i64>>(6)?.map(|s| s as usize),
                        opened_at: r.get(7)?,
                        closed_at: r.get(8)?,
                        state: r.get(9)?,
                    })
                })
                .map_err(|e| self.err(e))?;
            rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))?
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(state) = IncidentState::parse(&row.state) else {
                return Err(self.corrupt(format!("incident state {:?}", row.state)));
            };
            let trigger = self.trigger_of(&row)?;
            let incident = Incident {
                id: row.id,
                service: row.service,
                title: row.title,
                trigger,
                playbook: row.playbook,
                opened_at: row.opened_at,
                closed_at: row.closed_at,
                state,
                replica: None,
                related: SignalKeys::default(),
            };
            let timeline = self.timeline(incident.id)?;
            out.push(IncidentRecord { incident, trigger_key: row.trigger_key, run: row.run, step: row.step, timeline });
        }
        Ok(out)
    }

    /// The trigger signal of an incident row, as journaled when it opened. A journal
    /// written before the trigger was stored with its incident may lack the row, and a
    /// damaged row cannot be read: then the signal is rebuilt from the stored key (its kind
    /// and name; the labels are lost) so that the rest of the journal still reads.
    fn trigger_of(&self, row: &Row) -> Result<Signal> {
        let found = {
            let conn = self.conn();
            conn.query_row(
                "SELECT kind, name, service, instance, state, labels, value, at FROM signals
                  WHERE incident_id = ?1 AND role = ?2 ORDER BY id LIMIT 1",
                params![row.id.0, SignalRole::Trigger.as_str()],
                |r| {
                    Ok(StoredSignal {
                        kind: r.get(0)?,
                        name: r.get(1)?,
                        service: r.get(2)?,
                        instance: r.get(3)?,
                        state: r.get(4)?,
                        labels: r.get(5)?,
                        value: r.get(6)?,
                        at: r.get(7)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))?
        };
        match found.map(StoredSignal::into_signal) {
            Some(Ok(signal)) => return Ok(signal),
            Some(Err(problem)) => {
                tracing::warn!(incident = %row.id, journal = %self.path, %problem, "unreadable trigger signal; using its stored key");
            }
            None => {}
        }
        let (kind, name) = row.trigger_key.split_once(':').unwrap_or(("alert", &row.trigger_key));
        let name = name.split('{').next().unwrap_or(name);
        let kind = SignalKind::parse(kind).unwrap_or(SignalKind::Alert);
        let mut signal = Signal::firing(kind, name, Labels::default(), row.opened_at);
        signal.service = Some(row.service.clone());
        Ok(signal)
    }

    fn corrupt(&self, what: String) -> JournalError {
        JournalError::Corrupt { path: self.path.clone(), what }
    }
}

#[cfg(test)]
mod tests {
    use model::{Labels, Signal, SignalKind};

    use crate::Journal;

    #[test]
    fn an_incident_reads_back_with_its_trigger_and_the_same_key() {
        let j = Journal::in_memory().expect("journal");
        let run = j.begin_run("test", 0).expect("run");
        let labels = Labels::from_pairs([("service", "checkout"), ("instance", "127.0.0.1:2001"), ("le", "0.5")]);
        let mut trigger = Signal::firing(SignalKind::Alert, "HighErrorRate", labels, 1_000);
        trigger.value = Some(0.25);
        let opened = j.open_incident(run, "checkout", &trigger, Some("errors"), 2_000).expect("open");
        let back = j.incidents(1).expect("list").remove(0).incident;
        assert_eq!(back.id, opened.id);
        assert_eq!(back.trigger.key(), trigger.key(), "resumption matches incidents by their trigger's key");
        assert_eq!(back.trigger.instance.as_deref(), Some("127.0.0.1:2001"));
        assert_eq!(back.trigger.value, Some(0.25));
        assert_eq!(back.trigger.at, 1_000);
        assert_eq!(back.playbook.as_deref(), Some("errors"));
        assert_eq!(back.title, opened.title);
        let timeline = j.timeline(opened.id).expect("timeline");
        assert!(timeline.iter().any(|e| e.text.starts_with("trigger firing")), "{timeline:?}");
    }

    #[test]
    fn an_incident_without_a_trigger_row_reads_back_from_its_key() {
        let j = Journal::in_memory().expect("journal");
        let run = j.begin_run("test", 0).expect("run");
        j.conn()
            .execute(
                "INSERT INTO incidents (run_id, service, title, trigger_key, opened_at, state)
                 VALUES (?1, 'a', 'down', 'probe_failed:probe_failed{service=\"a\"}', 5, 'open')",
                rusqlite::params![run.0],
            )
            .expect("insert");
        let record = j.open_incidents().expect("list").remove(0);
        assert_eq!(record.trigger_key, "probe_failed:probe_failed{service=\"a\"}", "resumption still matches it");
        let back = record.incident;
        assert_eq!(back.trigger.service.as_deref(), Some("a"));
        assert_eq!(back.trigger.kind, SignalKind::ProbeFailed);
        assert_eq!(back.trigger.name, "probe_failed");
        assert_eq!(back.trigger.at, 5);
    }

    #[test]
    fn a_damaged_trigger_row_does_not_hide_the_journal() {
        let j = Journal::in_memory().expect("journal");
        let run = j.begin_run("test", 0).expect("run");
        let trigger = Signal::firing(SignalKind::Alert, "Down", Labels::from_pairs([("service", "a")]), 1);
        let opened = j.open_incident(run, "a", &trigger, None, 2).expect("open");
        j.conn().execute("UPDATE signals SET labels = '{not json'", []).expect("damage");
        let records = j.incidents(5).expect("the listing still reads");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].incident.id, opened.id);
        assert_eq!(records[0].trigger_key, trigger.key());
        assert_eq!(records[0].incident.trigger.name, "Down");
    }
}
