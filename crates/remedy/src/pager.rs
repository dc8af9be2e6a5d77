//! The pager: a page is a JSON POST to a webhook (Alertmanager receivers and PagerDuty/Slack
//! bridges accept it), retried with exponential backoff until the receiver takes it (a 2xx
//! answer) or a deadline passes, each attempt bounded by a timeout. A page is reported
//! delivered only when it was.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use model::{Action, Outcome, format_duration};

use crate::notify::{self, PageFormat};
use tokio::time::Instant;

/// How long a page is retried when `escalation.retry_for` does not say.
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(600);

/// How a page is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRetry {
    /// No attempt starts later than this after the first one (`escalation.retry_for`); zero
    /// makes one attempt only.
    pub retry_for: Duration,
    /// The longest one attempt may take.
    pub attempt_timeout: Duration,
    /// The wait after the first failed attempt; each later wait doubles it…
    pub first_backoff: Duration,
    /// …up to this.
    pub max_backoff: Duration,
}

impl Default for PageRetry {
    fn default() -> Self {
        Self {
            retry_for: DEFAULT_RETRY_FOR,
            attempt_timeout: Duration::from_secs(10),
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// One delivery attempt: POSTs `body` to `url` and answers the receiver's HTTP status, or
/// why no answer came. The seam that lets tests script a receiver under paused time.
pub trait PageTransport: Send + Sync {
    /// Sends one attempt.
    fn post<'a>(&'a self, url: &'a str, body: &'a serde_json::Value) -> BoxFuture<'a, Result<u16, String>>;
}

/// The real transport: HTTP with reqwest (the attempt timeout is the pager's).
struct Http(reqwest::Client);

/// An error with its causes ("error sending request …: connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

impl PageTransport for Http {
    fn post<'a>(&'a self, url: &'a str, body: &'a serde_json::Value) -> BoxFuture<'a, Result<u16, String>> {
        Box::pin(async move {
            match self.0.post(url).json(body).send().await {
                Ok(r) => Ok(r.status().as_u16()),
                Err(e) => Err(format!("request failed: {}", chain(&e))),
            }
        })
    }
}

/// `200 OK`, `503 Service Unavailable`.
fn status(code: u16) -> String {
    reqwest::StatusCode::from_u16(code).map(|s| s.to_string()).unwrap_or_else(|_| code.to_string())
}

/// Whether a receiver's answer will not change by asking again: a 4xx other than 408
/// (timeout) and 429 (too many requests) says the page itself is refused.
fn permanent(code: u16) -> bool {
    (400..500).contains(&code) && code != 408 && code != 429
}

/// Sends pages.
#[derive(Clone)]
pub struct Pager {
    transport: Arc<dyn PageTransport>,
    retry: PageRetry,
    /// PagerDuty's integration key, read from a file; never logged.
    routing_key: Option<Arc<str>>,
}

impl std::fmt::Debug for Pager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pager").field("retry", &self.retry).finish_non_exhaustive()
    }
}

impl Default for Pager {
    fn default() -> Self {
        Self::new()
    }
}

impl Pager {
    /// A pager over HTTP that retries as [`PageRetry::default`] says.
    pub fn new() -> Self {
        Self { transport: Arc::new(Http(reqwest::Client::new())), retry: PageRetry::default(), routing_key: None }
    }

    /// The same pager, sending `key` as the routing key of PagerDuty pages.
    pub fn with_routing_key(self, key: Option<String>) -> Self {
        Self { routing_key: key.map(Arc::from), ..self }
    }

    /// The same pager, retrying as `retry` says.
    pub fn with_retry(self, retry: PageRetry) -> Self {
        Self { retry, ..self }
    }

    /// The same pager, delivering through `transport` (for tests).
    pub fn with_transport(self, transport: Arc<dyn PageTransport>) -> Self {
        Self { transport, ..self }
    }

    /// How it retries.
    pub fn retry(&self) -> PageRetry {
        self.retry
    }

