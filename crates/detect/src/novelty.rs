//! State novelty: the recent past of the series, at two time scales, is its *state*: the
//! last few normalised values (the fine part) and the means of the last few blocks of values
//! (the coarse part, a level over a longer stretch). A bounded set of prototype states learns
//! what the series looks like: a state near a prototype pulls it a little toward itself; a
//! state far from every prototype becomes a prototype. The surprise is the distance to the
//! nearest prototype, so a familiar state scores 0 and a spike, a level never seen before
//! or a shift held for a block or two scores by how far it is from anything seen.
//!
//! The distance is the larger of the mean absolute distances of the fine and the coarse
//! parts, so a change shows at whichever scale it is clearest.

use super::predictors::Surprise;
use super::stats::{Rescale, Ring};

/// Values in the fine part of a state.
const FINE: usize = 3;
/// Values averaged into one block of the coarse part (at most; see [`block_for`]).
const BLOCK: usize = 24;
/// The shortest block, for series with a very short probation.
const MIN_BLOCK: usize = 4;
/// Block means in the coarse part.
const COARSE: usize = 2;
/// The block length for a series learnt for `probation` records: [`BLOCK`], unless the
/// probation is too short to fill the state a few times over, so that a series with a short
/// probation can be scored soon after it (a probation of 30 gives blocks of 7, a state full
/// after 17 records).
pub(crate) fn block_for(probation: usize) -> usize {
    (probation / 4).clamp(MIN_BLOCK, BLOCK)
}

/// Records a value can stay part of the state (a full block may be pending): one change
/// shows as novel states for up to this long.
pub(crate) fn memory_span(block: usize) -> usize {
    FINE + block * (COARSE + 1)
}
/// Values per state.
const DIM: usize = FINE + COARSE;
/// Prototypes kept; the least recently matched one is replaced when full.
const CAPACITY: usize = 512;
/// Distance (in normalised units) beyond which a state is new.
const VIGILANCE: f64 = 0.02;
/// Normalised values are clamped to ±LIMIT (ranges are about `[0, 1]`): far outside the
/// range every value is equally new.
pub(crate) const LIMIT: f64 = 1e3;
/// How far a matched prototype moves toward the state it matched (it follows about its last
/// twenty matches, so a slowly changing normal keeps one prototype rather than spawning new
/// ones, while a prototype seen once stays close to what was seen).
const RATE: f32 = 0.05;

#[derive(Clone)]
pub(crate) struct Novelty {
    recent: Ring,
    blocks: Ring,
    block_sum: f64,
    block_len: usize,
    block: usize,
    protos: Prototypes,
    last_used: Vec<u64>,
    t: u64,
}

impl Novelty {
    /// A detector averaging `block` values into each coarse block.
    pub(crate) fn new(block: usize) -> Self {
        Self {
            recent: Ring::new(FINE),
            blocks: Ring::new(COARSE),
            block_sum: 0.0,
            block_len: 0,
            block: block.max(1),
            protos: Prototypes::with_capacity(CAPACITY),
            last_used: Vec::with_capacity(CAPACITY),
            t: 0,
        }
    }

    /// Every remembered value, in order: the state, the pending block's mean and the
    /// prototypes.
    #[cfg(test)]
    pub(crate) fn memory(&self) -> Vec<f64> {
        let mut out: Vec<f64> = self.state().iter().map(|v| f64::from(*v)).collect();
        out.push(self.block_sum / self.block_len.max(1) as f64);
        out.extend(self.protos.cols.iter().flatten().map(|v| f64::from(*v)));
        out
    }

    fn state(&self) -> [f32; DIM] {
        let mut s = [0.0; DIM];
        for (slot, v) in s.iter_mut().zip(self.recent.iter().chain(self.blocks.iter())) {
            *slot = v as f32;
        }
        s
    }
}

/// The distance between a prototype and a state: the larger of the mean absolute distances
/// of the fine and the coarse parts. (The search computes it lane by lane; this is its
/// definition, for the tests.)
#[cfg(test)]
fn distance(p: &[f32; DIM], s: &[f32; DIM]) -> f64 {
    // Sums in f32 from 0, in order, as an iterator's `sum` would; then the mean in f64.
    let mut fine = 0.0f32;
    for i in 0..FINE {
        fine += (p[i] - s[i]).abs();
    }
    let mut coarse = 0.0f32;
    for i in FINE..DIM {
        coarse += (p[i] - s[i]).abs();
    }
    (f64::from(fine) / FINE as f64).max(f64::from(coarse) / COARSE as f64)
}

/// The prototype states, one column per dimension, so that the nearest-prototype search
/// (the default detector's hot loop) runs over contiguous floats.
#[derive(Clone)]
struct Prototypes {
    cols: [Vec<f32>; DIM],
}

/// Prototypes measured per pass of the search (distances on the stack).
const SEARCH_CHUNK: usize = 64;

// The search spells out the three fine and two coarse columns.
const _: () = assert!(FINE == 3 && COARSE == 2);

impl Prototypes {
    fn with_capacity(n: usize) -> Self {
        Self { cols: std::array::from_fn(|_| Vec::with_capacity(n)) }
    }

    fn len(&self) -> usize {
        self.cols[0].len()
    }

    fn push(&mut self, s: &[f32; DIM]) {
        for (c, v) in self.cols.iter_mut().zip(s) {
            c.push(*v);
        }
    }

    fn set(&mut self, k: usize, s: &[f32; DIM]) {
        for (c, v) in self.cols.iter_mut().zip(s) {
            c[k] = *v;
        }
    }

    /// Moves prototype `k` a fraction `rate` of the way toward `s`.
    fn pull(&mut self, k: usize, s: &[f32; DIM], rate: f32) {
        for (c, v) in self.cols.iter_mut().zip(s) {
            c[k] += rate * (v - c[k]);
        }
    }

