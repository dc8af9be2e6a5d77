//! An in-memory [`SeriesReader`] for unit tests.

use model::{Labels, Millis, STALE_NAN, Sample, SeriesData, SeriesReader, SeriesSelector};

/// Series held in memory.
#[derive(Debug, Default, Clone)]
pub(crate) struct MemStore {
    pub series: Vec<SeriesData>,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a series from `name{a="b"}`-style pairs and `(seconds, value)` points.
    pub fn add(&mut self, labels: &[(&str, &str)], points: &[(i64, f64)]) -> &mut Self {
        let labels = Labels::from_pairs(labels.iter().copied());
        let samples = points.iter().map(|&(s, v)| Sample { t: s * 1000, v }).collect();
        self.series.push(SeriesData { labels, samples });
        self
    }

    /// Adds a series with a value every `step_s` seconds from 0; `None` is a stale marker.
    pub fn add_regular(&mut self, labels: &[(&str, &str)], step_s: i64, values: &[Option<f64>]) -> &mut Self {
        let points: Vec<(i64, f64)> =
            values.iter().enumerate().map(|(i, v)| (i as i64 * step_s, v.unwrap_or(STALE_NAN))).collect();
        self.add(labels, &points)
    }
}

impl SeriesReader for MemStore {
    fn read(&self, selector: &dyn SeriesSelector, start: Millis, end: Millis) -> Vec<SeriesData> {
        self.series
            .iter()
            .filter(|s| selector.matches(&s.labels))
            .filter_map(|s| {
                let samples: Vec<Sample> = s.samples.iter().filter(|p| p.t > start && p.t <= end).copied().collect();
                (!samples.is_empty()).then(|| SeriesData { labels: s.labels.clone(), samples })
            })
            .collect()
    }
}
