//! Opening a journal: for writing (owned by one controller, checked for damage first), for
//! reading only (alongside a running controller), or in memory.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::journal::{Journal, JournalError};
use crate::lock::{JournalLock, LockError, lock_path};
use crate::schema;
use crate::writes::WriteHealth;

type Result<T> = std::result::Result<T, JournalError>;

/// How many of SQLite's findings a damage report shows, and how long each may be: enough to
/// say what is wrong, never a wall of text.
const FINDINGS_SHOWN: usize = 5;
const FINDING_CHARS: usize = 200;

/// How long a write waits for another connection's write lock before it fails.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether SQLite says the file itself is broken (or not a database at all).
fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase))
}

/// The first findings, each cut short.
fn excerpt(findings: &[String]) -> String {
    let mut lines: Vec<String> = findings
        .iter()
        .take(FINDINGS_SHOWN)
        .map(|f| match f.char_indices().nth(FINDING_CHARS) {
            Some((cut, _)) => format!("{}…", &f[..cut]),
            None => f.clone(),
        })
        .collect();
    if findings.len() > FINDINGS_SHOWN {
        lines.push(format!("… and {} more", findings.len() - FINDINGS_SHOWN));
    }
    lines.join("\n")
}

/// `PRAGMA quick_check`: `Ok(None)` when the file is sound, else what SQLite found. Damage
/// that stops SQLite from reading at all is a finding too.
fn quick_check(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let run = || -> rusqlite::Result<Vec<String>> {
        // One more than shown, so the report can say that there is more.
        let mut stmt = conn.prepare(&format!("PRAGMA quick_check({})", FINDINGS_SHOWN + 1))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect()
    };
    match run() {
        Ok(rows) if rows.len() == 1 && rows[0] == "ok" => Ok(None),
        Ok(rows) => Ok(Some(excerpt(&rows))),
        Err(e) if is_damage(&e) => Ok(Some(excerpt(&[e.to_string()]))),
        Err(e) => Err(e),
    }
}

