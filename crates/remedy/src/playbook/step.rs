//! Checking one step of a ladder: its action against the verbs of the actuators it can
//! reach, its `verify` condition and its deadline.

use std::collections::BTreeMap;
use std::time::Duration;

use model::bounds::duration_in;
use model::{ActuatorSpec, Diagnostics, Params, parse_duration};
use serde::Deserialize;
use yamlspan::{Node, NodeValue, Spanned};

use super::{Step, Verify, WITHIN};
use crate::notify::PageFormat;

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
    /// A verb of the incident's service's actuator (`restart`, `signal`, `rollback`, …).
    Act {
        /// The verb.
        verb: String,
        /// Which replicas, for a verb that targets replicas; `None` for one that acts on the
        /// whole service.
        scope: Option<Scope>,
        /// The verb's parameters (`signal: USR1`).
        params: Params,
    },
    /// Page a human via a webhook (every service can; it is the notifier's, not the
    /// actuator's).
    Page {
        /// Webhook URL; `None` uses the configured escalation receiver.
        url: Option<String>,
        /// The payload's shape; `None`: the escalation receiver's when `url` is `None`,
        /// else the generic webhook.
        format: Option<PageFormat>,
    },
}

impl StepAction {
    /// An actuator verb with no parameters.
    pub fn act(verb: &str, scope: Option<Scope>) -> Self {
        Self::Act { verb: verb.to_owned(), scope, params: Params::new() }
    }
}

/// What a step's action is checked against.
#[derive(Clone, Copy)]
pub enum Reach<'a> {
    /// The playbook only takes signals of this service, bound to this actuator type
    /// (`None`: observed only, no actuator).
    Service(&'a str, Option<&'static ActuatorSpec>),
    /// The playbook can take signals of any service: these are the actuator types in use.
    Any(&'a [&'static ActuatorSpec]),
}

/// The keys a step has whatever its verb; every other key is a parameter of its verb.
const STEP_KEYS: &[&str] = &["action", "scope", "url", "format", "verify", "within"];

#[derive(Deserialize)]
pub(super) struct RawStep {
    #[serde(default)]
    action: Option<Spanned<String>>,
    #[serde(default)]
    scope: Option<Spanned<String>>,
    #[serde(default)]
    url: Option<Spanned<String>>,
    #[serde(default)]
    format: Option<Spanned<String>>,
    #[serde(default)]
    verify: Option<Spanned<String>>,
    #[serde(default)]
    within: Option<Spanned<String>>,
}

/// The step's other keys, with their key and value nodes: the parameters of its verb.
fn param_nodes(node: &Node) -> Vec<(&str, &Node, &Node)> {
    let NodeValue::Map(entries) = &node.value else { return Vec::new() };
    entries
        .iter()
        .filter_map(|(k, v)| match &k.value {
            NodeValue::Str(key) if !STEP_KEYS.contains(&key.as_str()) => Some((key.as_str(), k, v)),
            _ => None,
        })
        .collect()
}

/// The parameters some verb of some registered actuator type takes, each once.
fn param_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for p in crate::actuators::TYPES.iter().flat_map(|t| t.verbs.iter()).flat_map(|v| v.params.iter()) {
        if !names.contains(&p.name) {
            names.push(p.name);
        }
    }
    names
}

/// The step's parameters that some verb takes; every other key is reported as unknown.
fn known_params<'n>(node: &'n Node, path: &str, diags: &mut Diagnostics) -> Vec<(&'n str, &'n Node, &'n Node)> {
    let params = param_names();
    let mut known = Vec::new();
    for (key, key_node, value) in param_nodes(node) {
        if params.contains(&key) {
            known.push((key, key_node, value));
            continue;
        }
        let names: Vec<String> = STEP_KEYS.iter().chain(&params).map(|n| format!("`{n}`")).collect();
        diags.push(key_node.diagnostic(
            format!("{path}.{key}"),
            format!("unknown field `{key}`, expected one of {}", names.join(", ")),
        ));
    }
    known
}

fn compile_scope(raw: &Option<Spanned<String>>, path: &str, diags: &mut Diagnostics) -> Option<Scope> {
    match raw.as_ref().map(|s| (s, s.value.as_str())) {
        None => None,
        Some((_, "replica")) => Some(Scope::Replica),
        Some((_, "all")) => Some(Scope::All),
        Some((s, _)) => {
            diags.push(s.diagnostic(format!("{path}.scope"), "expected `replica` or `all`"));
            Some(Scope::Replica)
        }
    }
}

