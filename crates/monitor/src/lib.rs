//! Monitor: telemetry in, samples and signals out.
//!
//! - [`exposition`]: our Prometheus / OpenMetrics text-format parser.
//! - [`store`]: the in-memory series store (bounded by age and series count, with room kept
//!   for Autonomic's own series).
//! - [`scrape`]: scraping targets into the store within per-target limits; `up`, staleness,
//!   `target_down` signals.
//! - [`probe`]: HTTP/TCP health probes with thresholds; `probe_failed` signals.
//! - [`remote_write`]: decoding Prometheus remote write 1.0 bodies (snappy + protobuf).
//! - [`sources`]: the registry of source types: scrape and probe as [`model::Source`]s.

pub mod exposition;
pub mod probe;
pub mod remote_write;
pub mod scrape;
pub mod sources;
pub mod store;

pub use probe::{ProbeCheck, ProbeSpec, Prober, probe_once};
pub use scrape::{ScrapeError, ScrapeLimits, ScrapeReport, ScrapeTarget, Scraper};
pub use sources::SourceSpec;
pub use store::{Appended, Origin, SeriesStore};