    /// The prototype nearest to `s` and its [`distance`] (the first of equals); `(0, ∞)`
    /// with none. Each lane computes exactly what [`distance`] does, in the same order.
    fn nearest(&self, s: &[f32; DIM]) -> (usize, f64) {
        let (mut best, mut d) = (0, f64::INFINITY);
        let mut distances = [0.0f64; SEARCH_CHUNK];
        let n = self.len();
        let mut start = 0;
        while start < n {
            let end = (start + SEARCH_CHUNK).min(n);
            let col = |j: usize| &self.cols[j][start..end];
            let (c0, c1, c2, c3, c4) = (col(0), col(1), col(2), col(3), col(4));
            for (i, out) in distances[..end - start].iter_mut().enumerate() {
                let fine = (c0[i] - s[0]).abs() + (c1[i] - s[1]).abs() + (c2[i] - s[2]).abs();
                let coarse = (c3[i] - s[3]).abs() + (c4[i] - s[4]).abs();
                *out = (f64::from(fine) / FINE as f64).max(f64::from(coarse) / COARSE as f64);
            }
            for (i, e) in distances[..end - start].iter().enumerate() {
                // (`<` keeps the first of equal distances; NaN never wins.)
                if *e < d {
                    best = start + i;
                    d = *e;
                }
            }
            start = end;
        }
        (best, d)
    }

    fn rescale(&mut self, r: Rescale) {
        for v in self.cols.iter_mut().flatten() {
            *v = r.apply(f64::from(*v)).clamp(-LIMIT, LIMIT) as f32;
        }
    }

    fn bytes(&self) -> usize {
        self.cols.iter().map(|c| c.capacity() * 4).sum::<usize>() + std::mem::size_of::<Self>()
    }
}

impl Surprise for Novelty {
    fn boxed_clone(&self) -> Box<dyn Surprise> {
        Box::new(self.clone())
    }

    fn surprise(&mut self, x: f64) -> f64 {
        // Far outside the expected range every state is equally new; keep f32 finite.
        let x = x.clamp(-LIMIT, LIMIT);
        self.recent.push(x);
        self.block_sum += x;
        self.block_len += 1;
        if self.block_len == self.block {
            self.blocks.push(self.block_sum / self.block as f64);
            self.block_sum = 0.0;
            self.block_len = 0;
        }
        if !(self.recent.is_full() && self.blocks.is_full()) {
            return f64::NAN;
        }
        self.t += 1;
        let state = self.state();
        let (best, d) = self.protos.nearest(&state);
        if d > VIGILANCE {
            if self.protos.len() < CAPACITY {
                self.protos.push(&state);
                self.last_used.push(self.t);
            } else {
                let slot = (0..CAPACITY).min_by_key(|k| self.last_used[*k]).unwrap_or(0);
                self.protos.set(slot, &state);
                self.last_used[slot] = self.t;
            }
        } else {
            self.protos.pull(best, &state, RATE);
            self.last_used[best] = self.t;
        }
        if d.is_finite() { d } else { 0.0 }
    }

    /// Distances to what has been seen mean the same from the first state on.
    fn trusted_from_start(&self) -> bool {
        true
    }

    /// Values clamped to ±[`LIMIT`] in the old units stay where the clamp put them: a spike
    /// more than a thousand times the range before it is remembered smaller than it was.
    fn rescale(&mut self, r: Rescale) -> f64 {
        self.recent.rescale(r);
        self.blocks.rescale(r);
        self.block_sum = r.scale * self.block_sum + r.shift * self.block_len as f64;
        self.protos.rescale(r);
        // Distances are differences of values.
        r.scale.abs()
    }

    fn bytes(&self) -> usize {
        self.recent.bytes()
            + self.blocks.bytes()
            + self.protos.bytes()
            + self.last_used.capacity() * 8
            + std::mem::size_of::<Self>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_finds_the_nearest_prototype_at_its_exact_distance() {
        let mut x: u32 = 12345;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 1000) as f32 / 997.0
        };
        let mut protos = Prototypes::with_capacity(CAPACITY);
        let mut plain: Vec<[f32; DIM]> = Vec::new();
        for n in 0..300 {
            let p: [f32; DIM] = std::array::from_fn(|_| next());
            protos.push(&p);
            plain.push(p);
            if n % 3 == 0 {
                // A duplicate: the first of equals must win.
                protos.push(&p);
                plain.push(p);
            }
            let s: [f32; DIM] = std::array::from_fn(|_| next());
            let want = plain
                .iter()
                .enumerate()
                .map(|(k, p)| (k, distance(p, &s)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .expect("some");
            let got = protos.nearest(&s);
            assert_eq!((got.0, got.1.to_bits()), (want.0, want.1.to_bits()), "with {} prototypes", plain.len());
        }
        assert_eq!(Prototypes::with_capacity(4).nearest(&[0.0; DIM]), (0, f64::INFINITY));
    }

    #[test]
    fn rescaling_moves_every_remembered_value_to_its_place_in_the_new_units() {
        let mut n = Novelty::new(5);
        for i in 0..203 {
            n.surprise(0.3 + 0.2 * (f64::from(i) / 7.0).sin());
        }
        assert!(n.block_len > 0 && n.protos.len() > 10, "the test needs a pending block and prototypes");
        let before = n.memory();
        let r = Rescale { scale: 0.5, shift: 0.25 };
        assert_eq!(n.rescale(r), 0.5);
        for (old, new) in before.iter().zip(n.memory()) {
            assert!((r.apply(*old) - new).abs() < 1e-6, "{old} became {new}, not {}", r.apply(*old));
        }
    }
}
