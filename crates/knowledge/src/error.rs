//! What can go wrong with a journal, each case saying what the user can do about it.

/// Journal failures.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// SQLite refused.
    #[error("journal {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The file was written by a newer Autonomic.
    #[error("journal {path} has schema version {found}, this build knows {known}")]
    SchemaTooNew {
        /// The database file.
        path: String,
        /// Its version.
        found: i64,
        /// Ours.
        known: i64,
    },
    /// Another controller owns the journal.
    #[error(
        "journal {path} is in use by another controller ({}, lock file {lock}): stop it first, or give this one its own journal (--journal, or `journal:` in the configuration)",
        holder.map(|p| format!("pid {p}")).unwrap_or_else(|| "pid unknown".into())
    )]
    Locked {
        /// The database file.
        path: String,
        /// The lock file.
        lock: String,
        /// The PID the lock file names, if it names one.
        holder: Option<u32>,
    },
    /// The lock file could not be created or written.
    #[error("journal {path}: cannot take the lock file {lock}: {source}")]
    Lock {
        /// The database file.
        path: String,
        /// The lock file.
        lock: String,
        /// Why.
        source: std::io::Error,
    },
    /// `PRAGMA quick_check` found damage: every later write could fail.
    #[error(
        "journal {path} is damaged; SQLite's quick_check found:\n{found}\nMove it aside (with its -wal and -shm files, e.g. `mv {path} {path}.damaged`) and start again with a new journal; `sqlite3 {path}.damaged .recover` may save its rows."
    )]
    Damaged {
        /// The database file.
        path: String,
        /// What SQLite reported (its first lines, each cut short).
        found: String,
    },
    /// The controller that owned the journal has stopped; nothing more is written.
    #[error("journal {path} was closed by its controller; nothing more is written to it")]
    Closed {
        /// The database file.
        path: String,
    },
    /// A stored value could not be read back.
    #[error("journal {path}: corrupt row: {what}")]
    Corrupt {
        /// The database file.
        path: String,
        /// What was wrong.
        what: String,
    },
}
