//! Putting it together: normalise the value, feed the base detectors, turn each surprise
//! into a likelihood score, combine, shape.

use model::Millis;

use super::cad::CadDetector;
use super::novelty;
use super::predictors::{self, Kind, Surprise};
use super::shaping::Peak;
use super::stats::Rescale;
use super::tail::{Pace, Scored, Tail};
use super::{Calibration, Detector, Prior, unit};

/// Maps values into roughly `[0, 1]`: the prior range when known, else the range seen so
/// far (widened, never narrowed, so a new extreme stays visible as one).
///
/// When the range widens, everything the detectors remember is re-expressed in the new units
/// (see [`Rescale`]). Without that, a spike that widened the range would shrink the learnt
/// normal toward the bottom of it while the detectors' memories kept the old units, and a
/// later shift into the range the spike opened would match memories of the old normal's top
/// and pass unseen.
struct Scale {
    lo: f64,
    hi: f64,
    known: bool,
    seen: bool,
}

/// How far past a new extreme the range is widened, as a fraction of the span that takes the
/// extreme in (a seventeenth of the span after the margin): a series that climbs steadily then
/// re-expresses its detectors' memories every few percent of growth rather than on every
/// record, and every re-expression shrinks values by at least that much (see
/// `Tail::rescale`).
const WIDEN_MARGIN: f64 = 1.0 / 16.0;

impl Scale {
    fn new(prior: &Prior) -> Self {
        match (prior.min, prior.max) {
            (Some(lo), Some(hi)) if lo.is_finite() && hi.is_finite() && hi > lo => {
                Self { lo, hi, known: true, seen: true }
            }
            _ => Self { lo: 0.0, hi: 0.0, known: false, seen: false },
        }
    }

    /// Whether `v` lies so far outside the range learnt so far that one such value must not
    /// redefine the units on its own: more than the range's own span beyond it (the range
    /// would more than double), or, for a series constant until now, a million times its
    /// magnitude away (a glitch, an overflow, a unit mix-up). Never with a prior range.
    fn is_far(&self, v: f64) -> bool {
        if self.known || !self.seen {
            return false;
        }
        let span = self.hi - self.lo;
        if span > 0.0 {
            v < self.lo - span || v > self.hi + span
        } else {
            (v - self.lo).abs() > FAR_FROM_CONSTANT * self.lo.abs().max(1.0)
        }
    }

    /// `v` in the current units, without widening them (for a value on trial).
    fn measure(&self, v: f64) -> f64 {
        let span = self.hi - self.lo;
        if span > 0.0 {
            (v - self.lo) / span
        } else if v > self.lo {
            novelty::LIMIT
        } else {
            -novelty::LIMIT
        }
    }

    /// `v` in the current units (a new extreme measured against the range before it), and
    /// the change of units if the range widened to take it in.
    fn apply(&mut self, v: f64) -> (f64, Option<Rescale>) {
        if self.known {
            return ((v - self.lo) / (self.hi - self.lo), None);
        }
        if !self.seen {
            self.lo = v;
            self.hi = v;
            self.seen = true;
            return (0.5, None);
        }
        let span = self.hi - self.lo;
        if span > 0.0 && (self.lo..=self.hi).contains(&v) {
            return ((v - self.lo) / span, None);
        }
        if span <= 0.0 && v == self.lo {
            return (0.5, None);
        }
        // The units values were measured in until now. A constant series has none: its first
        // change counts as a step the size of the range it opens (the constant at 0.5, the
        // change at 1.5 or -0.5), so that it shows at once.
        let (old_lo, old_span) = if span > 0.0 {
            (self.lo, span)
        } else {
            let step = (v - self.lo).abs();
            (self.lo - step / 2.0, step)
        };
        let x = (v - old_lo) / old_span;
        let (mut lo, mut hi) = (self.lo.min(v), self.hi.max(v));
        let margin = (hi - lo) * WIDEN_MARGIN;
        if v < self.lo {
            lo -= margin;
        } else {
            hi += margin;
        }
        let wide = hi - lo;
        if !(wide.is_finite() && wide > 0.0) {
            return (x, None);
        }
        let rescale = Rescale { scale: old_span / wide, shift: (old_lo - lo) / wide };
        self.lo = lo;
        self.hi = hi;
        (x, Some(rescale))
    }
}

/// How far, in multiples of its magnitude, a series that has been constant must jump for the
/// jump to be put on trial rather than taken as the series' first change (see
/// [`Scale::is_far`]).
const FAR_FROM_CONSTANT: f64 = 1e6;

