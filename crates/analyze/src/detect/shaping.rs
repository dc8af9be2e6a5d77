//! Output shaping: report a surprise once, as a spike, not as a plateau. After a high score
//! the detector holds back for a while (a refractory period), because a sustained alarm is
//! one problem reported many times.

/// Refractory shaping of a score stream.
pub(crate) struct Refractory {
    level: f64,
    hold: usize,
    remaining: usize,
    last_peak: f64,
}

impl Refractory {
    /// Scores at or above `level` start a hold of `hold` records during which only a higher
    /// score gets through.
    pub(crate) fn new(level: f64, hold: usize) -> Self {
        Self { level, hold, remaining: 0, last_peak: 0.0 }
    }

    pub(crate) fn shape(&mut self, score: f64) -> f64 {
        if self.remaining > 0 {
            self.remaining -= 1;
            if score <= self.last_peak {
                return score * 0.5 * (1.0 - self.remaining as f64 / self.hold.max(1) as f64);
            }
        }
        if score >= self.level {
            self.remaining = self.hold;
            self.last_peak = score;
        }
        score
    }
}
