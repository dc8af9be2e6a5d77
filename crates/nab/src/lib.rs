//! The Numenta Anomaly Benchmark (NAB): its corpus and a re-implementation of its scorer.
//!
//! The scorer follows NAB's code (`numenta/NAB` at `ea702d7`) operation by operation, so that it reproduces
//! the official numbers bit for bit: per-row weights ([`sweep_weights`]), the threshold sweep
//! ([`threshold_sweep`]), scoring at a threshold ([`score_at_threshold`]), the exhaustive threshold optimiser
//! ([`optimize_threshold`]) and normalisation ([`normalize`]). The corpus folder (`data/`, `labels/`,
//! `config/`) is passed in by the caller; nothing is bundled.
//!
//! ```no_run
//! # fn main() -> Result<(), nab::NabError> {
//! let root = std::path::Path::new("/path/to/nab");
//! let corpus = nab::Corpus::load(root)?;
//! let scores: Vec<Vec<f64>> = corpus.files.iter().map(|f| vec![0.0; f.len()]).collect();
//! for profile in nab::Profile::load_all(root)? {
//!     let (threshold, raw) = nab::optimize_threshold(&corpus, &scores, &profile)?;
//!     println!("{}: {:.2} at {threshold}", profile.name, nab::normalize(raw, &profile, corpus.windows()));
//! }
//! # Ok(())
//! # }
//! ```

pub mod bench;
mod corpus;
mod error;
mod profile;
mod score;
mod sweep;
mod time;

pub use corpus::{Corpus, DataFile, probationary_length, read_anomaly_scores};
pub use error::NabError;
pub use profile::{PROFILE_NAMES, Profile, ShippedThreshold, load_thresholds};
pub use score::{FileScore, normalize, optimize_threshold, score_at_threshold, score_curve, validate_scores};
pub use sweep::{SweepRow, ThresholdEntry, best_entry, entry_at, scaled_sigmoid, sweep_weights, threshold_sweep};
