//! Limits on what an expression may be before it is parsed: its length and how deeply it
//! nests. Every PromQL text Autonomic parses (query API, rule files, anomaly watches,
//! playbook `verify:` conditions) goes through [`check`] first.
//!
//! Why before parsing: the parser and every walker of the syntax tree (the evaluator, the
//! data loader, dropping the tree) recurse once per level, so a 12 KB query of 2,500 `+`
//! terms overflowed a 2 MiB thread stack and aborted the process. The parser also checks
//! every binary node against its whole left operand, so a chain of n operators costs n²
//! (16,000 terms took 2.3 s). Bounding the nesting from the tokens, in one linear pass,
//! keeps both the stack and the parse time small whatever the text is.

use lrpar::{Lexeme, Lexer};
use promql_parser::parser::token::{
    T_LEFT_BRACE, T_LEFT_BRACKET, T_LEFT_PAREN, T_RIGHT_BRACE, T_RIGHT_BRACKET, T_RIGHT_PAREN, TokenType,
};

/// The longest expression accepted, in bytes (128 KiB: far beyond any dashboard or rule,
/// short enough that parsing it takes milliseconds).
pub const MAX_QUERY_BYTES: usize = 128 * 1024;

/// The deepest nesting accepted: an upper bound on the depth of the syntax tree, counting
/// each bracket group, each operator and each range or subquery on the way from the root
/// to a leaf. A chain `a + b + c` at one level counts one per operator, so at most 128
/// operators may be chained without parentheses. Fixed, not configurable: it is what keeps
/// evaluation within the threads' stacks. Measured in a debug build, parsing and evaluating
/// costs up to 21 KB of stack per level (nested calls; 3–6 KB for operators and
/// aggregations), so 128 levels need about 2.6 MiB: the threads that evaluate queries and
/// rules are given 8 MiB or more.
pub const MAX_QUERY_DEPTH: usize = 128;

/// The stack size the threads that evaluate PromQL need, with room to spare, at
/// [`MAX_QUERY_DEPTH`].
pub const EVAL_STACK_BYTES: usize = 8 * 1024 * 1024;

/// Why an expression was refused before parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Longer than [`MAX_QUERY_BYTES`].
    #[error("the expression is {bytes} bytes long; the limit is {limit} bytes")]
    TooLong {
        /// Its length.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// Nests deeper than [`MAX_QUERY_DEPTH`].
    #[error(
        "the expression nests at least {depth} levels deep (brackets, operators, ranges); the limit is {limit}: \
         split long chains of operators with parentheses or into recording rules"
    )]
    TooDeep {
        /// The depth found (it stops counting a little past the limit).
        depth: usize,
        /// The limit.
        limit: usize,
    },
}

/// Refuses an expression that is too long or nests too deeply; anything else (including
/// what does not lex) is left to the parser to judge.
pub fn check(query: &str) -> Result<(), LimitError> {
    check_with(query, MAX_QUERY_BYTES, MAX_QUERY_DEPTH)
}

pub(crate) fn check_with(query: &str, max_bytes: usize, max_depth: usize) -> Result<(), LimitError> {
    if query.len() > max_bytes {
        return Err(LimitError::TooLong { bytes: query.len(), limit: max_bytes });
    }
    let Ok(lexer) = promql_parser::parser::lexer(query) else {
        return Ok(());
    };
    let tokens = lexer.iter().map_while(Result::ok).map(|lexeme| lexeme.tok_id());
    match nesting_bound(tokens, max_depth) {
        Some(depth) => Err(LimitError::TooDeep { depth, limit: max_depth }),
        None => Ok(()),
    }
}

/// One bracket group being scanned: the operators directly in it, and the deepest bound of
/// the groups closed inside it.
#[derive(Default, Clone, Copy)]
struct Group {
    operators: usize,
    deepest_inner: usize,
}

impl Group {
    /// An upper bound on the depth of the subtree this group's tokens form: a path from its
    /// top passes at most every operator at this level, then one inner group, then a leaf.
    fn bound(self) -> usize {
        self.operators.saturating_add(self.deepest_inner).saturating_add(1)
    }
}

/// Returns `Some(bound)` as soon as the upper bound on the tree's depth exceeds `limit`.
///
/// Every node of the tree comes from a token: a binary or unary operator, a bracket group
/// (parentheses, a call's or an aggregation's arguments), a range or subquery (`[`), or a
/// leaf. Operators and `[` count at the level they appear in; each closed group adds its
/// own bound to the level around it. Label lists (`by (…)`, `{…}`) count too, which only
/// overestimates.
fn nesting_bound(tokens: impl Iterator<Item = u16>, limit: usize) -> Option<usize> {
    let mut open: Vec<Group> = vec![Group::default()];
    for id in tokens {
        match id {
            T_LEFT_PAREN | T_LEFT_BRACKET | T_LEFT_BRACE => {
                if id == T_LEFT_BRACKET {
                    count_operator(&mut open);
                }
                open.push(Group::default());
            }
            T_RIGHT_PAREN | T_RIGHT_BRACKET | T_RIGHT_BRACE if open.len() > 1 => {
                let closed = open.pop().unwrap_or_default();
                if let Some(parent) = open.last_mut() {
                    parent.deepest_inner = parent.deepest_inner.max(closed.bound());
                }
            }
            _ if TokenType::new(id).is_operator() => count_operator(&mut open),
            _ => continue,
        }
        // The root's bound if the open groups closed now; it only grows, so the scan stops
        // as soon as it passes the limit (the stack is then at most `limit` deep, and this
        // fold costs at most `limit` per token).
        let root = open.iter().rev().fold(0usize, |inner, g| {
            Group { operators: g.operators, deepest_inner: inner.max(g.deepest_inner) }.bound()
        });
        if root > limit {
            return Some(root);
        }
    }
    None
}

