//! Alerting rules and their state machine: inactive → pending → firing → resolved, with
//! `for:` and `keep_firing_for:` exactly as Prometheus evaluates them.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use model::{Labels, Millis, Signal, SignalKind, SignalState};

use super::template::{Template, expand_all};
use crate::promql::{Engine, EvalError, Expr, Value, VectorSample};

/// Where one alert (one label set of a rule) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    /// The expression returns it, but not yet for `for:`.
    Pending,
    /// It has held for `for:`.
    Firing,
}

impl AlertState {
    /// `pending` or `firing`, as in the `ALERTS` series.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Firing => "firing",
        }
    }
}

/// One active alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Its labels: the result's labels, the rule's labels and `alertname`.
    pub labels: Labels,
    /// Expanded annotations.
    pub annotations: BTreeMap<String, String>,
    /// The last value the expression gave.
    pub value: f64,
    /// Pending or firing.
    pub state: AlertState,
    /// When it became pending.
    pub active_at: Millis,
    /// When it started firing.
    pub fired_at: Option<Millis>,
    /// When the expression last returned it.
    pub last_seen: Millis,
}

/// A Prometheus alerting rule.
#[derive(Debug, Clone)]
pub struct AlertingRule {
    name: String,
    expr: Expr,
    expr_text: String,
    hold: Duration,
    keep_firing_for: Duration,
    labels: BTreeMap<String, Template>,
    annotations: BTreeMap<String, Template>,
    active: HashMap<Labels, Alert>,
}

impl AlertingRule {
    /// A rule from checked parts.
    pub fn new(
        name: impl Into<String>,
        expr: Expr,
        expr_text: impl Into<String>,
        hold: Duration,
        keep_firing_for: Duration,
        labels: BTreeMap<String, Template>,
        annotations: BTreeMap<String, Template>,
    ) -> Self {
        Self {
            name: name.into(),
            expr,
            expr_text: expr_text.into(),
            hold,
            keep_firing_for,
            labels,
            annotations,
            active: HashMap::new(),
        }
    }

    /// The alert name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The expression as written.
    pub fn expr_text(&self) -> &str {
        &self.expr_text
    }

    /// The `for:` duration.
    pub fn hold(&self) -> Duration {
        self.hold
    }

    /// Active (pending or firing) alerts.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    /// Evaluates at `t` and advances every alert's state. Returns the edges: a firing
    /// signal for each alert that started firing, a resolved one for each that stopped.
    pub fn eval(
        &mut self,
        engine: &Engine,
        reader: &dyn model::SeriesReader,
        t: Millis,
    ) -> Result<Vec<Signal>, EvalError> {
        let result = match engine.instant(reader, &self.expr, t)? {
            Value::Vector(v) => v,
            Value::Scalar(v) => vec![VectorSample { labels: Labels::new(), v }],
            Value::Matrix(_) | Value::String(_) => {
                return Err(EvalError::Type("alerting rule expression must return an instant vector".into()));
            }
        };
        let hold_ms = self.hold.as_millis() as Millis;
        let keep_ms = self.keep_firing_for.as_millis() as Millis;

        // Build this evaluation's alerts first, so a label clash fails the whole evaluation.
        let mut seen: HashMap<Labels, (Labels, BTreeMap<String, String>, f64)> = HashMap::with_capacity(result.len());
        for sample in result {
            let base = sample.labels.without_metric_name();
            let mut labels = base.clone();
            for (k, v) in expand_all(&self.labels, &base, sample.v) {
                labels.set(k, v);
            }
            labels.set("alertname", self.name.clone());
            let annotations = expand_all(&self.annotations, &base, sample.v);
            if seen.insert(labels.clone(), (labels, annotations, sample.v)).is_some() {
                return Err(EvalError::InvalidArgument(
                    "vector contains metrics with the same labelset after applying alert labels".into(),
                ));
            }
        }

        let mut edges = Vec::new();
        for (key, (labels, annotations, value)) in seen.iter() {
            let alert = self.active.entry(key.clone()).or_insert_with(|| Alert {
                labels: labels.clone(),
                annotations: annotations.clone(),
                value: *value,
                state: AlertState::Pending,
                active_at: t,
                fired_at: None,
                last_seen: t,
            });
            alert.value = *value;
            alert.annotations = annotations.clone();
            alert.last_seen = t;
            if alert.state == AlertState::Pending && t - alert.active_at >= hold_ms {
                alert.state = AlertState::Firing;
                alert.fired_at = Some(t);
                edges.push(edge(&self.name, alert, SignalState::Firing, t));
            }
        }

        let gone: Vec<Labels> = self.active.keys().filter(|k| !seen.contains_key(*k)).cloned().collect();
        for key in gone {
            let Some(alert) = self.active.get(&key) else {
                continue;
            };
            if alert.state == AlertState::Firing && keep_ms > 0 && t - alert.last_seen < keep_ms {
                continue;
            }
            if let Some(alert) = self.active.remove(&key)
                && alert.state == AlertState::Firing
            {
                edges.push(edge(&self.name, &alert, SignalState::Resolved, t));
            }
        }
        edges.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(edges)
    }
}

