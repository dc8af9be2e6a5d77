//! Playbooks: which incidents they take (`match`), the escalation ladder of steps (each with
//! an optional action, a `verify` condition and a deadline `within`), and guards.
//!
//! ```yaml
//! playbooks:
//!   - name: error-burst
//!     match: { alert: HighErrorRate }
//!     steps:
//!       - { action: restart, scope: replica, verify: recovered, within: 20s }
//!       - { action: restart, scope: all, verify: recovered, within: 30s }
//!     guards: { cooldown: 1m, max_actions_per_hour: 6, max_unavailable: 50% }
//! ```
//!
//! The same `playbooks:` list can stand alone in a playbook file
//! ([`compile_playbook_file`]). Playbook names are unique across the configuration and every
//! playbook file ([`PlaybookNames`]); an incident takes the first playbook, in that order,
//! whose `match` fits its first signal ([`select`]).

use std::collections::{BTreeMap, HashMap};
use std::ops::RangeInclusive;
use std::time::Duration;

use model::bounds::{count_in, duration_in};
use model::{Diagnostics, Signal, SignalKind, excerpt, parse_duration};
use serde::Deserialize;
use serde::de::IgnoredAny;
use yamlspan::{Node, Spanned};

/// The deadline a step's `within` may set: 1s to 24h. A shorter one escalates before any
/// action can show its effect; a longer one holds an incident's ladder for days.
pub const WITHIN: RangeInclusive<Duration> = Duration::from_secs(1)..=Duration::from_secs(86_400);

/// The `cooldown` a guard may set: 0 to 7 days.
pub const COOLDOWN: RangeInclusive<Duration> = Duration::ZERO..=Duration::from_secs(7 * 86_400);

/// The `max_actions_per_hour` a guard may set: 0 (never act, only page) to 1000.
pub const MAX_ACTIONS_PER_HOUR: RangeInclusive<u32> = 0..=1000;

/// Which replicas a step touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The replica the signal is about (all replicas when it names none).
    Replica,
    /// Every replica of the service, `max_unavailable` at a time.
    All,
}

/// What a step does before it verifies.
#[derive(Debug, Clone, PartialEq)]
pub enum StepAction {
    /// Send a Unix signal.
    Signal {
        /// Signal name (`HUP`, `USR1`, …).
        signal: String,
        /// Which replicas.
        scope: Scope,
    },
    /// Restart replicas.
    Restart {
        /// Which replicas.
        scope: Scope,
    },
    /// Roll back to the previous release.
    Rollback,
    /// Page a human via a webhook.
    Page {
        /// Webhook URL; `None` uses the configured escalation receiver.
        url: Option<String>,
    },
}

/// How a step decides that the problem is gone.
#[derive(Debug, Clone)]
pub enum Verify {
    /// None of the incident's signals is still firing.
    Recovered,
    /// Every replica of the service is up and passes its health probe.
    Healthy,
    /// This PromQL expression returns a non-empty result (`{service}` and `{instance}` are
    /// replaced with the incident's).
    Expr(String),
}

/// One rung of the ladder.
#[derive(Debug, Clone)]
pub struct Step {
    /// What to do; `None` only watches (for example while the restart policy acts).
    pub action: Option<StepAction>,
    /// The recovery condition.
    pub verify: Verify,
    /// How long recovery may take before the next step.
    pub within: Duration,
}

/// Limits on what a playbook may do.
#[derive(Debug, Clone, PartialEq)]
pub struct Guards {
    /// After an action of this playbook on a service, no further action of it on that
    /// service for this long (across incidents).
    pub cooldown: Duration,
    /// At most this many actions per service per hour, whatever the playbook.
    pub max_actions_per_hour: u32,
    /// At most this many replicas down at once during restarts and rollbacks.
    pub max_unavailable: MaxUnavailable,
}

impl Default for Guards {
    fn default() -> Self {
        Self {
            cooldown: Duration::from_secs(300),
            max_actions_per_hour: 6,
            max_unavailable: MaxUnavailable::Percent(50),
        }
    }
}

