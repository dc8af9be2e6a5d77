//! Small streaming statistics with bounded state.

/// Exponentially weighted mean and variance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ewm {
    alpha: f64,
    mean: f64,
    var: f64,
    n: u64,
}

impl Ewm {
    /// Weight `alpha` for each new value (≈ 2/(span+1)).
    pub fn new(alpha: f64) -> Self {
        Self { alpha: alpha.clamp(1e-9, 1.0), mean: 0.0, var: 0.0, n: 0 }
    }

    /// With an effective memory of about `span` records.
    pub fn span(span: f64) -> Self {
        Self::new(2.0 / (span.max(1.0) + 1.0))
    }

    /// Adds a finite value.
    pub fn push(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        if self.n == 0 {
            self.mean = x;
            self.var = 0.0;
        } else {
            // Until the window fills, weight like a plain mean so early estimates are sane.
            let a = self.alpha.max(1.0 / (self.n as f64 + 1.0));
            let d = x - self.mean;
            self.mean += a * d;
            self.var = (1.0 - a) * (self.var + a * d * d);
            if !self.var.is_finite() || !self.mean.is_finite() {
                self.mean = x;
                self.var = 0.0;
            }
        }
        self.n = self.n.saturating_add(1);
    }

    /// The mean.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The standard deviation.
    pub fn std(&self) -> f64 {
        self.var.max(0.0).sqrt()
    }

    /// Values seen.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Re-expresses the statistics in new units, in which what was `x` is `r.apply(x)`.
    pub fn rescale(&mut self, r: Rescale) {
        self.mean = r.apply(self.mean);
        self.var *= r.scale * r.scale;
    }

    /// Re-expresses a statistic of magnitudes (such as a mean absolute residual), which an
    /// offset does not change.
    pub fn rescale_magnitude(&mut self, r: Rescale) {
        self.rescale(Rescale { scale: r.scale.abs(), shift: 0.0 });
    }
}

/// A change of the units values are measured in: what was `x` is now `scale·x + shift`
/// (the normalisation's range widened). Detectors re-express what they remember with it,
/// so that the old and the new stay comparable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rescale {
    /// Multiplies every value (and every difference between values).
    pub scale: f64,
    /// Added to every value after scaling.
    pub shift: f64,
}

impl Rescale {
    /// `x` in the new units.
    pub fn apply(&self, x: f64) -> f64 {
        self.scale * x + self.shift
    }
}

/// The last `N` values.
#[derive(Debug, Clone)]
pub struct Ring {
    buf: Vec<f64>,
    head: usize,
    len: usize,
}

impl Ring {
    /// A ring of `capacity` values.
    pub fn new(capacity: usize) -> Self {
        Self { buf: vec![0.0; capacity.max(1)], head: 0, len: 0 }
    }

    /// Appends, dropping the oldest when full.
    pub fn push(&mut self, x: f64) {
        self.buf[self.head] = x;
        self.head = (self.head + 1) % self.buf.len();
        self.len = (self.len + 1).min(self.buf.len());
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether full.
    pub fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    /// Capacity.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// The value `back` steps ago (0 = newest).
    pub fn ago(&self, back: usize) -> Option<f64> {
        if back >= self.len {
            return None;
        }
        let cap = self.buf.len();
        Some(self.buf[(self.head + cap - 1 - back) % cap])
    }

    /// Oldest to newest.
    pub fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        (0..self.len).rev().filter_map(move |b| self.ago(b))
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.buf.len() * std::mem::size_of::<f64>()
    }

    /// Re-expresses every held value in new units.
    pub fn rescale(&mut self, r: Rescale) {
        for v in &mut self.buf {
            *v = r.apply(*v);
        }
    }
}

/// A deterministic wobble in [-1, 1] for tests: the same `i` gives the same value.
#[cfg(test)]
pub(crate) fn wobble(i: u64) -> f64 {
    let x = (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

/// The median of a slice (copied and partially sorted), NaN-free input assumed.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    *m
}

/// Upper tail probability of the standard normal, `P(Z > z)`.
pub fn normal_tail(z: f64) -> f64 {
    if z.is_nan() {
        return 0.5;
    }
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' erfcc, |error| < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ewm_tracks_mean_and_spread() {
        let mut e = Ewm::span(100.0);
        for i in 0..10_000 {
            e.push(if i % 2 == 0 { 1.0 } else { 3.0 });
        }
        assert!((e.mean() - 2.0).abs() < 0.05, "{}", e.mean());
        assert!((e.std() - 1.0).abs() < 0.05, "{}", e.std());
        e.push(f64::NAN);
        assert!(e.mean().is_finite());
    }

    #[test]
    fn ring_keeps_the_last_values_in_order() {
        let mut r = Ring::new(3);
        for x in 1..=5 {
            r.push(x as f64);
        }
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![3.0, 4.0, 5.0]);
        assert_eq!(r.ago(0), Some(5.0));
        assert_eq!(r.ago(3), None);
    }

    #[test]
    fn normal_tail_matches_known_values() {
        assert!((normal_tail(0.0) - 0.5).abs() < 1e-6);
        assert!((normal_tail(1.96) - 0.025).abs() < 1e-4);
        assert!((normal_tail(-1.96) - 0.975).abs() < 1e-4);
        assert!(normal_tail(40.0) >= 0.0);
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 3.0);
    }
}