impl Journal {
    /// Opens (creating if needed) the journal at `path` for writing, in WAL mode, for one
    /// controller: takes the exclusive lock `<path>.lock` (refused, naming the holder's PID,
    /// while another controller has it), then checks the file with `PRAGMA quick_check` and
    /// refuses a damaged one. The lock is held until the journal is dropped or [closed].
    ///
    /// [closed]: Journal::close
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let lock_file = lock_path(path);
        let lock = JournalLock::acquire(&lock_file).map_err(|e| match e {
            LockError::Held(holder) => {
                JournalError::Locked { path: shown.clone(), lock: lock_file.display().to_string(), holder }
            }
            LockError::Io(source) => {
                JournalError::Lock { path: shown.clone(), lock: lock_file.display().to_string(), source }
            }
        })?;
        let sql = |source| JournalError::Sqlite { path: shown.clone(), source };
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        // Before anything writes: a damaged file fails every later write while the controller
        // looks healthy, so it is refused up front.
        if let Some(found) = quick_check(&conn).map_err(sql)? {
            return Err(JournalError::Damaged { path: shown, found });
        }
        Self::init(conn, shown, Some(lock))
    }

    /// Opens the journal at `path` to read it, alongside a controller that may be running:
    /// no lock, no check, nothing written.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        let shown = path.as_ref().display().to_string();
        let sql = |source: rusqlite::Error| match is_damage(&source) {
            true => JournalError::Damaged { path: shown.clone(), found: excerpt(&[source.to_string()]) },
            false => JournalError::Sqlite { path: shown.clone(), source },
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path.as_ref(), flags).map_err(sql)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(sql)?;
        if version > schema::VERSION {
            return Err(JournalError::SchemaTooNew { path: shown, found: version, known: schema::VERSION });
        }
        Ok(Self::assemble(conn, shown, None, 0))
    }

    /// A journal that lives in memory, for tests: nobody else can open it, so no lock.
    pub fn in_memory() -> Result<Self> {
        let conn =
            Connection::open_in_memory().map_err(|source| JournalError::Sqlite { path: ":memory:".into(), source })?;
        Self::init(conn, ":memory:".into(), None)
    }

    fn init(conn: Connection, path: String, lock: Option<JournalLock>) -> Result<Self> {
        let sql = |source: rusqlite::Error| match is_damage(&source) {
            true => JournalError::Damaged { path: path.clone(), found: excerpt(&[source.to_string()]) },
            false => JournalError::Sqlite { path: path.clone(), source },
        };
        // WAL + NORMAL: a committed row survives the controller being killed (not a power cut).
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(sql)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(sql)?;
        if version > schema::VERSION {
            return Err(JournalError::SchemaTooNew { path, found: version, known: schema::VERSION });
        }
        conn.execute_batch(schema::SCHEMA).map_err(sql)?;
        conn.pragma_update(None, "user_version", schema::VERSION).map_err(sql)?;
        let earlier: i64 = conn.query_row("SELECT COALESCE(MAX(id), 0) FROM runs", [], |r| r.get(0)).map_err(sql)?;
        Ok(Self::assemble(conn, path, lock, earlier))
    }

    fn assemble(conn: Connection, path: String, lock: Option<JournalLock>, earlier_runs: i64) -> Self {
        Self {
            conn: Mutex::new(conn),
            path,
            lock: Mutex::new(lock),
            closed: AtomicBool::new(false),
            writes: WriteHealth::default(),
            earlier_runs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_bounded() {
        let many: Vec<String> = (0..9).map(|i| format!("{i}{}", "é".repeat(1000))).collect();
        let shown = excerpt(&many);
        assert_eq!(shown.lines().count(), FINDINGS_SHOWN + 1);
        assert!(shown.ends_with("… and 4 more"), "{shown}");
        assert!(shown.chars().count() < (FINDING_CHARS + 2) * (FINDINGS_SHOWN + 1), "{}", shown.len());
    }

    /// A journal with a few pages of rows, closed cleanly (its WAL folded into the file).
    fn journal_with_rows(path: &Path) {
        let j = Journal::open(path).expect("journal");
        let run = j.begin_run("test", 0).expect("run");
        for i in 0..200 {
            j.note(None, "filler", &format!("row {i} {}", "x".repeat(100)), i).expect("note");
        }
        let _ = run;
    }

    #[test]
    fn garbage_in_the_middle_is_refused_with_what_sqlite_found_and_what_to_do() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.db");
        journal_with_rows(&path);
        let mut bytes = std::fs::read(&path).expect("read");
        let page = 4096;
        assert!(bytes.len() > 6 * page, "several pages: {}", bytes.len());
        bytes[3 * page..4 * page].fill(0xA5);
        std::fs::write(&path, &bytes).expect("corrupt");
        let err = Journal::open(&path).expect_err("damaged");
        assert!(matches!(err, JournalError::Damaged { .. }), "{err:?}");
        let shown = err.to_string();
        assert!(shown.contains("is damaged"), "{shown}");
        assert!(shown.contains("quick_check found"), "{shown}");
        assert!(shown.contains("Move it aside"), "{shown}");
        assert!(shown.len() < 2_000, "bounded: {}", shown.len());
        // Nothing was written: the damage is still there for `sqlite3 .recover`.
        assert_eq!(std::fs::read(&path).expect("read"), bytes);
        // Moved aside, a fresh journal starts.
        std::fs::rename(&path, dir.path().join("j.db.damaged")).expect("move");
        Journal::open(&path).expect("fresh journal");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_as_damaged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.db");
        std::fs::write(&path, vec![0x5A; 8192]).expect("write");
        let err = Journal::open(&path).expect_err("not a database");
        assert!(matches!(err, JournalError::Damaged { .. }), "{err:?}");
    }

    #[test]
    fn a_second_writer_is_refused_naming_the_first_and_readers_still_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.db");
        let owner = Journal::open(&path).expect("owner");
        owner.begin_run("run", 5).expect("run");
        let err = Journal::open(&path).expect_err("second writer");
        match &err {
            JournalError::Locked { holder, .. } => assert_eq!(*holder, Some(std::process::id())),
            other => panic!("expected Locked, got {other:?}"),
        }
        assert!(err.to_string().contains(&format!("pid {}", std::process::id())), "{err}");
        let reader = Journal::open_read_only(&path).expect("reader");
        assert_eq!(reader.incidents(10).expect("read").len(), 0);
        assert!(reader.begin_run("sneaky", 6).is_err(), "a reader writes nothing");
        // Closing (the controller's shutdown) hands the journal on.
        owner.close();
        assert!(matches!(owner.begin_run("late", 7), Err(JournalError::Closed { .. })));
        Journal::open(&path).expect("free after close");
    }
}
