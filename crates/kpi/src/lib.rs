//! Operator-labelled web-service KPIs (`timestamp,value,label` CSVs, one folder per set):
//! the corpus loader, the metrics of the reference scorer `score_kpi.py` re-implemented to
//! give the same numbers, and the three simple streaming baselines of `baselines.py`.
//!
//! NAB labels about two anomalies per file and rewards the first flag in each window;
//! operators label many short incidents per series and judge a detector by whether it flags
//! each one within minutes and how often it cries wolf. These metrics measure that.

pub mod baselines;
mod corpus;
mod error;
pub mod metrics;

pub use corpus::{Series, Set, load_set, parse_series, read_series, sets_in};
pub use error::KpiError;
