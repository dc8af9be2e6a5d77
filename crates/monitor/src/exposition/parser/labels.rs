//! Label sets and quoted strings.

use std::borrow::Borrow;
use std::cmp::Ordering as CmpOrdering;
use std::collections::btree_map::Entry;

use super::*;

/// A label name as the key of the label set being parsed. Its ordering is `String`'s; in
/// unit tests it also counts comparisons, so a test can show that duplicate detection does
/// O(n log n) of them for n labels, not the O(n²) of comparing each label with every other.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::exposition) struct LabelName(String);

impl LabelName {
    pub(super) fn new(name: String) -> Self {
        Self(name)
    }

    pub(super) fn into_string(self) -> String {
        self.0
    }
}

impl Borrow<str> for LabelName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialOrd for LabelName {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for LabelName {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        #[cfg(test)]
        comparisons::count();
        self.0.cmp(&other.0)
    }
}

/// `s` quoted, cut to 50 characters, for messages about limits (the input may be huge).
fn shortened(s: &str) -> String {
    format!("{:?}", model::excerpt_to(s, 50))
}

impl Parser<'_> {
    /// The metric name of the sample being parsed, for messages.
    fn metric_for_message(&self, name: &Option<String>) -> String {
        match name.as_deref().or_else(|| self.labels.get(METRIC_NAME).map(String::as_str)) {
            Some(n) => shortened(n),
            None => "(unnamed)".to_owned(),
        }
    }

    /// Fails when one more label would exceed `label_limit`.
    fn check_label_count(&self, name: &Option<String>) -> Result<()> {
        let count = self.labels.len() + 1 + usize::from(name.is_some());
        if count > self.limits.labels {
            return Err(LimitExceeded::Labels {
                limit: self.limits.labels,
                metric: self.metric_for_message(name),
                line: self.line,
            }
            .into());
        }
        Ok(())
    }

    fn check_name_length(&self, label: &str) -> Result<()> {
        if label.len() > self.limits.label_name_length {
            return Err(LimitExceeded::LabelNameLength {
                limit: self.limits.label_name_length,
                name: shortened(label),
                length: label.len(),
                line: self.line,
            }
            .into());
        }
        Ok(())
    }

    pub(super) fn check_value_length(&self, label: &str, value: &str) -> Result<()> {
        if value.len() > self.limits.label_value_length {
            return Err(LimitExceeded::LabelValueLength {
                limit: self.limits.label_value_length,
                name: shortened(label),
                length: value.len(),
                line: self.line,
            }
            .into());
        }
        Ok(())
    }

    /// `{name="value", "quoted name"="value", "metric name", ...}` with `pos` at `{`.
    /// Sample labels go to `self.labels`; an exemplar's are validated and dropped.
    pub(super) fn label_set(&mut self, name: &mut Option<String>, exemplar: bool) -> Result<()> {
        self.pos += 1; // '{'
        loop {
            if !self.om {
                self.skip_blanks();
            }
            let item = self.pos;
            let label = match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'"') => {
                    let quoted = self.quoted(Quoted::Name)?;
                    if !self.om {
                        self.skip_blanks();
                    }
                    match self.peek() {
                        Some(b'=') => {}
                        Some(b',' | b'}') if !exemplar => {
                            if quoted.is_empty() {
                                return Err(self.error(item, "empty quoted metric name"));
                            }
                            if name.is_some() || self.labels.contains_key(METRIC_NAME) {
                                return Err(self.error(item, format!("metric name {quoted:?} given twice")));
                            }
                            self.check_value_length(METRIC_NAME, &quoted)?;
                            self.check_label_count(name)?;
                            *name = Some(quoted);
                            if self.at(b',') {
                                self.pos += 1;
                            }
                            continue;
                        }
                        _ => {
                            let what = if exemplar {
                                "'=' after a quoted label name"
                            } else {
                                "'=' after a quoted label name, or ',' or '}' after a quoted metric name"
                            };
                            return Err(self.expected(self.pos, what));
                        }
                    }
                    if quoted.is_empty() {
                        return Err(self.error(item, "empty quoted label name"));
                    }
                    quoted
                }
                Some(c) if is_label_name_start(c) => {
                    self.advance_while(is_label_name_char);
                    let label = self.slice(item, self.pos);
                    if !self.om {
                        self.skip_blanks();
                    }
                    if !self.at(b'=') {
                        return Err(self.expected(self.pos, &format!("'=' after label name {label:?}")));
                    }
                    label.to_owned()
                }
                _ => return Err(self.expected(item, "a label name or '}'")),
            };
            if !exemplar {
                self.check_name_length(&label)?;
            }
            self.pos += 1; // '='
            if !self.om {
                self.skip_blanks();
            }
            if !self.at(b'"') {
                return Err(self.expected(self.pos, &format!("'\"' starting the value of label {label:?}")));
            }
            let value = self.quoted(Quoted::LabelValue)?;
            if !self.om {
                self.skip_blanks();
            }
            if !matches!(self.peek(), Some(b',' | b'}')) {
                return Err(self.expected(self.pos, &format!("',' or '}}' after the value of label {label:?}")));
            }
            if !exemplar {
                self.add_label(item, label, value, name)?;
            }
            if self.at(b',') {
                self.pos += 1;
            }
        }
    }

    /// Adds one label of a sample, refusing a duplicate name and what exceeds a limit.
    fn add_label(&mut self, item: usize, label: String, value: String, name: &Option<String>) -> Result<()> {
        if label == METRIC_NAME && name.is_some() {
            return Err(self.error(item, format!("duplicate label name {label:?}")));
        }
        self.check_value_length(&label, &value)?;
        self.check_label_count(name)?;
        // One search of the sorted map both finds a duplicate and places the label.
        let duplicate = match self.labels.entry(LabelName::new(label)) {
            Entry::Vacant(slot) => {
                slot.insert(value);
                return Ok(());
            }
            Entry::Occupied(existing) => existing.key().0.clone(),
        };
        Err(self.error(item, format!("duplicate label name {duplicate:?}")))
    }

    /// A double-quoted string with `pos` at the opening quote, unescaping `\\`, `\"` and
    /// `\n`; any other escape, and a raw line break, is an error.
    pub(super) fn quoted(&mut self, kind: Quoted) -> Result<String> {
        let open = self.pos;
        self.pos += 1;
        let mut segment = self.pos;
        let mut unescaped: Option<String> = None;
        loop {
            let rest = self.b.get(self.pos..).unwrap_or(&[]);
            let Some(i) = rest.iter().position(|&c| c == b'"' || c == b'\\' || c == b'\n') else {
                self.pos = self.b.len();
                return Err(self.unterminated(open, kind));
            };
            self.pos += i;
            match self.peek() {
                Some(b'"') => {
                    let tail = self.slice(segment, self.pos);
                    self.pos += 1;
                    return Ok(match unescaped {
                        Some(mut s) => {
                            s.push_str(tail);
                            s
                        }
                        None => tail.to_owned(),
                    });
                }
                Some(b'\\') => {
                    let c = match self.b.get(self.pos + 1) {
                        Some(b'\\') => '\\',
                        Some(b'"') => '"',
                        Some(b'n') => '\n',
                        _ => {
                            let found = match self.found(self.pos + 1).as_str() {
                                "end of line" | "end of input" => self.found(self.pos + 1),
                                c => format!("'\\' followed by {c}"),
                            };
                            return Err(self.error(
                                self.pos,
                                format!(
                                    "invalid escape sequence in {}: expected \\\\, \\\" or \\n, found {found}",
                                    kind.what()
                                ),
                            ));
                        }
                    };
                    let s = unescaped.get_or_insert_with(String::new);
                    s.push_str(self.slice(segment, self.pos));
                    s.push(c);
                    self.pos += 2;
                    segment = self.pos;
                }
                _ => return Err(self.unterminated(open, kind)),
            }
        }
    }

    pub(super) fn unterminated(&self, open: usize, kind: Quoted) -> ExpositionError {
        self.error(
            self.pos,
            format!(
                "unterminated {} starting at column {}: expected closing '\"', found {}",
                kind.what(),
                self.column(open),
                self.found(self.pos)
            ),
        )
    }
}

#[cfg(test)]
pub(in crate::exposition) mod comparisons {
    use std::cell::Cell;

    thread_local! {
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    pub(in crate::exposition) fn count() {
        COUNT.with(|c| c.set(c.get() + 1));
    }

    /// Label-name comparisons on this thread since the last call.
    pub(in crate::exposition) fn take() -> u64 {
        COUNT.with(|c| c.replace(0))
    }
}
