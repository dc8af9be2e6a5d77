//! Aggregation operators: `sum`, `avg`, `min`, `max`, `count`, `group`, `stddev`, `stdvar`,
//! `quantile`, `count_values`, `topk`, `bottomk`, `limitk`, `limit_ratio`.

use model::{Labels, METRIC_NAME, Millis};
use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_LIMIT_RATIO, T_LIMITK, T_MAX, T_MIN, T_QUANTILE, T_STDDEV,
    T_STDVAR, T_SUM, T_TOPK, TokenId,
};
use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::EvalError;
use super::eval::{Evaluator, unwrap_parens};
use super::hash::labels_hash;
use super::value::{Sample, Val, format_float, kahan_inc, quantile};

/// `by (...)` or `without (...)`.
struct Grouping {
    without: bool,
    labels: Vec<String>,
}

impl Grouping {
    fn of(a: &AggregateExpr) -> Self {
        let (without, mut labels) = match &a.modifier {
            Some(LabelModifier::Include(l)) => (false, l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => (true, l.labels.clone()),
            None => (false, Vec::new()),
        };
        labels.sort();
        labels.dedup();
        Self { without, labels }
    }

    /// The group a series belongs to, which is also the group's output labels.
    fn key(&self, labels: &Labels) -> Labels {
        if self.without {
            let mut l = labels.drop_names(&self.labels);
            l.remove(METRIC_NAME);
            l
        } else {
            labels.keep_only(&self.labels)
        }
    }
}

pub(crate) fn eval(ev: &Evaluator, a: &AggregateExpr, t: Millis) -> Result<Val, EvalError> {
    let op = a.op.id();
    let mut grouping = Grouping::of(a);
    if op == T_COUNT_VALUES {
        let label = match a.param.as_deref().map(|p| ev.eval(p, t)).transpose()? {
            Some(Val::Str(s)) => s,
            _ => {
                return Err(EvalError::Type("count_values needs a string parameter".into()));
            }
        };
        if label.is_empty() {
            return Err(EvalError::InvalidArgument(format!("invalid label name {label:?}")));
        }
        if !grouping.without {
            grouping.labels.push(label.clone());
            grouping.labels.sort();
        }
        let input = ev.eval_vector(&a.expr, t)?;
        return Ok(Val::Vector(count_values(input, &grouping, &label)));
    }
    let param = match a.param.as_deref() {
        Some(p) => Some(ev.eval_scalar(unwrap_parens(p), t)?),
        None => None,
    };
    let input = ev.eval_vector(&a.expr, t)?;
    match op {
        T_TOPK | T_BOTTOMK | T_LIMITK | T_LIMIT_RATIO => k_aggregation(op, param.unwrap_or(f64::NAN), input, &grouping),
        _ => simple_aggregation(op, param.unwrap_or(f64::NAN), input, &grouping),
    }
}

/// Running state of one output group.
struct Group {
    labels: Labels,
    value: f64,
    mean: f64,
    kahan_c: f64,
    count: f64,
    incremental_mean: bool,
    values: Vec<f64>,
    drop_name: bool,
}

fn simple_aggregation(op: TokenId, q: f64, input: Vec<Sample>, grouping: &Grouping) -> Result<Val, EvalError> {
    let mut index: super::LabelMap<Labels, usize> = super::LabelMap::default();
    let mut groups: Vec<Group> = Vec::new();
    for s in input {
        let key = grouping.key(&s.labels);
        let f = s.v;
        let Some(&gi) = index.get(&key) else {
            let value = match op {
                T_STDVAR | T_STDDEV if f.is_nan() || f.is_infinite() => f64::NAN,
                T_STDVAR | T_STDDEV => 0.0,
                T_GROUP => 1.0,
                _ => f,
            };
            index.insert(key.clone(), groups.len());
            groups.push(Group {
                labels: key,
                value,
                mean: f,
                kahan_c: 0.0,
                count: 1.0,
                incremental_mean: false,
                values: if op == T_QUANTILE { vec![f] } else { Vec::new() },
                drop_name: s.drop_name,
            });
            continue;
        };
        let g = &mut groups[gi];
        g.drop_name |= s.drop_name;
        match op {
            T_SUM => (g.value, g.kahan_c) = kahan_inc(f, g.value, g.kahan_c),
            T_AVG => {
                g.count += 1.0;
                if !g.incremental_mean {
                    let (nv, nc) = kahan_inc(f, g.value, g.kahan_c);
                    if !nv.is_infinite() {
                        (g.value, g.kahan_c) = (nv, nc);
                        continue;
                    }
                    // The sum would overflow: switch to an incremental mean.
                    g.incremental_mean = true;
                    g.mean = g.value / (g.count - 1.0);
                    g.kahan_c /= g.count - 1.0;
                }
                let q = (g.count - 1.0) / g.count;
                (g.mean, g.kahan_c) = kahan_inc(f / g.count, q * g.mean, q * g.kahan_c);
            }
            T_MAX => {
                if g.value < f || g.value.is_nan() {
                    g.value = f;
                }
            }
            T_MIN => {
                if g.value > f || g.value.is_nan() {
                    g.value = f;
                }
            }
            T_COUNT => g.count += 1.0,
            T_GROUP => {}
            T_STDVAR | T_STDDEV => {
                g.count += 1.0;
                let delta = f - g.mean;
                g.mean += delta / g.count;
                g.value += delta * (f - g.mean);
            }
            T_QUANTILE => g.values.push(f),
            other => {
                return Err(EvalError::Unsupported(format!(
                    "aggregation {}",
                    promql_parser::parser::token::TokenType::new(other)
                )));
            }
        }
    }
    let out = groups
        .into_iter()
        .map(|mut g| {
            let v = match op {
                T_AVG if g.incremental_mean => g.mean + g.kahan_c,
                T_AVG => g.value / g.count + g.kahan_c / g.count,
                T_COUNT => g.count,
                T_STDVAR => g.value / g.count,
                T_STDDEV => (g.value / g.count).sqrt(),
                T_QUANTILE => quantile(q, &mut g.values),
                T_SUM => g.value + g.kahan_c,
                _ => g.value,
            };
            Sample::new(g.labels, v, g.drop_name)
        })
        .collect();
    Ok(Val::Vector(out))
}

fn count_values(input: Vec<Sample>, grouping: &Grouping, label: &str) -> Vec<Sample> {
    let mut index: super::LabelMap<Labels, usize> = super::LabelMap::default();
    let mut out: Vec<Sample> = Vec::new();
    for s in input {
        let labels = Labels::clone(&s.labels).with(label, format_float(s.v));
        let key = grouping.key(&labels);
        match index.get(&key) {
            Some(&i) => out[i].v += 1.0,
            None => {
                index.insert(key.clone(), out.len());
                out.push(Sample::new(key, 1.0, false));
            }
        }
    }
    out
}

/// A binary heap laid out and maintained exactly like Go's `container/heap`, so that ties
/// come out in the same order as in Prometheus.
struct GoHeap {
    items: Vec<Sample>,
    /// `true`: NaN and small values on top (topk, limitk, limit_ratio); `false`: NaN and
    /// large values on top (bottomk).
    min_heap: bool,
}

impl GoHeap {
    fn less(&self, i: usize, j: usize) -> bool {
        let (a, b) = (self.items[i].v, self.items[j].v);
        if a.is_nan() {
            return true;
        }
        if self.min_heap { a < b } else { a > b }
    }

