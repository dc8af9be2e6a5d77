//! The `api:` section: where the API listens, who may use it, and what one caller may ask
//! of it.
//!
//! ```yaml
//! api:
//!   listen: 127.0.0.1:9464       # or `autonomic run --listen`
//!   tokens:                      # each read from its file; none: loopback only, no tokens
//!     - { name: grafana,    role: read,  file: /etc/autonomic/grafana.token }
//!     - { name: prometheus, role: write, file: /etc/autonomic/prometheus.token }
//!     - { name: oncall,     role: admin, file: /etc/autonomic/oncall.token }
//!   tls: { cert_file: /etc/autonomic/tls.crt, key_file: /etc/autonomic/tls.key }   # PEM
//!   query_timeout: 30s
//!   max_concurrent_queries: 2
//!   max_queued_queries: 16
//!   max_samples: 5000000
//!   max_response_size: 64MiB
//!   max_request_size: 1MiB
//!   max_connections: 256
//!   read_timeout: 10s
//!   idle_timeout: 60s
//! ```

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use model::{Diagnostics, Role};
use serde::Deserialize;
use server::{Access, ApiLimits, TlsConfig, Token};
use yamlspan::Spanned;

use super::bounds::{count, dur};
use super::limits::parse_size;

/// `api.query_timeout`: 100ms to 10m.
pub const QUERY_TIMEOUT: RangeInclusive<Duration> = Duration::from_millis(100)..=Duration::from_secs(600);
/// `api.max_concurrent_queries`: 1 to 64 query threads.
pub const MAX_CONCURRENT_QUERIES: RangeInclusive<usize> = 1..=64;
/// `api.max_queued_queries`: 0 to 10,000.
pub const MAX_QUEUED_QUERIES: RangeInclusive<usize> = 0..=10_000;
/// `api.max_samples`: 1,000 to 1,000,000,000.
pub const MAX_SAMPLES: RangeInclusive<usize> = 1_000..=1_000_000_000;
/// `api.max_response_size`: 1 KiB to 1 GiB.
pub const MAX_RESPONSE_SIZE: RangeInclusive<u64> = 1024..=1 << 30;
/// `api.max_request_size`: 1 KiB to 64 MiB.
pub const MAX_REQUEST_SIZE: RangeInclusive<u64> = 1024..=64 << 20;
/// `api.max_connections`: 1 to 16,384.
pub const MAX_CONNECTIONS: RangeInclusive<usize> = 1..=16_384;
/// `api.read_timeout`: 100ms to 5m.
pub const READ_TIMEOUT: RangeInclusive<Duration> = Duration::from_millis(100)..=Duration::from_secs(300);
/// `api.idle_timeout`: 1s to 1h, and at least `query_timeout` (a connection waiting for
/// its query's answer is quiet, not idle).
pub const IDLE_TIMEOUT: RangeInclusive<Duration> = Duration::from_secs(1)..=Duration::from_secs(3600);

/// The API settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApiSettings {
    /// Where to serve the API, if anywhere (`--listen` overrides it).
    pub listen: Option<SocketAddr>,
    /// What one caller may ask.
    pub limits: ApiLimits,
    /// Who may use it (`api.tokens`).
    pub access: Access,
    /// Its certificate, when it serves TLS (`api.tls`).
    pub tls: Option<TlsConfig>,
}

/// The most bytes a certificate or key file may hold.
const MAX_PEM_BYTES: u64 = 1 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    cert_file: Spanned<String>,
    key_file: Spanned<String>,
}

/// Reads and checks the certificate and key (relative to `base`).
fn compile_tls(raw: &RawTls, base: &Path, diags: &mut Diagnostics) -> Option<TlsConfig> {
    let read = |file: &Spanned<String>, field: &str, diags: &mut Diagnostics| {
        let path = base.join(&file.value);
        yamlspan::read_bounded(&path, MAX_PEM_BYTES)
            .map_err(|e| diags.push(file.diagnostic(field, format!("cannot read {}: {e}", path.display()))))
            .ok()
    };
    let cert = read(&raw.cert_file, "api.tls.cert_file", diags);
    let key = read(&raw.key_file, "api.tls.key_file", diags);
    let (cert, key) = (cert?, key?);
    match TlsConfig::from_pem(&cert, &key) {
        Ok(tls) => Some(tls),
        Err(e @ server::TlsError::Key(_)) => {
            diags.push(raw.key_file.diagnostic("api.tls.key_file", e.to_string()));
            None
        }
        Err(e) => {
            diags.push(raw.cert_file.diagnostic("api.tls.cert_file", e.to_string()));
            None
        }
    }
}

