//! Cost profiles (`config/profiles.json`) and NAB's shipped thresholds (`config/thresholds.json`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::NabError;

/// A NAB cost matrix. `tnWeight` exists in NAB's file but is never used, so it is not kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// `standard`, `reward_low_FP_rate` or `reward_low_FN_rate` for NAB's three.
    pub name: String,
    /// Reward of the earliest detection in a window (A_TP).
    pub tp_weight: f64,
    /// Cost of a missed window (A_FN).
    pub fn_weight: f64,
    /// Cost of a false-positive row far from any window (A_FP).
    pub fp_weight: f64,
}

/// The names of NAB's profiles, in the order [`Profile::load_all`] returns them.
pub const PROFILE_NAMES: [&str; 3] = ["standard", "reward_low_FP_rate", "reward_low_FN_rate"];

#[derive(Deserialize)]
struct ProfileJson {
    #[serde(rename = "CostMatrix")]
    cost_matrix: CostMatrixJson,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CostMatrixJson {
    tp_weight: f64,
    fn_weight: f64,
    fp_weight: f64,
}

impl Profile {
    /// A profile with the given weights.
    pub fn new(name: impl Into<String>, tp_weight: f64, fn_weight: f64, fp_weight: f64) -> Self {
        Self { name: name.into(), tp_weight, fn_weight, fp_weight }
    }

    /// NAB's `standard` profile (A_TP 1, A_FN 1, A_FP 0.11).
    pub fn standard() -> Self {
        Self::new("standard", 1.0, 1.0, 0.11)
    }

    /// NAB's `reward_low_FP_rate` profile (A_TP 1, A_FN 1, A_FP 0.22).
    pub fn reward_low_fp_rate() -> Self {
        Self::new("reward_low_FP_rate", 1.0, 1.0, 0.22)
    }

    /// NAB's `reward_low_FN_rate` profile (A_TP 1, A_FN 2, A_FP 0.11).
    pub fn reward_low_fn_rate() -> Self {
        Self::new("reward_low_FN_rate", 1.0, 2.0, 0.11)
    }

    /// NAB's three profiles as built into this crate, in the order of [`PROFILE_NAMES`].
    pub fn nab() -> Vec<Self> {
        vec![Self::standard(), Self::reward_low_fp_rate(), Self::reward_low_fn_rate()]
    }

    /// Loads `root/config/profiles.json`: `standard`, `reward_low_FP_rate`, `reward_low_FN_rate` in that order
    /// (each must be present), then any other profile in name order. Weights must be finite and non-negative.
    pub fn load_all(root: &Path) -> Result<Vec<Self>, NabError> {
        let path = root.join("config").join("profiles.json");
        let text = std::fs::read_to_string(&path).map_err(|e| NabError::io(&path, e))?;
        let mut parsed: BTreeMap<String, ProfileJson> =
            serde_json::from_str(&text).map_err(|source| NabError::Json { path: path.clone(), source })?;
        let mut out = Vec::with_capacity(parsed.len());
        for name in PROFILE_NAMES {
            let Some(p) = parsed.remove(name) else {
                return Err(NabError::Profile {
                    name: name.into(),
                    message: format!("missing from {}", path.display()),
                });
            };
            out.push(Self::from_json(name, &p)?);
        }
        for (name, p) in &parsed {
            out.push(Self::from_json(name, p)?);
        }
        Ok(out)
    }

    fn from_json(name: &str, p: &ProfileJson) -> Result<Self, NabError> {
        let m = &p.cost_matrix;
        let profile = Self::new(name, m.tp_weight, m.fn_weight, m.fp_weight);
        for (what, w) in [("tpWeight", m.tp_weight), ("fnWeight", m.fn_weight), ("fpWeight", m.fp_weight)] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(NabError::Profile {
                    name: name.into(),
                    message: format!("{what} {w} is not a finite non-negative number"),
                });
            }
        }
        Ok(profile)
    }
}

/// A threshold NAB ships for one detector and profile, with the optimiser's pooled raw score.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub struct ShippedThreshold {
    /// The detection threshold (`anomaly_score >= threshold` is a detection).
    pub threshold: f64,
    /// The raw score the optimiser reported at that threshold.
    pub score: f64,
}

/// Loads `root/config/thresholds.json`: detector name → profile name → threshold.
pub fn load_thresholds(root: &Path) -> Result<BTreeMap<String, BTreeMap<String, ShippedThreshold>>, NabError> {
    let path = root.join("config").join("thresholds.json");
    let text = std::fs::read_to_string(&path).map_err(|e| NabError::io(&path, e))?;
    serde_json::from_str(&text).map_err(|source| NabError::Json { path, source })
}