/// Consecutive far values (see [`Scale::is_far`]) on one side after which the series is
/// taken to have really moved there: the range widens and the detectors learn again.
const FAR_CONFIRMATIONS: u32 = 3;

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
    /// The false-alarm budget in milliseconds, turned into records by the series' pace;
    /// `None` weighs by the records seen, as NAB prefers.
    budget_ms: Option<f64>,
    pace: Pace,
    /// CAD OSE as a third channel (reference only: its memory is unbounded).
    cad: Option<CadDetector>,
    /// Consecutive far values so far, and on which side (see [`Scale::is_far`]).
    far_streak: u32,
    far_above: bool,
}

/// The weight of CAD's score beside the shaped ensemble score. CAD's scores are dense (nine
/// records in ten score above zero) and its own threshold sits near 0.77, so it is combined
/// after shaping and scaled: at 0.7 its rare strong scores land where the ensemble's alarms
/// do (0.75 scores 74.90 / 66.49 / 79.82 on NAB, 0.7 74.32 / 67.01 / 79.43).
const CAD_WEIGHT: f64 = 0.7;

impl Ensemble {
    /// The default ensemble for a series with this prior: state novelty, and state novelty
    /// relative to the series' own period (silent unless a strong period is found), by
    /// maximum. Adding the other base detectors (by maximum or by agreement) added more false
    /// alarms than it found anomalies on NAB, so they stay available as single detectors only.
    pub fn new(prior: Prior) -> Self {
        Self::of(prior, &[Kind::Novelty, Kind::Periodic])
    }

    /// The default ensemble with CAD OSE (see [`CadDetector`]) as a third channel, by
    /// maximum after shaping. A reference for the benchmark: CAD's memory is unbounded.
    pub(crate) fn with_cad(prior: Prior) -> Self {
        Self { cad: Some(CadDetector::new(prior)), ..Self::new(prior) }
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
            budget_ms: match prior.calibration {
                Calibration::FalseAlarmEvery(span) => Some(span as f64),
                Calibration::RecordsSeen => None,
            },
            pace: Pace::new(),
            cad: None,
            far_streak: 0,
            far_above: false,
        }
    }
}

impl Ensemble {
    /// Whether `v` is put on trial: after probation, without a prior range, far outside the
    /// range learnt so far (see [`Scale::is_far`]), and not yet confirmed by
    /// [`FAR_CONFIRMATIONS`] far values in a row on its side.
    ///
    /// Why: one wild value (a counter glitch, 1e308 from an overflow) used to widen the range
    /// for good, so that the normal shrank to a sliver of the new units, and its huge surprise
    /// stayed in the calibration as "surprises this big happen": a later +40σ shift of the
    /// series then scored nothing, for a week. A value on trial is scored against what the
    /// detectors know, and teaches them nothing.
    fn on_trial(&mut self, v: f64) -> bool {
        if self.seen < self.probation || !self.scale.is_far(v) {
            self.far_streak = 0;
            return false;
        }
        let above = v > self.scale.hi;
        self.far_streak = if self.far_streak > 0 && above == self.far_above { self.far_streak + 1 } else { 1 };
        self.far_above = above;
        self.far_streak < FAR_CONFIRMATIONS
    }

    /// Scores `v` on copies of the channels, leaving the originals (and the range) as they
    /// were; the time still counts for the series' pace.
    fn trial(&mut self, t: Millis, v: f64, cad: f64) -> f64 {
        let x = self.scale.measure(v);
        let x = if x.is_nan() { 0.5 } else { x.clamp(-novelty::LIMIT, novelty::LIMIT) };
        self.seen += 1;
        self.pace.observe(t);
        let budget = self.budget_ms.and_then(|span| self.pace.records_in(span));
        let mut best = Best::default();
        for c in &self.channels {
            let (mut base, mut tail) = (c.base.boxed_clone(), c.tail.clone());
            let raw = base.surprise(x);
            let scored = tail.score(raw, budget);
            if raw >= base.floor() {
                best.take(scored);
            }
        }
        self.output(best, cad)
    }
}

/// The channels' best scores for one record: over all of them (the ranking score), and
/// over those in their tails (what spike shaping reports).
#[derive(Default, Clone, Copy)]
struct Best {
    score: f64,
    tail: f64,
}

impl Best {
    fn take(&mut self, s: Scored) {
        self.score = self.score.max(s.score);
        self.tail = self.tail.max(s.tail_score());
    }
}

