//! Putting it together: normalise the value, feed the base detectors, turn each surprise
//! into a likelihood score, combine, shape.

use model::Millis;

use super::novelty;
use super::predictors::{self, Kind, Surprise};
use super::shaping::Peak;
use super::tail::Tail;
use super::{Detector, Prior, unit};

/// Maps values into roughly `[0, 1]`: the prior range when known, else the range seen so
/// far (widened, never narrowed, so a new extreme stays visible as one).
struct Scale {
    lo: f64,
    hi: f64,
    known: bool,
    seen: bool,
}

impl Scale {
    fn new(prior: &Prior) -> Self {
        match (prior.min, prior.max) {
            (Some(lo), Some(hi)) if lo.is_finite() && hi.is_finite() && hi > lo => {
                Self { lo, hi, known: true, seen: true }
            }
            _ => Self { lo: 0.0, hi: 0.0, known: false, seen: false },
        }
    }

    fn apply(&mut self, v: f64) -> f64 {
        if !self.known {
            if !self.seen {
                self.lo = v;
                self.hi = v;
                self.seen = true;
            }
            // Until the range is learnt, measure against what has been seen.
            let before = (self.lo, self.hi);
            self.lo = self.lo.min(v);
            self.hi = self.hi.max(v);
            let span = before.1 - before.0;
            if span <= 0.0 {
                return 0.5;
            }
            return (v - before.0) / span;
        }
        (v - self.lo) / (self.hi - self.lo)
    }
}

/// The refractory period after a report, as a fraction of the probation length (and never
/// shorter than the time one change stays in the novelty state, so that a change is not
/// reported again as it leaves the state).
const REFRACTORY: f64 = 0.5;

struct Channel {
    base: Box<dyn Surprise>,
    tail: Tail,
}

/// The combined detector: several base detectors, each through its own likelihood, the
/// maximum of them shaped into spikes.
pub struct Ensemble {
    scale: Scale,
    channels: Vec<Channel>,
    /// `None` for the live loop, which wants every point's own surprise.
    shaper: Option<Peak>,
    last_value: f64,
    probation: usize,
    seen: usize,
}

impl Ensemble {
    /// The default ensemble for a series with this prior: state novelty, and state novelty
    /// relative to the series' own period (silent unless a strong period is found), by
    /// maximum. Adding the other base detectors (by maximum or by agreement) added more false
    /// alarms than it found anomalies on NAB, so they stay available as single detectors only.
    pub fn new(prior: Prior) -> Self {
        Self::of(prior, &[Kind::Novelty, Kind::Periodic])
    }

    /// This detector without spike shaping: each point's score stands on its own, so
    /// a surprise that was ignored (on the side a watch does not care about, or too small
    /// to matter) cannot mask the next one. For the live loop, whose watches keep their own
    /// firing state.
    pub fn unshaped(self) -> Self {
        Self { shaper: None, ..self }
    }

    fn of(prior: Prior, kinds: &[Kind]) -> Self {
        let learn = prior.probation.max(1);
        Self {
            scale: Scale::new(&prior),
            channels: kinds
                .iter()
                .map(|k| Channel { base: predictors::build(*k, learn), tail: Tail::new(learn) })
                .collect(),
            shaper: Some(Peak::new(
                ((REFRACTORY * learn as f64) as usize).max(novelty::memory_span(novelty::block_for(learn))),
            )),
            last_value: 0.0,
            probation: learn,
            seen: 0,
        }
    }
}

/// One base detector through the same pipeline.
pub(crate) fn single(prior: Prior, kind: Kind) -> Ensemble {
    Ensemble::of(prior, &[kind])
}

impl Detector for Ensemble {
    fn observe(&mut self, _t: Millis, v: f64) -> f64 {
        // A missing or non-finite value carries no information about the shape: hold the
        // last one (the monitor reports missing data as its own signal).
        let v = if v.is_finite() { v } else { self.last_value };
        self.last_value = v;
        let x = self.scale.apply(v);
        let x = if x.is_finite() { x } else { 0.5 };
        self.seen += 1;
        let mut best: f64 = 0.0;
        // Without a prior range, the first values are measured against a range of a few
        // values and a spread of a few residuals: their surprises are artefacts of an empty
        // model, not of the series, and kept out of the tail, where they would make every
        // later surprise look ordinary (a live series' first minutes).
        let settled = self.scale.known || self.seen > self.probation / 2;
        for c in &mut self.channels {
            let raw = c.base.surprise(x);
            let s = if settled { c.tail.score(raw) } else { 0.0 };
            best = best.max(s);
        }
        if self.seen <= self.probation {
            return 0.0;
        }
        unit(match &mut self.shaper {
            Some(shaper) => shaper.shape(best),
            None => best,
        })
    }

    fn state_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.shaper.as_ref().map_or(0, Peak::bytes)
            + self.channels.iter().map(|c| c.base.bytes() + c.tail.bytes()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_probation_scores_soon_after_it() {
        let prior = Prior { min: None, max: None, probation: 30 };
        let mut d = Ensemble::new(prior).unshaped();
        let scores: Vec<f64> =
            (0..45).map(|i| d.observe(0, if i >= 40 { 500.0 } else { 100.0 + (i % 7) as f64 })).collect();
        assert!(scores[..40].iter().all(|s| *s < crate::detect::ALERT_THRESHOLD), "{scores:?}");
        assert!(scores[40] >= crate::detect::ALERT_THRESHOLD, "{scores:?}");
    }
}
