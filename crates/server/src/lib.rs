//! The HTTP API: Prometheus' query API (`/api/v1/query`, `/api/v1/query_range`) over the
//! controller's live series store, so that anything that speaks to Prometheus — Grafana, a
//! Kubernetes HPA through prometheus-adapter, KEDA's Prometheus scaler — can read what
//! Autonomic sees, the learned baselines' `autonomic_anomaly_score` included.
//!
//! Responses have Prometheus' JSON shape (`{"status":"success","data":{"resultType":…}}`);
//! every error becomes `{"status":"error","errorType":…,"error":…}` in one place
//! ([`ApiError`]), with the parameter and value that were wrong.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use analyze::promql::{self, Engine, Value};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use model::{Clock, Millis, SeriesReader};
use serde_json::{Value as Json_, json};

/// What the API reads.
#[derive(Clone)]
pub struct ApiState {
    /// The series store.
    pub reader: Arc<dyn SeriesReader + Send + Sync>,
    /// "Now", for queries without a time.
    pub clock: Arc<dyn Clock>,
    /// The PromQL engine.
    pub engine: Engine,
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
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "status": "error", "errorType": self.kind, "error": self.message });
        (self.status, Json(body)).into_response()
    }
}

type Params = HashMap<String, String>;

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/query", get(query_get).post(query_post))
        .route("/api/v1/query_range", get(range_get).post(range_post))
        .route("/-/healthy", get(|| async { "Autonomic is Healthy.\n" }))
        .with_state(state)
}

/// Serves the API on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, state: ApiState) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

async fn query_get(State(s): State<ApiState>, Query(p): Query<Params>) -> Result<Json<Json_>, ApiError> {
    instant(&s, &p)
}

async fn query_post(State(s): State<ApiState>, Form(p): Form<Params>) -> Result<Json<Json_>, ApiError> {
    instant(&s, &p)
}

async fn range_get(State(s): State<ApiState>, Query(p): Query<Params>) -> Result<Json<Json_>, ApiError> {
    range(&s, &p)
}

async fn range_post(State(s): State<ApiState>, Form(p): Form<Params>) -> Result<Json<Json_>, ApiError> {
    range(&s, &p)
}

fn parsed_query(p: &Params) -> Result<promql::Expr, ApiError> {
    let text = p.get("query").ok_or_else(|| ApiError::bad_data("missing parameter \"query\""))?;
    promql::parse(text).map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\" = {text:?}: {e}")))
}

fn instant(s: &ApiState, p: &Params) -> Result<Json<Json_>, ApiError> {
    let expr = parsed_query(p)?;
    let t = match p.get("time") {
        Some(text) => timestamp("time", text)?,
        None => s.clock.now(),
    };
    let value = s.engine.instant(s.reader.as_ref(), &expr, t).map_err(|e| ApiError::execution(e.to_string()))?;
    Ok(Json(success(&value, t)))
}

fn range(s: &ApiState, p: &Params) -> Result<Json<Json_>, ApiError> {
    let expr = parsed_query(p)?;
    let required = |name: &str| p.get(name).ok_or_else(|| ApiError::bad_data(format!("missing parameter {name:?}")));
    let start = timestamp("start", required("start")?)?;
    let end = timestamp("end", required("end")?)?;
    let step = step("step", required("step")?)?;
    let value =
        s.engine.range(s.reader.as_ref(), &expr, start, end, step).map_err(|e| ApiError::bad_data(e.to_string()))?;
    Ok(Json(success(&value, end)))
}

/// A time parameter: Unix seconds (fractions allowed) or RFC 3339, as Prometheus takes it.
fn timestamp(name: &str, text: &str) -> Result<Millis, ApiError> {
    if let Ok(secs) = text.parse::<f64>()
        && secs.is_finite()
    {
        return Ok((secs * 1000.0).round() as Millis);
    }
    text.parse::<jiff::Timestamp>().map(|t| t.as_millisecond()).map_err(|_| {
        ApiError::bad_data(format!("invalid parameter {name:?} = {text:?}: expected Unix seconds or an RFC 3339 time"))
    })
}

/// A step: seconds (fractions allowed) or a Prometheus duration (`15s`, `1m`).
fn step(name: &str, text: &str) -> Result<Duration, ApiError> {
    let parsed = match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => Ok(Duration::from_secs_f64(secs)),
        Ok(_) => Err("must be positive".to_owned()),
        Err(_) => model::parse_duration(text),
    };
    parsed.map_err(|e| ApiError::bad_data(format!("invalid parameter {name:?} = {text:?}: {e}")))
}

fn point(t: Millis, v: f64) -> Json_ {
    json!([t as f64 / 1000.0, promql::format_float(v)])
}

fn metric(labels: &model::Labels) -> Json_ {
    Json_::Object(labels.iter().map(|(k, v)| (k.to_owned(), Json_::String(v.to_owned()))).collect())
}

fn success(value: &Value, t: Millis) -> Json_ {
    let (kind, result) = match value {
        Value::Scalar(v) => ("scalar", point(t, *v)),
        Value::String(s) => ("string", json!([t as f64 / 1000.0, s])),
        Value::Vector(samples) => (
            "vector",
            Json_::Array(
                samples.iter().map(|s| json!({ "metric": metric(&s.labels), "value": point(t, s.v) })).collect(),
            ),
        ),
        Value::Matrix(series) => (
            "matrix",
            Json_::Array(
                series
                    .iter()
                    .map(|s| {
                        let values: Vec<Json_> = s.samples.iter().map(|p| point(p.t, p.v)).collect();
                        json!({ "metric": metric(&s.labels), "values": values })
                    })
                    .collect(),
            ),
        ),
    };
    json!({ "status": "success", "data": { "resultType": kind, "result": result } })
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
