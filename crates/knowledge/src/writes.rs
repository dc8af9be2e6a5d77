//! Whether the journal can be written. Every write reports here; an observer hears of each
//! change (the first failure of an outage, the first success after one), so that a journal
//! that cannot be written is loud instead of a log line per lost row.

use std::sync::{Arc, Mutex, MutexGuard};

/// A change in the journal's writability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteEvent {
    /// A write failed while the journal was writable: rows are lost from now on.
    Unwritable {
        /// SQLite's reason, with the journal's path.
        error: String,
    },
    /// A write succeeded after an outage.
    Writable {
        /// How many writes failed during the outage.
        lost: u64,
    },
}

/// Hears of [`WriteEvent`]s. Called while the journal's write state is locked, so events
/// arrive in order: it must be quick and must not use the journal (send the event on).
pub type WriteObserver = Arc<dyn Fn(&WriteEvent) + Send + Sync>;

#[derive(Default)]
struct State {
    failing: bool,
    lost: u64,
}

/// The write state of one journal.
#[derive(Default)]
pub(crate) struct WriteHealth {
    state: Mutex<State>,
    observer: Mutex<Option<WriteObserver>>,
}

impl std::fmt::Debug for WriteHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteHealth").field("failing", &self.lock().failing).finish_non_exhaustive()
    }
}

/// Whether a failed write says the journal cannot be written. A constraint violation says
/// that one row was wrong (an id that does not exist), not that the next one will fail.
fn is_outage(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() != Some(rusqlite::ErrorCode::ConstraintViolation)
}

impl WriteHealth {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_observer(&self, observer: WriteObserver) {
        *self.observer.lock().unwrap_or_else(|p| p.into_inner()) = Some(observer);
    }

    /// Whether the last write that could tell succeeded.
    pub(crate) fn writable(&self) -> bool {
        !self.lock().failing
    }

    /// Records how a write went; `shown` renders the error for the observer.
    pub(crate) fn record(&self, result: Result<(), &rusqlite::Error>, shown: impl FnOnce() -> String) {
        let mut state = self.lock();
        let event = match result {
            Err(e) if is_outage(e) => {
                state.lost += 1;
                (!std::mem::replace(&mut state.failing, true)).then(|| WriteEvent::Unwritable { error: shown() })
            }
            Err(_) => None,
            Ok(()) if state.failing => {
                state.failing = false;
                Some(WriteEvent::Writable { lost: std::mem::take(&mut state.lost) })
            }
            Ok(()) => None,
        };
        let observer = self.observer.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let (Some(event), Some(observer)) = (event, observer) {
            observer(&event);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::WriteEvent;
    use crate::Journal;

    fn observed(j: &Journal) -> Arc<Mutex<Vec<WriteEvent>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        j.set_write_observer(Arc::new(move |e| sink.lock().expect("lock").push(e.clone())));
        seen
    }

    #[test]
    fn a_full_database_is_one_outage_and_the_next_write_that_fits_ends_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = Journal::open(dir.path().join("j.db")).expect("journal");
        let seen = observed(&j);
        // A real "database or disk is full": no page may be added beyond those there are.
        let pages: i64 = j.conn().query_row("PRAGMA page_count", [], |r| r.get(0)).expect("pages");
        j.conn().pragma_update(None, "max_page_count", pages).expect("cap");
        let mut failed = 0;
        for i in 0..10_000 {
            if j.note(None, "filler", &"x".repeat(500), i).is_err() {
                failed += 1;
                if failed == 3 {
                    break;
                }
            }
        }
        assert_eq!(failed, 3, "the database filled up");
        assert!(!j.is_writable());
        let events = seen.lock().expect("lock").clone();
        assert_eq!(events.len(), 1, "one event per outage, not per lost row: {events:?}");
        match &events[0] {
            WriteEvent::Unwritable { error } => {
                assert!(error.contains("full") && error.contains("j.db"), "{error}")
            }
            other => panic!("expected Unwritable, got {other:?}"),
        }
        j.conn().pragma_update(None, "max_page_count", pages + 1_000).expect("room again");
        j.note(None, "after", "room again", 0).expect("write");
        assert!(j.is_writable());
        assert_eq!(seen.lock().expect("lock").last(), Some(&WriteEvent::Writable { lost: 3 }));
    }

    #[test]
    fn a_wrong_row_is_not_an_outage() {
        let j = Journal::in_memory().expect("journal");
        let seen = observed(&j);
        // No incident 42: a foreign key refuses the row, the journal itself is fine.
        assert!(j.note(Some(model::IncidentId(42)), "x", "y", 0).is_err());
        assert!(j.is_writable());
        assert!(seen.lock().expect("lock").is_empty());
    }
}
