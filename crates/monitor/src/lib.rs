//! Monitor: telemetry in, samples and signals out.
//!
//! - [`exposition`]: our Prometheus / OpenMetrics text-format parser.
//! - [`store`]: the in-memory series store (bounded by age and series count, with room kept
//!   for Autonomic's own series).
//! - [`scrape`]: scraping targets into the store within per-target limits; `up`, staleness,
//!   `target_down` signals.
//! - [`probe`]: HTTP/TCP health probes with thresholds; `probe_failed` signals.
//! - [`remote_write`]: Prometheus remote write 1.0 (snappy + protobuf), decoded and served
//!   as the `remote_write` source (`POST /api/v1/write`).
//! - [`alertmanager`]: Alertmanager's webhook (version 4) as the `alertmanager` source
//!   (`POST /api/v1/alerts`): alerts become signals.
//! - [`sources`]: the registry of source types (scrape, probe, remote_write, alertmanager).

pub mod alertmanager;
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
