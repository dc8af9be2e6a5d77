//! Runs parsed scripts against the engine, the way Prometheus' own harness does: each
//! instant `eval` is also run with `@` pinned on every selector at other evaluation times,
//! and checked in range mode (one step either side).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use model::{Labels, Sample, SeriesData, is_stale};
use promql::{Engine, EvalError, Expr, LabelMatchers, Value, VectorSample, parse};
use promql_parser::parser::AtModifier;

use super::script::{Command, Eval, Expectation, FailMatch, SeriesDesc, parse_script};
use super::store::Store;

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Pass,
    Fail(String),
    Skip(&'static str),
}

#[derive(Debug, Clone)]
pub struct EvalResult {
    pub line: usize,
    pub expr: String,
    pub outcome: Outcome,
}

/// Runs a script; one result per `eval`.
pub fn run_script(text: &str) -> Result<Vec<EvalResult>, String> {
    let cmds = parse_script(text)?;
    let engine = Engine::new();
    let mut store = Store::default();
    let mut results = Vec::new();
    for cmd in cmds {
        match cmd {
            Command::Clear => store.clear(),
            Command::Load { interval, with_nhcb, series } => load(&mut store, interval, with_nhcb, series),
            Command::Eval(ev) => {
                let outcome = run_eval(&engine, &store, &ev);
                results.push(EvalResult { line: ev.line, expr: ev.expr.clone(), outcome });
            }
        }
    }
    Ok(results)
}

fn load(store: &mut Store, interval: i64, with_nhcb: bool, series: Vec<SeriesDesc>) {
    // Within one load command a later definition of a series replaces an earlier one.
    let mut defs: Vec<SeriesDesc> = Vec::new();
    for s in series {
        match defs.iter_mut().find(|d| d.labels == s.labels) {
            Some(d) => *d = s,
            None => defs.push(s),
        }
    }
    for s in defs {
        if s.histogram {
            store.histogram_series.push(s.labels);
            continue;
        }
        if with_nhcb {
            // The converted native histogram series would be named without the suffix.
            let name = s.labels.metric_name().unwrap_or("");
            for suffix in ["_bucket", "_count", "_sum"] {
                if let Some(base) = name.strip_suffix(suffix) {
                    let mut l = s.labels.clone().with("__name__", base);
                    l.remove("le");
                    store.histogram_series.push(l);
                }
            }
        }
        let samples: Vec<Sample> =
            s.values.iter().enumerate().filter_map(|(i, v)| v.map(|v| Sample { t: i as i64 * interval, v })).collect();
        store.append(s.labels, samples);
    }
}

fn selectors(e: &Expr, out: &mut Vec<LabelMatchers>) {
    match e {
        Expr::VectorSelector(vs) => out.push(LabelMatchers::from_selector(vs)),
        Expr::MatrixSelector(ms) => out.push(LabelMatchers::from_selector(&ms.vs)),
        Expr::Subquery(s) => selectors(&s.expr, out),
        Expr::Aggregate(a) => {
            selectors(&a.expr, out);
            if let Some(p) = &a.param {
                selectors(p, out);
            }
        }
        Expr::Unary(u) => selectors(&u.expr, out),
        Expr::Binary(b) => {
            selectors(&b.lhs, out);
            selectors(&b.rhs, out);
        }
        Expr::Paren(p) => selectors(&p.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| selectors(a, out)),
        _ => {}
    }
}

fn run_eval(engine: &Engine, store: &Store, ev: &Eval) -> Outcome {
    if ev.histogram_output {
        return Outcome::Skip("native histogram in expected output");
    }
    let expr = match parse(&ev.expr) {
        Ok(e) => e,
        Err(e) => return Outcome::Fail(format!("parse error: {e}")),
    };
    let mut sels = Vec::new();
    selectors(&expr, &mut sels);
    let touches_histograms = sels.iter().any(|m| store.histogram_series.iter().any(|l| m.matches(l)));
    let result = if ev.instant {
        run_instant(engine, store, ev, &expr)
    } else {
        let res = engine.range(store, &expr, ev.start, ev.end, Duration::from_millis(ev.step.max(0) as u64));
        check(res, ev, ev.start, ev.end, ev.step).map(|_| ())
    };
    match result {
        Ok(()) => Outcome::Pass,
        // The script's native histogram samples were not loaded, so a mismatch says
        // nothing about the engine.
        Err(_) if touches_histograms => Outcome::Skip("selects native histogram series"),
        Err(e) => Outcome::Fail(e),
    }
}

