//! Samples and the read interface every stage uses to look at stored series.

use crate::{Labels, Millis};

/// One observation of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When the value was observed (scrape time), ms since the epoch.
    pub t: Millis,
    /// The observed value.
    pub v: f64,
}

/// Prometheus' staleness marker: a NaN with a reserved bit pattern, written when a series
/// disappears from a target or a target stops answering, so queries stop returning it
/// at once instead of after the 5-minute lookback.
pub const STALE_NAN: f64 = f64::from_bits(0x7ff0_0000_0000_0002);

/// Whether `v` is the staleness marker (a plain NaN is a real value).
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN.to_bits()
}

/// A series and the samples a read returned for it, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesData {
    /// The series' labels, including `__name__`.
    pub labels: Labels,
    /// Samples in time order; may include staleness markers.
    pub samples: Vec<Sample>,
}

/// Chooses series by their labels.
pub trait SeriesSelector {
    /// The metric name every selected series must have, when the selector fixes one;
    /// lets a store look in its name index instead of scanning.
    fn metric_name(&self) -> Option<&str>;
    /// Whether the series with these labels is selected.
    fn matches(&self, labels: &Labels) -> bool;

    /// Label names on which every selected series must pass [`Self::value_matches`] (the
    /// selector's conjunctive matchers), so a store can narrow by its inverted index before
    /// calling [`Self::matches`]. None by default: every series is a candidate.
    fn indexed_names(&self) -> Vec<&str> {
        Vec::new()
    }

    /// Whether `value` (`""` for a series without the label) passes every conjunctive
    /// matcher on label `name`.
    fn value_matches(&self, name: &str, value: &str) -> bool {
        let _ = (name, value);
        true
    }
}

/// Selects every series of one metric name.
#[derive(Debug, Clone, Copy)]
pub struct ByName<'a>(pub &'a str);

impl SeriesSelector for ByName<'_> {
    fn metric_name(&self) -> Option<&str> {
        Some(self.0)
    }

    fn matches(&self, labels: &Labels) -> bool {
        labels.metric_name() == Some(self.0)
    }

    fn indexed_names(&self) -> Vec<&str> {
        vec![crate::METRIC_NAME]
    }

    fn value_matches(&self, name: &str, value: &str) -> bool {
        name != crate::METRIC_NAME || value == self.0
    }
}

/// Selects every series.
#[derive(Debug, Clone, Copy)]
pub struct AllSeries;

impl SeriesSelector for AllSeries {
    fn metric_name(&self) -> Option<&str> {
        None
    }

    fn matches(&self, _: &Labels) -> bool {
        true
    }
}

/// Read access to stored series: what a PromQL engine, a detector or a verifier needs.
pub trait SeriesReader: Send + Sync {
    /// Every selected series with its samples whose time lies in `(start, end]`.
    /// Series with no sample in the range are omitted.
    fn read(&self, selector: &dyn SeriesSelector, start: Millis, end: Millis) -> Vec<SeriesData>;

    /// The labels of every selected series with a sample in `(start, end]`, sorted; a store
    /// can answer without copying samples.
    fn series(&self, selector: &dyn SeriesSelector, start: Millis, end: Millis) -> Vec<Labels> {
        self.read(selector, start, end).into_iter().map(|d| d.labels).collect()
    }
}

/// Write access to stored series: what recording rules and detectors that publish their
/// scores need.
pub trait SeriesWriter: Send + Sync {
    /// Appends one sample; samples not newer than the series' last one are dropped.
    fn write(&self, labels: &Labels, sample: Sample);
}

/// Who writes a series, which decides how full the store may be when it creates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// What a target exposed (or anything loaded from outside): a new series is created
    /// only while the store holds fewer than its series limit.
    Target,
    /// Autonomic's own computed series, written through [`SeriesWriter`]: recording rules'
    /// results and anomaly scores. They may also fill a reserve above the limit.
    Internal,
    /// The per-target and per-probe health series (`up`, `scrape_*`, `probe_*`) and the
    /// store's own counters: always admitted. Their number is fixed by the configuration
    /// (a handful per target and probe), so they cannot grow without bound; use this origin
    /// for nothing else.
    Health,
}

impl Appended {
    /// Whether the sample is in the store after the append (stored now or before).
    pub fn is_stored(self) -> bool {
        matches!(self, Appended::Ok | Appended::Duplicate)
    }
}

impl Origin {
    /// The `origin` label value of the store's counters.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Target => "target",
            Origin::Internal => "internal",
            Origin::Health => "health",
        }
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored.
    Ok,
    /// A sample the series already holds (same time, same value bits): nothing changed, as
    /// when a remote-write sender retries a batch. Counts as stored.
    Duplicate,
    /// The time of a sample the series holds, with another value: dropped, as Prometheus
    /// does (`duplicate sample for timestamp`).
    DuplicateTimestamp,
    /// Older than the series' last sample: dropped, as Prometheus does.
    OutOfOrder,
    /// A new series beyond the series limit: dropped.
    TooManySeries,
}

/// One series' samples with its labels borrowed (sorted by name, unique, no empty value),
/// as a receiver that decodes without copying hands them over.
#[derive(Debug, Clone, Copy)]
pub struct SeriesRef<'a> {
    /// The labels, `__name__` included.
    pub labels: &'a [(&'a str, &'a str)],
    /// The samples, oldest first.
    pub samples: &'a [Sample],
}

/// Where sources put what they observe: batches of samples with their [`Origin`], and
/// staleness markers for series that went away.
pub trait SampleSink: Send + Sync {
    /// Appends a batch (one scrape, one probe, one remote-write request), each sample with
    /// what became of it, in order.
    fn append_batch(&self, origin: Origin, samples: &[(Labels, Sample)]) -> Vec<Appended>;

    /// Appends series by series, each sample with what became of it, in order. A store
    /// finds an existing series without copying its labels.
    fn append_series(&self, origin: Origin, series: &[SeriesRef<'_>]) -> Vec<Appended> {
        let batch: Vec<(Labels, Sample)> = series
            .iter()
            .flat_map(|s| {
                let labels = Labels::from_pairs(s.labels.iter().copied());
                s.samples.iter().map(move |x| (labels.clone(), *x))
            })
            .collect();
        self.append_batch(origin, &batch)
    }
    /// Marks a series stale at `t`, so queries stop returning it at once. Never creates a
    /// series.
    fn mark_stale(&self, labels: &Labels, t: Millis);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_marker_is_distinguished_from_plain_nan() {
        assert!(is_stale(STALE_NAN));
        assert!(!is_stale(f64::NAN));
        assert!(STALE_NAN.is_nan());
    }
}
