//! The HTTP API: one listener for everything Autonomic serves.
//!
//! - Prometheus' query API (`/api/v1/query`, `/api/v1/query_range`) and metadata API
//!   (`/api/v1/series`, `/api/v1/labels`, `/api/v1/label/<name>/values`) over the
//!   controller's live series store, so that anything that speaks to Prometheus — Grafana,
//!   a Kubernetes HPA through prometheus-adapter, KEDA's Prometheus scaler — can read what
//!   Autonomic sees, the learned baselines' `autonomic_anomaly_score` included;
//! - `/metrics`: Autonomic's own metrics;
//! - the routes that sources mount ([`model::Route`]): remote write, the Alertmanager
//!   webhook;
//! - `/-/healthy` and `/-/ready`, open to all (load balancers and probes carry no token).
//!
//! Every other route needs a token of the right role when tokens are configured
//! ([`auth`]). Responses have Prometheus' JSON shape; every error becomes
//! `{"status":"error","errorType":…,"error":…}` in one place ([`ApiError`]), with the
//! parameter and value that were wrong.
//!
//! Nothing a caller sends can hold up the control loop: queries run on their own
//! [`pool::QueryPool`] (not the loop's runtime), each within a time limit and a sample
//! budget, stopped when its client goes away, with a bounded response; request bodies are
//! bounded by each route's limit; connections are bounded in number, header-read time and
//! idle time ([`http`]). Every limit is in [`ApiLimits`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use model::{Clock, Health, HttpRequest, HttpResponse, Millis, Role, Route, SelfMetrics, SeriesReader};
use promql::Engine;
use serde_json::json;

pub mod auth;
pub mod http;
mod limits;
mod metadata;
pub mod pool;
mod response;
mod tls;

pub use auth::{Access, Token, check_listen};
pub use limits::ApiLimits;
pub use pool::{PoolError, QueryPool};
pub use response::Success;
pub use tls::{TlsConfig, TlsError};

/// Stack of each query thread: room for the deepest expression the parser accepts.
const QUERY_STACK_BYTES: usize = 2 * promql::limits::EVAL_STACK_BYTES;

/// What the API reads, who may use it, and how much of it one caller may use.
#[derive(Clone)]
pub struct ApiState {
    /// The series store.
    pub reader: Arc<dyn SeriesReader + Send + Sync>,
    /// "Now", for queries without a time.
    pub clock: Arc<dyn Clock>,
    /// The PromQL engine (each query gets a copy with its own budget and interrupt flag).
    pub engine: Engine,
    /// The controller's own problems, for `/-/healthy` and `/-/ready`.
    pub health: Health,
    limits: Arc<ApiLimits>,
    pool: QueryPool,
    access: Arc<Access>,
    routes: Arc<Vec<Route>>,
    metrics: SelfMetrics,
    tls: Option<TlsConfig>,
}

impl ApiState {
    /// An API over `reader` within `limits`, open to all (see [`Self::with_access`]);
    /// starts the query threads.
    pub fn new(
        reader: Arc<dyn SeriesReader + Send + Sync>,
        clock: Arc<dyn Clock>,
        engine: Engine,
        health: Health,
        limits: ApiLimits,
    ) -> std::io::Result<Self> {
        let pool = QueryPool::start(limits.max_concurrent_queries, limits.max_queued_queries, QUERY_STACK_BYTES)?;
        Ok(Self {
            reader,
            clock,
            engine,
            health,
            limits: Arc::new(limits),
            pool,
            access: Arc::default(),
            routes: Arc::default(),
            metrics: SelfMetrics::new(),
            tls: None,
        })
    }

    /// Requires these tokens.
    pub fn with_access(mut self, access: Access) -> Self {
        self.access = Arc::new(access);
        self
    }

    /// Also serves the routes that sources mount.
    pub fn with_routes(mut self, routes: Vec<Route>) -> Self {
        self.routes = Arc::new(routes);
        self
    }

