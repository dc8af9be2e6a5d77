//! The evaluator: walks the expression at one evaluation time, step by step for range
//! queries, over data read once per selector.

use std::cell::Cell;
use std::collections::HashMap;

use model::{Labels, Millis, SeriesData, SeriesReader, is_stale};
use promql_parser::parser::{Expr, MatrixSelector, SubqueryExpr, VectorSelector};
use std::sync::Arc;

use super::prepare::{self, Bounds, Stored, at_ms, duration_ms, offset_ms};
use super::value::{Sample, Series, SharedLabels, Val, cleanup_matrix, cleanup_vector};
use super::{Engine, EvalError, Value, VectorSample};

/// A range-vector argument of a function, with the window it was taken over.
pub(crate) struct RangeArg {
    pub series: Vec<Series>,
    /// Exclusive start of the window (eval time − offset − range).
    pub start: Millis,
    /// Inclusive end of the window (eval time − offset).
    pub end: Millis,
    /// The range in milliseconds.
    pub range: i64,
}

/// The state of one query.
pub(crate) struct Evaluator {
    pub lookback: i64,
    pub subquery_step: i64,
    pub bounds: Bounds,
    /// The query's step (0 for instant queries), for `step()`.
    pub step: i64,
    data: HashMap<usize, Vec<Stored>>,
    /// What subqueries may still produce (steps plus samples) before the query is refused.
    budget: Cell<usize>,
    max_samples: usize,
    /// `label_replace`'s compiled expressions, by pattern: compiled once per query, not at
    /// every step.
    regexes: std::cell::RefCell<HashMap<String, regex::Regex>>,
    /// Calls computed for every step of the range query being evaluated (see
    /// [`super::series_major`]), by address.
    precomputed: std::cell::RefCell<HashMap<usize, super::series_major::Computed>>,
    interrupt: Option<Arc<std::sync::atomic::AtomicBool>>,
}

/// The first multiple of `step` strictly after `start`: where a subquery's evaluations begin.
pub(crate) fn first_step_after(start: Millis, step: i64) -> Millis {
    let ts = start.div_euclid(step).saturating_mul(step);
    if ts <= start { ts.saturating_add(step) } else { ts }
}

/// Unwraps parentheses, as Prometheus does for function arguments.
pub(crate) fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

impl Evaluator {
    pub fn prepare(
        engine: &Engine,
        reader: &dyn SeriesReader,
        expr: &Expr,
        start: Millis,
        end: Millis,
        step: i64,
    ) -> Result<Self, EvalError> {
        let bounds = Bounds { start, end };
        let interrupt = engine.interrupt.clone();
        let data = prepare::load(
            reader,
            expr,
            bounds,
            engine.lookback_ms,
            engine.subquery_step_ms,
            engine.max_samples,
            interrupt.as_deref(),
        )?;
        Ok(Self {
            lookback: engine.lookback_ms,
            subquery_step: engine.subquery_step_ms,
            bounds,
            step,
            data,
            budget: Cell::new(engine.max_samples),
            max_samples: engine.max_samples,
            regexes: Default::default(),
            precomputed: Default::default(),
            interrupt,
        })
    }

    /// Fails with [`EvalError::Interrupted`] once the query's owner has asked it to stop.
    /// Cheap (one atomic load): called at every node and step, and for every series in the
    /// series-by-series loops.
    pub(crate) fn check_interrupt(&self) -> Result<(), EvalError> {
        match &self.interrupt {
            Some(flag) if flag.load(std::sync::atomic::Ordering::Relaxed) => Err(EvalError::Interrupted),
            _ => Ok(()),
        }
    }

    /// The anchored, dot-matches-newline regular expression for `pattern`, compiled once
    /// per query; `None` if it does not compile.
    pub(crate) fn full_match_regex(&self, pattern: &str) -> Option<regex::Regex> {
        if let Some(re) = self.regexes.borrow().get(pattern) {
            return Some(re.clone());
        }
        let re = regex::Regex::new(&format!("^(?s:{pattern})$")).ok()?;
        self.regexes.borrow_mut().insert(pattern.to_owned(), re.clone());
        Some(re)
    }

    /// A subquery's step: its own, or the engine's default.
    pub(crate) fn step_of(&self, sq: &SubqueryExpr) -> i64 {
        sq.step.map(duration_ms).unwrap_or(self.subquery_step).max(1)
    }

    /// Spends the budget for evaluating at every `step` from `from` to `to`.
    pub(crate) fn charge_steps(&self, from: Millis, to: Millis, step: i64) -> Result<(), EvalError> {
        let steps = to.saturating_sub(from) / step.max(1);
        self.charge(usize::try_from(steps).unwrap_or(usize::MAX).saturating_add(1))
    }

    /// What is left of the query's sample budget.
    pub(crate) fn budget_left(&self) -> usize {
        self.budget.get()
    }

