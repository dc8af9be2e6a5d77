//! The in-memory series store: samples in compressed chunks ([`chunk`]), an inverted index
//! from label pairs to series ([`index`]), retention by time, a series limit, and a
//! checksummed snapshot to keep the learnt history across restarts ([`snapshot`]).
//!
//! The series limit keeps room for Autonomic's own series: what targets send may fill
//! `max_series`, Autonomic's computed series (recording rules, anomaly scores) also get a
//! reserve on top of it, and the health series (`up`, `scrape_*`, `probe_*`, the
//! controller's own metrics) are always admitted, so a target that floods the store cannot
//! hide that it does, nor that any other target is down. Every refusal is counted (see
//! [`SeriesStore::record_own_series`]) and logged, at most once per
//! [`REFUSAL_LOG_INTERVAL`] for each origin.
//!
//! A series is found from its labels by a hash of the label pairs, so a receiver that
//! decodes without copying ([`SampleSink::append_series`]) finds an existing series without
//! allocating; labels are copied once, when a series is created.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use model::{Appended, Origin};
use model::{
    Labels, Millis, STALE_NAN, Sample, SampleSink, SeriesData, SeriesReader, SeriesRef, SeriesSelector, SeriesWriter,
    is_stale,
};
use tokio::time::Instant;

pub mod chunk;
mod index;
pub mod snapshot;

use chunk::Chunk;
use index::Index;

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

type Fast = foldhash::fast::RandomState;

/// A series' identity in the store.
type SeriesId = u32;

/// One series: its labels and its chunks, oldest first (the last one takes new samples).
#[derive(Debug)]
struct MemSeries {
    labels: Arc<Labels>,
    /// The label pairs in one buffer (see [`pairs_key`]): finding a series for an incoming
    /// sample compares against this, one or two cache lines, instead of walking a string
    /// allocation per label name and value.
    key: Box<[u8]>,
    chunks: Vec<Chunk>,
}

/// Label pairs as one byte string: each name, 0xFF, its value, 0xFE. Neither byte occurs
/// in UTF-8, so the encoding is unambiguous.
fn pairs_key<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Box<[u8]> {
    let mut key = Vec::new();
    for (n, v) in pairs {
        key.extend_from_slice(n.as_bytes());
        key.push(0xff);
        key.extend_from_slice(v.as_bytes());
        key.push(0xfe);
    }
    key.into_boxed_slice()
}

/// Whether `pairs` are the pairs that [`pairs_key`] encoded into `key`.
fn key_matches<'a>(key: &[u8], pairs: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
    let mut rest = key;
    for (n, v) in pairs {
        let (n, v) = (n.as_bytes(), v.as_bytes());
        let len = n.len() + v.len() + 2;
        if rest.len() < len
            || &rest[..n.len()] != n
            || rest[n.len()] != 0xff
            || &rest[n.len() + 1..len - 1] != v
            || rest[len - 1] != 0xfe
        {
            return false;
        }
        rest = &rest[len..];
    }
    rest.is_empty()
}

impl MemSeries {
    fn new(labels: Arc<Labels>, chunks: Vec<Chunk>) -> Self {
        let key = pairs_key(labels.iter());
        Self { labels, key, chunks }
    }

    /// Appends `s` in time order; an older sample only if it is already held.
    fn append(&mut self, s: Sample) -> Appended {
        let Some(head) = self.chunks.last_mut() else {
            let mut c = Chunk::default();
            c.push(s);
            self.chunks.push(c);
            return Appended::Ok;
        };
        if s.t > head.max_t() {
            if head.is_full() {
                head.shrink();
                let mut c = Chunk::default();
                c.push(s);
                self.chunks.push(c);
            } else {
                head.push(s);
            }
            return Appended::Ok;
        }
        if s.t == head.max_t() {
            return if head.last_value().to_bits() == s.v.to_bits() {
                Appended::Duplicate
            } else {
                Appended::DuplicateTimestamp
            };
        }
        // Older than the last sample: a resent sample is fine, anything else is refused.
        let at = self.chunks.partition_point(|c| c.max_t() < s.t);
        match self.chunks.get(at).and_then(|c| c.iter().find(|x| x.t == s.t)) {
            Some(held) if held.v.to_bits() == s.v.to_bits() => Appended::Duplicate,
            Some(_) => Appended::DuplicateTimestamp,
            None => Appended::OutOfOrder,
        }
    }

    /// Samples with `start < t <= end`.
    fn window(&self, start: Millis, end: Millis) -> Vec<Sample> {
        let first = self.chunks.partition_point(|c| c.max_t() <= start);
        let mut out = Vec::new();
        for c in &self.chunks[first..] {
            if c.min_t() > end {
                break;
            }
            out.extend(c.iter().filter(|s| s.t > start && s.t <= end));
        }
        out
    }

