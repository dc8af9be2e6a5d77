//! The controller's configuration, in two phases: serde structs that mirror the YAML
//! (unknown fields rejected, each one reported and the rest still checked), then one
//! [`compile`] step that checks everything — durations,
//! placeholders, dependencies, PromQL, playbooks — collects *all* errors with
//! file:line:column, and produces the runtime model.
//!
//! ```yaml
//! journal: autonomic.db
//! journal_retention: 90d                  # what has ended is pruned after this
//! snapshot: autonomic.snapshot            # the series store across restarts (`none`: off)
//! scrape: { interval: 1s, timeout: 800ms }
//! evaluation_interval: 1s
//! escalation: { webhook: "http://127.0.0.1:9093/page", retry_for: 10m }
//! services:
//!   checkout:
//!     run: { command: ["./checkout", "--port", "{port}"], replicas: 2 }
//!     health: "http://{addr}/health"
//!     depends_on: [payments]
//!   payments:
//!     targets: ["10.0.0.5:8080"]          # not supervised: only observed
//! rules: [rules/*.yaml]                   # Prometheus rule files
//! rule_groups: []                         # or inline, same format
//! playbooks: [...]                       # matched in order: inline first,
//! playbook_files: [playbooks/*.yaml]      #   then these files' `playbooks:`, in order
//! defaults: { guards: { cooldown: 5m, max_actions_per_hour: 6, max_unavailable: 50% } }
//! sources: [{ type: remote_write }, { type: alertmanager }]   # pushed to the API's listener
//! api: { listen: 127.0.0.1:9464, tokens: [...] }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod api;
pub mod bounds;
mod escalation;
pub mod kubernetes;
pub mod limits;
mod raw;
mod services;
mod sources;

pub use api::ApiSettings;
use bounds::{count, dur, timeout};
use raw::{RawConfig, RawService, RawWatch};
use services::{compile_service, expand_glob, find_cycle};

use analyze::rules::{RuleGroup, compile_groups, parse_rule_file};
use model::{Diagnostic, Diagnostics, excerpt};
use remedy::actuators::process::RestartPolicy;
use remedy::playbook::{Checks, Guards, Playbook, PlaybookNames, compile_playbook_file, compile_playbooks};
use yamlspan::{Node, NodeValue, Spanned, parse_document};

/// How long the journal keeps what has ended when `journal_retention` does not say: 90 days.
pub const DEFAULT_JOURNAL_RETENTION: Duration = Duration::from_secs(90 * 86_400);

/// Default `echo_window`: long enough for the demo's 5 s rate windows plus `for:` to drain
/// after a downstream recovery.
pub const DEFAULT_ECHO_WINDOW: Duration = Duration::from_secs(10);

/// Default `resume_within`: an incident of an earlier run whose alert does not fire again
/// within a minute of the restart is closed as expired.
pub const DEFAULT_RESUME_WITHIN: Duration = Duration::from_secs(60);

