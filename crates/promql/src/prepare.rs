//! Before evaluation: find every selector, the time window it will be read over across all
//! steps (offsets, `@`, ranges and subqueries included), and read it once.

use std::cell::Cell;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use model::{Millis, Sample, SeriesReader};
use promql_parser::parser::{AtModifier, Expr, Offset, VectorSelector};

use super::EvalError;
use super::selector::LabelMatchers;
use super::value::SharedLabels;

/// A series as read for one selector.
pub(crate) struct Stored {
    pub labels: SharedLabels,
    pub samples: Vec<Sample>,
    /// Where the last searches ended: steps mostly move forward in time, so searching on
    /// from there avoids a cache-unfriendly binary search over the whole series.
    hints: [Cell<usize>; 2],
}

impl Stored {
    /// The index of the first sample after `t`, searching from hint slot `slot`.
    pub fn after(&self, t: Millis, slot: usize) -> usize {
        let Some(hint) = self.hints.get(slot) else {
            return self.samples.partition_point(|p| p.t <= t);
        };
        let s = &self.samples;
        let h = hint.get().min(s.len());
        let idx = if h == 0 || s[h - 1].t <= t {
            // The answer is at or after the hint: scan a few samples, then bisect the rest.
            let limit = (h + 8).min(s.len());
            let mut i = h;
            while i < limit && s[i].t <= t {
                i += 1;
            }
            if i < limit || i == s.len() { i } else { i + s[i..].partition_point(|p| p.t <= t) }
        } else {
            s[..h].partition_point(|p| p.t <= t)
        };
        hint.set(idx);
        idx
    }
}

/// Where a selector's data lives during one query: keyed by the selector node's address.
pub(crate) fn key(vs: &VectorSelector) -> usize {
    vs as *const VectorSelector as usize
}

/// Query-wide times that `@ start()` / `@ end()` refer to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub start: Millis,
    pub end: Millis,
}

pub(crate) fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(*d),
        Some(Offset::Neg(d)) => duration_ms(*d).saturating_neg(),
    }
}

fn system_time_ms(t: SystemTime) -> Millis {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => duration_ms(d),
        Err(e) => duration_ms(e.duration()).saturating_neg(),
    }
}

/// The fixed evaluation time an `@` modifier sets, if any.
pub(crate) fn at_ms(at: &Option<AtModifier>, bounds: Bounds) -> Option<Millis> {
    match at {
        None => None,
        Some(AtModifier::Start) => Some(bounds.start),
        Some(AtModifier::End) => Some(bounds.end),
        Some(AtModifier::At(t)) => Some(system_time_ms(*t)),
    }
}

/// One selector to read: its matchers and the `(from, to]` window.
struct Read<'e> {
    selector: &'e VectorSelector,
    from: Millis,
    to: Millis,
}

struct Walker<'e> {
    bounds: Bounds,
    lookback: i64,
    subquery_step: i64,
    reads: HashMap<usize, Read<'e>>,
}

impl<'e> Walker<'e> {
    fn selector(&mut self, vs: &'e VectorSelector, range: Option<i64>, lo: Millis, hi: Millis) {
        let (lo, hi) = match at_ms(&vs.at, self.bounds) {
            Some(t) => (t, t),
            None => (lo, hi),
        };
        let off = offset_ms(&vs.offset);
        let from = lo.saturating_sub(off).saturating_sub(range.unwrap_or(self.lookback));
        let to = hi.saturating_sub(off);
        let entry = self.reads.entry(key(vs)).or_insert(Read { selector: vs, from, to });
        entry.from = entry.from.min(from);
        entry.to = entry.to.max(to);
    }

    /// Visits `expr`, which is evaluated at times within `[lo, hi]`.
    fn walk(&mut self, expr: &'e Expr, lo: Millis, hi: Millis) {
        match expr {
            Expr::VectorSelector(vs) => self.selector(vs, None, lo, hi),
            Expr::MatrixSelector(ms) => self.selector(&ms.vs, Some(duration_ms(ms.range)), lo, hi),
            Expr::Subquery(sq) => {
                let (lo, hi) = match at_ms(&sq.at, self.bounds) {
                    Some(t) => (t, t),
                    None => (lo, hi),
                };
                let off = offset_ms(&sq.offset);
                let range = duration_ms(sq.range);
                // The first inner step lies after `lo - off - range`; one step more is a
                // harmless superset.
                let step = sq.step.map(duration_ms).unwrap_or(self.subquery_step).max(1);
                let inner_lo = lo.saturating_sub(off).saturating_sub(range).saturating_sub(step);
                self.walk(&sq.expr, inner_lo, hi.saturating_sub(off));
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.walk(p, lo, hi);
                }
                self.walk(&a.expr, lo, hi);
            }
            Expr::Unary(u) => self.walk(&u.expr, lo, hi),
            Expr::Binary(b) => {
                self.walk(&b.lhs, lo, hi);
                self.walk(&b.rhs, lo, hi);
            }
            Expr::Paren(p) => self.walk(&p.expr, lo, hi),
            Expr::Call(c) => {
                for a in &c.args.args {
                    self.walk(a, lo, hi);
                }
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }
}

/// Reads every selector of `expr` for a query evaluated over `[start, end]`.
pub(crate) fn load(
    reader: &dyn SeriesReader,
    expr: &Expr,
    bounds: Bounds,
    lookback: i64,
    subquery_step: i64,
    max_samples: usize,
    interrupt: Option<&std::sync::atomic::AtomicBool>,
) -> Result<HashMap<usize, Vec<Stored>>, EvalError> {
    let mut w = Walker { bounds, lookback, subquery_step, reads: HashMap::new() };
    w.walk(expr, bounds.start, bounds.end);
    let mut data = HashMap::with_capacity(w.reads.len());
    let mut total = 0usize;
    for (k, r) in w.reads {
        if interrupt.is_some_and(|flag| flag.load(std::sync::atomic::Ordering::Relaxed)) {
            return Err(EvalError::Interrupted);
        }
        let matchers = LabelMatchers::from_selector(r.selector);
        let mut series = reader.read(&matchers, r.from, r.to);
        // Defend against stores that ignore parts of the selector or return unsorted data.
        series.retain(|s| matchers.matches(&s.labels));
        for s in &mut series {
            if !s.samples.windows(2).all(|w| w[0].t < w[1].t) {
                s.samples.sort_by_key(|p| p.t);
                s.samples.dedup_by_key(|p| p.t);
            }
            total = total.saturating_add(s.samples.len());
        }
        if total > max_samples {
            return Err(EvalError::TooManySamples { limit: max_samples });
        }
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        let stored = series
            .into_iter()
            .map(|s| Stored { labels: s.labels.into(), samples: s.samples, hints: Default::default() })
            .collect();
        data.insert(k, stored);
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Labels;

    #[test]
    fn hinted_search_matches_bisection_in_any_order() {
        let samples: Vec<Sample> = (0..100).map(|i| Sample { t: i * 10, v: 0.0 }).collect();
        let s = Stored { labels: Labels::new().into(), samples: samples.clone(), hints: Default::default() };
        let times = [-5, 0, 5, 15, 95, 94, 1000, 990, 3, 500, 505, 512, 2000, 0, 989];
        for t in times {
            assert_eq!(s.after(t, 0), samples.partition_point(|p| p.t <= t), "t={t}");
        }
        let empty = Stored { labels: Labels::new().into(), samples: vec![], hints: Default::default() };
        assert_eq!(empty.after(10, 1), 0);
        assert_eq!(empty.after(10, 7), 0);
    }
}
