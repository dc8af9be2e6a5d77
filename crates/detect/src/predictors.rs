//! Base detectors: each turns a normalised value into a raw surprise (≥ 0, larger is more
//! surprising). Likelihood turns surprises into scores; the ensemble combines them.

use super::context::ContextNovelty;
use super::stats::{Ewm, Rescale, Ring, median};

/// Which base detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Distance from an exponentially weighted mean, in its own deviations.
    Ewma,
    /// Distance from a rolling median, in rolling median absolute deviations.
    Mad,
    /// Holt-Winters residual with the season length found online.
    Seasonal,
    /// Two-sided CUSUM of standardised residuals: slow shifts of level.
    Cusum,
    /// Novelty of the recent shape (quantised context never or rarely seen).
    Context,
    /// Distance of the recent state (two time scales) from learnt prototype states.
    Novelty,
    /// State novelty of the residual from the series' own periodic pattern.
    Periodic,
}

/// A base detector.
pub(crate) trait Surprise: Send {
    /// A copy, to try a value on without teaching the original anything.
    fn boxed_clone(&self) -> Box<dyn Surprise>;
    /// Raw surprise of the normalised value `x` (≥ 0), or NaN while the detector is still
    /// filling its state and has no opinion (the calibration then ignores it).
    fn surprise(&mut self, x: f64) -> f64;
    /// The normalised units changed (the range widened): re-express everything remembered
    /// in the new ones. Returns the factor by which that changes the size of surprises, so
    /// that the calibration can re-express the surprises it remembers (1 for surprises
    /// measured in units of the series' own spread, as long as that spread is above
    /// [`MIN_SPREAD`]).
    fn rescale(&mut self, r: Rescale) -> f64;
    /// Whether its first surprises are as meaningful as later ones. Surprises measured in a
    /// spread learnt from a handful of residuals are not: they are artefacts of an empty
    /// model, and would make every later surprise look ordinary if calibrated against.
    fn trusted_from_start(&self) -> bool {
        false
    }
    /// Surprises under this are not reported, though they still calibrate: a detector whose
    /// surprises are mostly tiny would otherwise, with the tiny ones cut to zero, see its few
    /// just above the cut as rare.
    fn floor(&self) -> f64 {
        0.0
    }
    /// State size.
    fn bytes(&self) -> usize;
}

/// Smallest spread considered, as a fraction of the normalised range: a flat line that
/// moves by a hair is not a million-sigma event.
const MIN_SPREAD: f64 = 1e-3;

pub(crate) fn build(kind: Kind, probation: usize) -> Box<dyn Surprise> {
    match kind {
        Kind::Ewma => Box::new(EwmaResidual::new()),
        Kind::Mad => Box::new(RollingMad::new(64)),
        Kind::Seasonal => Box::new(Seasonal::new()),
        Kind::Cusum => Box::new(Cusum::new()),
        Kind::Context => Box::new(ContextNovelty::new()),
        Kind::Novelty => Box::new(super::novelty::Novelty::new(super::novelty::block_for(probation))),
        Kind::Periodic => Box::new(super::periodic::Periodic::new(super::novelty::block_for(probation))),
    }
}

/// `|x - EWMA| / σ` with a fast mean and a slower spread.
#[derive(Clone)]
pub(crate) struct EwmaResidual {
    level: Ewm,
    spread: Ewm,
}

impl EwmaResidual {
    pub(crate) fn new() -> Self {
        Self { level: Ewm::span(10.0), spread: Ewm::span(300.0) }
    }
}

impl Surprise for EwmaResidual {
    fn boxed_clone(&self) -> Box<dyn Surprise> {
        Box::new(self.clone())
    }

    fn surprise(&mut self, x: f64) -> f64 {
        let out = if self.level.count() == 0 {
            0.0
        } else {
            let r = x - self.level.mean();
            let s = self.spread.mean().max(MIN_SPREAD);
            self.spread.push(r.abs());
            r.abs() / s
        };
        self.level.push(x);
        out
    }
    fn rescale(&mut self, r: Rescale) -> f64 {
        self.level.rescale(r);
        self.spread.rescale_magnitude(r);
        1.0
    }
    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

/// `|x - median| / (1.4826·MAD)` over the last `n` values.
#[derive(Clone)]
pub(crate) struct RollingMad {
    window: Ring,
    scratch: Vec<f64>,
}

impl RollingMad {
    pub(crate) fn new(n: usize) -> Self {
        Self { window: Ring::new(n), scratch: Vec::with_capacity(n) }
    }
}

impl Surprise for RollingMad {
    fn boxed_clone(&self) -> Box<dyn Surprise> {
        Box::new(self.clone())
    }

