//! The in-memory series store: recent samples of every series, bounded by age and count.

use std::collections::{HashMap, VecDeque};
use std::sync::RwLock;
use std::time::Duration;

use model::{Labels, Millis, STALE_NAN, Sample, SeriesData, SeriesReader, SeriesSelector, SeriesWriter, is_stale};

/// Recent samples of many series. Reads and writes may come from any task.
#[derive(Debug)]
pub struct SeriesStore {
    inner: RwLock<Inner>,
    retention_ms: Millis,
    max_series: usize,
}

#[derive(Debug, Default)]
struct Inner {
    /// Series grouped by metric name, so selectors with a name touch one bucket.
    by_name: HashMap<String, HashMap<Labels, VecDeque<Sample>>>,
    series: usize,
    rejected_new_series: u64,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored.
    Ok,
    /// Not newer than the series' last sample: dropped, as Prometheus does.
    OutOfOrder,
    /// A new series beyond the series limit: dropped.
    TooManySeries,
}

impl SeriesStore {
    /// A store keeping `retention` of history for at most `max_series` series.
    pub fn new(retention: Duration, max_series: usize) -> Self {
        Self { inner: RwLock::new(Inner::default()), retention_ms: retention.as_millis() as Millis, max_series }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read_lock(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one sample.
    pub fn append(&self, labels: &Labels, sample: Sample) -> Appended {
        let mut inner = self.write();
        Self::append_locked(&mut inner, self.max_series, labels, sample)
    }

    /// Appends many samples under one lock.
    pub fn append_all<'a>(&self, samples: impl IntoIterator<Item = (&'a Labels, Sample)>) -> Vec<Appended> {
        let mut inner = self.write();
        samples.into_iter().map(|(l, s)| Self::append_locked(&mut inner, self.max_series, l, s)).collect()
    }

    fn append_locked(inner: &mut Inner, max_series: usize, labels: &Labels, sample: Sample) -> Appended {
        let name = labels.metric_name().unwrap_or_default();
        let is_new = !inner.by_name.get(name).is_some_and(|b| b.contains_key(labels));
        if is_new {
            if is_stale(sample.v) {
                // A staleness marker for a series we do not hold carries no information.
                return Appended::Ok;
            }
            if inner.series >= max_series {
                inner.rejected_new_series += 1;
                return Appended::TooManySeries;
            }
            inner.series += 1;
        }
        let samples = inner.by_name.entry(name.to_owned()).or_default().entry(labels.clone()).or_default();
        if samples.back().is_some_and(|last| last.t >= sample.t) {
            return Appended::OutOfOrder;
        }
        samples.push_back(sample);
        Appended::Ok
    }

    /// Writes a staleness marker at `t` for `labels`, ending the series for queries.
    pub fn mark_stale(&self, labels: &Labels, t: Millis) {
        self.append(labels, Sample { t, v: STALE_NAN });
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

    /// New series refused because of the series limit, since start.
    pub fn rejected_series(&self) -> u64 {
        self.read_lock().rejected_new_series
    }
}

impl SeriesWriter for SeriesStore {
    fn write(&self, labels: &Labels, sample: Sample) {
        self.append(labels, sample);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    struct ByName(&'static str);
    impl SeriesSelector for ByName {
        fn metric_name(&self) -> Option<&str> {
            Some(self.0)
        }
        fn matches(&self, labels: &Labels) -> bool {
            labels.metric_name() == Some(self.0)
        }
    }

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
        assert_eq!(s.append(&l("up", "a"), Sample { t: 2_000, v: 2.0 }), Appended::OutOfOrder);
        assert_eq!(s.append(&l("up", "a"), Sample { t: 1_000, v: 3.0 }), Appended::OutOfOrder);
        assert_eq!(s.read(&All, 0, 10_000)[0].samples, vec![Sample { t: 2_000, v: 1.0 }]);
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
}