    fn up(&mut self, mut j: usize) {
        while j > 0 {
            let i = (j - 1) / 2;
            if !self.less(j, i) {
                break;
            }
            self.items.swap(i, j);
            j = i;
        }
    }

    fn down(&mut self, i0: usize) -> bool {
        let n = self.items.len();
        let mut i = i0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            if j1 + 1 < n && self.less(j1 + 1, j1) {
                j = j1 + 1;
            }
            if !self.less(j, i) {
                break;
            }
            self.items.swap(i, j);
            i = j;
        }
        i > i0
    }

    fn push(&mut self, s: Sample) {
        self.items.push(s);
        self.up(self.items.len() - 1);
    }

    fn fix_top(&mut self) {
        if !self.down(0) {
            self.up(0);
        }
    }

    /// The items sorted like Go's `sort.Sort(sort.Reverse(heap))`.
    fn into_reverse_sorted(mut self) -> Vec<Sample> {
        let n = self.items.len();
        if n <= 12 {
            // Go sorts short slices with a (stable) insertion sort.
            for i in 1..n {
                let mut j = i;
                while j > 0 && self.less(j - 1, j) {
                    self.items.swap(j, j - 1);
                    j -= 1;
                }
            }
            return self.items;
        }
        let min_heap = self.min_heap;
        self.items.sort_by(|a, b| {
            let key = |s: &Sample| if min_heap { -s.v } else { s.v };
            match (a.v.is_nan(), b.v.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ => key(a).partial_cmp(&key(b)).unwrap_or(std::cmp::Ordering::Equal),
            }
        });
        self.items
    }
}

