//! Calibrating surprise with extreme-value statistics (peaks over threshold, as in SPOT,
//! Siffer et al. 2017): keep the largest surprises of the recent past, fit an exponential
//! tail to them, and score a new surprise by how improbable a value that large is. Scores
//! mean the same thing (a tail probability on a log scale) for every detector and series.

/// Surprises remembered for the tail fit.
const MEMORY: usize = 4096;
/// A tail probability of 10^-DECADES scores 1.
const DECADES: f64 = 6.0;
/// Largest surprises the exponential tail is fitted to.
const TOP_K: usize = 40;
/// Records between refits (amortises the selection).
const REFIT_EVERY: usize = 64;

pub(crate) struct Tail {
    history: Vec<f32>,
    head: usize,
    filled: usize,
    since_refit: usize,
    threshold: f64,
    mean_excess: f64,
    decades: f64,
    top_k: usize,
    refit_every: usize,
}

impl Tail {
    pub(crate) fn new() -> Self {
        let memory = MEMORY;
        Self {
            history: vec![0.0; memory],
            head: 0,
            filled: 0,
            since_refit: usize::MAX / 2,
            threshold: f64::INFINITY,
            mean_excess: 0.0,
            decades: DECADES,
            top_k: TOP_K,
            refit_every: REFIT_EVERY,
        }
    }

    fn refit(&mut self) {
        let n = self.filled;
        let k = self.top_k.min(n / 4).max(2);
        // A transient copy: selection reorders, and the ring must keep its order.
        let mut scratch = self.history[..n].to_vec();
        let idx = n - k;
        scratch.select_nth_unstable_by(idx, |a, b| a.total_cmp(b));
        let tail = &scratch[idx..];
        let u = tail.iter().map(|v| f64::from(*v)).fold(f64::INFINITY, f64::min);
        let mean = tail.iter().map(|v| f64::from(*v)).sum::<f64>() / tail.len() as f64;
        self.threshold = u;
        self.mean_excess = (mean - u).max(1e-9 * u.abs().max(1e-9));
    }

    /// Score of `s` against the surprises seen before it; then `s` joins them.
    pub(crate) fn score(&mut self, s: f64) -> f64 {
        let s = if s.is_finite() { s.max(0.0) } else { 0.0 };
        let out = if self.filled < 32 {
            0.0
        } else {
            if self.since_refit >= self.refit_every {
                self.refit();
                self.since_refit = 0;
            }
            if s <= self.threshold {
                0.0
            } else {
                let k = self.top_k.min(self.filled / 4).max(2) as f64;
                // P(S > s) ≈ (k / n) · exp(-(s - u) / mean excess)
                let log10_p = (k / self.filled as f64).log10()
                    - (s - self.threshold) / self.mean_excess / std::f64::consts::LN_10;
                (-log10_p / self.decades).clamp(0.0, 1.0)
            }
        };
        self.since_refit += 1;
        self.history[self.head] = s as f32;
        self.head = (self.head + 1) % self.history.len();
        self.filled = (self.filled + 1).min(self.history.len());
        out
    }

    pub(crate) fn bytes(&self) -> usize {
        self.history.capacity() * 4 + std::mem::size_of::<Self>()
    }
}