/// Scrape settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeSettings {
    /// Time between scrapes of each target.
    pub interval: Duration,
    /// Time one scrape may take.
    pub timeout: Duration,
    /// Consecutive failed scrapes before `target_down`.
    pub down_after: u32,
    /// What one scrape of a target may bring (`sample_limit`, `body_size_limit`, …).
    pub limits: monitor::ScrapeLimits,
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
    /// The first replica's fixed port (`run.port`; replica `i` gets `port + i`), for
    /// services that something else must find (an external Prometheus); `None`: free ports
    /// are picked at start.
    pub port: Option<u16>,
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
    /// Supervised locally, or `None` when only observed or in a cluster.
    pub run: Option<RunConfig>,
    /// The Kubernetes workload it is (`kubernetes:`), acted on through the API server.
    pub kubernetes: Option<::kubernetes::Workload>,
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
    /// The type of actuator the service is bound to: `process` for one run here,
    /// `kubernetes` for a workload in a cluster, none for one only observed.
    pub fn actuator_type(&self) -> Option<&'static model::ActuatorSpec> {
        if self.run.is_some() {
            Some(&remedy::actuators::PROCESS)
        } else if self.kubernetes.is_some() {
            Some(&remedy::actuators::KUBERNETES)
        } else {
            None
        }
    }

    /// Number of replicas.
    pub fn replicas(&self) -> usize {
        self.run.as_ref().map(|r| r.replicas).unwrap_or(self.targets.len())
    }
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The journal file.
    pub journal: PathBuf,
    /// How long the journal keeps what has ended (`journal_retention`).
    pub journal_retention: Duration,
    /// Where the series store is saved on shutdown (and every few minutes) and restored
    /// from on start (`snapshot`; default: the journal's path with the extension
    /// `.snapshot`; `none`: never).
    pub snapshot: Option<PathBuf>,
    /// Scrape settings.
    pub scrape: ScrapeSettings,
    /// Rule evaluation interval (default for groups without one).
    pub evaluation_interval: Duration,
    /// How long a new incident waits for a root cause downstream before acting.
    pub group_wait: Duration,
    /// How long after a downstream incident resolves an upstream signal of a name it saw is
    /// taken for its echo (rate windows drain slowly) rather than a new problem.
    pub echo_window: Duration,
    /// How long incidents left open by an earlier run wait for their signal to fire again
    /// (and be resumed) before they are closed as expired.
    pub resume_within: Duration,
    /// Retention of the series store.
    pub retention: Duration,
    /// Series cap of the series store.
    pub max_series: usize,
    /// Webhook for pages.
    pub escalation_url: Option<String>,
    /// How long a page is retried before it counts as not delivered (`escalation.retry_for`).
    pub escalation_retry_for: Duration,
    /// The escalation receiver's payload shape (`escalation.format`).
    pub escalation_format: remedy::PageFormat,
    /// PagerDuty's routing key, read from `escalation.routing_key_file`.
    pub escalation_routing_key: Option<model::Secret>,
    /// Services by name, in file order.
    pub services: Vec<ServiceConfig>,
    /// Rule groups from files and inline.
    pub rule_groups: Vec<RuleGroup>,
    /// Playbooks, in match order: the inline ones, then those of each playbook file.
    pub playbooks: Vec<Playbook>,
    /// Learned-baseline watches.
    pub anomaly_watches: Vec<analyze::anomaly::WatchSpec>,
    /// The API: where it listens, who may use it, and its limits.
    pub api: ApiSettings,
    /// Sources that receive pushed telemetry (`sources:`), served on the API's listener.
    pub push_sources: Vec<monitor::SourceSpec>,
    /// How to reach the cluster of the `kubernetes` services (`kubernetes:`).
    pub kubernetes: kubernetes::KubernetesSettings,
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
            for d in self.service(&s).map(|c| c.depends_on.clone()).unwrap_or_default() {
                if seen.insert(d.clone()) {
                    todo.push(d);
                }
            }
        }
        seen.remove(name);
        seen
    }
}

fn check_promql(e: &str) -> Result<(), String> {
    analyze::promql::parse(e).map(|_| ()).map_err(|e| e.to_string())
}

