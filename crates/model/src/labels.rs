//! Label sets: the identity of a time series and the context of a signal.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// Whether `name` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && bytes.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Whether `name` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && bytes.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// A set of label pairs, kept sorted by name so that equal sets compare, hash and print
/// identically. Empty values are dropped, as in Prometheus (an empty label is no label).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "std::collections::BTreeMap<String, String>", into = "std::collections::BTreeMap<String, String>")]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// The empty set.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Builds a set from pairs in any order; a later duplicate name wins.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut labels = Self::new();
        for (k, v) in pairs {
            labels.set(k, v);
        }
        labels
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name)).ok().map(|i| self.0[i].1.as_str())
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Sets `name` to `value`; an empty value removes the label.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(&name)) {
            Ok(i) if value.is_empty() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].1 = value,
            Err(_) if value.is_empty() => {}
            Err(i) => self.0.insert(i, (name, value)),
        }
    }

    /// Returns a copy with `name` set to `value`.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set(name, value);
        self
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name)).ok().map(|i| self.0.remove(i).1)
    }

    /// A copy without the metric name, as PromQL functions and operators return.
    pub fn without_metric_name(&self) -> Self {
        Self(self.0.iter().filter(|(k, _)| k != METRIC_NAME).cloned().collect())
    }

    /// Only the labels whose names are in `names`.
    pub fn keep_only(&self, names: &[impl AsRef<str>]) -> Self {
        Self(self.0.iter().filter(|(k, _)| names.iter().any(|n| n.as_ref() == k)).cloned().collect())
    }

    /// All labels except those whose names are in `names`.
    pub fn drop_names(&self, names: &[impl AsRef<str>]) -> Self {
        Self(self.0.iter().filter(|(k, _)| !names.iter().any(|n| n.as_ref() == k)).cloned().collect())
    }

    /// Iterates over `(name, value)` in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<std::collections::BTreeMap<String, String>> for Labels {
    fn from(map: std::collections::BTreeMap<String, String>) -> Self {
        Self(map.into_iter().filter(|(_, v)| !v.is_empty()).collect())
    }
}

impl From<Labels> for std::collections::BTreeMap<String, String> {
    fn from(labels: Labels) -> Self {
        labels.0.into_iter().collect()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Labels {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Self::from_pairs(iter)
    }
}

/// Prints in PromQL's form: `name{a="b", c="d"}`, escaping quotes, backslashes and newlines.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        let rest: Vec<_> = self.0.iter().filter(|(k, _)| k != METRIC_NAME).collect();
        if rest.is_empty() && self.metric_name().is_some() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, (k, v)) in rest.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}=\"")?;
            for c in v.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sorted_and_deduplicated() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("b", "3")]);
        assert_eq!(l.iter().collect::<Vec<_>>(), vec![("a", "1"), ("b", "3")]);
    }

    #[test]
    fn empty_value_removes_label() {
        let l = Labels::from_pairs([("a", "1"), ("b", "2")]).with("a", "");
        assert_eq!(l.get("a"), None);
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn display_matches_promql() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a\"b")]);
        assert_eq!(l.to_string(), "up{job=\"a\\\"b\"}");
        assert_eq!(Labels::from_pairs([("__name__", "up")]).to_string(), "up");
        assert_eq!(Labels::new().to_string(), "{}");
    }

    proptest! {
        #[test]
        fn order_of_insertion_does_not_matter(mut pairs in proptest::collection::vec(("[a-z]{1,3}", "[a-z]{1,3}"), 0..8)) {
            pairs.sort();
            pairs.dedup_by(|a, b| a.0 == b.0);
            let forward = Labels::from_pairs(pairs.clone());
            let backward = Labels::from_pairs(pairs.into_iter().rev());
            prop_assert_eq!(forward, backward);
        }
    }
}
