//! Periodic novelty: the state novelty of the series *relative to its own periodic pattern*.
//! A daily spike that does not come, or a flat stretch where the day usually rises, looks
//! familiar to plain state novelty (every value in it has been seen before); measured
//! against what this phase of the period usually looks like, it is new.
//!
//! The period is found online by autocorrelation on a bounded buffer of the recent past and
//! only accepted when it is strong (a high peak after a clear dip). While no strong period is
//! known the detector has no opinion (NaN), so a weak or absent season stays silent. With a
//! period `P`, a per-phase running mean is the expectation, and the residual
//! `x - profile[t mod P]` is fed to its own state novelty. Residual states closer than
//! [`FLOOR`] to a familiar one are never reported: on a clean periodic series the residuals
//! are all near zero, and without a floor the tail calibration would call a rounding-sized
//! wobble a rare event. They still calibrate the tail (the floor gates the report, it does
//! not zero the surprise), so that on a noisy series the residuals just above the floor are
//! known to be common.

use super::novelty::{LIMIT, Novelty};
use super::predictors::Surprise;
use super::stats::{Rescale, Ring};

/// Recent values the period is searched in (periods up to half of it are found).
const HISTORY: usize = 1024;
/// Shortest period considered.
const MIN_PERIOD: usize = 8;
/// Records between period searches (amortises the autocorrelation).
const SEARCH_EVERY: usize = 512;
/// Records between checks that a held period is still there.
const CHECK_EVERY: usize = 1024;
/// Autocorrelation a period needs to be accepted.
const STRONG: f64 = 0.6;
/// How far the autocorrelation must have dipped below that peak at shorter lags (a smooth,
/// slowly wandering series correlates at every lag without being periodic).
const PROMINENCE: f64 = 0.3;
/// A held period is kept while its autocorrelation stays above `STRONG - HOLD`.
const HOLD: f64 = 0.2;
/// How far a phase's expectation moves toward each new value of that phase.
const RATE: f64 = 0.1;
/// Residual surprises below this (in normalised units, a twentieth of the range) are not
/// reported.
const FLOOR: f64 = 0.05;

#[derive(Clone)]
pub(crate) struct Periodic {
    history: Ring,
    since_search: usize,
    period: usize,
    profile: Vec<f64>,
    t: usize,
    settle: usize,
    inner: Novelty,
    block: usize,
}

impl Periodic {
    /// A detector whose residual novelty averages `block` residuals into each coarse block.
    pub(crate) fn new(block: usize) -> Self {
        Self {
            history: Ring::new(HISTORY),
            since_search: 0,
            period: 0,
            profile: Vec::new(),
            t: 0,
            settle: 0,
            inner: Novelty::new(block),
            block,
        }
    }

    /// The shortest strong, clear period in the history (0 if none), and the
    /// autocorrelation at the period currently held.
    fn find_period(&self) -> (usize, f64) {
        let n = self.history.len();
        let mean = self.history.iter().sum::<f64>() / n as f64;
        let xs: Vec<f64> = self.history.iter().map(|x| x - mean).collect();
        let var = dot(&xs, &xs) / n as f64;
        if var <= 1e-12 {
            return (0, 0.0);
        }
        let max_lag = n / 2;
        let acf: Vec<f64> = (0..=max_lag)
            .map(|lag| if lag == 0 { 1.0 } else { dot(&xs[lag..], &xs[..n - lag]) / (n - lag) as f64 / var })
            .collect();
        let current = if self.period > 0 && self.period <= max_lag { acf[self.period] } else { 0.0 };
        let mut low = f64::INFINITY;
        let mut best = 0.0f64;
        let mut candidates = Vec::new();
        for lag in 1..max_lag {
            let v = acf[lag];
            low = low.min(v);
            if lag >= MIN_PERIOD && v >= STRONG && v - low >= PROMINENCE && v >= acf[lag - 1] && v >= acf[lag + 1] {
                candidates.push((lag, v));
                best = best.max(v);
            }
        }
        // Multiples of the period are about as strong: take the shortest nearly as strong.
        let p = candidates.into_iter().find(|(_, v)| *v >= best - 0.05).map_or(0, |(lag, _)| lag);
        (p, current)
    }

    /// Starts over with period `p` (0: none), its profile the mean of each phase over the
    /// whole periods in the history.
    fn adopt(&mut self, p: usize) {
        self.period = p;
        self.profile = vec![0.0; p];
        self.settle = 0;
        if p == 0 {
            return;
        }
        let mut sums = vec![0.0; p];
        let mut counts = vec![0usize; p];
        let whole = (self.history.len() / p) * p;
        for back in 0..whole {
            if let Some(v) = self.history.ago(back) {
                // The value `back` records ago had phase `(t - 1 - back) mod p`.
                let phase = (self.t + p * HISTORY - 1 - back) % p;
                sums[phase] += v;
                counts[phase] += 1;
            }
        }
        for (k, slot) in self.profile.iter_mut().enumerate() {
            *slot = if counts[k] > 0 { sums[k] / counts[k] as f64 } else { 0.0 };
        }
        self.inner = Novelty::new(self.block);
        // One period (at most a quarter of the history) for the residual state to settle.
        self.settle = p.min(HISTORY / 4);
    }
}

impl Surprise for Periodic {
    fn boxed_clone(&self) -> Box<dyn Surprise> {
        Box::new(self.clone())
    }

