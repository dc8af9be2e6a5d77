//! Functions over range vectors: `rate`, `increase`, `delta`, `irate`, `idelta`, `deriv`,
//! `predict_linear`, `resets`, `changes`, the `*_over_time` family and
//! `double_exponential_smoothing`.

use model::{Millis, Sample as Point};
use promql_parser::parser::Expr;

use super::EvalError;
use super::eval::{Evaluator, RangeArg};
use super::selector::LabelMatchers;
use super::value::{Sample, Val, kahan_inc, quantile};

/// Extra information a range function may need besides the points.
pub(super) struct Window {
    /// Exclusive start of the window.
    pub start: Millis,
    /// Inclusive end of the window.
    pub end: Millis,
    /// The range, in seconds.
    pub range_secs: f64,
    /// The evaluation time.
    pub t: Millis,
}

pub(super) const RANGE_FUNCTIONS: &[&str] = &[
    "rate",
    "increase",
    "delta",
    "irate",
    "idelta",
    "deriv",
    "predict_linear",
    "resets",
    "changes",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "first_over_time",
    "quantile_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "mad_over_time",
    "present_over_time",
    "absent_over_time",
    "ts_of_first_over_time",
    "ts_of_last_over_time",
    "ts_of_max_over_time",
    "ts_of_min_over_time",
    "double_exponential_smoothing",
];

/// Evaluates `name` if it is a range-vector function; `None` otherwise.
pub(crate) fn call(ev: &Evaluator, name: &str, args: &[&Expr], t: Millis) -> Result<Option<Val>, EvalError> {
    if !RANGE_FUNCTIONS.contains(&name) {
        return Ok(None);
    }
    let matrix_idx = args
        .iter()
        .position(|a| matches!(a, Expr::MatrixSelector(_) | Expr::Subquery(_)))
        .ok_or_else(|| EvalError::Type(format!("{name}() needs a range vector argument")))?;
    let mut scalars = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i != matrix_idx {
            scalars.push(ev.eval_scalar(a, t)?);
        }
    }
    let arg: RangeArg = ev.range_arg(args[matrix_idx], t)?;
    let w = Window { start: arg.start, end: arg.end, range_secs: arg.range as f64 / 1000.0, t };

    if name == "absent_over_time" {
        if arg.series.iter().any(|s| !s.points.is_empty()) {
            return Ok(Some(Val::Vector(Vec::new())));
        }
        let labels = match args[matrix_idx] {
            Expr::MatrixSelector(ms) => LabelMatchers::from_selector(&ms.vs).absent_labels(),
            _ => Default::default(),
        };
        return Ok(Some(Val::Vector(vec![Sample::new(labels, 1.0, true)])));
    }
    let keeps_name = keeps_name(name);
    let scalar = |i: usize| scalars.get(i).copied().unwrap_or(f64::NAN);
    if name == "double_exponential_smoothing" && !arg.series.is_empty() {
        let (sf, tf) = (scalar(0), scalar(1));
        if !(sf > 0.0 && sf < 1.0) {
            return Err(EvalError::InvalidArgument(format!(
                "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
            )));
        }
        if !(tf > 0.0 && tf < 1.0) {
            return Err(EvalError::InvalidArgument(format!(
                "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
            )));
        }
    }
    let mut out = Vec::with_capacity(arg.series.len());
    for s in arg.series {
        if s.points.is_empty() {
            continue;
        }
        if let Some(v) = kernel(name, &s.points, &w, &scalar) {
            out.push(Sample::new(s.labels, v, !keeps_name || s.drop_name));
        }
    }
    Ok(Some(Val::Vector(out)))
}

/// Whether range function `name` keeps its input's metric name.
pub(super) fn keeps_name(name: &str) -> bool {
    matches!(name, "last_over_time" | "first_over_time")
}

/// The value of range function `name` over one series' points in window `w`.
pub(super) fn kernel(name: &str, p: &[Point], w: &Window, scalar: &dyn Fn(usize) -> f64) -> Option<f64> {
    match name {
        "rate" => extrapolated_rate(p, w, true, true),
        "increase" => extrapolated_rate(p, w, true, false),
        "delta" => extrapolated_rate(p, w, false, false),
        "irate" => instant_value(p, true),
        "idelta" => instant_value(p, false),
        "deriv" => (p.len() >= 2).then(|| linear_regression(p, p[0].t).0),
        "predict_linear" => (p.len() >= 2).then(|| {
            let (slope, intercept) = linear_regression(p, w.t);
            slope * scalar(0) + intercept
        }),
        "resets" => Some(p.windows(2).filter(|x| x[1].v < x[0].v).count() as f64),
        "changes" => {
            Some(p.windows(2).filter(|x| x[1].v != x[0].v && !(x[1].v.is_nan() && x[0].v.is_nan())).count() as f64)
        }
        "avg_over_time" => Some(avg(p)),
        "min_over_time" => Some(compare_over_time(p, |cur, m| cur < m || m.is_nan()).0),
        "max_over_time" => Some(compare_over_time(p, |cur, m| cur > m || m.is_nan()).0),
        "ts_of_min_over_time" => Some(compare_over_time(p, |cur, m| cur <= m || m.is_nan()).1),
        "ts_of_max_over_time" => Some(compare_over_time(p, |cur, m| cur >= m || m.is_nan()).1),
        "sum_over_time" => Some(sum(p)),
        "count_over_time" => Some(p.len() as f64),
        "last_over_time" => p.last().map(|x| x.v),
        "first_over_time" => p.first().map(|x| x.v),
        "ts_of_last_over_time" => p.last().map(|x| x.t as f64 / 1000.0),
        "ts_of_first_over_time" => p.first().map(|x| x.t as f64 / 1000.0),
        "present_over_time" => Some(1.0),
        "quantile_over_time" => {
            let mut values: Vec<f64> = p.iter().map(|x| x.v).collect();
            Some(quantile(scalar(0), &mut values))
        }
        "stddev_over_time" => Some(variance(p).sqrt()),
        "stdvar_over_time" => Some(variance(p)),
        "mad_over_time" => Some(mad(p)),
        "double_exponential_smoothing" => double_exponential_smoothing(p, scalar(0), scalar(1)),
        _ => None,
    }
}

