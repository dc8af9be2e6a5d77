//! From raw surprise to a score: how unlikely is the recent surprise level, given the
//! surprises seen so far? (The idea of Numenta's anomaly likelihood: compare a short-term
//! average of raw scores with their long-term distribution, and report the tail
//! probability on a log scale, so only truly rare moments come near 1.)

use super::stats::{Ewm, Ring, normal_tail};

/// Turns a stream of raw surprises into scores in `[0, 1]`.
pub(crate) struct Likelihood {
    short: Ring,
    long: Ewm,
    seen: usize,
    learn: usize,
}

impl Likelihood {
    /// Averages the last `short` surprises; scores stay 0 for the first `learn` records.
    pub(crate) fn new(short: usize, long_span: f64, learn: usize) -> Self {
        Self { short: Ring::new(short), long: Ewm::span(long_span), seen: 0, learn }
    }

    pub(crate) fn score(&mut self, surprise: f64) -> f64 {
        let s = if surprise.is_finite() { surprise.max(0.0) } else { 0.0 };
        self.short.push(s);
        self.seen += 1;
        let recent = self.short.iter().sum::<f64>() / self.short.len().max(1) as f64;
        let std = self.long.std().max(1e-3 * self.long.mean().abs()).max(1e-6);
        let z = (recent - self.long.mean()) / std;
        self.long.push(s);
        if self.seen <= self.learn {
            return 0.0;
        }
        let tail = normal_tail(z).max(1e-300);
        // 1e-2 → 0, 1e-12 → 1: a log scale over ten decades of rarity.
        super::unit((-tail.log10() - 2.0) / 10.0)
    }

    pub(crate) fn bytes(&self) -> usize {
        self.short.bytes() + std::mem::size_of::<Self>()
    }
}
