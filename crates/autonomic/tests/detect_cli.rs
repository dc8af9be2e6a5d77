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
    // The spike (row 1,200, 1-based line 1201) is on line 1204 once the header and the two
    // skipped lines are counted: one alarm, starting there.
    let flagged: Vec<u64> = stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("line").and_then(|r| r.split_whitespace().next()?.parse().ok()))
        .collect();
    assert_eq!(flagged, vec![1204], "one alarm, the spike's:\n{stderr}");
    let scores = std::fs::read_to_string(dir.path().join("scores.csv")).expect("scores");
    let mut lines = scores.lines();
    assert_eq!(lines.next(), Some("timestamp,value,anomaly_score,alarm"));
    let rows: Vec<(f64, bool)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[2].parse().expect("score"), f[3] == "1")
        })
        .collect();
    assert_eq!(rows.len(), 1500);
    assert!(rows.iter().all(|(s, alarm)| (0.0..=1.0).contains(s) && *alarm == (*s >= 0.5)));
    // The score ranks: after probation, ordinary rows get scores of their own, below the alarm
    // level, not a flat 0; the spike outranks every one of them.
    let ordinary: Vec<f64> = rows[300..1190].iter().map(|r| r.0).collect();
    assert!(ordinary.iter().all(|s| *s < 0.5), "no ordinary row alarms");
    let distinct = {
        let mut v: Vec<u64> = ordinary.iter().map(|s| s.to_bits()).collect();
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    assert!(distinct > 50 && ordinary.iter().all(|s| *s > 0.0), "{distinct} distinct scores");
    assert!(rows[1200].0 > ordinary.iter().copied().fold(0.0, f64::max));
}