/// `a, b or c`.
fn or_list(items: &[&str]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// The actuator types to check `verb` against, or the message saying none has it.
fn specs_with(verb: &str, reach: Reach<'_>) -> Result<Vec<&'static ActuatorSpec>, String> {
    match reach {
        Reach::Service(service, None) => Err(format!(
            "service {service} is only observed (`targets`): it has no actuator, so its playbooks can only `page`"
        )),
        Reach::Service(service, Some(spec)) => match spec.verb(verb) {
            Some(_) => Ok(vec![spec]),
            None => Err(format!(
                "unknown action for service {service}: a `{}` service has {}, and every service has page",
                spec.name,
                spec.verb_names()
            )),
        },
        Reach::Any(specs) => {
            let with: Vec<&'static ActuatorSpec> = specs.iter().copied().filter(|s| s.verb(verb).is_some()).collect();
            if with.is_empty() {
                let mut verbs: Vec<&str> = Vec::new();
                for v in specs.iter().flat_map(|s| s.verbs.iter().map(|v| v.verb)) {
                    if !verbs.contains(&v) {
                        verbs.push(v);
                    }
                }
                verbs.push("page");
                return Err(format!("unknown action; expected {}", or_list(&verbs)));
            }
            Ok(with)
        }
    }
}

/// Checks an actuator verb with its scope and parameters; problems go to `diags`.
fn compile_act(
    verb: &Spanned<String>,
    raw: &RawStep,
    (node, given): (&Node, &[(&str, &Node, &Node)]),
    path: &str,
    reach: Reach<'_>,
    diags: &mut Diagnostics,
) -> Option<StepAction> {
    let before = diags.len();
    let scope = compile_scope(&raw.scope, path, diags);
    let mut params = Params::new();
    let mut param_at: BTreeMap<&str, &Node> = BTreeMap::new();
    for &(key, _, value) in given {
        match &value.value {
            NodeValue::Seq(_) | NodeValue::Map(_) | NodeValue::Null => {
                let found = value.value.kind();
                diags.push(value.diagnostic(format!("{path}.{key}"), format!("expected a string, found {found}")));
            }
            _ => {
                params.insert(key.to_owned(), value.scalar_text().unwrap_or_default());
                param_at.insert(key, value);
            }
        }
    }
    if diags.len() > before {
        // A parameter left out for its own error is not reported again as missing.
        return None;
    }
    let specs = match specs_with(&verb.value, reach) {
        Ok(specs) => specs,
        Err(message) => {
            diags.push(verb.diagnostic(format!("{path}.action"), message));
            return None;
        }
    };
    // Against every actuator type that has the verb: a parameter must suit them all.
    for spec in specs {
        if let Err(problem) = spec.check(&verb.value, &params, raw.scope.is_some()) {
            let message = problem.message;
            let diagnostic = match (problem.param.as_deref(), &raw.scope) {
                (Some("scope"), Some(s)) => s.diagnostic(format!("{path}.scope"), message),
                (Some(p), _) if param_at.contains_key(p) => param_at[p].diagnostic(format!("{path}.{p}"), message),
                _ => node.diagnostic(path, message),
            };
            diags.push(diagnostic);
            break;
        }
    }
    (diags.len() == before).then(|| StepAction::Act { verb: verb.value.clone(), scope, params })
}

/// Checks one step. `clean`: it deserialized without errors; otherwise fields left out for
/// their own errors are not reported again as missing.
pub(super) fn compile_step(
    raw: &RawStep,
    node: &Node,
    clean: bool,
    path: &str,
    checks_expr: &dyn Fn(&str) -> Result<(), String>,
    reach: Reach<'_>,
    diags: &mut Diagnostics,
) -> Option<Step> {
    let before = diags.len();
    let verb = raw.action.as_ref().map(|a| a.value.as_str());
    let given = known_params(node, path, diags);
    let action =
        match &raw.action {
            None => {
                for (key, key_node, _) in &given {
                    diags.push(key_node.diagnostic(
                        format!("{path}.{key}"),
                        format!("`{key}` is a parameter of an action: no `action`"),
                    ));
                }
                None
            }
            Some(a) if a.value == "page" => {
                for (key, key_node, _) in &given {
                    diags.push(key_node.diagnostic(
                        format!("{path}.{key}"),
                        format!("`{key}` is not a parameter of `page` (its parameter: url)"),
                    ));
                }
                if let Some(s) = &raw.scope {
                    diags.push(s.diagnostic(format!("{path}.scope"), "`page` has no `scope`"));
                }
                let format = raw.format.as_ref().and_then(|f| match PageFormat::parse(&f.value) {
                    Some(format) => Some(format),
                    None => {
                        diags.push(f.diagnostic(format!("{path}.format"), "expected webhook, pagerduty or slack"));
                        None
                    }
                });
                Some(StepAction::Page { url: raw.url.as_ref().map(|u| u.value.clone()), format })
            }
            Some(a) => compile_act(a, raw, (node, &given), path, reach, diags),
        };
    if let (Some(f), false) = (&raw.format, verb == Some("page")) {
        diags.push(f.diagnostic(format!("{path}.format"), "`format` only applies to action `page`"));
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
    if let (Some(s), None) = (&raw.scope, verb) {
        diags.push(s.diagnostic(format!("{path}.scope"), "`scope` needs an `action`"));
    }
    let verify = match &raw.verify {
        None => Verify::Recovered,
        Some(v) => match v.value.trim() {
            "recovered" => Verify::Recovered,
            "healthy" => Verify::Healthy,
            "rolled_out" => Verify::RolledOut,
            expr => {
                let probe = expr.replace("{service}", "x").replace("{instance}", "x");
                if let Err(e) = checks_expr(&probe) {
                    diags.push(v.diagnostic(
                        format!("{path}.verify"),
                        format!("expected `recovered`, `healthy`, `rolled_out` or PromQL: {e}"),
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
