//! Classic (`le`-bucket) histograms: `histogram_quantile`, `histogram_quantiles`,
//! `histogram_fraction`. The functions that only read native histograms
//! (`histogram_count`, `histogram_sum`, …) fail with [`EvalError::Unsupported`].

use model::{Labels, Millis};
use promql_parser::parser::Expr;

use super::EvalError;
use super::eval::Evaluator;
use super::value::{Sample, Val};

const BUCKET_LABEL: &str = "le";

/// One cumulative bucket: observations `<= upper`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    pub upper: f64,
    pub count: f64,
}

/// Prometheus' `almost.Equal`: relative difference below `epsilon`.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

fn sort_and_coalesce(buckets: &mut Vec<Bucket>) {
    buckets.sort_by(|a, b| a.upper.partial_cmp(&b.upper).unwrap_or(std::cmp::Ordering::Equal));
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.drain(..) {
        match out.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => out.push(b),
        }
    }
    *buckets = out;
}

/// Removes decreases between successive buckets (and ignores tiny float noise); returns
/// whether monotonicity had to be forced.
fn ensure_monotonic(buckets: &mut [Bucket]) -> bool {
    let mut forced = false;
    let Some(first) = buckets.first() else {
        return false;
    };
    let mut prev = first.count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, 1e-12) {
            b.count = prev;
            continue;
        }
        if curr < prev {
            b.count = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    forced
}

/// The `q`-quantile of classic buckets, interpolating linearly within a bucket.
///
/// NaN for `q = NaN`, fewer than two buckets, no observations or no `+Inf` bucket; −Inf/+Inf
/// for `q` below 0/above 1.
pub(crate) fn bucket_quantile(q: f64, mut buckets: Vec<Bucket>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    sort_and_coalesce(&mut buckets);
    if buckets.last().is_none_or(|b| b.upper != f64::INFINITY) {
        return f64::NAN;
    }
    ensure_monotonic(&mut buckets);
    let n = buckets.len();
    if n < 2 {
        return f64::NAN;
    }
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = buckets[..n - 1].iter().position(|x| x.count >= rank).unwrap_or(n - 1);
    if b == n - 1 {
        return buckets[n - 2].upper;
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return buckets[0].upper;
    }
    let mut start = 0.0;
    let end = buckets[b].upper;
    let mut count = buckets[b].count;
    if b > 0 {
        start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    start + (end - start) * (rank / count)
}

/// The fraction of observations between `lower` and `upper`, interpolated linearly.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, mut buckets: Vec<Bucket>) -> f64 {
    sort_and_coalesce(&mut buckets);
    let Some(last) = buckets.last() else {
        return f64::NAN;
    };
    if last.upper != f64::INFINITY {
        return f64::NAN;
    }
    let count = last.count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut lower_bound = if buckets[0].upper <= 0.0 { f64::NEG_INFINITY } else { 0.0 };
    for (i, b) in buckets.iter().enumerate() {
        if i > 0 {
            lower_bound = buckets[i - 1].upper;
        }
        let upper_bound = b.upper;
        let interpolate = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                return b.count;
            }
            rank + (b.count - rank) * (v - lower_bound) / (upper_bound - lower_bound)
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

/// Groups bucket samples by their labels without `le`, in order of first appearance.
/// Samples whose `le` is not a number are skipped.
fn group_buckets(vec: Vec<Sample>) -> Vec<(Labels, Vec<Bucket>)> {
    let mut index: super::LabelMap<Labels, usize> = super::LabelMap::default();
    let mut groups: Vec<(Labels, Vec<Bucket>)> = Vec::new();
    for s in vec {
        let Some(upper) = s.labels.get(BUCKET_LABEL).and_then(parse_go_float) else {
            continue;
        };
        let mut key = std::sync::Arc::unwrap_or_clone(s.labels);
        key.remove(BUCKET_LABEL);
        let bucket = Bucket { upper, count: s.v };
        match index.get(&key) {
            Some(&i) => groups[i].1.push(bucket),
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, vec![bucket]));
            }
        }
    }
    groups
}

/// Parses a float like Go's `strconv.ParseFloat` does for bucket bounds.
fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim_start_matches('+');
    match t.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => {
            return Some(if s.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY });
        }
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if s.is_empty() || s.contains('_') {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Formats a quantile label value like Prometheus' `FormatOpenMetricsFloat`.
fn openmetrics_float(f: f64) -> String {
    if f == 1.0 {
        return "1.0".into();
    }
    if f == 0.0 {
        return "0.0".into();
    }
    if f == -1.0 {
        return "-1.0".into();
    }
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    // Go's %g with the shortest digits: exponent form below 1e-4 and from 1e6 on.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let s = if !(-4..6).contains(&exp) {
        format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    } else {
        format!("{f}")
    };
    if s.contains(['e', '.']) { s } else { s + ".0" }
}