    fn surprise(&mut self, x: f64) -> f64 {
        let out = if self.window.len() < 8 {
            0.0
        } else {
            self.scratch.clear();
            self.scratch.extend(self.window.iter());
            let m = median(&mut self.scratch);
            for v in self.scratch.iter_mut() {
                *v = (*v - m).abs();
            }
            let mad = median(&mut self.scratch) * 1.4826;
            (x - m).abs() / mad.max(MIN_SPREAD)
        };
        self.window.push(x);
        out
    }
    fn rescale(&mut self, r: Rescale) -> f64 {
        self.window.rescale(r);
        1.0
    }
    fn bytes(&self) -> usize {
        self.window.bytes() + self.scratch.capacity() * 8 + std::mem::size_of::<Self>()
    }
}

/// Additive Holt-Winters whose season length is re-estimated from the autocorrelation of
/// the recent past every so often (amortised O(1) per record).
#[derive(Clone)]
pub(crate) struct Seasonal {
    history: Ring,
    since_search: usize,
    period: usize,
    level: f64,
    trend: f64,
    season: Vec<f64>,
    t: usize,
    spread: Ewm,
    started: bool,
}

const SEASON_HISTORY: usize = 1024;
const MAX_PERIOD: usize = 500;
const SEARCH_EVERY: usize = 1024;

impl Seasonal {
    pub(crate) fn new() -> Self {
        Self {
            history: Ring::new(SEASON_HISTORY),
            since_search: 0,
            period: 0,
            level: 0.0,
            trend: 0.0,
            season: Vec::new(),
            t: 0,
            spread: Ewm::span(300.0),
            started: false,
        }
    }

    /// The lag in `4..=MAX_PERIOD` with the highest autocorrelation, if it is clearly periodic.
    fn find_period(&self) -> usize {
        let xs: Vec<f64> = self.history.iter().collect();
        let n = xs.len();
        if n < 64 {
            return 0;
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
        if var <= 1e-12 {
            return 0;
        }
        let max_lag = MAX_PERIOD.min(n / 2);
        let acf = |lag: usize| -> f64 {
            let mut s = 0.0;
            for i in lag..n {
                s += (xs[i] - mean) * (xs[i - lag] - mean);
            }
            s / var
        };
        let values: Vec<f64> = (0..=max_lag).map(|l| if l < 4 { 0.0 } else { acf(l) }).collect();
        // The first clear local maximum past the first dip is the period.
        let mut best = (0usize, 0.3f64);
        for lag in 5..max_lag {
            let v = values[lag];
            if v > best.1 && v >= values[lag - 1] && v >= values[lag + 1] {
                best = (lag, v);
            }
        }
        best.0
    }
}

impl Surprise for Seasonal {
    fn boxed_clone(&self) -> Box<dyn Surprise> {
        Box::new(self.clone())
    }

    fn surprise(&mut self, x: f64) -> f64 {
        self.history.push(x);
        self.since_search += 1;
        if self.since_search >= SEARCH_EVERY && self.history.len() >= 256 {
            self.since_search = 0;
            let p = self.find_period();
            if p != self.period {
                self.period = p;
                // Initialise the seasonal profile from the last full period.
                self.season = (0..p).map(|_| 0.0).collect();
                if p > 0 {
                    let recent: Vec<f64> = self.history.iter().collect();
                    let tail = &recent[recent.len() - p..];
                    let mean = tail.iter().sum::<f64>() / p as f64;
                    for (i, v) in tail.iter().enumerate() {
                        self.season[(self.t + 1 + i) % p] = v - mean;
                    }
                    self.level = mean;
                }
            }
        }
        if !self.started {
            self.started = true;
            self.level = x;
            self.t += 1;
            return 0.0;
        }
        let p = self.period;
        let idx = if p > 0 { self.t % p } else { 0 };
        let s = if p > 0 { self.season[idx] } else { 0.0 };
        let pred = self.level + self.trend + s;
        let r = x - pred;
        let spread = self.spread.mean().max(MIN_SPREAD);
        self.spread.push(r.abs());
        let (alpha, beta, gamma) = (0.2, 0.01, 0.1);
        let new_level = alpha * (x - s) + (1.0 - alpha) * (self.level + self.trend);
        self.trend = beta * (new_level - self.level) + (1.0 - beta) * self.trend;
        self.level = new_level;
        if p > 0 {
            self.season[idx] = gamma * (x - self.level) + (1.0 - gamma) * s;
        }
        if !(self.level.is_finite() && self.trend.is_finite()) {
            self.level = x;
            self.trend = 0.0;
        }
        self.t += 1;
        r.abs() / spread
    }
    fn rescale(&mut self, r: Rescale) -> f64 {
        self.history.rescale(r);
        self.level = r.apply(self.level);
        // Trend and season are differences of values: the offset cancels.
        self.trend *= r.scale;
        for s in &mut self.season {
            *s *= r.scale;
        }
        self.spread.rescale_magnitude(r);
        1.0
    }
    fn bytes(&self) -> usize {
        self.history.bytes() + self.season.capacity() * 8 + std::mem::size_of::<Self>()
    }
}

/// Two-sided CUSUM on residuals from a slow mean, standardised by a slow spread.
#[derive(Clone)]
pub(crate) struct Cusum {
    level: Ewm,
    spread: Ewm,
    up: f64,
    down: f64,
}

impl Cusum {
    pub(crate) fn new() -> Self {
        Self { level: Ewm::span(200.0), spread: Ewm::span(200.0), up: 0.0, down: 0.0 }
    }
}

impl Surprise for Cusum {
    fn boxed_clone(&self) -> Box<dyn Surprise> {
        Box::new(self.clone())
    }