    /// The query's whole sample budget.
    pub(crate) fn max_samples(&self) -> usize {
        self.max_samples
    }

    /// Spends `n` units of the subquery budget.
    pub(crate) fn charge(&self, n: usize) -> Result<(), EvalError> {
        match self.budget.get().checked_sub(n) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => Err(EvalError::TooManySamples { limit: self.max_samples }),
        }
    }

    pub fn run_instant(&self, expr: &Expr, t: Millis) -> Result<Value, EvalError> {
        Ok(match self.eval(expr, t)? {
            Val::Scalar(v) => Value::Scalar(v),
            Val::Str(s) => Value::String(s),
            Val::Vector(v) => Value::Vector(
                cleanup_vector(v)?
                    .into_iter()
                    .map(|s| VectorSample { labels: Arc::unwrap_or_clone(s.labels), v: s.v })
                    .collect(),
            ),
            Val::Matrix(m) => {
                let mut out: Vec<SeriesData> = cleanup_matrix(m)?
                    .into_iter()
                    .map(|s| SeriesData { labels: Arc::unwrap_or_clone(s.labels), samples: s.points })
                    .collect();
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Matrix(out)
            }
        })
    }

    pub fn run_range(&self, expr: &Expr, start: Millis, end: Millis, step: i64) -> Result<Value, EvalError> {
        if let Some(series) = super::series_major::range_query(self, expr, start, end, step)? {
            return Ok(Value::Matrix(series));
        }
        let computed = super::series_major::precompute(self, expr, start, end, step)?;
        let outer = self.precomputed.replace(computed);
        let result = self.step_by_step(expr, start, end, step);
        self.precomputed.replace(outer);
        result
    }

    fn step_by_step(&self, expr: &Expr, start: Millis, end: Millis, step: i64) -> Result<Value, EvalError> {
        let mut index: super::LabelMap<SharedLabels, usize> = super::LabelMap::default();
        let mut out: Vec<SeriesData> = Vec::new();
        let mut t = start;
        while t <= end {
            let samples = match self.eval(expr, t)? {
                Val::Scalar(v) => vec![Sample::new(Labels::new(), v, false)],
                Val::Vector(v) => cleanup_vector(v)?,
                other => return Err(EvalError::InvalidRangeQueryType(other.type_name())),
            };
            // The result's points are held until the end: they count against the budget.
            self.charge(samples.len())?;
            for s in samples {
                let point = model::Sample { t, v: s.v };
                match index.get(&s.labels) {
                    Some(&i) => out[i].samples.push(point),
                    None => {
                        index.insert(s.labels.clone(), out.len());
                        out.push(SeriesData { labels: Arc::unwrap_or_clone(s.labels), samples: vec![point] });
                    }
                }
            }
            match t.checked_add(step) {
                Some(next) => t = next,
                None => break,
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(Value::Matrix(out))
    }

    /// Evaluates `expr` at time `t`.
    pub fn eval(&self, expr: &Expr, t: Millis) -> Result<Val, EvalError> {
        self.check_interrupt()?;
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Val::Str(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Val::Scalar(v) => Ok(Val::Scalar(-v)),
                Val::Vector(vec) => {
                    Ok(Val::Vector(vec.into_iter().map(|s| Sample::new(s.labels, -s.v, true)).collect()))
                }
                other => Err(EvalError::Type(format!("unary minus on {}", other.type_name()))),
            },
            Expr::Binary(b) => super::binary::eval(self, b, t),
            Expr::Aggregate(a) => super::aggregate::eval(self, a, t),
            Expr::Call(c) => match self.precomputed_at(c, t) {
                Some(vector) => Ok(Val::Vector(vector)),
                None => super::functions::call(self, c, t),
            },
            Expr::VectorSelector(vs) => match self.precomputed_at(vs, t) {
                Some(vector) => Ok(Val::Vector(vector)),
                None => Ok(Val::Vector(self.instant_selector(vs, t)?)),
            },
            Expr::MatrixSelector(ms) => Ok(Val::Matrix(self.matrix_selector(ms, t)?.series)),
            Expr::Subquery(sq) => Ok(Val::Matrix(self.subquery(sq, t)?.series)),
            Expr::Extension(e) => Err(EvalError::Unsupported(format!("extension expression {e:?}"))),
        }
    }

    /// `node`'s vector at `t` if it was computed for every step beforehand.
    fn precomputed_at<T>(&self, node: &T, t: Millis) -> Option<Vec<Sample>> {
        self.precomputed.borrow().get(&super::series_major::key(node)).map(|pre| pre.at(t))
    }

    /// Evaluates `expr`, which must yield an instant vector.
    pub fn eval_vector(&self, expr: &Expr, t: Millis) -> Result<Vec<Sample>, EvalError> {
        self.eval(expr, t)?.into_vector()
    }

    /// Evaluates `expr`, which must yield a scalar.
    pub fn eval_scalar(&self, expr: &Expr, t: Millis) -> Result<f64, EvalError> {
        self.eval(expr, t)?.into_scalar()
    }

    pub(crate) fn series_of(&self, vs: &VectorSelector) -> &[Stored] {
        self.data.get(&prepare::key(vs)).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The time a selector is evaluated at: `@` wins over the evaluation time, then the
    /// offset applies.
    fn reference_time(&self, vs: &VectorSelector, t: Millis) -> Millis {
        at_ms(&vs.at, self.bounds).unwrap_or(t).saturating_sub(offset_ms(&vs.offset))
    }

    /// The latest non-stale sample at or before the reference time within the lookback,
    /// per series, with the sample's own timestamp.
    pub fn instant_selector_with_times(
        &self,
        vs: &VectorSelector,
        t: Millis,
    ) -> Result<Vec<(Sample, Millis)>, EvalError> {
        let reference = self.reference_time(vs, t);
        let floor = reference.saturating_sub(self.lookback);
        let mut out = Vec::new();
        for s in self.series_of(vs) {
            let idx = s.after(reference, 1);
            let Some(p) = idx.checked_sub(1).and_then(|i| s.samples.get(i)) else {
                continue;
            };
            if p.t <= floor || is_stale(p.v) {
                continue;
            }
            out.push((Sample::new(s.labels.clone(), p.v, false), p.t));
        }
        Ok(out)
    }

    pub fn instant_selector(&self, vs: &VectorSelector, t: Millis) -> Result<Vec<Sample>, EvalError> {
        Ok(self.instant_selector_with_times(vs, t)?.into_iter().map(|(s, _)| s).collect())
    }

    /// The samples of each series in `(ref − range, ref]`, stale markers dropped.
    pub fn matrix_selector(&self, ms: &MatrixSelector, t: Millis) -> Result<RangeArg, EvalError> {
        let end = self.reference_time(&ms.vs, t);
        let range = duration_ms(ms.range);
        let start = end.saturating_sub(range);
        let mut series = Vec::new();
        for s in self.series_of(&ms.vs) {
            let lo = s.after(start, 0);
            let hi = s.after(end, 1);
            let points: Vec<model::Sample> =
                s.samples.get(lo..hi).unwrap_or(&[]).iter().filter(|p| !is_stale(p.v)).copied().collect();
            if !points.is_empty() {
                series.push(Series { labels: s.labels.clone(), points, drop_name: false });
            }
        }
        Ok(RangeArg { series, start, end, range })
    }

    /// Evaluates the inner expression at every step aligned to the subquery's step within
    /// `(ref − range, ref]`.
    pub fn subquery(&self, sq: &SubqueryExpr, t: Millis) -> Result<RangeArg, EvalError> {
        let end = at_ms(&sq.at, self.bounds).unwrap_or(t).saturating_sub(offset_ms(&sq.offset));
        let range = duration_ms(sq.range);
        let step = self.step_of(sq);
        let start = end.saturating_sub(range);
        let mut ts = first_step_after(start, step);
        if ts <= end {
            self.charge_steps(ts, end, step)?;
        }
        let mut index: super::LabelMap<SharedLabels, usize> = super::LabelMap::default();
        let mut series: Vec<Series> = Vec::new();
        while ts <= end {
            let vec = match self.eval(&sq.expr, ts)? {
                Val::Vector(v) => v,
                Val::Scalar(v) => vec![Sample::new(Labels::new(), v, false)],
                other => {
                    return Err(EvalError::Type(format!("subquery over {}", other.type_name())));
                }
            };
            self.charge(vec.len())?;
            for s in vec {
                let point = model::Sample { t: ts, v: s.v };
                match index.get(&s.labels) {
                    Some(&i) => {
                        let ser = &mut series[i];
                        if ser.points.last().is_some_and(|p| p.t == ts) {
                            return Err(EvalError::DuplicateLabelset);
                        }
                        ser.points.push(point);
                    }
                    None => {
                        index.insert(s.labels.clone(), series.len());
                        series.push(Series { labels: s.labels, points: vec![point], drop_name: s.drop_name });
                    }
                }
            }
            match ts.checked_add(step) {
                Some(n) => ts = n,
                None => break,
            }
        }
        Ok(RangeArg { series, start, end, range })
    }

    /// Evaluates a function's range-vector argument (a matrix selector or a subquery).
    pub fn range_arg(&self, expr: &Expr, t: Millis) -> Result<RangeArg, EvalError> {
        match unwrap_parens(expr) {
            Expr::MatrixSelector(ms) => self.matrix_selector(ms, t),
            Expr::Subquery(sq) => self.subquery(sq, t),
            other => Err(EvalError::Type(format!("expected range vector, got {}", other.value_type()))),
        }
    }
}
