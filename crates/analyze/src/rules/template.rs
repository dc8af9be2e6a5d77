//! The subset of Prometheus' Go-template language that alert labels and annotations use:
//! `{{ $labels.name }}`, `{{ $value }}`, `{{ .Labels.name }}`, `{{ .Value }}`, pipes
//! through `humanize`, `humanize1024`, `humanizePercentage`, `humanizeDuration`, `title`,
//! `toUpper`, `toLower`, and `printf "%.2f" $value`. Templates are checked when rules load,
//! so an unsupported construct is a load error with its position, not a surprise later.

use std::collections::BTreeMap;

use model::Labels;

use super::printf::Format;

/// A checked template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Action { source: Source, printf: Option<Format>, filters: Vec<Filter> },
}

#[derive(Debug, Clone, PartialEq)]
enum Source {
    Label(String),
    Value,
    External(String),
    Literal(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Filter {
    Humanize,
    Humanize1024,
    HumanizePercentage,
    HumanizeDuration,
    Title,
    ToUpper,
    ToLower,
}

impl Template {
    /// Parses `text`; the error says what is unsupported.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("unclosed action at byte {}", text.len() - rest.len() + open))?;
            let inner = after[..close].trim().trim_start_matches('-').trim_end_matches('-').trim();
            parts.push(parse_action(inner)?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    /// Expands with an alert's labels and value.
    pub fn expand(&self, labels: &Labels, value: f64) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Action { source, printf, filters } => {
                    let mut s = match (source, printf) {
                        (Source::Value, Some(fmt)) => fmt.float(value),
                        (Source::Value, None) => crate::promql::format_float(value),
                        (Source::Label(name), fmt) => with_format(fmt, labels.get(name).unwrap_or_default()),
                        (Source::External(_), fmt) => with_format(fmt, ""),
                        (Source::Literal(l), fmt) => with_format(fmt, l),
                    };
                    for f in filters {
                        s = apply(*f, &s);
                    }
                    out.push_str(&s);
                }
            }
        }
        out
    }
}

fn parse_action(inner: &str) -> Result<Part, String> {
    let mut stages = inner.split('|').map(str::trim);
    let first = stages.next().unwrap_or_default();
    let (source, printf) = if let Some(args) = first.strip_prefix("printf ") {
        let args = args.trim();
        let (fmt, arg) =
            parse_quoted(args).ok_or_else(|| format!("printf needs a quoted format: {{{{ {inner} }}}}"))?;
        (parse_source(arg.trim())?, Some(Format::parse(&fmt)?))
    } else {
        (parse_source(first)?, None)
    };
    let filters = stages
        .map(|name| match name {
            "humanize" => Ok(Filter::Humanize),
            "humanize1024" => Ok(Filter::Humanize1024),
            "humanizePercentage" => Ok(Filter::HumanizePercentage),
            "humanizeDuration" => Ok(Filter::HumanizeDuration),
            "title" => Ok(Filter::Title),
            "toUpper" => Ok(Filter::ToUpper),
            "toLower" => Ok(Filter::ToLower),
            other => Err(format!("unsupported template function {other:?}")),
        })
        .collect::<Result<_, _>>()?;
    Ok(Part::Action { source, printf, filters })
}

fn parse_quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let end = body.find('"')?;
    Some((body[..end].to_owned(), &body[end + 1..]))
}

fn parse_source(s: &str) -> Result<Source, String> {
    if s == "$value" || s == ".Value" {
        return Ok(Source::Value);
    }
    for prefix in ["$labels.", ".Labels."] {
        if let Some(name) = s.strip_prefix(prefix) {
            return valid_name(name).map(|n| Source::Label(n.to_owned()));
        }
    }
    if let Some(name) = s.strip_prefix("$externalLabels.").or_else(|| s.strip_prefix(".ExternalLabels.")) {
        return valid_name(name).map(|n| Source::External(n.to_owned()));
    }
    if let Some((lit, rest)) = parse_quoted(s)
        && rest.trim().is_empty()
    {
        return Ok(Source::Literal(lit));
    }
    Err(format!(
        "unsupported template expression {{{{ {s} }}}} (supported: $labels.NAME, $value, .Labels.NAME, .Value, printf)"
    ))
}

fn valid_name(name: &str) -> Result<&str, String> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok { Ok(name) } else { Err(format!("invalid label name {name:?} in template")) }
}

fn with_format(fmt: &Option<Format>, text: &str) -> String {
    match fmt {
        Some(fmt) => fmt.text(text),
        None => text.to_owned(),
    }
}

