//! Range queries evaluated series by series where the query's shape allows, as Prometheus
//! does: `f(selector[range], number…)` and `f(expr[range:step], number…)`, the range
//! functions most dashboard panels are made of. Each series' window slides over the steps
//! on its own, without a vector per step, label hashing per point or copies of the points,
//! and a subquery's expression is evaluated once, as a range query at the subquery's step,
//! not again for every step that sees it.
//!
//! A whole query of that shape is answered here ([`range_query`]); where such calls sit
//! inside a larger expression (`sum by (job) (rate(x[5m]))`), they are computed here for all
//! steps before the step-by-step evaluation, which reads each step's vector from them
//! ([`precompute`]).

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;

use model::{Millis, Sample as Point, SeriesData, is_stale};
use promql_parser::parser::{Call, Expr, VectorSelector};

use super::EvalError;
use super::eval::{Evaluator, first_step_after, unwrap_parens};
use super::prepare::{duration_ms, offset_ms};
use super::range_fns::{RANGE_FUNCTIONS, Window, keeps_name, kernel};
use super::value::{Sample, SharedLabels, drop_reserved_shared, has_duplicates};

/// A range function's values at every step, per input series, names not yet dropped.
pub(crate) struct Computed {
    keeps_name: bool,
    series: Vec<(SharedLabels, Vec<Point>)>,
    /// Per series, where the last lookup ended (steps move forward).
    cursors: Vec<Cell<usize>>,
}

impl Computed {
    fn new(keeps_name: bool, series: Vec<(SharedLabels, Vec<Point>)>) -> Self {
        let cursors = series.iter().map(|_| Cell::new(0)).collect();
        Self { keeps_name, series, cursors }
    }

    /// The vector the call evaluates to at `t`, as the step-by-step evaluation would build it.
    pub(crate) fn at(&self, t: Millis) -> Vec<Sample> {
        let mut out = Vec::new();
        for ((labels, points), cursor) in self.series.iter().zip(&self.cursors) {
            let mut i = cursor.get().min(points.len());
            if i > 0 && points[i - 1].t >= t {
                i = points.partition_point(|p| p.t < t);
            }
            while i < points.len() && points[i].t < t {
                i += 1;
            }
            cursor.set(i);
            if let Some(p) = points.get(i).filter(|p| p.t == t) {
                out.push(Sample::new(labels.clone(), p.v, !self.keeps_name));
            }
        }
        out
    }
}

/// The whole range query, if it has a shape evaluated here.
pub(crate) fn range_query(
    ev: &Evaluator,
    expr: &Expr,
    start: Millis,
    end: Millis,
    step: i64,
) -> Result<Option<Vec<SeriesData>>, EvalError> {
    let computed = match unwrap_parens(expr) {
        Expr::Call(c) => compute(ev, c, start, end, step, false)?,
        Expr::VectorSelector(vs) => select(ev, vs, start, end, step),
        _ => None,
    };
    let Some(computed) = computed else { return Ok(None) };
    // The result's points are held until the response is written.
    ev.charge(computed.series.iter().map(|(_, points)| points.len()).sum())?;
    let mut out: Vec<SeriesData> = computed
        .series
        .into_iter()
        .map(|(labels, samples)| {
            let labels = if computed.keeps_name { labels } else { drop_reserved_shared(labels) };
            SeriesData { labels: Arc::unwrap_or_clone(labels), samples }
        })
        .collect();
    // Series that differ only in their name collide once it is dropped: an error at the steps
    // where both have a value, which the step-by-step evaluation reports as Prometheus does.
    if has_duplicates(out.iter().map(|s| &s.labels)) {
        return Ok(None);
    }
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(Some(out))
}

/// The calls of a shape evaluated here inside `expr`, outside subqueries (whose expressions
/// are evaluated at their own times), computed for every step; keyed by the call's address.
pub(crate) fn precompute(
    ev: &Evaluator,
    expr: &Expr,
    start: Millis,
    end: Millis,
    step: i64,
) -> Result<HashMap<usize, Computed>, EvalError> {
    let mut out = HashMap::new();
    walk(ev, expr, start, end, step, &mut out)?;
    Ok(out)
}

/// Where a node's precomputed values are kept: its address.
pub(crate) fn key<T>(node: &T) -> usize {
    node as *const T as usize
}

