//! Injected time.
//!
//! All of Autonomic reads wall-clock time through a [`Clock`], so that `for:` durations,
//! cooldowns, backoff and deadlines can be tested under tokio's paused time.

use std::sync::Arc;

/// Milliseconds since the Unix epoch; the timestamp unit of samples and journal rows.
pub type Millis = i64;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time in milliseconds since the Unix epoch.
    fn now(&self) -> Millis;
}

/// Wall-clock time that advances with tokio's clock: anchored to the system time once, then
/// driven by [`tokio::time::Instant`]. Under `start_paused = true` it advances only when
/// tokio's virtual time does, which makes every timer in the loop deterministic in tests.
#[derive(Debug, Clone)]
pub struct TokioClock {
    anchor_wall: Millis,
    anchor: tokio::time::Instant,
}

impl TokioClock {
    /// A clock anchored at the current system time.
    pub fn new() -> Self {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as Millis)
            .unwrap_or(0);
        Self::anchored_at(wall)
    }

    /// A clock that reads `wall` now; useful for tests that want round timestamps.
    pub fn anchored_at(wall: Millis) -> Self {
        Self { anchor_wall: wall, anchor: tokio::time::Instant::now() }
    }

    /// Shared handle, the form the loop's stages take.
    pub fn shared() -> Arc<dyn Clock> {
        Arc::new(Self::new())
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Millis {
        self.anchor_wall + self.anchor.elapsed().as_millis() as Millis
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn advances_with_paused_tokio_time() {
        let clock = TokioClock::anchored_at(1_000);
        assert_eq!(clock.now(), 1_000);
        tokio::time::advance(std::time::Duration::from_millis(2_500)).await;
        assert_eq!(clock.now(), 3_500);
    }
}
