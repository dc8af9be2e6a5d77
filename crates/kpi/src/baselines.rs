//! The three simple streaming baselines of `baselines.py`, re-implemented with the same
//! parameters (none tuned on labels): each scores record `t` from records `0..t` and `t`
//! itself, and maps a z-score to `[0, 1]` with `tanh(z · atanh(0.5) / 4)`, so z = 4 is 0.5.
//!
//! - `ewma`: z against an exponentially weighted mean and variance (alpha 0.02); 30 records
//!   of warm-up score 0.
//! - `mad`: robust z against the median and 1.4826 · MAD of the previous 288 records (an
//!   expanding window before that, from 30); the window's standard deviation when MAD is 0.
//! - `seasonal`: the seasonal-naive residual `x(t) − x(t − P)`, then the ewma z-score of it;
//!   `P` from the autocorrelation of the first 20 % of the series (none if its peak after the
//!   first zero crossing is under 0.3); lag-1 residuals before and without a season.

/// The baselines by name, in the order the bench prints them.
pub const NAMES: [&str; 3] = ["ewma", "mad", "seasonal"];

const Z_HALF: f64 = 4.0;
const ALPHA: f64 = 0.02;
const WARMUP: usize = 30;
const MAD_WINDOW: usize = 288;
const MAD_MIN: usize = 30;
const SEASON_PREFIX: f64 = 0.2;
const SEASON_MIN_ACF: f64 = 0.3;

/// Scores of the baseline `name` for a whole series; `None` for an unknown name.
pub fn run(name: &str, ts: &[i64], x: &[f64]) -> Option<Vec<f64>> {
    let z = match name {
        "ewma" => ewma_z(x),
        "mad" => mad_z(x),
        "seasonal" => seasonal_z(ts, x),
        _ => return None,
    };
    Some(z.into_iter().map(z_to_score).collect())
}

fn z_to_score(z: f64) -> f64 {
    let k = 0.5f64.atanh() / Z_HALF;
    let s = (z * k).tanh();
    if s.is_nan() { 0.0 } else { s.clamp(0.0, 1.0) }
}

/// z of each `x[t]` against the exponentially weighted mean and variance of `x[..t]`.
fn ewma_z(x: &[f64]) -> Vec<f64> {
    let mut z = vec![0.0; x.len()];
    let Some(&first) = x.first() else { return z };
    let (mut m, mut v): (f64, f64) = (first, 0.0);
    for t in 1..x.len() {
        let d = x[t] - m;
        if t >= WARMUP {
            let sd = v.sqrt();
            let floor = 1e-9 * (1.0 + m.abs());
            z[t] = d.abs() / if sd > floor { sd } else { floor };
        }
        m += ALPHA * d;
        v = (1.0 - ALPHA) * (v + ALPHA * d * d);
    }
    z
}

/// The median of `v` (reordered), the mean of the middle two for an even count.
fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    let mid = n / 2;
    let (_, upper, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return upper;
    }
    let lower = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lower + upper) / 2.0
}

fn mad_z(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut z = vec![0.0; n];
    let mut scratch = Vec::with_capacity(MAD_WINDOW);
    for t in MAD_MIN..n {
        let window = &x[t.saturating_sub(MAD_WINDOW)..t];
        scratch.clear();
        scratch.extend_from_slice(window);
        let med = median(&mut scratch);
        for v in scratch.iter_mut() {
            *v = (*v - med).abs();
        }
        let mut scale = 1.4826 * median(&mut scratch);
        if scale <= 1e-12 * (1.0 + med.abs()) {
            let mean = window.iter().sum::<f64>() / window.len() as f64;
            scale = (window.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / window.len() as f64).sqrt();
        }
        z[t] = (x[t] - med).abs() / scale.max(1e-9 * (1.0 + med.abs()));
    }
    z
}