/// Checks a configuration document. `base` resolves relative paths (rule files, journal).
pub fn compile(file: &str, text: &str, base: &Path) -> Result<Config, Diagnostics> {
    let mut diags = Diagnostics::new();
    let root = parse_document(file, text).map_err(|d| Diagnostics(vec![d]))?;
    if root.value == NodeValue::Null {
        return Err(Diagnostics(vec![root.diagnostic("", "the configuration is empty")]));
    }
    // Every section on its own: an unknown top-level key or a bad value in one section is
    // reported and left out, and the other sections are still checked.
    let Some(raw) = root.deserialize_lenient::<RawConfig>("", &mut diags) else {
        diags.sort();
        return Err(diags);
    };

    let scrape = {
        let s = raw.scrape.as_ref();
        let interval = dur(
            &s.and_then(|s| s.interval.clone()),
            "scrape.interval",
            Duration::from_secs(1),
            &bounds::INTERVAL,
            &mut diags,
        );
        let timeout = timeout(
            &s.and_then(|s| s.timeout.clone()),
            "scrape.timeout",
            Duration::from_secs(10),
            interval,
            "scrape.interval",
            &mut diags,
        );
        let down_after =
            count(&s.and_then(|s| s.down_after.clone()), "scrape.down_after", 2, &bounds::CONSECUTIVE, &mut diags);
        ScrapeSettings { interval, timeout, down_after, limits: limits::scrape_limits(s, &mut diags) }
    };
    let evaluation_interval =
        dur(&raw.evaluation_interval, "evaluation_interval", Duration::from_secs(1), &bounds::INTERVAL, &mut diags);
    let group_wait = dur(&raw.group_wait, "group_wait", Duration::from_secs(2), &bounds::GROUP_WAIT, &mut diags);
    let echo_window = dur(&raw.echo_window, "echo_window", DEFAULT_ECHO_WINDOW, &bounds::ECHO_WINDOW, &mut diags);
    let resume_within =
        dur(&raw.resume_within, "resume_within", DEFAULT_RESUME_WITHIN, &bounds::RESUME_WITHIN, &mut diags);
    let retention = dur(&raw.retention, "retention", Duration::from_secs(3600), &bounds::POSITIVE, &mut diags);
    let max_series = limits::max_series(&raw.max_series, &mut diags);
    let journal_retention = dur(
        &raw.journal_retention,
        "journal_retention",
        DEFAULT_JOURNAL_RETENTION,
        &bounds::JOURNAL_RETENTION,
        &mut diags,
    );
    let escalation_retry_for = dur(
        &raw.escalation.as_ref().and_then(|e| e.retry_for.clone()),
        "escalation.retry_for",
        remedy::pager::DEFAULT_RETRY_FOR,
        &bounds::PAGE_RETRY_FOR,
        &mut diags,
    );
    let escalation_url = raw.escalation.as_ref().map(|e| {
        if !(e.webhook.value.starts_with("http://") || e.webhook.value.starts_with("https://")) {
            diags.push(e.webhook.diagnostic("escalation.webhook", "expected an http:// or https:// URL"));
        } else if let Err(problem) = remedy::endpoint::check_url(&e.webhook.value) {
            diags.push(e.webhook.diagnostic("escalation.webhook", problem));
        }
        e.webhook.value.clone()
    });
    let (escalation_format, escalation_routing_key) = match &raw.escalation {
        Some(e) => escalation::receiver(e, base, &mut diags),
        None => (remedy::PageFormat::Webhook, None),
    };
    if let Some(j) = &raw.journal {
        check_journal_path(j, &mut diags);
    }

    let mut services = Vec::new();
    if let Some(node) = root.get("services") {
        let names: BTreeSet<String> = match &node.value {
            NodeValue::Map(entries) => entries.iter().filter_map(|(k, _)| k.scalar_text()).collect(),
            _ => BTreeSet::new(),
        };
        for (name, raw_service, snode, clean) in node.each_entry_lenient::<RawService>("services", &mut diags) {
            services.push(compile_service(&name, &raw_service, snode, clean, &names, &mut diags));
        }
        if let Some(cycle) = find_cycle(&services) {
            diags.push(node.diagnostic("services", format!("depends_on forms a cycle: {}", cycle.join(" → "))));
        }
    }

    let mut rule_groups = Vec::new();
    for (pattern, field, f) in resolve_files(&raw.rules, "rules", base, &mut diags) {
        let shown = f.display().to_string();
        match yamlspan::read_source(&f) {
            Ok(text) => match parse_rule_file(&shown, &text, evaluation_interval) {
                Ok(g) => rule_groups.extend(g),
                Err(d) => diags.extend(d),
            },
            Err(e) => diags.push(pattern.diagnostic(field, format!("cannot read {shown}: {e}"))),
        }
    }
    if let Some(node) = root.get("rule_groups") {
        rule_groups.extend(compile_groups(node, "rule_groups", file, evaluation_interval, &mut diags));
    }

    let defaults = raw
        .defaults
        .as_ref()
        .and_then(|d| d.guards.as_ref())
        .map(|g| g.compile(&Guards::default(), "defaults.guards", &mut diags))
        .unwrap_or_default();
    // Inline playbooks first, then each playbook file's, in order: `select` takes the first
    // that matches. Names are unique across all of them.
    let mut names = PlaybookNames::new();
    let mut playbooks = Vec::new();
    let bound: BTreeMap<String, Option<&'static model::ActuatorSpec>> =
        services.iter().map(|s| (s.name.clone(), s.actuator_type())).collect();
    let checks = Checks { defaults: &defaults, expr: &check_promql, services: &bound };
    if let Some(node) = root.get("playbooks") {
        playbooks.extend(compile_playbooks(node, "playbooks", &checks, &mut names, &mut diags));
        check_match_services(node, &services, &mut diags);
    }
    let mut loaded = BTreeSet::new();
    for (pattern, field, f) in resolve_files(&raw.playbook_files, "playbook_files", base, &mut diags) {
        let shown = f.display().to_string();
        if !loaded.insert(std::fs::canonicalize(&f).unwrap_or_else(|_| f.clone())) {
            diags.push(pattern.diagnostic(field, format!("{shown} is already loaded by an earlier entry")));
            continue;
        }
        match yamlspan::read_source(&f) {
            Ok(text) => {
                let file = compile_playbook_file(&shown, &text, &checks, &mut names, &mut diags);
                if let Some(node) = &file.node {
                    check_match_services(node, &services, &mut diags);
                }
                playbooks.extend(file.playbooks);
            }
            Err(e) => diags.push(pattern.diagnostic(field, format!("cannot read {shown}: {e}"))),
        }
    }

    let anomaly_watches = root
        .get("anomaly_detection")
        .map(|node| compile_watches(node, evaluation_interval, &mut diags))
        .unwrap_or_default();

    let api = api::compile_api(raw.api.as_ref(), base, &mut diags);
    let kubernetes = kubernetes::compile_cluster(raw.kubernetes.as_ref(), base, &mut diags);
    let push_sources =
        root.get("sources").map(|n| sources::compile_sources(n, retention, &mut diags)).unwrap_or_default();
    let journal = raw.journal.as_ref().map(|j| base.join(&j.value)).unwrap_or_else(|| base.join("autonomic.db"));
    let snapshot = match &raw.snapshot {
        None => Some(journal.with_extension("snapshot")),
        Some(s) if s.value == "none" => None,
        Some(s) if s.value.trim().is_empty() => {
            diags.push(s.diagnostic("snapshot", "expected a file, or `none`"));
            None
        }
        Some(s) => Some(base.join(&s.value)),
    };
    diags.sort();
    diags.into_result(Config {
        journal,
        snapshot,
        scrape,
        evaluation_interval,
        group_wait,
        echo_window,
        resume_within,
        retention,
        journal_retention,
        max_series,
        escalation_url,
        escalation_retry_for,
        escalation_format,
        escalation_routing_key,
        services,
        rule_groups,
        playbooks,
        anomaly_watches,
        api,
        push_sources,
        kubernetes,
    })
}

