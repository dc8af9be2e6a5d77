//! Function calls: dispatch, and the functions over instant vectors and scalars.

use std::cmp::Ordering;
use std::collections::HashSet;

use model::{Labels, METRIC_NAME, Millis};
use promql_parser::parser::{Call, Expr};

use super::EvalError;
use super::eval::{Evaluator, unwrap_parens};
use super::selector::LabelMatchers;
use super::value::{Sample, Val};

/// Go's `math.Max`: NaN wins, and +0 beats −0.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() { b } else { a }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: NaN wins, and −0 beats +0.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() { a } else { b }
    } else if a < b {
        a
    } else {
        b
    }
}

fn string_arg(ev: &Evaluator, e: &Expr, t: Millis) -> Result<String, EvalError> {
    match ev.eval(e, t)? {
        Val::Str(s) => Ok(s),
        other => Err(EvalError::Type(format!("expected string, got {}", other.type_name()))),
    }
}

fn arg<'a>(args: &[&'a Expr], i: usize, name: &str) -> Result<&'a Expr, EvalError> {
    args.get(i).copied().ok_or_else(|| EvalError::Type(format!("missing argument {} to {name}()", i + 1)))
}

/// Applies `f` to every value; the result loses its metric name.
fn map_values(vec: Vec<Sample>, f: impl Fn(f64) -> f64) -> Val {
    Val::Vector(vec.into_iter().map(|s| Sample::new(s.labels, f(s.v), true)).collect())
}

fn math_fn(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "sgn" => |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

pub(crate) fn call(ev: &Evaluator, c: &Call, t: Millis) -> Result<Val, EvalError> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|a| unwrap_parens(a)).collect();
    if let Some(f) = math_fn(name) {
        return Ok(map_values(ev.eval_vector(arg(&args, 0, name)?, t)?, f));
    }
    if let Some(v) = super::range_fns::call(ev, name, &args, t)? {
        return Ok(v);
    }
    if let Some(v) = super::histogram::call(ev, name, &args, t)? {
        return Ok(v);
    }
    if let Some(f) = date_fn(name) {
        return Ok(match args.first() {
            None => Val::Vector(vec![Sample::new(Labels::new(), f((t as f64 / 1000.0) as i64), false)]),
            Some(a) => map_values(ev.eval_vector(a, t)?, |v| f(v as i64)),
        });
    }
    let secs = |ms: i64| ms as f64 / 1000.0;
    match name {
        "time" => Ok(Val::Scalar(secs(t))),
        "pi" => Ok(Val::Scalar(std::f64::consts::PI)),
        "start" => Ok(Val::Scalar(secs(ev.bounds.start))),
        "end" => Ok(Val::Scalar(secs(ev.bounds.end))),
        "range" => Ok(Val::Scalar(secs(ev.bounds.end.saturating_sub(ev.bounds.start)))),
        "step" => Ok(Val::Scalar(secs(ev.step))),
        "vector" => Ok(Val::Vector(vec![Sample::new(Labels::new(), ev.eval_scalar(arg(&args, 0, name)?, t)?, false)])),
        "scalar" => {
            let vec = ev.eval_vector(arg(&args, 0, name)?, t)?;
            Ok(Val::Scalar(if vec.len() == 1 { vec[0].v } else { f64::NAN }))
        }
        "min_of" | "max_of" => {
            let a = ev.eval_scalar(arg(&args, 0, name)?, t)?;
            let b = ev.eval_scalar(arg(&args, 1, name)?, t)?;
            Ok(Val::Scalar(if name == "min_of" { go_min(a, b) } else { go_max(a, b) }))
        }
        "timestamp" => timestamp(ev, arg(&args, 0, name)?, t),
        "absent" => {
            let a = arg(&args, 0, name)?;
            if !ev.eval_vector(a, t)?.is_empty() {
                return Ok(Val::Vector(Vec::new()));
            }
            let labels = match a {
                Expr::VectorSelector(vs) => LabelMatchers::from_selector(vs).absent_labels(),
                Expr::MatrixSelector(ms) => LabelMatchers::from_selector(&ms.vs).absent_labels(),
                _ => Labels::new(),
            };
            Ok(Val::Vector(vec![Sample::new(labels, 1.0, false)]))
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let vec = ev.eval_vector(arg(&args, 0, name)?, t)?;
            let (lo, hi) = match name {
                "clamp" => (ev.eval_scalar(arg(&args, 1, name)?, t)?, ev.eval_scalar(arg(&args, 2, name)?, t)?),
                "clamp_min" => (ev.eval_scalar(arg(&args, 1, name)?, t)?, f64::INFINITY),
                _ => (f64::NEG_INFINITY, ev.eval_scalar(arg(&args, 1, name)?, t)?),
            };
            if hi < lo {
                return Ok(Val::Vector(Vec::new()));
            }
            Ok(map_values(vec, |v| go_max(lo, go_min(hi, v))))
        }
        "round" => {
            let vec = ev.eval_vector(arg(&args, 0, name)?, t)?;
            let to_nearest = match args.get(1) {
                Some(a) => ev.eval_scalar(a, t)?,
                None => 1.0,
            };
            let inv = 1.0 / to_nearest;
            Ok(map_values(vec, |v| (v * inv + 0.5).floor() / inv))
        }
        "sort" | "sort_desc" => {
            let mut vec = ev.eval_vector(arg(&args, 0, name)?, t)?;
            let desc = name == "sort_desc";
            vec.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ if desc => b.v.partial_cmp(&a.v).unwrap_or(Ordering::Equal),
                _ => a.v.partial_cmp(&b.v).unwrap_or(Ordering::Equal),
            });
            Ok(Val::Vector(vec))
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let mut vec = ev.eval_vector(arg(&args, 0, name)?, t)?;
            let labels =
                args.get(1..).unwrap_or(&[]).iter().map(|a| string_arg(ev, a, t)).collect::<Result<Vec<_>, _>>()?;
            let desc = name == "sort_by_label_desc";
            vec.sort_by(|a, b| {
                let ord = compare_by_labels(&a.labels, &b.labels, &labels);
                if desc { ord.reverse() } else { ord }
            });
            Ok(Val::Vector(vec))
        }
        "label_replace" => label_replace(ev, &args, t),
        "label_join" => label_join(ev, &args, t),
        "start_timestamp" => {
            // Start timestamps are not stored, so like Prometheus without them: no result.
            ev.eval_vector(arg(&args, 0, name)?, t)?;
            Ok(Val::Vector(Vec::new()))
        }
        other => Err(EvalError::Unsupported(format!("function {other}()"))),
    }
}

