//! Binary operators: arithmetic, comparisons, set operators, and vector matching.

use std::collections::{HashMap, HashSet};

use model::{Labels, METRIC_NAME, Millis};
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD, T_MUL, T_NEQ, T_POW,
    T_SUB, TokenId,
};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::EvalError;
use super::eval::Evaluator;
use super::value::{Sample, Val, drop_reserved, go_labels};

/// How two vectors are matched, resolved from the expression's modifier.
#[derive(Debug, Clone)]
pub(crate) struct Matching {
    pub card: Card,
    /// `on(...)` (true) or `ignoring(...)` (false).
    pub on: bool,
    pub labels: Vec<String>,
    /// Extra labels copied from the "one" side (`group_left(...)`).
    pub include: Vec<String>,
    pub fill_lhs: Option<f64>,
    pub fill_rhs: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

impl Matching {
    fn from_expr(b: &BinaryExpr) -> Self {
        let mut m = Matching {
            card: Card::OneToOne,
            on: false,
            labels: Vec::new(),
            include: Vec::new(),
            fill_lhs: None,
            fill_rhs: None,
        };
        if let Some(modifier) = &b.modifier {
            m.card = match &modifier.card {
                VectorMatchCardinality::OneToOne => Card::OneToOne,
                VectorMatchCardinality::ManyToOne(l) => {
                    m.include = l.labels.clone();
                    Card::ManyToOne
                }
                VectorMatchCardinality::OneToMany(l) => {
                    m.include = l.labels.clone();
                    Card::OneToMany
                }
                VectorMatchCardinality::ManyToMany => Card::ManyToMany,
            };
            match &modifier.matching {
                Some(LabelModifier::Include(l)) => {
                    m.on = true;
                    m.labels = l.labels.clone();
                }
                Some(LabelModifier::Exclude(l)) => m.labels = l.labels.clone(),
                None => {}
            }
            m.fill_lhs = modifier.fill_values.lhs;
            m.fill_rhs = modifier.fill_values.rhs;
        }
        if is_set_operator(b.op.id()) {
            m.card = Card::ManyToMany;
        }
        m
    }

    /// The labels two series are matched on.
    fn signature(&self, labels: &Labels) -> Labels {
        if self.on {
            labels.keep_only(&self.labels)
        } else {
            let mut l = labels.drop_names(&self.labels);
            l.remove(METRIC_NAME);
            l
        }
    }
}

fn is_set_operator(op: TokenId) -> bool {
    matches!(op, T_LAND | T_LOR | T_LUNLESS)
}

pub(crate) fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Whether the operator changes what a metric means, so that `__name__` goes.
fn changes_metric_schema(op: TokenId) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD | T_ATAN2)
}

/// Applies `op` to two floats: the arithmetic result, or for comparisons the left value and
/// whether the comparison holds.
pub(crate) fn float_binop(op: TokenId, l: f64, r: f64) -> Result<(f64, bool), EvalError> {
    Ok(match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (l.powf(r), true),
        T_MOD => (l % r, true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        other => {
            return Err(EvalError::Type(format!(
                "operator {} not allowed between numbers",
                promql_parser::parser::token::TokenType::new(other)
            )));
        }
    })
}

pub(crate) fn eval(ev: &Evaluator, b: &BinaryExpr, t: Millis) -> Result<Val, EvalError> {
    let op = b.op.id();
    let return_bool = b.return_bool();
    let lhs = ev.eval(&b.lhs, t)?;
    let rhs = ev.eval(&b.rhs, t)?;
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => {
            let (v, keep) = float_binop(op, l, r)?;
            Ok(Val::Scalar(if is_comparison(op) { f64::from(u8::from(keep)) } else { v }))
        }
        (Val::Vector(l), Val::Scalar(r)) => vector_scalar(op, l, r, false, return_bool),
        (Val::Scalar(l), Val::Vector(r)) => vector_scalar(op, r, l, true, return_bool),
        (Val::Vector(l), Val::Vector(r)) => {
            let m = Matching::from_expr(b);
            match op {
                T_LAND => Ok(Val::Vector(and(l, r, &m))),
                T_LOR => Ok(Val::Vector(or(l, r, &m))),
                T_LUNLESS => Ok(Val::Vector(unless(l, r, &m))),
                _ => vector_vector(op, l, r, &m, return_bool).map(Val::Vector),
            }
        }
        (l, r) => Err(EvalError::Type(format!("binary expression between {} and {}", l.type_name(), r.type_name()))),
    }
}

fn vector_scalar(op: TokenId, vec: Vec<Sample>, scalar: f64, swap: bool, return_bool: bool) -> Result<Val, EvalError> {
    let mut out = Vec::with_capacity(vec.len());
    for s in vec {
        let (l, r) = if swap { (scalar, s.v) } else { (s.v, scalar) };
        let (mut v, mut keep) = float_binop(op, l, r)?;
        if is_comparison(op) && swap {
            // The vector's own value is what a filter keeps, on whichever side it is.
            v = r;
        }
        if return_bool {
            v = f64::from(u8::from(keep));
            keep = true;
        }
        if keep {
            let drop_name = s.drop_name || changes_metric_schema(op) || return_bool;
            out.push(Sample::new(s.labels, v, drop_name));
        }
    }
    Ok(Val::Vector(out))
}

fn and(lhs: Vec<Sample>, rhs: Vec<Sample>, m: &Matching) -> Vec<Sample> {
    if lhs.is_empty() || rhs.is_empty() {
        return Vec::new();
    }
    let right: HashSet<Labels> = rhs.iter().map(|s| m.signature(&s.labels)).collect();
    lhs.into_iter().filter(|s| right.contains(&m.signature(&s.labels))).collect()
}