    /// Serves over TLS with this certificate.
    pub fn with_tls(mut self, tls: Option<TlsConfig>) -> Self {
        self.tls = tls;
        self
    }

    /// Counts into `metrics` and serves them at `/metrics`.
    pub fn with_metrics(mut self, metrics: SelfMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The limits it applies.
    pub fn limits(&self) -> &ApiLimits {
        &self.limits
    }
}

/// An API error: an HTTP status, Prometheus' `errorType`, and what was wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn bad_data(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, kind: "bad_data", message: message.into() }
    }

    fn execution(message: impl Into<String>) -> Self {
        Self { status: StatusCode::UNPROCESSABLE_ENTITY, kind: "execution", message: message.into() }
    }

    fn timeout(message: impl Into<String>) -> Self {
        Self { status: StatusCode::SERVICE_UNAVAILABLE, kind: "timeout", message: message.into() }
    }

    fn unavailable(message: impl Into<String>) -> Self {
        Self { status: StatusCode::SERVICE_UNAVAILABLE, kind: "unavailable", message: message.into() }
    }

    fn internal(message: impl Into<String>) -> Self {
        Self { status: StatusCode::INTERNAL_SERVER_ERROR, kind: "internal", message: message.into() }
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        Self { status: StatusCode::UNAUTHORIZED, kind: "unauthorized", message: message.into() }
    }

    fn forbidden(message: impl Into<String>) -> Self {
        Self { status: StatusCode::FORBIDDEN, kind: "forbidden", message: message.into() }
    }

    fn too_large(message: impl Into<String>) -> Self {
        Self { status: StatusCode::PAYLOAD_TOO_LARGE, kind: "bad_data", message: message.into() }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "status": "error", "errorType": self.kind, "error": self.message });
        (self.status, Json(body)).into_response()
    }
}

type Params = HashMap<String, String>;

/// What a guarded route needs, and the name it is counted under.
#[derive(Clone)]
struct Guard {
    state: ApiState,
    route: &'static str,
    role: Role,
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    let guarded = |route: &'static str, role: Role, methods: MethodRouter<ApiState>| {
        let guard = Guard { state: state.clone(), route, role };
        methods.route_layer(axum::middleware::from_fn_with_state(guard, authorize))
    };
    let mut router = Router::new()
        .route("/api/v1/query", guarded("/api/v1/query", Role::Read, get(query_get).post(query_post)))
        .route("/api/v1/query_range", guarded("/api/v1/query_range", Role::Read, get(range_get).post(range_post)))
        .route("/api/v1/series", guarded("/api/v1/series", Role::Read, get(series_get).post(series_post)))
        .route("/api/v1/labels", guarded("/api/v1/labels", Role::Read, get(labels_get).post(labels_post)))
        .route("/api/v1/label/{name}/values", guarded("/api/v1/label/<name>/values", Role::Read, get(label_values)))
        .route("/metrics", guarded("/metrics", Role::Read, get(metrics)))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready));
    for route in state.routes.iter() {
        let pushed = route.clone();
        let handler = move |State(s): State<ApiState>, request: Request| {
            let route = pushed.clone();
            async move { serve_pushed(&s, &route, request).await }
        };
        router = router.route(route.path, guarded(route.path, route.role, post(handler)));
    }
    router.with_state(state)
}

/// Serves the API on `listener` until the task is dropped, within the state's limits.
pub async fn serve(listener: tokio::net::TcpListener, state: ApiState) -> std::io::Result<()> {
    let (limits, tls) = (state.limits.clone(), state.tls.clone());
    http::serve_bounded(listener, router(state), &limits, tls).await
}