/// The files that `patterns` (paths, or globs with `*` in the file name, relative to `base`)
/// name, in order, each with its pattern and the pattern's field (`key[i]`). A pattern that
/// matches nothing or whose directory cannot be listed is reported.
fn resolve_files<'a>(
    patterns: &'a [Spanned<String>],
    key: &str,
    base: &Path,
    diags: &mut Diagnostics,
) -> Vec<(&'a Spanned<String>, String, PathBuf)> {
    let mut out = Vec::new();
    for (i, pattern) in patterns.iter().enumerate() {
        let field = format!("{key}[{i}]");
        match expand_glob(&base.join(&pattern.value)) {
            Ok(files) if files.is_empty() => diags.push(pattern.diagnostic(field, "no file matches")),
            Ok(files) => out.extend(files.into_iter().map(|f| (pattern, field.clone(), f))),
            Err(e) => diags.push(pattern.diagnostic(field, format!("cannot list files: {e}"))),
        }
    }
    out
}

/// Reports every `match.service` of the `playbooks:` list `node` that names no service.
fn check_match_services(node: &Node, services: &[ServiceConfig], diags: &mut Diagnostics) {
    let NodeValue::Seq(items) = &node.value else { return };
    for (i, item) in items.iter().enumerate() {
        if let Some(svc) = item.get("match").and_then(|m| m.get("service"))
            && let Some(name) = svc.scalar_text()
            && !services.iter().any(|c| c.name == name)
        {
            diags.push(svc.diagnostic(format!("playbooks[{i}].match.service"), "no service with this name"));
        }
    }
}