fn apply(filter: Filter, s: &str) -> String {
    let num = || s.trim().parse::<f64>().ok();
    match filter {
        Filter::Humanize => num()
            .map(|v| humanize(v, 1000.0, &["", "k", "M", "G", "T", "P", "E"], &["", "m", "u", "n", "p", "f", "a"]))
            .unwrap_or_else(|| s.to_owned()),
        Filter::Humanize1024 => num()
            .map(|v| humanize(v, 1024.0, &["", "ki", "Mi", "Gi", "Ti", "Pi", "Ei"], &[""]))
            .unwrap_or_else(|| s.to_owned()),
        Filter::HumanizePercentage => {
            num().map(|v| format!("{}%", trim_float(v * 100.0))).unwrap_or_else(|| s.to_owned())
        }
        Filter::HumanizeDuration => num().map(humanize_duration).unwrap_or_else(|| s.to_owned()),
        Filter::Title => s
            .split(' ')
            .map(|w| {
                let mut c = w.chars();
                c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" "),
        Filter::ToUpper => s.to_uppercase(),
        Filter::ToLower => s.to_lowercase(),
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

fn humanize(v: f64, base: f64, big: &[&str], small: &[&str]) -> String {
    if v == 0.0 || !v.is_finite() {
        return crate::promql::format_float(v);
    }
    let mut x = v;
    if x.abs() >= 1.0 {
        let mut i = 0;
        while x.abs() >= base && i + 1 < big.len() {
            x /= base;
            i += 1;
        }
        return format!("{}{}", trim_float(x), big[i]);
    }
    let mut i = 0;
    while x.abs() < 1.0 && i + 1 < small.len() {
        x *= base;
        i += 1;
    }
    format!("{}{}", trim_float(x), small[i])
}

fn humanize_duration(secs: f64) -> String {
    if !secs.is_finite() {
        return crate::promql::format_float(secs);
    }
    if secs.abs() < 1.0 {
        return humanize(secs, 1000.0, &[""], &["", "m", "u", "n"]) + "s";
    }
    let total = secs.abs() as u64;
    let (d, h, m, s) = (total / 86_400, total / 3_600 % 24, total / 60 % 60, total % 60);
    let sign = if secs < 0.0 { "-" } else { "" };
    match (d, h, m) {
        (0, 0, 0) => format!("{sign}{}s", trim_float(secs.abs())),
        (0, 0, _) => format!("{sign}{m}m {s}s"),
        (0, _, _) => format!("{sign}{h}h {m}m {s}s"),
        _ => format!("{sign}{d}d {h}h {m}m {s}s"),
    }
}

/// Expands every template of a map.
pub fn expand_all(templates: &BTreeMap<String, Template>, labels: &Labels, value: f64) -> BTreeMap<String, String> {
    templates.iter().map(|(k, t)| (k.clone(), t.expand(labels, value))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l() -> Labels {
        Labels::from_pairs([("instance", "a:1"), ("job", "api")])
    }

    #[test]
    fn expands_labels_and_value() {
        let t = Template::parse("{{ $labels.instance }} of {{.Labels.job}} at {{ $value }}").expect("parses");
        assert_eq!(t.expand(&l(), 0.25), "a:1 of api at 0.25");
        assert_eq!(Template::parse("no actions").expect("parses").expand(&l(), 1.0), "no actions");
        assert_eq!(Template::parse("{{ $labels.missing }}!").expect("parses").expand(&l(), 1.0), "!");
    }

    #[test]
    fn pipes_and_printf() {
        let t = Template::parse("{{ $value | humanizePercentage }}").expect("parses");
        assert_eq!(t.expand(&l(), 0.1234), "12.34%");
        let t = Template::parse("{{ printf \"%.2f\" $value }}s").expect("parses");
        assert_eq!(t.expand(&l(), 1.0 / 3.0), "0.33s");
        let t = Template::parse("{{ $value | humanize }}B").expect("parses");
        assert_eq!(t.expand(&l(), 2_500_000.0), "2.5MB");
        let t = Template::parse("{{ $value | humanize1024 }}").expect("parses");
        assert_eq!(t.expand(&l(), 2048.0), "2ki");
        let t = Template::parse("{{ $value | humanizeDuration }}").expect("parses");
        assert_eq!(t.expand(&l(), 3_725.0), "1h 2m 5s");
        let t = Template::parse("{{ $labels.job | toUpper }}").expect("parses");
        assert_eq!(t.expand(&l(), 0.0), "API");
    }

    #[test]
    fn unsupported_constructs_are_load_errors() {
        assert!(Template::parse("{{ range .Alerts }}x{{ end }}").is_err());
        assert!(Template::parse("{{ $value | reReplaceAll }}").is_err());
        assert!(Template::parse("{{ $labels.instance ").is_err());
        let err = Template::parse("{{ printf \"%.70000f\" $value }}").expect_err("precision out of range");
        assert!(err.contains("precision"), "{err}");
    }
}
