//! The query API on a real socket, over a real series store: Prometheus' response shapes,
//! and bad requests answered with what was wrong.

use std::sync::Arc;
use std::time::Duration;

use model::{Labels, Sample, SeriesWriter, TokioClock};
use monitor::SeriesStore;
use serde_json::Value;
use server::ApiState;

const T0: i64 = 1_700_000_000_000;

async fn api() -> String {
    let store = Arc::new(SeriesStore::new(Duration::from_secs(3600), 1000));
    for i in 0..60i64 {
        for (instance, base) in [("a:1", 0.02), ("a:2", 0.9)] {
            let labels = Labels::from_pairs([
                ("__name__", "autonomic_anomaly_score"),
                ("service", "payments"),
                ("instance", instance),
                ("watch", "LatencyAnomaly"),
            ]);
            store.write(&labels, Sample { t: T0 + i * 1_000, v: base });
        }
    }
    let state = ApiState::new(
        store,
        Arc::new(TokioClock::anchored_at(T0 + 59_000)),
        promql::Engine::new(),
        model::Health::new(),
        server::ApiLimits::default(),
    )
    .expect("query threads");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(server::serve(listener, state));
    format!("http://{addr}")
}

async fn get(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json body"))
}

#[tokio::test]
async fn an_instant_query_reads_anomaly_scores_as_prometheus_would_answer() {
    let base = api().await;
    let (status, body) = get(&format!(
        "{base}/api/v1/query?query=max%20by%20(instance)%20(autonomic_anomaly_score%7Bwatch%3D%22LatencyAnomaly%22%7D)%20%3E%200.5&time=1700000059"
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["resultType"], "vector");
    let result = body["data"]["result"].as_array().expect("result");
    assert_eq!(result.len(), 1, "{body}");
    assert_eq!(result[0]["metric"], serde_json::json!({ "instance": "a:2" }));
    assert_eq!(result[0]["value"], serde_json::json!([1_700_000_059, "0.9"]));
}

#[tokio::test]
async fn a_range_query_returns_a_matrix_and_post_works_too() {
    let base = api().await;
    let (status, body) = get(&format!(
        "{base}/api/v1/query_range?query=autonomic_anomaly_score%7Binstance%3D%22a%3A1%22%7D&start={}&end={}&step=10s",
        T0 / 1000,
        T0 / 1000 + 50
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["resultType"], "matrix");
    let values = body["data"]["result"][0]["values"].as_array().expect("values");
    assert_eq!(values.len(), 6);
    assert_eq!(values[0], serde_json::json!([1_700_000_000, "0.02"]));

    let posted: Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/query"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("query=count%28autonomic_anomaly_score%29&time=2023-11-14T22%3A13%3A30Z")
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(posted["data"]["result"][0]["value"], serde_json::json!([1_700_000_010, "2"]));
}

#[tokio::test]
async fn bad_requests_say_what_was_wrong() {
    let base = api().await;
    let (status, body) = get(&format!("{base}/api/v1/query?query=rate(x%5B5m%5D")).await;
    assert_eq!(status, 400);
    assert_eq!(body["status"], "error");
    assert_eq!(body["errorType"], "bad_data");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("invalid parameter \"query\"")), "{body}");

    let (status, body) = get(&format!("{base}/api/v1/query")).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("missing parameter \"query\"")), "{body}");

    let (status, body) = get(&format!("{base}/api/v1/query_range?query=up&start=1&end=2&step=soon")).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("\"step\" = \"soon\"")), "{body}");

    // The API keeps serving after bad requests; without a time, "now" is the clock's.
    let (status, body) = get(&format!("{base}/api/v1/query?query=count(autonomic_anomaly_score)")).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["result"][0]["value"][1], "2", "{body}");
}

#[tokio::test]
async fn times_are_written_as_prometheus_writes_them() {
    let base = api().await;
    let (_, whole) = get(&format!("{base}/api/v1/query?query=vector(1)&time=1700000059")).await;
    assert_eq!(whole["data"]["result"][0]["value"][0].to_string(), "1700000059");
    let (_, part) = get(&format!("{base}/api/v1/query?query=vector(1)&time=1700000059.25")).await;
    assert_eq!(part["data"]["result"][0]["value"][0].to_string(), "1700000059.25");
}

#[tokio::test]
async fn the_metadata_api_lists_series_label_names_and_values() {
    let base = api().await;
    let (status, body) =
        get(&format!("{base}/api/v1/series?match[]=autonomic_anomaly_score%7Binstance%3D%22a%3A2%22%7D")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        serde_json::json!([{
            "__name__": "autonomic_anomaly_score", "instance": "a:2", "service": "payments", "watch": "LatencyAnomaly"
        }])
    );
    let (_, labels) = get(&format!("{base}/api/v1/labels")).await;
    assert_eq!(labels["data"], serde_json::json!(["__name__", "instance", "service", "watch"]));
    let (_, values) = get(&format!("{base}/api/v1/label/instance/values")).await;
    assert_eq!(values["data"], serde_json::json!(["a:1", "a:2"]));
    // A window before the first sample has no series.
    let (_, none) = get(&format!("{base}/api/v1/label/instance/values?start=1600000000&end=1600000100")).await;
    assert_eq!(none["data"], serde_json::json!([]));
    let (status, body) = get(&format!("{base}/api/v1/series")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("no match[] parameter provided")));
    let (status, body) = get(&format!("{base}/api/v1/series?match[]=rate(x%5B5m%5D)")).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("expected a series selector")), "{body}");
    let (status, _) = get(&format!("{base}/api/v1/label/bad-name/values")).await;
    assert_eq!(status, 400);
}
