//! Shape novelty: the last few normalised values form a shape; a bounded set of prototype
//! shapes learns what the series looks like; a shape far from every prototype is novel, and
//! its distance is the surprise. Familiar shapes score 0.

use super::predictors::Surprise;
use super::stats::Ring;

/// Values per shape.
const WIDTH: usize = 8;
/// Prototypes kept; the least recently matched one is replaced when full.
const CAPACITY: usize = 256;
/// Mean absolute distance (in normalised units) beyond which a shape is new.
const VIGILANCE: f64 = 0.02;
/// How far a matched prototype moves toward the shape it matched.
const RATE: f32 = 0.1;

pub(crate) struct Novelty {
    recent: Ring,
    protos: Vec<f32>,
    last_used: Vec<u64>,
    count: usize,
    t: u64,
    feature: [f32; WIDTH],
}

impl Novelty {
    pub(crate) fn new() -> Self {
        Self {
            recent: Ring::new(WIDTH),
            protos: vec![0.0; CAPACITY * WIDTH],
            last_used: vec![0; CAPACITY],
            count: 0,
            t: 0,
            feature: [0.0; WIDTH],
        }
    }

    fn distance(&self, k: usize) -> f64 {
        let p = &self.protos[k * WIDTH..(k + 1) * WIDTH];
        let d: f32 = p.iter().zip(&self.feature).map(|(a, b)| (a - b).abs()).sum();
        f64::from(d) / WIDTH as f64
    }
}

impl Surprise for Novelty {
    fn surprise(&mut self, x: f64) -> f64 {
        self.recent.push(x);
        if !self.recent.is_full() {
            return 0.0;
        }
        self.t += 1;
        for (slot, v) in self.feature.iter_mut().zip(self.recent.iter()) {
            *slot = v as f32;
        }
        let (best, d) = (0..self.count)
            .map(|k| (k, self.distance(k)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, f64::INFINITY));
        if d > VIGILANCE {
            let slot = if self.count < CAPACITY {
                self.count += 1;
                self.count - 1
            } else {
                (0..CAPACITY).min_by_key(|k| self.last_used[*k]).unwrap_or(0)
            };
            self.protos[slot * WIDTH..(slot + 1) * WIDTH].copy_from_slice(&self.feature);
            self.last_used[slot] = self.t;
            if d.is_finite() { d } else { 0.0 }
        } else {
            for (p, f) in self.protos[best * WIDTH..(best + 1) * WIDTH].iter_mut().zip(&self.feature) {
                *p += RATE * (f - *p);
            }
            self.last_used[best] = self.t;
            d
        }
    }

    fn bytes(&self) -> usize {
        self.recent.bytes() + self.protos.capacity() * 4 + self.last_used.capacity() * 8 + std::mem::size_of::<Self>()
    }
}
