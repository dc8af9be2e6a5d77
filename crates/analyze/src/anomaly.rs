//! Learned baselines in the live loop: a streaming detector per selected series, fed on
//! every evaluation. Scores are published as `autonomic_anomaly_score` (with the source
//! series' labels, so PromQL, dashboards or an autoscaler can read them); a score crossing
//! the threshold raises an `anomaly` signal, and a selected series that stops reporting
//! raises one too (missing data is never "healthy").

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use model::{Clock, Labels, Millis, Sample, SeriesReader, SeriesWriter, Signal, SignalKind};
use tokio::sync::mpsc;

use crate::detect::{self, Calibration, Detector, Prior};
use crate::promql::{Engine, EvalError, Expr, Value};

/// Weight of a new value in the learnt level and spread (about a 20-evaluation memory).
const LEVEL_RATE: f64 = 0.1;
/// An anomaly resolves when values are back within this many spreads of the learnt level.
const RECOVERY_BAND: f64 = 4.0;

/// Default evaluations an anomaly may last before its level is accepted as the new normal
/// (`accept_after`; ten minutes at a 1 s interval): until then the detector does not learn
/// from anomalous points, so a fault that comes back after a fix is as surprising as the
/// first time.
pub const DEFAULT_ACCEPT_AFTER: usize = 600;

/// Default smallest change, relative to the learnt level, that may alarm: a series so
/// steady that a 2 % wobble is statistically surprising is still not in trouble.
pub const DEFAULT_MIN_CHANGE: f64 = 0.1;

/// Default false-alarm budget of a watch: one a week per series with no anomaly.
pub const DEFAULT_FALSE_ALARM_EVERY: Duration = Duration::from_millis(detect::DEFAULT_FALSE_ALARM_EVERY as u64);

/// The metric detectors publish their scores under.
pub const SCORE_METRIC: &str = "autonomic_anomaly_score";

/// Which deviations count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Only values above the learnt level (memory growth, latency, error rates).
    Up,
    /// Only values below it (throughput drops).
    Down,
    /// Both.
    Both,
}

impl Direction {
    /// Parses `up`, `down` or `both`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "up" => Some(Self::Up),
            "down" => Some(Self::Down),
            "both" => Some(Self::Both),
            _ => None,
        }
    }
}

/// One configured watch: which series, which detector, when to alarm.
#[derive(Debug, Clone)]
pub struct WatchSpec {
    /// Its name: the `anomaly` signal's name, matched by playbooks.
    pub name: String,
    /// PromQL selecting the series to watch.
    pub expr: Expr,
    /// The expression as written.
    pub expr_text: String,
    /// Detector name (see [`detect::DETECTORS`]).
    pub detector: String,
    /// Score at or above which a point is anomalous.
    pub threshold: f64,
    /// Which deviations count.
    pub direction: Direction,
    /// Evaluations a new series learns before it can alarm.
    pub probation: usize,
    /// Most series watched at once; the least recently updated one is evicted beyond it.
    pub max_series: usize,
    /// Consecutive evaluations below the threshold before an anomaly resolves.
    pub quiet: usize,
    /// Consecutive evaluations without a value before missing data is an anomaly.
    pub missing_after: usize,
    /// Evaluations after a restart of the instance during which its series may not alarm.
    pub restart_grace: usize,
    /// Evaluations an anomaly may last before its level is accepted as the new normal.
    pub accept_after: usize,
    /// Smallest deviation from the learnt level, as a fraction of that level, that may
    /// alarm (0: any surprising deviation).
    pub min_change: f64,
    /// About one false alarm per this span on a series with no anomaly (the detectors'
    /// [`detect::Calibration`]).
    pub false_alarm_every: Duration,
    /// Evaluation interval.
    pub interval: Duration,
}

struct Tracked {
    detector: Box<dyn Detector>,
    generation: u64,
    /// Evaluations left in which a restarted instance may not alarm.
    grace: usize,
    /// The learnt normal level and spread (exponentially weighted), frozen while an
    /// anomaly fires: recovery means coming back to *this* normal, not the detector having
    /// got used to the new state.
    level: f64,
    spread: f64,
    seen: u64,
    last_tick: u64,
    firing: Option<Signal>,
    /// Evaluations the current anomaly has lasted, and the score that raised it.
    firing_for: u64,
    fired_score: f64,
    below: usize,
    missing: Option<Signal>,
}

