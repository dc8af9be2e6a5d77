//! The metrics give the reference scorer's numbers (`../shared/kpi/score_kpi.py`, run here
//! with Python and numpy) within 1e-9, on real series of the corpus and on outputs made to be
//! awkward: many tied scores, all-zero scores, a baseline's dense scores. Skips when the
//! corpus, Python or numpy is missing, unless `AUTONOMIC_REQUIRE_KPI_SCORER=1` (as CI sets).

use std::path::{Path, PathBuf};
use std::process::Command;

use kpi::metrics;
use serde_json::Value;

fn corpus() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/kpi"))
}

fn available() -> bool {
    let numpy = Command::new("python3").args(["-c", "import numpy"]).status().is_ok_and(|s| s.success());
    let ok = numpy && corpus().join("score_kpi.py").is_file() && corpus().join("wsd-dev").is_dir();
    if !ok {
        assert!(
            std::env::var("AUTONOMIC_REQUIRE_KPI_SCORER").is_err(),
            "the KPI corpus, python3 and numpy are required (AUTONOMIC_REQUIRE_KPI_SCORER is set)"
        );
        eprintln!("skipped: needs ../shared/kpi, python3 and numpy");
    }
    ok
}

/// Deterministic uniforms in [0, 1).
fn uniforms(seed: u64) -> impl FnMut() -> f64 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Scores for one series under the given recipe.
fn scores(recipe: &str, series: &kpi::Series) -> Vec<f64> {
    let n = series.values.len();
    match recipe {
        "ewma" => kpi::baselines::run("ewma", &series.timestamps, &series.values).expect("ewma"),
        // Ten distinct values: ties everywhere.
        "coarse" => {
            let mut u = uniforms(n as u64);
            (0..n).map(|_| (u() * 10.0).floor() / 10.0).collect()
        }
        // Mostly zero, with a few high scores near the labels (and some far from them).
        "sparse" => {
            let mut u = uniforms(7 + n as u64);
            (0..n)
                .map(|i| {
                    let near = series.labels[i.saturating_sub(3)..(i + 1).min(n)].contains(&1);
                    let r = u();
                    if (near && r < 0.3) || r < 0.002 { 0.5 + r / 2.0 } else { 0.0 }
                })
                .collect()
        }
        _ => vec![0.0; n],
    }
}

fn write_csv(path: &Path, header: &str, rows: impl Iterator<Item = String>) {
    let mut text = format!("{header}\n");
    for r in rows {
        text.push_str(&r);
        text.push('\n');
    }
    std::fs::write(path, text).expect("write");
}

fn close(a: Option<f64>, b: &Value, what: &str) {
    match (a, b.as_f64()) {
        (None, None) => {}
        (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-9, "{what}: ours {x}, the script's {y}"),
        _ => panic!("{what}: ours {a:?}, the script's {b}"),
    }
}