/// Lets a request through when its token's role allows the route (401 or 403 otherwise),
/// and counts the answer by route and status.
async fn authorize(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let authorization = request.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
    let response = match guard.state.access.authorize(authorization, guard.role) {
        Ok(_) => next.run(request).await,
        Err(auth::Denied::Unauthenticated(why)) => {
            let mut r = ApiError::unauthorized(why).into_response();
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"autonomic\""));
            r
        }
        Err(auth::Denied::Forbidden { token, role, needed }) => ApiError::forbidden(format!(
            "the token {token:?} has role {}, and {} needs role {}",
            role.as_str(),
            guard.route,
            needed.as_str()
        ))
        .into_response(),
    };
    guard.state.metrics.http_request(guard.route, response.status().as_u16());
    response
}

/// A source's route: the body read within the route's limit and the read timeout, then
/// handed to the source's handler.
async fn serve_pushed(s: &ApiState, route: &Route, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_body(s, body, route.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let headers =
        parts.headers.iter().filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned()))).collect();
    let answer: HttpResponse = (route.handler)(HttpRequest { headers, body: body.to_vec() }).await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, answer.content_type)], answer.body).into_response()
}

/// Autonomic's own metrics.
async fn metrics(State(s): State<ApiState>) -> Response {
    ([(header::CONTENT_TYPE, model::telemetry::CONTENT_TYPE)], s.metrics.encode()).into_response()
}

/// 200 while nothing is wrong with the controller itself; 503 with the problems otherwise
/// (a journal that cannot be written, a pager that cannot deliver, a task that keeps
/// panicking).
async fn healthy(State(s): State<ApiState>) -> Response {
    health_answer(&s.health, "Autonomic is Healthy.\n")
}

/// Whether the controller can do its job, and if not, why.
async fn ready(State(s): State<ApiState>) -> Response {
    health_answer(&s.health, "Autonomic is Ready.\n")
}

