//! Loading a tiny fake corpus built in a temporary folder: what loads, and the errors for what is broken.

use std::fs;
use std::path::Path;

use nab::{Corpus, NabError, Profile, read_anomaly_scores};

const A: &str = "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,2.5\n2014-01-01 00:10:00,-3e-2\n\
                 2014-01-01 00:15:00,4\n2014-01-01 00:20:00,5\n";
const WINDOWS: &str =
    r#"{"cat/a.csv": [["2014-01-01 00:05:00.000000", "2014-01-01 00:15:00.000000"]], "other/b.csv": []}"#;

/// A fake corpus: `cat/a.csv` with one window, `other/b.csv` (CRLF, no trailing newline) without.
fn fake(dir: &Path) {
    let write = |rel: &str, text: &str| {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
    };
    write("data/cat/a.csv", A);
    write("data/other/b.csv", "timestamp,value\r\n2014-01-01 00:00:00,7\r\n2014-01-01 00:05:00,8");
    write("data/README.md", "not a category");
    write("labels/combined_windows.json", WINDOWS);
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

fn load_err(dir: &Path) -> NabError {
    match Corpus::load(dir) {
        Ok(c) => panic!("expected an error, loaded {} files", c.files.len()),
        Err(e) => e,
    }
}

#[test]
fn a_fake_corpus_loads() {
    let dir = tempdir();
    fake(dir.path());
    let c = Corpus::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let keys: Vec<&str> = c.files.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, ["cat/a.csv", "other/b.csv"]);
    let a = &c.files[0];
    assert_eq!(a.values, [1.0, 2.5, -0.03, 4.0, 5.0]);
    assert_eq!(a.timestamps[1], "2014-01-01 00:05:00");
    assert_eq!(a.times_ms[1] - a.times_ms[0], 300_000);
    assert_eq!(a.windows, [(1, 3)]);
    assert_eq!(a.min_max(), (-0.03, 5.0));
    let b = &c.files[1];
    assert_eq!((b.values.as_slice(), b.timestamps[1].as_str()), ([7.0, 8.0].as_slice(), "2014-01-01 00:05:00"));
    assert_eq!((c.rows(), c.windows()), (7, 1));
}

fn assert_err(dir: &Path, expected: &str) {
    let e = load_err(dir).to_string();
    let shown = e.replace(&dir.display().to_string(), "ROOT");
    assert_eq!(shown, expected);
}

#[test]
fn corrupt_rows_name_file_and_line() {
    let cases = [
        ("2014-01-01 00:10:00,abc\n", "ROOT/data/cat/a.csv:4: value \"abc\" is not a finite number"),
        ("2014-01-01 00:10:00,nan\n", "ROOT/data/cat/a.csv:4: value \"nan\" is not a finite number"),
        (
            "2014-01-01 00:10,3\n",
            "ROOT/data/cat/a.csv:4: bad timestamp \"2014-01-01 00:10\" (expected YYYY-MM-DD HH:MM:SS[.ffffff])",
        ),
        (
            "2014-01-01 00:10:00,3,4\n",
            "ROOT/data/cat/a.csv:4: expected 2 fields (timestamp,value), found \"2014-01-01 00:10:00,3,4\"",
        ),
        (
            "2014-01-01 00:10:00\n",
            "ROOT/data/cat/a.csv:4: expected 2 fields (timestamp,value), found \"2014-01-01 00:10:00\"",
        ),
    ];
    for (line, expected) in cases {
        let dir = tempdir();
        fake(dir.path());
        let text = A.replace("2014-01-01 00:10:00,-3e-2\n", line);
        fs::write(dir.path().join("data/cat/a.csv"), text).unwrap_or_else(|e| panic!("{e}"));
        assert_err(dir.path(), expected);
    }
}

#[test]
fn bad_headers_and_empty_files() {
    let dir = tempdir();
    fake(dir.path());
    fs::write(dir.path().join("data/cat/a.csv"), "time,value\n2014-01-01 00:00:00,1\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_err(dir.path(), "ROOT/data/cat/a.csv:1: expected header \"timestamp,value\", found \"time,value\"");
    fs::write(dir.path().join("data/cat/a.csv"), "").unwrap_or_else(|e| panic!("{e}"));
    assert_err(dir.path(), "ROOT/data/cat/a.csv:1: empty file");
    fs::write(dir.path().join("data/cat/a.csv"), "timestamp,value\n").unwrap_or_else(|e| panic!("{e}"));
    assert_err(dir.path(), "ROOT/data/cat/a.csv:2: no data rows");
}

#[test]
fn missing_files_and_folders() {
    let dir = tempdir();
    fake(dir.path());
    fs::remove_file(dir.path().join("labels/combined_windows.json")).unwrap_or_else(|e| panic!("{e}"));
    let e = load_err(dir.path());
    assert!(matches!(&e, NabError::Io { path, .. } if path.ends_with("labels/combined_windows.json")), "{e}");
    assert!(e.to_string().starts_with("cannot read ") && e.to_string().contains("combined_windows.json"), "{e}");

    let dir = tempdir();
    fake(dir.path());
    fs::remove_dir_all(dir.path().join("data")).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(load_err(dir.path()), NabError::Io { path, .. } if path.ends_with("data")));

    let dir = tempdir();
    fake(dir.path());
    fs::remove_file(dir.path().join("data/other/b.csv")).unwrap_or_else(|e| panic!("{e}"));
    assert_err(
        dir.path(),
        "ROOT/labels/combined_windows.json: labels name other/b.csv, which is not a data file under ROOT/data",
    );
}

