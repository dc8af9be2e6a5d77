//! Prometheus rule files (`groups: - name: … rules: - alert: … expr: … for: …`), loaded in
//! two phases: YAML shape first (serde, unknown fields rejected), then every semantic
//! check — PromQL, durations, names, templates — with all errors collected and located.

use std::collections::{BTreeMap, HashSet};
use std::ops::RangeInclusive;
use std::time::Duration;

use model::bounds::duration_in;
use model::{Diagnostics, MAX_DURATION, excerpt, parse_duration};
use serde::Deserialize;
use serde::de::IgnoredAny;
use yamlspan::{Node, Spanned, parse_document};

use super::alerting::AlertingRule;
use super::group::{RecordingRule, Rule, RuleGroup};
use super::template::Template;
use crate::promql;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    #[allow(dead_code)]
    groups: IgnoredAny,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    // Optional here so that a bad name does not end the lenient reading of the rest of the
    // group; its absence is reported by the compiler.
    #[serde(default)]
    name: Option<Spanned<String>>,
    #[serde(default)]
    interval: Option<Spanned<String>>,
    #[serde(default)]
    #[allow(dead_code)]
    rules: IgnoredAny,
    #[serde(default)]
    #[allow(dead_code)]
    limit: Option<u64>,
    #[serde(default)]
    query_offset: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    alert: Option<Spanned<String>>,
    #[serde(default)]
    record: Option<Spanned<String>>,
    // Optional for the same reason as a group's name.
    #[serde(default)]
    expr: Option<Spanned<String>>,
    #[serde(default, rename = "for")]
    hold: Option<Spanned<String>>,
    #[serde(default)]
    keep_firing_for: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    annotations: BTreeMap<String, Spanned<String>>,
}

/// The `interval` a rule group may set: at least 100ms. A shorter one re-evaluates every
/// rule faster than any scrape can change its inputs and starves the loop. Prometheus sets
/// no upper bound, and neither do we beyond what a duration may be.
pub const GROUP_INTERVAL: RangeInclusive<Duration> = Duration::from_millis(100)..=MAX_DURATION;

fn duration(field: &str, value: &Spanned<String>, diags: &mut Diagnostics) -> Option<Duration> {
    match parse_duration(&value.value) {
        Ok(d) => Some(d),
        Err(e) => {
            diags.push(value.diagnostic(field, e));
            None
        }
    }
}

/// Parses and checks one rule file. `default_interval` applies to groups without one.
pub fn parse_rule_file(file: &str, text: &str, default_interval: Duration) -> Result<Vec<RuleGroup>, Diagnostics> {
    let mut diags = Diagnostics::new();
    let root = match parse_document(file, text) {
        Ok(root) => root,
        Err(d) => {
            diags.push(d);
            return Err(diags);
        }
    };
    if root.value == yamlspan::NodeValue::Null {
        return Ok(Vec::new());
    }
    // Every unknown top-level key is reported; `groups` is still read.
    if root.deserialize_lenient::<RawFile>("", &mut diags).is_none() {
        return Err(diags);
    }
    let groups = match root.get("groups") {
        Some(node) => compile_groups(node, "groups", file, default_interval, &mut diags),
        None => Vec::new(),
    };
    diags.sort();
    diags.into_result(groups)
}

