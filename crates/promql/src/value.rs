//! Values as they flow between nodes during evaluation.
//!
//! Unlike the public [`super::Value`], samples carry a `drop_name` flag: Prometheus 3 removes
//! `__name__` only at the end of evaluation ("delayed name removal"), so that functions like
//! `label_replace` can still read or keep it.

use std::sync::Arc;

use model::{Labels, METRIC_NAME, Sample as Point};

use super::EvalError;

/// Label sets are shared between steps and nodes; most operations pass them through.
pub(crate) type SharedLabels = Arc<Labels>;

/// One element of an instant vector during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub labels: SharedLabels,
    pub v: f64,
    /// Whether `__name__` is to be removed from the final result.
    pub drop_name: bool,
}

impl Sample {
    pub fn new(labels: impl Into<SharedLabels>, v: f64, drop_name: bool) -> Self {
        Self { labels: labels.into(), v, drop_name }
    }
}

/// One series of a range vector during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub labels: SharedLabels,
    pub points: Vec<Point>,
    pub drop_name: bool,
}

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Scalar(f64),
    Str(String),
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
}

impl Val {
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Scalar(_) => "scalar",
            Val::Str(_) => "string",
            Val::Vector(_) => "instant vector",
            Val::Matrix(_) => "range vector",
        }
    }

    pub fn into_vector(self) -> Result<Vec<Sample>, EvalError> {
        match self {
            Val::Vector(v) => Ok(v),
            other => Err(EvalError::Type(format!("expected instant vector, got {}", other.type_name()))),
        }
    }

    pub fn into_scalar(self) -> Result<f64, EvalError> {
        match self {
            Val::Scalar(v) => Ok(v),
            other => Err(EvalError::Type(format!("expected scalar, got {}", other.type_name()))),
        }
    }
}

const RESERVED: [&str; 3] = [METRIC_NAME, "__type__", "__unit__"];

/// The labels Prometheus removes when an operation changes a metric's meaning.
pub(crate) fn drop_reserved(labels: &Labels) -> Labels {
    labels.drop_names(&RESERVED)
}

/// [`drop_reserved`] on shared labels, sharing them unchanged when there is nothing to drop.
pub(crate) fn drop_reserved_shared(labels: SharedLabels) -> SharedLabels {
    if RESERVED.iter().any(|n| labels.get(n).is_some()) { Arc::new(drop_reserved(&labels)) } else { labels }
}

/// Removes `__name__` where flagged and fails on duplicate label sets, like Prometheus does
/// at the end of an instant evaluation.
pub(crate) fn cleanup_vector(vec: Vec<Sample>) -> Result<Vec<Sample>, EvalError> {
    let out: Vec<Sample> = vec
        .into_iter()
        .map(|mut s| {
            if s.drop_name {
                s.labels = drop_reserved_shared(s.labels);
                s.drop_name = false;
            }
            s
        })
        .collect();
    if has_duplicates(out.iter().map(|s| &*s.labels)) {
        return Err(EvalError::DuplicateLabelset);
    }
    Ok(out)
}

/// Whether any two label sets are equal.
pub(crate) fn has_duplicates<'a>(labels: impl Iterator<Item = &'a Labels>) -> bool {
    let mut seen = std::collections::HashSet::with_hasher(foldhash::fast::RandomState::default());
    for l in labels {
        if !seen.insert(l) {
            return true;
        }
    }
    false
}

/// Removes `__name__` where flagged and merges series that end up with the same labels;
/// overlapping timestamps are an error.
pub(crate) fn cleanup_matrix(mat: Vec<Series>) -> Result<Vec<Series>, EvalError> {
    let mut index: super::LabelMap<SharedLabels, usize> = super::LabelMap::default();
    let mut out: Vec<Series> = Vec::with_capacity(mat.len());
    for mut s in mat {
        if s.drop_name {
            s.labels = drop_reserved_shared(s.labels);
            s.drop_name = false;
        }
        match index.get(&s.labels) {
            Some(&i) => {
                let base = &mut out[i];
                base.points.extend(s.points);
                base.points.sort_by_key(|p| p.t);
                if base.points.windows(2).any(|w| w[0].t == w[1].t) {
                    return Err(EvalError::DuplicateLabelset);
                }
            }
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}

/// Formats labels the way Prometheus' Go code prints them: `{__name__="x", a="b"}`.
pub(crate) fn go_labels(labels: &Labels) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(k);
        s.push('=');
        s.push_str(&format!("{v:?}"));
    }
    s.push('}');
    s
}

/// Formats a float like Go's `strconv.FormatFloat(f, 'f', -1, 64)`, as Prometheus writes
/// sample values (`NaN`, `+Inf`, `-Inf`, shortest round-trip digits otherwise).
pub fn format_float(f: f64) -> String {
    PromFloat(f).to_string()
}

/// A float as Prometheus writes it (see [`format_float`]), for writing without a `String`.
#[derive(Debug, Clone, Copy)]
pub struct PromFloat(pub f64);

impl std::fmt::Display for PromFloat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.0;
        if v.is_nan() {
            f.write_str("NaN")
        } else if v == f64::INFINITY {
            f.write_str("+Inf")
        } else if v == f64::NEG_INFINITY {
            f.write_str("-Inf")
        } else {
            write!(f, "{v}")
        }
    }
}

/// Kahan-Neumaier summation step, as Prometheus' `kahansum.Inc`.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Prometheus' `quantile` over plain values (sorts them).
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| cmp_nan_first(*a, *b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    let lo = values.get(lower as usize).copied().unwrap_or(f64::NAN);
    let hi = values.get(upper as usize).copied().unwrap_or(f64::NAN);
    lo * (1.0 - weight) + hi * weight
}

/// Total order on floats with NaN first (NaNs equal to each other).
pub(crate) fn cmp_nan_first(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}
