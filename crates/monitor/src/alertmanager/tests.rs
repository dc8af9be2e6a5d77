use std::sync::Arc;

use model::{Clock, SelfMetrics, SignalSink};
use serde_json::json;

use super::*;

#[derive(Debug)]
struct Fixed(Millis);
impl Clock for Fixed {
    fn now(&self) -> Millis {
        self.0
    }
}

fn payload(alerts: serde_json::Value) -> Vec<u8> {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"HighErrorRate\"}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "autonomic",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": alerts,
    })
    .to_string()
    .into_bytes()
}

fn alert(status: &str, instance: &str, starts: &str, fingerprint: &str) -> serde_json::Value {
    json!({
        "status": status,
        "labels": {"alertname": "HighErrorRate", "job": "checkout", "instance": instance, "severity": "page"},
        "annotations": {"summary": "checkout answers 5xx"},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph",
        "fingerprint": fingerprint,
    })
}

fn setup(max_alerts: usize) -> (Route, Arc<Mutex<Vec<Signal>>>, SelfMetrics) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let metrics = SelfMetrics::new();
    let ctx = SourceContext {
        samples: Arc::new(crate::SeriesStore::new(std::time::Duration::from_secs(60), 10)),
        signals: {
            let seen = seen.clone();
            SignalSink::new(move |s| seen.lock().unwrap().push(s))
        },
        clock: Arc::new(Fixed(1_700_000_100_000)),
        metrics: metrics.clone(),
    };
    let settings = AlertmanagerSettings { max_alerts, ..AlertmanagerSettings::default() };
    (AlertmanagerSource::new(settings).routes(&ctx).remove(0), seen, metrics)
}

fn post(route: &Route, body: Vec<u8>) -> HttpResponse {
    let f = (route.handler)(HttpRequest { headers: Vec::new(), body });
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}

const T0: &str = "2023-11-14T22:13:20Z";

#[test]
fn an_alert_becomes_one_signal_with_its_labels_annotations_and_fingerprint() {
    let (route, seen, _) = setup(10);
    let r = post(&route, payload(json!([alert("firing", "a:1", T0, "0a1b2c3d4e5f6789")])));
    assert_eq!(r.status, 200);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!((s.kind, s.name.as_str(), s.state), (SignalKind::Alert, "HighErrorRate", SignalState::Firing));
    assert_eq!(s.service.as_deref(), Some("checkout"));
    assert_eq!(s.instance.as_deref(), Some("a:1"));
    assert_eq!(s.labels.get("severity"), Some("page"));
    assert_eq!(s.annotations.get("summary").map(String::as_str), Some("checkout answers 5xx"));
    assert_eq!(s.fingerprint.as_deref(), Some("0a1b2c3d4e5f6789"));
    assert_eq!(s.active_since, 1_700_000_000_000);
    assert_eq!(s.at, 1_700_000_100_000);
}

#[test]
fn repeated_notifications_are_one_signal_until_resolved() {
    let (route, seen, metrics) = setup(10);
    let firing = payload(json!([alert("firing", "a:1", T0, "aa"), alert("firing", "b:1", T0, "bb")]));
    for _ in 0..5 {
        assert_eq!(post(&route, firing.clone()).status, 200);
    }
    assert_eq!(seen.lock().unwrap().len(), 2, "five notifications of two alerts are two signals");
    let resolved = payload(json!([alert("resolved", "a:1", T0, "aa"), alert("firing", "b:1", T0, "bb")]));
    post(&route, resolved.clone());
    post(&route, resolved);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "one resolved edge, however often it is repeated");
    assert_eq!((seen[2].instance.as_deref(), seen[2].state), (Some("a:1"), SignalState::Resolved));
    assert_eq!(seen[0].key(), seen[2].key(), "the resolved edge closes the firing one");
    let m = metrics.encode();
    assert!(m.contains("outcome=\"repeat\"} 10") && m.contains("outcome=\"unknown_resolved\"} 1"), "{m}");
}

#[test]
fn an_alert_that_fired_anew_resolves_and_fires_again() {
    let (route, seen, _) = setup(10);
    post(&route, payload(json!([alert("firing", "a:1", T0, "aa")])));
    post(&route, payload(json!([alert("firing", "a:1", "2023-11-14T23:00:00Z", "aa")])));
    let states: Vec<_> = seen.lock().unwrap().iter().map(|s| s.state).collect();
    assert_eq!(states, vec![SignalState::Firing, SignalState::Resolved, SignalState::Firing]);
}

#[test]
fn a_bad_payload_is_refused_whole_with_the_fields_path() {
    let (route, seen, _) = setup(10);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{".to_vec(), "body: not JSON"),
        (br#"{"alerts": []}"#.to_vec(), "version: missing"),
        (br#"{"version": "3", "alerts": []}"#.to_vec(), "version: unsupported version \"3\""),
        (br#"{"version": "4"}"#.to_vec(), "alerts: missing"),
        (payload(json!([alert("firing", "a", T0, "aa"), {"status": "firing"}])), "alerts[1].labels: missing"),
        (payload(json!([alert("pending", "a", T0, "aa")])), "alerts[0].status: expected \"firing\" or \"resolved\""),
        (payload(json!([alert("firing", "a", "yesterday", "aa")])), "alerts[0].startsAt: \"yesterday\" is not"),
        (payload(json!([alert("firing", "a", T0, "zz!")])), "alerts[0].fingerprint: expected a hexadecimal"),
        (
            payload(json!([{"status": "firing", "labels": {"job": "x"}, "startsAt": T0, "fingerprint": "aa"}])),
            "alerts[0].labels.alertname: missing",
        ),
        (
            payload(
                json!([{"status": "firing", "labels": {"alertname": "A", "bad-name": "x"}, "startsAt": T0, "fingerprint": "aa"}]),
            ),
            "alerts[0].labels: invalid label name \"bad-name\"",
        ),
        (
            payload(json!([{"status": "firing", "labels": {"alertname": 5}, "startsAt": T0, "fingerprint": "aa"}])),
            "alerts[0].labels.alertname: expected a string, got 5",
        ),
    ];
    for (body, expected) in cases {
        let r = post(&route, body);
        assert_eq!(r.status, 400, "{expected}");
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let text = body["error"].as_str().unwrap();
        assert!(text.contains(expected), "expected {expected:?} in {text}");
    }
    assert!(seen.lock().unwrap().is_empty(), "nothing of a refused payload became a signal");
}

#[test]
fn more_firing_alerts_than_the_limit_are_refused_with_503_and_nothing_changes() {
    let (route, seen, _) = setup(2);
    post(&route, payload(json!([alert("firing", "a", T0, "aa")])));
    let r = post(&route, payload(json!([alert("firing", "b", T0, "bb"), alert("firing", "c", T0, "cc")])));
    assert_eq!(r.status, 503);
    assert!(String::from_utf8(r.body).unwrap().contains("more than max_alerts (2)"));
    assert_eq!(seen.lock().unwrap().len(), 1);
    // Repeats of what is tracked still get through.
    assert_eq!(
        post(&route, payload(json!([alert("firing", "a", T0, "aa"), alert("firing", "b", T0, "bb")]))).status,
        200
    );
}
