//! Learned-baseline watches against a store the tests set by hand.

use super::*;
use crate::promql::parse;
use model::SeriesData;
use std::sync::Mutex;

/// A store with one gauge per instance, set by the test, that records what is written.
#[derive(Default)]
struct Store {
    values: Mutex<HashMap<String, f64>>,
    written: Mutex<Vec<(Labels, Sample)>>,
}

impl SeriesReader for Store {
    fn read(&self, sel: &dyn model::SeriesSelector, _start: Millis, end: Millis) -> Vec<SeriesData> {
        self.values
            .lock()
            .expect("lock")
            .iter()
            .map(|(inst, v)| SeriesData {
                labels: Labels::from_pairs([("__name__", "mem"), ("service", "a"), ("instance", inst.as_str())]),
                samples: vec![Sample { t: end, v: *v }],
            })
            .filter(|s| sel.matches(&s.labels))
            .collect()
    }
}

impl Store {
    /// Sets instance `x:1` to `v` and evaluates the watch at second `i`.
    fn step(&self, w: &mut Watch, i: u64, v: f64) -> Vec<Signal> {
        self.values.lock().expect("lock").insert("x:1".into(), v);
        w.eval(&Engine::new(), self, self, 1_000 * i as i64).expect("eval")
    }
}

impl SeriesWriter for Store {
    fn write(&self, labels: &Labels, sample: Sample) {
        self.written.lock().expect("lock").push((labels.clone(), sample));
    }
}

fn spec(direction: Direction, max_series: usize) -> WatchSpec {
    WatchSpec {
        name: "memory".into(),
        expr: parse("mem").expect("expr"),
        expr_text: "mem".into(),
        detector: "ensemble".into(),
        threshold: detect::ALERT_THRESHOLD,
        direction,
        probation: 50,
        max_series,
        quiet: 3,
        missing_after: 3,
        restart_grace: 20,
        accept_after: crate::anomaly::DEFAULT_ACCEPT_AFTER,
        min_change: DEFAULT_MIN_CHANGE,
        false_alarm_every: DEFAULT_FALSE_ALARM_EVERY,
        interval: Duration::from_secs(1),
    }
}

fn wobble(i: u64) -> f64 {
    100.0 + ((i * 7919) % 13) as f64 * 0.1
}

#[test]
fn a_jump_raises_an_anomaly_that_resolves_and_scores_are_published() {
    let store = Store::default();
    let mut w = Watch::new(spec(Direction::Up, 10));
    let mut fired = Vec::new();
    for i in 0..400u64 {
        let v = if (300..303).contains(&i) { 10_000.0 } else { wobble(i) };
        fired.extend(store.step(&mut w, i, v));
    }
    let firing: Vec<&Signal> = fired.iter().filter(|s| s.state == model::SignalState::Firing).collect();
    assert_eq!(firing.len(), 1, "{fired:#?}");
    assert!(firing[0].at >= 300_000 && firing[0].at <= 303_000, "{}", firing[0].at);
    assert_eq!(firing[0].kind, SignalKind::Anomaly);
    assert_eq!(firing[0].service.as_deref(), Some("a"));
    assert!(firing[0].summary().contains("learned baseline (ensemble) flagged mem"), "{}", firing[0].summary());
    assert!(fired.iter().any(|s| s.state == model::SignalState::Resolved), "it resolves once quiet");
    let written = store.written.lock().expect("lock");
    assert_eq!(written.len(), 400);
    assert_eq!(written[0].0.metric_name(), Some(SCORE_METRIC));
    assert_eq!(written[0].0.get("metric"), Some("mem"));
    assert_eq!(written[0].0.get("instance"), Some("x:1"));
    assert!(written.iter().all(|(_, s)| (0.0..=1.0).contains(&s.v)));
}

