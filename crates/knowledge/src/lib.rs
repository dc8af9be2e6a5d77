//! Knowledge: the journal.
//!
//! Every decision of the loop lands in one SQLite file (WAL mode): runs, incidents, the
//! signals that opened or joined them, every action with its **intent written before it
//! runs** and its outcome after, and timeline notes (verification passed, deadline missed,
//! escalated). A controller killed mid-action finds the intent row without an outcome on
//! its next start, marks it `interrupted`, and never runs it blindly again.

mod journal;
mod schema;

pub use journal::{
    ActionId, ActionOrigin, ActionRecord, DRY_RUN_MODE, Detection, IncidentRecord, Journal, JournalError, RunId,
    SignalRole, TimelineEntry,
};