fn health_answer(health: &Health, ok: &'static str) -> Response {
    let problems = health.problems();
    if problems.is_empty() {
        return ok.into_response();
    }
    let mut text = String::from("Autonomic is not healthy:\n");
    for (component, why) in problems {
        text.push_str(&format!("- {component}: {why}\n"));
    }
    (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
}

async fn query_get(
    State(s): State<ApiState>,
    params: Result<axum::extract::Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match params {
        Ok(axum::extract::Query(p)) => answer(s, p, Kind::Instant).await,
        Err(e) => {
            ApiError::bad_data(format!("invalid query string: {}", model::excerpt(&e.body_text()))).into_response()
        }
    }
}

async fn query_post(State(s): State<ApiState>, RawQuery(q): RawQuery, body: axum::body::Body) -> Response {
    match form(&s, q, body).await {
        Ok(p) => answer(s, p.into_iter().collect(), Kind::Instant).await,
        Err(e) => e.into_response(),
    }
}

async fn range_get(
    State(s): State<ApiState>,
    params: Result<axum::extract::Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match params {
        Ok(axum::extract::Query(p)) => answer(s, p, Kind::Range).await,
        Err(e) => {
            ApiError::bad_data(format!("invalid query string: {}", model::excerpt(&e.body_text()))).into_response()
        }
    }
}

async fn range_post(State(s): State<ApiState>, RawQuery(q): RawQuery, body: axum::body::Body) -> Response {
    match form(&s, q, body).await {
        Ok(p) => answer(s, p.into_iter().collect(), Kind::Range).await,
        Err(e) => e.into_response(),
    }
}

fn query_pairs(query: Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect()
}

async fn series_get(State(s): State<ApiState>, RawQuery(q): RawQuery) -> Response {
    answer_metadata(s, metadata::Question::Series, query_pairs(q)).await
}

async fn series_post(State(s): State<ApiState>, RawQuery(q): RawQuery, body: axum::body::Body) -> Response {
    match form(&s, q, body).await {
        Ok(p) => answer_metadata(s, metadata::Question::Series, p).await,
        Err(e) => e.into_response(),
    }
}

async fn labels_get(State(s): State<ApiState>, RawQuery(q): RawQuery) -> Response {
    answer_metadata(s, metadata::Question::LabelNames, query_pairs(q)).await
}

async fn labels_post(State(s): State<ApiState>, RawQuery(q): RawQuery, body: axum::body::Body) -> Response {
    match form(&s, q, body).await {
        Ok(p) => answer_metadata(s, metadata::Question::LabelNames, p).await,
        Err(e) => e.into_response(),
    }
}

async fn label_values(State(s): State<ApiState>, Path(name): Path<String>, RawQuery(q): RawQuery) -> Response {
    answer_metadata(s, metadata::Question::LabelValues(name), query_pairs(q)).await
}

/// Checks a metadata request and answers it on the query pool, within the time limit.
async fn answer_metadata(s: ApiState, question: metadata::Question, pairs: Vec<(String, String)>) -> Response {
    let matchers: Vec<String> = pairs.iter().filter(|(k, _)| k == "match[]").map(|(_, v)| v.clone()).collect();
    let params: Params = pairs.into_iter().collect();
    let request =
        match query_timeout(&s.limits, &params).and_then(|t| Ok((t, metadata::check(question, &params, &matchers)?))) {
            Ok(r) => r,
            Err(e) => return e.into_response(),
        };
    let (timeout, request) = request;
    let limit = s.limits.max_response_bytes;
    let job = {
        let s = s.clone();
        move || metadata::evaluate(s.reader.as_ref(), &request)
    };
    match tokio::time::timeout(timeout, s.pool.run(job)).await {
        Err(_) => {
            ApiError::timeout(format!("query timed out after {}", model::format_duration(timeout))).into_response()
        }
        Ok(Err(e @ PoolError::Panicked(_))) => ApiError::internal(e.to_string()).into_response(),
        Ok(Err(e)) => ApiError::unavailable(e.to_string()).into_response(),
        Ok(Ok(Err(e))) => e.into_response(),
        Ok(Ok(Ok(json))) if json.len() > limit => ApiError::execution(format!(
            "the response would be larger than {limit} bytes (api.max_response_size): narrow match[], start or end"
        ))
        .into_response(),
        Ok(Ok(Ok(json))) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
    }
}

/// A request body, read within `limit` bytes and the read timeout (a client that sends its
/// body a byte at a time does not hold a connection and a task forever).
async fn read_body(s: &ApiState, body: axum::body::Body, limit: usize) -> Result<Bytes, ApiError> {
    match tokio::time::timeout(s.limits.read_timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(ApiError::bad_data(format!(
            "the request body was not received within {} (api.read_timeout)",
            model::format_duration(s.limits.read_timeout)
        ))),
        Ok(Err(_)) => Err(ApiError::too_large(format!("the request body is larger than {limit} bytes"))),
        Ok(Ok(b)) => Ok(b),
    }
}

/// A POSTed form, within the request size limit (`api.max_request_size`), after the URL's
/// own query parameters (Prometheus reads both; the body's win).
async fn form(s: &ApiState, query: Option<String>, body: axum::body::Body) -> Result<Vec<(String, String)>, ApiError> {
    let bytes = read_body(s, body, s.limits.max_request_bytes).await?;
    let mut pairs = query_pairs(query);
    pairs.extend(form_urlencoded::parse(&bytes).into_owned());
    Ok(pairs)
}

#[derive(Clone, Copy)]
enum Kind {
    Instant,
    Range,
}

/// Sets the query's interrupt flag when dropped: when the answer is in, when the time
/// limit passes, and when the client goes away (the server drops the request's future).
struct InterruptOnDrop(Arc<AtomicBool>);

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A request whose parameters have been checked: what is left is the query's own work.
struct Checked {
    query: String,
    kind: CheckedKind,
}

enum CheckedKind {
    Instant { t: Millis },
    Range { start: Millis, end: Millis, step: Duration },
}

/// Checks every parameter, the expression's size and nesting included, before the query
/// takes a place in the pool: a malformed request is refused at once, even when every query
/// thread is busy.
fn check(p: &Params, kind: Kind, now: Millis) -> Result<Checked, ApiError> {
    let query = p.get("query").ok_or_else(|| ApiError::bad_data("missing parameter \"query\""))?;
    if query.trim().is_empty() {
        return Err(ApiError::bad_data("invalid parameter \"query\": empty query"));
    }
    promql::limits::check(query)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\" = {:?}: {e}", model::excerpt(query))))?;
    let required = |name: &str| p.get(name).ok_or_else(|| ApiError::bad_data(format!("missing parameter {name:?}")));
    let kind = match kind {
        Kind::Instant => CheckedKind::Instant {
            t: match p.get("time") {
                Some(text) => timestamp("time", text)?,
                None => now,
            },
        },
        Kind::Range => CheckedKind::Range {
            start: timestamp("start", required("start")?)?,
            end: timestamp("end", required("end")?)?,
            step: step("step", required("step")?)?,
        },
    };
    Ok(Checked { query: query.clone(), kind })
}

