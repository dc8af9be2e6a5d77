//! Fault state of one replica. Faults live in the process: restarting it heals them, which
//! is exactly what makes them a fair test of a controller.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A fault to inject, as posted to `/fault`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// The process exits with status 70 right after answering.
    Crash,
    /// Every endpoint stops answering; the process stays alive.
    Hang,
    /// Allocates and touches `mb_per_s` MiB of memory every second, never freed.
    Leak {
        /// Growth rate in MiB per second.
        mb_per_s: u64,
    },
    /// A fraction of `/work` requests answer 500.
    ErrorBurst {
        /// Fraction of requests that fail, 0..=1.
        rate: f64,
    },
    /// Every `/work` request takes `ms` longer.
    Latency {
        /// Added delay in milliseconds.
        ms: u64,
    },
    /// The replica's own backing dependency is gone (a wedged connection pool): a fraction
    /// of `/work` requests answer 503 until the process restarts.
    DependencyDown {
        /// Fraction of requests that fail, 0..=1.
        rate: f64,
    },
}

/// What `GET /fault` answers: enough for an outside observer to tell whether a fault is
/// still present in this process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultReport {
    /// The service name.
    pub service: String,
    /// The replica index.
    pub replica: usize,
    /// The release this process runs.
    pub release: String,
    /// The defect built into this release, if any.
    pub defect: Option<String>,
    /// The process id.
    pub pid: u32,
    /// Faults currently active.
    pub faults: Vec<Fault>,
    /// Bytes deliberately leaked so far.
    pub leaked_bytes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct FaultState {
    inner: Mutex<Active>,
}

#[derive(Debug, Default)]
struct Active {
    hang: bool,
    error_rate: f64,
    dependency_down_rate: f64,
    latency: Duration,
    leak_mb_per_s: u64,
    leaked: Vec<Vec<u8>>,
    leaked_bytes: u64,
}

/// How a `/work` request should misbehave, sampled once per request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Misbehaviour {
    pub hang: bool,
    pub error_rate: f64,
    pub dependency_down_rate: f64,
    pub latency: Duration,
}

impl FaultState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Active> {
        // A poisoned lock only means a panic elsewhere; the fault flags are still valid.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn apply(&self, fault: &Fault) {
        let mut a = self.lock();
        match fault {
            Fault::Crash => {}
            Fault::Hang => a.hang = true,
            Fault::Leak { mb_per_s } => a.leak_mb_per_s = *mb_per_s,
            Fault::ErrorBurst { rate } => a.error_rate = rate.clamp(0.0, 1.0),
            Fault::Latency { ms } => a.latency = Duration::from_millis(*ms),
            Fault::DependencyDown { rate } => a.dependency_down_rate = rate.clamp(0.0, 1.0),
        }
    }

    pub(crate) fn clear(&self) {
        let mut a = self.lock();
        *a = Active::default();
    }

    pub(crate) fn misbehaviour(&self) -> Misbehaviour {
        let a = self.lock();
        Misbehaviour {
            hang: a.hang,
            error_rate: a.error_rate,
            dependency_down_rate: a.dependency_down_rate,
            latency: a.latency,
        }
    }

    pub(crate) fn is_hung(&self) -> bool {
        self.lock().hang
    }

    pub(crate) fn active(&self) -> (Vec<Fault>, u64) {
        let a = self.lock();
        let mut faults = Vec::new();
        if a.hang {
            faults.push(Fault::Hang);
        }
        if a.leak_mb_per_s > 0 {
            faults.push(Fault::Leak { mb_per_s: a.leak_mb_per_s });
        }
        if a.error_rate > 0.0 {
            faults.push(Fault::ErrorBurst { rate: a.error_rate });
        }
        if !a.latency.is_zero() {
            faults.push(Fault::Latency { ms: a.latency.as_millis() as u64 });
        }
        if a.dependency_down_rate > 0.0 {
            faults.push(Fault::DependencyDown { rate: a.dependency_down_rate });
        }
        (faults, a.leaked_bytes)
    }

    /// One tick of the leak: allocate and touch a tenth of the per-second rate, so the
    /// growth is smooth and shows up in RSS, not just in virtual size.
    pub(crate) fn leak_tick(&self) {
        let mut a = self.lock();
        if a.leak_mb_per_s == 0 {
            return;
        }
        let bytes = (a.leak_mb_per_s * 1024 * 1024 / 10) as usize;
        let block = vec![0xA5u8; bytes];
        a.leaked_bytes += bytes as u64;
        a.leaked.push(block);
    }
}

/// Deterministic-enough per-request coin: a cheap xorshift on a global counter, so the
/// service needs no RNG dependency and error fractions are accurate over a few requests.
pub(crate) fn coin(rate: f64) -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    if rate <= 0.0 {
        return false;
    }
    if rate >= 1.0 {
        return true;
    }
    let mut x = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64 <= rate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coin_rate_is_close_to_requested() {
        let hits = (0..10_000).filter(|_| coin(0.3)).count();
        assert!((2_700..3_300).contains(&hits), "{hits}");
        assert!(!coin(0.0));
        assert!(coin(1.0));
    }

    #[test]
    fn leak_really_allocates() {
        let s = FaultState::default();
        s.apply(&Fault::Leak { mb_per_s: 10 });
        s.leak_tick();
        s.leak_tick();
        let (faults, leaked) = s.active();
        assert_eq!(faults, vec![Fault::Leak { mb_per_s: 10 }]);
        assert_eq!(leaked, 2 * 1024 * 1024);
        s.clear();
        assert_eq!(s.active(), (vec![], 0));
    }

    #[test]
    fn fault_json_shape() {
        let f: Fault = serde_json::from_str(r#"{"kind":"error_burst","rate":0.5}"#).expect("parses");
        assert_eq!(f, Fault::ErrorBurst { rate: 0.5 });
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"meteor"}"#).is_err());
    }
}
