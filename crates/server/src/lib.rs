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
use serde_json::json;

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

async fn query_get(State(s): State<ApiState>, Query(p): Query<Params>) -> Result<Json<Success>, ApiError> {
    instant(&s, &p)
}

async fn query_post(State(s): State<ApiState>, Form(p): Form<Params>) -> Result<Json<Success>, ApiError> {
    instant(&s, &p)
}

async fn range_get(State(s): State<ApiState>, Query(p): Query<Params>) -> Result<Json<Success>, ApiError> {
    range(&s, &p)
}

async fn range_post(State(s): State<ApiState>, Form(p): Form<Params>) -> Result<Json<Success>, ApiError> {
    range(&s, &p)
}

fn parsed_query(p: &Params) -> Result<promql::Expr, ApiError> {
    let text = p.get("query").ok_or_else(|| ApiError::bad_data("missing parameter \"query\""))?;
    promql::parse(text).map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\" = {text:?}: {e}")))
}

fn instant(s: &ApiState, p: &Params) -> Result<Json<Success>, ApiError> {
    let expr = parsed_query(p)?;
    let t = match p.get("time") {
        Some(text) => timestamp("time", text)?,
        None => s.clock.now(),
    };
    let value = s.engine.instant(s.reader.as_ref(), &expr, t).map_err(|e| ApiError::execution(e.to_string()))?;
    Ok(Json(Success { value, t }))
}

fn range(s: &ApiState, p: &Params) -> Result<Json<Success>, ApiError> {
    let expr = parsed_query(p)?;
    let required = |name: &str| p.get(name).ok_or_else(|| ApiError::bad_data(format!("missing parameter {name:?}")));
    let start = timestamp("start", required("start")?)?;
    let end = timestamp("end", required("end")?)?;
    let step = step("step", required("step")?)?;
    let value =
        s.engine.range(s.reader.as_ref(), &expr, start, end, step).map_err(|e| ApiError::bad_data(e.to_string()))?;
    Ok(Json(Success { value, t: end }))
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

/// A successful response, serialised straight from the query's result: a range query over
/// a thousand series returns over a million points, and building a JSON tree of them first
/// cost as long as evaluating the query.
pub struct Success {
    value: Value,
    t: Millis,
}

impl serde::Serialize for Success {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let kind = match &self.value {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        };
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("status", "success")?;
        m.serialize_entry("data", &Data { kind, value: &self.value, t: self.t })?;
        m.end()
    }
}

struct Data<'a> {
    kind: &'static str,
    value: &'a Value,
    t: Millis,
}

impl serde::Serialize for Data<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("resultType", self.kind)?;
        match self.value {
            Value::Scalar(v) => m.serialize_entry("result", &Point(self.t, *v))?,
            Value::String(text) => m.serialize_entry("result", &(seconds(self.t), text))?,
            Value::Vector(samples) => m.serialize_entry("result", &VectorOut { samples, t: self.t })?,
            Value::Matrix(series) => m.serialize_entry("result", &MatrixOut(series))?,
        }
        m.end()
    }
}

fn seconds(t: Millis) -> f64 {
    t as f64 / 1000.0
}

/// `[seconds, "value"]`, the value written as Prometheus writes it.
struct Point(Millis, f64);

impl serde::Serialize for Point {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut tup = s.serialize_tuple(2)?;
        tup.serialize_element(&seconds(self.0))?;
        tup.serialize_element(&FloatText(self.1))?;
        tup.end()
    }
}

struct FloatText(f64);

impl serde::Serialize for FloatText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&promql::PromFloat(self.0))
    }
}

struct Metric<'a>(&'a model::Labels);

impl serde::Serialize for Metric<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter())
    }
}

struct VectorOut<'a> {
    samples: &'a [promql::VectorSample],
    t: Millis,
}

impl serde::Serialize for VectorOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.samples.iter().map(|sample| VectorEntry { sample, t: self.t }))
    }
}

struct VectorEntry<'a> {
    sample: &'a promql::VectorSample,
    t: Millis,
}

impl serde::Serialize for VectorEntry<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("metric", &Metric(&self.sample.labels))?;
        m.serialize_entry("value", &Point(self.t, self.sample.v))?;
        m.end()
    }
}

struct MatrixOut<'a>(&'a [model::SeriesData]);

impl serde::Serialize for MatrixOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(MatrixEntry))
    }
}

struct MatrixEntry<'a>(&'a model::SeriesData);

impl serde::Serialize for MatrixEntry<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("metric", &Metric(&self.0.labels))?;
        m.serialize_entry("values", &Points(&self.0.samples))?;
        m.end()
    }
}

struct Points<'a>(&'a [model::Sample]);

impl serde::Serialize for Points<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|p| Point(p.t, p.v)))
    }
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
