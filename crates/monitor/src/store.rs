//! The in-memory series store: recent samples of every series, bounded by age and count.
//!
//! The count bound keeps room for Autonomic's own series: what targets expose may fill
//! `max_series`, Autonomic's computed series (recording rules, anomaly scores) also get a
//! reserve on top of it, and the health series (`up`, `scrape_*`, `probe_*`, the store's own
//! counters) are always admitted, so a target that floods the store cannot hide that it
//! does, nor that any other target is down. Every refusal is counted (see
//! [`SeriesStore::record_own_series`]) and logged, at most once per
//! [`REFUSAL_LOG_INTERVAL`] for each origin.

use std::collections::{HashMap, VecDeque};
use std::sync::RwLock;
use std::time::Duration;

pub use model::{Appended, Origin};
use model::{
    Labels, Millis, STALE_NAN, Sample, SampleSink, SeriesData, SeriesReader, SeriesSelector, SeriesWriter, is_stale,
};
use tokio::time::Instant;

/// The least room kept for [`Origin::Internal`] series above `max_series`.
pub const MIN_RESERVE: usize = 1_000;

/// Refusals of one origin are logged at most this often (each log line says how many).
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The room kept for [`Origin::Internal`] series above `max_series`: a tenth of it, at least
/// [`MIN_RESERVE`].
pub fn reserve_for(max_series: usize) -> usize {
    (max_series / 10).max(MIN_RESERVE)
}

/// Index into the per-origin refusal counters; `Health` is never refused.
fn refusable(origin: Origin) -> Option<usize> {
    match origin {
        Origin::Target => Some(0),
        Origin::Internal => Some(1),
        Origin::Health => None,
    }
}

const REFUSABLE: [Origin; 2] = [Origin::Target, Origin::Internal];

/// Recent samples of many series. Reads and writes may come from any task.
#[derive(Debug)]
pub struct SeriesStore {
    inner: RwLock<Inner>,
    retention_ms: Millis,
    max_series: usize,
    reserve: usize,
}

#[derive(Debug, Default)]
struct Inner {
    /// Series grouped by metric name, so selectors with a name touch one bucket.
    by_name: HashMap<String, HashMap<Labels, VecDeque<Sample>>>,
    series: usize,
    /// Appends refused because they would have created a series beyond the limit, by
    /// [`Origin::refusable`] index.
    refused: [u64; 2],
    /// Refusals not yet reported in a log line, and when the last line was written.
    unreported: [u64; 2],
    last_report: [Option<Instant>; 2],
    #[cfg(test)]
    reports: [u64; 2],
}

