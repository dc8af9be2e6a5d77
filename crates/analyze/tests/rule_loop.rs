//! The rule-group evaluation loop under tokio's paused time: `for:` holds an alert pending
//! for exactly its duration, and the alert resolves on the first evaluation without it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use analyze::promql::Engine;
use analyze::rules::parse_rule_file;
use model::{Clock, Labels, Sample, SignalState, TokioClock};
use monitor::SeriesStore;
use tokio::sync::mpsc;

const RULES: &str =
    "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: Down\n        expr: up == 0\n        for: 3s\n";

#[tokio::test(start_paused = true)]
async fn for_holds_the_alert_pending_then_it_fires_and_resolves() {
    let clock = Arc::new(TokioClock::anchored_at(1_700_000_000_000));
    let store = Arc::new(SeriesStore::new(Duration::from_secs(3600), 1000));
    let up = Labels::from_pairs([("__name__", "up"), ("service", "a")]);
    let value = Arc::new(AtomicU64::new(0f64.to_bits()));
    let start = clock.now();
    store.append(&up, Sample { t: start, v: 0.0 });
    {
        // A scraper stand-in: one sample a second, halfway between evaluations.
        let (store, clock, value, up) = (store.clone(), clock.clone(), value.clone(), up.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                store.append(&up, Sample { t: clock.now(), v: f64::from_bits(value.load(Ordering::SeqCst)) });
            }
        });
    }
    let group = parse_rule_file("r.yaml", RULES, Duration::from_secs(15)).expect("rules").remove(0);
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(group.run(Engine::new(), store.clone(), clock.clone(), tx));

    tokio::time::sleep(Duration::from_millis(2_900)).await;
    assert!(rx.try_recv().is_err(), "still pending before for: 3s has passed");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fired = rx.try_recv().expect("firing at the evaluation 3 s after it became pending");
    assert_eq!(fired.state, SignalState::Firing);
    assert_eq!(fired.active_since, start);
    assert_eq!(fired.at - fired.active_since, 3_000);

    value.store(1f64.to_bits(), Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let resolved = rx.try_recv().expect("resolved once up is 1");
    assert_eq!(resolved.state, SignalState::Resolved);
    assert_eq!(resolved.key(), fired.key());
    assert!(resolved.at - fired.at <= 2_000, "{} ms", resolved.at - fired.at);
}

#[tokio::test(start_paused = true)]
async fn each_evaluation_is_recorded_as_a_series_so_missed_ones_show() {
    use model::SeriesReader;
    let clock = Arc::new(TokioClock::anchored_at(1_700_000_000_000));
    let store = Arc::new(SeriesStore::new(Duration::from_secs(3600), 1000));
    let group = parse_rule_file("r.yaml", RULES, Duration::from_secs(15)).expect("rules").remove(0);
    let (tx, _rx) = mpsc::unbounded_channel();
    let start = clock.now();
    tokio::spawn(group.run(Engine::new(), store.clone(), clock.clone(), tx));
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    let expr = analyze::promql::parse("autonomic_rule_group_last_evaluation_timestamp_seconds{rule_group=\"g\"}[1h]")
        .expect("parses");
    let value = Engine::new().instant(store.as_ref() as &dyn SeriesReader, &expr, clock.now()).expect("evaluates");
    let analyze::promql::Value::Matrix(series) = value else { panic!("a matrix: {value:?}") };
    let times: Vec<i64> = series[0].samples.iter().map(|s| s.t).collect();
    assert_eq!(times, vec![start, start + 1_000, start + 2_000, start + 3_000, start + 4_000]);
    assert!(series[0].samples.iter().all(|s| s.v * 1000.0 == s.t as f64));
}