/// Instances whose process was restarted: a fresh process goes through a start-up
/// transient (memory grows, caches warm up) that is not an anomaly, so its series may not
/// alarm for a grace period; the learnt baseline itself is kept. Shared between the
/// supervisor's observer and the watches.
#[derive(Debug, Clone, Default)]
pub struct Restarts {
    inner: Arc<std::sync::Mutex<HashMap<String, u64>>>,
}

impl Restarts {
    /// Records that the process behind `instance` was (re)started.
    pub fn record(&self, instance: &str) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(instance.to_owned()).or_default() += 1;
    }

    fn generation(&self, instance: &str) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).get(instance).copied().unwrap_or(0)
    }
}

/// The state of one watch over all its series.
pub struct Watch {
    spec: WatchSpec,
    series: HashMap<Labels, Tracked>,
    tick: u64,
    evicted: u64,
    restarts: Restarts,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("name", &self.spec.name)
            .field("series", &self.series.len())
            .finish_non_exhaustive()
    }
}

impl Watch {
    /// A watch with no series yet.
    pub fn new(spec: WatchSpec) -> Self {
        Self::with_restarts(spec, Restarts::default())
    }

    /// A watch that starts a series' baseline over when its instance restarts.
    pub fn with_restarts(spec: WatchSpec, restarts: Restarts) -> Self {
        Self { spec, series: HashMap::new(), tick: 0, evicted: 0, restarts }
    }

    fn fresh_detector(&self) -> Box<dyn Detector> {
        let budget = i64::try_from(self.spec.false_alarm_every.as_millis()).unwrap_or(i64::MAX);
        let prior = Prior {
            min: None,
            max: None,
            probation: self.spec.probation,
            calibration: Calibration::FalseAlarmEvery(budget.max(1)),
        };
        detect::build_live(&self.spec.detector, prior)
            .unwrap_or_else(|| Box::new(detect::Ensemble::new(prior).unshaped()))
    }

    /// Series watched now.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Series evicted because of `max_series`.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Evaluates the selection at `t`, feeds every series to its detector, publishes the
    /// scores and returns the signal edges.
    pub fn eval(
        &mut self,
        engine: &Engine,
        reader: &dyn SeriesReader,
        writer: &dyn SeriesWriter,
        t: Millis,
    ) -> Result<Vec<Signal>, EvalError> {
        self.tick += 1;
        let samples = match engine.instant(reader, &self.spec.expr, t)? {
            Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect::<Vec<_>>(),
            Value::Scalar(v) => vec![(Labels::new(), v)],
            _ => return Err(EvalError::Type("an anomaly watch needs an instant vector".into())),
        };
        let mut edges = Vec::new();
        for (labels, v) in samples {
            let source = labels.metric_name().map(str::to_owned);
            let mut key = labels.without_metric_name();
            if let Some(name) = &source {
                key.set("metric", name.clone());
            }
            self.make_room_for(&key);
            let generation = key.get("instance").map(|i| self.restarts.generation(i)).unwrap_or(0);
            self.track(&key, generation, v);
            let Some(tracked) = self.series.get_mut(&key) else { continue };
            let score = step(&self.spec, tracked, &key, source.as_deref(), v, t, &mut edges);
            writer.write(
                &key.with(model::METRIC_NAME, SCORE_METRIC)
                    .with("detector", self.spec.detector.clone())
                    .with("watch", self.spec.name.clone()),
                Sample { t, v: score },
            );
        }
        self.sweep_silent(t, &mut edges);
        Ok(edges)
    }

    /// Evicts the series that has gone longest without a value if `key` is new and the
    /// watch is full.
    fn make_room_for(&mut self, key: &Labels) {
        if self.series.contains_key(key) || self.series.len() < self.spec.max_series.max(1) {
            return;
        }
        if let Some(old) = self.series.iter().min_by_key(|(_, s)| s.last_tick).map(|(k, _)| k.clone()) {
            self.series.remove(&old);
            self.evicted += 1;
        }
    }

