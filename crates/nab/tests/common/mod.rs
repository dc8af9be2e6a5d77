//! Helpers shared by the integration tests: the shared NAB folder and its golden files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nab::{Corpus, Profile};

/// `/work/shared/nab`, located relative to this crate.
pub fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/nab"))
}

/// The corpus, loaded once per test binary.
pub fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| match Corpus::load(&root()) {
        Ok(c) => c,
        Err(e) => panic!("cannot load the NAB corpus from {}: {e}", root().display()),
    })
}

/// ARTime's golden per-row scores, in corpus order.
pub fn artime_scores() -> &'static Vec<Vec<f64>> {
    static SCORES: OnceLock<Vec<Vec<f64>>> = OnceLock::new();
    SCORES.get_or_init(|| {
        let dir = root().join("golden").join("ARTime_anomaly_scores");
        corpus().load_scores(&dir, "").unwrap_or_else(|e| panic!("cannot load ARTime's scores: {e}"))
    })
}

/// NAB's three profiles, loaded from the shared folder.
pub fn profiles() -> Vec<Profile> {
    Profile::load_all(&root()).unwrap_or_else(|e| panic!("cannot load profiles: {e}"))
}

/// One row of a golden `<detector>_<profile>_scores.csv`.
#[derive(Debug, Clone)]
pub struct GoldenRow {
    pub file: String,
    pub threshold: Option<f64>,
    pub score: f64,
    pub tp: usize,
    pub tn: usize,
    pub fp: usize,
    pub fn_: usize,
    pub total: usize,
}

/// The per-file rows (in the file's order, which is NAB's directory-walk order) and the Totals row.
pub fn golden_scores(detector: &str, profile: &str) -> (Vec<GoldenRow>, GoldenRow) {
    let path =
        root().join("golden").join("scores_at_shipped_thresholds").join(format!("{detector}_{profile}_scores.csv"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("Detector,Profile,File,Threshold,Score,TP,TN,FP,FN,Total_Count"));
    let mut rows = Vec::new();
    let mut totals = None;
    for line in lines.filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 10, "{}: {line}", path.display());
        let num = |i: usize| f[i].parse::<usize>().unwrap_or_else(|e| panic!("{line}: {e}"));
        let row = GoldenRow {
            file: f[2].to_owned(),
            threshold: f[3].parse().ok(),
            score: f[4].parse().unwrap_or_else(|e| panic!("{line}: {e}")),
            tp: num(5),
            tn: num(6),
            fp: num(7),
            fn_: num(8),
            total: num(9),
        };
        if f[0] == "Totals" {
            totals = Some(row);
        } else {
            assert_eq!(f[0], detector);
            assert_eq!(f[1], profile);
            rows.push(row);
        }
    }
    (rows, totals.unwrap_or_else(|| panic!("{}: no Totals row", path.display())))
}

/// `name` → profile → number, from a golden/result JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The 16 detectors of `golden/scores_at_shipped_thresholds/`.
pub fn golden_detectors() -> Vec<String> {
    let dir = root().join("golden").join("scores_at_shipped_thresholds");
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix("_standard_scores.csv").map(str::to_owned))
        .collect();
    out.sort();
    out
}