/// `api.tokens`: at most this many.
pub const MAX_TOKENS: usize = 1_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawToken {
    name: Spanned<String>,
    role: Spanned<String>,
    file: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApi {
    #[serde(default)]
    listen: Option<Spanned<String>>,
    #[serde(default)]
    tokens: Option<Spanned<Vec<RawToken>>>,
    #[serde(default)]
    tls: Option<RawTls>,
    #[serde(default)]
    query_timeout: Option<Spanned<String>>,
    #[serde(default)]
    max_concurrent_queries: Option<Spanned<usize>>,
    #[serde(default)]
    max_queued_queries: Option<Spanned<usize>>,
    #[serde(default)]
    max_samples: Option<Spanned<usize>>,
    #[serde(default)]
    max_response_size: Option<Spanned<String>>,
    #[serde(default)]
    max_request_size: Option<Spanned<String>>,
    #[serde(default)]
    max_connections: Option<Spanned<usize>>,
    #[serde(default)]
    read_timeout: Option<Spanned<String>>,
    #[serde(default)]
    idle_timeout: Option<Spanned<String>>,
}

/// The tokens, each read from its file (relative to `base`).
fn compile_tokens(raw: &Spanned<Vec<RawToken>>, base: &Path, diags: &mut Diagnostics) -> Vec<Token> {
    if raw.value.len() > MAX_TOKENS {
        diags.push(raw.diagnostic("api.tokens", format!("at most {MAX_TOKENS} tokens")));
        return Vec::new();
    }
    let mut names = BTreeSet::new();
    let mut tokens: Vec<Token> = Vec::new();
    let mut read: Vec<(String, model::Secret)> = Vec::new();
    for (i, t) in raw.value.iter().enumerate() {
        let at = format!("api.tokens[{i}]");
        if t.name.value.trim().is_empty() {
            diags.push(t.name.diagnostic(format!("{at}.name"), "must not be empty"));
        } else if !names.insert(t.name.value.clone()) {
            diags.push(t.name.diagnostic(format!("{at}.name"), "another token has this name"));
        }
        let role = Role::parse(&t.role.value);
        if role.is_none() {
            diags.push(t.role.diagnostic(format!("{at}.role"), "expected read, write or admin"));
        }
        let secret = super::escalation::read_secret(&t.file, &format!("{at}.file"), "token", base, diags);
        if let Some(secret) = &secret {
            if let Some((other, _)) = read.iter().find(|(_, s)| s == secret) {
                diags.push(t.file.diagnostic(
                    format!("{at}.file"),
                    format!("holds the same token as {other:?}: each token must be its own"),
                ));
                continue;
            }
            read.push((t.name.value.clone(), secret.clone()));
        }
        if let (Some(role), Some(secret)) = (role, secret) {
            tokens.push(Token { name: t.name.value.clone(), role, secret });
        }
    }
    tokens
}

/// Checks the section; defaults for what it leaves out. Token files are read relative to
/// `base`.
pub(super) fn compile_api(raw: Option<&RawApi>, base: &Path, diags: &mut Diagnostics) -> ApiSettings {
    let d = ApiLimits::default();
    let Some(raw) = raw else { return ApiSettings::default() };
    let listen = raw.listen.as_ref().and_then(|l| match l.value.parse::<SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            diags.push(l.diagnostic("api.listen", "expected an address and port such as 127.0.0.1:9464 or [::1]:9464"));
            None
        }
    });
    let query_timeout = dur(&raw.query_timeout, "api.query_timeout", d.query_timeout, &QUERY_TIMEOUT, diags);
    let idle_timeout = dur(&raw.idle_timeout, "api.idle_timeout", d.idle_timeout, &IDLE_TIMEOUT, diags);
    if idle_timeout < query_timeout {
        let at = raw.idle_timeout.as_ref().or(raw.query_timeout.as_ref());
        if let Some(at) = at {
            diags.push(at.diagnostic(
                "api.idle_timeout",
                format!(
                    "must be at least api.query_timeout ({}): a connection waiting for its answer is not idle",
                    model::format_duration(query_timeout)
                ),
            ));
        }
    }
    let size = |v: &Option<Spanned<String>>,
                path: &str,
                default: usize,
                range: &RangeInclusive<u64>,
                diags: &mut Diagnostics| {
        let Some(v) = v else { return default };
        match parse_size(&v.value).and_then(|n| model::bounds::count_in(n, range)) {
            Ok(n) => usize::try_from(n).unwrap_or(default),
            Err(e) => {
                diags.push(v.diagnostic(path, e));
                default
            }
        }
    };
    let limits = ApiLimits {
        query_timeout,
        max_concurrent_queries: count(
            &raw.max_concurrent_queries,
            "api.max_concurrent_queries",
            d.max_concurrent_queries,
            &MAX_CONCURRENT_QUERIES,
            diags,
        ),
        max_queued_queries: count(
            &raw.max_queued_queries,
            "api.max_queued_queries",
            d.max_queued_queries,
            &MAX_QUEUED_QUERIES,
            diags,
        ),
        max_samples: count(&raw.max_samples, "api.max_samples", d.max_samples, &MAX_SAMPLES, diags),
        max_response_bytes: size(
            &raw.max_response_size,
            "api.max_response_size",
            d.max_response_bytes,
            &MAX_RESPONSE_SIZE,
            diags,
        ),
        max_request_bytes: size(
            &raw.max_request_size,
            "api.max_request_size",
            d.max_request_bytes,
            &MAX_REQUEST_SIZE,
            diags,
        ),
        max_connections: count(&raw.max_connections, "api.max_connections", d.max_connections, &MAX_CONNECTIONS, diags),
        read_timeout: dur(&raw.read_timeout, "api.read_timeout", d.read_timeout, &READ_TIMEOUT, diags),
        idle_timeout,
    };
    let access = Access::new(raw.tokens.as_ref().map(|t| compile_tokens(t, base, diags)).unwrap_or_default());
    if let (Some(addr), Some(at)) = (listen, &raw.listen)
        && raw.tokens.is_none()
        && let Err(e) = server::check_listen(addr, &access)
    {
        diags.push(at.diagnostic("api.listen", e));
    }
    let tls = raw.tls.as_ref().and_then(|t| compile_tls(t, base, diags));
    ApiSettings { listen, limits, access, tls }
}