/// `max_unavailable` as a count or a share of replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxUnavailable {
    /// This many replicas.
    Count(usize),
    /// This percentage of replicas, rounded down, at least one.
    Percent(u32),
}

impl MaxUnavailable {
    /// The replica count for a service of `replicas` replicas (at least 1).
    pub fn of(self, replicas: usize) -> usize {
        match self {
            Self::Count(n) => n.max(1),
            Self::Percent(p) => (replicas * p as usize / 100).max(1),
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if let Some(p) = t.strip_suffix('%') {
            let p: u32 = p.trim().parse().map_err(|_| format!("not a percentage: {:?}", excerpt(t)))?;
            if p == 0 || p > 100 {
                return Err("percentage must be between 1% and 100%".into());
            }
            return Ok(Self::Percent(p));
        }
        match t.parse::<usize>() {
            Ok(0) => Err("must allow at least one replica".into()),
            Ok(n) => Ok(Self::Count(n)),
            Err(_) => Err(format!("expected a count or a percentage like 50%, got {:?}", excerpt(t))),
        }
    }
}

/// Which signals a playbook takes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Match {
    /// Signal kind.
    pub kind: Option<SignalKind>,
    /// Alert (signal) name.
    pub name: Option<String>,
    /// Service.
    pub service: Option<String>,
    /// Labels that must be present with these values.
    pub labels: BTreeMap<String, String>,
    /// Only when the service rolled out a new release this recently.
    pub deployed_within: Option<Duration>,
}

impl Match {
    /// Whether `signal` matches, given how long ago its service last rolled out a new
    /// release (`None`: never, or unknown).
    pub fn matches(&self, signal: &Signal, since_deploy: Option<Duration>) -> bool {
        self.kind.is_none_or(|k| k == signal.kind)
            && self.name.as_deref().is_none_or(|n| n == signal.name)
            && self.service.as_deref().is_none_or(|s| Some(s) == signal.service.as_deref())
            && self.labels.iter().all(|(k, v)| signal.labels.get(k) == Some(v.as_str()))
            && self.deployed_within.is_none_or(|w| since_deploy.is_some_and(|d| d <= w))
    }
}

