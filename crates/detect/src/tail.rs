//! Calibrating surprise with extreme-value statistics (peaks over threshold, as in SPOT,
//! Siffer et al. 2017): keep the largest surprises of the recent past, fit an exponential
//! tail to them, and score a new surprise by how improbable a value that large is.
//!
//! The tail probability `p` is weighed by how many chances a surprise that rare has had to
//! occur by chance, `e = p·w`, and the score is `1 / (1 + e)`: 0.5 means "about as rare as
//! chance allows". Scores mean the same thing for every detector and series, so one
//! threshold serves them all. The weight `w` is either a budget (the records in the span
//! within which one false alarm on a clean series is acceptable: the live loop's choice, see
//! [`Pace`]) or, as NAB's labels prefer, the records seen so far, `w = t^0.7` (between no
//! correction and a full Bonferroni `p·t`).
//!
//! Surprises are remembered as bfloat16 (the upper half of an `f32`: 8 bits of mantissa,
//! about 0.4 % precision), which halves the memory; the fit does not need more.

/// Surprises remembered for the tail fit.
const MEMORY: usize = 4096;
/// The exponent of the multiple-testing weight `t^WEIGHT`. With 0.7 the fixed alert threshold
/// of 0.5 lands near the threshold NAB's optimiser picks on the labels (0.47), so the fixed
/// threshold gives up little (see BENCHMARKS.md); with 0.5 the labels preferred 0.82.
const WEIGHT: f64 = 0.7;
/// Records after which the multiple-testing weight stops growing (a long-running monitor
/// should not grow ever less sensitive).
const HORIZON: u64 = 1 << 16;
/// Largest surprises the exponential tail is fitted to.
const TOP_K: usize = 80;
/// Records between refits (amortises the selection).
const REFIT_EVERY: usize = 64;
/// Surprises needed before the first fit, at most (a series with a short probation needs
/// fewer: half its probation, but never fewer than [`MIN_WARMUP`]).
const WARMUP: usize = 32;
/// The fewest surprises a tail is fitted to.
const MIN_WARMUP: usize = 8;
/// `x` rounded to bfloat16 (to nearest; surprises are finite and non-negative).
fn to_bf16(x: f32) -> u16 {
    (x.to_bits().saturating_add(0x8000) >> 16) as u16
}

fn from_bf16(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// A calibrated score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scored {
    /// In `[0, 1]`: `1 / (1 + e)`, `e` the expected number of surprises at least this large
    /// by chance within the false-alarm budget (or NAB's weighting).
    pub(crate) score: f64,
    /// Above the tail's threshold: rare enough to be an event (only these can alarm).
    pub(crate) in_tail: bool,
}

impl Scored {
    /// No opinion.
    pub(crate) const QUIET: Scored = Scored { score: 0.0, in_tail: false };

    /// The score if it is in the tail, else 0 (what spike shaping looks at).
    pub(crate) fn tail_score(self) -> f64 {
        if self.in_tail { self.score } else { 0.0 }
    }
}

#[derive(Clone)]
pub(crate) struct Tail {
    /// bfloat16 bits of each remembered surprise.
    history: Vec<u16>,
    head: usize,
    filled: usize,
    since_refit: usize,
    warmup: usize,
    threshold: f64,
    mean_excess: f64,
    /// P(S ≥ u) / share(u) as of the last refit, without and with a budget (see `refit`).
    body_scale: [f64; 2],
    top_k: usize,
    refit_every: usize,
    seen: u64,
    /// How often surprises of each size came over a much longer span than `history`.
    sizes: SizeCounts,
}

impl Tail {
    /// A tail for a series learnt for `probation` records.
    pub(crate) fn new(probation: usize) -> Self {
        let memory = MEMORY;
        Self {
            history: vec![0; memory],
            head: 0,
            filled: 0,
            since_refit: usize::MAX / 2,
            warmup: (probation / 2).clamp(MIN_WARMUP, WARMUP),
            threshold: f64::INFINITY,
            mean_excess: 0.0,
            body_scale: [1.0; 2],
            top_k: TOP_K,
            refit_every: REFIT_EVERY,
            seen: 0,
            sizes: SizeCounts::new(),
        }
    }