/// Checks the parameters, runs the query on the pool within its time limit, and answers.
async fn answer(s: ApiState, p: Params, kind: Kind) -> Response {
    let checked = match query_timeout(&s.limits, &p).and_then(|t| Ok((t, check(&p, kind, s.clock.now())?))) {
        Ok(checked) => checked,
        Err(e) => return e.into_response(),
    };
    let (timeout, request) = checked;
    let interrupt = Arc::new(AtomicBool::new(false));
    let _stop = InterruptOnDrop(interrupt.clone());
    let job = {
        let (s, interrupt) = (s.clone(), interrupt.clone());
        move || evaluate(&s, &request, interrupt)
    };
    let started = std::time::Instant::now();
    let response = match tokio::time::timeout(timeout, s.pool.run(job)).await {
        Err(_) => ApiError::timeout(format!(
            "query timed out after {} (limit: api.query_timeout or the request's timeout parameter)",
            model::format_duration(timeout)
        ))
        .into_response(),
        Ok(Err(e @ PoolError::Busy { .. })) | Ok(Err(e @ PoolError::Closed)) => {
            ApiError::unavailable(e.to_string()).into_response()
        }
        Ok(Err(e @ PoolError::Panicked(_))) => {
            tracing::error!(error = %e, "a query panicked; the query thread caught it");
            ApiError::internal(e.to_string()).into_response()
        }
        Ok(Ok(Err(e))) => e.into_response(),
        Ok(Ok(Ok(json))) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
    };
    let kind = match kind {
        Kind::Instant => "instant",
        Kind::Range => "range",
    };
    s.metrics.query(kind, started.elapsed());
    response
}

/// The time limit: the configured one, or the request's shorter `timeout` parameter.
fn query_timeout(limits: &ApiLimits, p: &Params) -> Result<Duration, ApiError> {
    match p.get("timeout") {
        None => Ok(limits.query_timeout),
        Some(text) => step("timeout", text).map(|t| t.min(limits.query_timeout)),
    }
}

/// Parses, evaluates and serialises on a query thread.
fn evaluate(s: &ApiState, request: &Checked, interrupt: Arc<AtomicBool>) -> Result<Vec<u8>, ApiError> {
    let expr = promql::parse(&request.query).map_err(|e| {
        ApiError::bad_data(format!("invalid parameter \"query\" = {:?}: {e}", model::excerpt(&request.query)))
    })?;
    let engine = s.engine.clone().with_max_samples(s.limits.max_samples).with_interrupt(interrupt);
    let success = match request.kind {
        CheckedKind::Instant { t } => {
            let value = engine.instant(s.reader.as_ref(), &expr, t).map_err(eval_error)?;
            Success { value, t }
        }
        CheckedKind::Range { start, end, step } => {
            let value = engine.range(s.reader.as_ref(), &expr, start, end, step).map_err(eval_error)?;
            Success { value, t: end }
        }
    };
    let limit = s.limits.max_response_bytes;
    let mut out = response::CappedBuffer::new(limit);
    match serde_json::to_writer(&mut out, &success) {
        Ok(()) => Ok(out.bytes),
        Err(_) if out.overflowed => Err(ApiError::execution(format!(
            "the response would be larger than {limit} bytes (api.max_response_size): select fewer series, a shorter range or a longer step"
        ))),
        Err(e) => Err(ApiError::internal(format!("cannot write the response: {e}"))),
    }
}

