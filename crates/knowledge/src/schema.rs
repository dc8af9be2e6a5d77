//! The journal's tables. Versioned with `PRAGMA user_version` so later releases can migrate.

pub(crate) const VERSION: i64 = 1;

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY,
    started_at  INTEGER NOT NULL,
    mode        TEXT NOT NULL,
    pid         INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS incidents (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    service     TEXT NOT NULL,
    title       TEXT NOT NULL,
    trigger_key TEXT NOT NULL,
    playbook    TEXT,
    step        INTEGER,
    opened_at   INTEGER NOT NULL,
    closed_at   INTEGER,
    state       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_state ON incidents(state);
CREATE TABLE IF NOT EXISTS signals (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    incident_id INTEGER REFERENCES incidents(id),
    role        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    service     TEXT,
    instance    TEXT,
    state       TEXT NOT NULL,
    labels      TEXT NOT NULL,
    summary     TEXT NOT NULL,
    value       REAL,
    at          INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS signals_service_at ON signals(service, at);
CREATE TABLE IF NOT EXISTS actions (
    id             INTEGER PRIMARY KEY,
    run_id         INTEGER NOT NULL REFERENCES runs(id),
    incident_id    INTEGER REFERENCES incidents(id),
    step           INTEGER,
    origin         TEXT NOT NULL,
    verb           TEXT NOT NULL,
    service        TEXT NOT NULL,
    description    TEXT NOT NULL,
    action         TEXT NOT NULL,
    dry_run        INTEGER NOT NULL,
    intent_at      INTEGER NOT NULL,
    outcome        TEXT,
    outcome_detail TEXT,
    outcome_at     INTEGER
);
CREATE INDEX IF NOT EXISTS actions_incident ON actions(incident_id);
CREATE TABLE IF NOT EXISTS notes (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER REFERENCES incidents(id),
    at          INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    message     TEXT NOT NULL
);
-- Pruning deletes by incident and by run, and SQLite checks every foreign key on delete:
-- without these, each deleted row would scan the child tables. Indexes only, so journals
-- written by earlier builds keep the same schema version.
CREATE INDEX IF NOT EXISTS signals_incident ON signals(incident_id);
CREATE INDEX IF NOT EXISTS notes_incident ON notes(incident_id);
CREATE INDEX IF NOT EXISTS signals_run ON signals(run_id);
CREATE INDEX IF NOT EXISTS actions_run ON actions(run_id);
CREATE INDEX IF NOT EXISTS incidents_run ON incidents(run_id);
"#;
