//! Context novelty: how rarely has the recent shape of the series been seen? Values are
//! quantised into bins; a context is the last few bins; a table of (decaying) counts of
//! contexts, bounded in size, says how familiar the current one is.

use super::predictors::Surprise;
use super::stats::Rescale;

const BINS: u64 = 24;
const DEPTH: usize = 3;
const SLOTS: usize = 2048;

/// Bounded table of context counts with open addressing; when full, the least counted
/// entry nearby is replaced.
#[derive(Clone)]
pub(crate) struct ContextNovelty {
    keys: Vec<u64>,
    counts: Vec<f32>,
    recent: [u64; DEPTH],
    seen: usize,
    total: f64,
    occupied: usize,
}

impl ContextNovelty {
    pub(crate) fn new() -> Self {
        Self {
            keys: vec![u64::MAX; SLOTS],
            counts: vec![0.0; SLOTS],
            recent: [0; DEPTH],
            seen: 0,
            total: 0.0,
            occupied: 0,
        }
    }

    fn slot(&self, key: u64) -> (usize, bool) {
        let mut h = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^= h >> 29;
        let start = (h as usize) % SLOTS;
        let mut weakest = start;
        for probe in 0..16 {
            let i = (start + probe) % SLOTS;
            if self.keys[i] == key {
                return (i, true);
            }
            if self.keys[i] == u64::MAX {
                return (i, false);
            }
            if self.counts[i] < self.counts[weakest] {
                weakest = i;
            }
        }
        (weakest, false)
    }
}

impl Surprise for ContextNovelty {
    fn boxed_clone(&self) -> Box<dyn Surprise> {
        Box::new(self.clone())
    }

    fn surprise(&mut self, x: f64) -> f64 {
        let bin = ((x.clamp(0.0, 1.0) * BINS as f64) as u64).min(BINS - 1);
        self.recent.rotate_left(1);
        self.recent[DEPTH - 1] = bin;
        self.seen += 1;
        if self.seen < DEPTH {
            return 0.0;
        }
        let key = self.recent.iter().fold(0u64, |k, b| k * BINS + b);
        let (i, found) = self.slot(key);
        let count = if found { self.counts[i] as f64 } else { 0.0 };
        if !found {
            if self.keys[i] == u64::MAX {
                self.occupied += 1;
            }
            self.keys[i] = key;
            self.counts[i] = 0.0;
        }
        self.counts[i] += 1.0;
        self.total += 1.0;
        // Surprise: how much rarer than an average context this one is.
        let contexts = self.occupied.max(1) as f64;
        let expected = self.total / contexts;
        (expected / (count + 1.0)).ln().max(0.0)
    }
    /// Contexts are counted by bin, and a count cannot be split between the bins a
    /// widened range would give it: the table keeps its old bins and relearns.
    fn rescale(&mut self, _r: Rescale) -> f64 {
        1.0
    }
    fn bytes(&self) -> usize {
        self.keys.capacity() * 8 + self.counts.capacity() * 4 + std::mem::size_of::<Self>()
    }
}