#[test]
fn kpi_metrics_give_the_reference_scorers_numbers() {
    if !available() {
        return;
    }
    let all = kpi::load_set(&corpus().join("wsd-dev")).expect("corpus");
    // A few series with anomalies and one without, kept short enough for a quick test.
    let mut picked: Vec<kpi::Series> = all.series.iter().filter(|s| s.labels.contains(&1)).take(4).cloned().collect();
    picked.extend(all.series.iter().filter(|s| !s.labels.contains(&1)).take(1).cloned());
    for recipe in ["ewma", "coarse", "sparse", "zero"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (truth, pred) = (dir.path().join("truth/s"), dir.path().join("pred/s"));
        std::fs::create_dir_all(&truth).expect("mkdir");
        std::fs::create_dir_all(&pred).expect("mkdir");
        let mut per = Vec::new();
        for s in &picked {
            let sc = scores(recipe, s);
            let file = format!("{}.csv", s.name);
            let rows = s.timestamps.iter().zip(&s.values).zip(&s.labels);
            write_csv(
                &truth.join(&file),
                "timestamp,value,label",
                rows.clone().map(|((t, v), l)| format!("{t},{v:?},{l}")),
            );
            let out = rows.zip(&sc).map(|(((t, v), _), x)| format!("{t},{v:?},{x:?}"));
            write_csv(&pred.join(&file), "timestamp,value,anomaly_score", out);
            per.push(metrics::score_series(&s.timestamps, &s.labels, &sc, 0.5, 7));
        }
        let json = dir.path().join("run.json");
        let status = Command::new("python3")
            .arg(corpus().join("score_kpi.py"))
            .arg(dir.path().join("pred"))
            .args(["--truth"])
            .arg(dir.path().join("truth"))
            .args(["--sets", "s", "--json"])
            .arg(&json)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("python3");
        assert!(status.success(), "score_kpi.py failed on {recipe}");
        let theirs: Value = serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("parse");
        let set = &theirs["sets"]["s"];
        let ours = metrics::summarize(&per, 0.5);
        let sm = &set["summary"];
        let what = |k: &str| format!("{recipe}: {k}");
        close(ours.ap, &sm["ap_mean"], &what("AP"));
        close(ours.f1_best_d7_mean, &sm["f1_best_d7_mean"], &what("F1*-d7 mean"));
        close(ours.f1_best_d7_pooled, &sm["f1_best_d7_pooled"], &what("F1*-d7 pooled"));
        close(ours.f1_d7_at_thr, &sm["f1_d7_at_thr_pooled"], &what("F1-d7@thr"));
        close(ours.event_recall_at_thr, &sm["event_recall_pooled"], &what("event recall"));
        close(ours.recall_d7_at_thr, &sm["event_recall_d7_pooled"], &what("recall-d7"));
        close(ours.fa_per_1k_at_thr, &sm["fa_per_1k_pooled"], &what("FA/1k"));
        for (s, mine) in picked.iter().zip(&per) {
            let theirs = &set["series"][&s.name];
            close(mine.ap, &theirs["ap"], &what(&format!("{} AP", s.name)));
            close(mine.f1_best_d7, &theirs["f1_best_d7"], &what(&format!("{} F1*", s.name)));
            assert_eq!(Some(mine.false_alarms as u64), theirs["false_alarms"].as_u64(), "{recipe} {}", s.name);
            assert_eq!(Some(mine.events as u64), theirs["events"].as_u64(), "{recipe} {}", s.name);
        }
    }
}

#[test]
fn kpi_baselines_score_as_the_reference_baselines_do() {
    if !available() {
        return;
    }
    let all = kpi::load_set(&corpus().join("wsd-dev")).expect("corpus");
    // Short series keep the script quick; the seasonal one needs a season in its prefix.
    let mut picked: Vec<&kpi::Series> = all.series.iter().collect();
    picked.sort_by_key(|s| s.values.len());
    let picked = &picked[..3];
    let dir = tempfile::tempdir().expect("tempdir");
    let truth = dir.path().join("truth/s");
    std::fs::create_dir_all(&truth).expect("mkdir");
    for s in picked {
        let rows = s.timestamps.iter().zip(&s.values).zip(&s.labels);
        write_csv(
            &truth.join(format!("{}.csv", s.name)),
            "timestamp,value,label",
            rows.map(|((t, v), l)| format!("{t},{v:?},{l}")),
        );
    }
    let status = Command::new("python3")
        .arg(corpus().join("baselines.py"))
        .arg("--truth")
        .arg(dir.path().join("truth"))
        .arg("--out")
        .arg(dir.path().join("out"))
        .args(["--sets", "s", "--detectors", "ewma,mad,seasonal", "--jobs", "1"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3");
    assert!(status.success(), "baselines.py failed");
    for name in kpi::baselines::NAMES {
        for s in picked {
            let theirs =
                std::fs::read_to_string(dir.path().join(format!("out/{name}/s/{}.csv", s.name))).expect("output");
            let ours = kpi::baselines::run(name, &s.timestamps, &s.values).expect("baseline");
            let theirs: Vec<f64> = theirs
                .lines()
                .skip(1)
                .map(|l| l.rsplit(',').next().and_then(|x| x.parse().ok()).expect("score"))
                .collect();
            assert_eq!(ours.len(), theirs.len(), "{name} {}", s.name);
            // The script writes 10 significant digits.
            let worst = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-8, "{name} on {}: scores differ by up to {worst}", s.name);
        }
    }
}
