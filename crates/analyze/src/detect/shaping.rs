//! Output shaping: report a surprise once, as a spike, not as a plateau. A score gets
//! through only when it beats everything reported over the recent past, so a detector
//! emits a handful of events per series instead of a sustained alarm, which is one problem
//! reported many times.

use super::stats::Ring;

/// Passes a score only when it is a new high over the last `memory` records.
pub(crate) struct NewHigh {
    recent: Ring,
    decay: f64,
}

impl NewHigh {
    /// Compares with the last `memory` scores; the bar is the recent maximum times `decay`.
    pub(crate) fn new(memory: usize, decay: f64) -> Self {
        Self { recent: Ring::new(memory.max(1)), decay }
    }

    pub(crate) fn shape(&mut self, score: f64) -> f64 {
        let bar = self.recent.iter().fold(0.0f64, f64::max) * self.decay;
        self.recent.push(score);
        if score > bar { score } else { 0.0 }
    }

    pub(crate) fn bytes(&self) -> usize {
        self.recent.bytes() + std::mem::size_of::<Self>()
    }
}