/// Checks a `groups:` sequence (of a rule file, or inline in a config) into rule groups;
/// every problem goes to `diags`, good groups are returned.
pub fn compile_groups(
    groups_node: &Node,
    path_prefix: &str,
    file: &str,
    default_interval: Duration,
    diags: &mut Diagnostics,
) -> Vec<RuleGroup> {
    let mut groups = Vec::new();
    let mut names = HashSet::new();
    for (gi, raw, node, clean) in groups_node.each_lenient::<RawGroup>(path_prefix, diags) {
        let path = format!("{path_prefix}[{gi}]");
        match &raw.name {
            // Left out for an error of its own: that error says it.
            None if node.missing_unreported(clean, &["name"]) => {
                diags.push(node.diagnostic(path.clone(), "missing field `name`"));
            }
            None => {}
            Some(name) if name.value.trim().is_empty() => {
                diags.push(name.diagnostic(format!("{path}.name"), "group name must not be empty"));
            }
            Some(name) if !names.insert(name.value.clone()) => {
                diags.push(name.diagnostic(format!("{path}.name"), "group name is used twice in this file"));
            }
            Some(_) => {}
        }
        let interval = match &raw.interval {
            None => default_interval,
            Some(i) => match parse_duration(&i.value).and_then(|d| duration_in(d, &GROUP_INTERVAL)) {
                Ok(d) => d,
                Err(e) => {
                    diags.push(i.diagnostic(format!("{path}.interval"), e));
                    default_interval
                }
            },
        };
        if let Some(offset) = &raw.query_offset {
            duration(&format!("{path}.query_offset"), offset, diags);
        }
        let mut group_labels = BTreeMap::new();
        for (k, v) in &raw.labels {
            if !model::valid_label_name(k) {
                diags.push(v.diagnostic(format!("{path}.labels.{k}"), "invalid label name"));
            }
            group_labels.insert(k.clone(), v.value.clone());
        }
        let rules = node
            .get("rules")
            .map(|rules_node| compile_rules(rules_node, &path, &group_labels, diags))
            .unwrap_or_default();
        if let Some(name) = raw.name {
            groups.push(RuleGroup { name: name.value, file: file.to_owned(), interval, rules });
        }
    }
    groups
}

fn compile_rules(
    node: &Node,
    group_path: &str,
    group_labels: &BTreeMap<String, String>,
    diags: &mut Diagnostics,
) -> Vec<Rule> {
    let mut rules = Vec::new();
    for (ri, raw, rule_node, clean) in node.each_lenient::<RawRule>(&format!("{group_path}.rules"), diags) {
        let path = format!("{group_path}.rules[{ri}]");
        let before = diags.len();
        if raw.expr.is_none() && rule_node.missing_unreported(clean, &["expr"]) {
            diags.push(rule_node.diagnostic(path.clone(), "missing field `expr`"));
        }
        let expr = raw.expr.as_ref().and_then(|text| match promql::parse(&text.value) {
            Ok(e) => Some(e),
            Err(e) => {
                diags.push(text.diagnostic(format!("{path}.expr"), format!("invalid PromQL: {e}")));
                None
            }
        });
        let mut labels = group_labels.clone();
        for (k, v) in &raw.labels {
            if !model::valid_label_name(k) || k == model::METRIC_NAME {
                diags.push(v.diagnostic(format!("{path}.labels.{k}"), format!("invalid label name {:?}", excerpt(k))));
            }
            labels.insert(k.clone(), v.value.clone());
        }
        match (&raw.alert, &raw.record) {
            (Some(_), Some(r)) => {
                diags.push(r.diagnostic(format!("{path}.record"), "a rule is either `alert` or `record`, not both"))
            }
            (None, None) => diags.push(rule_node.diagnostic(path.clone(), "a rule needs `alert` or `record`")),
            (None, Some(record)) => {
                if !model::valid_metric_name(&record.value) {
                    diags.push(record.diagnostic(format!("{path}.record"), "invalid metric name"));
                }
                for (field, value) in [("for", &raw.hold), ("keep_firing_for", &raw.keep_firing_for)] {
                    if let Some(v) = value {
                        diags.push(v.diagnostic(
                            format!("{path}.{field}"),
                            format!("`{field}` only applies to alerting rules"),
                        ));
                    }
                }
                if let Some((k, v)) = raw.annotations.iter().next() {
                    diags.push(
                        v.diagnostic(format!("{path}.annotations.{k}"), "annotations only apply to alerting rules"),
                    );
                }
                // A partly read rule is checked for more errors but never kept.
                if let (Some(expr), true) = (expr, clean && diags.len() == before) {
                    rules.push(Rule::Recording(RecordingRule { record: record.value.clone(), expr, labels }));
                }
            }
            (Some(alert), None) => {
                if alert.value.trim().is_empty() {
                    diags.push(alert.diagnostic(format!("{path}.alert"), "alert name must not be empty"));
                }
                let hold =
                    raw.hold.as_ref().and_then(|d| duration(&format!("{path}.for"), d, diags)).unwrap_or_default();
                let keep = raw
                    .keep_firing_for
                    .as_ref()
                    .and_then(|d| duration(&format!("{path}.keep_firing_for"), d, diags))
                    .unwrap_or_default();
                let mut label_templates = BTreeMap::new();
                for (k, v) in &labels {
                    let spanned = raw.labels.get(k);
                    match Template::parse(v) {
                        Ok(t) => {
                            label_templates.insert(k.clone(), t);
                        }
                        Err(e) => match spanned {
                            Some(s) => diags.push(s.diagnostic(format!("{path}.labels.{k}"), e)),
                            None => diags.push(rule_node.diagnostic(format!("{path}.labels.{k}"), e)),
                        },
                    }
                }
                let mut annotation_templates = BTreeMap::new();
                for (k, v) in &raw.annotations {
                    match Template::parse(&v.value) {
                        Ok(t) => {
                            annotation_templates.insert(k.clone(), t);
                        }
                        Err(e) => diags.push(v.diagnostic(format!("{path}.annotations.{k}"), e)),
                    }
                }
                // A partly read rule is checked for more errors but never kept.
                if let (Some(expr), true) = (expr, clean && diags.len() == before) {
                    rules.push(Rule::Alerting(AlertingRule::new(
                        alert.value.clone(),
                        expr,
                        raw.expr.as_ref().map(|e| e.value.clone()).unwrap_or_default(),
                        hold,
                        keep,
                        label_templates,
                        annotation_templates,
                    )));
                }
            }
        }
    }
    rules
}