    fn surprise(&mut self, x: f64) -> f64 {
        if self.level.count() < 2 {
            self.level.push(x);
            return 0.0;
        }
        let z = (x - self.level.mean()) / self.spread.mean().max(MIN_SPREAD);
        self.spread.push((x - self.level.mean()).abs());
        self.level.push(x);
        let slack = 0.5;
        self.up = (self.up + z - slack).max(0.0);
        self.down = (self.down - z - slack).max(0.0);
        let g = self.up.max(self.down);
        if g > 50.0 {
            // A shift this large has been reported; start over on the new level.
            self.up = 0.0;
            self.down = 0.0;
        }
        g
    }
    fn rescale(&mut self, r: Rescale) -> f64 {
        self.level.rescale(r);
        self.spread.rescale_magnitude(r);
        1.0
    }
    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Surprises over `tail` of a detector that saw `head` in old units, was told of the
    /// change, then saw `tail` in new units; and of one that saw both in new units.
    fn both_ways(kind: Kind, series: &[f64], split: usize, r: Rescale) -> (Vec<f64>, Vec<f64>) {
        let mut told = build(kind, 300);
        for x in &series[..split] {
            told.surprise(*x);
        }
        told.rescale(r);
        let after: Vec<f64> = series[split..].iter().map(|x| told.surprise(r.apply(*x))).collect();
        let mut native = build(kind, 300);
        let all: Vec<f64> = series.iter().map(|x| native.surprise(r.apply(*x))).collect();
        (after, all[split..].to_vec())
    }

    fn assert_same(kind: Kind, a: &[f64], b: &[f64]) {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            let same = (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-6 * y.abs().max(1.0);
            assert!(same, "{kind:?}: record {i} after the change scores {x}, but {y} in the new units all along");
        }
    }

    #[test]
    fn a_change_of_units_leaves_a_detector_as_if_it_had_seen_the_new_units_all_along() {
        let series: Vec<f64> =
            (0..4000u64).map(|i| 0.5 + 0.3 * (i as f64 / 40.0).sin() + 0.05 * crate::stats::wobble(i)).collect();
        // Detectors measuring in their own spread are unchanged by any affine change (while
        // the spread stays above MIN_SPREAD, as it does here).
        for kind in [Kind::Ewma, Kind::Mad, Kind::Seasonal, Kind::Cusum] {
            let (a, b) = both_ways(kind, &series, 2500, Rescale { scale: 0.5, shift: 0.25 });
            assert_same(kind, &a, &b);
        }
        // State novelty compares distances with a fixed vigilance, so only a shift (which
        // keeps distances) can be checked against a native run.
        for kind in [Kind::Novelty, Kind::Periodic] {
            let (a, b) = both_ways(kind, &series, 2500, Rescale { scale: 1.0, shift: 0.25 });
            assert_same(kind, &a, &b);
        }
    }

    #[test]
    fn distances_report_how_much_they_shrink() {
        let r = Rescale { scale: 0.25, shift: 0.1 };
        assert_eq!(build(Kind::Novelty, 300).rescale(r), 0.25);
        assert_eq!(build(Kind::Periodic, 300).rescale(r), 0.25);
        assert_eq!(build(Kind::Ewma, 300).rescale(r), 1.0);
    }
}
