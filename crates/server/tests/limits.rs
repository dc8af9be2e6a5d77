//! The API's limits on a real socket: numbers out of range, expressions too deep, queries
//! that run too long, too many queries at once, answers too large, clients that leave,
//! connections that never send their headers or stay idle, and too many connections. Each
//! is answered (or closed) with a reason, and the API keeps serving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use model::{Health, Labels, Millis, Sample, SeriesData, SeriesReader, SeriesSelector, SeriesWriter, TokioClock};
use monitor::SeriesStore;
use serde_json::Value;
use server::{ApiLimits, ApiState};

const T0: i64 = 1_700_000_000_000;

/// A store of `series` series `m{i="…"}` with a sample every 10 s for an hour.
fn store(series: usize) -> Arc<SeriesStore> {
    let store = Arc::new(SeriesStore::new(Duration::from_secs(7200), series + 10));
    for i in 0..series {
        let labels = Labels::from_pairs([("__name__", "m".to_owned()), ("i", i.to_string())]);
        for k in 0..360 {
            store.write(&labels, Sample { t: T0 + k * 10_000, v: k as f64 });
        }
    }
    store
}

/// Test double of a series store whose reads take `delay` (a slow disk, a huge store): the
/// only way to hold a query thread for a known time without a real store that slow.
struct SlowReaderDouble {
    inner: Arc<SeriesStore>,
    delay: Duration,
    reads: AtomicUsize,
}

impl SeriesReader for SlowReaderDouble {
    fn read(&self, selector: &dyn SeriesSelector, start: Millis, end: Millis) -> Vec<SeriesData> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        self.inner.read(selector, start, end)
    }
}