fn drop_signals(direction: Direction) -> Vec<Signal> {
    let store = Store::default();
    let mut w = Watch::new(spec(direction, 10));
    let mut fired = Vec::new();
    for i in 0..400u64 {
        let v = if i >= 300 { 1.0 } else { wobble(i) };
        fired.extend(store.step(&mut w, i, v));
    }
    fired
}

#[test]
fn a_drop_counts_only_for_watches_that_look_down() {
    assert!(drop_signals(Direction::Up).is_empty());
    assert!(!drop_signals(Direction::Both).is_empty(), "the detector does see the drop");
    assert!(!drop_signals(Direction::Down).is_empty());
}

#[test]
fn an_anomaly_resolves_only_when_values_return_to_the_learnt_normal() {
    let store = Store::default();
    let mut w = Watch::new(spec(Direction::Up, 10));
    let mut edges = Vec::new();
    // Normal, then a shift that persists for 200 evaluations (long enough for any
    // detector to get used to it), then back to normal.
    for i in 0..600u64 {
        let v = if (300..500).contains(&i) { 5_000.0 + wobble(i) } else { wobble(i) };
        edges.extend(store.step(&mut w, i, v).into_iter().map(|s| (i, s.state)));
    }
    let firing: Vec<u64> = edges.iter().filter(|(_, s)| *s == model::SignalState::Firing).map(|(i, _)| *i).collect();
    let resolved: Vec<u64> =
        edges.iter().filter(|(_, s)| *s == model::SignalState::Resolved).map(|(i, _)| *i).collect();
    assert_eq!(firing.len(), 1, "{edges:?}");
    assert_eq!(resolved.len(), 1, "{edges:?}");
    assert!(resolved[0] >= 500 && resolved[0] < 510, "resolved at {} — only once back to normal", resolved[0]);
}

#[test]
fn an_anomaly_resolves_a_little_above_the_old_level_but_not_halfway() {
    // A leak doubles memory; the restarted process then settles 3 % above its
    // predecessor's level: far outside the steady series' noise band, well within half
    // the smallest change that may alarm (10 %).
    let run = |above: f64| {
        let store = Store::default();
        let mut w = Watch::new(spec(Direction::Up, 10));
        let mut edges = Vec::new();
        for i in 0..400u64 {
            let v = match i {
                0..200 => wobble(i),
                200..230 => 2.0 * wobble(i),
                _ => above + wobble(i),
            };
            edges.extend(store.step(&mut w, i, v).into_iter().map(|s| (i, s.state)));
        }
        edges
    };
    let edges = run(3.0);
    let fired = edges.iter().filter(|(_, s)| *s == model::SignalState::Firing).count();
    let resolved: Vec<u64> =
        edges.iter().filter(|(_, s)| *s == model::SignalState::Resolved).map(|(i, _)| *i).collect();
    assert_eq!(fired, 1, "{edges:?}");
    assert!(resolved.len() == 1 && resolved[0] < 240, "resolved soon after the drop: {edges:?}");
    // Settling 40 % above the old level is not recovery: it stays open (until, much later,
    // it lasts long enough to be accepted as the new normal).
    let edges = run(40.0);
    assert!(edges.iter().any(|(_, s)| *s == model::SignalState::Firing), "{edges:?}");
    assert!(edges.iter().all(|(_, s)| *s != model::SignalState::Resolved), "{edges:?}");
}

#[test]
fn a_restarted_instance_does_not_alarm_during_its_grace_period() {
    let run = |restart: bool| {
        let store = Store::default();
        let restarts = Restarts::default();
        let mut w = Watch::with_restarts(spec(Direction::Both, 10), restarts.clone());
        let mut fired = Vec::new();
        for i in 0..400u64 {
            if restart && i == 300 {
                restarts.record("x:1");
            }
            let v = if (300..305).contains(&i) { 5_000.0 + wobble(i) } else { wobble(i) };
            fired.extend(store.step(&mut w, i, v));
        }
        fired
    };
    assert!(!run(false).is_empty(), "the level shift alone is an anomaly");
    assert!(run(true).is_empty(), "a restart's transient is not an anomaly");
}