pub(crate) fn call(ev: &Evaluator, name: &str, args: &[&Expr], t: Millis) -> Result<Option<Val>, EvalError> {
    let arg = |i: usize| {
        args.get(i).copied().ok_or_else(|| EvalError::Type(format!("missing argument {} to {name}()", i + 1)))
    };
    let out = match name {
        "histogram_quantile" => {
            let q = ev.eval_scalar(arg(0)?, t)?;
            let vec = ev.eval_vector(arg(1)?, t)?;
            group_buckets(vec)
                .into_iter()
                .map(|(labels, buckets)| Sample::new(labels, bucket_quantile(q, buckets), true))
                .collect()
        }
        "histogram_quantiles" => {
            let vec = ev.eval_vector(arg(0)?, t)?;
            let label = match ev.eval(arg(1)?, t)? {
                Val::Str(s) => s,
                other => {
                    return Err(EvalError::Type(format!("expected string, got {}", other.type_name())));
                }
            };
            let qs =
                args.get(2..).unwrap_or(&[]).iter().map(|a| ev.eval_scalar(a, t)).collect::<Result<Vec<_>, _>>()?;
            let groups = group_buckets(vec);
            let mut out = Vec::new();
            for q in qs {
                for (labels, buckets) in &groups {
                    let l = labels.clone().with(label.clone(), openmetrics_float(q));
                    out.push(Sample::new(l, bucket_quantile(q, buckets.clone()), true));
                }
            }
            out
        }
        "histogram_fraction" => {
            let lower = ev.eval_scalar(arg(0)?, t)?;
            let upper = ev.eval_scalar(arg(1)?, t)?;
            let vec = ev.eval_vector(arg(2)?, t)?;
            group_buckets(vec)
                .into_iter()
                .map(|(labels, buckets)| Sample::new(labels, bucket_fraction(lower, upper, buckets), true))
                .collect()
        }
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev" | "histogram_stdvar" => {
            // These only read native histograms, which the series store cannot hold.
            return Err(EvalError::Unsupported(format!("{name}(): native histograms are not supported")));
        }
        _ => return Ok(None),
    };
    Ok(Some(Val::Vector(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs.iter().map(|&(upper, count)| Bucket { upper, count }).collect()
    }

    #[test]
    fn interpolates_within_bucket() {
        let b = buckets(&[(0.1, 10.0), (0.5, 20.0), (1.0, 40.0), (f64::INFINITY, 40.0)]);
        // rank 20 is the top of the 0.5 bucket.
        assert_eq!(bucket_quantile(0.5, b.clone()), 0.5);
        // rank 30: halfway through (0.5, 1].
        assert!((bucket_quantile(0.75, b.clone()) - 0.75).abs() < 1e-12);
        // rank 2.5 within the first bucket, which starts at 0.
        assert!((bucket_quantile(0.0625, b) - 0.025).abs() < 1e-12);
    }

    #[test]
    fn edge_cases() {
        let no_inf = buckets(&[(0.1, 1.0), (1.0, 2.0)]);
        assert!(bucket_quantile(0.5, no_inf).is_nan());
        let empty = buckets(&[(1.0, 0.0), (f64::INFINITY, 0.0)]);
        assert!(bucket_quantile(0.5, empty).is_nan());
        let one = buckets(&[(f64::INFINITY, 3.0)]);
        assert!(bucket_quantile(0.5, one).is_nan());
        let b = buckets(&[(1.0, 1.0), (f64::INFINITY, 2.0)]);
        assert_eq!(bucket_quantile(-0.1, b.clone()), f64::NEG_INFINITY);
        assert_eq!(bucket_quantile(1.1, b.clone()), f64::INFINITY);
        assert!(bucket_quantile(f64::NAN, b.clone()).is_nan());
        // A rank in the +Inf bucket answers the highest finite bound.
        assert_eq!(bucket_quantile(0.99, b), 1.0);
        // A first bucket with a non-positive bound answers that bound.
        let neg = buckets(&[(-1.0, 5.0), (0.0, 6.0), (f64::INFINITY, 10.0)]);
        assert_eq!(bucket_quantile(0.1, neg), -1.0);
    }

    #[test]
    fn forces_monotonicity() {
        // The 1.0 bucket dips below the 0.5 bucket; it is raised to 20.
        let mut b = buckets(&[(0.5, 20.0), (1.0, 15.0), (f64::INFINITY, 40.0)]);
        assert!(ensure_monotonic(&mut b));
        assert_eq!(b[1].count, 20.0);
        let raw = buckets(&[(0.5, 20.0), (1.0, 15.0), (2.0, 30.0), (f64::INFINITY, 40.0)]);
        // rank 25: with the fix, halfway through (1, 2] (20 → 30).
        assert!((bucket_quantile(0.625, raw) - 1.5).abs() < 1e-12);
    }

    #[test]
    fn duplicate_bounds_are_summed_and_order_does_not_matter() {
        let b = buckets(&[(f64::INFINITY, 10.0), (1.0, 2.0), (1.0, 3.0)]);
        assert_eq!(bucket_quantile(0.5, b), 1.0);
    }

    #[test]
    fn label_formatting() {
        assert_eq!(openmetrics_float(0.5), "0.5");
        assert_eq!(openmetrics_float(1.0), "1.0");
        assert_eq!(openmetrics_float(2.0), "2.0");
        assert_eq!(openmetrics_float(0.00001), "1e-05");
        assert_eq!(openmetrics_float(1e6), "1e+06");
        assert_eq!(openmetrics_float(123456.0), "123456.0");
    }
}