#[test]
fn label_problems() {
    let cases = [
        (r#"{"cat/a.csv": []}"#, "ROOT/labels/combined_windows.json: no entry for data file other/b.csv"),
        (
            r#"{"cat/a.csv": [["2014-01-01 00:05:00.000000", "2014-01-01 00:16:00.000000"]], "other/b.csv": []}"#,
            "labels of cat/a.csv: window timestamp 2014-01-01 00:16:00.000000 is not in the file",
        ),
        (
            r#"{"cat/a.csv": [["2014-01-01 00:15:00", "2014-01-01 00:05:00"]], "other/b.csv": []}"#,
            "labels of cat/a.csv: window [2014-01-01 00:15:00, 2014-01-01 00:05:00] maps to rows [3, 1]; it must span at least 2 rows",
        ),
        (
            r#"{"cat/a.csv": [["2014-01-01 00:00:00", "2014-01-01 00:10:00"], ["2014-01-01 00:10:00", "2014-01-01 00:20:00"]], "other/b.csv": []}"#,
            "labels of cat/a.csv: window [2014-01-01 00:10:00, 2014-01-01 00:20:00] overlaps or precedes the previous window",
        ),
        (
            r#"{"cat/a.csv": [["2014-01-01", "2014-01-01 00:10:00"]], "other/b.csv": []}"#,
            "labels of cat/a.csv: bad timestamp \"2014-01-01\" (expected YYYY-MM-DD HH:MM:SS[.ffffff])",
        ),
    ];
    for (labels, expected) in cases {
        let dir = tempdir();
        fake(dir.path());
        fs::write(dir.path().join("labels/combined_windows.json"), labels).unwrap_or_else(|e| panic!("{e}"));
        assert_err(dir.path(), expected);
    }
    let dir = tempdir();
    fake(dir.path());
    fs::write(dir.path().join("labels/combined_windows.json"), "{\"cat/a.csv\": [").unwrap_or_else(|e| panic!("{e}"));
    let e = load_err(dir.path());
    assert!(matches!(&e, NabError::Json { path, .. } if path.ends_with("combined_windows.json")), "{e}");
}

#[test]
fn profiles_and_scores_files() {
    let dir = tempdir();
    let config = dir.path().join("config");
    fs::create_dir_all(&config).unwrap_or_else(|e| panic!("{e}"));
    let cm = |fp: f64, fn_: f64| {
        format!(r#"{{"CostMatrix": {{"tpWeight": 1.0, "fnWeight": {fn_}, "fpWeight": {fp}, "tnWeight": 1.0}}}}"#)
    };
    let json = format!(
        r#"{{"reward_low_FN_rate": {}, "custom": {}, "standard": {}, "reward_low_FP_rate": {}}}"#,
        cm(0.11, 2.0),
        cm(0.5, 3.0),
        cm(0.11, 1.0),
        cm(0.22, 1.0)
    );
    fs::write(config.join("profiles.json"), json).unwrap_or_else(|e| panic!("{e}"));
    let loaded = Profile::load_all(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let mut expected = Profile::nab();
    expected.push(Profile::new("custom", 1.0, 3.0, 0.5));
    assert_eq!(loaded, expected);

    fs::write(config.join("profiles.json"), format!(r#"{{"standard": {}}}"#, cm(0.11, 1.0)))
        .unwrap_or_else(|e| panic!("{e}"));
    let e = Profile::load_all(dir.path()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.starts_with("profile reward_low_FP_rate: missing from "), "{e}");
    let bad = format!(
        r#"{{"standard": {}, "reward_low_FP_rate": {}, "reward_low_FN_rate": {}}}"#,
        cm(-0.11, 1.0),
        cm(0.22, 1.0),
        cm(0.11, 2.0)
    );
    fs::write(config.join("profiles.json"), bad).unwrap_or_else(|e| panic!("{e}"));
    let e = Profile::load_all(dir.path()).err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(e, "profile standard: fpWeight -0.11 is not a finite non-negative number");

    let scores = dir.path().join("s.csv");
    fs::write(&scores, "timestamp,value,anomaly_score,label\n2014-01-01 00:00:00,1,0.25,0\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_anomaly_scores(&scores).ok(), Some(vec![0.25]));
    fs::write(&scores, "anomaly_score\n0.5\nx\n").unwrap_or_else(|e| panic!("{e}"));
    let e = read_anomaly_scores(&scores).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.ends_with("s.csv:3: anomaly_score \"x\" is not a number"), "{e}");
    fs::write(&scores, "value\n0.5\n").unwrap_or_else(|e| panic!("{e}"));
    let e = read_anomaly_scores(&scores).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.ends_with("s.csv:1: no anomaly_score column in header \"value\""), "{e}");
}