async fn serve(reader: Arc<dyn SeriesReader + Send + Sync>, limits: ApiLimits, health: Health) -> String {
    let state =
        ApiState::new(reader, Arc::new(TokioClock::anchored_at(T0 + 3_600_000)), promql::Engine::new(), health, limits)
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

fn error_of(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn numbers_out_of_range_are_refused_with_the_parameter_named() {
    let base = serve(store(1), ApiLimits::default(), Health::new()).await;
    for (query, param) in [
        ("query_range?query=m&start=1&end=2&step=1e300", "step"),
        ("query_range?query=m&start=1&end=2&step=0.0001", "step"),
        ("query_range?query=m&start=1e300&end=2&step=1", "start"),
        ("query_range?query=m&start=1&end=-1e20&step=1", "end"),
        ("query?query=m&time=1e19", "time"),
        ("query?query=m&time=NaN", "time"),
        ("query?query=m&timeout=1e300", "timeout"),
        ("query?query=m&timeout=-5", "timeout"),
    ] {
        let (status, body) = get(&format!("{base}/api/v1/{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["errorType"], "bad_data", "{query}");
        assert!(error_of(&body).contains(&format!("{param:?}")), "{query}: {body}");
    }
    let (status, body) = get(&format!("{base}/api/v1/query?query=count(m)")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_expression_too_deep_to_evaluate_is_refused_before_parsing() {
    let base = serve(store(1), ApiLimits::default(), Health::new()).await;
    // 2,500 terms, 12 KB: once enough to overflow a thread's stack and abort the process.
    let chain = vec!["m"; 2_500].join("%2B");
    let (status, body) = get(&format!("{base}/api/v1/query?query={chain}")).await;
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).contains("the limit is 128"), "{body}");
    assert!(error_of(&body).len() < 600, "the error echoes the whole query: {} bytes", error_of(&body).len());
    // The deepest accepted nesting evaluates (the query threads' stacks hold it).
    let deep = format!("{}m{}", "abs(".repeat(120), ")".repeat(120));
    let (status, body) = get(&format!("{base}/api/v1/query?query={deep}")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_query_past_its_time_limit_is_answered_503_and_stops() {
    let reader =
        Arc::new(SlowReaderDouble { inner: store(1), delay: Duration::from_millis(1500), reads: AtomicUsize::new(0) });
    let limits = ApiLimits { query_timeout: Duration::from_millis(200), ..ApiLimits::default() };
    let base = serve(reader.clone(), limits, Health::new()).await;
    let started = Instant::now();
    // Two selectors, two reads: the interrupt stops it between them.
    let (status, body) = get(&format!("{base}/api/v1/query?query=m%20%2B%20on(i)%20(m%20offset%201m)")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["errorType"], "timeout");
    assert!(started.elapsed() < Duration::from_millis(1400), "answered after {:?}", started.elapsed());
    // The request's own, shorter timeout wins.
    let (status, body) = get(&format!("{base}/api/v1/query?query=m&timeout=50ms")).await;
    assert_eq!(status, 503, "{body}");
    assert!(error_of(&body).contains("50ms"), "{body}");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(reader.reads.load(Ordering::SeqCst), 2, "the timed-out query went on reading after its interrupt");
}

#[tokio::test]
async fn too_many_queries_at_once_are_refused_not_queued_without_end() {
    let reader =
        Arc::new(SlowReaderDouble { inner: store(1), delay: Duration::from_millis(800), reads: AtomicUsize::new(0) });
    let limits = ApiLimits { max_concurrent_queries: 1, max_queued_queries: 0, ..ApiLimits::default() };
    let base = serve(reader.clone(), limits, Health::new()).await;
    let first = tokio::spawn({
        let url = format!("{base}/api/v1/query?query=m");
        async move { get(&url).await }
    });
    // The one query thread is busy once the first query reads. A first query that ends
    // (or never starts reading) is a failure, not a wait without end.
    let deadline = Instant::now() + Duration::from_secs(20);
    while reader.reads.load(Ordering::SeqCst) == 0 {
        if first.is_finished() {
            panic!("the first query ended before it read: {:?}", first.await);
        }
        assert!(Instant::now() < deadline, "the first query did not start reading within 20 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, body) = get(&format!("{base}/api/v1/query?query=m")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["errorType"], "unavailable");
    assert!(error_of(&body).contains("too many queries"), "{body}");
    assert_eq!(first.await.expect("first").0, 200);
}

#[tokio::test]
async fn an_answer_over_the_response_limit_is_refused_with_what_to_do() {
    let limits = ApiLimits { max_response_bytes: 4096, ..ApiLimits::default() };
    let base = serve(store(200), limits, Health::new()).await;
    let (status, body) = get(&format!("{base}/api/v1/query?query=m")).await;
    assert_eq!(status, 422, "{body}");
    assert!(error_of(&body).contains("larger than 4096 bytes"), "{body}");
    let (status, _) = get(&format!("{base}/api/v1/query?query=count(m)")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_query_over_the_sample_budget_is_refused() {
    let limits = ApiLimits { max_samples: 10_000, ..ApiLimits::default() };
    let base = serve(store(100), limits, Health::new()).await;
    // 100 series × 361 steps of output.
    let (status, body) =
        get(&format!("{base}/api/v1/query_range?query=m*2&start={}&end={}&step=10", T0 / 1000, T0 / 1000 + 3600)).await;
    assert_eq!(status, 422, "{body}");
    assert!(error_of(&body).contains("too many samples"), "{body}");
}

#[tokio::test]
async fn a_query_whose_client_left_stops_and_frees_its_thread() {
    let reader =
        Arc::new(SlowReaderDouble { inner: store(1), delay: Duration::from_millis(700), reads: AtomicUsize::new(0) });
    let limits = ApiLimits { max_concurrent_queries: 1, max_queued_queries: 0, ..ApiLimits::default() };
    let base = serve(reader.clone(), limits, Health::new()).await;
    let addr = base.trim_start_matches("http://").to_owned();
    // Three reads' worth of query, then the client hangs up during the first.
    let query = "m%20%2B%20on(i)%20(m%20offset%201m)%20%2B%20on(i)%20(m%20offset%202m)";
    let mut conn = TcpStream::connect(&addr).expect("connect");
    write!(conn, "GET /api/v1/query?query={query} HTTP/1.1\r\nHost: x\r\n\r\n").expect("send");
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(conn);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(reader.reads.load(Ordering::SeqCst) < 3, "the query read on after its client left");
    let (status, body) = get(&format!("{base}/api/v1/query?query=count(m)")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn health_endpoints_say_what_is_wrong() {
    let health = Health::new();
    let base = serve(store(1), ApiLimits::default(), health.clone()).await;
    for path in ["healthy", "ready"] {
        assert_eq!(reqwest::get(format!("{base}/-/{path}")).await.expect("get").status().as_u16(), 200);
    }
    health.set_problem("journal", "database or disk is full");
    for path in ["healthy", "ready"] {
        let r = reqwest::get(format!("{base}/-/{path}")).await.expect("get");
        assert_eq!(r.status().as_u16(), 503);
        let text = r.text().await.expect("text");
        assert!(text.contains("journal: database or disk is full"), "{text}");
    }
    health.clear("journal");
    assert_eq!(reqwest::get(format!("{base}/-/healthy")).await.expect("get").status().as_u16(), 200);
}

/// Reads until the server closes the connection; `true` if it did within `limit`.
fn closed_within(conn: &mut TcpStream, limit: Duration) -> bool {
    conn.set_read_timeout(Some(limit)).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_connections_are_closed_and_connections_are_bounded() {
    let limits = ApiLimits {
        read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(600),
        query_timeout: Duration::from_millis(500),
        max_connections: 2,
        ..ApiLimits::default()
    };
    let base = serve(store(1), limits, Health::new()).await;
    let addr = base.trim_start_matches("http://").to_owned();
    let (slow_headers_closed, idle_closed, waited_for_a_slot) = tokio::task::spawn_blocking(move || {
        // Half a request line, never finished: closed after read_timeout.
        let mut slow = TcpStream::connect(&addr).expect("connect");
        slow.write_all(b"GET /api/v1/query?query=m HTTP/1.1\r\nHost").expect("send");
        let slow_closed = closed_within(&mut slow, Duration::from_secs(3));
        // Connected, silent: closed after idle_timeout.
        let mut idle = TcpStream::connect(&addr).expect("connect");
        let idle_closed = closed_within(&mut idle, Duration::from_secs(3));
        // Two silent connections take both slots; a third request waits until the server
        // closes one of them (after read_timeout: they never send a request).
        let started = Instant::now();
        let _a = TcpStream::connect(&addr).expect("connect");
        let _b = TcpStream::connect(&addr).expect("connect");
        std::thread::sleep(Duration::from_millis(100));
        let mut third = TcpStream::connect(&addr).expect("connect");
        third.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("send");
        third.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let mut answer = String::new();
        let _ = third.read_to_string(&mut answer);
        (slow_closed, idle_closed, (started.elapsed(), answer))
    })
    .await
    .expect("client");
    assert!(slow_headers_closed, "a connection that never finished its headers stayed open");
    assert!(idle_closed, "an idle connection stayed open");
    let (waited, answer) = waited_for_a_slot;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(waited >= Duration::from_millis(250), "a third connection was served at once ({waited:?})");
}

#[tokio::test]
async fn a_posted_form_is_read_within_the_request_limit() {
    let limits = ApiLimits { max_request_bytes: 2048, ..ApiLimits::default() };
    let base = serve(store(1), limits, Health::new()).await;
    let client = reqwest::Client::new();
    let big = format!("query=count(m)&pad={}", "x".repeat(4096));
    let r = client
        .post(format!("{base}/api/v1/query"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 413);
    let ok = client
        .post(format!("{base}/api/v1/query"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("query=count(m)")
        .send()
        .await
        .expect("post");
    assert_eq!(ok.status().as_u16(), 200);
}
