//! What one caller may ask of the HTTP API. Every limit has a default that keeps a
//! two-core controller's loop on time under hostile load; the configuration's `api:`
//! section overrides them (checked there, with the bounds below).

use std::time::Duration;

/// The API's limits.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiLimits {
    /// Longest a query may run, queueing included (`api.query_timeout`; Prometheus'
    /// `--query.timeout`). A request's own `timeout` parameter may only shorten it.
    pub query_timeout: Duration,
    /// Queries evaluated at once, each on its own thread of the query pool
    /// (`api.max_concurrent_queries`; Prometheus' `--query.max-concurrency`).
    pub max_concurrent_queries: usize,
    /// Queries waiting for a thread; beyond this a query is refused with 503
    /// (`api.max_queued_queries`).
    pub max_queued_queries: usize,
    /// Samples one query may load or hold, the points of its result included
    /// (`api.max_samples`; Prometheus' `--query.max-samples`).
    pub max_samples: usize,
    /// Largest response body, in bytes (`api.max_response_size`).
    pub max_response_bytes: usize,
    /// Largest request body (a POSTed form), in bytes (`api.max_request_size`).
    pub max_request_bytes: usize,
    /// Open connections; further ones wait in the kernel's backlog until one closes
    /// (`api.max_connections`; Prometheus' `--web.max-connections`).
    pub max_connections: usize,
    /// Time a client has to send a request's headers, and then its body
    /// (`api.read_timeout`).
    pub read_timeout: Duration,
    /// A connection with no traffic for this long is closed once its request, if any, is
    /// answered (`api.idle_timeout`).
    pub idle_timeout: Duration,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            query_timeout: Duration::from_secs(30),
            max_concurrent_queries: 2,
            max_queued_queries: 16,
            max_samples: 5_000_000,
            max_response_bytes: 64 * 1024 * 1024,
            max_request_bytes: 1024 * 1024,
            max_connections: 256,
            read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}