    fn surprise(&mut self, x: f64) -> f64 {
        // Clamped as the novelty channel clamps: a wild value must not wreck the sums behind
        // the period search and the per-phase expectation.
        let x = x.clamp(-LIMIT, LIMIT);
        self.history.push(x);
        self.t += 1;
        self.since_search += 1;
        let every = if self.period > 0 { CHECK_EVERY } else { SEARCH_EVERY };
        if self.since_search >= every && self.history.len() >= HISTORY / 2 {
            self.since_search = 0;
            let (p, current) = self.find_period();
            // A held period stays while it is fairly strong (a season does not flip back and
            // forth with every search).
            let keep = self.period > 0 && current >= STRONG - HOLD;
            if !keep && p != self.period {
                self.adopt(p);
            }
        }
        if self.period == 0 {
            return f64::NAN;
        }
        let phase = (self.t - 1) % self.period;
        let r = x - self.profile[phase];
        self.profile[phase] += RATE * r;
        let s = self.inner.surprise(r);
        if self.settle > 0 {
            self.settle -= 1;
            return f64::NAN;
        }
        s
    }

    /// Distances to what has been seen mean the same from the first state on.
    fn trusted_from_start(&self) -> bool {
        true
    }
    fn floor(&self) -> f64 {
        FLOOR
    }

    fn rescale(&mut self, r: Rescale) -> f64 {
        self.history.rescale(r);
        for p in &mut self.profile {
            *p = r.apply(*p);
        }
        // Residuals are differences of values: the offset cancels.
        self.inner.rescale(Rescale { scale: r.scale, shift: 0.0 })
    }

    fn bytes(&self) -> usize {
        self.history.bytes() + self.profile.capacity() * 8 + self.inner.bytes() + std::mem::size_of::<Self>()
    }
}

/// `Σ a[i]·b[i]` over the shorter length, in four lanes (so that it vectorises).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut lanes = [0.0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..4 {
            lanes[k] += x[k] * y[k];
        }
    }
    let rest: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f64>() + rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescaling_moves_the_profile_and_scales_the_residual_memory() {
        let mut d = Periodic::new(12);
        for i in 0..3000 {
            d.surprise(day(i));
        }
        assert!(d.period > 0, "the test needs a period");
        let r = Rescale { scale: 0.5, shift: 0.25 };
        let profile: Vec<f64> = d.profile.iter().map(|p| r.apply(*p)).collect();
        let history: Vec<f64> = d.history.iter().map(|v| r.apply(v)).collect();
        // Residuals are differences of values: the shift cancels, only the scale applies.
        let residuals: Vec<f64> = d.inner.memory().iter().map(|v| 0.5 * v).collect();
        assert_eq!(d.rescale(r), 0.5);
        let close = |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(&d.profile, &profile), "profile");
        assert!(close(&d.history.iter().collect::<Vec<_>>(), &history), "history");
        assert!(close(&d.inner.memory(), &residuals), "residual memory");
    }

    /// Deterministic noise in `[0, 1)` with no period.
    fn noise(i: usize) -> f64 {
        let mut x = (i as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 29;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A daily-like pattern: a spike for a tenth of each period of 48, low otherwise.
    fn day(i: usize) -> f64 {
        let base = if i % 48 < 5 { 0.8 } else { 0.2 };
        base + 0.01 * noise(i)
    }

    #[test]
    fn finds_a_strong_period_and_stays_silent_without_one() {
        let mut d = Periodic::new(12);
        for i in 0..2048 {
            d.surprise(day(i));
        }
        assert_eq!(d.period, 48);
        let mut flat = Periodic::new(12);
        let out: Vec<f64> = (0..2048).map(|i| flat.surprise(0.5 + 0.01 * noise(i))).collect();
        assert_eq!(flat.period, 0);
        assert!(out.iter().all(|s| s.is_nan()));
    }

    #[test]
    fn a_missing_spike_is_a_surprise_and_the_usual_pattern_is_not() {
        let mut d = Periodic::new(12);
        let mut usual: f64 = 0.0;
        for i in 0..3000 {
            let s = d.surprise(day(i));
            if i > 2200 && s.is_finite() {
                usual = usual.max(s);
            }
        }
        // The spike that should come at 3024 does not.
        let missing = (3000..3060).map(|i| d.surprise(if i >= 3024 { 0.2 } else { day(i) })).fold(0.0, f64::max);
        assert!(usual < FLOOR, "{usual}");
        assert!(missing > 0.2, "{missing}");
    }

    #[test]
    fn wild_values_do_not_break_the_expectation() {
        let mut d = Periodic::new(12);
        for i in 0..2048 {
            d.surprise(day(i));
        }
        assert_eq!(d.period, 48);
        // The largest values there are, of both signs, at the same phase one period apart.
        for i in 2048..2048 + 2 * 48 {
            let x = match i {
                2050 => f64::MAX,
                2098 => -f64::MAX,
                _ => day(i),
            };
            assert!(d.surprise(x).is_finite(), "at {i}");
            assert!(d.profile.iter().all(|p| p.is_finite()), "at {i}: {:?}", d.profile);
        }
        // While they are in the history the period may be lost (no opinion), never garbage;
        // once they have left it, the period and the familiar pattern are back.
        let after: Vec<f64> = (2144..2144 + 2 * HISTORY).map(|i| d.surprise(day(i))).collect();
        assert!(after.iter().all(|s| s.is_nan() || (s.is_finite() && *s >= 0.0)));
        assert!(d.profile.iter().all(|p| p.is_finite()), "{:?}", d.profile);
        assert_eq!(d.period, 48);
        assert!(after[after.len() - 48..].iter().all(|s| *s < FLOOR), "{:?}", &after[after.len() - 48..]);
    }
}
