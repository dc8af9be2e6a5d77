//! One scrape's fetch, under one deadline from its start: the request, the body read as a
//! stream with `body_size_limit` enforced while reading, and the parse (off the async
//! worker for large bodies, and cancelled when the deadline passes).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use model::{Labels, Millis, Sample};
use tokio::time::{Instant, timeout_at};

use super::{ScrapeLimits, error_chain};
use crate::exposition::{self, ExpositionError, Format, LimitExceeded, ParseError};

/// Bodies up to this size are parsed on the async worker (well under a millisecond); larger
/// ones on tokio's blocking pool, so that a big exposition never stalls scraping, probing or
/// rule evaluation on the same worker.
pub const INLINE_PARSE_MAX: usize = 64 * 1024;

/// The first allocation for a body whose length is not announced; it grows as data comes.
const INITIAL_BODY_CAPACITY: usize = 64 * 1024;

const ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// What the scrape was doing when its deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for the response's headers.
    Response,
    /// Reading the body.
    Body,
    /// Parsing the body.
    Parse,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Response => "waiting for the response",
            Stage::Body => "reading the body",
            Stage::Parse => "parsing the body",
        }
    }
}

/// Why a scrape failed; its text is the `error` of the report and of `target_down`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScrapeError {
    /// The scrape's deadline (`timeout` from its start) passed.
    #[error("timeout after {}ms while {}", .timeout.as_millis(), .stage.as_str())]
    Timeout {
        /// The scrape timeout.
        timeout: Duration,
        /// What was going on.
        stage: Stage,
    },
    /// The request could not be sent or answered.
    #[error("request failed: {0}")]
    Request(String),
    /// The target answered with a non-2xx status.
    #[error("server answered {0}")]
    Status(String),
    /// The body is larger than `body_size_limit` (announced or as read).
    #[error("body_size_limit exceeded: the body is larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The body could not be read to its end.
    #[error("reading body failed: {0}")]
    Body(String),
    /// The body is not a valid exposition.
    #[error("malformed exposition: {0}")]
    Malformed(ParseError),
    /// The exposition exceeds a limit.
    #[error(transparent)]
    Limit(LimitExceeded),
    /// A sample has more labels than `label_limit` once the target's own are added.
    #[error("label_limit exceeded: a sample of {metric:?} has more than {limit} labels with the target's labels")]
    LabelsWithTarget {
        /// The limit.
        limit: usize,
        /// The sample's metric name, shortened.
        metric: String,
    },
    /// The parse task ended without a result (it panicked or the runtime shut down).
    #[error("parsing stopped unexpectedly: {0}")]
    Parser(String),
}

impl ScrapeError {
    /// The failure's name in `autonomic_scrapes_total{result=…}`.
    pub fn reason(&self) -> &'static str {
        match self {
            ScrapeError::Timeout { .. } => "timeout",
            ScrapeError::Request(_) => "request_failed",
            ScrapeError::Status(_) => "http_status",
            ScrapeError::BodyTooLarge { .. } => "body_size_limit",
            ScrapeError::Body(_) => "body_read_failed",
            ScrapeError::Malformed(_) => "malformed",
            ScrapeError::Limit(LimitExceeded::Samples { .. }) => "sample_limit",
            ScrapeError::Limit(_) | ScrapeError::LabelsWithTarget { .. } => "label_limit",
            ScrapeError::Parser(_) => "parser_stopped",
        }
    }
}

/// What a fetch read and produced.
#[derive(Debug)]
pub(super) struct Fetched {
    /// Body bytes received from the target (at most one network chunk past the limit).
    pub(super) bytes: u64,
    /// The samples, with the target's labels, or why the scrape failed.
    pub(super) result: Result<Vec<(Labels, Sample)>, ScrapeError>,
}

/// Everything a fetch needs from its scraper.
pub(super) struct Request<'a> {
    pub(super) client: &'a reqwest::Client,
    pub(super) url: &'a str,
    pub(super) labels: &'a Labels,
    pub(super) limits: ScrapeLimits,
    pub(super) timeout: Duration,
    /// Timestamp for samples without one.
    pub(super) t: Millis,
}