    /// Whether it has a sample with `start < t <= end`.
    fn has_sample_in(&self, start: Millis, end: Millis) -> bool {
        let first = self.chunks.partition_point(|c| c.max_t() <= start);
        self.chunks[first..]
            .iter()
            .take_while(|c| c.min_t() <= end)
            .any(|c| (c.min_t() > start && c.min_t() <= end) || c.iter().any(|s| s.t > start && s.t <= end))
    }

    fn samples(&self) -> usize {
        self.chunks.iter().map(Chunk::len).sum()
    }

    fn chunk_bytes(&self) -> usize {
        self.chunks.iter().map(Chunk::encoded_len).sum()
    }
}

/// Recent samples of many series. Reads and writes may come from any task.
#[derive(Debug)]
pub struct SeriesStore {
    inner: RwLock<Inner>,
    retention_ms: Millis,
    max_series: usize,
    reserve: usize,
    hasher: Fast,
}

#[derive(Debug, Default)]
struct Inner {
    series: HashMap<SeriesId, MemSeries, Fast>,
    /// Hash of the label pairs → the first series with that hash.
    by_hash: HashMap<u64, SeriesId, Fast>,
    /// Further series whose pairs hash like an earlier one's (a 64-bit collision: kept
    /// apart so that the common case costs no second allocation to look through).
    collided: HashMap<u64, Vec<SeriesId>, Fast>,
    index: Index,
    next_id: SeriesId,
    /// Appends refused because they would have created a series beyond the limit, by
    /// [`refusable`] index.
    refused: [u64; 2],
    /// Refusals not yet reported in a log line, and when the last line was written.
    unreported: [u64; 2],
    last_report: [Option<Instant>; 2],
    #[cfg(test)]
    reports: [u64; 2],
}

/// What [`SeriesStore::stats`] reports.
impl Inner {
    /// Files a new series under the hash of its pairs.
    fn add_hash(&mut self, hash: u64, id: SeriesId) {
        if let Some(first) = self.by_hash.get(&hash)
            && *first != id
        {
            self.collided.entry(hash).or_default().push(id);
        } else {
            self.by_hash.insert(hash, id);
        }
    }

    /// Forgets a series filed under `hash`.
    fn remove_hash(&mut self, hash: u64, id: SeriesId) {
        if self.by_hash.get(&hash) == Some(&id) {
            self.by_hash.remove(&hash);
            // A collided series takes the first place.
            if let Some(ids) = self.collided.get_mut(&hash) {
                if let Some(next) = ids.pop() {
                    self.by_hash.insert(hash, next);
                }
                if ids.is_empty() {
                    self.collided.remove(&hash);
                }
            }
        } else if let Some(ids) = self.collided.get_mut(&hash) {
            ids.retain(|x| *x != id);
            if ids.is_empty() {
                self.collided.remove(&hash);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    /// Series held.
    pub series: usize,
    /// Samples held.
    pub samples: usize,
    /// Bytes of compressed samples.
    pub chunk_bytes: usize,
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
            hasher: Fast::default(),
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

    fn hash_pairs<'a>(&self, pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
        let mut h = self.hasher.build_hasher();
        for (n, v) in pairs {
            h.write(n.as_bytes());
            h.write_u8(0xff);
            h.write(v.as_bytes());
            h.write_u8(0xfe);
        }
        h.finish()
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
        let hash = self.hash_pairs(labels.iter());
        let mut inner = self.write();
        self.append_locked(&mut inner, origin, hash, labels.iter(), sample)
    }

    /// Appends many samples written by `origin` under one lock.
    pub fn append_all_from<'a>(
        &self,
        origin: Origin,
        samples: impl IntoIterator<Item = (&'a Labels, Sample)>,
    ) -> Vec<Appended> {
        let hashed: Vec<(u64, &Labels, Sample)> =
            samples.into_iter().map(|(l, s)| (self.hash_pairs(l.iter()), l, s)).collect();
        let mut inner = self.write();
        hashed.into_iter().map(|(h, l, s)| self.append_locked(&mut inner, origin, h, l.iter(), s)).collect()
    }

    /// The series with these labels, if held.
    fn find<'a>(inner: &Inner, hash: u64, pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> Option<SeriesId> {
        let first = *inner.by_hash.get(&hash)?;
        let is = |id: &SeriesId| inner.series.get(id).is_some_and(|s| key_matches(&s.key, pairs.clone()));
        if is(&first) {
            return Some(first);
        }
        inner.collided.get(&hash)?.iter().copied().find(is)
    }

    fn append_locked<'a>(
        &self,
        inner: &mut Inner,
        origin: Origin,
        hash: u64,
        pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone,
        sample: Sample,
    ) -> Appended {
        let id = match Self::find(inner, hash, pairs.clone()) {
            Some(id) => id,
            None => {
                if is_stale(sample.v) {
                    // A staleness marker for a series we do not hold carries no information.
                    return Appended::Ok;
                }
                if inner.series.len() >= self.series_limit(origin) {
                    let labels = Labels::from_pairs(pairs);
                    self.refuse(inner, origin, &labels);
                    return Appended::TooManySeries;
                }
                let labels = Arc::new(Labels::from_pairs(pairs));
                let id = inner.next_id;
                inner.next_id = inner.next_id.wrapping_add(1);
                inner.index.add(id, &labels);
                inner.add_hash(hash, id);
                inner.series.insert(id, MemSeries::new(labels, Vec::new()));
                id
            }
        };
        match inner.series.get_mut(&id) {
            Some(series) => series.append(sample),
            None => Appended::OutOfOrder,
        }
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
        let (count, refused) = {
            let inner = self.read_lock();
            (inner.series.len(), inner.refused)
        };
        let mut samples = vec![(Labels::from_pairs([(model::METRIC_NAME, "autonomic_store_series")]), count as f64)];
        for origin in REFUSABLE {
            let labels = |name: &str| Labels::from_pairs([(model::METRIC_NAME, name), ("origin", origin.as_str())]);
            samples.push((labels("autonomic_store_series_limit"), self.series_limit(origin) as f64));
            let n = refusable(origin).map(|i| refused[i]).unwrap_or_default();
            samples.push((labels("autonomic_store_refused_samples_total"), n as f64));
        }
        self.append_all_from(Origin::Health, samples.iter().map(|(l, v)| (l, Sample { t: now, v: *v })));
    }

