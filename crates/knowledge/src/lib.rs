//! Knowledge: the journal.
//!
//! Every decision of the loop lands in one SQLite file (WAL mode): runs, incidents, the
//! signals that opened or joined them, every action with its **intent written before it
//! runs** and its outcome after, and timeline notes (verification passed, deadline missed,
//! escalated). A controller killed mid-action finds the intent row without an outcome on
//! its next start, marks it `interrupted`, and never runs it blindly again.
//!
//! A journal open for writing belongs to one controller (an exclusive lock on
//! `<journal>.lock`), is checked for damage when opened, reports when it stops being
//! writable ([`WriteEvent`]), and forgets what is older than its retention ([`Journal::prune`]).

mod error;
mod incidents;
mod journal;
mod lock;
mod open;
mod retention;
mod schema;
mod writes;

pub use journal::{
    ActionId, ActionOrigin, ActionRecord, DRY_RUN_MODE, Detection, IncidentRecord, Journal, JournalError, RunId,
    SignalRole, TimelineEntry,
};
pub use retention::Pruned;
pub use writes::{WriteEvent, WriteObserver};