fn eval_error(e: promql::EvalError) -> ApiError {
    match e {
        promql::EvalError::Interrupted => ApiError::timeout(e.to_string()),
        promql::EvalError::InvalidRange(_) => ApiError::bad_data(e.to_string()),
        _ => ApiError::execution(e.to_string()),
    }
}

/// Earliest and latest times accepted: the years RFC 3339 can write (0001 to 9999), so a
/// time is the same whichever way it is written, and every later sum stays in range.
pub(crate) const EARLIEST_MS: Millis = -62_135_596_800_000;
pub(crate) const LATEST_MS: Millis = 253_402_300_799_000;

/// A time parameter: Unix seconds (fractions allowed) or RFC 3339, as Prometheus takes it.
pub(crate) fn timestamp(name: &str, text: &str) -> Result<Millis, ApiError> {
    let out_of_range = || {
        ApiError::bad_data(format!(
            "invalid parameter {name:?} = {:?}: out of range (years 0001 to 9999)",
            model::excerpt(text)
        ))
    };
    if let Ok(secs) = text.parse::<f64>() {
        if !secs.is_finite() {
            return Err(out_of_range());
        }
        let ms = (secs * 1000.0).round();
        if ms < EARLIEST_MS as f64 || ms > LATEST_MS as f64 {
            return Err(out_of_range());
        }
        return Ok(ms as Millis);
    }
    let t = text.parse::<jiff::Timestamp>().map(|t| t.as_millisecond()).map_err(|_| {
        ApiError::bad_data(format!(
            "invalid parameter {name:?} = {:?}: expected Unix seconds or an RFC 3339 time",
            model::excerpt(text)
        ))
    })?;
    if (EARLIEST_MS..=LATEST_MS).contains(&t) { Ok(t) } else { Err(out_of_range()) }
}

/// A step (or timeout): seconds (fractions allowed) or a Prometheus duration (`15s`, `1m`),
/// from 1 ms up to the span of representable times.
fn step(name: &str, text: &str) -> Result<Duration, ApiError> {
    const LONGEST: Duration = Duration::from_millis((LATEST_MS - EARLIEST_MS) as u64);
    let parsed = match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => {
            Duration::try_from_secs_f64(secs).map_err(|_| "out of range".to_owned())
        }
        Ok(_) => Err("must be positive".to_owned()),
        Err(_) => model::parse_duration(text),
    };
    let checked = parsed.and_then(|d| {
        if d < Duration::from_millis(1) {
            Err("must be at least 1ms".to_owned())
        } else if d > LONGEST {
            Err("out of range (at most the span of years 0001 to 9999)".to_owned())
        } else {
            Ok(d)
        }
    });
    checked.map_err(|e| ApiError::bad_data(format!("invalid parameter {name:?} = {:?}: {e}", model::excerpt(text))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_times_are_written_and_read_as_prometheus_does() {
        assert_eq!(promql::format_float(1.0), "1");
        assert_eq!(promql::format_float(0.25), "0.25");
        assert_eq!(promql::format_float(f64::INFINITY), "+Inf");
        assert_eq!(promql::format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(promql::format_float(f64::NAN), "NaN");
        assert_eq!(timestamp("time", "1700000000.5"), Ok(1_700_000_000_500));
        assert_eq!(timestamp("time", "2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert!(timestamp("time", "yesterday").is_err_and(|e| e.message.contains("\"time\" = \"yesterday\"")));
        assert_eq!(step("step", "15s"), Ok(Duration::from_secs(15)));
        assert_eq!(step("step", "0.5"), Ok(Duration::from_millis(500)));
        assert!(step("step", "-1").is_err());
    }
}