fn count_operator(open: &mut [Group]) {
    if let Some(group) = open.last_mut() {
        group.operators = group.operators.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The true depth of a parsed tree, walked without recursion.
    fn tree_depth(expr: &promql_parser::parser::Expr) -> usize {
        use promql_parser::parser::Expr;
        let mut deepest = 0;
        let mut todo = vec![(expr, 1usize)];
        while let Some((e, d)) = todo.pop() {
            deepest = deepest.max(d);
            match e {
                Expr::Aggregate(a) => {
                    todo.push((&a.expr, d + 1));
                    if let Some(p) = &a.param {
                        todo.push((p, d + 1));
                    }
                }
                Expr::Unary(u) => todo.push((&u.expr, d + 1)),
                Expr::Binary(b) => {
                    todo.push((&b.lhs, d + 1));
                    todo.push((&b.rhs, d + 1));
                }
                Expr::Paren(p) => todo.push((&p.expr, d + 1)),
                Expr::Subquery(s) => todo.push((&s.expr, d + 1)),
                Expr::Call(c) => todo.extend(c.args.args.iter().map(|a| (a.as_ref(), d + 1))),
                Expr::MatrixSelector(_) => deepest = deepest.max(d + 1),
                _ => {}
            }
        }
        deepest
    }

    fn bound(q: &str) -> usize {
        let lexer = promql_parser::parser::lexer(q).expect("lexes");
        let tokens: Vec<u16> = lexer.iter().map_while(Result::ok).map(|l| l.tok_id()).collect();
        // With no limit the scan runs to the end; the bound is then the root group's.
        (1..).find(|limit| nesting_bound(tokens.iter().copied(), *limit).is_none()).unwrap_or(0)
    }

    #[test]
    fn the_bound_is_never_below_the_trees_depth() {
        for q in [
            "up",
            "up + up + up",
            "(((up))) + up + up + up + up",
            "up + (up * (up - (up / up)))",
            "-(-(-up))",
            "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m])) / ignoring(code) group_left sum(rate(x[5m]))",
            "max_over_time((up + up)[5m:1m] offset 1m)",
            "topk(3, abs(up) > bool 1) or on(job) vector(1)",
            "histogram_quantile(0.9, sum by (le) (rate(b[5m]))) * 2 ^ 3 ^ 4",
        ] {
            let expr = promql_parser::parser::parse(q).expect("parses");
            assert!(bound(q) >= tree_depth(&expr), "{q}: bound {} < depth {}", bound(q), tree_depth(&expr));
        }
    }

    #[test]
    fn long_chains_and_deep_nesting_are_refused_before_parsing() {
        let chain = vec!["up"; 2_500].join(" + ");
        assert!(matches!(check(&chain), Err(LimitError::TooDeep { limit: MAX_QUERY_DEPTH, .. })));
        let nested = format!("{}up{}", "abs(".repeat(5_000), ")".repeat(5_000));
        assert!(matches!(check(&nested), Err(LimitError::TooDeep { .. })));
        let parens = format!("{}up{}", "(".repeat(50_000), ")".repeat(50_000));
        assert!(matches!(check(&parens), Err(LimitError::TooDeep { .. })));
        let unary = format!("{}up", "-".repeat(10_000));
        assert!(matches!(check(&unary), Err(LimitError::TooDeep { .. })));
        // Nesting hidden behind an early deep group still counts.
        let late_chain = format!("((((up)))) {}", " + up".repeat(200));
        assert!(matches!(check(&late_chain), Err(LimitError::TooDeep { .. })));
    }

    #[test]
    fn ordinary_and_wide_expressions_pass() {
        assert_eq!(check("sum by (job) (rate(http_requests_total[5m])) > 1"), Ok(()));
        // Wide is fine when it is not deep: 400 terms in groups of 20.
        let groups: Vec<String> = (0..20).map(|_| format!("({})", vec!["up"; 20].join(" + "))).collect();
        assert_eq!(check(&groups.join(" + ")), Ok(()));
        let chain = vec!["up"; MAX_QUERY_DEPTH - 1].join(" or ");
        assert_eq!(check(&chain), Ok(()));
    }

    #[test]
    fn length_is_limited() {
        let long = format!("up{{job=\"{}\"}}", "a".repeat(MAX_QUERY_BYTES));
        assert!(matches!(check(&long), Err(LimitError::TooLong { limit: MAX_QUERY_BYTES, .. })));
    }

    #[test]
    fn unbalanced_or_unlexable_text_is_left_to_the_parser() {
        assert_eq!(check(")))) up"), Ok(()));
        assert_eq!(check("up{"), Ok(()));
        assert_eq!(check("\"unterminated"), Ok(()));
    }
}
