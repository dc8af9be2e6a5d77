//! The controller's configuration, in two phases: serde structs that mirror the YAML
//! (unknown fields rejected), then one [`compile`] step that checks everything — durations,
//! placeholders, dependencies, PromQL, playbooks — collects *all* errors with
//! file:line:column, and produces the runtime model.
//!
//! ```yaml
//! journal: autonomic.db
//! scrape: { interval: 1s, timeout: 800ms }
//! evaluation_interval: 1s
//! escalation: { webhook: "http://127.0.0.1:9093/page" }
//! services:
//!   checkout:
//!     run: { command: ["./checkout", "--port", "{port}"], replicas: 2 }
//!     health: "http://{addr}/health"
//!     depends_on: [payments]
//!   payments:
//!     targets: ["10.0.0.5:8080"]          # not supervised: only observed
//! rules: [rules/*.yaml]                   # Prometheus rule files
//! rule_groups: []                         # or inline, same format
//! playbooks: [...]
//! defaults: { guards: { cooldown: 5m, max_actions_per_hour: 6, max_unavailable: 50% } }
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use analyze::rules::{RuleGroup, compile_groups, parse_rule_file};
use model::{Diagnostic, Diagnostics, parse_duration};
use remedy::playbook::{Guards, Playbook, RawGuards, compile_playbooks};
use remedy::supervisor::RestartPolicy;
use serde::Deserialize;
use serde::de::IgnoredAny;
use yamlspan::{Node, NodeValue, Spanned, parse_document};

/// Scrape settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeSettings {
    /// Time between scrapes of each target.
    pub interval: Duration,
    /// Time one scrape may take.
    pub timeout: Duration,
    /// Consecutive failed scrapes before `target_down`.
    pub down_after: u32,
}

/// Health-probe settings of a service.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSettings {
    /// Time between probes.
    pub period: Duration,
    /// Time one probe may take.
    pub timeout: Duration,
    /// Consecutive failures before `probe_failed`.
    pub failure_threshold: u32,
    /// Consecutive successes before it resolves.
    pub success_threshold: u32,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        Self {
            period: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            failure_threshold: 2,
            success_threshold: 1,
        }
    }
}

/// How to run a supervised service.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// Program and arguments, with placeholders.
    pub command: Vec<String>,
    /// Extra environment, with placeholders.
    pub env: BTreeMap<String, String>,
    /// Replica count.
    pub replicas: usize,
    /// Version label of the configured release.
    pub release: String,
    /// SIGTERM-to-SIGKILL grace.
    pub stop_grace: Duration,
    /// How long a (re)started replica may take to become ready.
    pub ready_timeout: Duration,
    /// Restart-on-exit policy.
    pub restart: RestartPolicy,
}

/// One service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// Its name (the `service` label of its series and signals).
    pub name: String,
    /// Supervised locally, or `None` when only observed.
    pub run: Option<RunConfig>,
    /// Fixed `host:port` of each replica of an observed service.
    pub targets: Vec<String>,
    /// Metrics URL template (`{addr}`), `None` to not scrape.
    pub metrics: Option<String>,
    /// Health check template: `http://{addr}/…` or `tcp://{addr}`; `None` for no probe.
    pub health: Option<String>,
    /// Probe settings.
    pub probe: ProbeSettings,
    /// Services this one calls.
    pub depends_on: Vec<String>,
}

impl ServiceConfig {
    /// Number of replicas.
    pub fn replicas(&self) -> usize {
        self.run
            .as_ref()
            .map(|r| r.replicas)
            .unwrap_or(self.targets.len())
    }
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The journal file.
    pub journal: PathBuf,
    /// Scrape settings.
    pub scrape: ScrapeSettings,
    /// Rule evaluation interval (default for groups without one).
    pub evaluation_interval: Duration,
    /// How long a new incident waits for a root cause downstream before acting.
    pub group_wait: Duration,
    /// Retention of the series store.
    pub retention: Duration,
    /// Series cap of the series store.
    pub max_series: usize,
    /// Webhook for pages.
    pub escalation_url: Option<String>,
    /// Services by name, in file order.
    pub services: Vec<ServiceConfig>,
    /// Rule groups from files and inline.
    pub rule_groups: Vec<RuleGroup>,
    /// Playbooks, in match order.
    pub playbooks: Vec<Playbook>,
}