impl SeriesStore {
    /// A store keeping `retention` of history for `max_series` series from targets, plus
    /// [`reserve_for`]`(max_series)` for Autonomic's own (see [`Origin`]).
    pub fn new(retention: Duration, max_series: usize) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            retention_ms: retention.as_millis().try_into().unwrap_or(Millis::MAX),
            max_series,
            reserve: reserve_for(max_series),
        }
    }

    /// How many series the store may hold before it refuses a new one from `origin`
    /// (`usize::MAX` for [`Origin::Health`]).
    pub fn series_limit(&self, origin: Origin) -> usize {
        match origin {
            Origin::Target => self.max_series,
            Origin::Internal => self.max_series.saturating_add(self.reserve),
            Origin::Health => usize::MAX,
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read_lock(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one sample from a target ([`Origin::Target`]).
    pub fn append(&self, labels: &Labels, sample: Sample) -> Appended {
        self.append_from(Origin::Target, labels, sample)
    }

    /// Appends many samples from a target ([`Origin::Target`]) under one lock.
    pub fn append_all<'a>(&self, samples: impl IntoIterator<Item = (&'a Labels, Sample)>) -> Vec<Appended> {
        self.append_all_from(Origin::Target, samples)
    }

    /// Appends one sample written by `origin`.
    pub fn append_from(&self, origin: Origin, labels: &Labels, sample: Sample) -> Appended {
        let mut inner = self.write();
        self.append_locked(&mut inner, origin, labels, sample)
    }

    /// Appends many samples written by `origin` under one lock.
    pub fn append_all_from<'a>(
        &self,
        origin: Origin,
        samples: impl IntoIterator<Item = (&'a Labels, Sample)>,
    ) -> Vec<Appended> {
        let mut inner = self.write();
        samples.into_iter().map(|(l, s)| self.append_locked(&mut inner, origin, l, s)).collect()
    }

    fn append_locked(&self, inner: &mut Inner, origin: Origin, labels: &Labels, sample: Sample) -> Appended {
        let name = labels.metric_name().unwrap_or_default();
        let is_new = !inner.by_name.get(name).is_some_and(|b| b.contains_key(labels));
        if is_new {
            if is_stale(sample.v) {
                // A staleness marker for a series we do not hold carries no information.
                return Appended::Ok;
            }
            if inner.series >= self.series_limit(origin) {
                self.refuse(inner, origin, labels);
                return Appended::TooManySeries;
            }
            inner.series += 1;
        }
        let samples = inner.by_name.entry(name.to_owned()).or_default().entry(labels.clone()).or_default();
        if samples.back().is_some_and(|last| last.t >= sample.t) {
            // A sender retrying a batch resends what was already stored: no harm done.
            let at = samples.partition_point(|s| s.t < sample.t);
            return match samples.get(at) {
                Some(held) if held.t == sample.t && held.v.to_bits() == sample.v.to_bits() => Appended::Duplicate,
                Some(held) if held.t == sample.t => Appended::DuplicateTimestamp,
                _ => Appended::OutOfOrder,
            };
        }
        samples.push_back(sample);
        Appended::Ok
    }

    /// Counts a refused new series and logs it, at most once per [`REFUSAL_LOG_INTERVAL`]
    /// for each origin, so a flood of refusals costs one line, not one per sample.
    fn refuse(&self, inner: &mut Inner, origin: Origin, labels: &Labels) {
        let Some(i) = refusable(origin) else { return };
        inner.refused[i] += 1;
        inner.unreported[i] += 1;
        let now = Instant::now();
        if inner.last_report[i].is_some_and(|last| now.duration_since(last) < REFUSAL_LOG_INTERVAL) {
            return;
        }
        inner.last_report[i] = Some(now);
        #[cfg(test)]
        {
            inner.reports[i] += 1;
        }
        let example = labels.to_string();
        let example: String = example.chars().take(200).collect();
        tracing::warn!(
            origin = origin.as_str(),
            refused = inner.unreported[i],
            refused_total = inner.refused[i],
            limit = self.series_limit(origin),
            %example,
            "series store full: new series refused (see autonomic_store_refused_samples_total; \
             raise max_series or lower the targets' sample_limit)"
        );
        inner.unreported[i] = 0;
    }

    /// Writes a staleness marker at `t` for `labels`, ending the series for queries.
    pub fn mark_stale(&self, labels: &Labels, t: Millis) {
        // Never creates a series, so the origin does not matter.
        self.append_from(Origin::Health, labels, Sample { t, v: STALE_NAN });
    }

    /// Writes the store's own series at `now` ([`Origin::Health`], no other labels):
    ///
    /// - `autonomic_store_series`: series held;
    /// - `autonomic_store_series_limit{origin="target"|"internal"}`: the count at which new
    ///   series of that origin are refused (`max_series`, and `max_series` plus the reserve);
    /// - `autonomic_store_refused_samples_total{origin="target"|"internal"}`: samples refused
    ///   since start because they would have created a series beyond that limit (a series
    ///   refused at every scrape counts at every scrape).
    pub fn record_own_series(&self, now: Millis) {
        let mut inner = self.write();
        let mut samples =
            vec![(Labels::from_pairs([(model::METRIC_NAME, "autonomic_store_series")]), inner.series as f64)];
        for origin in REFUSABLE {
            let labels = |name: &str| Labels::from_pairs([(model::METRIC_NAME, name), ("origin", origin.as_str())]);
            samples.push((labels("autonomic_store_series_limit"), self.series_limit(origin) as f64));
            let refused = refusable(origin).map(|i| inner.refused[i]).unwrap_or_default();
            samples.push((labels("autonomic_store_refused_samples_total"), refused as f64));
        }
        for (labels, v) in &samples {
            self.append_locked(&mut inner, Origin::Health, labels, Sample { t: now, v: *v });
        }
    }

    /// Drops samples older than the retention window before `now`, and empty series.
    pub fn compact(&self, now: Millis) {
        let cutoff = now - self.retention_ms;
        let mut inner = self.write();
        let mut removed = 0;
        for bucket in inner.by_name.values_mut() {
            bucket.retain(|_, samples| {
                while samples.front().is_some_and(|s| s.t < cutoff) {
                    samples.pop_front();
                }
                let keep = !samples.is_empty();
                if !keep {
                    removed += 1;
                }
                keep
            });
        }
        inner.by_name.retain(|_, b| !b.is_empty());
        inner.series -= removed;
    }

    /// Number of series held.
    pub fn series_count(&self) -> usize {
        self.read_lock().series
    }

    /// Appends refused since start because they would have created a series beyond the
    /// limit, from every origin.
    pub fn rejected_series(&self) -> u64 {
        self.read_lock().refused.iter().sum()
    }

    /// Appends from `origin` refused since start because they would have created a series
    /// beyond its limit (always 0 for [`Origin::Health`]).
    pub fn refused(&self, origin: Origin) -> u64 {
        refusable(origin).map(|i| self.read_lock().refused[i]).unwrap_or_default()
    }
}

