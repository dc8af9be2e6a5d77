//! Diagnostics: what is wrong with a piece of input, and exactly where.

use std::fmt;

use serde::Serialize;

use crate::excerpt::{MESSAGE_CHARS, excerpt, excerpt_to};

/// One problem in an input file: the position, the field, the offending value and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// File name as the user gave it.
    pub file: String,
    /// 1-based line; 0 when unknown.
    pub line: u64,
    /// 1-based column; 0 when unknown.
    pub column: u64,
    /// Path of the field, e.g. `groups[0].rules[2].expr`.
    pub field: String,
    /// The offending value as written, when there is one.
    pub value: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            // A field path holds the user's keys (label names, service names).
            write!(f, "{}", excerpt_to(&self.field, MESSAGE_CHARS))?;
            if let Some(v) = &self.value {
                write!(f, " = {:?}", excerpt(v))?;
            }
            f.write_str(": ")?;
        }
        // A message may embed input too (a parser's error quoting a token).
        write!(f, "{}", excerpt_to(&self.message, MESSAGE_CHARS))
    }
}

/// Every problem found in one check, in file order. An empty set means the input is good.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// No problems yet.
    pub fn new() -> Self {
        Self(Vec::new())
    }
    /// Adds a problem.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    /// Adds every problem of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
    /// Whether nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// How many problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Sorts by file, line, column for stable output.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    }
    /// `Ok(value)` when empty, else `Err(self)`.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.is_empty() { Ok(value) } else { Err(self) }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_column_field_and_value() {
        let d = Diagnostic {
            file: "rules.yaml".into(),
            line: 3,
            column: 11,
            field: "groups[0].rules[0].for".into(),
            value: Some("5 minutes".into()),
            message: "not a duration".into(),
        };
        assert_eq!(d.to_string(), "rules.yaml:3:11: groups[0].rules[0].for = \"5 minutes\": not a duration");
    }

    #[test]
    fn display_quotes_only_an_excerpt_of_a_long_value_or_message() {
        let d = Diagnostic {
            file: "c.yaml".into(),
            line: 1,
            column: 10,
            field: "journal".into(),
            value: Some("j".repeat(1 << 20)),
            message: format!("cannot open {}", "j".repeat(1 << 20)),
        };
        let shown = d.to_string();
        assert!(shown.len() < 600, "{} bytes", shown.len());
        assert!(
            shown.contains(&format!("journal = \"{}\"… (1048576 bytes): cannot open jjj", "j".repeat(80))),
            "{shown}"
        );
        assert!(shown.ends_with("… (1048588 bytes)"), "{shown}");
    }
}