    /// The series' state, created on first sight; a new process generation behind its
    /// instance starts a restart grace period.
    fn track(&mut self, key: &Labels, generation: u64, v: f64) {
        let tick = self.tick;
        let grace = self.spec.restart_grace;
        let fresh = if self.series.contains_key(key) { None } else { Some(self.fresh_detector()) };
        let tracked = self.series.entry(key.clone()).or_insert_with(|| Tracked {
            detector: fresh.unwrap_or_else(|| Box::new(detect::Ensemble::new(Prior::default()).unshaped())),
            generation,
            grace: 0,
            level: v,
            spread: 0.0,
            seen: 0,
            last_tick: tick,
            firing: None,
            firing_for: 0,
            fired_score: 0.0,
            below: 0,
            missing: None,
        });
        if tracked.generation != generation {
            tracked.generation = generation;
            tracked.grace = grace;
        }
        tracked.last_tick = tick;
        tracked.seen += 1;
    }

    /// Raises missing-data anomalies for series that stopped reporting, and forgets those
    /// silent for a long time (resolving what they had raised).
    fn sweep_silent(&mut self, t: Millis, edges: &mut Vec<Signal>) {
        let missing_after = self.spec.missing_after.max(1) as u64;
        let forget_after = missing_after * 100;
        let mut forget = Vec::new();
        for (key, tracked) in self.series.iter_mut() {
            let silent = self.tick - tracked.last_tick;
            if silent >= forget_after {
                forget.push(key.clone());
            } else if silent >= missing_after && tracked.missing.is_none() {
                let mut s = Signal::firing(SignalKind::Anomaly, format!("{}_missing", self.spec.name), key.clone(), t);
                s.annotations.insert(
                    "summary".into(),
                    format!("no data for {silent} evaluations from {} {key}", self.spec.expr_text),
                );
                edges.push(s.clone());
                tracked.missing = Some(s);
            }
        }
        for key in forget {
            if let Some(gone) = self.series.remove(&key) {
                for s in [gone.firing, gone.missing].into_iter().flatten() {
                    edges.push(s.resolved(t));
                }
            }
        }
    }