    /// Drops the chunks whose samples are all older than the retention window before `now`,
    /// and the series left without any; what is left, counted on the same pass.
    pub fn compact(&self, now: Millis) -> StoreStats {
        let cutoff = now.saturating_sub(self.retention_ms);
        let mut inner = self.write();
        let mut gone: Vec<SeriesId> = Vec::new();
        let (mut samples, mut chunk_bytes) = (0, 0);
        for (id, series) in inner.series.iter_mut() {
            let keep_from = series.chunks.partition_point(|c| c.max_t() < cutoff);
            if keep_from > 0 {
                series.chunks.drain(..keep_from);
            }
            if series.chunks.is_empty() {
                gone.push(*id);
            }
            samples += series.samples();
            chunk_bytes += series.chunk_bytes();
        }
        let kept = |inner: &Inner| StoreStats { series: inner.series.len() - gone.len(), samples, chunk_bytes };
        if gone.is_empty() {
            return kept(&inner);
        }
        let stats = kept(&inner);
        gone.sort_unstable();
        for id in &gone {
            if let Some(series) = inner.series.remove(id) {
                let hash = self.hash_pairs(series.labels.iter());
                inner.remove_hash(hash, *id);
            }
        }
        inner.index.remove(&gone);
        stats
    }

    /// Number of series held.
    pub fn series_count(&self) -> usize {
        self.read_lock().series.len()
    }

    /// Series, samples and compressed bytes held.
    pub fn stats(&self) -> StoreStats {
        let inner = self.read_lock();
        let (mut samples, mut chunk_bytes) = (0, 0);
        for s in inner.series.values() {
            samples += s.samples();
            chunk_bytes += s.chunk_bytes();
        }
        StoreStats { series: inner.series.len(), samples, chunk_bytes }
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

    /// The series a selector picks, by the index where it can narrow them.
    fn selected<'a>(inner: &'a Inner, selector: &dyn SeriesSelector) -> Vec<&'a MemSeries> {
        let candidates = inner.index.candidates(selector);
        let pick = |s: &&MemSeries| selector.matches(&s.labels);
        match candidates {
            Some(ids) => ids.iter().filter_map(|id| inner.series.get(id)).filter(pick).collect(),
            None => inner.series.values().filter(pick).collect(),
        }
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

    fn append_series(&self, origin: Origin, series: &[SeriesRef<'_>]) -> Vec<Appended> {
        let hashes: Vec<u64> = series.iter().map(|s| self.hash_pairs(s.labels.iter().copied())).collect();
        let mut out = Vec::with_capacity(series.iter().map(|s| s.samples.len()).sum());
        let mut inner = self.write();
        for (s, hash) in series.iter().zip(hashes) {
            for sample in s.samples {
                out.push(self.append_locked(&mut inner, origin, hash, s.labels.iter().copied(), *sample));
            }
        }
        out
    }

    fn mark_stale(&self, labels: &Labels, t: Millis) {
        SeriesStore::mark_stale(self, labels, t);
    }
}

impl SeriesReader for SeriesStore {
    fn read(&self, selector: &dyn SeriesSelector, start: Millis, end: Millis) -> Vec<SeriesData> {
        let inner = self.read_lock();
        let mut out: Vec<SeriesData> = Self::selected(&inner, selector)
            .into_iter()
            .filter_map(|s| {
                let samples = s.window(start, end);
                (!samples.is_empty()).then(|| SeriesData { labels: Labels::clone(&s.labels), samples })
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    fn series(&self, selector: &dyn SeriesSelector, start: Millis, end: Millis) -> Vec<Labels> {
        let inner = self.read_lock();
        let mut out: Vec<Labels> = Self::selected(&inner, selector)
            .into_iter()
            .filter(|s| s.has_sample_in(start, end))
            .map(|s| Labels::clone(&s.labels))
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests;
