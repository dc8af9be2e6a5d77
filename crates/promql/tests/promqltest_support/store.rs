//! The in-memory series store the scripts load into.

use model::{Labels, Millis, Sample, SeriesData, SeriesReader, SeriesSelector};

#[derive(Debug, Default)]
pub struct Store {
    series: Vec<SeriesData>,
    /// Series we could not load because they hold native histograms.
    pub histogram_series: Vec<Labels>,
}

impl Store {
    pub fn clear(&mut self) {
        self.series.clear();
        self.histogram_series.clear();
    }

    /// Adds samples to a series, keeping samples sorted; the first value at a timestamp wins.
    pub fn append(&mut self, labels: Labels, samples: Vec<Sample>) {
        match self.series.iter_mut().find(|s| s.labels == labels) {
            Some(s) => {
                for p in samples {
                    if !s.samples.iter().any(|q| q.t == p.t) {
                        s.samples.push(p);
                    }
                }
                s.samples.sort_by_key(|p| p.t);
            }
            None => self.series.push(SeriesData { labels, samples }),
        }
    }
}

impl SeriesReader for Store {
    fn read(&self, selector: &dyn SeriesSelector, start: Millis, end: Millis) -> Vec<SeriesData> {
        let name = selector.metric_name();
        self.series
            .iter()
            .filter(|s| name.is_none_or(|n| s.labels.metric_name() == Some(n)))
            .filter(|s| selector.matches(&s.labels))
            .filter_map(|s| {
                let lo = s.samples.partition_point(|p| p.t <= start);
                let hi = s.samples.partition_point(|p| p.t <= end);
                let samples = s.samples.get(lo..hi).unwrap_or(&[]).to_vec();
                (!samples.is_empty()).then(|| SeriesData { labels: s.labels.clone(), samples })
            })
            .collect()
    }
}
