//! Comment lines: `# HELP`, `# TYPE`, `# UNIT`, `# EOF` and plain comments.

use super::*;

impl Parser<'_> {
    /// `# HELP ...`, `# TYPE ...` or any other comment, in the text format.
    pub(super) fn text_comment(&mut self) -> Result<()> {
        self.pos += 1; // '#'
        if !self.peek().is_some_and(is_blank) {
            self.advance_to_eol();
            self.end_line();
            return Ok(());
        }
        self.skip_blanks();
        let meta = if self.at_keyword(b"HELP") {
            Meta::Help
        } else if self.at_keyword(b"TYPE") {
            Meta::Type
        } else {
            self.advance_to_eol();
            self.end_line();
            return Ok(());
        };
        self.pos += 4;
        self.skip_blanks();
        let name_pos = self.pos;
        let name = self.family_name(meta)?;
        match meta {
            Meta::Help => {
                if !self.at_eol() {
                    if !self.peek().is_some_and(is_blank) {
                        return Err(self.expected(self.pos, &format!("whitespace after metric name {name:?}")));
                    }
                    self.skip_blanks();
                }
                let help = self.help_text();
                self.set_help(name_pos, name, help)?;
            }
            Meta::Type | Meta::Unit => {
                // (`# UNIT` is an ordinary comment in this format and never gets here.)
                if !self.peek().is_some_and(is_blank) {
                    return Err(
                        self.expected(self.pos, &format!("whitespace and a metric type after metric name {name:?}"))
                    );
                }
                self.skip_blanks();
                let (type_pos, keyword) = self.token();
                if keyword.is_empty() {
                    return Err(self.expected(type_pos, &format!("a metric type after metric name {name:?}")));
                }
                let metric_type = self.metric_type(type_pos, keyword)?;
                self.skip_blanks();
                if !self.at_eol() {
                    return Err(self.expected(self.pos, "end of line after the metric type"));
                }
                self.set_type(name_pos, name, metric_type)?;
            }
        }
        self.end_line();
        Ok(())
    }

    /// Whether `pos` is at `keyword` followed by a blank (text format).
    pub(super) fn at_keyword(&self, keyword: &[u8]) -> bool {
        self.starts_with(keyword) && self.b.get(self.pos + keyword.len()).copied().is_some_and(is_blank)
    }

    /// One line of OpenMetrics; `Ok(true)` once `# EOF` ended the exposition.
    pub(super) fn om_line(&mut self) -> Result<bool> {
        match self.peek() {
            Some(b'\n') => {
                Err(self.expected(self.pos, "a metric name, '{' or '#' (OpenMetrics allows no empty lines)"))
            }
            Some(b'#') => self.om_comment(),
            _ => self.sample().map(|()| false),
        }
    }

    /// `# HELP`, `# TYPE`, `# UNIT` or `# EOF`, in OpenMetrics.
    pub(super) fn om_comment(&mut self) -> Result<bool> {
        self.pos += 1; // '#'
        if !self.at(b' ') {
            return Err(self.expected(self.pos, "' ' after '#'"));
        }
        self.pos += 1;
        if self.starts_with(b"EOF") {
            self.pos += 3;
            if !self.at_eol() {
                return Err(self.expected(self.pos, "end of line after '# EOF'"));
            }
            self.end_line();
            if self.pos < self.b.len() {
                return Err(self.expected(self.pos, "end of input after '# EOF'"));
            }
            return Ok(true);
        }
        let meta = [Meta::Help, Meta::Type, Meta::Unit]
            .into_iter()
            .find(|m| self.starts_with(m.keyword().as_bytes()) && self.b.get(self.pos + 4) == Some(&b' '));
        let Some(meta) = meta else {
            let start = self.pos;
            self.advance_while(|c| c != b' ' && c != b'\n');
            let word = self.slice(start, self.pos);
            let found = if word.is_empty() { self.found(start) } else { format!("{word:?}") };
            return Err(self.error(
                start,
                format!(
                    "expected HELP, TYPE, UNIT or EOF after '# ', found {found} (OpenMetrics allows no other comments)"
                ),
            ));
        };
        self.pos += 5;
        let name_pos = self.pos;
        let name = self.family_name(meta)?;
        if !self.at(b' ') {
            return Err(self.expected(self.pos, &format!("' ' after metric name {name:?}")));
        }
        self.pos += 1;
        match meta {
            Meta::Help => {
                let help = self.help_text();
                self.set_help(name_pos, name, help)?;
            }
            Meta::Type => {
                let type_pos = self.pos;
                self.advance_to_eol();
                let keyword = self.slice(type_pos, self.pos);
                let metric_type = self.metric_type(type_pos, keyword)?;
                self.set_type(name_pos, name, metric_type)?;
            }
            Meta::Unit => {
                // Units carry no information the rest of Autonomic uses.
                self.advance_to_eol();
            }
        }
        self.end_line();
        Ok(false)
    }

    /// A metric family name on a metadata line: bare or quoted.
    pub(super) fn family_name(&mut self, meta: Meta) -> Result<String> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => {
                let name = self.quoted(Quoted::Name)?;
                if name.is_empty() {
                    return Err(self.error(start, "empty quoted metric name"));
                }
                Ok(name)
            }
            Some(c) if is_metric_name_start(c) => {
                self.advance_while(is_metric_name_char);
                Ok(self.slice(start, self.pos).to_owned())
            }
            _ => Err(self.expected(start, &format!("metric name after {}", meta.keyword()))),
        }
    }

    /// The rest of a `# HELP` line, unescaped: `\\` and `\n` (and `\"` in OpenMetrics);
    /// other backslash sequences are kept as written.
    pub(super) fn help_text(&mut self) -> String {
        let start = self.pos;
        self.advance_to_eol();
        let raw = self.slice(start, self.pos);
        if !raw.contains('\\') {
            return raw.to_owned();
        }
        let mut help = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                help.push(c);
                continue;
            }
            match chars.clone().next() {
                Some('\\') => help.push('\\'),
                Some('n') => help.push('\n'),
                Some('"') if self.om => help.push('"'),
                _ => {
                    help.push('\\');
                    continue;
                }
            }
            chars.next();
        }
        help
    }

    pub(super) fn metric_type(&self, pos: usize, keyword: &str) -> Result<MetricType> {
        let t = if self.om {
            match keyword {
                "counter" => MetricType::Counter,
                "gauge" => MetricType::Gauge,
                "histogram" => MetricType::Histogram,
                "gaugehistogram" => MetricType::GaugeHistogram,
                "summary" => MetricType::Summary,
                "info" => MetricType::Info,
                "stateset" => MetricType::StateSet,
                "unknown" => MetricType::Unknown,
                _ => {
                    return Err(self.error(
                        pos,
                        format!(
                            "unknown metric type {keyword:?}: expected one of counter, gauge, \
                             histogram, gaugehistogram, summary, info, stateset or unknown"
                        ),
                    ));
                }
            }
        } else {
            match keyword {
                "counter" => MetricType::Counter,
                "gauge" => MetricType::Gauge,
                "histogram" => MetricType::Histogram,
                "summary" => MetricType::Summary,
                "untyped" => MetricType::Unknown,
                _ => {
                    return Err(self.error(
                        pos,
                        format!(
                            "unknown metric type {keyword:?}: expected one of counter, gauge, \
                             histogram, summary or untyped"
                        ),
                    ));
                }
            }
        };
        Ok(t)
    }

    pub(super) fn set_type(&mut self, pos: usize, name: String, t: MetricType) -> Result<()> {
        if self.out.types.contains_key(&name) {
            return Err(self.error(pos, format!("second TYPE line for metric family {name:?}")));
        }
        self.out.types.insert(name, t);
        Ok(())
    }

    pub(super) fn set_help(&mut self, pos: usize, name: String, help: String) -> Result<()> {
        if self.out.help.contains_key(&name) {
            return Err(self.error(pos, format!("second HELP line for metric family {name:?}")));
        }
        self.out.help.insert(name, help);
        Ok(())
    }

    // ---- samples ----
}
