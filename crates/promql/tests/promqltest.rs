//! Runs Prometheus' own PromQL conformance scripts (`/work/shared/promqltest/*.test`)
//! against the engine and asserts a per-file floor of passing `eval` commands.
//!
//! Set `PROMQLTEST_VERBOSE=1` to list every failure, `PROMQLTEST_FILE=name` to run one file.

mod promqltest_support;

use std::path::PathBuf;

use promqltest_support::runner::{Outcome, run_script};

fn scripts_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/promqltest"))
}

/// The number of `eval` commands each script must pass (what the engine achieves today);
/// a regression fails the test. Native-histogram cases are skipped, not failed, when the
/// mismatch comes from series the runner could not load (see the runner).
const FLOORS: &[(&str, usize)] = &[
    ("aggregators.test", 153),
    ("at_modifier.test", 78),
    ("collision.test", 2),
    ("duration_expression.test", 8),
    ("extended_vectors.test", 30),
    ("fill-modifier.test", 46),
    ("functions.test", 378),
    ("histograms.test", 93),
    ("info.test", 1),
    ("limit.test", 15),
    ("literals.test", 25),
    ("name_label_dropping.test", 30),
    ("native_histograms.test", 14),
    ("operators.test", 207),
    ("range_queries.test", 17),
    ("selectors.test", 31),
    ("staleness.test", 17),
    ("start_timestamps.test", 4),
    ("subquery.test", 32),
    ("trig_functions.test", 19),
    ("type_and_unit.test", 58),
];

#[test]
fn promql_conformance() {
    let dir = scripts_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("promqltest scripts not found at {}; skipping", dir.display());
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let only = std::env::var("PROMQLTEST_FILE").ok();
    let verbose = std::env::var("PROMQLTEST_VERBOSE").is_ok();
    let mut regressions = Vec::new();
    let mut table = String::from("\nfile                          passed / total  (skipped)\n");
    let (mut all_pass, mut all_total, mut all_skip) = (0, 0, 0);
    let mut seen = Vec::new();
    for path in files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        seen.push(name.clone());
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let results = match run_script(&text) {
            Ok(r) => r,
            Err(e) => {
                regressions.push(format!("{name}: script did not parse: {e}"));
                continue;
            }
        };
        let passed = results.iter().filter(|r| r.outcome == Outcome::Pass).count();
        let skipped = results.iter().filter(|r| matches!(r.outcome, Outcome::Skip(_))).count();
        table.push_str(&format!("{name:<30}{passed:>6} / {:<6}  ({skipped})\n", results.len()));
        all_pass += passed;
        all_total += results.len();
        all_skip += skipped;
        if verbose {
            for r in &results {
                match &r.outcome {
                    Outcome::Fail(e) => eprintln!("FAIL {name}:{} {}\n     {e}", r.line, r.expr),
                    Outcome::Skip(why) => eprintln!("SKIP {name}:{} {} ({why})", r.line, r.expr),
                    Outcome::Pass => {}
                }
            }
        }
        let floor = FLOORS.iter().find(|(f, _)| *f == name).map_or(0, |(_, n)| *n);
        if passed < floor {
            regressions.push(format!("{name}: {passed} passed, floor is {floor}"));
        }
    }
    table.push_str(&format!("{:<30}{all_pass:>6} / {all_total:<6}  ({all_skip})\n", "TOTAL"));
    if only.is_none() {
        for (f, _) in FLOORS {
            if !seen.iter().any(|s| s == f) {
                regressions.push(format!("{f}: script missing"));
            }
        }
    }
    println!("{table}");
    assert!(regressions.is_empty(), "conformance regressions:\n{}", regressions.join("\n"));
}