    /// Pages about `action` at `url`: `succeeded` once the receiver took it, `failed` (saying
    /// it was NOT delivered, and why) when it refused it for good or the deadline passed.
    /// The payload's shape is the action's `format` parameter ([`PageFormat`]; the generic
    /// webhook by default).
    pub async fn page(&self, url: &str, action: &Action) -> Outcome {
        let format = action.param(notify::FORMAT).and_then(PageFormat::parse).unwrap_or_default();
        if format == PageFormat::PagerDuty && self.routing_key.is_none() {
            return Outcome::failed(format!(
                "page to {url} was NOT delivered: a PagerDuty page needs a routing key (escalation.routing_key_file)"
            ));
        }
        let body = notify::body(format, action, self.routing_key.as_deref());
        let start = Instant::now();
        let deadline = start + self.retry.retry_for;
        let mut backoff = self.retry.first_backoff;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let (why, give_up) =
                match tokio::time::timeout(self.retry.attempt_timeout, self.transport.post(url, &body)).await {
                    Ok(Ok(code)) if (200..300).contains(&code) => {
                        let after = match attempt {
                            1 => String::new(),
                            n => format!(" on attempt {n}, after {}", format_duration(start.elapsed())),
                        };
                        return Outcome::succeeded(format!("paged {url} ({}){after}", status(code)));
                    }
                    Ok(Ok(code)) => (format!("answered {}", status(code)), permanent(code)),
                    Ok(Err(e)) => (e, false),
                    Err(_) => (format!("timed out after {}", format_duration(self.retry.attempt_timeout)), false),
                };
            let now = Instant::now();
            if give_up || now >= deadline {
                tracing::error!(url, attempts = attempt, error = %why, "page NOT delivered; giving up");
                return Outcome::failed(format!(
                    "page to {url} was NOT delivered ({attempt} attempt{} in {}): {why}",
                    if attempt == 1 { "" } else { "s" },
                    format_duration(now - start)
                ));
            }
            // The last wait is cut short so that one last attempt is made at the deadline.
            let wait = backoff.min(deadline - now);
            tracing::warn!(url, attempt, error = %why, retry_in = %format_duration(wait), "page not delivered; retrying");
            tokio::time::sleep(wait).await;
            backoff = backoff.saturating_mul(2).min(self.retry.max_backoff);
        }
    }
}

/// The verb of a page: every service has it, through the pager rather than its actuator.
pub const PAGE: &str = "page";

/// The action of paging `url` about `service` because of `reason` (the incident's summary),
/// as a generic webhook.
pub fn page_action(service: &str, url: &str, reason: &str) -> Action {
    page_action_as(service, url, reason, PageFormat::Webhook)
}