impl Config {
    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.iter().find(|s| s.name == name)
    }

    /// Every service `name` depends on, directly or not.
    pub fn downstream_of(&self, name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![name.to_owned()];
        while let Some(s) = todo.pop() {
            for d in self
                .service(&s)
                .map(|c| c.depends_on.clone())
                .unwrap_or_default()
            {
                if seen.insert(d.clone()) {
                    todo.push(d);
                }
            }
        }
        seen.remove(name);
        seen
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    journal: Option<Spanned<String>>,
    #[serde(default)]
    scrape: Option<RawScrape>,
    #[serde(default)]
    evaluation_interval: Option<Spanned<String>>,
    #[serde(default)]
    group_wait: Option<Spanned<String>>,
    #[serde(default)]
    retention: Option<Spanned<String>>,
    #[serde(default)]
    max_series: Option<usize>,
    #[serde(default)]
    escalation: Option<RawEscalation>,
    #[serde(default)]
    #[allow(dead_code)]
    services: IgnoredAny,
    #[serde(default)]
    rules: Vec<Spanned<String>>,
    #[serde(default)]
    #[allow(dead_code)]
    rule_groups: IgnoredAny,
    #[serde(default)]
    #[allow(dead_code)]
    playbooks: IgnoredAny,
    #[serde(default)]
    defaults: Option<RawDefaults>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScrape {
    #[serde(default)]
    interval: Option<Spanned<String>>,
    #[serde(default)]
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    down_after: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEscalation {
    webhook: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    #[serde(default)]
    guards: Option<RawGuards>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    #[serde(default)]
    run: Option<RawRun>,
    #[serde(default)]
    targets: Vec<Spanned<String>>,
    #[serde(default)]
    metrics: Option<Spanned<String>>,
    #[serde(default)]
    health: Option<Spanned<String>>,
    #[serde(default)]
    probe: Option<RawProbe>,
    #[serde(default)]
    depends_on: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    command: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    replicas: Option<Spanned<usize>>,
    #[serde(default)]
    release: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    stop_grace: Option<Spanned<String>>,
    #[serde(default)]
    ready_timeout: Option<Spanned<String>>,
    #[serde(default)]
    restart: Option<RawRestart>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestart {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    backoff: Option<Spanned<String>>,
    #[serde(default)]
    max_backoff: Option<Spanned<String>>,
    #[serde(default)]
    reset_after: Option<Spanned<String>>,
    #[serde(default)]
    burst: Option<u32>,
    #[serde(default)]
    interval: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    #[serde(default)]
    period: Option<Spanned<String>>,
    #[serde(default)]
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    failure_threshold: Option<u32>,
    #[serde(default)]
    success_threshold: Option<u32>,
}

/// Placeholders a command, environment value or URL template may use.
pub const PLACEHOLDERS: &[&str] = &["port", "addr", "replica", "service", "autonomic"];

fn dur(
    v: &Option<Spanned<String>>,
    path: &str,
    default: Duration,
    positive: bool,
    diags: &mut Diagnostics,
) -> Duration {
    let Some(v) = v else { return default };
    match parse_duration(&v.value) {
        Ok(d) if positive && d.is_zero() => {
            diags.push(v.diagnostic(path, "must be positive"));
            default
        }
        Ok(d) => d,
        Err(e) => {
            diags.push(v.diagnostic(path, e));
            default
        }
    }
}

/// Checks `{…}` placeholders in `text`; `services` are the names `{addrs:NAME}` may use.
fn check_placeholders(
    text: &Spanned<String>,
    path: &str,
    services: &BTreeSet<String>,
    allow_port: bool,
    diags: &mut Diagnostics,
) {
    let mut rest = text.value.as_str();
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        let known = match name.strip_prefix("addrs:") {
            Some(svc) => services.contains(svc),
            None => PLACEHOLDERS.contains(&name) && (allow_port || name != "port"),
        };
        if !known
            && !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            diags.push(text.diagnostic(
                path,
                format!("unknown placeholder {{{name}}}; known: {{port}} {{addr}} {{replica}} {{service}} {{autonomic}} {{addrs:SERVICE}}"),
            ));
        }
        rest = &rest[open + close + 1..];
    }
}

fn compile_service(
    name: &str,
    raw: &RawService,
    node: &Node,
    names: &BTreeSet<String>,
    diags: &mut Diagnostics,
) -> ServiceConfig {
    let path = format!("services.{name}");
    let run = raw.run.as_ref().map(|r| {
        let rpath = format!("{path}.run");
        if r.command.value.is_empty() {
            diags.push(
                r.command
                    .diagnostic(format!("{rpath}.command"), "command must name a program"),
            );
        }
        for (i, arg) in r.command.value.iter().enumerate() {
            check_placeholders(arg, &format!("{rpath}.command[{i}]"), names, true, diags);
        }
        for (k, v) in &r.env {
            check_placeholders(v, &format!("{rpath}.env.{k}"), names, true, diags);
        }
        let replicas = match &r.replicas {
            Some(n) if n.value == 0 => {
                diags.push(n.diagnostic(format!("{rpath}.replicas"), "at least one replica"));
                1
            }
            Some(n) => n.value,
            None => 1,
        };
        let defaults = RestartPolicy::default();
        let restart = match &r.restart {
            None => defaults,
            Some(x) => {
                let p = format!("{rpath}.restart");
                RestartPolicy {
                    enabled: x.enabled.unwrap_or(true),
                    initial_backoff: dur(
                        &x.backoff,
                        &format!("{p}.backoff"),
                        defaults.initial_backoff,
                        false,
                        diags,
                    ),
                    max_backoff: dur(
                        &x.max_backoff,
                        &format!("{p}.max_backoff"),
                        defaults.max_backoff,
                        false,
                        diags,
                    ),
                    reset_after: dur(
                        &x.reset_after,
                        &format!("{p}.reset_after"),
                        defaults.reset_after,
                        false,
                        diags,
                    ),
                    burst: x.burst.unwrap_or(defaults.burst),
                    interval: dur(
                        &x.interval,
                        &format!("{p}.interval"),
                        defaults.interval,
                        true,
                        diags,
                    ),
                }
            }
        };
        RunConfig {
            command: r.command.value.iter().map(|a| a.value.clone()).collect(),
            env: r
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect(),
            replicas,
            release: r.release.clone().unwrap_or_else(|| "initial".into()),
            stop_grace: dur(
                &r.stop_grace,
                &format!("{rpath}.stop_grace"),
                Duration::from_secs(5),
                false,
                diags,
            ),
            ready_timeout: dur(
                &r.ready_timeout,
                &format!("{rpath}.ready_timeout"),
                Duration::from_secs(15),
                true,
                diags,
            ),
            restart,
        }
    });
    match (&run, raw.targets.is_empty()) {
        (Some(_), false) => diags.push(raw.targets[0].diagnostic(
            format!("{path}.targets"),
            "a service is either run here (`run`) or observed (`targets`), not both",
        )),
        (None, true) => diags.push(node.diagnostic(
            path.clone(),
            "a service needs `run` (supervise it here) or `targets` (observe it)",
        )),
        _ => {}
    }
    for (i, t) in raw.targets.iter().enumerate() {
        if t.value.contains("://") || !t.value.contains(':') {
            diags.push(t.diagnostic(format!("{path}.targets[{i}]"), "expected host:port"));
        }
    }
    let url_template = |v: &Option<Spanned<String>>,
                        field: &str,
                        default: Option<&str>,
                        diags: &mut Diagnostics|
     -> Option<String> {
        match v {
            None => default.map(str::to_owned),
            Some(s) if s.value == "none" => None,
            Some(s) => {
                let ok = s.value.starts_with("http://")
                    || s.value.starts_with("https://")
                    || (field == "health" && s.value.starts_with("tcp://"));
                if !ok {
                    let schemes = if field == "health" {
                        "http://, https:// or tcp://"
                    } else {
                        "http:// or https://"
                    };
                    diags.push(s.diagnostic(
                        format!("{path}.{field}"),
                        format!("expected a URL starting with {schemes}, or `none`"),
                    ));
                }
                check_placeholders(s, &format!("{path}.{field}"), names, false, diags);
                Some(s.value.clone())
            }
        }
    };
    let metrics = url_template(
        &raw.metrics,
        "metrics",
        Some("http://{addr}/metrics"),
        diags,
    );
    let health = url_template(&raw.health, "health", None, diags);
    let probe = raw
        .probe
        .as_ref()
        .map(|p| {
            let d = ProbeSettings::default();
            let pp = format!("{path}.probe");
            ProbeSettings {
                period: dur(&p.period, &format!("{pp}.period"), d.period, true, diags),
                timeout: dur(&p.timeout, &format!("{pp}.timeout"), d.timeout, true, diags),
                failure_threshold: p.failure_threshold.unwrap_or(d.failure_threshold).max(1),
                success_threshold: p.success_threshold.unwrap_or(d.success_threshold).max(1),
            }
        })
        .unwrap_or_default();
    for (i, dep) in raw.depends_on.iter().enumerate() {
        if !names.contains(&dep.value) {
            diags.push(dep.diagnostic(
                format!("{path}.depends_on[{i}]"),
                "no service with this name",
            ));
        } else if dep.value == name {
            diags.push(dep.diagnostic(
                format!("{path}.depends_on[{i}]"),
                "a service cannot depend on itself",
            ));
        }
    }
    ServiceConfig {
        name: name.to_owned(),
        run,
        targets: raw.targets.iter().map(|t| t.value.clone()).collect(),
        metrics,
        health,
        probe,
        depends_on: raw.depends_on.iter().map(|d| d.value.clone()).collect(),
    }
}

fn find_cycle(services: &[ServiceConfig]) -> Option<Vec<String>> {
    let graph: HashMap<&str, &[String]> = services
        .iter()
        .map(|s| (s.name.as_str(), s.depends_on.as_slice()))
        .collect();
    fn visit<'a>(
        n: &'a str,
        g: &HashMap<&'a str, &'a [String]>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| *s == n) {
            let mut cycle: Vec<String> = stack[i..].iter().map(|s| s.to_string()).collect();
            cycle.push(n.to_owned());
            return Some(cycle);
        }
        if !done.insert(n) {
            return None;
        }
        stack.push(n);
        for d in g.get(n).copied().unwrap_or_default() {
            if let Some(c) = visit(d, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    services
        .iter()
        .find_map(|s| visit(&s.name, &graph, &mut Vec::new(), &mut done))
}

/// Expands `dir/*.yaml`-style patterns (a `*` in the file name only) to sorted paths.
fn expand_glob(pattern: &Path) -> std::io::Result<Vec<PathBuf>> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains('*') {
        return Ok(vec![pattern.to_path_buf()]);
    }
    let dir = pattern
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let (prefix, suffix) = name.split_once('*').unwrap_or((&name, ""));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().map(|n| n.to_string_lossy()).is_some_and(|n| {
                n.starts_with(prefix)
                    && n.ends_with(suffix)
                    && n.len() >= prefix.len() + suffix.len()
            })
        })
        .collect();
    out.sort();
    Ok(out)
}

