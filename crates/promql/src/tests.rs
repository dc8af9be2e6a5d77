//! Unit tests of the evaluator's trickier semantics, against a small in-memory store.

use std::time::Duration;

use model::{Labels, STALE_NAN};

use super::testutil::MemStore;
use super::{Engine, EvalError, Value, VectorSample, parse};

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn instant(store: &MemStore, q: &str, t_s: i64) -> Result<Value, EvalError> {
    let expr = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    Engine::new().instant(store, &expr, t_s * 1000)
}

/// The vector result of `q` at `t_s` seconds, as (labels, value) pairs.
fn vector(store: &MemStore, q: &str, t_s: i64) -> Vec<(Labels, f64)> {
    match instant(store, q, t_s) {
        Ok(Value::Vector(v)) => v.into_iter().map(|VectorSample { labels, v }| (labels, v)).collect(),
        other => panic!("{q}: expected a vector, got {other:?}"),
    }
}

/// The single value of `q`.
fn single(store: &MemStore, q: &str, t_s: i64) -> f64 {
    let v = vector(store, q, t_s);
    assert_eq!(v.len(), 1, "{q}: {v:?}");
    v[0].1
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn counter(values: &[f64]) -> MemStore {
    let mut s = MemStore::new();
    let points: Vec<(i64, f64)> = values.iter().enumerate().map(|(i, v)| (15 * (i as i64 + 1), *v)).collect();
    s.add(&[("__name__", "c_total"), ("job", "a")], &points);
    s
}

#[test]
fn rate_extrapolates_to_window_edges() {
    // Samples at 15s…60s rising 1/s; the first is one interval after the window start.
    let s = counter(&[15.0, 30.0, 45.0, 60.0]);
    assert!(close(single(&s, "rate(c_total[1m])", 60), 1.0));
    assert!(close(single(&s, "increase(c_total[1m])", 60), 60.0));
    // Labels lose the metric name.
    assert_eq!(vector(&s, "rate(c_total[1m])", 60)[0].0, l(&[("job", "a")]));
}

#[test]
fn rate_extrapolates_half_an_interval_when_series_starts_late() {
    let mut s = MemStore::new();
    s.add(&[("__name__", "c_total")], &[(45, 100.0), (60, 115.0)]);
    // 15 increase over 15s, extended by 7.5s at the start only.
    assert!(close(single(&s, "increase(c_total[1m])", 60), 22.5));
    assert!(close(single(&s, "rate(c_total[1m])", 60), 0.375));
}

#[test]
fn rate_never_extrapolates_counter_below_zero() {
    let s = counter(&[1.0, 16.0, 31.0, 46.0]);
    // The zero point is 1s before the first sample: 45 + 1.
    assert!(close(single(&s, "increase(c_total[1m])", 60), 46.0));
}

#[test]
fn rate_corrects_counter_resets() {
    let s = counter(&[10.0, 20.0, 5.0, 15.0]);
    // 5 - 10 + 20 (the reset) = 25 over 45s, extrapolated by 15s.
    assert!(close(single(&s, "increase(c_total[1m])", 60), 25.0 * 60.0 / 45.0));
    assert!(close(single(&s, "resets(c_total[1m])", 60), 1.0));
    assert!(close(single(&s, "changes(c_total[1m])", 60), 3.0));
    // delta() treats the series as a gauge: no reset correction, negative allowed.
    assert!(close(single(&s, "delta(c_total[1m])", 60), 5.0 * 60.0 / 45.0));
    let g = counter(&[40.0, 30.0, 20.0, 10.0]);
    assert!(close(single(&g, "delta(c_total[1m])", 60), -40.0));
}

#[test]
fn irate_and_idelta_use_the_last_two_samples() {
    let s = counter(&[10.0, 20.0, 5.0, 15.0]);
    assert!(close(single(&s, "irate(c_total[1m])", 60), 10.0 / 15.0));
    assert!(close(single(&s, "idelta(c_total[1m])", 60), 10.0));
    // A reset between the last two samples: irate takes the new value as the increase.
    assert!(close(single(&s, "irate(c_total[1m])", 45), 5.0 / 15.0));
    assert!(close(single(&s, "idelta(c_total[1m])", 45), -15.0));
}

#[test]
fn rate_needs_two_samples() {
    let s = counter(&[10.0]);
    assert!(vector(&s, "rate(c_total[1m])", 60).is_empty());
    assert!(vector(&s, "irate(c_total[1m])", 60).is_empty());
    assert!(vector(&s, "deriv(c_total[1m])", 60).is_empty());
}

#[test]
fn deriv_and_predict_linear() {
    let s = counter(&[15.0, 30.0, 45.0, 60.0]);
    assert!(close(single(&s, "deriv(c_total[1m])", 60), 1.0));
    assert!(close(single(&s, "predict_linear(c_total[1m], 30)", 60), 90.0));
}

#[test]
fn over_time_functions() {
    let s = counter(&[3.0, 1.0, 4.0, 1.0]);
    let q = |f: &str| single(&s, &format!("{f}(c_total[1m])"), 60);
    assert_eq!(q("sum_over_time"), 9.0);
    assert_eq!(q("avg_over_time"), 2.25);
    assert_eq!(q("min_over_time"), 1.0);
    assert_eq!(q("max_over_time"), 4.0);
    assert_eq!(q("count_over_time"), 4.0);
    assert_eq!(q("last_over_time"), 1.0);
    assert_eq!(q("first_over_time"), 3.0);
    assert_eq!(q("present_over_time"), 1.0);
    assert!(close(q("stdvar_over_time"), 1.6875));
    assert!(close(q("stddev_over_time"), 1.6875f64.sqrt()));
    assert_eq!(single(&s, "quantile_over_time(0.5, c_total[1m])", 60), 2.0);
    // last_over_time keeps the metric name; the others drop it.
    assert_eq!(vector(&s, "last_over_time(c_total[1m])", 60)[0].0.metric_name(), Some("c_total"));
    assert_eq!(vector(&s, "max_over_time(c_total[1m])", 60)[0].0.metric_name(), None);
    assert!(vector(&s, "absent_over_time(c_total[1m])", 60).is_empty());
    assert_eq!(vector(&s, r#"absent_over_time(nope{job="x"}[1m])"#, 60), vec![(l(&[("job", "x")]), 1.0)]);
}

#[test]
fn lookback_and_staleness() {
    let mut s = MemStore::new();
    s.add_regular(&[("__name__", "up")], 10, &[Some(1.0), Some(2.0), None, Some(3.0)]);
    assert_eq!(single(&s, "up", 15), 2.0);
    // The stale marker at 20s hides the series until the next sample.
    assert!(vector(&s, "up", 25).is_empty());
    assert_eq!(single(&s, "up", 30), 3.0);
    // Five minutes after the last sample the series is gone (the boundary is excluded).
    assert_eq!(single(&s, "up", 329), 3.0);
    assert!(vector(&s, "up", 330).is_empty());
    let short = Engine::new().with_lookback(Duration::from_secs(5));
    let expr = parse("up").unwrap();
    assert_eq!(short.instant(&s, &expr, 38_000), Ok(Value::Vector(vec![])));
    // Range selectors drop stale markers.
    assert_eq!(single(&s, "count_over_time(up[1m])", 30), 3.0);
}

#[test]
fn offset_and_at_modifiers() {
    let mut s = MemStore::new();
    let values: Vec<Option<f64>> = (0..100).map(|i| Some(i as f64)).collect();
    s.add_regular(&[("__name__", "m")], 10, &values);
    assert_eq!(single(&s, "m offset 100s", 500), 40.0);
    assert_eq!(single(&s, "m @ 100", 500), 10.0);
    assert_eq!(single(&s, "m @ 100 offset 50s", 0), 5.0);
    assert_eq!(single(&s, "m offset -100s", 100), 20.0);
    assert_eq!(single(&s, "sum_over_time(m[30s] @ 100)", 900), 10.0 + 9.0 + 8.0);
    assert_eq!(single(&s, "timestamp(m @ 105)", 900), 100.0);
    assert_eq!(single(&s, "timestamp(m)", 105), 100.0);
}

fn two_sides() -> MemStore {
    let mut s = MemStore::new();
    for (inst, v) in [("a", 10.0), ("b", 20.0)] {
        s.add(&[("__name__", "req"), ("instance", inst), ("job", "api")], &[(0, v)]);
        s.add(&[("__name__", "err"), ("instance", inst), ("job", "api")], &[(0, v / 10.0)]);
    }
    s.add(&[("__name__", "info"), ("job", "api"), ("team", "core")], &[(0, 1.0)]);
    s
}

#[test]
fn one_to_one_matching_drops_the_name() {
    let s = two_sides();
    let mut v = vector(&s, "err / req", 0);
    v.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(v, vec![(l(&[("instance", "a"), ("job", "api")]), 0.1), (l(&[("instance", "b"), ("job", "api")]), 0.1)]);
    // on() keeps only the matching labels.
    let v = vector(&s, r#"err{instance="a"} + on(instance) req"#, 0);
    assert_eq!(v, vec![(l(&[("instance", "a")]), 11.0)]);
    assert!(vector(&s, "err + ignoring(job) info", 0).is_empty());
}

#[test]
fn comparisons_filter_or_return_bool() {
    let s = two_sides();
    let v = vector(&s, "req > 15", 0);
    assert_eq!(v, vec![(l(&[("__name__", "req"), ("instance", "b"), ("job", "api")]), 20.0)]);
    let mut v = vector(&s, "req > bool 15", 0);
    v.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(v.iter().map(|x| x.1).collect::<Vec<_>>(), vec![0.0, 1.0]);
    assert!(v.iter().all(|x| x.0.metric_name().is_none()));
    // A scalar on the left still keeps the vector's value.
    assert_eq!(vector(&s, "15 < req", 0)[0].1, 20.0);
    assert_eq!(instant(&s, "1 < bool 2", 0), Ok(Value::Scalar(1.0)));
}

#[test]
fn group_left_copies_labels_from_the_one_side() {
    let s = two_sides();
    let mut v = vector(&s, "req * on(job) group_left(team) info", 0);
    v.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        v,
        vec![
            (l(&[("instance", "a"), ("job", "api"), ("team", "core")]), 10.0),
            (l(&[("instance", "b"), ("job", "api"), ("team", "core")]), 20.0),
        ]
    );
    let v = vector(&s, "info * on(job) group_right req", 0);
    assert_eq!(v.len(), 2);
}

#[test]
fn matching_errors() {
    let s = two_sides();
    // Two `req` series match the single `info`: the many side must be declared.
    assert_eq!(instant(&s, "req + on(job) info", 0), Err(EvalError::OneToOneMultipleMatches));
    match instant(&s, "info + on(job) req", 0) {
        Err(EvalError::ManyToMany { side, group, .. }) => {
            assert_eq!(side, "right");
            assert_eq!(group, r#"{job="api"}"#);
        }
        other => panic!("expected a many-to-many error, got {other:?}"),
    }
    // Name dropping makes two results collide.
    assert_eq!(instant(&s, r#"{__name__=~"req|err", instance="a"} * 1"#, 0), Err(EvalError::DuplicateLabelset));
}

#[test]
fn set_operators() {
    let s = two_sides();
    assert_eq!(vector(&s, r#"req and on(instance) err{instance="a"}"#, 0).len(), 1);
    assert_eq!(vector(&s, r#"req unless on(instance) err{instance="a"}"#, 0).len(), 1);
    // `err{instance="a"}` matches the left side (names are ignored), so only `b` is added.
    assert_eq!(vector(&s, r#"req{instance="a"} or err"#, 0).len(), 2);
    assert_eq!(vector(&s, "req or on(job) info", 0).len(), 2);
}

#[test]
fn aggregations() {
    let s = two_sides();
    assert_eq!(vector(&s, "sum(req)", 0), vec![(Labels::new(), 30.0)]);
    assert_eq!(vector(&s, "sum by (job) (req)", 0), vec![(l(&[("job", "api")]), 30.0)]);
    assert_eq!(vector(&s, "max without (instance) (req)", 0), vec![(l(&[("job", "api")]), 20.0)]);
    assert_eq!(single(&s, "avg(req)", 0), 15.0);
    assert_eq!(single(&s, "count(req)", 0), 2.0);
    assert_eq!(single(&s, "stddev(req)", 0), 5.0);
    assert_eq!(single(&s, "quantile(0.5, req)", 0), 15.0);
    let top = vector(&s, "topk(1, req)", 0);
    assert_eq!(top[0].1, 20.0);
    assert_eq!(top[0].0.metric_name(), Some("req"));
    assert_eq!(vector(&s, "bottomk(1, req)", 0)[0].1, 10.0);
    let mut cv = vector(&s, r#"count_values("v", req)"#, 0);
    cv.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(cv, vec![(l(&[("v", "10")]), 1.0), (l(&[("v", "20")]), 1.0)]);
    assert_eq!(instant(&s, "topk(NaN, req)", 0), Err(EvalError::InvalidArgument("Parameter value is NaN".into())));
}

#[test]
fn histogram_quantile_over_classic_buckets() {
    let mut s = MemStore::new();
    for (le, v) in [("0.1", 10.0), ("0.5", 20.0), ("1", 40.0), ("+Inf", 40.0)] {
        s.add(&[("__name__", "lat_bucket"), ("job", "a"), ("le", le)], &[(0, v)]);
    }
    let v = vector(&s, "histogram_quantile(0.75, lat_bucket)", 0);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].0, l(&[("job", "a")]));
    assert!(close(v[0].1, 0.75));
    assert!(close(single(&s, "histogram_quantile(0.99, lat_bucket)", 0), 0.99));
    assert_eq!(single(&s, "histogram_quantile(2, lat_bucket)", 0), f64::INFINITY);
    // Without the +Inf bucket there is no answer.
    assert!(single(&s, r#"histogram_quantile(0.5, lat_bucket{le!="+Inf"})"#, 0).is_nan());
    assert!(close(single(&s, "histogram_fraction(0, 0.5, lat_bucket)", 0), 0.5));
}

#[test]
fn range_queries_step_through_time() {
    let s = counter(&[15.0, 30.0, 45.0, 60.0]);
    let expr = parse("c_total").unwrap();
    let got = Engine::new().range(&s, &expr, 0, 60_000, Duration::from_secs(30)).unwrap();
    let Value::Matrix(m) = got else { panic!("not a matrix") };
    assert_eq!(m.len(), 1);
    let points: Vec<(i64, f64)> = m[0].samples.iter().map(|p| (p.t, p.v)).collect();
    assert_eq!(points, vec![(30_000, 30.0), (60_000, 60.0)]);
    let scalar = Engine::new().range(&s, &parse("time()").unwrap(), 0, 20_000, Duration::from_secs(10)).unwrap();
    let Value::Matrix(m) = scalar else { panic!("not a matrix") };
    assert_eq!(m[0].labels, Labels::new());
    assert_eq!(m[0].samples.iter().map(|p| p.v).collect::<Vec<_>>(), vec![0.0, 10.0, 20.0]);
    let e = Engine::new().range(&s, &parse(r#""x""#).unwrap(), 0, 1, Duration::from_secs(1));
    assert_eq!(e, Err(EvalError::InvalidRangeQueryType("string")));
    let e = Engine::new().range(&s, &expr, 0, 1, Duration::ZERO);
    assert!(matches!(e, Err(EvalError::InvalidRange(_))));
}

#[test]
fn subqueries_align_to_their_step() {
    let s = counter(&[15.0, 30.0, 45.0, 60.0]);
    // Steps at 30s and 60s (aligned to multiples of 30s within (0, 60]).
    assert_eq!(single(&s, "sum_over_time(c_total[60s:30s])", 60), 90.0);
    assert_eq!(single(&s, "max_over_time(rate(c_total[30s])[30s:15s])", 60), 1.0);
}

#[test]
fn functions_and_labels() {
    let s = two_sides();
    assert_eq!(
        vector(&s, r#"label_replace(info, "owner", "team-$1", "team", "(.*)")"#, 0)[0].0.get("owner"),
        Some("team-core")
    );
    assert_eq!(vector(&s, r#"label_join(info, "x", "/", "job", "team")"#, 0)[0].0.get("x"), Some("api/core"));
    assert_eq!(vector(&s, "absent(nope)", 0), vec![(Labels::new(), 1.0)]);
    assert!(vector(&s, "absent(req)", 0).is_empty());
    assert_eq!(instant(&s, "scalar(info)", 0), Ok(Value::Scalar(1.0)));
    assert!(matches!(instant(&s, "scalar(req)", 0), Ok(Value::Scalar(v)) if v.is_nan()));
    assert_eq!(vector(&s, "clamp(req, 12, 15)", 0).iter().map(|x| x.1).collect::<Vec<_>>(), vec![12.0, 15.0]);
    assert_eq!(vector(&s, "sort_desc(req)", 0)[0].1, 20.0);
    assert_eq!(vector(&s, "vector(3)", 0), vec![(Labels::new(), 3.0)]);
    assert_eq!(single(&s, "year(vector(0))", 0), 1970.0);
    assert!(matches!(
        instant(&s, r#"label_replace(req, "x", "y", "job", "(")"#, 0),
        Err(EvalError::InvalidArgument(_))
    ));
}

#[test]
fn stale_marker_in_store_is_never_a_value() {
    let mut s = MemStore::new();
    s.add(&[("__name__", "g")], &[(0, 1.0), (10, STALE_NAN)]);
    assert!(vector(&s, "g", 10).is_empty());
    assert_eq!(single(&s, "last_over_time(g[1m])", 10), 1.0);
}

#[test]
fn subquery_budget_is_enforced() {
    let s = counter(&[1.0]);
    let expr = parse("max_over_time(vector(1)[1y:1ms])").unwrap();
    let got = Engine::new().with_max_samples(1000).instant(&s, &expr, 0);
    assert_eq!(got, Err(EvalError::TooManySamples { limit: 1000 }));
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn atom() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("c_total".to_string()),
            Just(r#"c_total{job=~"a|b"}"#.to_string()),
            Just("g offset 1m".to_string()),
            Just("g @ 100".to_string()),
            Just("vector(time())".to_string()),
            (-3.0f64..3.0).prop_map(|f| format!("{f}")),
            Just("NaN".to_string()),
            Just("Inf".to_string()),
        ]
    }

    fn expr() -> impl Strategy<Value = String> {
        atom().prop_recursive(4, 32, 3, |inner| {
            let ops = ["+", "-", "*", "/", "%", "^", "and", "or", "unless", "> bool", "==", "atan2"];
            let fns = ["abs", "ceil", "sort", "absent", "sgn", "exp", "ln", "timestamp", "day_of_week"];
            let range_fns = ["rate", "irate", "deriv", "resets", "avg_over_time", "stddev_over_time", "changes"];
            let aggs = ["sum", "avg", "max", "count", "stddev", "group"];
            prop_oneof![
                (inner.clone(), 0..ops.len(), inner.clone())
                    .prop_map(move |(a, o, b)| format!("({a}) {} ({b})", ops[o])),
                (0..fns.len(), inner.clone()).prop_map(move |(f, a)| format!("{}({a})", fns[f])),
                (0..range_fns.len(), inner.clone()).prop_map(move |(f, a)| format!("{}(({a})[2m:30s])", range_fns[f])),
                (0..range_fns.len()).prop_map(move |f| format!("{}(c_total[1m])", range_fns[f])),
                (0..aggs.len(), inner.clone()).prop_map(move |(f, a)| format!("{} by (job) ({a})", aggs[f])),
                (-2.0f64..5.0, inner.clone()).prop_map(|(k, a)| format!("topk({k}, {a})")),
                (-0.5f64..1.5, inner.clone()).prop_map(|(q, a)| format!("quantile({q}, {a})")),
                inner.prop_map(|a| format!("histogram_quantile(0.9, {a})")),
            ]
        })
    }

    fn store() -> MemStore {
        let mut s = MemStore::new();
        s.add_regular(&[("__name__", "c_total"), ("job", "a")], 15, &[Some(1.0), Some(5.0), None, Some(2.0)]);
        s.add_regular(&[("__name__", "c_total"), ("job", "b")], 20, &[Some(f64::NAN), Some(f64::INFINITY)]);
        s.add_regular(&[("__name__", "g"), ("le", "0.5")], 30, &[Some(3.0), Some(-1.0), Some(4.0)]);
        s
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]
        #[test]
        fn random_expressions_evaluate_or_fail_cleanly(q in expr(), t in -100i64..400) {
            let s = store();
            if let Ok(e) = parse(&q) {
                let engine = Engine::new();
                let _ = engine.instant(&s, &e, t * 1000);
                let _ = engine.range(&s, &e, t * 1000, t * 1000 + 120_000, Duration::from_secs(30));
            }
        }
    }
}

#[test]
fn out_of_range_numbers_are_refused_not_a_panic() {
    for q in [
        "n[99999999999999999999999999999999999999999999]",
        "n[99999999999999999999999999999999999999999999s]",
        "rate(n[5m] offset 99999999999999999999999999999999)",
        "n offset 1e300",
        "n @ 1e300",
        "n[5m:99999999999999999999999999999999]",
    ] {
        match parse(q) {
            Ok(_) => {}
            Err(e) => assert!(!e.to_string().is_empty(), "{q}"),
        }
    }
    assert!(parse("n[99999999999999999999999999999999999999999999]").is_err());
}

#[test]
fn an_interrupted_query_stops_with_interrupted_and_output_points_count_against_the_budget() {
    let store = counter(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let engine = Engine::new().with_interrupt(flag.clone());
    for q in ["c_total", "rate(c_total[1m])", "sum(c_total) + 1", "max_over_time(c_total[2m:15s])"] {
        let expr = parse(q).expect("parses");
        assert_eq!(engine.instant(&store, &expr, 60_000), Err(EvalError::Interrupted), "{q}");
        let range = engine.range(&store, &expr, 0, 90_000, Duration::from_secs(15));
        assert_eq!(range, Err(EvalError::Interrupted), "{q}");
    }
    flag.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(engine.instant(&store, &parse("c_total").expect("parses"), 60_000).is_ok());
    // Six samples loaded, but 76 points out (every second from 15 s to 90 s): the points held
    // count, series by series (a plain selector) or step by step (an operator) alike.
    for q in ["c_total", "c_total * 2"] {
        let expr = parse(q).expect("parses");
        let roomy = Engine::new().with_max_samples(100);
        let tight = Engine::new().with_max_samples(50);
        assert!(roomy.range(&store, &expr, 0, 90_000, Duration::from_secs(1)).is_ok(), "{q}");
        let got = tight.range(&store, &expr, 0, 90_000, Duration::from_secs(1));
        assert!(matches!(got, Err(EvalError::TooManySamples { .. })), "{q}: {got:?}");
    }
}

#[test]
fn label_functions_cannot_build_huge_label_values() {
    let mut store = MemStore::new();
    let long = "x".repeat(1_000);
    store.add(&[("__name__", "m"), ("a", long.as_str())], &[(10, 1.0)]);
    let sources = vec!["\"a\""; 2_000].join(", ");
    let join = format!("label_join(m, \"d\", \"\", {sources})");
    let got = instant(&store, &join, 20);
    assert!(matches!(&got, Err(EvalError::InvalidArgument(m)) if m.contains("limit is 1048576")), "{got:?}");
    let refs = "$1".repeat(2_000);
    let replace = format!("label_replace(m, \"d\", \"{refs}\", \"a\", \"(.*)\")");
    let got = instant(&store, &replace, 20);
    assert!(matches!(&got, Err(EvalError::InvalidArgument(m)) if m.contains("label_replace")), "{got:?}");
    // Ordinary use is untouched.
    let got = vector(&store, "label_join(m, \"d\", \"-\", \"a\", \"a\")", 20);
    assert_eq!(got[0].0.get("d").map(str::len), Some(2_001));
}