/// A checked playbook.
#[derive(Debug, Clone)]
pub struct Playbook {
    /// Its name.
    pub name: String,
    /// What it takes.
    pub matcher: Match,
    /// The ladder.
    pub steps: Vec<Step>,
    /// Its guards.
    pub guards: Guards,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaybook {
    name: Spanned<String>,
    #[serde(rename = "match")]
    matcher: RawMatch,
    #[allow(dead_code)]
    steps: IgnoredAny,
    #[serde(default)]
    guards: Option<RawGuards>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    #[serde(default)]
    signal: Option<Spanned<String>>,
    #[serde(default)]
    alert: Option<Spanned<String>>,
    #[serde(default)]
    name: Option<Spanned<String>>,
    #[serde(default)]
    service: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    deployed_within: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    action: Option<Spanned<String>>,
    #[serde(default)]
    scope: Option<Spanned<String>>,
    #[serde(default)]
    signal: Option<Spanned<String>>,
    #[serde(default)]
    url: Option<Spanned<String>>,
    #[serde(default)]
    verify: Option<Spanned<String>>,
    #[serde(default)]
    within: Option<Spanned<String>>,
}

/// Guards as written in YAML (also used for the config's defaults).
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawGuards {
    #[serde(default)]
    cooldown: Option<Spanned<String>>,
    #[serde(default)]
    max_actions_per_hour: Option<Spanned<u32>>,
    #[serde(default)]
    max_unavailable: Option<Spanned<String>>,
}

impl RawGuards {
    /// Checks these guards over `base`; problems go to `diags`.
    pub fn compile(&self, base: &Guards, path: &str, diags: &mut Diagnostics) -> Guards {
        let mut g = base.clone();
        if let Some(c) = &self.cooldown {
            match parse_duration(&c.value).and_then(|d| duration_in(d, &COOLDOWN)) {
                Ok(d) => g.cooldown = d,
                Err(e) => diags.push(c.diagnostic(format!("{path}.cooldown"), e)),
            }
        }
        if let Some(n) = &self.max_actions_per_hour {
            match count_in(n.value, &MAX_ACTIONS_PER_HOUR) {
                Ok(n) => g.max_actions_per_hour = n,
                Err(e) => diags.push(n.diagnostic(format!("{path}.max_actions_per_hour"), e)),
            }
        }
        if let Some(m) = &self.max_unavailable {
            match MaxUnavailable::parse(&m.value) {
                Ok(v) => g.max_unavailable = v,
                Err(e) => diags.push(m.diagnostic(format!("{path}.max_unavailable"), e)),
            }
        }
        g
    }
}

/// The playbook names taken so far, each with where it is defined (`file:line:column`).
/// Names are unique across the configuration's inline playbooks and every playbook file: an
/// incident resumed after a restart finds its playbook again by name. Pass the same value
/// to every [`compile_playbooks`] and [`compile_playbook_file`] of one configuration.
#[derive(Debug, Default, Clone)]
pub struct PlaybookNames(HashMap<String, String>);

impl PlaybookNames {
    /// No names taken yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes `name`, defined at `node`; `Err` with the earlier definition's place when it is
    /// already taken.
    fn take(&mut self, name: &str, node: &Spanned<String>) -> Result<(), String> {
        match self.0.get(name) {
            Some(first) => Err(first.clone()),
            None => {
                self.0.insert(name.to_owned(), format!("{}:{}:{}", node.file, node.line, node.column));
                Ok(())
            }
        }
    }
}

/// Checks every playbook in a `playbooks:` sequence node; `checks_expr` validates PromQL
/// in `verify` (the caller owns the PromQL parser). A name already in `names` is an error;
/// the new names are added to it. All problems go to `diags`.
pub fn compile_playbooks(
    node: &Node,
    path: &str,
    defaults: &Guards,
    checks_expr: &dyn Fn(&str) -> Result<(), String>,
    names: &mut PlaybookNames,
    diags: &mut Diagnostics,
) -> Vec<Playbook> {
    let mut out = Vec::new();
    // Lenient: an unknown key in a playbook or a step is reported without hiding the other
    // errors of that playbook or step (a broken `verify`, say).
    for (i, raw, pnode, clean) in node.each_lenient::<RawPlaybook>(path, diags) {
        let ppath = format!("{path}[{i}]");
        let before = diags.len();
        if raw.name.value.trim().is_empty() {
            diags.push(raw.name.diagnostic(format!("{ppath}.name"), "playbook name must not be empty"));
        } else if let Err(first) = names.take(&raw.name.value, &raw.name) {
            diags.push(
                raw.name.diagnostic(format!("{ppath}.name"), format!("playbook name is used twice (first at {first})")),
            );
        }
        let matcher = compile_match(&raw.matcher, &format!("{ppath}.match"), diags);
        let guards = raw
            .guards
            .as_ref()
            .map(|g| g.compile(defaults, &format!("{ppath}.guards"), diags))
            .unwrap_or_else(|| defaults.clone());
        let steps_path = format!("{ppath}.steps");
        let mut steps = Vec::new();
        match pnode.get("steps") {
            Some(steps_node) => {
                for (si, step, snode, clean) in steps_node.each_lenient::<RawStep>(&steps_path, diags) {
                    let step_path = format!("{steps_path}[{si}]");
                    if let Some(s) = compile_step(&step, snode, clean, &step_path, checks_expr, diags) {
                        steps.push(s);
                    }
                }
                if steps_node.each::<IgnoredAny>(&steps_path, &mut Diagnostics::new()).is_empty() {
                    diags.push(steps_node.diagnostic(steps_path.clone(), "a playbook needs at least one step"));
                }
            }
            None => diags.push(pnode.diagnostic(steps_path, "missing field `steps`")),
        }
        if clean && diags.len() == before {
            out.push(Playbook { name: raw.name.value, matcher, steps, guards });
        }
    }
    out
}

/// The top level of a playbook file: `playbooks:` and nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaybookFile {
    #[serde(default)]
    #[allow(dead_code)]
    playbooks: IgnoredAny,
}

