//! Prometheus' metadata API: `/api/v1/series`, `/api/v1/labels` and
//! `/api/v1/label/<name>/values`, what Grafana's query editor asks to offer metric and
//! label names. Each `match[]` is a series selector; `start` and `end` bound the series to
//! those with a sample between them (all that is held by default).

use std::collections::BTreeSet;

use model::{Labels, Millis};
use promql::{Expr, LabelMatchers};
use serde::Serialize;

use crate::{ApiError, EARLIEST_MS, LATEST_MS, Params, timestamp};

/// What a metadata request asks.
pub(crate) enum Question {
    /// `/api/v1/series`.
    Series,
    /// `/api/v1/labels`.
    LabelNames,
    /// `/api/v1/label/<name>/values`.
    LabelValues(String),
}

/// A checked metadata request.
pub(crate) struct MetadataRequest {
    question: Question,
    selectors: Vec<LabelMatchers>,
    start: Millis,
    end: Millis,
}

/// Checks the parameters (the `match[]` selectors' size, nesting and syntax included)
/// before the request takes a place in the query pool. `matchers` are the `match[]`
/// values, in order.
pub(crate) fn check(question: Question, p: &Params, matchers: &[String]) -> Result<MetadataRequest, ApiError> {
    if let Question::LabelValues(name) = &question
        && !model::valid_label_name(name)
    {
        return Err(ApiError::bad_data(format!("invalid label name: {:?}", model::excerpt(name))));
    }
    if matches!(question, Question::Series) && matchers.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let mut selectors = Vec::with_capacity(matchers.len());
    for text in matchers {
        let bad =
            |e: String| ApiError::bad_data(format!("invalid parameter \"match[]\" = {:?}: {e}", model::excerpt(text)));
        promql::limits::check(text).map_err(|e| bad(e.to_string()))?;
        match promql::parse(text).map_err(|e| bad(e.to_string()))? {
            Expr::VectorSelector(vs) => selectors.push(LabelMatchers::from_selector(&vs)),
            _ => return Err(bad("expected a series selector such as up{job=\"api\"}".into())),
        }
    }
    let start = p.get("start").map(|t| timestamp("start", t)).transpose()?.unwrap_or(EARLIEST_MS);
    let end = p.get("end").map(|t| timestamp("end", t)).transpose()?.unwrap_or(LATEST_MS);
    if end < start {
        return Err(ApiError::bad_data("invalid parameter \"end\": end timestamp must not be before start time"));
    }
    Ok(MetadataRequest { question, selectors, start, end })
}

#[derive(Serialize)]
struct Answer<T: Serialize> {
    status: &'static str,
    data: T,
}

/// Answers on a query thread: the series, their label names or one label's values.
pub(crate) fn evaluate(reader: &dyn model::SeriesReader, request: &MetadataRequest) -> Result<Vec<u8>, ApiError> {
    // Read the window half-open on the left, as the store does: include `start` itself.
    let (start, end) = (request.start.saturating_sub(1), request.end);
    let mut series: BTreeSet<Labels> = BTreeSet::new();
    if request.selectors.is_empty() {
        series.extend(reader.series(&model::AllSeries, start, end));
    }
    for selector in &request.selectors {
        series.extend(reader.series(selector, start, end));
    }
    let encoded = match &request.question {
        Question::Series => {
            let data: Vec<std::collections::BTreeMap<&str, &str>> = series.iter().map(|l| l.iter().collect()).collect();
            serde_json::to_vec(&Answer { status: "success", data })
        }
        Question::LabelNames => {
            let data: BTreeSet<&str> = series.iter().flat_map(|l| l.iter().map(|(n, _)| n)).collect();
            serde_json::to_vec(&Answer { status: "success", data })
        }
        Question::LabelValues(name) => {
            let data: BTreeSet<&str> = series.iter().filter_map(|l| l.get(name)).collect();
            serde_json::to_vec(&Answer { status: "success", data })
        }
    };
    encoded.map_err(|e| ApiError::internal(format!("cannot write the response: {e}")))
}
