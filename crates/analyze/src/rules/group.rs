//! Rule groups: recording and alerting rules evaluated in order on one interval.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use model::{Clock, Labels, Millis, Sample, SeriesReader, SeriesWriter, Signal};
use tokio::sync::mpsc;

use super::alerting::AlertingRule;
use crate::promql::{Engine, EvalError, Expr, Value};

/// A recording rule: stores an expression's result as a new series.
#[derive(Debug, Clone)]
pub struct RecordingRule {
    /// The metric name it records.
    pub record: String,
    /// The expression.
    pub expr: Expr,
    /// Extra labels on the recorded series.
    pub labels: BTreeMap<String, String>,
}

impl RecordingRule {
    fn eval(
        &self,
        engine: &Engine,
        reader: &dyn SeriesReader,
        writer: &dyn SeriesWriter,
        t: Millis,
    ) -> Result<usize, EvalError> {
        let samples = match engine.instant(reader, &self.expr, t)? {
            Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect::<Vec<_>>(),
            Value::Scalar(v) => vec![(Labels::new(), v)],
            Value::Matrix(_) | Value::String(_) => {
                return Err(EvalError::Type("recording rule expression must return an instant vector".into()));
            }
        };
        let mut written = std::collections::HashSet::with_capacity(samples.len());
        for (labels, v) in samples {
            let mut labels = labels.with(model::METRIC_NAME, self.record.clone());
            for (k, val) in &self.labels {
                labels.set(k.clone(), val.clone());
            }
            if !written.insert(labels.clone()) {
                return Err(EvalError::DuplicateLabelset);
            }
            writer.write(&labels, Sample { t, v });
        }
        Ok(written.len())
    }
}

/// One rule of a group.
#[derive(Debug, Clone)]
pub enum Rule {
    /// An alerting rule.
    Alerting(AlertingRule),
    /// A recording rule.
    Recording(RecordingRule),
}

impl Rule {
    /// The alert or recorded metric name.
    pub fn name(&self) -> &str {
        match self {
            Self::Alerting(a) => a.name(),
            Self::Recording(r) => &r.record,
        }
    }
}

/// A rule evaluation that failed; the loop goes on with the next rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFailure {
    /// Group name.
    pub group: String,
    /// Rule name.
    pub rule: String,
    /// What went wrong.
    pub error: EvalError,
}

/// A group of rules evaluated together, in order, on one interval.
#[derive(Debug, Clone)]
pub struct RuleGroup {
    /// Group name.
    pub name: String,
    /// The file it came from.
    pub file: String,
    /// Evaluation interval.
    pub interval: Duration,
    /// The rules, in file order.
    pub rules: Vec<Rule>,
}

impl RuleGroup {
    /// Evaluates every rule at `t`: recordings are written first-come (later rules see
    /// them), alerts advance their state and publish `ALERTS`. Returns the alert edges and
    /// the failures; a failing rule never stops the others.
    pub fn eval(
        &mut self,
        engine: &Engine,
        reader: &dyn SeriesReader,
        writer: &dyn SeriesWriter,
        t: Millis,
    ) -> (Vec<Signal>, Vec<RuleFailure>) {
        let mut signals = Vec::new();
        let mut failures = Vec::new();
        for rule in &mut self.rules {
            let result = match rule {
                Rule::Recording(r) => r.eval(engine, reader, writer, t).map(|_| ()),
                Rule::Alerting(a) => a.eval(engine, reader, t).map(|edges| {
                    signals.extend(edges);
                    for alert in a.alerts() {
                        let labels = alert
                            .labels
                            .clone()
                            .with(model::METRIC_NAME, "ALERTS")
                            .with("alertstate", alert.state.as_str());
                        writer.write(&labels, Sample { t, v: 1.0 });
                    }
                }),
            };
            if let Err(error) = result {
                failures.push(RuleFailure { group: self.name.clone(), rule: rule.name().to_owned(), error });
            }
        }
        (signals, failures)
    }

    /// Evaluates on the group's interval forever, sending alert edges to `signals`. Time
    /// comes from `clock` and tokio's timer, so tests drive it with paused time.
    pub async fn run<S>(
        mut self,
        engine: Engine,
        store: Arc<S>,
        clock: Arc<dyn Clock>,
        signals: mpsc::UnboundedSender<Signal>,
    ) where
        S: SeriesReader + SeriesWriter + 'static,
    {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (t, started) = (clock.now(), tokio::time::Instant::now());
            let (edges, failures) = self.eval(&engine, store.as_ref(), store.as_ref(), t);
            crate::timing::record_evaluation(
                store.as_ref(),
                "autonomic_rule_group",
                "rule_group",
                &self.name,
                t,
                started.elapsed(),
            );
            for f in failures {
                tracing::warn!(group = %f.group, rule = %f.rule, error = %f.error, "rule evaluation failed");
            }
            for edge in edges {
                if signals.send(edge).is_err() {
                    return;
                }
            }
        }
    }
}