/// Checks a playbook file on its own, without a configuration: its playbooks get the
/// default guards, and whether a `match.service` names a service is not checked (there are
/// no services to check it against). `file` names it in diagnostics.
pub fn check_playbook_file(file: &str, text: &str) -> Result<Vec<Playbook>, Diagnostics> {
    let mut diags = Diagnostics::new();
    let unbound = BTreeMap::new();
    let checks = Checks { defaults: &Guards::default(), expr: &check_promql, services: &unbound };
    let checked = compile_playbook_file(file, text, &checks, &mut PlaybookNames::new(), &mut diags);
    diags.sort();
    diags.into_result(checked.playbooks)
}

/// Reads and checks a configuration file: a regular file of at most
/// [`yamlspan::MAX_SOURCE_BYTES`] (a FIFO, a device or a directory is refused unread).
pub fn load(path: &Path) -> Result<Config, Diagnostics> {
    let shown = path.display().to_string();
    let text = yamlspan::read_source(path).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            file: shown.clone(),
            line: 0,
            column: 0,
            field: String::new(),
            value: None,
            message: e.to_string(),
        }])
    })?;
    let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    compile(&shown, &text, base)
}

/// The journal's path must be one the system can open: at most
/// [`bounds::MAX_PATH_BYTES`], without a NUL byte, not empty.
fn check_journal_path(j: &Spanned<String>, diags: &mut Diagnostics) {
    let problem = if j.value.trim().is_empty() {
        Some("must name a file".to_owned())
    } else if j.value.len() > bounds::MAX_PATH_BYTES {
        Some(format!("a path has at most {} bytes, this one {}", bounds::MAX_PATH_BYTES, j.value.len()))
    } else if j.value.contains('\0') {
        Some("a path cannot hold a NUL byte".to_owned())
    } else {
        None
    };
    if let Some(p) = problem {
        diags.push(j.diagnostic("journal", p));
    }
}

/// `10%` or `0.1`: a non-negative fraction.
fn parse_fraction(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let value = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("expected a fraction like 0.1 or a percentage like 10%, got {:?}", excerpt(t)))?;
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(format!("must be zero or more, got {:?}", excerpt(t)))
    }
}