    fn refit(&mut self) {
        let n = self.filled;
        let k = self.top_k.min(n / 4).max(2);
        // A transient copy: selection reorders, and the ring must keep its order.
        let mut scratch: Vec<f32> = self.history[..n].iter().map(|b| from_bf16(*b)).collect();
        let idx = n - k;
        scratch.select_nth_unstable_by(idx, |a, b| a.total_cmp(b));
        let tail = &scratch[idx..];
        let u = tail.iter().map(|v| f64::from(*v)).fold(f64::INFINITY, f64::min);
        let mean = tail.iter().map(|v| f64::from(*v)).sum::<f64>() / tail.len() as f64;
        self.threshold = u;
        self.mean_excess = (mean - u).max(1e-9 * u.abs().max(1e-9));
        self.sizes.refresh();
        // The body's scale: P(S ≥ s) = share(s) · P(S ≥ u) / share(u), with and without a
        // budget's size counts (they do not depend on the budget's size).
        let share_u = self.sizes.share_at_least(u);
        let kf = k as f64;
        self.body_scale = [
            self.ln_tail_probability(u, kf, false).exp() / share_u,
            self.ln_tail_probability(u, kf, true).exp() / share_u,
        ];
    }

    /// Score of `s` against the surprises seen before it; then `s` joins them. NaN (no
    /// opinion yet) scores 0 and is not remembered. `budget` is the records per acceptable
    /// false alarm; without one, the records seen weigh the probability as NAB prefers.
    ///
    /// Every surprise gets a score that ranks it: above the tail's threshold from the fitted
    /// tail, below it from how often surprises at least its size have come (the size
    /// counts), scaled to meet the tail at its threshold. Only tail scores can reach the
    /// alarm level; [`Scored::in_tail`] says which it was.
    pub(crate) fn score(&mut self, s: f64, budget: Option<f64>) -> Scored {
        if s.is_nan() {
            return Scored::QUIET;
        }
        let s = if s.is_finite() { s.max(0.0) } else { 0.0 };
        let out = if self.filled < self.warmup {
            Scored::QUIET
        } else {
            if self.since_refit >= self.refit_every {
                self.refit();
                self.since_refit = 0;
            }
            if s <= self.threshold {
                // The body: as common as surprises of its size have been, scaled to meet the
                // tail where it takes over (so a larger surprise never scores lower). Not
                // capped at 1: the smallest surprises keep their order too.
                let scale = self.body_scale[usize::from(budget.is_some())];
                let weight = match budget {
                    Some(records) => records.max(1.0),
                    None => (self.seen.min(HORIZON) as f64).powf(WEIGHT),
                };
                let e = scale * self.sizes.share_at_least(s) * weight;
                Scored { score: 1.0 / (1.0 + e), in_tail: false }
            } else {
                let k = self.top_k.min(self.filled / 4).max(2) as f64;
                let ln_weight = match budget {
                    Some(records) => records.max(1.0).ln(),
                    None => WEIGHT * (self.seen.min(HORIZON) as f64).ln(),
                };
                let ln_p = self.ln_tail_probability(s, k, budget.is_some());
                Scored { score: 1.0 / (1.0 + (ln_p + ln_weight).exp()), in_tail: true }
            }
        };
        self.since_refit += 1;
        self.seen = self.seen.saturating_add(1);
        self.sizes.add(s, budget.unwrap_or(HORIZON as f64));
        self.history[self.head] = to_bf16(s as f32);
        self.head = (self.head + 1) % self.history.len();
        self.filled = (self.filled + 1).min(self.history.len());
        out
    }