/// Reads and checks rule files from disk; every file is checked, and every problem in
/// every file is reported.
pub fn load_rule_files(
    paths: &[std::path::PathBuf],
    default_interval: Duration,
) -> Result<Vec<RuleGroup>, Diagnostics> {
    let mut diags = Diagnostics::new();
    let mut groups = Vec::new();
    for path in paths {
        let shown = path.display().to_string();
        match yamlspan::read_source(path) {
            Ok(text) => match parse_rule_file(&shown, &text, default_interval) {
                Ok(g) => groups.extend(g),
                Err(d) => diags.extend(d),
            },
            Err(e) => diags.push(model::Diagnostic {
                file: shown,
                line: 0,
                column: 0,
                field: String::new(),
                value: None,
                message: format!("cannot read rule file: {e}"),
            }),
        }
    }
    diags.into_result(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
groups:
  - name: errors
    interval: 1s
    rules:
      - record: job:errors:rate5s
        expr: sum by (job) (rate(errors_total[5s]))
      - alert: HighErrorRate
        expr: job:errors:rate5s > 0.1
        for: 2s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.job }} errors at {{ $value | humanize }}/s"
  - name: other
    rules: []
"#;

    /// `text` is refused with exactly these diagnostics, in order (each given by a prefix).
    fn assert_reports(text: &str, expect: &[&str]) {
        let diags = parse_rule_file("r.yaml", text, Duration::from_secs(15)).expect_err("invalid");
        let shown: Vec<String> = diags.0.iter().map(|d| d.to_string()).collect();
        assert_eq!(shown.len(), expect.len(), "{shown:#?}");
        for (got, want) in shown.iter().zip(expect) {
            assert!(got.starts_with(want), "got {got:?}, want prefix {want:?}");
        }
    }

    #[test]
    fn loads_a_prometheus_rule_file() {
        let groups = parse_rule_file("rules.yaml", GOOD, Duration::from_secs(15)).expect("valid");
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].interval, Duration::from_secs(1));
        assert_eq!(groups[1].interval, Duration::from_secs(15), "default interval");
        assert_eq!(groups[0].rules.len(), 2);
        let Rule::Alerting(a) = &groups[0].rules[1] else { panic!("alert expected") };
        assert_eq!(a.hold(), Duration::from_secs(2));
        assert_eq!(a.name(), "HighErrorRate");
    }

    #[test]
    fn reports_every_error_with_position_field_and_value() {
        let text = r#"groups:
  - name: g
    rules:
      - alert: A
        expr: sum(rate(x[5m]) by (job)
        for: 5 minutes
      - alert: B
        expr: up == 0
        lables: {severity: page}
      - record: "bad name"
        expr: up
        for: 1m
      - alert: C
        expr: up
        annotations:
          summary: "{{ range .Alerts }}{{ end }}"
  - name: g
    interval: soon
    rules: []
"#;
        let expect = [
            "r.yaml:5:15: groups[0].rules[0].expr = \"sum(rate(x[5m]) by (job)\": invalid PromQL",
            "r.yaml:6:14: groups[0].rules[0].for = \"5 minutes\": not a duration",
            "r.yaml:9:9: groups[0].rules[1].lables = \"lables\": unknown field `lables`",
            "r.yaml:10:17: groups[0].rules[2].record = \"bad name\": invalid metric name",
            "r.yaml:12:14: groups[0].rules[2].for = \"1m\": `for` only applies to alerting rules",
            "r.yaml:16:20: groups[0].rules[3].annotations.summary",
            "r.yaml:17:11: groups[1].name = \"g\": group name is used twice in this file",
            "r.yaml:18:15: groups[1].interval = \"soon\": not a duration",
        ];
        assert_reports(text, &expect);
    }

    #[test]
    fn yaml_syntax_errors_and_unknown_top_level_keys_are_located() {
        let d = parse_rule_file("r.yaml", "groups:\n  - name: [\n", Duration::from_secs(1)).expect_err("syntax");
        assert_eq!(d.len(), 1);
        assert!(d.0[0].line >= 2, "{}", d.0[0]);
        let d = parse_rule_file("r.yaml", "grups: []\n", Duration::from_secs(1)).expect_err("unknown key");
        assert_eq!((d.0[0].line, d.0[0].column), (1, 1), "{}", d.0[0]);
    }

    #[test]
    fn every_shape_error_of_a_rule_or_group_is_reported_not_only_the_first() {
        // Two unknown keys at the top, a group whose name has the wrong type and which has an
        // unknown key, a rule with a wrong-typed `for`, an unknown key and a wrong-typed
        // `labels`, and a rule without `expr`: none of them hides another.
        let text = r#"grups: []
groups:
  - name: [a, list]
    intervall: 1s
    rules:
      - alert: A
        expr: up == 0
        for: [5m]
        colour: red
        labels: oops
      - alert: B
verison: 2
"#;
        let expect = [
            "r.yaml:1:1: grups",
            "r.yaml:3:11: groups[0].name",
            "r.yaml:4:5: groups[0].intervall",
            "r.yaml:8:14: groups[0].rules[0].for",
            "r.yaml:9:9: groups[0].rules[0].colour",
            "r.yaml:10:17: groups[0].rules[0].labels",
            "r.yaml:11:9: groups[0].rules[1]: missing field `expr`",
            "r.yaml:12:1: verison",
        ];
        assert_reports(text, &expect);
    }

    #[test]
    fn a_group_interval_has_a_floor_and_a_long_label_name_is_quoted_short() {
        let long = "l".repeat(100_000);
        let text = format!(
            "groups:\n  - name: fast\n    interval: 10ms\n    rules: [{{record: r, expr: up}}]\n  - name: zero\n    interval: 0s\n    rules: []\n  - name: labels\n    rules:\n      - alert: A\n        expr: up\n        labels:\n          ? {long}-\n          : x\n"
        );
        assert_reports(
            &text,
            &[
                "r.yaml:3:15: groups[0].interval = \"10ms\": must be at least 100ms",
                "r.yaml:6:15: groups[1].interval = \"0s\": must be at least 100ms",
                "r.yaml:14:",
            ],
        );
        let diags = parse_rule_file("r.yaml", &text, Duration::from_secs(1)).expect_err("invalid");
        let shown = diags.to_string();
        assert!(shown.len() < 1_500, "messages quote excerpts: {} bytes", shown.len());
        assert!(
            parse_rule_file(
                "r.yaml",
                "groups:\n  - name: ok\n    interval: 100ms\n    rules: []\n",
                Duration::from_secs(1)
            )
            .is_ok()
        );
    }

    #[test]
    fn a_promql_error_quotes_only_an_excerpt_of_the_query() {
        // The parser's own message repeats the regex; an API error or a diagnostic must not.
        let query = format!("up{{a=~\"{}((\"}}", "x".repeat(5_000));
        let err = promql::parse(&query).expect_err("unbalanced regex").to_string();
        assert!(err.starts_with("illegal regex for xxx"), "{err:.200}");
        assert!(err.len() < 600, "{} bytes", err.len());
    }

    #[test]
    fn empty_file_has_no_groups() {
        assert!(parse_rule_file("r.yaml", "", Duration::from_secs(1)).expect("empty is fine").is_empty());
    }
}