impl Request<'_> {
    fn timed_out(&self, stage: Stage) -> ScrapeError {
        ScrapeError::Timeout { timeout: self.timeout, stage }
    }
}

/// Fetches, reads and parses one scrape; everything must finish `req.timeout` after `started`.
pub(super) async fn fetch(req: Request<'_>, started: Instant) -> Fetched {
    let deadline = started + req.timeout;
    let mut bytes = 0;
    let result = async {
        let sent = req.client.get(req.url).header(reqwest::header::ACCEPT, ACCEPT).send();
        let mut response = match timeout_at(deadline, sent).await {
            Err(_) => return Err(req.timed_out(Stage::Response)),
            Ok(Err(e)) => return Err(ScrapeError::Request(error_chain(&e))),
            Ok(Ok(r)) => r,
        };
        if !response.status().is_success() {
            return Err(ScrapeError::Status(response.status().to_string()));
        }
        let content_type = response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let format = Format::from_content_type(content_type);
        let body = read_body(&mut response, &req, deadline, &mut bytes).await?;
        // The connection goes back to the pool (or is closed) before the parse.
        drop(response);
        let job = Job { body, format, limits: req.limits, labels: req.labels.clone(), t: req.t };
        parse_within(job, deadline, req.timeout).await
    }
    .await;
    Fetched { bytes, result }
}