fn edge(name: &str, alert: &Alert, state: SignalState, t: Millis) -> Signal {
    let mut s = Signal::firing(SignalKind::Alert, name, alert.labels.clone(), t);
    s.annotations = alert.annotations.clone();
    s.value = Some(alert.value);
    s.active_since = alert.active_at;
    s.state = state;
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::parse;
    use model::{Sample, SeriesData, SeriesReader, SeriesSelector};
    use std::sync::Mutex;

    /// A reader whose single gauge `errors{instance="a"}` is set by the test.
    #[derive(Default)]
    struct Gauge {
        points: Mutex<Vec<Sample>>,
    }

    impl Gauge {
        fn set(&self, t: Millis, v: f64) {
            self.points.lock().expect("lock").push(Sample { t, v });
        }
    }

    impl SeriesReader for Gauge {
        fn read(&self, sel: &dyn SeriesSelector, start: Millis, end: Millis) -> Vec<SeriesData> {
            let labels = Labels::from_pairs([("__name__", "errors"), ("instance", "a")]);
            if !sel.matches(&labels) {
                return vec![];
            }
            let samples: Vec<Sample> =
                self.points.lock().expect("lock").iter().filter(|s| s.t > start && s.t <= end).copied().collect();
            if samples.is_empty() { vec![] } else { vec![SeriesData { labels, samples }] }
        }
    }

    fn rule(hold_s: u64, keep_s: u64) -> AlertingRule {
        let mut labels = BTreeMap::new();
        labels.insert("severity".to_owned(), Template::parse("page").expect("template"));
        let mut annotations = BTreeMap::new();
        annotations.insert("summary".to_owned(), Template::parse("{{ $labels.instance }} at {{ $value }}").expect("t"));
        AlertingRule::new(
            "TooManyErrors",
            parse("errors > 5").expect("expr"),
            "errors > 5",
            Duration::from_secs(hold_s),
            Duration::from_secs(keep_s),
            labels,
            annotations,
        )
    }

    fn step(r: &mut AlertingRule, g: &Gauge, t: Millis, v: f64) -> Vec<Signal> {
        g.set(t, v);
        r.eval(&Engine::new(), g, t).expect("eval")
    }

    #[test]
    fn pending_until_for_then_firing_then_resolved() {
        let g = Gauge::default();
        let mut r = rule(3, 0);
        assert!(step(&mut r, &g, 1_000, 1.0).is_empty());
        assert!(step(&mut r, &g, 2_000, 9.0).is_empty());
        assert_eq!(r.alerts().next().map(|a| a.state), Some(AlertState::Pending));
        assert!(step(&mut r, &g, 3_000, 9.0).is_empty());
        assert!(step(&mut r, &g, 4_000, 9.0).is_empty(), "2s < for: 3s");
        let fired = step(&mut r, &g, 5_000, 8.0);
        assert_eq!(fired.len(), 1);
        let s = &fired[0];
        assert_eq!((s.state, s.active_since, s.at, s.value), (SignalState::Firing, 2_000, 5_000, Some(8.0)));
        assert_eq!(s.labels.get("alertname"), Some("TooManyErrors"));
        assert_eq!(s.labels.get("severity"), Some("page"));
        assert_eq!(s.annotations["summary"], "a at 8");
        assert!(step(&mut r, &g, 6_000, 9.0).is_empty(), "firing is reported once");
        let resolved = step(&mut r, &g, 7_000, 0.0);
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].state, SignalState::Resolved);
        assert_eq!(resolved[0].key(), s.key());
        assert_eq!(r.alerts().count(), 0);
    }

    #[test]
    fn pending_alert_that_clears_never_fires() {
        let g = Gauge::default();
        let mut r = rule(3, 0);
        step(&mut r, &g, 1_000, 9.0);
        step(&mut r, &g, 2_000, 9.0);
        assert!(step(&mut r, &g, 3_000, 0.0).is_empty());
        assert_eq!(r.alerts().count(), 0);
        // It starts over: a new pending period.
        step(&mut r, &g, 4_000, 9.0);
        assert!(step(&mut r, &g, 6_000, 9.0).is_empty());
        assert_eq!(step(&mut r, &g, 7_000, 9.0).len(), 1);
    }

    #[test]
    fn zero_for_fires_on_first_evaluation() {
        let g = Gauge::default();
        let mut r = rule(0, 0);
        assert_eq!(step(&mut r, &g, 1_000, 9.0).len(), 1);
    }

    #[test]
    fn keep_firing_for_holds_a_flapping_alert() {
        let g = Gauge::default();
        let mut r = rule(0, 5);
        assert_eq!(step(&mut r, &g, 1_000, 9.0).len(), 1);
        assert!(step(&mut r, &g, 2_000, 0.0).is_empty(), "kept firing");
        assert!(step(&mut r, &g, 5_000, 0.0).is_empty(), "still within 5s of last seen");
        let resolved = step(&mut r, &g, 6_000, 0.0);
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].state, SignalState::Resolved);
    }

    #[test]
    fn stale_input_resolves() {
        let g = Gauge::default();
        let mut r = rule(0, 0);
        assert_eq!(step(&mut r, &g, 1_000, 9.0).len(), 1);
        let resolved = step(&mut r, &g, 2_000, model::STALE_NAN);
        assert_eq!(resolved.len(), 1, "a stale series is not a firing series");
    }
}