    /// ln P(S ≥ s) for `s` at or above the threshold, from the tail fitted to the `k`
    /// largest surprises: P ≈ (k / n) · exp(-(s - u) / mean excess); under a budget
    /// (`budgeted`), corrected by the size counts.
    fn ln_tail_probability(&self, s: f64, k: f64, budgeted: bool) -> f64 {
        let ln_model = (k / self.filled as f64).ln() - (s - self.threshold).max(0.0) / self.mean_excess;
        // Under a budget, no rarer than surprises this size have been over its span.
        // (NAB's calibration asks for no more than the fitted tail shows; there the counts
        // cost 1.7 points, as NAB's labels mark repeated events of one size.)
        if budgeted { ln_model.max(self.sizes.ln_frequency_at_least(s)) } else { ln_model }
    }

    /// The surprises it is fed changed size by `factor` (their units changed): re-express
    /// the remembered ones, and fit again before the next score.
    ///
    /// Each re-expression rounds to bfloat16 again (at most 0.2 %). The range's widening margin
    /// keeps every factor at 16/17 or below, so a factor is never lost to the rounding, and
    /// the margin also makes re-expressions rare enough that the rounding does not build up.
    pub(crate) fn rescale(&mut self, factor: f64) {
        if factor == 1.0 || !(factor > 0.0 && factor.is_finite()) {
            return;
        }
        for b in &mut self.history {
            *b = to_bf16((f64::from(from_bf16(*b)) * factor) as f32);
        }
        self.sizes.rescale(factor);
        self.since_refit = self.refit_every;
    }

    pub(crate) fn bytes(&self) -> usize {
        self.history.capacity() * 2 + std::mem::size_of::<Self>()
    }
}

/// Bins per octave of surprise size.
const SIZE_BINS_PER_OCTAVE: f64 = 4.0;
/// The smallest and largest sizes told apart, as powers of two of the units surprises had
/// when the series began (later units are tracked by an offset).
const SIZE_LOWEST_OCTAVE: f64 = -32.0;
const SIZE_BINS: usize = 192;
/// Records between applications of the decay (amortises it).
const DECAY_EVERY: u32 = 64;
/// Half the z of the lower confidence bound `(√k − SLACK)²` on a count `k`.
const SIZE_COUNT_SLACK: f64 = 1.5;

/// A long memory of how often surprises of each size occurred: counts per quarter-octave
/// of size, decayed over the false-alarm budget's span (or NAB's horizon), in a fixed
/// 1.5 KiB.
///
/// The exponential tail is fitted to the last 4,096 surprises and extrapolated far beyond
/// them: a budget of a week at one record a second asks whether a surprise is rarer than one
/// in 600,000. Where surprises come in discrete sizes (an error count that is mostly 0,
/// sometimes 1, now and then 2), the fitted tail is the size of a single 1 and says that a 2
/// is practically impossible, though it happens every hour. These counts correct the
/// extrapolation: a surprise can be no rarer than surprises at least its size have been.
#[derive(Clone)]
struct SizeCounts {
    counts: [f64; SIZE_BINS],
    /// `at_least[b]`: the counts of bin `b` and above, as of the last refresh.
    at_least: [f64; SIZE_BINS + 1],
    /// Decayed number of surprises counted.
    total: f64,
    /// log2 of the factor by which the units changed since the start.
    units_octaves: f64,
    since_decay: u32,
}

impl SizeCounts {
    fn new() -> Self {
        Self {
            counts: [0.0; SIZE_BINS],
            at_least: [0.0; SIZE_BINS + 1],
            total: 0.0,
            units_octaves: 0.0,
            since_decay: 0,
        }
    }

    /// Where `s` falls on the grid, in bins from the lowest (fractional within a bin).
    fn position(&self, s: f64) -> f64 {
        (s.log2() - self.units_octaves - SIZE_LOWEST_OCTAVE) * SIZE_BINS_PER_OCTAVE
    }

    fn bin(&self, s: f64) -> usize {
        self.position(s).floor().clamp(0.0, (SIZE_BINS - 1) as f64) as usize
    }

