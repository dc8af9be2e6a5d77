//! The `alertmanager` source: `POST /api/v1/alerts` takes Alertmanager's webhook payload
//! (version 4) and turns each alert into a signal, so a team's own Prometheus rules and
//! Alertmanager routes drive playbooks: `match: { alert: HighErrorRate }` matches the alert
//! whether our rule engine or Alertmanager raised it.
//!
//! Alertmanager repeats a group's notification every `repeat_interval` and whenever the
//! group changes, each time with every alert of the group: the receiver keeps the
//! fingerprints of the alerts firing now, so a repeat is no new signal, and only an alert's
//! first firing notification and its resolution become signal edges. A firing alert whose
//! start time changed fired anew (its resolution was missed): it resolves and fires again.
//!
//! The payload is checked whole before anything is done: a missing field, another version,
//! a label that Prometheus would refuse get 400 with the field's path; nothing of a refused
//! payload becomes a signal.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use model::{BoxFuture, HttpRequest, HttpResponse, Labels, Millis, Role, Route, Signal, SignalKind, SignalState};
use model::{Source, SourceContext};
use serde_json::Value;

/// The path of the webhook receiver.
pub const PATH: &str = "/api/v1/alerts";

/// The webhook payload version this receiver reads.
pub const VERSION: &str = "4";

/// Settings of an `alertmanager` source.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerSettings {
    /// Largest payload (`max_request_size`).
    pub max_request_bytes: usize,
    /// Firing alerts tracked at once (`max_alerts`); a payload that would need more is
    /// refused with 503, which Alertmanager retries.
    pub max_alerts: usize,
}

impl Default for AlertmanagerSettings {
    fn default() -> Self {
        Self { max_request_bytes: 4 << 20, max_alerts: 10_000 }
    }
}

/// One alert of a payload, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// `firing` or `resolved`.
    pub state: SignalState,
    /// Its labels, `alertname` included.
    pub labels: Labels,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// When it started firing.
    pub starts_at: Millis,
    /// Alertmanager's fingerprint of its labels.
    pub fingerprint: String,
}

impl Alert {
    /// The alert's name (`alertname`).
    pub fn name(&self) -> &str {
        self.labels.get("alertname").unwrap_or_default()
    }

    fn signal(&self, at: Millis) -> Signal {
        let mut s = Signal::firing(SignalKind::Alert, self.name(), self.labels.clone(), at);
        s.annotations = self.annotations.clone();
        s.active_since = self.starts_at;
        s.fingerprint = Some(self.fingerprint.clone());
        s.state = self.state;
        s
    }
}

/// Why a payload was refused (HTTP 400), with the field's path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct PayloadError {
    /// Where (`alerts[3].labels.alertname`, or `body` for JSON that does not parse).
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

fn problem(field: impl Into<String>, problem: impl Into<String>) -> PayloadError {
    PayloadError { field: field.into(), problem: problem.into() }
}

/// Parses and checks a webhook payload; every alert or none.
pub fn parse(body: &[u8]) -> Result<Vec<Alert>, PayloadError> {
    let root: Value = serde_json::from_slice(body).map_err(|e| problem("body", format!("not JSON: {e}")))?;
    let Value::Object(root) = root else { return Err(problem("body", "expected a JSON object")) };
    match root.get("version") {
        None => return Err(problem("version", "missing (Alertmanager's webhook sends \"4\")")),
        Some(Value::String(v)) if v == VERSION => {}
        Some(other) => {
            return Err(problem(
                "version",
                format!("unsupported version {}: only webhook payload version 4 is read", excerpt_json(other)),
            ));
        }
    }
    let alerts = match root.get("alerts") {
        None => return Err(problem("alerts", "missing")),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(problem("alerts", "expected an array")),
    };
    alerts.iter().enumerate().map(|(i, a)| alert(&format!("alerts[{i}]"), a)).collect()
}

fn excerpt_json(v: &Value) -> String {
    model::excerpt(&v.to_string()).to_string()
}

fn string_field<'a>(obj: &'a serde_json::Map<String, Value>, path: &str, name: &str) -> Result<&'a str, PayloadError> {
    match obj.get(name) {
        None => Err(problem(format!("{path}.{name}"), "missing")),
        Some(Value::String(s)) => Ok(s),
        Some(other) => {
            Err(problem(format!("{path}.{name}"), format!("expected a string, got {}", excerpt_json(other))))
        }
    }
}

fn string_map(
    obj: &serde_json::Map<String, Value>,
    path: &str,
    name: &str,
    required: bool,
) -> Result<Vec<(String, String)>, PayloadError> {
    let field = format!("{path}.{name}");
    let map = match obj.get(name) {
        None | Some(Value::Null) if !required => return Ok(Vec::new()),
        None => return Err(problem(field, "missing")),
        Some(Value::Object(m)) => m,
        Some(other) => return Err(problem(field, format!("expected an object, got {}", excerpt_json(other)))),
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            other => Err(problem(
                format!("{field}.{}", model::excerpt(k)),
                format!("expected a string, got {}", excerpt_json(other)),
            )),
        })
        .collect()
}