/// `timestamp(v)`: the sample time for plain selectors, else the evaluation time.
fn timestamp(ev: &Evaluator, a: &Expr, t: Millis) -> Result<Val, EvalError> {
    let out = match a {
        Expr::VectorSelector(vs) => ev
            .instant_selector_with_times(vs, t)?
            .into_iter()
            .map(|(s, st)| Sample::new(s.labels, st as f64 / 1000.0, true))
            .collect(),
        _ => ev.eval_vector(a, t)?.into_iter().map(|s| Sample::new(s.labels, t as f64 / 1000.0, true)).collect(),
    };
    Ok(Val::Vector(out))
}

/// Natural order of two strings, as the `natsort` package Prometheus uses: runs of digits
/// compare as numbers. Returns whether `a` comes first.
fn natural_less(a: &str, b: &str) -> bool {
    fn chunks(s: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[i - 1].is_ascii_digit() {
                out.push(&s[start..i]);
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (i, x) in ca.iter().enumerate() {
        let Some(y) = cb.get(i) else { return false };
        let last_a = i + 1 == ca.len();
        let last_b = i + 1 == cb.len();
        if let (Ok(nx), Ok(ny)) = (x.parse::<i64>(), y.parse::<i64>())
            && x.bytes().all(|c| c.is_ascii_digit())
            && y.bytes().all(|c| c.is_ascii_digit())
        {
            if nx == ny {
                if last_a {
                    return true;
                }
                if last_b {
                    return false;
                }
                continue;
            }
            return nx < ny;
        }
        if x == y {
            if last_a {
                return true;
            }
            if last_b {
                return false;
            }
            continue;
        }
        return x < y;
    }
    false
}

fn compare_by_labels(a: &Labels, b: &Labels, names: &[String]) -> Ordering {
    for n in names {
        let (x, y) = (a.get(n).unwrap_or(""), b.get(n).unwrap_or(""));
        if x == y {
            continue;
        }
        return if natural_less(x, y) { Ordering::Less } else { Ordering::Greater };
    }
    a.cmp(b)
}

fn check_label_name(name: &str, what: &str) -> Result<(), EvalError> {
    if name.is_empty() {
        return Err(EvalError::InvalidArgument(format!("invalid {what}: {name}")));
    }
    Ok(())
}

/// The longest label value `label_replace` and `label_join` may make (1 MiB, the most a
/// scrape may be configured to accept): a 128 KiB expression repeating a source label
/// thousands of times would otherwise build values of gigabytes.
pub(crate) const MAX_MADE_LABEL_BYTES: usize = 1 << 20;

fn too_long(function: &str, bytes: usize) -> EvalError {
    EvalError::InvalidArgument(format!(
        "{function}() could make a label value of up to {bytes} bytes; the limit is {MAX_MADE_LABEL_BYTES}"
    ))
}

/// Sets `dst` on every sample; `__name__` is kept when it is the destination.
fn relabel(
    vec: Vec<Sample>,
    dst: &str,
    value: impl Fn(&Labels) -> Result<Option<String>, EvalError>,
) -> Result<Val, EvalError> {
    let mut out = Vec::with_capacity(vec.len());
    for mut s in vec {
        if let Some(v) = value(&s.labels)? {
            std::sync::Arc::make_mut(&mut s.labels).set(dst.to_string(), v);
            if dst == METRIC_NAME {
                s.drop_name = false;
            }
        }
        out.push(s);
    }
    let mut seen = HashSet::new();
    if !out.iter().all(|s| seen.insert(&s.labels)) {
        return Err(EvalError::DuplicateLabelset);
    }
    Ok(Val::Vector(out))
}

fn label_replace(ev: &Evaluator, args: &[&Expr], t: Millis) -> Result<Val, EvalError> {
    let name = "label_replace";
    let dst = string_arg(ev, arg(args, 1, name)?, t)?;
    let repl = string_arg(ev, arg(args, 2, name)?, t)?;
    let src = string_arg(ev, arg(args, 3, name)?, t)?;
    let re_str = string_arg(ev, arg(args, 4, name)?, t)?;
    let re = ev.full_match_regex(&re_str).ok_or_else(|| {
        EvalError::InvalidArgument(format!("invalid regular expression in label_replace(): {re_str}"))
    })?;
    check_label_name(&dst, "destination label name in label_replace()")?;
    let vec = ev.eval_vector(arg(args, 0, name)?, t)?;
    // Each `$` of the replacement expands to at most the whole source value.
    let references = repl.matches('$').count();
    relabel(vec, &dst, |labels| {
        let src_val = labels.get(&src).unwrap_or("");
        let most = repl.len().saturating_add(references.saturating_mul(src_val.len()));
        if most > MAX_MADE_LABEL_BYTES {
            return Err(too_long(name, most));
        }
        Ok(re.captures(src_val).map(|caps| {
            let mut out = String::new();
            caps.expand(&repl, &mut out);
            out
        }))
    })
}

fn label_join(ev: &Evaluator, args: &[&Expr], t: Millis) -> Result<Val, EvalError> {
    let name = "label_join";
    let dst = string_arg(ev, arg(args, 1, name)?, t)?;
    let sep = string_arg(ev, arg(args, 2, name)?, t)?;
    let srcs = args.get(3..).unwrap_or(&[]).iter().map(|a| string_arg(ev, a, t)).collect::<Result<Vec<_>, _>>()?;
    for s in &srcs {
        check_label_name(s, "source label name in label_join()")?;
    }
    check_label_name(&dst, "destination label name in label_join()")?;
    let vec = ev.eval_vector(arg(args, 0, name)?, t)?;
    relabel(vec, &dst, |labels| {
        let values: Vec<&str> = srcs.iter().map(|s| labels.get(s).unwrap_or("")).collect();
        let bytes = values.iter().map(|v| v.len()).sum::<usize>() + sep.len() * values.len().saturating_sub(1);
        if bytes > MAX_MADE_LABEL_BYTES {
            return Err(too_long(name, bytes));
        }
        Ok(Some(values.join(&sep)))
    })
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Date functions of a Unix time in seconds (UTC).
fn date_fn(name: &str) -> Option<fn(i64) -> f64> {
    fn parts(secs: i64) -> (i64, i64, i64, i64) {
        let days = secs.div_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        (y, m, d, secs.rem_euclid(86_400))
    }
    Some(match name {
        "year" => |s| parts(s).0 as f64,
        "month" => |s| parts(s).1 as f64,
        "day_of_month" => |s| parts(s).2 as f64,
        "day_of_week" => |s| (s.div_euclid(86_400) + 4).rem_euclid(7) as f64,
        "day_of_year" => |s| {
            let (y, m, d, _) = parts(s);
            ((1..m).map(|mm| days_in_month(y, mm)).sum::<i64>() + d) as f64
        },
        "days_in_month" => |s| {
            let (y, m, _, _) = parts(s);
            days_in_month(y, m) as f64
        },
        "hour" => |s| (parts(s).3 / 3600) as f64,
        "minute" => |s| (parts(s).3 % 3600 / 60) as f64,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        assert!(natural_less("a2", "a10"));
        assert!(!natural_less("a10", "a2"));
        assert!(natural_less("abc", "abd"));
        assert!(natural_less("1", "01a"));
    }

    #[test]
    fn dates() {
        let f = |n: &str, s: i64| date_fn(n).map(|f| f(s));
        // 2024-02-29T13:45:00Z
        let t = 1_709_214_300;
        assert_eq!(f("year", t), Some(2024.0));
        assert_eq!(f("month", t), Some(2.0));
        assert_eq!(f("day_of_month", t), Some(29.0));
        assert_eq!(f("days_in_month", t), Some(29.0));
        assert_eq!(f("day_of_year", t), Some(60.0));
        assert_eq!(f("day_of_week", t), Some(4.0));
        assert_eq!(f("hour", t), Some(13.0));
        assert_eq!(f("minute", t), Some(45.0));
        assert_eq!(f("year", -1), Some(1969.0));
    }

    #[test]
    fn go_min_max_propagate_nan() {
        assert!(go_max(1.0, f64::NAN).is_nan());
        assert!(go_min(f64::NAN, 1.0).is_nan());
        assert_eq!(go_max(1.0, 2.0), 2.0);
        assert_eq!(go_min(1.0, 2.0), 1.0);
    }
}
