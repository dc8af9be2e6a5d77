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
use model::{ActuatorSpec, Diagnostics, Signal, SignalKind, excerpt, parse_duration};
use serde::Deserialize;
use serde::de::IgnoredAny;
use yamlspan::{Node, Spanned};

mod step;

use step::{RawStep, compile_step};
pub use step::{Reach, Scope, StepAction};

/// The deadline a step's `within` may set: 1s to 24h. A shorter one escalates before any
/// action can show its effect; a longer one holds an incident's ladder for days.
pub const WITHIN: RangeInclusive<Duration> = Duration::from_secs(1)..=Duration::from_secs(86_400);

/// The `cooldown` a guard may set: 0 to 7 days.
pub const COOLDOWN: RangeInclusive<Duration> = Duration::ZERO..=Duration::from_secs(7 * 86_400);

/// The `max_actions_per_hour` a guard may set: 0 (never act, only page) to 1000.
pub const MAX_ACTIONS_PER_HOUR: RangeInclusive<u32> = 0..=1000;

/// How a step decides that the problem is gone.
#[derive(Debug, Clone)]
pub enum Verify {
    /// None of the incident's signals is still firing.
    Recovered,
    /// Every replica of the service is up and passes its health probe.
    Healthy,
    /// The service's latest rollout is complete, as its actuator reports it: for a
    /// Kubernetes workload, the controller saw the latest spec and every replica wanted is
    /// updated, ready and available; elsewhere, every replica runs.
    RolledOut,
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

/// What playbooks are checked against, besides themselves.
pub struct Checks<'a> {
    /// The guards of playbooks without their own.
    pub defaults: &'a Guards,
    /// Validates PromQL in `verify` (the caller owns the PromQL parser).
    pub expr: &'a dyn Fn(&str) -> Result<(), String>,
    /// Each service's actuator type (`None`: observed only). A playbook whose
    /// `match.service` names one of them has its steps checked against that type; any other
    /// against every registered type.
    pub services: &'a BTreeMap<String, Option<&'static ActuatorSpec>>,
}

impl Checks<'_> {
    /// What a playbook's steps are checked against: the actuator type of the service its
    /// `match` names, or every registered type (a service of any type may be added without
    /// touching the playbook; a verb no service has fails at run time, and the ladder goes on).
    fn reach<'s>(&'s self, matcher: &'s Match) -> Reach<'s> {
        match matcher.service.as_deref().and_then(|s| self.services.get_key_value(s)) {
            Some((service, spec)) => Reach::Service(service, *spec),
            None => Reach::Any(crate::actuators::TYPES),
        }
    }
}

/// Checks every playbook in a `playbooks:` sequence node against `checks`. A name already
/// in `names` is an error; the new names are added to it. All problems go to `diags`.
pub fn compile_playbooks(
    node: &Node,
    path: &str,
    checks: &Checks<'_>,
    names: &mut PlaybookNames,
    diags: &mut Diagnostics,
) -> Vec<Playbook> {
    let defaults = checks.defaults;
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
        let reach = checks.reach(&matcher);
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
                    if let Some(s) = compile_step(&step, snode, clean, &step_path, checks.expr, reach, diags) {
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
/// playbooks). `file` names it in every diagnostic; `checks` and `names` are as for
/// [`compile_playbooks`]. Every problem goes to `diags`: an unknown top-level key does not
/// hide the playbooks' errors.
pub fn compile_playbook_file(
    file: &str,
    text: &str,
    checks: &Checks<'_>,
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
    let playbooks = compile_playbooks(node, "playbooks", checks, names, diags);
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

/// The first playbook that takes `signal`.
pub fn select<'a>(playbooks: &'a [Playbook], signal: &Signal, since_deploy: Option<Duration>) -> Option<&'a Playbook> {
    playbooks.iter().find(|p| p.matcher.matches(signal, since_deploy))
}

#[cfg(test)]
mod tests;
