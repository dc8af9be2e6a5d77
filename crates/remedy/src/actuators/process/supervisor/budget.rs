//! When to restart a process that exited, and when to give up: exponential backoff with a
//! start budget, like systemd's `RestartSec` + `StartLimitBurst`/`StartLimitIntervalSec`.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Restart policy of a supervised service.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartPolicy {
    /// Restart processes that exit on their own.
    pub enabled: bool,
    /// Delay before the first restart after a crash.
    pub initial_backoff: Duration,
    /// Upper bound of the delay; it doubles on each consecutive crash.
    pub max_backoff: Duration,
    /// A process that ran at least this long before crashing starts the backoff afresh.
    pub reset_after: Duration,
    /// At most this many automatic restarts within `interval` (`StartLimitBurst`).
    pub burst: u32,
    /// The window of the start budget (`StartLimitIntervalSec`).
    pub interval: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            reset_after: Duration::from_secs(10),
            burst: 5,
            interval: Duration::from_secs(60),
        }
    }
}

/// What to do about an exited process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitDecision {
    /// Start it again after this delay.
    RestartAfter(Duration),
    /// The start budget is spent (or restarts are off): leave it down and say so.
    GiveUp,
}

/// Per-replica restart bookkeeping.
#[derive(Debug, Clone)]
pub struct RestartBudget {
    policy: RestartPolicy,
    consecutive: u32,
    recent: VecDeque<Instant>,
}

impl RestartBudget {
    /// A fresh budget under `policy`.
    pub fn new(policy: RestartPolicy) -> Self {
        Self { policy, consecutive: 0, recent: VecDeque::new() }
    }

    /// Decides about a process that exited at `now` after running for `uptime`.
    pub fn on_exit(&mut self, now: Instant, uptime: Duration) -> ExitDecision {
        if !self.policy.enabled {
            return ExitDecision::GiveUp;
        }
        while self.recent.front().is_some_and(|t| now.duration_since(*t) > self.policy.interval) {
            self.recent.pop_front();
        }
        if self.recent.len() as u32 >= self.policy.burst {
            return ExitDecision::GiveUp;
        }
        if uptime >= self.policy.reset_after {
            self.consecutive = 0;
        }
        let factor = 2u32.saturating_pow(self.consecutive.min(30));
        let delay = self.policy.initial_backoff.saturating_mul(factor).min(self.policy.max_backoff);
        self.consecutive += 1;
        self.recent.push_back(now);
        ExitDecision::RestartAfter(delay)
    }

    /// Forgets past crashes: an operator (or playbook) restart starts with a clean slate.
    pub fn reset(&mut self) {
        self.consecutive = 0;
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RestartPolicy {
        RestartPolicy {
            enabled: true,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1_000),
            reset_after: Duration::from_secs(10),
            burst: 5,
            interval: Duration::from_secs(60),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_up_to_the_cap() {
        let mut b = RestartBudget::new(RestartPolicy { burst: 100, ..policy() });
        let mut delays = Vec::new();
        for _ in 0..6 {
            let ExitDecision::RestartAfter(d) = b.on_exit(Instant::now(), Duration::ZERO) else {
                panic!("gave up too early")
            };
            delays.push(d.as_millis());
            tokio::time::advance(d).await;
        }
        assert_eq!(delays, vec![100, 200, 400, 800, 1_000, 1_000]);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_burst_within_interval_and_recovers_after_it() {
        let mut b = RestartBudget::new(policy());
        for _ in 0..5 {
            assert!(matches!(b.on_exit(Instant::now(), Duration::ZERO), ExitDecision::RestartAfter(_)));
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert_eq!(b.on_exit(Instant::now(), Duration::ZERO), ExitDecision::GiveUp);
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(matches!(b.on_exit(Instant::now(), Duration::ZERO), ExitDecision::RestartAfter(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn long_uptime_resets_backoff() {
        let mut b = RestartBudget::new(policy());
        b.on_exit(Instant::now(), Duration::ZERO);
        b.on_exit(Instant::now(), Duration::ZERO);
        assert_eq!(
            b.on_exit(Instant::now(), Duration::from_secs(30)),
            ExitDecision::RestartAfter(Duration::from_millis(100))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn disabled_policy_never_restarts() {
        let mut b = RestartBudget::new(RestartPolicy { enabled: false, ..policy() });
        assert_eq!(b.on_exit(Instant::now(), Duration::ZERO), ExitDecision::GiveUp);
    }

    #[tokio::test(start_paused = true)]
    async fn reset_clears_the_budget() {
        let mut b = RestartBudget::new(RestartPolicy { burst: 1, ..policy() });
        b.on_exit(Instant::now(), Duration::ZERO);
        assert_eq!(b.on_exit(Instant::now(), Duration::ZERO), ExitDecision::GiveUp);
        b.reset();
        assert_eq!(b.on_exit(Instant::now(), Duration::ZERO), ExitDecision::RestartAfter(Duration::from_millis(100)));
    }
}
