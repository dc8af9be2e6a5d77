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
    let flagged_spike = stderr.lines().any(|l| l.contains("value 5000"));
    assert!(flagged_spike, "the spike is flagged:\n{stderr}");
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