    fn add(&mut self, s: f64, horizon: f64) {
        if s > 0.0 {
            let b = self.bin(s);
            self.counts[b] += 1.0;
        }
        self.total += 1.0;
        self.since_decay += 1;
        if self.since_decay >= DECAY_EVERY {
            let keep = (1.0 - 1.0 / horizon.max(2.0)).powi(self.since_decay as i32);
            for c in &mut self.counts {
                *c *= keep;
            }
            self.total *= keep;
            self.since_decay = 0;
        }
    }

    /// ln of the share of surprises that were at least about as large as `s` (same
    /// quarter-octave or above); -inf where none were.
    fn ln_frequency_at_least(&self, s: f64) -> f64 {
        if self.total <= 0.0 || s <= 0.0 {
            return f64::NEG_INFINITY;
        }
        let at_least: f64 = self.counts[self.bin(s)..].iter().sum();
        // A lower confidence bound on the count (about 93 % one-sided for a Poisson count):
        // two occurrences say nothing yet, so a fault that recurs is still news, while a
        // size seen hundreds of times is as common as its count says.
        let lower = (at_least.sqrt() - SIZE_COUNT_SLACK).max(0.0).powi(2);
        (lower / self.total).ln()
    }

    /// The share of surprises at least `s`, interpolated within its bin (so that it falls
    /// continuously as `s` grows); 1 for `s` ≤ 0 or before any count.
    fn share_at_least(&self, s: f64) -> f64 {
        if self.total <= 0.0 || s <= 0.0 {
            return 1.0;
        }
        let position = self.position(s).clamp(0.0, SIZE_BINS as f64 - 1e-9);
        let b = position as usize;
        let within = position - b as f64;
        let at_least = self.at_least[b + 1] + (self.at_least[b] - self.at_least[b + 1]) * (1.0 - within);
        // Never quite zero: a size never seen is as rare as one in all counted so far.
        (at_least.max(0.5) / self.total).min(1.0)
    }

    /// Brings the running sums [`Self::share_at_least`] reads up to date (at each refit:
    /// the sizes counted since then are left out until the next one).
    fn refresh(&mut self) {
        let mut sum = 0.0;
        for b in (0..SIZE_BINS).rev() {
            sum += self.counts[b];
            self.at_least[b] = sum;
        }
        self.at_least[SIZE_BINS] = 0.0;
    }

    /// The surprises' units changed by `factor`. The grid follows them in whole octaves
    /// (counts move down four bins per octave the units shrink; those past an end join the
    /// end bin), so a series whose range grows a millionfold still has its surprises in the
    /// middle of the grid; the fraction of an octave left over is kept as an offset.
    fn rescale(&mut self, factor: f64) {
        if !(factor > 0.0 && factor.is_finite()) {
            return;
        }
        self.units_octaves += factor.log2();
        let whole = self.units_octaves.trunc();
        if whole == 0.0 {
            return;
        }
        self.units_octaves -= whole;
        let shift = (whole * SIZE_BINS_PER_OCTAVE) as i64;
        let mut moved = [0.0; SIZE_BINS];
        for (b, c) in self.counts.iter().enumerate() {
            let to = (b as i64 + shift).clamp(0, SIZE_BINS as i64 - 1) as usize;
            moved[to] += c;
        }
        self.counts = moved;
    }
}

/// A series' pace: how far apart its records usually are, learnt from their timestamps, so
/// that a false-alarm budget given as a span of time becomes a number of records. A scrape
/// every second and one every five minutes then alarm on noise equally rarely *per day*,
/// which is what the person paged cares about.
///
/// The spacing is a moving average of the gaps between records, each gap clipped to within
/// a factor of 4 of the average so that an outage or a burst moves it only gradually;
/// timestamps that do not advance are ignored.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    last: Option<i64>,
    spacing_ms: f64,
}

/// Weight of a new gap in the average spacing.
const PACE_RATE: f64 = 0.05;