impl Ensemble {
    /// The record's output: the ranking score, or, shaped, the event's peak once.
    fn output(&mut self, best: Best, cad: f64) -> f64 {
        let out = match &mut self.shaper {
            Some(shaper) => shaper.shape(best.tail),
            None => best.score,
        };
        unit(out.max(cad))
    }
}

/// One base detector through the same pipeline.
pub(crate) fn single(prior: Prior, kind: Kind) -> Ensemble {
    Ensemble::of(prior, &[kind])
}

impl Detector for Ensemble {
    fn observe(&mut self, t: Millis, v: f64) -> f64 {
        // A missing or non-finite value carries no information about the shape: hold the
        // last one (the monitor reports missing data as its own signal).
        let v = if v.is_finite() { v } else { self.last_value };
        self.last_value = v;
        let cad = self.cad.as_mut().map_or(0.0, |c| CAD_WEIGHT * c.observe(t, v));
        if self.on_trial(v) {
            return self.trial(t, v, cad);
        }
        let (x, rescale) = self.scale.apply(v);
        // Beyond the clamp every value is equally far out; NaN only from an overflowed range.
        let x = if x.is_nan() { 0.5 } else { x.clamp(-novelty::LIMIT, novelty::LIMIT) };
        self.seen += 1;
        self.pace.observe(t);
        let budget = self.budget_ms.and_then(|span| self.pace.records_in(span));
        let mut best = Best::default();
        // Without a prior range the first records are a live series' first minutes: the
        // surprises of detectors that cannot be trusted yet stay out of their calibration.
        let early = !self.scale.known && self.seen <= self.probation / 2;
        for c in &mut self.channels {
            let raw = c.base.surprise(x);
            if early && !c.base.trusted_from_start() {
                continue;
            }
            let scored = c.tail.score(raw, budget);
            if raw >= c.base.floor() {
                best.take(scored);
            }
        }
        if let Some(r) = rescale {
            for c in &mut self.channels {
                let factor = c.base.rescale(r);
                c.tail.rescale(factor);
            }
        }
        if self.seen <= self.probation {
            return 0.0;
        }
        self.output(best, cad)
    }

