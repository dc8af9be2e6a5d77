//! The evaluation loops' own timing, as series any PromQL query can read (as Prometheus
//! publishes `prometheus_rule_group_last_evaluation_timestamp_seconds`): when a rule group
//! or an anomaly watch last ran and how long it took. A gap between consecutive timestamps
//! longer than the interval is an evaluation the loop missed.

use std::time::Duration;

use model::{Labels, Millis, Sample, SeriesWriter};

/// Writes `{prefix}_last_evaluation_timestamp_seconds` and `{prefix}_last_duration_seconds`
/// with `{label}="{name}"`, at `t`.
pub fn record_evaluation(writer: &dyn SeriesWriter, prefix: &str, label: &str, name: &str, t: Millis, took: Duration) {
    let series = |suffix: &str| {
        Labels::from_pairs([(label, name.to_owned())]).with(model::METRIC_NAME, format!("{prefix}_{suffix}"))
    };
    writer.write(&series("last_evaluation_timestamp_seconds"), Sample { t, v: t as f64 / 1000.0 });
    writer.write(&series("last_duration_seconds"), Sample { t, v: took.as_secs_f64() });
}
