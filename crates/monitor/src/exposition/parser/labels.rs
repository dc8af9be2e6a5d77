//! Label sets and quoted strings.

use super::*;

impl Parser<'_> {
    /// `{name="value", "quoted name"="value", "metric name", ...}` with `pos` at `{`.
    /// Sample labels go to `self.pairs`; an exemplar's are validated and dropped.
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
                            if name.is_some() || self.pairs.iter().any(|(k, _)| k == METRIC_NAME) {
                                return Err(self.error(item, format!("metric name {quoted:?} given twice")));
                            }
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
                let duplicate = (label == METRIC_NAME && name.is_some()) || self.pairs.iter().any(|(k, _)| *k == label);
                if duplicate {
                    return Err(self.error(item, format!("duplicate label name {label:?}")));
                }
                self.pairs.push((label, value));
            }
            if self.at(b',') {
                self.pos += 1;
            }
        }
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

    pub(super) fn unterminated(&self, open: usize, kind: Quoted) -> ParseError {
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