    fn state_bytes(&self) -> usize {
        // (A value on trial copies the channels for the length of one record; that copy is
        // not kept.)
        std::mem::size_of::<Self>()
            + self.shaper.as_ref().map_or(0, Peak::bytes)
            + self.cad.as_ref().map_or(0, |c| c.state_bytes())
            + self.channels.iter().map(|c| c.base.bytes() + c.tail.bytes()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_change_of_a_constant_series_scores_at_once() {
        let mut d = Ensemble::new(Prior { probation: 100, ..Prior::default() }).unshaped();
        let scores: Vec<f64> = (0..300).map(|i| d.observe(i * 1000, if i >= 250 { 5.0 } else { 0.0 })).collect();
        assert!(scores[..250].iter().all(|s| *s < 0.01), "{scores:?}");
        assert!(scores[250] >= crate::ALERT_THRESHOLD, "the step scored {}", scores[250]);
    }

    #[test]
    fn a_widened_range_re_expresses_old_values_where_the_new_units_put_them() {
        let mut scale = Scale::new(&Prior { probation: 10, ..Prior::default() });
        let mut known: Vec<(f64, f64)> = Vec::new();
        // Starting constant: its first change (7.0) opens the units.
        for v in [5.0, 5.0, 7.0, 6.0, 12.0, 6.5, -3.0, 30.0, 8.0, 31.0, -40.0] {
            let (x, change) = scale.apply(v);
            known.push((v, x));
            if let Some(r) = change {
                for (_, old) in &mut known {
                    *old = r.apply(*old);
                }
            }
            for (value, x) in &known {
                let now = if scale.hi > scale.lo { (value - scale.lo) / (scale.hi - scale.lo) } else { 0.5 };
                assert!((x - now).abs() < 1e-12, "{value} is remembered at {x} but measures {now}");
            }
        }
    }

    #[test]
    fn a_spike_that_widened_the_range_does_not_hide_a_later_shift_inside_it() {
        // Without a known range, as in the live loop: a brief spike far above the normal
        // widens the range; a lasting shift to a level inside the widened range must still
        // be news, not a match for memories of the old normal's top in the old units.
        // (Weighed by the records seen: the spike's surprises stay in the tail, and against a
        // budget of one false alarm a week at this pace they would make the shift look
        // ordinary; a live watch does not feed its detector while an anomaly fires.)
        let level = |i: u64| 100.0 + 20.0 * (i as f64 / 16.0).sin() + 3.0 * crate::stats::wobble(i);
        let mut d = Ensemble::new(Prior { probation: 300, calibration: Calibration::RecordsSeen, ..Prior::default() });
        let mut shift_scores = Vec::new();
        for i in 0..4000u64 {
            let v = match i {
                2000..2008 => 400.0,
                3000.. => level(i) + 90.0,
                _ => level(i),
            };
            let s = d.observe(i as i64 * 1000, v);
            if i >= 3000 {
                shift_scores.push(s);
            }
        }
        let top = shift_scores.iter().copied().fold(0.0, f64::max);
        assert!(top >= crate::ALERT_THRESHOLD, "the shift scored at most {top}");
    }

    #[test]
    fn a_short_probation_scores_soon_after_it() {
        let prior = Prior { probation: 30, ..Prior::default() };
        let mut d = Ensemble::new(prior).unshaped();
        let scores: Vec<f64> =
            (0..45).map(|i| d.observe(i * 1000, if i >= 40 { 500.0 } else { 100.0 + (i % 7) as f64 })).collect();
        assert!(scores[..40].iter().all(|s| *s < crate::ALERT_THRESHOLD), "{scores:?}");
        assert!(scores[40] >= crate::ALERT_THRESHOLD, "{scores:?}");
    }

    /// Uniforms in [0, 1) from a xorshift generator, reproducible.
    fn uniforms() -> impl FnMut() -> f64 {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Gaussian-looking noise (a sum of 12 uniforms).
    fn noise(n: usize) -> Vec<f64> {
        let mut uniform = uniforms();
        (0..n).map(|_| 100.0 + 5.0 * ((0..12).map(|_| uniform()).sum::<f64>() - 6.0)).collect()
    }

    #[test]
    fn an_error_count_that_is_mostly_zero_alarms_on_a_burst_not_on_its_usual_ones_and_twos() {
        // Errors per second: 0, one now and then (2 %), two in a second rarely (0.04 %).
        // Pairs of ones close together and the odd two happen every few minutes; the
        // tail fitted to single ones alone would call them impossible.
        let mut uniform = uniforms();
        let mut d = Ensemble::new(Prior { probation: 300, ..Prior::default() }).unshaped();
        let mut alarms = Vec::new();
        for i in 0..6_000i64 {
            let u = uniform();
            let v = match i {
                5_990 => 8.0,
                _ if u < 0.0004 => 2.0,
                _ if u < 0.02 => 1.0,
                _ => 0.0,
            };
            if d.observe(i * 1_000, v) >= crate::ALERT_THRESHOLD {
                alarms.push(i);
            }
        }
        // (Unshaped, the burst alarms while it is among the last three values.)
        assert!(alarms.first() == Some(&5_990) && alarms.iter().all(|i| *i < 5_993), "alarmed at records {alarms:?}");
    }

    #[test]
    fn a_clean_series_alarms_about_as_often_per_day_whatever_its_pace() {
        // The same 8,000 values of pure noise: two and a quarter hours of a series scraped
        // every second, or 28 days of one recorded every five minutes. Against a budget of
        // one false alarm a week, the first should (almost surely) raise none and the
        // second about four (6 here); weighed by records seen, both raise the same (14).
        let values = noise(8_000);
        let alarms = |spacing_ms: i64| {
            let mut d = Ensemble::new(Prior { probation: 300, ..Prior::default() }).unshaped();
            let scores = values.iter().enumerate().map(|(i, v)| d.observe(i as i64 * spacing_ms, *v));
            scores.filter(|s| *s >= crate::ALERT_THRESHOLD).count()
        };
        let (every_second, every_five_minutes) = (alarms(1_000), alarms(300_000));
        assert_eq!(every_second, 0, "a clean series scraped every second alarmed within hours");
        assert!((1..=30).contains(&every_five_minutes), "{every_five_minutes} alarms in 28 days at one a week");
        let mut by_records =
            Ensemble::new(Prior { probation: 300, calibration: Calibration::RecordsSeen, ..Prior::default() })
                .unshaped();
        let nab = values.iter().enumerate().filter(|(i, v)| by_records.observe(*i as i64 * 1_000, **v) >= 0.5).count();
        assert!(nab > every_second, "weighed by records seen: {nab} alarms");
    }
}
