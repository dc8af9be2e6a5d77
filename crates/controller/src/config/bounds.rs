//! The range of every number and duration in the configuration. `check` and `run` share
//! the compile step, so whatever these let through is what the running loop gets: each
//! bound keeps out a value the loop cannot live with (a restart storm, a scrape that can
//! never finish before the next, a detector per series without end) or one that would
//! overflow a timestamp. The README lists them all; keep the two in step.

use std::ops::RangeInclusive;
use std::time::Duration;

use model::bounds::{count_in, duration_in};
use model::{Diagnostics, MAX_DURATION, parse_duration};
use yamlspan::Spanned;

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// How often something is scraped, probed or evaluated (`scrape.interval`,
/// `evaluation_interval`, `probe.period`, an anomaly watch's `interval`): 100ms to 1h.
pub const INTERVAL: RangeInclusive<Duration> = ms(100)..=secs(3600);

/// The shortest timeout (`scrape.timeout`, `probe.timeout`); the longest is the interval
/// it runs in, as Prometheus requires of `scrape_timeout`.
pub const MIN_TIMEOUT: Duration = ms(1);

/// `group_wait`: 0 to 1h.
pub const GROUP_WAIT: RangeInclusive<Duration> = Duration::ZERO..=secs(3600);

/// `echo_window`: 0 (no echoes) to 1h.
pub const ECHO_WINDOW: RangeInclusive<Duration> = Duration::ZERO..=secs(3600);

/// `resume_within`: 1s to 1d.
pub const RESUME_WITHIN: RangeInclusive<Duration> = secs(1)..=secs(86_400);

/// `run.stop_grace`: 0 (SIGKILL at once) to 10m.
pub const STOP_GRACE: RangeInclusive<Duration> = Duration::ZERO..=secs(600);

/// `run.ready_timeout`: 100ms to 1h.
pub const READY_TIMEOUT: RangeInclusive<Duration> = ms(100)..=secs(3600);

/// `run.replicas`: 1 to 256.
pub const REPLICAS: RangeInclusive<usize> = 1..=256;

/// `run.restart.backoff`: 10ms to 1h.
pub const BACKOFF: RangeInclusive<Duration> = ms(10)..=secs(3600);

/// The longest `run.restart.max_backoff` (the shortest is `backoff`).
pub const MAX_BACKOFF: Duration = secs(3600);

/// `run.restart.reset_after`: 1s to 1d.
pub const RESET_AFTER: RangeInclusive<Duration> = secs(1)..=secs(86_400);

/// `run.restart.burst`: 1 to 100 restarts per `interval`.
pub const BURST: RangeInclusive<u32> = 1..=100;

/// `run.restart.interval`: 1s to 1d.
pub const RESTART_INTERVAL: RangeInclusive<Duration> = secs(1)..=secs(86_400);

/// `scrape.down_after`, `probe.failure_threshold`, `probe.success_threshold`: 1 to 100.
pub const CONSECUTIVE: RangeInclusive<u32> = 1..=100;

/// An anomaly watch's `false_alarm_every`: 1m to 10 years.
pub const FALSE_ALARM_EVERY: RangeInclusive<Duration> = secs(60)..=secs(3650 * 86_400);

/// An anomaly watch's `probation`, in evaluations: 0 to 1,000,000.
pub const PROBATION: RangeInclusive<usize> = 0..=1_000_000;

/// An anomaly watch's `max_series` (one detector each): 1 to 100,000.
pub const WATCH_MAX_SERIES: RangeInclusive<usize> = 1..=100_000;

/// An anomaly watch's `quiet`, in evaluations: 1 to 1,000.
pub const QUIET: RangeInclusive<usize> = 1..=1000;

/// An anomaly watch's `missing_after`, in evaluations: 1 to 10,000.
pub const MISSING_AFTER: RangeInclusive<usize> = 1..=10_000;

/// An anomaly watch's `restart_grace`, in evaluations: 0 to 10,000.
pub const RESTART_GRACE: RangeInclusive<usize> = 0..=10_000;

/// An anomaly watch's `accept_after`, in evaluations: 1 to 1,000,000.
pub const ACCEPT_AFTER: RangeInclusive<usize> = 1..=1_000_000;

/// The longest `journal` path, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;

/// Any duration above zero (`retention`).
pub const POSITIVE: RangeInclusive<Duration> = ms(1)..=MAX_DURATION;

/// `journal_retention`: at least 1h, so that the last hour of actions, from which a
/// restarted controller rebuilds its guards' hourly budgets, is never pruned.
pub const JOURNAL_RETENTION: RangeInclusive<Duration> = secs(3600)..=MAX_DURATION;

/// `escalation.retry_for`: 1s to 1d.
pub const PAGE_RETRY_FOR: RangeInclusive<Duration> = secs(1)..=secs(86_400);

/// The duration at `path`, `default` when absent; one outside `range` is reported with the
/// range and `default` returned (the configuration is refused anyway).
pub(super) fn dur(
    v: &Option<Spanned<String>>,
    path: &str,
    default: Duration,
    range: &RangeInclusive<Duration>,
    diags: &mut Diagnostics,
) -> Duration {
    let Some(v) = v else { return default };
    match parse_duration(&v.value).and_then(|d| duration_in(d, range)) {
        Ok(d) => d,
        Err(e) => {
            diags.push(v.diagnostic(path, e));
            default
        }
    }
}

/// The count at `path`, `default` when absent; one outside `range` is reported with the
/// range and `default` returned.
pub(super) fn count<T: PartialOrd + Copy + std::fmt::Display>(
    v: &Option<Spanned<T>>,
    path: &str,
    default: T,
    range: &RangeInclusive<T>,
    diags: &mut Diagnostics,
) -> T {
    let Some(v) = v else { return default };
    count_in(v.value, range).unwrap_or_else(|e| {
        diags.push(v.diagnostic(path, e));
        default
    })
}

/// A timeout at `path` of at least [`MIN_TIMEOUT`] and at most `interval` (named
/// `interval_key` in the message); absent, `default` capped at `interval`.
pub(super) fn timeout(
    v: &Option<Spanned<String>>,
    path: &str,
    default: Duration,
    interval: Duration,
    interval_key: &str,
    diags: &mut Diagnostics,
) -> Duration {
    let Some(t) = v else { return default.min(interval) };
    let d = dur(v, path, interval, &(MIN_TIMEOUT..=MAX_DURATION), diags);
    if d > interval {
        diags.push(t.diagnostic(
            path,
            format!(
                "must be at most {interval_key} ({}): a {} cannot outlast the interval it runs in",
                model::format_duration(interval),
                path.rsplit('.').nth(1).unwrap_or("check"),
            ),
        ));
        return interval;
    }
    d
}