/// A checked playbook file.
#[derive(Debug, Clone, Default)]
pub struct PlaybookFile {
    /// Its good playbooks, in file order (the others are in the diagnostics).
    pub playbooks: Vec<Playbook>,
    /// Its `playbooks:` list as written, for checks that need more than the file (whether
    /// a `match.service` names a configured service); `None` when it has none.
    pub node: Option<Node>,
}

/// Checks a playbook file: a YAML document whose only top-level key is `playbooks:`, a list
/// of the same shape as a configuration's inline `playbooks:` (an empty document has no
/// playbooks). `file` names it in every diagnostic; `defaults` are the guards of playbooks
/// without their own; `checks_expr` and `names` are as for [`compile_playbooks`]. Every
/// problem goes to `diags`: an unknown top-level key does not hide the playbooks' errors.
pub fn compile_playbook_file(
    file: &str,
    text: &str,
    defaults: &Guards,
    checks_expr: &dyn Fn(&str) -> Result<(), String>,
    names: &mut PlaybookNames,
    diags: &mut Diagnostics,
) -> PlaybookFile {
    let root = match yamlspan::parse_document(file, text) {
        Ok(root) => root,
        Err(d) => {
            diags.push(d);
            return PlaybookFile::default();
        }
    };
    if root.value == yamlspan::NodeValue::Null || root.deserialize_lenient::<RawPlaybookFile>("", diags).is_none() {
        return PlaybookFile::default();
    }
    let Some(node) = root.get("playbooks") else {
        return PlaybookFile::default();
    };
    let playbooks = compile_playbooks(node, "playbooks", defaults, checks_expr, names, diags);
    PlaybookFile { playbooks, node: Some(node.clone()) }
}

fn compile_match(raw: &RawMatch, path: &str, diags: &mut Diagnostics) -> Match {
    let mut m = Match { labels: raw.labels.clone(), ..Match::default() };
    if let Some(s) = &raw.signal {
        match SignalKind::parse(&s.value) {
            Some(k) => m.kind = Some(k),
            None => diags.push(s.diagnostic(
                format!("{path}.signal"),
                "unknown signal kind; expected alert, anomaly, process_exited, probe_failed or target_down",
            )),
        }
    }
    if let Some(a) = &raw.alert {
        if m.kind.is_some_and(|k| k != SignalKind::Alert) {
            diags.push(a.diagnostic(format!("{path}.alert"), "`alert` only matches signals of kind alert"));
        }
        m.kind = Some(SignalKind::Alert);
        m.name = Some(a.value.clone());
    }
    if let Some(n) = &raw.name {
        if raw.alert.is_some() {
            diags.push(n.diagnostic(format!("{path}.name"), "use either `alert` or `name`"));
        }
        m.name = Some(n.value.clone());
    }
    m.service = raw.service.as_ref().map(|s| s.value.clone());
    if let Some(d) = &raw.deployed_within {
        match parse_duration(&d.value) {
            Ok(v) => m.deployed_within = Some(v),
            Err(e) => diags.push(d.diagnostic(format!("{path}.deployed_within"), e)),
        }
    }
    m
}

fn compile_scope(raw: &Option<Spanned<String>>, path: &str, diags: &mut Diagnostics) -> Scope {
    match raw.as_ref().map(|s| (s, s.value.as_str())) {
        None | Some((_, "replica")) => Scope::Replica,
        Some((_, "all")) => Scope::All,
        Some((s, _)) => {
            diags.push(s.diagnostic(format!("{path}.scope"), "expected `replica` or `all`"));
            Scope::Replica
        }
    }
}

