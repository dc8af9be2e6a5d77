//! Streaming anomaly detectors: learned baselines instead of hand-set thresholds.
//!
//! Every detector implements [`Detector`]: one record at a time, O(1) work per record,
//! bounded state (≤ 64 KiB), deterministic, no look-ahead, and a score in `[0, 1]` whatever
//! the input (NaN, ±∞, huge jumps, constant series, irregular timestamps). A score near 1
//! is a rare, sharp surprise; detectors emit short spikes rather than sustained highs,
//! because a sustained alarm is one problem reported many times.
//!
//! The only prior knowledge a detector may take is [`Prior`]: the expected value range (when
//! known) and how many records to learn from before alarming.
//!
//! [`replay`] runs a detector over a CSV of history, one record at a time, as the live loop
//! would. The live loop itself (anomaly watches over PromQL results) is in `analyze::anomaly`.

mod cad;
mod context;
mod ensemble;
mod novelty;
mod periodic;
mod predictors;
pub mod replay;
mod shaping;
pub mod stats;
mod tail;

pub use ensemble::Ensemble;

use model::Millis;

/// A streaming detector over one series.
pub trait Detector: Send {
    /// Takes one record and returns its anomaly score in `[0, 1]`.
    fn observe(&mut self, t: Millis, v: f64) -> f64;
    /// Bytes of state this detector holds (for the bounded-memory guarantee).
    fn state_bytes(&self) -> usize;
}

/// What a detector may know before it sees the series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    /// Lowest value the series is expected to take, if known.
    pub min: Option<f64>,
    /// Highest value the series is expected to take, if known.
    pub max: Option<f64>,
    /// Records to learn from before scoring (scores are 0 until then).
    pub probation: usize,
    /// How rare a surprise must be to reach [`ALERT_THRESHOLD`].
    pub calibration: Calibration,
}

impl Default for Prior {
    fn default() -> Self {
        Self { min: None, max: None, probation: 750, calibration: Calibration::default() }
    }
}

/// How rare a surprise must be before it scores [`ALERT_THRESHOLD`]: the false-alarm rate
/// on a series with no anomaly at all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Calibration {
    /// About one false alarm per this many milliseconds on a clean series, whatever its
    /// pace: a series scraped every second needs a surprise 300 times rarer than one
    /// scraped every five minutes. The live loop's and `autonomic detect`'s setting.
    FalseAlarmEvery(Millis),
    /// As NAB's labels prefer: the surprise's probability weighed by `t^0.7`, `t` the records
    /// seen (up to 2^16). NAB's files hold about two labelled anomalies each, far more than
    /// a healthy production series, and on a clean series this alarms about once every
    /// 2,400 records once it has seen 65,536 (see BENCHMARKS.md). The benchmark's setting.
    RecordsSeen,
}

/// The default false-alarm budget: one a week per series on a series with no anomaly. At
/// NAB's pace (a record every five minutes) that is one per 2,016 records, near what NAB's
/// labels prefer; a series scraped every second needs a surprise 300 times rarer.
pub const DEFAULT_FALSE_ALARM_EVERY: Millis = 7 * 24 * 3_600_000;

impl Default for Calibration {
    fn default() -> Self {
        Self::FalseAlarmEvery(DEFAULT_FALSE_ALARM_EVERY)
    }
}

/// The detectors that can be built by name.
pub const DETECTORS: &[&str] = &["ensemble", "ewma", "mad", "seasonal", "cusum", "context", "novelty", "periodic"];

/// Reference detectors, for the benchmark only: `cad` is NAB's CAD OSE ported step for step
/// (it reproduces the published board's CAD OSE row), and `ensemble-cad` the default detector
/// with CAD as a third channel. Both keep CAD's unbounded context memory, so the live loop
/// and `autonomic detect` do not offer them.
pub const REFERENCE_DETECTORS: &[&str] = &["cad", "ensemble-cad"];

/// The score above which a detector's output is an anomaly in the live loop, fixed in
/// advance (not tuned on any labels): a surprise about as rare as chance allows for a series
/// watched this long (see the tail calibration).
pub const ALERT_THRESHOLD: f64 = 0.5;

/// The most state any detector may hold.
pub const MAX_STATE_BYTES: usize = 64 * 1024;

/// Builds the detector `name` for a series with this prior; `None` for an unknown name.
/// Its output is shaped into spikes (a surprise is reported once), as NAB scores it.
pub fn build(name: &str, prior: Prior) -> Option<Box<dyn Detector>> {
    Some(Box::new(build_ensemble(name, prior)?))
}

/// The detector `name` for the live loop: every point scored on its own, unshaped, because
/// a watch keeps its own firing state and must not miss a second anomaly that follows an
/// ignored one.
pub fn build_live(name: &str, prior: Prior) -> Option<Box<dyn Detector>> {
    Some(Box::new(build_ensemble(name, prior)?.unshaped()))
}

/// Why `name` cannot be used outside the benchmark: an unknown name, or a reference detector
/// (whose memory is unbounded); with the names that can.
pub fn unavailable(name: &str) -> String {
    let expected = DETECTORS.join(", ");
    if REFERENCE_DETECTORS.contains(&name) {
        format!("a benchmark reference with unbounded memory, only for `bench nab`; expected one of {expected}")
    } else {
        format!("unknown detector; expected one of {expected}")
    }
}

/// Builds the reference detector `name` (see [`REFERENCE_DETECTORS`]); `None` for another
/// name.
pub fn build_reference(name: &str, prior: Prior) -> Option<Box<dyn Detector>> {
    match name {
        "cad" => Some(Box::new(cad::CadDetector::new(prior))),
        "ensemble-cad" => Some(Box::new(Ensemble::with_cad(prior))),
        _ => None,
    }
}

fn build_ensemble(name: &str, prior: Prior) -> Option<Ensemble> {
    use predictors::Kind;
    Some(match name {
        "ensemble" => Ensemble::new(prior),
        "ewma" => ensemble::single(prior, Kind::Ewma),
        "mad" => ensemble::single(prior, Kind::Mad),
        "seasonal" => ensemble::single(prior, Kind::Seasonal),
        "cusum" => ensemble::single(prior, Kind::Cusum),
        "context" => ensemble::single(prior, Kind::Context),
        "novelty" => ensemble::single(prior, Kind::Novelty),
        "periodic" => ensemble::single(prior, Kind::Periodic),
        _ => return None,
    })
}

/// Clamps to `[0, 1]`, mapping NaN to 0.
pub(crate) fn unit(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}
