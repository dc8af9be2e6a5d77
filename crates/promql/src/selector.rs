//! Label matchers of a vector selector, usable as a [`SeriesSelector`] by any series store.

use std::fmt;

use model::{Labels, METRIC_NAME, SeriesSelector};
use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::VectorSelector;
use regex::Regex;

/// How one label is matched.
#[derive(Debug, Clone)]
enum Kind {
    Equal(String),
    NotEqual(String),
    Regex(Regex),
    NotRegex(Regex),
}

#[derive(Debug, Clone)]
struct LabelMatcher {
    name: String,
    kind: Kind,
}

impl LabelMatcher {
    fn from_parser(m: &Matcher) -> Self {
        let kind = match &m.op {
            MatchOp::Equal => Kind::Equal(m.value.clone()),
            MatchOp::NotEqual => Kind::NotEqual(m.value.clone()),
            MatchOp::Re(re) => Kind::Regex(anchored(&m.value, re)),
            MatchOp::NotRe(re) => Kind::NotRegex(anchored(&m.value, re)),
        };
        Self { name: m.name.clone(), kind }
    }

    fn matches(&self, value: &str) -> bool {
        match &self.kind {
            Kind::Equal(v) => v == value,
            Kind::NotEqual(v) => v != value,
            Kind::Regex(re) => re.is_match(value),
            Kind::NotRegex(re) => !re.is_match(value),
        }
    }
}

/// Compiles `value` fully anchored with `.` matching newlines, as Prometheus does
/// (`^(?s:value)$`); falls back to the parser's own (anchored) regex when the pattern only
/// compiles after the parser's Go-compatibility rewriting.
fn anchored(value: &str, parsed: &Regex) -> Regex {
    Regex::new(&format!("^(?s:{value})$")).unwrap_or_else(|_| parsed.clone())
}

/// The label matchers of a PromQL vector selector (`name{a="b", c=~"d.*"}`), including the
/// metric name and `or` alternatives. Regexes are fully anchored like Prometheus'.
#[derive(Debug, Clone)]
pub struct LabelMatchers {
    name: Option<String>,
    all: Vec<LabelMatcher>,
    any_of: Vec<Vec<LabelMatcher>>,
}

impl LabelMatchers {
    /// The matchers of `selector`.
    pub fn from_selector(selector: &VectorSelector) -> Self {
        Self {
            name: selector.name.clone(),
            all: selector.matchers.matchers.iter().map(LabelMatcher::from_parser).collect(),
            any_of: selector
                .matchers
                .or_matchers
                .iter()
                .map(|group| group.iter().map(LabelMatcher::from_parser).collect())
                .collect(),
        }
    }

    /// Whether a series with these labels is selected (a missing label reads as empty).
    pub fn matches(&self, labels: &Labels) -> bool {
        if let Some(name) = &self.name
            && labels.metric_name() != Some(name.as_str())
        {
            return false;
        }
        let get = |n: &str| labels.get(n).unwrap_or("");
        if !self.all.iter().all(|m| m.matches(get(&m.name))) {
            return false;
        }
        self.any_of.is_empty() || self.any_of.iter().any(|g| g.iter().all(|m| m.matches(get(&m.name))))
    }

    /// The labels `absent()` reports for this selector: every label fixed by exactly one
    /// equality matcher (other than `__name__`).
    pub(crate) fn absent_labels(&self) -> Labels {
        let mut out = Labels::new();
        let mut seen: Vec<&str> = Vec::new();
        let matchers = self.all.iter().chain(self.any_of.iter().flatten());
        for m in matchers {
            if m.name == METRIC_NAME {
                continue;
            }
            match &m.kind {
                Kind::Equal(v) if !seen.contains(&m.name.as_str()) => {
                    out.set(m.name.clone(), v.clone());
                    seen.push(&m.name);
                }
                _ => {
                    out.remove(&m.name);
                }
            }
        }
        out
    }
}

impl From<&VectorSelector> for LabelMatchers {
    fn from(selector: &VectorSelector) -> Self {
        Self::from_selector(selector)
    }
}