/// Checks an evaluation result against the expectations; `Ok(None)` when the evaluation
/// failed as expected.
fn check(res: Result<Value, EvalError>, ev: &Eval, start: i64, end: i64, step: i64) -> Result<Option<Value>, String> {
    match (res, &ev.fail) {
        (Err(e), Some(m)) => {
            let msg = e.to_string();
            let ok = match m {
                FailMatch::Any => true,
                FailMatch::Message(s) => &msg == s,
                FailMatch::Regex(r) => regex::Regex::new(r).map(|re| re.is_match(&msg)).unwrap_or(false),
            };
            if ok { Ok(None) } else { Err(format!("error {msg:?} does not match {m:?}")) }
        }
        (Err(e), None) => Err(format!("unexpected error: {e}")),
        (Ok(_), Some(_)) => Err("expected an error, got none".into()),
        (Ok(v), None) => {
            compare(&v, ev, start, end, step)?;
            Ok(Some(v))
        }
    }
}

fn ms_to_system_time(ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 { UNIX_EPOCH + d } else { UNIX_EPOCH - d }
}

const AT_UNSAFE: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "end",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "range",
    "start",
    "step",
    "time",
    "timestamp",
];

/// Pins `@ at` on every selector and subquery outside subqueries; returns whether the
/// expression calls a function whose result depends on the evaluation time.
fn pin_at(e: &mut Expr, at: SystemTime) -> bool {
    match e {
        Expr::VectorSelector(vs) => {
            vs.at.get_or_insert(AtModifier::At(at));
            false
        }
        Expr::MatrixSelector(ms) => {
            ms.vs.at.get_or_insert(AtModifier::At(at));
            false
        }
        Expr::Subquery(s) => {
            s.at.get_or_insert(AtModifier::At(at));
            false
        }
        Expr::Aggregate(a) => {
            let p = a.param.as_deref_mut().is_some_and(|p| pin_at(p, at));
            pin_at(&mut a.expr, at) | p
        }
        Expr::Unary(u) => pin_at(&mut u.expr, at),
        Expr::Binary(b) => pin_at(&mut b.lhs, at) | pin_at(&mut b.rhs, at),
        Expr::Paren(p) => pin_at(&mut p.expr, at),
        Expr::Call(c) => {
            let mut unsafe_call = AT_UNSAFE.contains(&c.func.name);
            for a in &mut c.args.args {
                unsafe_call |= pin_at(a, at);
            }
            unsafe_call
        }
        _ => false,
    }
}

fn run_instant(engine: &Engine, store: &Store, ev: &Eval, expr: &Expr) -> Result<(), String> {
    let t = ev.start;
    let mut queries = vec![(expr.clone(), t)];
    let mut pinned = expr.clone();
    if !pin_at(&mut pinned, ms_to_system_time(t)) {
        let times = if t == 0 { vec![-1000, 0, 1000] } else { vec![-10 * t, 0, t / 5, t, 10 * t] };
        queries.extend(times.into_iter().map(|et| (pinned.clone(), et)));
    }
    let context_fn = regex::Regex::new(r"(start|end|range|step)\(\)").map_err(|e| e.to_string())?;
    for (q, et) in queries {
        let (start, end, step) = ev.range_vector.unwrap_or((et, et, 0));
        let tag = |e: String| format!("{e} (at {et}ms, {q})");
        let Some(value) = check(engine.instant(store, &q, et), ev, start, end, step).map_err(tag)? else {
            continue;
        };
        if ev.range_vector.is_some() || ev.expect_string.is_some() || context_fn.is_match(&ev.expr) {
            continue;
        }
        let res = engine.range(store, &q, et - 60_000, et + 60_000, Duration::from_secs(60));
        let mat = match res {
            Ok(Value::Matrix(m)) => m,
            Ok(other) => return Err(tag(format!("range mode returned {other:?}"))),
            Err(e) => return Err(tag(format!("range mode failed: {e}"))),
        };
        if ev.ordered {
            continue;
        }
        if !mat.windows(2).all(|w| w[0].labels <= w[1].labels) {
            return Err(tag("range-mode matrix is not sorted by labels".into()));
        }
        let vec: Vec<VectorSample> = mat
            .iter()
            .filter_map(|s| {
                s.samples.iter().find(|p| p.t == et).map(|p| VectorSample { labels: s.labels.clone(), v: p.v })
            })
            .collect();
        let as_value = match value {
            Value::Scalar(_) => match vec.first() {
                Some(s) => Value::Scalar(s.v),
                None => return Err(tag("range mode returned no scalar".into())),
            },
            _ => Value::Vector(vec),
        };
        compare(&as_value, ev, start, end, step).map_err(|e| tag(format!("range mode: {e}")))?;
    }
    Ok(())
}

