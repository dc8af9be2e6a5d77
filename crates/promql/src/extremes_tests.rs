//! Expressions with numbers and times at the edge of what the language accepts: each is
//! answered with a value or an error, never a panic (a panic in the query pool costs a
//! client its answer; in a rule group it costs the group an evaluation).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use super::testutil::MemStore;
use super::{Engine, parse};

fn store() -> MemStore {
    let mut s = MemStore::new();
    s.add_regular(
        &[("__name__", "m"), ("job", "a")],
        15,
        &[Some(1.0), Some(2.0), Some(f64::MAX), Some(-3.5), Some(5.0)],
    );
    s.add_regular(
        &[("__name__", "m"), ("job", "b")],
        15,
        &[Some(f64::NAN), Some(1e308), Some(-1e308), None, Some(0.0)],
    );
    s.add_regular(
        &[("__name__", "h_bucket"), ("le", "1"), ("job", "a")],
        15,
        &[Some(1.0), Some(2.0), Some(3.0), Some(4.0), Some(5.0)],
    );
    s.add_regular(
        &[("__name__", "h_bucket"), ("le", "+Inf"), ("job", "a")],
        15,
        &[Some(2.0), Some(4.0), Some(6.0), Some(8.0), Some(1e300)],
    );
    s
}

const EXTREMES: &[&str] =
    &["1e308", "-1e308", "1e300", "-1e300", "9.3e18", "-9.3e18", "NaN", "Inf", "-Inf", "0", "-0.5"];

/// Templates: `X` is replaced by each extreme number.
const TEMPLATES: &[&str] = &[
    "hour(vector(X))",
    "minute(vector(X))",
    "month(vector(X))",
    "year(vector(X))",
    "day_of_month(vector(X))",
    "day_of_week(vector(X))",
    "day_of_year(vector(X))",
    "days_in_month(vector(X))",
    "hour(m * X)",
    "year(m)",
    "timestamp(m) * X",
    "topk(X, m)",
    "bottomk(X, m)",
    "limitk(X, m)",
    "limit_ratio(X, m)",
    "quantile(X, m)",
    "quantile_over_time(X, m[1m])",
    "histogram_quantile(X, h_bucket)",
    "histogram_quantile(0.5, h_bucket * X)",
    "predict_linear(m[1m], X)",
    "double_exponential_smoothing(m[1m], 0.5, 0.5)",
    "round(m, X)",
    "round(vector(X), 1e-300)",
    "clamp(m, X, 1)",
    "clamp_min(m, X)",
    "m ^ X",
    "m % X",
    "m atan2 X",
    "X % 0",
    "vector(X) + on() group_left m",
    "m > bool X",
    "sgn(vector(X))",
    "exp(vector(X))",
    "ln(vector(X))",
    "deg(vector(X))",
    "rad(vector(X))",
    "sinh(vector(X))",
    "acosh(vector(X))",
    "scalar(vector(X))",
    "time() + X",
    "label_replace(m, \"x\", \"$1\", \"job\", \"(.*)\") * X",
    "count_values(\"v\", m * X)",
    "sort_desc(m * X)",
    "stddev(m * X)",
    "stdvar_over_time(m[1m]) * X",
    "rate(m[1m]) * X",
    "deriv(m[1m]) * X",
    "irate(m[1m]) * X",
    "resets(m[1m]) * X",
    "changes(m[1m]) * X",
    "absent_over_time(m[1m]) * X",
    "max_over_time((m * X)[1m:15s])",
    "sum_over_time((m * X)[1m:15s])",
    "avg_over_time((m * X)[1m:15s])",
    "avg(m * X)",
];

/// Whole expressions that stretch times and durations.
const TIMES: &[&str] = &[
    "m @ 9223372036854775",
    "m @ -9223372036854775",
    "m @ 1e300",
    "m offset 292y",
    "m offset -292y",
    "m offset 100000y",
    "m[100000y]",
    "rate(m[292y])",
    "m[1m:1ms]",
    "max_over_time(m[292y:1ms])",
    "max_over_time(m[1h:1ms] offset 292y)",
    "m @ start() offset 292y",
    "m @ end() offset -292y",
    "vector(1) + m @ 9223372036854775",
    "timestamp(m @ 1e18)",
    "sum_over_time(m[1m] @ 9223372036854775)",
    "(m @ 9223372036854775)[5m:1m]",
    "predict_linear(m[1m] offset -292y, 9.3e18)",
];

fn try_all(engine: &Engine, store: &MemStore, exprs: &[String]) -> Vec<String> {
    let times = [0_i64, 60_000, i64::MAX / 4, i64::MIN / 4, -60_000];
    let mut panicked = Vec::new();
    for q in exprs {
        let expr = parse(q).unwrap_or_else(|e| panic!("{q} must parse, so that it is tried: {e}"));
        for &t in &times {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let _ = engine.instant(store, &expr, t);
                let _ = engine.range(store, &expr, t, t.saturating_add(120_000), Duration::from_secs(15));
            }));
            if outcome.is_err() {
                panicked.push(format!("{q} at {t}"));
            }
        }
    }
    panicked
}

#[test]
fn extreme_numbers_and_times_give_values_or_errors() {
    let mut exprs: Vec<String> =
        TEMPLATES.iter().flat_map(|t| EXTREMES.iter().map(move |x| t.replace('X', x))).collect();
    exprs.extend(TIMES.iter().map(|s| (*s).to_owned()));
    let engine = Engine::new().with_max_samples(1_000_000);
    let panicked = try_all(&engine, &store(), &exprs);
    assert!(panicked.is_empty(), "{} expressions panicked: {panicked:#?}", panicked.len());
}