impl SeriesSelector for LabelMatchers {
    fn metric_name(&self) -> Option<&str> {
        if let Some(n) = &self.name {
            return Some(n);
        }
        self.all.iter().find_map(|m| match &m.kind {
            Kind::Equal(v) if m.name == METRIC_NAME => Some(v.as_str()),
            _ => None,
        })
    }

    fn matches(&self, labels: &Labels) -> bool {
        LabelMatchers::matches(self, labels)
    }

    fn indexed_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.all.iter().map(|m| m.name.as_str()).collect();
        if self.name.is_some() {
            names.push(METRIC_NAME);
        }
        names.sort_unstable();
        names.dedup();
        names
    }

    fn value_matches(&self, name: &str, value: &str) -> bool {
        if name == METRIC_NAME
            && let Some(n) = &self.name
            && n != value
        {
            return false;
        }
        self.all.iter().filter(|m| m.name == name).all(|m| m.matches(value))
    }
}

impl fmt::Display for LabelMatchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = |m: &LabelMatcher| match &m.kind {
            Kind::Equal(v) => format!("{}={v:?}", m.name),
            Kind::NotEqual(v) => format!("{}!={v:?}", m.name),
            Kind::Regex(re) => format!("{}=~{:?}", m.name, re.as_str()),
            Kind::NotRegex(re) => format!("{}!~{:?}", m.name, re.as_str()),
        };
        if let Some(n) = &self.name {
            f.write_str(n)?;
        }
        let mut parts: Vec<String> = self.all.iter().map(one).collect();
        if !self.any_of.is_empty() {
            let groups: Vec<String> =
                self.any_of.iter().map(|g| g.iter().map(one).collect::<Vec<_>>().join(", ")).collect();
            parts.push(groups.join(" or "));
        }
        write!(f, "{{{}}}", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use promql_parser::parser::Expr;

    fn selector(q: &str) -> LabelMatchers {
        match promql_parser::parser::parse(q) {
            Ok(Expr::VectorSelector(vs)) => LabelMatchers::from_selector(&vs),
            other => panic!("not a selector: {other:?}"),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn all_matcher_kinds() {
        let s = selector(r#"up{job="api", env!="dev", zone=~"eu-.*", host!~"canary.*"}"#);
        assert_eq!(SeriesSelector::metric_name(&s), Some("up"));
        let good = labels(&[("__name__", "up"), ("job", "api"), ("zone", "eu-1"), ("host", "a")]);
        assert!(s.matches(&good));
        assert!(!s.matches(&good.clone().with("env", "dev")));
        assert!(!s.matches(&good.clone().with("zone", "us-1")));
        assert!(!s.matches(&good.clone().with("host", "canary-2")));
        assert!(!s.matches(&good.clone().with("__name__", "down")));
    }

    #[test]
    fn regexes_are_anchored_and_dot_matches_newline() {
        let s = selector(r#"{a=~"b.c"}"#);
        assert!(s.matches(&labels(&[("a", "b\nc")])));
        assert!(!s.matches(&labels(&[("a", "xb.c")])));
        assert!(!s.matches(&labels(&[("a", "b.cx")])));
    }

    #[test]
    fn missing_label_reads_as_empty() {
        let s = selector(r#"{a="", b="x"}"#);
        assert!(s.matches(&labels(&[("b", "x")])));
        assert!(!s.matches(&labels(&[("a", "1"), ("b", "x")])));
        let s = selector(r#"{a!~".+", b="x"}"#);
        assert!(s.matches(&labels(&[("b", "x")])));
    }

    #[test]
    fn name_matcher_in_braces() {
        let s = selector(r#"{__name__="up", job="a"}"#);
        assert_eq!(SeriesSelector::metric_name(&s), Some("up"));
        assert!(s.matches(&labels(&[("__name__", "up"), ("job", "a")])));
    }

    #[test]
    fn absent_labels_keep_unique_equalities() {
        let s = selector(r#"x{job="a", job="b", foo="bar", baz=~"q"}"#);
        assert_eq!(s.absent_labels(), labels(&[("foo", "bar")]));
    }
}
