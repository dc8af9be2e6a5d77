//! Facts about the real corpus, its labels and its configuration.

mod common;

use std::collections::BTreeMap;

use common::{artime_scores, corpus, profiles, read_json, root};
use nab::{PROFILE_NAMES, Profile, probationary_length};

#[test]
fn corpus_size() {
    let c = corpus();
    assert_eq!(c.files.len(), 58);
    assert_eq!(c.rows(), 365_558);
    assert_eq!(c.windows(), 116);
    assert_eq!(c.files.iter().filter(|f| f.windows.is_empty()).count(), 6);
    let keys: Vec<&str> = c.files.iter().map(|f| f.key.as_str()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    let sizes = c.files.iter().map(|f| f.len());
    assert_eq!((sizes.clone().min(), sizes.max()), (Some(1127), Some(22_695)));
}

#[test]
fn categories_match_the_spec_table() {
    let mut per_category: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for f in &corpus().files {
        let e = per_category.entry(f.category()).or_default();
        *e = (e.0 + 1, e.1 + f.len(), e.2 + f.windows.len());
    }
    let expected: BTreeMap<&str, (usize, usize, usize)> = [
        ("artificialNoAnomaly", (5, 20_160, 0)),
        ("artificialWithAnomaly", (6, 24_192, 6)),
        ("realAWSCloudwatch", (17, 67_740, 30)),
        ("realAdExchange", (6, 9_610, 14)),
        ("realKnownCause", (7, 69_561, 19)),
        ("realTraffic", (7, 15_664, 14)),
        ("realTweets", (10, 158_631, 33)),
    ]
    .into_iter()
    .collect();
    assert_eq!(per_category, expected);
}

#[test]
fn windows_map_to_the_labelled_rows() {
    let labels = read_json(&root().join("labels").join("combined_windows.json"));
    for f in &corpus().files {
        let label = labels[&f.key].as_array().unwrap_or_else(|| panic!("{}: no labels", f.key));
        assert_eq!(label.len(), f.windows.len(), "{}", f.key);
        let mut prev_last = None;
        for (&(first, last), pair) in f.windows.iter().zip(label) {
            assert!(first < last && last < f.len(), "{}: window ({first}, {last})", f.key);
            assert!(prev_last.is_none_or(|p| p < first), "{}: windows overlap", f.key);
            prev_last = Some(last);
            // Label ends are written "YYYY-MM-DD HH:MM:SS.000000", data rows without the fraction.
            let start = pair[0].as_str().unwrap_or_default();
            let end = pair[1].as_str().unwrap_or_default();
            assert_eq!(format!("{}.000000", f.timestamps[first]), start, "{}", f.key);
            assert_eq!(format!("{}.000000", f.timestamps[last]), end, "{}", f.key);
            // No window starts inside the probationary period.
            assert!(first >= f.probationary_length(), "{}", f.key);
        }
    }
}

#[test]
fn rows_are_parsed() {
    let c = corpus();
    let f = c.get("artificialNoAnomaly/art_daily_no_noise.csv").unwrap_or_else(|| panic!("missing file"));
    assert_eq!(f.name(), "art_daily_no_noise");
    assert_eq!(f.category(), "artificialNoAnomaly");
    assert_eq!(f.timestamps[0], "2014-04-01 00:00:00");
    assert_eq!(f.times_ms[0], 1_396_310_400_000);
    assert_eq!(f.times_ms[1] - f.times_ms[0], 5 * 60 * 1000);
    assert_eq!(f.values[0], 20.0);
    assert_eq!(f.len(), f.timestamps.len());
    assert_eq!(f.len(), f.times_ms.len());
    // No trailing newline: the last row still counts.
    let taxi = c.get("realKnownCause/nyc_taxi.csv").unwrap_or_else(|| panic!("missing file"));
    assert_eq!(taxi.len(), 10_320);
    assert_eq!(
        (taxi.timestamps.last().map(String::as_str), taxi.values.last()),
        (Some("2015-01-31 23:30:00"), Some(&26288.0))
    );
    // CRLF line ends.
    let cpc = c.get("realAdExchange/exchange-2_cpc_results.csv").unwrap_or_else(|| panic!("missing file"));
    assert_eq!(cpc.timestamps[0], "2011-07-01 00:00:01");
    assert_eq!(cpc.values[0], 0.081_964_735_516_4);
    // Repeated timestamps (daylight-saving artefacts) are kept as rows.
    let disk = c.get("realAWSCloudwatch/ec2_disk_write_bytes_1ef3de.csv").unwrap_or_else(|| panic!("missing file"));
    assert!(disk.times_ms.windows(2).any(|w| w[0] == w[1]));
    let (lo, hi) = f.min_max();
    assert!(lo <= f.values[0] && f.values[0] <= hi && lo < hi);
}

#[test]
fn probationary_lengths() {
    let c = corpus();
    let smallest = c.files.iter().find(|f| f.len() == 1127).unwrap_or_else(|| panic!("no 1127-row file"));
    assert_eq!(smallest.probationary_length(), 169);
    assert!(c.files.iter().all(|f| f.probationary_length() == probationary_length(f.len())));
    assert!(c.files.iter().filter(|f| f.len() >= 5000).all(|f| f.probationary_length() == 750));
    let scorable: usize = c.files.iter().map(|f| f.len() - f.probationary_length()).sum();
    // The golden Total_Count.
    assert_eq!(scorable, 332_842);
}

#[test]
fn subsets() {
    let c = corpus();
    let keys = ["realTweets/Twitter_volume_AAPL.csv", "artificialNoAnomaly/art_flatline.csv"];
    let s = c.subset(&keys).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<&str> = s.files.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(got, ["artificialNoAnomaly/art_flatline.csv", "realTweets/Twitter_volume_AAPL.csv"]);
    let err = c.subset(&["nope/missing.csv"]).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("nope/missing.csv"), "{err}");
    let tweets = c.filter(|f| f.category() == "realTweets");
    assert_eq!((tweets.files.len(), tweets.rows(), tweets.windows()), (10, 158_631, 33));
}

#[test]
fn golden_scores_have_one_per_row() {
    for (f, s) in corpus().files.iter().zip(artime_scores()) {
        assert_eq!(f.len(), s.len(), "{}", f.key);
    }
}

#[test]
fn profiles_load_in_nab_order() {
    let loaded = profiles();
    let names: Vec<&str> = loaded.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, PROFILE_NAMES);
    assert_eq!(loaded, Profile::nab());
    assert_eq!(loaded[0], Profile::new("standard", 1.0, 1.0, 0.11));
}