fn compile_watches(
    node: &yamlspan::Node,
    default_interval: Duration,
    diags: &mut Diagnostics,
) -> Vec<analyze::anomaly::WatchSpec> {
    use analyze::anomaly::{Direction, WatchSpec};
    let mut names = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (i, raw, wnode, clean) in node.each_lenient::<RawWatch>("anomaly_detection", diags) {
        let path = format!("anomaly_detection[{i}]");
        let before = diags.len();
        // A required field left out for an error of its own has been reported already.
        for (field, present) in [("name", raw.name.is_some()), ("expr", raw.expr.is_some())] {
            if !present && wnode.missing_unreported(clean, &[field]) {
                diags.push(wnode.diagnostic(path.clone(), format!("missing field `{field}`")));
            }
        }
        if let Some(name) = &raw.name
            && (name.value.trim().is_empty() || !names.insert(name.value.clone()))
        {
            diags.push(name.diagnostic(format!("{path}.name"), "watch names must be non-empty and unique"));
        }
        let expr = raw.expr.as_ref().and_then(|e| match analyze::promql::parse(&e.value) {
            Ok(parsed) => Some(parsed),
            Err(err) => {
                diags.push(e.diagnostic(format!("{path}.expr"), format!("invalid PromQL: {err}")));
                None
            }
        });
        let detector = raw.detector.as_ref().map(|d| d.value.clone()).unwrap_or_else(|| "ensemble".into());
        if let Some(d) = &raw.detector
            && !analyze::detect::DETECTORS.contains(&d.value.as_str())
        {
            diags.push(d.diagnostic(format!("{path}.detector"), analyze::detect::unavailable(&d.value)));
        }
        let threshold = raw.threshold.as_ref().map(|t| t.value).unwrap_or(analyze::detect::ALERT_THRESHOLD);
        if let Some(t) = &raw.threshold
            && !(t.value > 0.0 && t.value <= 1.0)
        {
            diags.push(t.diagnostic(format!("{path}.threshold"), "a score threshold is in (0, 1]"));
        }
        let direction = match &raw.direction {
            None => Direction::Both,
            Some(d) => Direction::parse(&d.value).unwrap_or_else(|| {
                diags.push(d.diagnostic(format!("{path}.direction"), "expected up, down or both"));
                Direction::Both
            }),
        };
        let interval = dur(&raw.interval, &format!("{path}.interval"), default_interval, &bounds::INTERVAL, diags);
        let false_alarm_every = dur(
            &raw.false_alarm_every,
            &format!("{path}.false_alarm_every"),
            analyze::anomaly::DEFAULT_FALSE_ALARM_EVERY,
            &bounds::FALSE_ALARM_EVERY,
            diags,
        );
        let counted = |v: &Option<Spanned<usize>>, key: &str, default, range, diags: &mut Diagnostics| {
            count(v, &format!("{path}.{key}"), default, range, diags)
        };
        let probation = counted(&raw.probation, "probation", 60, &bounds::PROBATION, diags);
        let max_series = counted(&raw.max_series, "max_series", 1000, &bounds::WATCH_MAX_SERIES, diags);
        let quiet = counted(&raw.quiet, "quiet", 3, &bounds::QUIET, diags);
        let missing_after = counted(&raw.missing_after, "missing_after", 5, &bounds::MISSING_AFTER, diags);
        let restart_grace = counted(&raw.restart_grace, "restart_grace", 10, &bounds::RESTART_GRACE, diags);
        let accept_after = counted(
            &raw.accept_after,
            "accept_after",
            analyze::anomaly::DEFAULT_ACCEPT_AFTER,
            &bounds::ACCEPT_AFTER,
            diags,
        );
        let min_change = match &raw.min_change {
            None => analyze::anomaly::DEFAULT_MIN_CHANGE,
            Some(m) => parse_fraction(&m.value).unwrap_or_else(|e| {
                diags.push(m.diagnostic(format!("{path}.min_change"), e));
                0.0
            }),
        };
        if let (Some(expr), Some(name), Some(text), true) = (expr, &raw.name, &raw.expr, clean && diags.len() == before)
        {
            out.push(WatchSpec {
                name: name.value.clone(),
                expr,
                expr_text: text.value.clone(),
                detector,
                threshold,
                direction,
                probation,
                max_series,
                quiet,
                missing_after,
                restart_grace,
                accept_after,
                min_change,
                false_alarm_every,
                interval,
            });
        }
    }
    out
}