fn alert(path: &str, value: &Value) -> Result<Alert, PayloadError> {
    let Value::Object(obj) = value else { return Err(problem(path, "expected an object")) };
    let state = match string_field(obj, path, "status")? {
        "firing" => SignalState::Firing,
        "resolved" => SignalState::Resolved,
        other => {
            return Err(problem(
                format!("{path}.status"),
                format!("expected \"firing\" or \"resolved\", got {:?}", model::excerpt(other)),
            ));
        }
    };
    let pairs = string_map(obj, path, "labels", true)?;
    for (name, _) in &pairs {
        if !model::valid_label_name(name) || name.starts_with("__") {
            return Err(problem(format!("{path}.labels"), format!("invalid label name {:?}", model::excerpt(name))));
        }
    }
    let labels = Labels::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if labels.get("alertname").is_none_or(str::is_empty) {
        return Err(problem(format!("{path}.labels.alertname"), "missing"));
    }
    let annotations = string_map(obj, path, "annotations", false)?.into_iter().collect();
    let starts = string_field(obj, path, "startsAt")?;
    let starts_at = starts.parse::<jiff::Timestamp>().map(|t| t.as_millisecond()).map_err(|e| {
        problem(format!("{path}.startsAt"), format!("{:?} is not an RFC 3339 time: {e}", model::excerpt(starts)))
    })?;
    let fingerprint = string_field(obj, path, "fingerprint")?;
    if fingerprint.is_empty() || fingerprint.len() > 64 || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(problem(
            format!("{path}.fingerprint"),
            format!("expected a hexadecimal fingerprint, got {:?}", model::excerpt(fingerprint)),
        ));
    }
    Ok(Alert { state, labels, annotations, starts_at, fingerprint: fingerprint.to_owned() })
}

/// The `alertmanager` source.
pub struct AlertmanagerSource {
    settings: AlertmanagerSettings,
    /// Fingerprint → start time of every alert firing now, kept across panics of the
    /// (idle) run task.
    firing: Arc<Mutex<HashMap<String, Millis>>>,
}

impl AlertmanagerSource {
    /// A receiver with these settings.
    pub fn new(settings: AlertmanagerSettings) -> Self {
        Self { settings, firing: Arc::default() }
    }
}

impl Source for AlertmanagerSource {
    fn type_name(&self) -> &'static str {
        "alertmanager"
    }

    fn name(&self) -> String {
        format!("alertmanager {PATH}")
    }

    fn run(&self, _ctx: SourceContext) -> BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }

    fn routes(&self, ctx: &SourceContext) -> Vec<Route> {
        let receiver =
            Arc::new(Receiver { max_alerts: self.settings.max_alerts, firing: self.firing.clone(), ctx: ctx.clone() });
        vec![Route {
            path: PATH,
            role: Role::Write,
            max_body_bytes: self.settings.max_request_bytes,
            handler: Arc::new(move |request| {
                let receiver = receiver.clone();
                Box::pin(async move { receiver.receive(&request) })
            }),
        }]
    }
}

struct Receiver {
    max_alerts: usize,
    firing: Arc<Mutex<HashMap<String, Millis>>>,
    ctx: SourceContext,
}

impl Receiver {
    fn receive(&self, request: &HttpRequest) -> HttpResponse {
        let alerts = match parse(&request.body) {
            Ok(a) => a,
            Err(e) => {
                self.ctx.metrics.alert("refused");
                return HttpResponse::bad_data(&format!("invalid Alertmanager payload: {e}"));
            }
        };
        let now = self.ctx.clock.now();
        let mut firing = self.firing.lock().unwrap_or_else(|p| p.into_inner());
        let new = alerts
            .iter()
            .filter(|a| a.state == SignalState::Firing && !firing.contains_key(&a.fingerprint))
            .map(|a| &a.fingerprint)
            .collect::<std::collections::HashSet<_>>()
            .len();
        if firing.len().saturating_add(new) > self.max_alerts {
            self.ctx.metrics.alert("refused");
            return HttpResponse::error(
                503,
                "unavailable",
                &format!(
                    "{} alerts are firing already and this payload adds {new}: more than max_alerts ({})",
                    firing.len(),
                    self.max_alerts
                ),
            );
        }
        let metrics = &self.ctx.metrics;
        for alert in &alerts {
            match alert.state {
                SignalState::Firing => match firing.get(&alert.fingerprint).copied() {
                    Some(started) if started == alert.starts_at => metrics.alert("repeat"),
                    Some(_) => {
                        // It resolved and fired again while a notification was missed.
                        self.ctx.signals.send(Alert { state: SignalState::Resolved, ..alert.clone() }.signal(now));
                        firing.insert(alert.fingerprint.clone(), alert.starts_at);
                        self.ctx.signals.send(alert.signal(now));
                        metrics.alert("signal");
                    }
                    None => {
                        firing.insert(alert.fingerprint.clone(), alert.starts_at);
                        self.ctx.signals.send(alert.signal(now));
                        metrics.alert("signal");
                    }
                },
                SignalState::Resolved => {
                    if firing.remove(&alert.fingerprint).is_some() {
                        self.ctx.signals.send(alert.signal(now));
                        metrics.alert("resolved");
                    } else {
                        // Resolved alerts stay in a group's notifications for a while.
                        metrics.alert("unknown_resolved");
                    }
                }
            }
        }
        HttpResponse { status: 200, content_type: "application/json", body: br#"{"status":"success"}"#.to_vec() }
    }
}

#[cfg(test)]
mod tests;