fn or(lhs: Vec<Sample>, rhs: Vec<Sample>, m: &Matching) -> Vec<Sample> {
    if lhs.is_empty() {
        return rhs;
    }
    if rhs.is_empty() {
        return lhs;
    }
    let left: HashSet<Labels> = lhs.iter().map(|s| m.signature(&s.labels)).collect();
    let mut out = lhs;
    out.extend(rhs.into_iter().filter(|s| !left.contains(&m.signature(&s.labels))));
    out
}

fn unless(lhs: Vec<Sample>, rhs: Vec<Sample>, m: &Matching) -> Vec<Sample> {
    if lhs.is_empty() || rhs.is_empty() {
        return lhs;
    }
    let right: HashSet<Labels> = rhs.iter().map(|s| m.signature(&s.labels)).collect();
    lhs.into_iter().filter(|s| !right.contains(&m.signature(&s.labels))).collect()
}

/// The labels of a result sample of a vector-vector operation.
fn result_labels(lhs: &Labels, rhs: &Labels, op: TokenId, m: &Matching) -> Labels {
    let mut l = if changes_metric_schema(op) { drop_reserved(lhs) } else { lhs.clone() };
    if m.card == Card::OneToOne {
        l = if m.on { l.keep_only(&m.labels) } else { l.drop_names(&m.labels) };
    }
    for name in &m.include {
        match rhs.get(name) {
            Some(v) if !v.is_empty() => l.set(name.clone(), v.to_string()),
            _ => {
                l.remove(name);
            }
        }
    }
    l
}

/// Arithmetic and comparison operators between two vectors, with one-to-one or
/// many-to-one/one-to-many matching and optional fill values.
fn vector_vector(
    op: TokenId,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    m: &Matching,
    return_bool: bool,
) -> Result<Vec<Sample>, EvalError> {
    if m.card == Card::ManyToMany {
        return Err(EvalError::Type("many-to-many matching is only allowed for set operators".into()));
    }
    let no_fill = m.fill_lhs.is_none() && m.fill_rhs.is_none();
    if (lhs.is_empty() && rhs.is_empty()) || ((lhs.is_empty() || rhs.is_empty()) && no_fill) {
        return Ok(Vec::new());
    }
    // Everything below treats the right side as the "one" side; group_right swaps sides.
    let swapped = m.card == Card::OneToMany;
    // Like Prometheus, the fill values keep their positions after the swap.
    let (lhs, rhs) = if swapped { (rhs, lhs) } else { (lhs, rhs) };

    let rhs_sigs: Vec<Labels> = rhs.iter().map(|s| m.signature(&s.labels)).collect();
    let mut right: super::LabelMap<&Labels, usize> =
        super::LabelMap::with_capacity_and_hasher(rhs.len(), Default::default());
    for (i, sig) in rhs_sigs.iter().enumerate() {
        if let Some(&j) = right.get(sig) {
            let (mut a, mut b) = (go_labels(&rhs[i].labels), go_labels(&rhs[j].labels));
            if a > b {
                std::mem::swap(&mut a, &mut b);
            }
            return Err(EvalError::ManyToMany {
                group: go_labels(sig),
                side: if swapped { "left" } else { "right" },
                first: a,
                second: b,
            });
        }
        right.insert(sig, i);
    }

    let mut st = MatchState::new(op, m, swapped, return_bool);
    for ls in &lhs {
        let sig = m.signature(&ls.labels);
        match right.get(&sig) {
            Some(&j) => st.apply(ls, &rhs[j], &sig)?,
            None => {
                if let Some(fill) = m.fill_rhs {
                    let rs = Sample::new(m.signature(&ls.labels), fill, false);
                    st.apply(ls, &rs, &sig)?;
                }
            }
        }
    }
    if let Some(fill) = m.fill_lhs {
        for (rs, sig) in rhs.iter().zip(&rhs_sigs) {
            let already = if m.card == Card::OneToOne {
                st.matched_one.contains(sig)
            } else {
                st.matched_many.get(sig).is_some_and(|s| !s.is_empty())
            };
            if already {
                continue;
            }
            let ls = Sample::new(m.signature(&rs.labels), fill, false);
            st.apply(&ls, rs, sig)?;
        }
    }
    Ok(st.out)
}

/// What a vector-vector operation has produced and matched so far.
struct MatchState<'m> {
    op: TokenId,
    m: &'m Matching,
    swapped: bool,
    return_bool: bool,
    out: Vec<Sample>,
    matched_one: HashSet<Labels>,
    matched_many: HashMap<Labels, HashSet<Labels>>,
}

impl<'m> MatchState<'m> {
    fn new(op: TokenId, m: &'m Matching, swapped: bool, return_bool: bool) -> Self {
        Self { op, m, swapped, return_bool, out: Vec::new(), matched_one: HashSet::new(), matched_many: HashMap::new() }
    }

    fn apply(&mut self, ls: &Sample, rs: &Sample, sig: &Labels) -> Result<(), EvalError> {
        let (fl, fr) = if self.swapped { (rs.v, ls.v) } else { (ls.v, rs.v) };
        let (mut v, keep) = float_binop(self.op, fl, fr)?;
        if self.return_bool {
            v = f64::from(u8::from(keep));
        }
        let labels = result_labels(&ls.labels, &rs.labels, self.op, self.m);
        if self.m.card == Card::OneToOne {
            if !self.matched_one.insert(sig.clone()) {
                return Err(EvalError::OneToOneMultipleMatches);
            }
        } else if !self.matched_many.entry(sig.clone()).or_default().insert(labels.clone()) {
            return Err(EvalError::GroupingNotUnique);
        }
        if keep || self.return_bool {
            self.out.push(Sample::new(labels, v, self.return_bool));
        }
        Ok(())
    }
}