fn check_k(f: f64) -> Result<(), EvalError> {
    if f.is_nan() {
        return Err(EvalError::InvalidArgument("Parameter value is NaN".into()));
    }
    if f <= i64::MIN as f64 {
        return Err(EvalError::InvalidArgument(format!("Scalar value {f} underflows int64")));
    }
    if f >= i64::MAX as f64 {
        return Err(EvalError::InvalidArgument(format!("Scalar value {f} overflows int64")));
    }
    Ok(())
}

fn ratio_sample(ratio: f64, labels: &Labels) -> bool {
    let offset = labels_hash(labels) as f64 / u64::MAX as f64;
    (ratio >= 0.0 && offset < ratio) || (ratio < 0.0 && offset >= 1.0 + ratio)
}

fn k_aggregation(op: TokenId, param: f64, input: Vec<Sample>, grouping: &Grouping) -> Result<Val, EvalError> {
    let mut ratio = 0.0;
    let mut k = 0usize;
    if op == T_LIMIT_RATIO {
        if param == 0.0 {
            return Ok(Val::Vector(Vec::new()));
        }
        if param.is_nan() {
            return Err(EvalError::InvalidArgument("Ratio value is NaN".into()));
        }
        ratio = param.clamp(-1.0, 1.0);
    } else {
        if param < 1.0 {
            return Ok(Val::Vector(Vec::new()));
        }
        check_k(param)?;
        // Saturating float-to-int conversion; the range was checked above.
        k = (param as i64).clamp(0, i64::try_from(input.len()).unwrap_or(i64::MAX)) as usize;
        if k < 1 {
            return Ok(Val::Vector(Vec::new()));
        }
    }
    let mut index: super::LabelMap<Labels, usize> = super::LabelMap::default();
    let mut heaps: Vec<GoHeap> = Vec::new();
    for s in input {
        let key = grouping.key(&s.labels);
        let gi = match index.get(&key) {
            Some(&i) => i,
            None => {
                index.insert(key, heaps.len());
                heaps.push(GoHeap { items: Vec::new(), min_heap: op != T_BOTTOMK });
                heaps.len() - 1
            }
        };
        let h = &mut heaps[gi];
        match op {
            T_TOPK | T_BOTTOMK => {
                if h.items.len() < k {
                    h.push(s);
                } else {
                    let top = h.items[0].v;
                    let better = if op == T_TOPK { top < s.v } else { top > s.v };
                    if better || (top.is_nan() && !s.v.is_nan()) {
                        h.items[0] = s;
                        if k > 1 {
                            h.fix_top();
                        }
                    }
                }
            }
            T_LIMITK => {
                if h.items.len() < k {
                    h.push(s);
                }
            }
            _ => {
                if ratio_sample(ratio, &s.labels) {
                    h.push(s);
                }
            }
        }
    }
    let mut out = Vec::new();
    for h in heaps {
        match op {
            T_TOPK | T_BOTTOMK => out.extend(h.into_reverse_sorted()),
            _ => out.extend(h.items),
        }
    }
    Ok(Val::Vector(out))
}