impl Pace {
    pub(crate) fn new() -> Self {
        Self { last: None, spacing_ms: 0.0 }
    }

    /// Takes the next record's timestamp (milliseconds).
    pub(crate) fn observe(&mut self, t: i64) {
        if let Some(last) = self.last
            && t > last
        {
            let gap = (i128::from(t) - i128::from(last)) as f64;
            self.spacing_ms = if self.spacing_ms > 0.0 {
                let gap = gap.clamp(self.spacing_ms / 4.0, self.spacing_ms * 4.0);
                self.spacing_ms + (gap - self.spacing_ms) * PACE_RATE
            } else {
                gap
            };
        }
        // A timestamp that goes back (one far in the future before it, a clock reset) is
        // where the next gap is measured from, so that the pace never freezes.
        self.last = Some(t);
    }

    /// The records a span of `span_ms` holds at this pace; `None` until two timestamps have
    /// shown it.
    pub(crate) fn records_in(&self, span_ms: f64) -> Option<f64> {
        (self.spacing_ms > 0.0).then(|| (span_ms / self.spacing_ms).max(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bfloat16_keeps_surprises_to_within_half_a_percent() {
        for x in [0.0f32, 1e-6, 0.02, 0.5, 1.0, 3.75, 123.456, 1e3, 3.0e38] {
            let back = from_bf16(to_bf16(x));
            assert!((back - x).abs() <= x * 0.004, "{x} -> {back}");
        }
    }

    #[test]
    fn a_rescaled_tail_scores_rescaled_surprises_as_it_scored_the_originals() {
        let surprise = |i: u64| f64::from((i * 7919 % 101) as u32) * 0.01;
        let (mut before, mut after) = (Tail::new(100), Tail::new(100));
        for i in 0..3000 {
            before.score(surprise(i), None);
            after.score(surprise(i), None);
        }
        after.rescale(0.5);
        for s in [0.2, 0.9, 1.0, 1.2, 3.0] {
            let (a, b) = (before.score(s, None).score, after.score(s * 0.5, None).score);
            assert!((a - b).abs() < 0.02, "{s}: {a} before, {b} at half the size");
        }
    }

    #[test]
    fn every_surprise_gets_a_score_that_ranks_it_and_only_the_tail_can_alarm() {
        let mut tail = Tail::new(100);
        let surprise = |i: u64| f64::from((i * 7919 % 1000) as u32) * 0.001;
        for i in 0..5000 {
            tail.score(surprise(i), Some(10_000.0));
        }
        let sizes = [0.0, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99, 1.2, 2.0];
        let scored: Vec<Scored> = sizes.iter().map(|s| tail.clone().score(*s, Some(10_000.0))).collect();
        for (pair, sizes) in scored.windows(2).zip(sizes.windows(2)) {
            assert!(pair[1].score > pair[0].score, "{sizes:?} scored {pair:?}");
        }
        // Ordinary surprises rank but stay far below the alarm level; the body's scores are
        // never 0 once the tail has been fitted.
        assert!(scored[..5].iter().all(|s| !s.in_tail && s.score > 0.0 && s.score < 0.01), "{scored:?}");
        assert!(scored[8].in_tail && scored[8].score > 0.5, "{scored:?}");
    }

    #[test]
    fn a_surprise_far_beyond_the_remembered_ones_scores_near_one() {
        let mut tail = Tail::new(100);
        for i in 0..2000 {
            tail.score(f64::from(i % 10) * 0.01, None);
        }
        assert!(tail.score(0.05, None).score < 0.05);
        assert!(tail.score(5.0, None).score > 0.99);
    }

    #[test]
    fn a_larger_budget_asks_for_a_rarer_surprise() {
        let (mut loose, mut strict) = (Tail::new(100), Tail::new(100));
        // Exponentially distributed surprises: P(S > s) = e^-s.
        let surprise = |i: u64| -((f64::from((i * 7919 % 1000) as u32) + 0.5) / 1000.0).ln();
        for i in 0..3000 {
            loose.score(surprise(i), Some(100.0));
            strict.score(surprise(i), Some(1e6));
        }
        // e^-9 ≈ 1.2e-4: rare against a budget of 100 records, ordinary against a million.
        let (l, s) = (loose.score(9.0, Some(100.0)).score, strict.score(9.0, Some(1e6)).score);
        assert!(l > 0.9 && s < 0.1, "{l} on a budget of 100 records, {s} on one of a million");
    }

    #[test]
    fn the_pace_follows_the_spacing_of_timestamps_and_shrugs_off_one_outage() {
        let mut pace = Pace::new();
        assert_eq!(pace.records_in(60_000.0), None);
        for i in 0..200 {
            pace.observe(i * 1_000);
        }
        assert_eq!(pace.records_in(60_000.0), Some(60.0));
        pace.observe(200_000 + 3_600_000);
        pace.observe(200_000 + 3_600_000); // a repeated timestamp is ignored
        let after = pace.records_in(60_000.0).unwrap_or(0.0);
        assert!((50.0..60.0).contains(&after), "one hour-long gap moved 60 records a minute to {after}");
    }

    #[test]
    fn size_counts_know_a_common_size_and_keep_quiet_about_one_seen_twice() {
        let mut sizes = SizeCounts::new();
        for i in 0..10_000 {
            let s = match i % 100 {
                0..=9 => 1.0,         // one surprise in ten is this size
                50 if i < 200 => 8.0, // this one came twice
                _ => 0.01,
            };
            sizes.add(s, 1e9);
        }
        let common = sizes.ln_frequency_at_least(1.0).exp();
        assert!((0.08..=0.101).contains(&common), "a size one in ten surprises had: {common}");
        assert_eq!(sizes.ln_frequency_at_least(8.0), f64::NEG_INFINITY, "two occurrences are no evidence");
        assert_eq!(sizes.ln_frequency_at_least(100.0), f64::NEG_INFINITY, "never seen");
        // Units halved: the same surprises now measure half as much.
        sizes.rescale(0.5);
        let after = sizes.ln_frequency_at_least(0.5).exp();
        assert!((after - common).abs() < 1e-9, "{after} after the units changed, {common} before");
    }

    #[test]
    fn size_counts_forget_over_their_horizon() {
        let mut sizes = SizeCounts::new();
        for i in 0..1_000 {
            sizes.add(if i < 500 { 1.0 } else { 0.01 }, 1e9);
        }
        let remembered = sizes.ln_frequency_at_least(1.0).exp();
        let mut forgetful = SizeCounts::new();
        for i in 0..1_000 {
            forgetful.add(if i < 500 { 1.0 } else { 0.01 }, 100.0);
        }
        let faded = forgetful.ln_frequency_at_least(1.0).exp();
        assert!(remembered > 0.4 && faded < 0.05, "{remembered} with a long horizon, {faded} with 100 records");
    }

    #[test]
    fn size_counts_follow_units_that_shrink_a_hundred_millionfold() {
        // A range that grows 2^26 times in steps of 16/17, as a ramping series' does: the same
        // surprise in the units of the day is still told from larger and smaller ones.
        let mut sizes = SizeCounts::new();
        let mut unit = 1.0;
        for step in 0..300 {
            for _ in 0..50 {
                sizes.add(0.01, 1e9);
            }
            for _ in 0..5 {
                sizes.add(0.05, 1e9);
            }
            if step < 299 {
                sizes.rescale(16.0 / 17.0);
                unit *= 16.0 / 17.0;
            }
        }
        assert!(unit < 1e-7, "units shrank {unit}");
        // Nothing near 5 in today's units was ever seen (the largest were 0.05): it must not
        // share a bin with the ordinary surprises of the day.
        assert_eq!(sizes.ln_frequency_at_least(5.0), f64::NEG_INFINITY, "a surprise 100 times the largest");
    }
}