    /// Evaluates on the watch's interval forever, sending signal edges to `signals`.
    pub async fn run<S>(
        mut self,
        engine: Engine,
        store: Arc<S>,
        clock: Arc<dyn Clock>,
        signals: mpsc::UnboundedSender<Signal>,
    ) where
        S: SeriesReader + SeriesWriter + 'static,
    {
        let mut tick = tokio::time::interval(self.spec.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (t, started) = (clock.now(), tokio::time::Instant::now());
            let evaluated = self.eval(&engine, store.as_ref(), store.as_ref(), t);
            crate::timing::record_evaluation(
                store.as_ref(),
                "autonomic_anomaly_watch",
                "watch",
                &self.spec.name,
                t,
                started.elapsed(),
            );
            match evaluated {
                Ok(edges) => {
                    for e in edges {
                        if signals.send(e).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => tracing::warn!(watch = %self.spec.name, error = %e, "anomaly watch evaluation failed"),
            }
        }
    }
}

/// Where a value stands against a series' learnt normal.
struct Position {
    deviation: f64,
    above: bool,
    /// Within the noise band on the side the watch cares about.
    back_to_normal: bool,
    /// Well beyond the band on the side a one-sided watch ignores.
    other_side: bool,
}

fn position(spec: &WatchSpec, tracked: &Tracked, v: f64) -> Position {
    let deviation = v - tracked.level;
    let band = (RECOVERY_BAND * tracked.spread).max(1e-9 * tracked.level.abs());
    // Recovery has hysteresis: within the noise band, or within half the smallest change
    // that may alarm. A restarted process rarely lands exactly on the level its
    // predecessor had (a few hundred kilobytes more memory after a restart is not the
    // leak still going on), and the tight noise band of a steady series would otherwise
    // keep the anomaly open until it is accepted as the new normal.
    let recovery = band.max(0.5 * spec.min_change * tracked.level.abs());
    let back_to_normal = match spec.direction {
        Direction::Up => deviation <= recovery,
        Direction::Down => deviation >= -recovery,
        Direction::Both => deviation.abs() <= recovery,
    };
    // A one-sided watch neither shows its detector nor learns from values well on the side
    // it ignores: a drop in memory after a restart is not a surprise that would make a later
    // leak look ordinary. "Well" means beyond both the noise band and the smallest material
    // change. (During probation it sees everything, to learn the noise on both sides.)
    let learnt = tracked.seen > spec.probation as u64;
    let far = band.max(spec.min_change * tracked.level.abs());
    let other_side = learnt
        && match spec.direction {
            Direction::Up => deviation < -far,
            Direction::Down => deviation > far,
            Direction::Both => false,
        };
    Position { deviation, above: v >= tracked.level, back_to_normal, other_side }
}

/// One value of one series: scores it, learns from it if it is normal, and raises or
/// resolves the series' anomaly. Returns the score to publish.
fn step(
    spec: &WatchSpec,
    tracked: &mut Tracked,
    key: &Labels,
    source: Option<&str>,
    v: f64,
    t: Millis,
    edges: &mut Vec<Signal>,
) -> f64 {
    // A restarted process's start-up transient is neither learnt nor scored: the baseline
    // stays what it was before the restart, so a fault that is still there when the grace
    // period ends is as new to the detector as it was at its onset.
    let in_grace = tracked.grace > 0;
    tracked.grace = tracked.grace.saturating_sub(1);
    accept_if_long(tracked, spec.accept_after, v, t, edges);
    let at = position(spec, tracked, v);
    let anomalous = tracked.firing.is_some();
    let learn = !in_grace && !at.other_side && !anomalous;
    let score = if learn {
        tracked.detector.observe(t, v)
    } else if anomalous {
        tracked.fired_score
    } else {
        0.0
    };
    tracing::trace!(watch = %spec.name, series = %key, v, score, learn, level = tracked.level, "anomaly watch point");
    let normal = (tracked.level, tracked.spread);
    let material = at.deviation.abs() >= spec.min_change * normal.0.abs();
    let counts = !in_grace
        && material
        && match spec.direction {
            Direction::Up => at.above,
            Direction::Down => !at.above,
            Direction::Both => true,
        };
    let fires = score >= spec.threshold && counts;
    // The point that raises an anomaly is not part of the normal it is measured against:
    // recovery means coming back to the level from before it.
    if !anomalous && learn && !fires && v.is_finite() {
        tracked.level += at.deviation * LEVEL_RATE;
        tracked.spread += (at.deviation.abs() - tracked.spread) * LEVEL_RATE;
    }
    if fires {
        tracked.below = 0;
        if tracked.firing.is_none() {
            // A computed expression has no metric name; the watch's name says what it is.
            let what = source.unwrap_or(&spec.name);
            let summary = format!(
                "learned baseline ({}) flagged {what}{} = {} (normal {} ± {}): score {score:.2}",
                spec.detector,
                key.without_metric_name().drop_names(&["metric"]),
                significant(v),
                significant(normal.0),
                significant(normal.1),
            );
            let s = spec.signal(key, t, v, score, summary);
            edges.push(s.clone());
            tracked.firing = Some(s);
            tracked.fired_score = score;
        }
    } else if tracked.firing.is_some() && !at.back_to_normal {
        tracked.below = 0;
    } else if tracked.firing.is_some() {
        tracked.below += 1;
        if tracked.below >= spec.quiet.max(1)
            && let Some(f) = tracked.firing.take()
        {
            edges.push(f.resolved(t));
        }
    }
    score
}

/// Counts how long the current anomaly has lasted; one that lasted `accept_after`
/// evaluations is resolved as the new normal.
fn accept_if_long(tracked: &mut Tracked, accept_after: usize, v: f64, t: Millis, edges: &mut Vec<Signal>) {
    if tracked.firing.is_none() {
        tracked.firing_for = 0;
        return;
    }
    tracked.firing_for += 1;
    if tracked.firing_for >= accept_after as u64
        && let Some(f) = tracked.firing.take()
    {
        let mut accepted = f.resolved(t);
        accepted
            .annotations
            .insert("resolution".into(), format!("lasted {accept_after} evaluations; accepted as the new normal"));
        edges.push(accepted);
        tracked.level = v;
        tracked.firing_for = 0;
    }
}

impl WatchSpec {
    fn signal(&self, labels: &Labels, t: Millis, value: f64, score: f64, summary: String) -> Signal {
        let mut s = Signal::firing(SignalKind::Anomaly, self.name.clone(), labels.clone(), t);
        s.value = Some(value);
        s.annotations.insert("summary".into(), summary);
        s.annotations.insert("detector".into(), self.detector.clone());
        s.annotations.insert("score".into(), format!("{score:.3}"));
        s
    }
}

/// A value with four significant digits, for summaries people read.
fn significant(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    format!("{v:.digits$}")
}

#[cfg(test)]
#[path = "anomaly_tests.rs"]
mod tests;
