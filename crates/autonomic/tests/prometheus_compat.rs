//! Against a real Prometheus (Debian's package): given the same samples, Autonomic's query API
//! and Prometheus answer the same range queries point for point (`autonomic bench promql`,
//! which backfills Prometheus with its own `promtool`).
//!
//! Needs `prometheus` and `promtool` on the PATH. `.ci/run` installs them and sets
//! `AUTONOMIC_REQUIRE_PROMETHEUS=1`, so that in CI this test cannot pass by skipping.

use std::process::Command;

/// Queries across the language: functions over ranges and subqueries, offsets, binary
/// operators with matching modifiers, aggregations, label rewriting, `absent`, comparisons.
/// (Only what Prometheus 2.42, Debian's version, has.)
const QUERIES: &[&str] = &[
    "rate(req_total[5m])",
    "sum by (job) (rate(req_total[5m]))",
    "increase(req_total[1h])",
    "max_over_time(req_total[10m:1m])",
    "topk(5, rate(req_total[5m]))",
    "rate(req_total[5m]) * 2",
    "sum by (job) (rate(req_total[5m])) / ignoring(job) group_left sum(rate(req_total[5m]))",
    "deriv(req_total[10m])",
    "avg_over_time(rate(req_total[5m])[30m:2m])",
    "req_total offset 10m",
    "count_over_time(req_total[7m])",
    "quantile_over_time(0.9, req_total[15m])",
    "delta(req_total[5m] offset 1h)",
    "absent(nonexistent_metric)",
    "resets(req_total[1h])",
    "predict_linear(req_total[30m], 600)",
    "irate(req_total[5m])",
    "changes(req_total[1h])",
    "stddev_over_time(req_total[10m])",
    r#"label_replace(rate(req_total[5m]), "host", "$1", "instance", "host-(.*)")"#,
    "quantile by (job) (0.5, rate(req_total[5m]))",
    r#"histogram_quantile(0.9, sum by (le) (label_replace(rate(req_total[5m]), "le", "$1", "instance", "host-(.*)")))"#,
    "max_over_time(deriv(req_total[5m])[20m:])",
    "count by (job) (req_total > 1000)",
    "increase(req_total[1h]) > bool 500",
];

fn installed(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

#[test]
fn range_queries_agree_with_a_real_prometheus() {
    if !(installed("prometheus") && installed("promtool")) {
        assert!(
            std::env::var_os("AUTONOMIC_REQUIRE_PROMETHEUS").is_none(),
            "prometheus and promtool are required here (apt-get install prometheus)"
        );
        eprintln!("skipped: prometheus and promtool are not installed (apt-get install prometheus)");
        return;
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_autonomic"));
    cmd.args(["bench", "promql", "--series", "30", "--hours", "3", "--runs", "1", "--json"]);
    for q in QUERIES {
        cmd.args(["--query", q]);
    }
    let out = cmd.output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    let queries = report["queries"].as_array().expect("queries");
    assert_eq!(queries.len(), QUERIES.len(), "{report:#}");
    for q in queries {
        assert!(q["prometheus_s"].is_number(), "Prometheus did not answer: {q}");
        assert_eq!(q["results_agree"], true, "{q}");
    }
    assert!(out.status.success(), "{report:#}");
}