/// The action of paging `url` about `service` because of `reason`, in `format`.
pub fn page_action_as(service: &str, url: &str, reason: &str, format: PageFormat) -> Action {
    let params = model::Params::from([
        ("url".to_owned(), url.to_owned()),
        (notify::FORMAT.to_owned(), format.as_str().to_owned()),
    ]);
    Action::new(service, PAGE, model::Target::All, params, reason, "page {url} about {service}")
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use model::OutcomeStatus;

    use super::*;

    /// A receiver that answers from a script (then repeats its last answer), `None` meaning
    /// it never answers; it notes when each attempt came.
    struct Scripted {
        answers: Mutex<Vec<Option<Result<u16, String>>>>,
        start: Instant,
        attempts: Mutex<Vec<Duration>>,
    }

    impl Scripted {
        fn new(mut answers: Vec<Option<Result<u16, String>>>) -> Arc<Self> {
            answers.reverse();
            Arc::new(Self { answers: Mutex::new(answers), start: Instant::now(), attempts: Mutex::new(Vec::new()) })
        }

        fn attempts(&self) -> Vec<u64> {
            self.attempts.lock().expect("lock").iter().map(|d| d.as_secs()).collect()
        }
    }

    impl PageTransport for Scripted {
        fn post<'a>(&'a self, _: &'a str, _: &'a serde_json::Value) -> BoxFuture<'a, Result<u16, String>> {
            self.attempts.lock().expect("lock").push(self.start.elapsed());
            let answer = {
                let mut answers = self.answers.lock().expect("lock");
                if answers.len() > 1 { answers.pop() } else { answers.last().cloned() }
            };
            Box::pin(async move {
                match answer.flatten() {
                    Some(a) => a,
                    None => std::future::pending().await,
                }
            })
        }
    }

    fn pager(receiver: &Arc<Scripted>, retry_for: Duration) -> Pager {
        Pager::new().with_transport(receiver.clone()).with_retry(PageRetry { retry_for, ..PageRetry::default() })
    }

    fn action() -> Action {
        page_action("checkout", "http://pager/page", "r")
    }

    #[tokio::test(start_paused = true)]
    async fn retries_with_doubling_waits_until_delivered() {
        let receiver = Scripted::new(vec![
            Some(Err("request failed: connection refused".into())),
            Some(Ok(503)),
            Some(Ok(429)),
            Some(Ok(202)),
        ]);
        let outcome = pager(&receiver, DEFAULT_RETRY_FOR).page("http://pager/page", &action()).await;
        assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{outcome:?}");
        assert_eq!(outcome.detail, "paged http://pager/page (202 Accepted) on attempt 4, after 7s");
        assert_eq!(receiver.attempts(), vec![0, 1, 3, 7]);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_deadline_with_waits_capped_and_says_it_was_not_delivered() {
        let receiver = Scripted::new(vec![Some(Ok(500))]);
        let started = Instant::now();
        let outcome = pager(&receiver, Duration::from_secs(120)).page("http://pager/page", &action()).await;
        assert_eq!(outcome.status, OutcomeStatus::Failed);
        // Waits 1, 2, 4, 8, 16, 32, then 60 (the cap) cut to 57 so the last attempt is at
        // the deadline.
        assert_eq!(receiver.attempts(), vec![0, 1, 3, 7, 15, 31, 63, 120]);
        assert_eq!(started.elapsed(), Duration::from_secs(120));
        assert_eq!(
            outcome.detail,
            "page to http://pager/page was NOT delivered (8 attempts in 2m): answered 500 Internal Server Error"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_receiver_that_never_answers_costs_one_timeout_per_attempt() {
        let receiver = Scripted::new(vec![None]);
        let outcome = pager(&receiver, Duration::from_secs(30)).page("http://pager/page", &action()).await;
        assert_eq!(outcome.status, OutcomeStatus::Failed);
        assert_eq!(receiver.attempts(), vec![0, 11, 23], "10 s timeout, then 1 s, 2 s waits");
        assert!(
            outcome.detail.contains("NOT delivered (3 attempts in 33s): timed out after 10s"),
            "{}",
            outcome.detail
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_page_is_not_retried() {
        let receiver = Scripted::new(vec![Some(Ok(404))]);
        let outcome = pager(&receiver, DEFAULT_RETRY_FOR).page("http://pager/page", &action()).await;
        assert_eq!(outcome.status, OutcomeStatus::Failed);
        assert_eq!(receiver.attempts(), vec![0]);
        assert!(outcome.detail.contains("answered 404 Not Found"), "{}", outcome.detail);
    }

    #[tokio::test(start_paused = true)]
    async fn zero_retry_for_is_one_attempt() {
        let receiver = Scripted::new(vec![Some(Err("request failed: connection refused".into()))]);
        let outcome = pager(&receiver, Duration::ZERO).page("http://pager/page", &action()).await;
        assert_eq!(outcome.status, OutcomeStatus::Failed);
        assert_eq!(receiver.attempts(), vec![0]);
        assert!(
            outcome.detail.ends_with("(1 attempt in 0s): request failed: connection refused"),
            "{}",
            outcome.detail
        );
    }
}
