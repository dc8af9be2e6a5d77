//! Autonomic watches itself: its own metrics, as served at `/metrics`, are also written to
//! the series store, so a rule or an anomaly watch can alert on the controller itself
//! (`rate(autonomic_samples_rejected_total[5m]) > 0`).

use model::{Millis, Origin, Sample, SampleSink, SelfMetrics};
use monitor::exposition::{Format, parse};

/// Writes every sample of `metrics` to `store` at `now`. Their label values come from fixed
/// vocabularies, so they are stored as health series: always admitted, however full the
/// store is of what targets sent.
pub fn record(metrics: &SelfMetrics, store: &dyn SampleSink, now: Millis) {
    match parse(&metrics.encode(), Format::OpenMetrics) {
        Ok(exposition) => {
            let batch: Vec<_> =
                exposition.samples.into_iter().map(|s| (s.labels, Sample { t: now, v: s.value })).collect();
            store.append_batch(Origin::Health, &batch);
        }
        // Our own encoder wrote it: a failure here is a bug, reported, never a crash.
        Err(e) => tracing::error!(error = %e, "cannot read back Autonomic's own metrics"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use model::{ByName, SeriesReader};
    use monitor::SeriesStore;

    use super::*;

    #[test]
    fn the_controllers_own_counters_are_queryable_series() {
        let metrics = SelfMetrics::new();
        metrics.rejected("remote_write", "out_of_order", 4);
        metrics.action("restart", "succeeded");
        metrics.query("instant", Duration::from_millis(2));
        // A store already full of what targets sent still takes them.
        let store = SeriesStore::new(Duration::from_secs(60), 0);
        record(&metrics, &store, 1_000);
        let rejected = store.read(&ByName("autonomic_samples_rejected_total"), 0, 2_000);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].labels.get("reason"), Some("out_of_order"));
        assert_eq!(rejected[0].samples[0], Sample { t: 1_000, v: 4.0 });
        assert_eq!(store.read(&ByName("autonomic_actions_total"), 0, 2_000)[0].labels.get("verb"), Some("restart"));
        assert!(!store.read(&ByName("autonomic_query_duration_seconds_bucket"), 0, 2_000).is_empty());
    }
}