/// `rate`, `increase` and `delta`, with Prometheus' extrapolation to the window
/// boundaries: all the way when the first/last sample is within 1.1 average intervals of
/// the boundary, else half an average interval; counters are never extrapolated below zero.
fn extrapolated_rate(p: &[Point], w: &Window, is_counter: bool, is_rate: bool) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let first = p[0];
    let last = p[p.len() - 1];
    let mut result = last.v - first.v;
    if is_counter {
        for pair in p.windows(2) {
            if pair[1].v < pair[0].v {
                result += pair[0].v;
            }
        }
    }
    let mut duration_to_start = first.t.saturating_sub(w.start) as f64 / 1000.0;
    let mut duration_to_end = w.end.saturating_sub(last.t) as f64 / 1000.0;
    let sampled_interval = last.t.saturating_sub(first.t) as f64 / 1000.0;
    let avg_interval = sampled_interval / (p.len() - 1) as f64;
    let threshold = avg_interval * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = avg_interval / 2.0;
    }
    if is_counter {
        // Counters cannot go negative: stop extrapolating at the zero point.
        let mut duration_to_zero = duration_to_start;
        if result > 0.0 && first.v >= 0.0 {
            duration_to_zero = sampled_interval * (first.v / result);
        }
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = avg_interval / 2.0;
    }
    let mut factor = 1.0;
    if sampled_interval != 0.0 {
        factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    }
    if is_rate {
        factor /= w.range_secs;
    }
    Some(result * factor)
}

/// `irate` and `idelta`: from the last two samples.
fn instant_value(p: &[Point], is_rate: bool) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (prev, last) = (p[p.len() - 2], p[p.len() - 1]);
    let interval = last.t.saturating_sub(prev.t);
    if interval == 0 {
        return None;
    }
    // A counter reset (only for irate) leaves the last value as the increase.
    let mut v = if is_rate && last.v < prev.v { last.v } else { last.v - prev.v };
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

/// Least-squares fit; returns the slope (per second) and the value at `intercept_time`.
fn linear_regression(p: &[Point], intercept_time: Millis) -> (f64, f64) {
    let (mut n, mut sum_x, mut cx, mut sum_y, mut cy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut cxy, mut sum_x2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = p[0].v;
    let mut const_y = true;
    for (i, s) in p.iter().enumerate() {
        if const_y && i > 0 && s.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = s.t.saturating_sub(intercept_time) as f64 / 1e3;
        (sum_x, cx) = kahan_inc(x, sum_x, cx);
        (sum_y, cy) = kahan_inc(s.v, sum_y, cy);
        (sum_xy, cxy) = kahan_inc(x * s.v, sum_xy, cxy);
        (sum_x2, cx2) = kahan_inc(x * x, sum_x2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sum_x, sum_y, sum_xy, sum_x2) = (sum_x + cx, sum_y + cy, sum_xy + cxy, sum_x2 + cx2);
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    (slope, sum_y / n - slope * sum_x / n)
}

fn avg(p: &[Point]) -> f64 {
    let (mut sum, mut count, mut mean, mut c) = (p[0].v, 1.0, 0.0, 0.0);
    let mut incremental = false;
    for (i, s) in p.iter().enumerate().skip(1) {
        count = (i + 1) as f64;
        if !incremental {
            let (ns, nc) = kahan_inc(s.v, sum, c);
            if !ns.is_infinite() {
                (sum, c) = (ns, nc);
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(s.v / count, q * mean, q * c);
    }
    if incremental { mean + c } else { sum / count + c / count }
}

fn sum(p: &[Point]) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for x in p {
        (s, c) = kahan_inc(x.v, s, c);
    }
    if s.is_infinite() { s } else { s + c }
}

/// The value and time (seconds) of the sample `better` prefers.
fn compare_over_time(p: &[Point], better: impl Fn(f64, f64) -> bool) -> (f64, f64) {
    let (mut m, mut ts) = (p[0].v, p[0].t);
    for x in p {
        if better(x.v, m) {
            m = x.v;
            ts = x.t;
        }
    }
    (m, ts as f64 / 1000.0)
}

fn variance(p: &[Point]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for x in p {
        count += 1.0;
        let delta = x.v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (x.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Median absolute deviation.
fn mad(p: &[Point]) -> f64 {
    if p.iter().any(|x| x.v.is_nan()) {
        return f64::NAN;
    }
    let mut values: Vec<f64> = p.iter().map(|x| x.v).collect();
    let median = quantile(0.5, &mut values);
    for v in &mut values {
        *v = (*v - median).abs();
    }
    quantile(0.5, &mut values)
}

fn double_exponential_smoothing(p: &[Point], sf: f64, tf: f64) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let trend = |i: usize, s0: f64, s1: f64, b: f64| {
        if i == 0 { b } else { tf * (s1 - s0) + (1.0 - tf) * b }
    };
    let (mut s0, mut s1) = (0.0, p[0].v);
    let mut b = p[1].v - p[0].v;
    for (i, x) in p.iter().enumerate().skip(1) {
        let scaled = sf * x.v;
        b = trend(i - 1, s0, s1, b);
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, scaled + y);
    }
    Some(s1)
}