/// Rules and anomaly watches write through this: their series are [`Origin::Internal`].
impl SeriesWriter for SeriesStore {
    fn write(&self, labels: &Labels, sample: Sample) {
        self.append_from(Origin::Internal, labels, sample);
    }
}

impl SampleSink for SeriesStore {
    fn append_batch(&self, origin: Origin, samples: &[(Labels, Sample)]) -> Vec<Appended> {
        self.append_all_from(origin, samples.iter().map(|(l, s)| (l, *s)))
    }

    fn mark_stale(&self, labels: &Labels, t: Millis) {
        SeriesStore::mark_stale(self, labels, t);
    }
}

impl SeriesReader for SeriesStore {
    fn read(&self, selector: &dyn SeriesSelector, start: Millis, end: Millis) -> Vec<SeriesData> {
        let inner = self.read_lock();
        let mut out = Vec::new();
        let mut visit = |bucket: &HashMap<Labels, VecDeque<Sample>>| {
            for (labels, samples) in bucket {
                if !selector.matches(labels) {
                    continue;
                }
                // Samples are time-ordered: binary-search the window.
                let from = samples.partition_point(|s| s.t <= start);
                let to = samples.partition_point(|s| s.t <= end);
                if from < to {
                    out.push(SeriesData {
                        labels: labels.clone(),
                        samples: samples.range(from..to).copied().collect(),
                    });
                }
            }
        };
        match selector.metric_name() {
            Some(name) => {
                if let Some(bucket) = inner.by_name.get(name) {
                    visit(bucket);
                }
            }
            None => inner.by_name.values().for_each(&mut visit),
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    fn series(&self, selector: &dyn SeriesSelector, start: Millis, end: Millis) -> Vec<Labels> {
        let inner = self.read_lock();
        let mut out = Vec::new();
        let mut visit = |bucket: &HashMap<Labels, VecDeque<Sample>>| {
            for (labels, samples) in bucket {
                let from = samples.partition_point(|s| s.t <= start);
                if samples.get(from).is_some_and(|s| s.t <= end) && selector.matches(labels) {
                    out.push(labels.clone());
                }
            }
        };
        match selector.metric_name() {
            Some(name) => {
                if let Some(bucket) = inner.by_name.get(name) {
                    visit(bucket);
                }
            }
            None => inner.by_name.values().for_each(&mut visit),
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use model::ByName;

    struct All;
    impl SeriesSelector for All {
        fn metric_name(&self) -> Option<&str> {
            None
        }
        fn matches(&self, _: &Labels) -> bool {
            true
        }
    }

    fn l(name: &str, inst: &str) -> Labels {
        Labels::from_pairs([("__name__", name), ("instance", inst)])
    }

    #[test]
    fn reads_window_half_open_on_the_left() {
        let s = SeriesStore::new(Duration::from_secs(3600), 100);
        for t in [1_000, 2_000, 3_000, 4_000] {
            s.append(&l("up", "a"), Sample { t, v: t as f64 });
        }
        let got = s.read(&ByName("up"), 2_000, 4_000);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples.iter().map(|x| x.t).collect::<Vec<_>>(), vec![3_000, 4_000]);
        assert!(s.read(&ByName("down"), 0, 10_000).is_empty());
        assert_eq!(s.read(&All, 0, 10_000).len(), 1);
    }

    #[test]
    fn out_of_order_and_duplicate_timestamps_are_dropped() {
        let s = SeriesStore::new(Duration::from_secs(3600), 100);
        assert_eq!(s.append(&l("up", "a"), Sample { t: 2_000, v: 1.0 }), Appended::Ok);
        assert_eq!(s.append(&l("up", "a"), Sample { t: 2_000, v: 1.0 }), Appended::Duplicate);
        assert_eq!(s.append(&l("up", "a"), Sample { t: 2_000, v: 2.0 }), Appended::DuplicateTimestamp);
        assert_eq!(s.append(&l("up", "a"), Sample { t: 1_000, v: 3.0 }), Appended::OutOfOrder);
        assert_eq!(s.append(&l("up", "a"), Sample { t: 3_000, v: 3.0 }), Appended::Ok);
        assert_eq!(s.append(&l("up", "a"), Sample { t: 2_000, v: 1.0 }), Appended::Duplicate, "not only the last");
        assert_eq!(s.append(&l("up", "a"), Sample { t: 2_000, v: 5.0 }), Appended::DuplicateTimestamp);
        let held = &s.read(&All, 0, 10_000)[0].samples;
        assert_eq!(held, &vec![Sample { t: 2_000, v: 1.0 }, Sample { t: 3_000, v: 3.0 }]);
    }

    #[test]
    fn series_limit_refuses_new_series_but_keeps_old_ones_growing() {
        let s = SeriesStore::new(Duration::from_secs(3600), 2);
        s.append(&l("m", "a"), Sample { t: 1, v: 1.0 });
        s.append(&l("m", "b"), Sample { t: 1, v: 1.0 });
        assert_eq!(s.append(&l("m", "c"), Sample { t: 1, v: 1.0 }), Appended::TooManySeries);
        assert_eq!(s.append(&l("m", "a"), Sample { t: 2, v: 1.0 }), Appended::Ok);
        assert_eq!(s.series_count(), 2);
        assert_eq!(s.rejected_series(), 1);
    }

    #[test]
    fn compaction_enforces_retention_and_forgets_empty_series() {
        let s = SeriesStore::new(Duration::from_secs(10), 100);
        s.append(&l("m", "old"), Sample { t: 1_000, v: 1.0 });
        s.append(&l("m", "new"), Sample { t: 1_000, v: 1.0 });
        s.append(&l("m", "new"), Sample { t: 15_000, v: 1.0 });
        s.compact(20_000);
        let got = s.read(&All, 0, 100_000);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples.len(), 1);
        assert_eq!(s.series_count(), 1);
    }

    #[test]
    fn stale_marker_for_unknown_series_creates_nothing() {
        let s = SeriesStore::new(Duration::from_secs(10), 100);
        s.mark_stale(&l("m", "x"), 5);
        assert_eq!(s.series_count(), 0);
        s.append(&l("m", "x"), Sample { t: 1, v: 1.0 });
        s.mark_stale(&l("m", "x"), 5);
        assert!(is_stale(s.read(&All, 0, 10)[0].samples[1].v));
    }

    #[test]
    fn a_store_full_of_target_series_keeps_room_for_autonomics_own() {
        let s = SeriesStore::new(Duration::from_secs(3600), 2);
        let reserve = reserve_for(2);
        assert_eq!(reserve, MIN_RESERVE);
        for inst in ["a", "b", "c"] {
            s.append(&l("flood", inst), Sample { t: 1, v: 1.0 });
        }
        assert_eq!(s.refused(Origin::Target), 1);
        // Rule results and anomaly scores (through `SeriesWriter`) fill the reserve…
        for i in 0..reserve {
            SeriesWriter::write(&s, &l("rule_result", &i.to_string()), Sample { t: 1, v: 1.0 });
        }
        assert_eq!(s.series_count(), 2 + reserve);
        assert_eq!(s.refused(Origin::Internal), 0);
        // …and no further.
        assert_eq!(
            s.append_from(Origin::Internal, &l("rule_result", "x"), Sample { t: 1, v: 1.0 }),
            Appended::TooManySeries
        );
        assert_eq!(s.refused(Origin::Internal), 1);
        // Health series always get in: `up` of every target stays readable.
        assert_eq!(s.append_from(Origin::Health, &l("up", "a"), Sample { t: 1, v: 0.0 }), Appended::Ok);
        assert_eq!(s.refused(Origin::Health), 0);
        assert_eq!(s.read(&ByName("up"), 0, 10).len(), 1);
        assert_eq!(s.rejected_series(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_are_logged_at_most_once_per_interval_and_origin() {
        let s = SeriesStore::new(Duration::from_secs(3600), 1);
        s.append(&l("m", "kept"), Sample { t: 1, v: 1.0 });
        let reports = |s: &SeriesStore| s.read_lock().reports;
        for i in 0..1_000 {
            s.append(&l("m", &i.to_string()), Sample { t: 1, v: 1.0 });
        }
        assert_eq!(reports(&s), [1, 0], "one line for a thousand refusals");
        assert_eq!(s.read_lock().unreported, [999, 0], "the next line says how many followed");
        tokio::time::advance(REFUSAL_LOG_INTERVAL - Duration::from_millis(1)).await;
        s.append(&l("m", "late"), Sample { t: 1, v: 1.0 });
        assert_eq!(reports(&s), [1, 0]);
        tokio::time::advance(Duration::from_millis(1)).await;
        s.append(&l("m", "later"), Sample { t: 1, v: 1.0 });
        assert_eq!(reports(&s), [2, 0]);
        assert_eq!(s.read_lock().unreported, [0, 0]);
        assert_eq!(s.refused(Origin::Target), 1_002);
    }

    #[test]
    fn the_store_publishes_its_own_counters() {
        let s = SeriesStore::new(Duration::from_secs(3600), 1);
        s.append(&l("m", "a"), Sample { t: 1, v: 1.0 });
        s.append(&l("m", "b"), Sample { t: 1, v: 1.0 });
        s.append(&l("m", "c"), Sample { t: 1, v: 1.0 });
        s.record_own_series(5);
        let latest = |name: &'static str, origin: Option<&str>| {
            s.read(&ByName(name), 0, 10)
                .into_iter()
                .find(|d| d.labels.get("origin") == origin)
                .and_then(|d| d.samples.last().map(|x| x.v))
        };
        assert_eq!(latest("autonomic_store_refused_samples_total", Some("target")), Some(2.0));
        assert_eq!(latest("autonomic_store_refused_samples_total", Some("internal")), Some(0.0));
        assert_eq!(latest("autonomic_store_series_limit", Some("target")), Some(1.0));
        assert_eq!(latest("autonomic_store_series_limit", Some("internal")), Some((1 + MIN_RESERVE) as f64));
        assert_eq!(latest("autonomic_store_series", None), Some(1.0), "counted before its own series were added");
    }
}