/// The season in seconds, from a prefix laid on its regular grid (gaps forward-filled):
/// the autocorrelation's highest peak after its first zero crossing, if at least 0.3.
fn estimate_season(ts: &[i64], x: &[f64]) -> Option<i64> {
    if ts.len() < 16 {
        return None;
    }
    let mut gaps: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    let mid = gaps.len() / 2;
    let step = if gaps.len() % 2 == 1 { gaps[mid] as f64 } else { (gaps[mid - 1] + gaps[mid]) as f64 / 2.0 };
    let step = step.trunc() as i64;
    if step <= 0 {
        return None;
    }
    let idx = |t: i64| ((t - ts[0]).div_euclid(step)) as usize;
    let n = idx(ts[ts.len() - 1]) + 1;
    if n > 4 * ts.len() {
        return None;
    }
    let mut g = vec![f64::NAN; n];
    for (t, v) in ts.iter().zip(x) {
        g[idx(*t)] = *v;
    }
    for i in 1..n {
        if g[i].is_nan() {
            g[i] = g[i - 1];
        }
    }
    let mean = g.iter().sum::<f64>() / n as f64;
    g.iter_mut().for_each(|v| *v -= mean);
    if g.iter().all(|v| *v == 0.0) {
        return None;
    }
    let max_lag = n / 2;
    if max_lag < 4 {
        return None;
    }
    let acf_at = |k: usize| g[..n - k].iter().zip(&g[k..]).map(|(a, b)| a * b).sum::<f64>();
    let zero = acf_at(0);
    let acf: Vec<f64> = (0..max_lag).map(|k| acf_at(k) / zero).collect();
    let first = (1..max_lag).find(|k| acf[*k] <= 0.0)?;
    let mut lag = first;
    for k in first..max_lag {
        if acf[k] > acf[lag] {
            lag = k;
        }
    }
    (acf[lag] >= SEASON_MIN_ACF).then_some(lag as i64 * step)
}

fn seasonal_z(ts: &[i64], x: &[f64]) -> Vec<f64> {
    let n = x.len();
    if n == 0 {
        return Vec::new();
    }
    let cut = ((n as f64 * SEASON_PREFIX) as usize).max(1);
    let period = estimate_season(&ts[..cut.min(n)], &x[..cut.min(n)]);
    let end1 = if period.is_none() { n } else { cut.min(n) };
    let lag1: Vec<f64> = (0..end1).map(|i| if i == 0 { 0.0 } else { x[i] - x[i - 1] }).collect();
    let mut z = ewma_z(&lag1);
    if let Some(p) = period
        && cut < n
    {
        let residual: Vec<f64> = (cut..n)
            .map(|t| {
                // The latest record at or before t − P; the previous record if none.
                let reference = ts.partition_point(|s| *s <= ts[t] - p).checked_sub(1).unwrap_or(t - 1);
                x[t] - x[reference]
            })
            .collect();
        z.extend(ewma_z(&residual));
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z_four_scores_one_half() {
        assert!((z_to_score(4.0) - 0.5).abs() < 1e-12);
        assert_eq!(z_to_score(0.0), 0.0);
        assert!(z_to_score(f64::INFINITY) <= 1.0);
    }

    #[test]
    fn medians_average_the_middle_pair() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn a_daily_cycle_is_found_from_the_prefix() {
        let ts: Vec<i64> = (0..10_000).map(|i| i * 60).collect();
        let x: Vec<f64> = ts.iter().map(|t| (*t as f64 * std::f64::consts::TAU / 86_400.0).sin()).collect();
        let cut = 2_000;
        assert_eq!(estimate_season(&ts[..cut], &x[..cut]), None, "under a day of prefix, no full period");
        let x: Vec<f64> = ts.iter().map(|t| (*t as f64 * std::f64::consts::TAU / 3_600.0).sin()).collect();
        assert_eq!(estimate_season(&ts[..cut], &x[..cut]), Some(3_600));
    }

    #[test]
    fn every_baseline_flags_a_spike_on_noise() {
        let ts: Vec<i64> = (0..2_000).map(|i| i * 60).collect();
        let x: Vec<f64> = (0..2_000).map(|i| if i == 1_500 { 50.0 } else { ((i * 7919) % 13) as f64 }).collect();
        for name in NAMES {
            let s = run(name, &ts, &x).expect("baseline");
            assert!(s[1_500] >= 0.5, "{name} scored the spike {}", s[1_500]);
            assert!(s.iter().all(|v| (0.0..=1.0).contains(v)), "{name}");
        }
        assert!(run("nope", &ts, &x).is_none());
    }
}