#[test]
fn a_fault_that_outlasts_the_restart_grace_is_flagged_when_the_grace_ends() {
    let store = Store::default();
    let restarts = Restarts::default();
    let mut w = Watch::with_restarts(spec(Direction::Up, 10), restarts.clone());
    let mut fired = Vec::new();
    for i in 0..400u64 {
        if i == 300 {
            restarts.record("x:1");
        }
        let v = if i >= 305 { 5_000.0 + wobble(i) } else { wobble(i) };
        fired.extend(store.step(&mut w, i, v));
    }
    assert_eq!(fired.len(), 1, "{fired:#?}");
    assert_eq!(fired[0].at, 320_000, "flagged on the first evaluation after the grace period");
    assert!(fired[0].summary().contains("(normal 100."), "{}", fired[0].summary());
}

#[test]
fn a_statistically_surprising_but_small_change_alarms_only_below_min_change() {
    let run = |min_change: f64| {
        let store = Store::default();
        let mut w = Watch::new(WatchSpec { min_change, ..spec(Direction::Up, 10) });
        let mut fired = Vec::new();
        for i in 0..400u64 {
            // +6 % on a series that wobbles by about 1 %.
            let v = if i >= 300 { 6.0 + wobble(i) } else { wobble(i) };
            fired.extend(store.step(&mut w, i, v));
        }
        fired
    };
    assert!(!run(0.0).is_empty(), "the shift is surprising to the detector");
    assert!(run(DEFAULT_MIN_CHANGE).is_empty(), "but smaller than the 10 % that matters");
}

#[test]
fn a_drop_does_not_blunt_an_upward_watch_to_the_rise_that_follows() {
    let store = Store::default();
    let mut w = Watch::new(spec(Direction::Up, 10));
    let mut fired = Vec::new();
    for i in 0..400u64 {
        // A deep dip (ignored by an upward watch), then, soon after, a rise.
        let v = match i {
            300..305 => 1.0,
            320.. => 5_000.0 + wobble(i),
            _ => wobble(i),
        };
        fired.extend(store.step(&mut w, i, v));
    }
    let firing: Vec<_> = fired.iter().filter(|s| s.state == model::SignalState::Firing).collect();
    assert_eq!(firing.len(), 1, "{fired:#?}");
    assert!((320_000..=322_000).contains(&firing[0].at), "{}", firing[0].at);
}

#[test]
fn the_published_score_stays_up_while_the_anomaly_lasts_and_is_not_learnt() {
    let store = Store::default();
    let mut w = Watch::new(spec(Direction::Up, 10));
    let mut fired = Vec::new();
    for i in 0..520u64 {
        let v = if (300..500).contains(&i) { 5_000.0 + wobble(i) } else { wobble(i) };
        fired.extend(store.step(&mut w, i, v));
    }
    assert_eq!(fired.len(), 2, "fired once, resolved once: {fired:#?}");
    let written = store.written.lock().expect("lock");
    let during: Vec<f64> = written[300..500].iter().map(|(_, s)| s.v).collect();
    assert!(during.iter().all(|s| *s >= detect::ALERT_THRESHOLD), "{during:?}");
}

#[test]
fn an_anomaly_that_lasts_accept_after_evaluations_becomes_the_new_normal() {
    let store = Store::default();
    let mut w = Watch::new(WatchSpec { accept_after: 250, ..spec(Direction::Up, 10) });
    let mut fired = Vec::new();
    for i in 0..700u64 {
        let v = if i >= 300 { 5_000.0 + wobble(i) } else { wobble(i) };
        fired.extend(store.step(&mut w, i, v));
    }
    assert_eq!(fired.len(), 2, "{fired:#?}");
    assert_eq!(fired[1].state, model::SignalState::Resolved);
    assert_eq!(fired[1].at, (300 + 250) * 1_000);
    assert!(fired[1].annotations.get("resolution").is_some_and(|r| r.contains("new normal")));
}