fn walk(
    ev: &Evaluator,
    expr: &Expr,
    start: Millis,
    end: Millis,
    step: i64,
    out: &mut HashMap<usize, Computed>,
) -> Result<(), EvalError> {
    match expr {
        Expr::Call(c) => {
            if let Some(computed) = compute(ev, c, start, end, step, true)? {
                out.insert(key(c), computed);
            } else {
                for a in &c.args.args {
                    walk(ev, a, start, end, step, out)?;
                }
            }
        }
        Expr::Aggregate(a) => {
            walk(ev, &a.expr, start, end, step, out)?;
            if let Some(p) = &a.param {
                walk(ev, p, start, end, step, out)?;
            }
        }
        Expr::Binary(b) => {
            walk(ev, &b.lhs, start, end, step, out)?;
            walk(ev, &b.rhs, start, end, step, out)?;
        }
        Expr::Paren(p) => walk(ev, &p.expr, start, end, step, out)?,
        Expr::Unary(u) => walk(ev, &u.expr, start, end, step, out)?,
        Expr::VectorSelector(vs) => {
            if fits(ev, vs, start, end, step)
                && let Some(computed) = select(ev, vs, start, end, step)
            {
                out.insert(key(vs), computed);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Points built so far by a series-by-series loop, which must stay within what is left of
/// the query's sample budget while they are built (the caller charges them once done).
#[derive(Default)]
struct Held {
    points: usize,
}

impl Held {
    /// Fails once the query was interrupted or the points built exceed the budget left.
    fn over(&self, ev: &Evaluator) -> Result<(), EvalError> {
        ev.check_interrupt()?;
        if self.points > ev.budget_left() {
            return Err(EvalError::TooManySamples { limit: ev.max_samples() });
        }
        Ok(())
    }
}

/// Whether `vs`'s series at every step fit in what is left of the query's sample budget.
fn fits(ev: &Evaluator, vs: &VectorSelector, start: Millis, end: Millis, step: i64) -> bool {
    let steps = usize::try_from((end.saturating_sub(start) / step.max(1)).saturating_add(1)).unwrap_or(usize::MAX);
    ev.series_of(vs).len().saturating_mul(steps) <= ev.budget_left()
}

/// Selector `vs` at every step: each series' latest sample within the lookback, unless that
/// is a stale marker (`None` with an `@`, which pins the time).
fn select(ev: &Evaluator, vs: &VectorSelector, start: Millis, end: Millis, step: i64) -> Option<Computed> {
    if vs.at.is_some() {
        return None;
    }
    let offset = offset_ms(&vs.offset);
    let mut series = Vec::new();
    let mut held = Held::default();
    for stored in ev.series_of(vs) {
        if held.over(ev).is_err() {
            // Over budget or interrupted: the step-by-step evaluation reports which.
            return None;
        }
        let samples = stored.samples.as_slice();
        let mut hi = 0;
        let mut points = Vec::new();
        let mut t = start;
        while t <= end {
            let reference = t.saturating_sub(offset);
            while hi < samples.len() && samples[hi].t <= reference {
                hi += 1;
            }
            if let Some(p) = hi.checked_sub(1).and_then(|i| samples.get(i))
                && p.t > reference.saturating_sub(ev.lookback)
                && !is_stale(p.v)
            {
                points.push(Point { t, v: p.v });
            }
            match t.checked_add(step) {
                Some(next) => t = next,
                None => break,
            }
        }
        held.points = held.points.saturating_add(points.len());
        if !points.is_empty() {
            series.push((stored.labels.clone(), points));
        }
    }
    Some(Computed::new(true, series))
}

/// Call `c` at every step, if it has a shape evaluated here. `nested`: its result feeds a
/// larger expression, so it is held in memory beside the evaluation: computed only if its
/// points (series × steps) fit in what is left of the query's sample budget.
fn compute(
    ev: &Evaluator,
    c: &Call,
    start: Millis,
    end: Millis,
    step: i64,
    nested: bool,
) -> Result<Option<Computed>, EvalError> {
    let name = c.func.name;
    // absent_over_time answers for what is missing, double_exponential_smoothing checks its
    // arguments at each step: both stay with the step-by-step evaluation.
    if !RANGE_FUNCTIONS.contains(&name) || matches!(name, "absent_over_time" | "double_exponential_smoothing") {
        return Ok(None);
    }
    let args: Vec<&Expr> = c.args.args.iter().map(|a| unwrap_parens(a)).collect();
    let Some(range_idx) = args.iter().position(|a| matches!(a, Expr::MatrixSelector(_) | Expr::Subquery(_))) else {
        return Ok(None);
    };
    let mut scalars = Vec::new();
    for (i, a) in args.iter().enumerate() {
        match a {
            _ if i == range_idx => {}
            Expr::NumberLiteral(n) => scalars.push(n.val),
            _ => return Ok(None),
        }
    }
    let keeps_name = keeps_name(name);
    let input = match args[range_idx] {
        Expr::MatrixSelector(ms) => &ms.vs,
        Expr::Subquery(sq) => match unwrap_parens(&sq.expr) {
            Expr::VectorSelector(vs) => vs,
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    if nested && !fits(ev, input, start, end, step) {
        return Ok(None);
    }
    let f = Slide { name, scalars, start, end, step, offset: 0, range: 0 };
    let mut series = Vec::new();
    match args[range_idx] {
        Expr::MatrixSelector(ms) if ms.vs.at.is_none() => {
            let f = Slide { offset: offset_ms(&ms.vs.offset), range: duration_ms(ms.range), ..f };
            let mut scratch: Vec<Point> = Vec::new();
            let mut held = Held::default();
            for stored in ev.series_of(&ms.vs) {
                held.over(ev)?;
                let mut samples = stored.samples.as_slice();
                if samples.iter().any(|p| is_stale(p.v)) {
                    scratch.clear();
                    scratch.extend(samples.iter().filter(|p| !is_stale(p.v)));
                    samples = &scratch;
                }
                let points = f.over(samples);
                held.points = held.points.saturating_add(points.len());
                if !points.is_empty() {
                    series.push((stored.labels.clone(), points));
                }
            }
        }
        // Only over a plain selector: an inner expression that drops `__name__` would drop it
        // here at once, where Prometheus drops it at the end, and would merge series that
        // differ only in their name; such subqueries stay with the step-by-step evaluation.
        Expr::Subquery(sq) if sq.at.is_none() => {
            let f = Slide { offset: offset_ms(&sq.offset), range: duration_ms(sq.range), ..f };
            let inner_step = ev.step_of(sq);
            let inner_start = first_step_after(start.saturating_sub(f.offset).saturating_sub(f.range), inner_step);
            let inner_end = end.saturating_sub(f.offset);
            if inner_start > inner_end {
                return Ok(None);
            }
            // The inner steps count against the query's budget before they are computed, as
            // in the step-by-step evaluation.
            ev.charge_steps(inner_start, inner_end, inner_step)?;
            let Some(inner) = select(ev, input, inner_start, inner_end, inner_step) else { return Ok(None) };
            ev.charge(inner.series.iter().map(|(_, p)| p.len()).sum())?;
            let mut held = Held::default();
            for (labels, samples) in inner.series {
                held.over(ev)?;
                let points = f.over(&samples);
                held.points = held.points.saturating_add(points.len());
                if !points.is_empty() {
                    series.push((labels, points));
                }
            }
        }
        _ => return Ok(None),
    }
    Ok(Some(Computed::new(keeps_name, series)))
}

/// A range function applied at every step of a range query to one series' window
/// `(t − offset − range, t − offset]`.
struct Slide<'a> {
    name: &'a str,
    scalars: Vec<f64>,
    start: Millis,
    end: Millis,
    step: i64,
    offset: i64,
    range: i64,
}

impl Slide<'_> {
    /// The function's value at each step where the window holds points; `samples` are in
    /// time order.
    fn over(&self, samples: &[Point]) -> Vec<Point> {
        let scalar = |i: usize| self.scalars.get(i).copied().unwrap_or(f64::NAN);
        let (mut lo, mut hi) = (0, 0);
        let mut points = Vec::new();
        let mut t = self.start;
        while t <= self.end {
            let w_end = t.saturating_sub(self.offset);
            let w_start = w_end.saturating_sub(self.range);
            while lo < samples.len() && samples[lo].t <= w_start {
                lo += 1;
            }
            hi = hi.max(lo);
            while hi < samples.len() && samples[hi].t <= w_end {
                hi += 1;
            }
            let window = &samples[lo..hi];
            let w = Window { start: w_start, end: w_end, range_secs: self.range as f64 / 1000.0, t };
            if !window.is_empty()
                && let Some(v) = kernel(self.name, window, &w, &scalar)
            {
                points.push(Point { t, v });
            }
            match t.checked_add(self.step) {
                Some(next) => t = next,
                None => break,
            }
        }
        points
    }
}