/// Checks one step. `clean`: it deserialized without errors; otherwise fields left out for
/// their own errors are not reported again as missing.
fn compile_step(
    raw: &RawStep,
    node: &Node,
    clean: bool,
    path: &str,
    checks_expr: &dyn Fn(&str) -> Result<(), String>,
    diags: &mut Diagnostics,
) -> Option<Step> {
    let before = diags.len();
    let action = match raw.action.as_ref().map(|a| (a, a.value.as_str())) {
        None => None,
        Some((_, "restart")) => Some(StepAction::Restart { scope: compile_scope(&raw.scope, path, diags) }),
        Some((_, "signal")) => match &raw.signal {
            Some(sig) if crate::supervisor::parse_signal(&sig.value).is_some() => {
                Some(StepAction::Signal { signal: sig.value.clone(), scope: compile_scope(&raw.scope, path, diags) })
            }
            Some(sig) => {
                diags.push(sig.diagnostic(format!("{path}.signal"), "unknown Unix signal"));
                None
            }
            None => {
                if node.missing_unreported(clean, &["signal"]) {
                    diags.push(node.diagnostic(path, "action `signal` needs `signal: NAME` (e.g. HUP)"));
                }
                None
            }
        },
        Some((_, "rollback")) => Some(StepAction::Rollback),
        Some((_, "page")) => Some(StepAction::Page { url: raw.url.as_ref().map(|u| u.value.clone()) }),
        Some((a, _)) => {
            diags.push(
                a.diagnostic(format!("{path}.action"), "unknown action; expected restart, signal, rollback or page"),
            );
            None
        }
    };
    let verb = raw.action.as_ref().map(|a| a.value.as_str());
    if let (Some(s), Some(v)) = (&raw.signal, verb)
        && v != "signal"
    {
        diags.push(s.diagnostic(format!("{path}.signal"), "`signal` only applies to action `signal`"));
    }
    if let Some(u) = &raw.url {
        if verb != Some("page") {
            diags.push(u.diagnostic(format!("{path}.url"), "`url` only applies to action `page`"));
        } else if !(u.value.starts_with("http://") || u.value.starts_with("https://")) {
            diags.push(u.diagnostic(format!("{path}.url"), "expected an http:// or https:// URL"));
        } else if let Err(e) = crate::endpoint::check_url(&u.value) {
            diags.push(u.diagnostic(format!("{path}.url"), e));
        }
    }
    if let Some(s) = &raw.scope
        && !matches!(verb, Some("restart" | "signal"))
    {
        diags.push(s.diagnostic(format!("{path}.scope"), "`scope` only applies to restart and signal"));
    }
    let verify = match &raw.verify {
        None => Verify::Recovered,
        Some(v) => match v.value.trim() {
            "recovered" => Verify::Recovered,
            "healthy" => Verify::Healthy,
            expr => {
                let probe = expr.replace("{service}", "x").replace("{instance}", "x");
                if let Err(e) = checks_expr(&probe) {
                    diags.push(v.diagnostic(
                        format!("{path}.verify"),
                        format!("expected `recovered`, `healthy` or PromQL: {e}"),
                    ));
                }
                Verify::Expr(expr.to_owned())
            }
        },
    };
    let within = match &raw.within {
        None => Duration::from_secs(30),
        Some(w) => match parse_duration(&w.value).and_then(|d| duration_in(d, &WITHIN)) {
            Ok(d) => d,
            Err(e) => {
                diags.push(w.diagnostic(format!("{path}.within"), e));
                Duration::ZERO
            }
        },
    };
    if raw.action.is_none() && raw.verify.is_none() && node.missing_unreported(clean, &["action", "verify"]) {
        diags.push(node.diagnostic(path, "a step needs an `action`, a `verify`, or both"));
    }
    (clean && diags.len() == before).then_some(Step { action, verify, within })
}