/// Reads the body chunk by chunk, never keeping more than `body_size_limit` bytes: a body
/// announced larger is refused before reading, one that grows larger is cut off at the
/// chunk that crosses the limit (dropping the response closes the connection).
async fn read_body(
    response: &mut reqwest::Response,
    req: &Request<'_>,
    deadline: Instant,
    bytes: &mut u64,
) -> Result<Vec<u8>, ScrapeError> {
    let limit = req.limits.body_size_limit;
    let announced = response.content_length();
    if announced.is_some_and(|len| len > limit) {
        return Err(ScrapeError::BodyTooLarge { limit });
    }
    let capacity = announced.unwrap_or(INITIAL_BODY_CAPACITY as u64).min(limit);
    let mut body = Vec::with_capacity(usize::try_from(capacity).unwrap_or(INITIAL_BODY_CAPACITY));
    loop {
        let chunk = match timeout_at(deadline, response.chunk()).await {
            Err(_) => return Err(req.timed_out(Stage::Body)),
            Ok(Err(e)) => return Err(ScrapeError::Body(error_chain(&e))),
            Ok(Ok(None)) => return Ok(body),
            Ok(Ok(Some(chunk))) => chunk,
        };
        *bytes += chunk.len() as u64;
        if *bytes > limit {
            return Err(ScrapeError::BodyTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
}

/// A body to parse, with what the samples need.
struct Job {
    body: Vec<u8>,
    format: Format,
    limits: ScrapeLimits,
    labels: Labels,
    t: Millis,
}

impl Job {
    /// Parses the body and attaches the target's labels; stops early when `cancel` is set.
    fn run(self, cancel: Option<&AtomicBool>) -> Result<Vec<(Labels, Sample)>, ScrapeError> {
        // Borrowed when valid UTF-8 (no copy); invalid bytes become U+FFFD, as reqwest's
        // `text()` did.
        let text = String::from_utf8_lossy(&self.body);
        let exposition =
            exposition::parse_limited(&text, self.format, self.limits.parse_limits(), cancel).map_err(|e| match e {
                ExpositionError::Malformed(e) => ScrapeError::Malformed(e),
                ExpositionError::Limit(e) => ScrapeError::Limit(e),
                ExpositionError::Cancelled => ScrapeError::Timeout { timeout: Duration::ZERO, stage: Stage::Parse },
            })?;
        let mut samples = Vec::with_capacity(exposition.samples.len());
        for s in exposition.samples {
            let labels = with_target_labels(&self.labels, s.labels);
            if labels.len() > self.limits.label_limit {
                let metric: String = labels.metric_name().unwrap_or_default().chars().take(50).collect();
                return Err(ScrapeError::LabelsWithTarget { limit: self.limits.label_limit, metric });
            }
            samples.push((labels, Sample { t: s.timestamp.unwrap_or(self.t), v: s.value }));
        }
        Ok(samples)
    }
}

/// Runs `job` so that it finishes by `deadline` or fails as a timeout: a large body on the
/// blocking pool, told to stop when the deadline passes; a result that arrives after the
/// deadline counts as a timeout too.
async fn parse_within(job: Job, deadline: Instant, timeout: Duration) -> Result<Vec<(Labels, Sample)>, ScrapeError> {
    let timed_out = || ScrapeError::Timeout { timeout, stage: Stage::Parse };
    let result = if job.body.len() <= INLINE_PARSE_MAX {
        job.run(None)
    } else {
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let task = tokio::task::spawn_blocking(move || job.run(Some(&flag)));
        match timeout_at(deadline, task).await {
            Err(_) => {
                // The parse stops at its next line instead of running on unobserved.
                cancel.store(true, Ordering::Relaxed);
                return Err(timed_out());
            }
            Ok(Err(e)) => return Err(ScrapeError::Parser(e.to_string())),
            Ok(Ok(result)) => result,
        }
    };
    if Instant::now() >= deadline {
        return Err(timed_out());
    }
    result.map_err(|e| match e {
        ScrapeError::Timeout { .. } => timed_out(),
        other => other,
    })
}

/// Target labels win; a clashing exposed label is kept as `exported_<name>`, as
/// Prometheus does with `honor_labels: false`.
fn with_target_labels(target: &Labels, mut labels: Labels) -> Labels {
    for (k, v) in target.iter() {
        if let Some(exposed) = labels.get(k).map(str::to_owned)
            && exposed != v
        {
            labels.set(format!("exported_{k}"), exposed);
        }
        labels.set(k, v);
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(body: &str) -> Job {
        Job {
            body: body.as_bytes().to_vec(),
            format: Format::PrometheusText,
            limits: ScrapeLimits::default(),
            labels: Labels::from_pairs([("job", "svc"), ("instance", "a:1")]),
            t: 7,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_parse_that_ends_after_the_deadline_is_a_timeout() {
        let timeout = Duration::from_secs(1);
        let got = parse_within(job("m 1\n"), Instant::now() + timeout, timeout).await.expect("in time");
        assert_eq!(got[0].0.get("job"), Some("svc"));
        assert_eq!(got[0].1, Sample { t: 7, v: 1.0 });
        // The deadline has passed by the time the parse is done (the fetch used it all).
        let deadline = Instant::now();
        tokio::time::advance(Duration::from_millis(1)).await;
        let got = parse_within(job("m 1\n"), deadline, timeout).await;
        assert_eq!(got, Err(ScrapeError::Timeout { timeout, stage: Stage::Parse }));
        assert!(got.expect_err("late").to_string().starts_with("timeout after 1000ms while parsing"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_large_body_is_parsed_off_the_worker_and_cancelled_at_the_deadline() {
        let big: String = (0..20_000).map(|i| format!("m{{i=\"{i}\"}} 1\n")).collect();
        assert!(big.len() > INLINE_PARSE_MAX);
        let timeout = Duration::from_secs(1);
        let got = parse_within(job(&big), Instant::now() + timeout, timeout).await.expect("in time");
        assert_eq!(got.len(), 20_000);
        let got = parse_within(job(&big), Instant::now(), timeout).await;
        assert_eq!(got, Err(ScrapeError::Timeout { timeout, stage: Stage::Parse }));
    }

    #[test]
    fn a_cancelled_parse_stops_and_says_so() {
        let got = job("m 1\n").run(Some(&AtomicBool::new(true)));
        assert!(matches!(got, Err(ScrapeError::Timeout { stage: Stage::Parse, .. })), "{got:?}");
    }

    #[test]
    fn the_target_labels_count_towards_label_limit() {
        let mut j = job("m{a=\"1\"} 1\n");
        j.limits.label_limit = 3;
        // Exposed: __name__ and a (2); with job and instance: 4.
        let got = j.run(None);
        assert_eq!(got, Err(ScrapeError::LabelsWithTarget { limit: 3, metric: "m".into() }));
    }
}