fn check_promql(e: &str) -> Result<(), String> {
    analyze::promql::parse(e)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Checks a configuration document. `base` resolves relative paths (rule files, journal).
pub fn compile(file: &str, text: &str, base: &Path) -> Result<Config, Diagnostics> {
    let mut diags = Diagnostics::new();
    let root = parse_document(file, text).map_err(|d| Diagnostics(vec![d]))?;
    if root.value == NodeValue::Null {
        return Err(Diagnostics(vec![
            root.diagnostic("", "the configuration is empty"),
        ]));
    }
    let raw: RawConfig = root.deserialize("").map_err(|d| Diagnostics(vec![d]))?;

    let scrape = {
        let s = raw.scrape.as_ref();
        let interval = dur(
            &s.and_then(|s| s.interval.clone()),
            "scrape.interval",
            Duration::from_secs(1),
            true,
            &mut diags,
        );
        let timeout = dur(
            &s.and_then(|s| s.timeout.clone()),
            "scrape.timeout",
            interval.min(Duration::from_secs(10)),
            true,
            &mut diags,
        );
        ScrapeSettings {
            interval,
            timeout,
            down_after: s.and_then(|s| s.down_after).unwrap_or(2).max(1),
        }
    };
    let evaluation_interval = dur(
        &raw.evaluation_interval,
        "evaluation_interval",
        Duration::from_secs(1),
        true,
        &mut diags,
    );
    let group_wait = dur(
        &raw.group_wait,
        "group_wait",
        Duration::from_secs(2),
        false,
        &mut diags,
    );
    let retention = dur(
        &raw.retention,
        "retention",
        Duration::from_secs(3600),
        true,
        &mut diags,
    );
    let escalation_url = raw.escalation.as_ref().map(|e| {
        if !(e.webhook.value.starts_with("http://") || e.webhook.value.starts_with("https://")) {
            diags.push(
                e.webhook
                    .diagnostic("escalation.webhook", "expected an http:// or https:// URL"),
            );
        }
        e.webhook.value.clone()
    });

    let mut services = Vec::new();
    if let Some(node) = root.get("services") {
        let names: BTreeSet<String> = match &node.value {
            NodeValue::Map(entries) => entries
                .iter()
                .filter_map(|(k, _)| k.scalar_text())
                .collect(),
            _ => BTreeSet::new(),
        };
        for (name, raw_service, snode) in node.each_entry::<RawService>("services", &mut diags) {
            services.push(compile_service(
                &name,
                &raw_service,
                snode,
                &names,
                &mut diags,
            ));
        }
        if let Some(cycle) = find_cycle(&services) {
            diags.push(node.diagnostic(
                "services",
                format!("depends_on forms a cycle: {}", cycle.join(" → ")),
            ));
        }
    }

    let mut rule_groups = Vec::new();
    for (i, pattern) in raw.rules.iter().enumerate() {
        let path = base.join(&pattern.value);
        match expand_glob(&path) {
            Ok(files) if files.is_empty() => {
                diags.push(pattern.diagnostic(format!("rules[{i}]"), "no file matches"))
            }
            Ok(files) => {
                for f in files {
                    let shown = f.display().to_string();
                    match std::fs::read_to_string(&f) {
                        Ok(text) => match parse_rule_file(&shown, &text, evaluation_interval) {
                            Ok(g) => rule_groups.extend(g),
                            Err(d) => diags.extend(d),
                        },
                        Err(e) => diags.push(pattern.diagnostic(
                            format!("rules[{i}]"),
                            format!("cannot read {shown}: {e}"),
                        )),
                    }
                }
            }
            Err(e) => diags
                .push(pattern.diagnostic(format!("rules[{i}]"), format!("cannot list files: {e}"))),
        }
    }
    if let Some(node) = root.get("rule_groups") {
        rule_groups.extend(compile_groups(
            node,
            "rule_groups",
            file,
            evaluation_interval,
            &mut diags,
        ));
    }

    let defaults = raw
        .defaults
        .as_ref()
        .and_then(|d| d.guards.as_ref())
        .map(|g| g.compile(&Guards::default(), "defaults.guards", &mut diags))
        .unwrap_or_default();
    let playbooks = root
        .get("playbooks")
        .map(|node| compile_playbooks(node, "playbooks", &defaults, &check_promql, &mut diags))
        .unwrap_or_default();
    if let Some(NodeValue::Seq(items)) = root.get("playbooks").map(|n| &n.value) {
        for (i, item) in items.iter().enumerate() {
            if let Some(svc) = item.get("match").and_then(|m| m.get("service"))
                && let Some(name) = svc.scalar_text()
                && !services.iter().any(|c| c.name == name)
            {
                diags.push(svc.diagnostic(
                    format!("playbooks[{i}].match.service"),
                    "no service with this name",
                ));
            }
        }
    }

    let journal = raw
        .journal
        .as_ref()
        .map(|j| base.join(&j.value))
        .unwrap_or_else(|| base.join("autonomic.db"));
    diags.sort();
    diags.into_result(Config {
        journal,
        scrape,
        evaluation_interval,
        group_wait,
        retention,
        max_series: raw.max_series.unwrap_or(200_000),
        escalation_url,
        services,
        rule_groups,
        playbooks,
    })
}

/// Reads and checks a configuration file.
pub fn load(path: &Path) -> Result<Config, Diagnostics> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            file: shown.clone(),
            line: 0,
            column: 0,
            field: String::new(),
            value: None,
            message: format!("cannot read: {e}"),
        }])
    })?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    compile(&shown, &text, base)
}