/// The first playbook that takes `signal`.
pub fn select<'a>(playbooks: &'a [Playbook], signal: &Signal, since_deploy: Option<Duration>) -> Option<&'a Playbook> {
    playbooks.iter().find(|p| p.matcher.matches(signal, since_deploy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Labels;

    fn compile(text: &str) -> Result<Vec<Playbook>, Diagnostics> {
        let root = yamlspan::parse_document("p.yaml", text).map_err(|d| Diagnostics(vec![d]))?;
        let mut diags = Diagnostics::new();
        let checks = |e: &str| {
            if e.contains("((") { Err("bad expr".to_owned()) } else { Ok(()) }
        };
        let node = root.get("playbooks").cloned().unwrap_or(root.clone());
        let out =
            compile_playbooks(&node, "playbooks", &Guards::default(), &checks, &mut PlaybookNames::new(), &mut diags);
        diags.sort();
        diags.into_result(out)
    }

    #[test]
    fn compiles_a_ladder_with_guards() {
        let p = compile(
            "playbooks:\n  - name: errors\n    match: {alert: HighErrorRate, labels: {severity: page}}\n    steps:\n      - {action: restart, scope: replica, verify: recovered, within: 20s}\n      - {action: rollback, verify: healthy, within: 1m}\n      - {action: page, url: 'http://127.0.0.1:9/hook'}\n    guards: {cooldown: 30s, max_actions_per_hour: 3, max_unavailable: 50%}\n",
        )
        .expect("valid");
        let p = &p[0];
        assert_eq!(p.steps.len(), 3);
        assert_eq!(p.steps[0].action, Some(StepAction::Restart { scope: Scope::Replica }));
        assert_eq!(p.steps[1].within, Duration::from_secs(60));
        assert!(matches!(p.steps[1].verify, Verify::Healthy));
        assert_eq!(p.guards.cooldown, Duration::from_secs(30));
        assert_eq!(p.guards.max_unavailable.of(4), 2);
        assert_eq!(p.guards.max_unavailable.of(1), 1);
    }

    #[test]
    fn reports_all_step_errors_with_positions() {
        let text = "playbooks:\n  - name: a\n    match: {signal: bogus}\n    steps:\n      - {action: reboot}\n      - {action: signal, signal: NOPE}\n      - {action: restart, within: soon}\n      - {verify: 'rate(x[5m]) (('}\n      - {action: rollback, scope: all}\n  - name: a\n    match: {}\n    steps: []\n";
        let diags = compile(text).expect_err("invalid");
        let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
        let expect = [
            "p.yaml:3:21: playbooks[0].match.signal = \"bogus\": unknown signal kind",
            "p.yaml:5:18: playbooks[0].steps[0].action = \"reboot\": unknown action",
            "p.yaml:6:34: playbooks[0].steps[1].signal = \"NOPE\": unknown Unix signal",
            "p.yaml:7:35: playbooks[0].steps[2].within = \"soon\": not a duration",
            "p.yaml:8:18: playbooks[0].steps[3].verify",
            "p.yaml:9:35: playbooks[0].steps[4].scope = \"all\": `scope` only applies to restart and signal",
            "p.yaml:10:11: playbooks[1].name = \"a\": playbook name is used twice (first at p.yaml:2:11)",
            "p.yaml:12:12: playbooks[1].steps",
        ];
        for (got, want) in shown.iter().zip(expect) {
            assert!(got.starts_with(want), "got {got:?}, want prefix {want:?}");
        }
        assert_eq!(shown.len(), expect.len(), "{shown:#?}");
    }

    #[test]
    fn deadlines_guards_and_page_urls_are_bounded() {
        let text = "playbooks:\n  - name: a\n    match: {alert: X}\n    steps:\n      - {action: restart, within: 0s}\n      - {action: restart, within: 25h}\n      - {action: page, url: 'http://pager:70000/'}\n      - {action: page, url: 'http://my pager/'}\n    guards: {cooldown: 8d, max_actions_per_hour: 4294967295}\n";
        let diags = compile(text).expect_err("out of range");
        let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
        let expect = [
            "p.yaml:5:35: playbooks[0].steps[0].within = \"0s\": must be from 1s to 1d",
            "p.yaml:6:35: playbooks[0].steps[1].within = \"25h\": must be from 1s to 1d",
            "p.yaml:7:29: playbooks[0].steps[2].url = \"http://pager:70000/\": not a valid URL: invalid port number",
            "p.yaml:8:29: playbooks[0].steps[3].url = \"http://my pager/\": not a valid URL",
            "p.yaml:9:24: playbooks[0].guards.cooldown = \"8d\": must be from 0s to 7d",
            "p.yaml:9:50: playbooks[0].guards.max_actions_per_hour = \"4294967295\": must be from 0 to 1000",
        ];
        for (got, want) in shown.iter().zip(expect) {
            assert!(got.starts_with(want), "got {got:?}, want prefix {want:?}");
        }
        assert_eq!(shown.len(), expect.len(), "{shown:#?}");
        let ok = "playbooks:\n  - name: a\n    match: {alert: X}\n    steps: [{action: restart, within: 1s}, {action: restart, within: 24h}]\n    guards: {cooldown: 7d, max_actions_per_hour: 1000}\n";
        compile(ok).unwrap_or_else(|d| panic!("{d}"));
    }

    #[test]
    fn a_playbook_file_reports_its_own_errors_and_shares_names() {
        let checks = |_: &str| Ok(());
        let mut names = PlaybookNames::new();
        let mut diags = Diagnostics::new();
        let first = "playbooks:\n  - name: a\n    match: {alert: X}\n    steps: [{action: rollback}]\n";
        let file = compile_playbook_file("one.yaml", first, &Guards::default(), &checks, &mut names, &mut diags);
        assert!(diags.is_empty(), "{diags}");
        assert_eq!(file.playbooks.len(), 1);
        assert!(file.node.is_some());

        let second = "services: {}\nplaybooks:\n  - name: a\n    match: {alert: Y}\n    steps: [{action: reboot}]\n  - name: b\n    match: {alert: Z}\n    steps: [{action: page}]\n";
        let file = compile_playbook_file("two.yaml", second, &Guards::default(), &checks, &mut names, &mut diags);
        diags.sort();
        let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
        let expect = [
            "two.yaml:1:1: services = \"services\": unknown field `services`",
            "two.yaml:3:11: playbooks[0].name = \"a\": playbook name is used twice (first at one.yaml:2:11)",
            "two.yaml:5:22: playbooks[0].steps[0].action = \"reboot\": unknown action",
        ];
        for (got, want) in shown.iter().zip(expect) {
            assert!(got.starts_with(want), "got {got:?}, want prefix {want:?}");
        }
        assert_eq!(shown.len(), expect.len(), "{shown:#?}");
        assert_eq!(file.playbooks.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["b"]);

        let mut diags = Diagnostics::new();
        let empty = compile_playbook_file("e.yaml", "", &Guards::default(), &checks, &mut names, &mut diags);
        assert!(diags.is_empty() && empty.playbooks.is_empty() && empty.node.is_none());
        let list = compile_playbook_file("l.yaml", "- name: c\n", &Guards::default(), &checks, &mut names, &mut diags);
        assert!(list.playbooks.is_empty());
        assert!(diags.0[0].to_string().starts_with("l.yaml:1:1: "), "{diags}");
    }

    #[test]
    fn matching_respects_kind_name_labels_and_recent_deploys() {
        let m = Match {
            kind: Some(SignalKind::Alert),
            name: Some("HighErrorRate".into()),
            labels: BTreeMap::from([("severity".to_owned(), "page".to_owned())]),
            deployed_within: Some(Duration::from_secs(600)),
            ..Match::default()
        };
        let s = Signal::firing(
            SignalKind::Alert,
            "HighErrorRate",
            Labels::from_pairs([("severity", "page"), ("service", "checkout")]),
            0,
        );
        assert!(m.matches(&s, Some(Duration::from_secs(60))));
        assert!(!m.matches(&s, Some(Duration::from_secs(601))), "deploy too long ago");
        assert!(!m.matches(&s, None), "never deployed");
        let other = Signal::firing(SignalKind::Alert, "Other", s.labels.clone(), 0);
        assert!(!m.matches(&other, Some(Duration::ZERO)));
    }
}