#[test]
fn significant_digits() {
    assert_eq!(significant(0.099150916), "0.09915");
    assert_eq!(significant(14073856.0), "14073856");
    assert_eq!(significant(100.55), "100.5");
    assert_eq!(significant(0.0), "0");
}

#[test]
fn missing_data_is_an_anomaly_and_the_series_cap_evicts_the_stalest() {
    let store = Store::default();
    let mut w = Watch::new(spec(Direction::Both, 2));
    let engine = Engine::new();
    store.values.lock().expect("lock").insert("x:1".into(), 1.0);
    store.values.lock().expect("lock").insert("x:2".into(), 1.0);
    w.eval(&engine, &store, &store, 0).expect("eval");
    store.values.lock().expect("lock").remove("x:2");
    let mut edges = Vec::new();
    for i in 1..=3 {
        edges.extend(w.eval(&engine, &store, &store, i * 1_000).expect("eval"));
    }
    assert_eq!(edges.len(), 1, "{edges:#?}");
    assert_eq!(edges[0].name, "memory_missing");
    assert_eq!(edges[0].instance.as_deref(), Some("x:2"));
    store.values.lock().expect("lock").insert("x:3".into(), 1.0);
    w.eval(&engine, &store, &store, 5_000).expect("eval");
    assert_eq!(w.series_count(), 2);
    assert_eq!(w.evicted(), 1, "x:2, silent the longest, made room for x:3");
}

/// Resident memory (bytes) of the demo's payments replica from its first scrape, as
/// its MemoryAnomaly watch learnt it in a real run (restart grace left out): a start-up
/// step, 4 KiB steps, a 3 % step and back.
const RESIDENT_MEMORY: [f64; 42] = [
    7229440.0, 7372800.0, 7376896.0, 7385088.0, 7389184.0, 7393280.0, 7397376.0, 7397376.0, 7397376.0, 7397376.0,
    7397376.0, 7397376.0, 7397376.0, 7405568.0, 7409664.0, 7409664.0, 7409664.0, 7409664.0, 7409664.0, 7409664.0,
    7430144.0, 7430144.0, 7430144.0, 7430144.0, 7430144.0, 7434240.0, 7434240.0, 7434240.0, 7434240.0, 7438336.0,
    7438336.0, 7442432.0, 7442432.0, 7442432.0, 7577600.0, 7577600.0, 7577600.0, 7364608.0, 7364608.0, 7364608.0,
    7368704.0, 7368704.0,
];

#[test]
fn a_doubling_of_memory_is_flagged_whatever_the_first_scrapes_looked_like() {
    for detector in ["ewma", "ensemble"] {
        let store = Store::default();
        let mut w = Watch::new(WatchSpec { detector: detector.into(), probation: 30, ..spec(Direction::Up, 10) });
        let mut fired = Vec::new();
        // Then a leak of 8 MiB per scrape.
        let leak = (1..=5).map(|i| 7368704.0 + f64::from(i) * 8.0 * 1024.0 * 1024.0);
        for (i, v) in (0u64..).zip(RESIDENT_MEMORY.into_iter().chain(leak)) {
            fired.extend(store.step(&mut w, i, v));
        }
        assert_eq!(fired.len(), 1, "{detector}: {fired:#?}");
        assert_eq!(fired[0].at, 42_000, "{detector}: flagged at the leak's first scrape");
        assert!(fired[0].summary().contains("(normal 74"), "{detector}: {}", fired[0].summary());
        // Not by a hair: a doubling is as surprising as anything this series has done.
        let score: f64 = fired[0].annotations.get("score").and_then(|s| s.parse().ok()).unwrap_or(0.0);
        assert!(score >= 0.9, "{detector}: score {score}");
    }
}
