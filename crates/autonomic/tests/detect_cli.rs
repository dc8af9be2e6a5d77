//! `autonomic detect` on a CSV of history: scores every row, reports malformed rows by line
//! and keeps going, and flags an obvious spike.

use std::process::Command;

#[test]
fn detect_scores_history_skips_bad_rows_and_flags_a_spike() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut csv = String::from("timestamp,value\n");
    for i in 0..1500u64 {
        let t = 1_700_000_000 + i * 60;
        let v = if i == 1200 { 5_000.0 } else { 100.0 + ((i * 7919) % 17) as f64 * 0.5 };
        csv.push_str(&format!("{t},{v}\n"));
        if i == 10 {
            csv.push_str("not-a-time,3\n");
        }
        if i == 20 {
            csv.push_str(&format!("{t},lots\n"));
        }
    }
    std::fs::write(dir.path().join("history.csv"), csv).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_autonomic"))
        .args(["detect", "history.csv", "--out", "scores.csv", "--probation", "200"])
        .current_dir(dir.path())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("history.csv:13: skipped: timestamp \"not-a-time\""), "{stderr}");
    assert!(stderr.contains("history.csv:24: skipped: value \"lots\" is not a finite number"), "{stderr}");
    assert!(stderr.contains("1500 rows scored"), "{stderr}");
    // The spike is on line 1202 (header and two skipped rows before it); the detector reports
    // a surprise once, when its peak has passed, a few rows later.
    let flagged: Vec<u64> = stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("line").and_then(|r| r.split_whitespace().next()?.parse().ok()))
        .collect();
    assert_eq!(flagged.len(), 1, "one report, the spike's:\n{stderr}");
    assert!((1202..=1212).contains(&flagged[0]), "the spike is flagged:\n{stderr}");
    let scores = std::fs::read_to_string(dir.path().join("scores.csv")).expect("scores");
    assert_eq!(scores.lines().count(), 1501);
    assert!(
        scores.lines().skip(1).all(|l| l
            .rsplit(',')
            .next()
            .and_then(|s| s.parse::<f64>().ok())
            .is_some_and(|s| (0.0..=1.0).contains(&s)))
    );
}
