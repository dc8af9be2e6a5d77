//! Shape novelty. The series is summarised in blocks (each block keeps its extreme when it
//! stands out from the block's mean, so a spike survives), normalised by the range,
//! quantised, and small wobbles around the running median are flattened. The last `width`
//! summaries form a feature: their shape (rescaled to [0, 1]) and their level. A bounded set
//! of prototype features learns what the series looks like; a feature far from every
//! prototype is novel — the rarer the novelty, the larger the surprise.

use super::Prior;
use super::ensemble::{env_f64, env_usize};
use super::predictors::Surprise;
use super::stats::Ring;

const LEVELS: usize = 80;

pub(crate) struct Novelty {
    width: usize,
    block: usize,
    block_vals: Vec<f64>,
    moving: Option<f64>,
    hist: [u32; LEVELS + 1],
    hist_n: u32,
    dead_zone: f64,
    recent: Ring,
    protos: Vec<f32>,
    last_used: Vec<u64>,
    count: usize,
    capacity: usize,
    vigilance: f64,
    rate: f32,
    t: u64,
    feature: Vec<f32>,
    spike_min: f64,
}

impl Novelty {
    pub(crate) fn new(prior: &Prior) -> Self {
        let width = env_usize("NOV_W", 8).max(2);
        let capacity = env_usize("NOV_K", 256).max(4);
        let per_probation = env_usize("NOV_BLOCKS", 13).max(1);
        let block = (prior.probation / (width * per_probation)).max(1);
        let block = env_usize("NOV_AGG", block).max(1);
        Self {
            width,
            block,
            block_vals: Vec::with_capacity(block),
            moving: None,
            hist: [0; LEVELS + 1],
            hist_n: 0,
            dead_zone: env_f64("NOV_CHOMP", 0.075),
            recent: Ring::new(width),
            protos: vec![0.0; capacity * width * 2],
            last_used: vec![0; capacity],
            count: 0,
            capacity,
            vigilance: env_f64("NOV_RHO", 0.05),
            rate: env_f64("NOV_LR", 0.1) as f32,
            t: 0,
            feature: vec![0.0; width * 2],
            spike_min: env_f64("NOV_SPIKE", 0.02),
        }
    }

    /// The block's representative: its mean, or its extreme when that stands out.
    fn summarise(&mut self) -> f64 {
        let n = self.block_vals.len().max(1) as f64;
        let mean = self.block_vals.iter().sum::<f64>() / n;
        let hi = self.block_vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lo = self.block_vals.iter().copied().fold(f64::INFINITY, f64::min);
        let moving = self.moving.map_or(mean, |m| (m + mean) / 2.0);
        self.moving = Some(moving);
        let extreme = if (hi - moving).abs() >= (lo - moving).abs() { hi } else { lo };
        if (extreme - mean).abs() >= self.spike_min { extreme } else { mean }
    }

    /// Quantises to `LEVELS` and pulls values near the running median onto it.
    fn level(&mut self, x: f64) -> f64 {
        let level = (x.clamp(0.0, 1.0) * LEVELS as f64).round() as usize;
        self.hist[level] += 1;
        self.hist_n += 1;
        let mut below = 0u32;
        let mut median = 0usize;
        for (i, c) in self.hist.iter().enumerate() {
            below += c;
            if below * 2 >= self.hist_n {
                median = i;
                break;
            }
        }
        let q = level as f64 / LEVELS as f64;
        let m = median as f64 / LEVELS as f64;
        if (q - m).abs() < self.dead_zone { m } else { q }
    }

    fn distance(&self, k: usize) -> f64 {
        let dim = self.width * 2;
        let p = &self.protos[k * dim..(k + 1) * dim];
        let mut d = 0.0f32;
        for (a, b) in p.iter().zip(&self.feature) {
            d += (a - b).abs();
        }
        f64::from(d) / dim as f64
    }
}

impl Surprise for Novelty {
    fn surprise(&mut self, x: f64) -> f64 {
        self.block_vals.push(x);
        if self.block_vals.len() < self.block {
            return 0.0;
        }
        let summary = self.summarise();
        self.block_vals.clear();
        let level = self.level(summary);
        self.recent.push(level);
        if !self.recent.is_full() {
            return 0.0;
        }
        self.t += 1;
        let w = self.width;
        let values: Vec<f64> = self.recent.iter().collect();
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        for (i, v) in values.iter().enumerate() {
            self.feature[i] = if hi > lo { ((v - lo) / (hi - lo)) as f32 } else { 0.0 };
            self.feature[w + i] = *v as f32;
        }
        let (best, d) = (0..self.count)
            .map(|k| (k, self.distance(k)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, f64::INFINITY));
        let dim = w * 2;
        if d > self.vigilance {
            let slot = if self.count < self.capacity {
                self.count += 1;
                self.count - 1
            } else {
                (0..self.capacity).min_by_key(|k| self.last_used[*k]).unwrap_or(0)
            };
            self.protos[slot * dim..(slot + 1) * dim].copy_from_slice(&self.feature);
            self.last_used[slot] = self.t;
            if d.is_finite() { d } else { 0.0 }
        } else {
            let rate = self.rate;
            for (p, f) in self.protos[best * dim..(best + 1) * dim].iter_mut().zip(&self.feature) {
                *p += rate * (f - *p);
            }
            self.last_used[best] = self.t;
            0.0
        }
    }

    fn bytes(&self) -> usize {
        self.recent.bytes()
            + self.block_vals.capacity() * 8
            + self.protos.capacity() * 4
            + self.last_used.capacity() * 8
            + self.feature.capacity() * 4
            + std::mem::size_of::<Self>()
    }
}