/// Prometheus' `almost.Equal` with the harness' epsilon.
fn almost_equal(a: f64, b: f64) -> bool {
    const EPSILON: f64 = 0.000001;
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if is_stale(a) || is_stale(b) {
        return is_stale(a) && is_stale(b);
    }
    if (a.is_nan() && b.is_nan()) || a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < EPSILON * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

fn expected_series(ev: &Eval) -> Vec<&SeriesDesc> {
    ev.expected
        .iter()
        .filter_map(|e| match e {
            Expectation::Series(s) => Some(s),
            Expectation::Scalar(_) => None,
        })
        .collect()
}

fn expected_scalar(ev: &Eval) -> Option<f64> {
    ev.expected.iter().rev().find_map(|e| match e {
        Expectation::Scalar(v) => Some(*v),
        Expectation::Series(_) => None,
    })
}

fn find<'a>(exp: &[&'a SeriesDesc], labels: &Labels) -> Option<(usize, &'a SeriesDesc)> {
    exp.iter().enumerate().find(|(_, s)| &s.labels == labels).map(|(i, s)| (i, *s))
}

fn compare(v: &Value, ev: &Eval, start: i64, end: i64, step: i64) -> Result<(), String> {
    let exp = expected_series(ev);
    let scalar = expected_scalar(ev);
    match v {
        Value::Matrix(m) => {
            if ev.ordered {
                return Err("expected ordered result, but query returned a matrix".into());
            }
            if scalar.is_some() {
                return Err("expected scalar result, but got matrix".into());
            }
            if !m.windows(2).all(|w| w[0].labels <= w[1].labels) {
                return Err("matrix is not sorted by labels".into());
            }
            let mut seen = vec![false; exp.len()];
            for s in m {
                let Some((i, e)) = find(&exp, &s.labels) else {
                    return Err(format!("unexpected series {} in result: {:?}", s.labels, s.samples));
                };
                seen[i] = true;
                compare_points(s, e, start, end, step)?;
            }
            if let Some(i) = seen.iter().position(|s| !s) {
                return Err(format!("expected series {} not found", exp[i].labels));
            }
        }
        Value::Vector(vec) => {
            if scalar.is_some() {
                return Err(format!("expected scalar result, but got vector {vec:?}"));
            }
            let mut seen = vec![false; exp.len()];
            for (pos, s) in vec.iter().enumerate() {
                let Some((i, e)) = find(&exp, &s.labels) else {
                    return Err(format!("unexpected series {} in result with value {}", s.labels, s.v));
                };
                if ev.ordered && i != pos {
                    return Err(format!("expected {} at position {i}, got {pos}", s.labels));
                }
                let want = e.values.first().copied().flatten();
                match want {
                    Some(w) if almost_equal(w, s.v) => {}
                    _ => return Err(format!("expected {want:?} for {}, got {}", s.labels, s.v)),
                }
                seen[i] = true;
            }
            if let Some(i) = seen.iter().position(|s| !s) {
                return Err(format!("expected series {} not found", exp[i].labels));
            }
        }
        Value::Scalar(x) => match scalar {
            Some(w) if almost_equal(w, *x) => {}
            Some(w) => return Err(format!("expected scalar {w}, got {x}")),
            None => return Err(format!("expected vector or matrix result, got scalar {x}")),
        },
        Value::String(s) => {
            let want = ev.expect_string.as_deref().unwrap_or("");
            if want != s {
                return Err(format!("expected string {want:?}, got {s:?}"));
            }
        }
    }
    Ok(())
}

fn compare_points(s: &SeriesData, e: &SeriesDesc, start: i64, end: i64, step: i64) -> Result<(), String> {
    let mut want = Vec::new();
    for (i, slot) in e.values.iter().enumerate() {
        let ts = start + i as i64 * step;
        if ts > end {
            return Err(format!("expected {} points for {}, more than the range has", e.values.len(), e.labels));
        }
        if let Some(v) = slot {
            want.push((ts, *v));
        }
    }
    if want.len() != s.samples.len() {
        return Err(format!("expected {} points for {}, got {:?}", want.len(), e.labels, s.samples));
    }
    for ((t, v), p) in want.iter().zip(&s.samples) {
        if *t != p.t || !almost_equal(*v, p.v) {
            return Err(format!("expected {v}@{t} for {}, got {}@{}", e.labels, p.v, p.t));
        }
    }
    Ok(())
}
