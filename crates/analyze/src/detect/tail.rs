//! Calibrating surprise with extreme-value statistics (peaks over threshold, as in SPOT,
//! Siffer et al. 2017): keep the largest surprises of the recent past, fit an exponential
//! tail to them, and score a new surprise by how improbable a value that large is. Scores
//! mean the same thing (a tail probability on a log scale) for every detector and series.

use super::ensemble::{env_f64, env_usize};

pub(crate) struct Tail {
    history: Vec<f32>,
    head: usize,
    filled: usize,
    top: Vec<f64>,
    since_refit: usize,
    threshold: f64,
    mean_excess: f64,
    decades: f64,
    top_k: usize,
    refit_every: usize,
}

impl Tail {
    pub(crate) fn new() -> Self {
        let memory = env_usize("TAIL_MEM", 4096).max(64);
        Self {
            history: vec![0.0; memory],
            head: 0,
            filled: 0,
            top: Vec::new(),
            since_refit: usize::MAX / 2,
            threshold: f64::INFINITY,
            mean_excess: 0.0,
            decades: env_f64("TAIL_DECADES", 6.0),
            top_k: env_usize("TAIL_K", 40).max(4),
            refit_every: env_usize("TAIL_REFIT", 64).max(1),
        }
    }

    fn refit(&mut self) {
        let n = self.filled;
        let k = self.top_k.min(n / 4).max(2);
        self.top.clear();
        self.top.extend(self.history[..n].iter().map(|v| f64::from(*v)));
        let idx = n - k;
        self.top.select_nth_unstable_by(idx, |a, b| a.total_cmp(b));
        let tail = &self.top[idx..];
        let u = tail.iter().copied().fold(f64::INFINITY, f64::min);
        let mean = tail.iter().sum::<f64>() / tail.len() as f64;
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
        self.history.capacity() * 4 + self.top.capacity() * 8 + std::mem::size_of::<Self>()
    }
}
