use super::*;

use model::ByName;

use model::AllSeries as All;

fn l(name: &str, inst: &str) -> Labels {
    Labels::from_pairs([("__name__", name), ("instance", inst)])
}

#[test]
fn reads_window_half_open_on_the_left() {
    let s = SeriesStore::new(Duration::from_secs(3600), 100);
    for t in [1_000, 2_000, 3_000, 4_000] {
        s.append(&l("up", "a"), Sample { t, v: t as f64 });
    }
    let got = s.read(&ByName("up"), 2_000, 4_000);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples.iter().map(|x| x.t).collect::<Vec<_>>(), vec![3_000, 4_000]);
    assert!(s.read(&ByName("down"), 0, 10_000).is_empty());
    assert_eq!(s.read(&All, 0, 10_000).len(), 1);
}

#[test]
fn out_of_order_and_duplicate_timestamps_are_dropped() {
    let s = SeriesStore::new(Duration::from_secs(3600), 100);
    assert_eq!(s.append(&l("up", "a"), Sample { t: 2_000, v: 1.0 }), Appended::Ok);
    assert_eq!(s.append(&l("up", "a"), Sample { t: 2_000, v: 1.0 }), Appended::Duplicate);
    assert_eq!(s.append(&l("up", "a"), Sample { t: 2_000, v: 2.0 }), Appended::DuplicateTimestamp);
    assert_eq!(s.append(&l("up", "a"), Sample { t: 1_000, v: 3.0 }), Appended::OutOfOrder);
    assert_eq!(s.append(&l("up", "a"), Sample { t: 3_000, v: 3.0 }), Appended::Ok);
    assert_eq!(s.append(&l("up", "a"), Sample { t: 2_000, v: 1.0 }), Appended::Duplicate, "not only the last");
    assert_eq!(s.append(&l("up", "a"), Sample { t: 2_000, v: 5.0 }), Appended::DuplicateTimestamp);
    let held = &s.read(&All, 0, 10_000)[0].samples;
    assert_eq!(held, &vec![Sample { t: 2_000, v: 1.0 }, Sample { t: 3_000, v: 3.0 }]);
}

#[test]
fn series_limit_refuses_new_series_but_keeps_old_ones_growing() {
    let s = SeriesStore::new(Duration::from_secs(3600), 2);
    s.append(&l("m", "a"), Sample { t: 1, v: 1.0 });
    s.append(&l("m", "b"), Sample { t: 1, v: 1.0 });
    assert_eq!(s.append(&l("m", "c"), Sample { t: 1, v: 1.0 }), Appended::TooManySeries);
    assert_eq!(s.append(&l("m", "a"), Sample { t: 2, v: 1.0 }), Appended::Ok);
    assert_eq!(s.series_count(), 2);
    assert_eq!(s.rejected_series(), 1);
}

#[test]
fn compaction_enforces_retention_and_forgets_empty_series() {
    let s = SeriesStore::new(Duration::from_secs(10), 100);
    s.append(&l("m", "old"), Sample { t: 1_000, v: 1.0 });
    s.append(&l("m", "new"), Sample { t: 1_000, v: 1.0 });
    s.append(&l("m", "new"), Sample { t: 15_000, v: 1.0 });
    s.compact(20_000);
    let got = s.read(&All, 0, 100_000);
    assert_eq!(got.len(), 1);
    // Retention drops whole chunks (as Prometheus drops whole blocks): a chunk with a
    // sample inside the window stays whole.
    assert_eq!(got[0].labels.get("instance"), Some("new"));
    assert_eq!(s.series_count(), 1);
    // Once every sample of a series is older, the series goes, and with it its index entries.
    s.compact(26_000);
    assert_eq!(s.series_count(), 0);
    assert!(s.read(&ByName("m"), 0, 100_000).is_empty());
}

#[test]
fn chunks_roll_over_and_retention_drops_the_old_ones() {
    let s = SeriesStore::new(Duration::from_secs(3600), 100);
    for i in 0..1_000i64 {
        assert_eq!(s.append(&l("m", "a"), Sample { t: i * 15_000, v: (i % 10) as f64 }), Appended::Ok);
    }
    let stats = s.stats();
    assert_eq!((stats.series, stats.samples), (1, 1_000));
    assert!(stats.chunk_bytes < 1_000 * 3, "compressed: {} bytes for 1000 samples", stats.chunk_bytes);
    // An hour of retention at the last sample keeps the chunks that reach into that hour.
    s.compact(999 * 15_000);
    let kept = s.read(&All, i64::MIN, i64::MAX)[0].samples.len();
    assert!((240..=240 + chunk::SAMPLES_PER_CHUNK as usize).contains(&kept), "{kept}");
    assert_eq!(s.read(&All, 998 * 15_000, 999 * 15_000)[0].samples, vec![Sample { t: 999 * 15_000, v: 9.0 }]);
}

#[test]
fn the_index_narrows_by_equality_inequality_and_regex_matchers() {
    type Test = fn(&str) -> bool;
    struct Sel<'a>(Vec<(&'a str, Test)>);
    impl SeriesSelector for Sel<'_> {
        fn metric_name(&self) -> Option<&str> {
            None
        }
        fn matches(&self, labels: &Labels) -> bool {
            self.0.iter().all(|(n, f)| f(labels.get(n).unwrap_or("")))
        }
        fn indexed_names(&self) -> Vec<&str> {
            self.0.iter().map(|(n, _)| *n).collect()
        }
        fn value_matches(&self, name: &str, value: &str) -> bool {
            self.0.iter().filter(|(n, _)| *n == name).all(|(_, f)| f(value))
        }
    }
    let s = SeriesStore::new(Duration::from_secs(3600), 1000);
    for i in 0..100 {
        let labels = Labels::from_pairs([
            ("__name__", if i % 2 == 0 { "even" } else { "odd" }),
            ("instance", &format!("host-{i}")),
            ("zone", if i < 50 { "a" } else { "b" }),
        ]);
        s.append(&labels, Sample { t: 1, v: i as f64 });
    }
    let names = |sel: &Sel| s.series(sel, 0, 10).len();
    assert_eq!(names(&Sel(vec![("__name__", |v| v == "even")])), 50);
    assert_eq!(names(&Sel(vec![("__name__", |v| v == "even"), ("zone", |v| v == "b")])), 25);
    assert_eq!(names(&Sel(vec![("zone", |v| v != "a")])), 50, "!= (a missing label also passes)");
    assert_eq!(names(&Sel(vec![("instance", |v| v.ends_with('7'))])), 10, "a regex-like test per value");
    assert_eq!(names(&Sel(vec![("nope", |v| v == "x")])), 0);
    assert_eq!(names(&Sel(vec![("nope", |v| v.is_empty())])), 100, "an absent label reads as empty");
}

#[test]
fn stale_marker_for_unknown_series_creates_nothing() {
    let s = SeriesStore::new(Duration::from_secs(10), 100);
    s.mark_stale(&l("m", "x"), 5);
    assert_eq!(s.series_count(), 0);
    s.append(&l("m", "x"), Sample { t: 1, v: 1.0 });
    s.mark_stale(&l("m", "x"), 5);
    assert!(is_stale(s.read(&All, 0, 10)[0].samples[1].v));
}

#[test]
fn a_store_full_of_target_series_keeps_room_for_autonomics_own() {
    let s = SeriesStore::new(Duration::from_secs(3600), 2);
    let reserve = reserve_for(2);
    assert_eq!(reserve, MIN_RESERVE);
    for inst in ["a", "b", "c"] {
        s.append(&l("flood", inst), Sample { t: 1, v: 1.0 });
    }
    assert_eq!(s.refused(Origin::Target), 1);
    // Rule results and anomaly scores (through `SeriesWriter`) fill the reserve…
    for i in 0..reserve {
        SeriesWriter::write(&s, &l("rule_result", &i.to_string()), Sample { t: 1, v: 1.0 });
    }
    assert_eq!(s.series_count(), 2 + reserve);
    assert_eq!(s.refused(Origin::Internal), 0);
    // …and no further.
    assert_eq!(
        s.append_from(Origin::Internal, &l("rule_result", "x"), Sample { t: 1, v: 1.0 }),
        Appended::TooManySeries
    );
    assert_eq!(s.refused(Origin::Internal), 1);
    // Health series always get in: `up` of every target stays readable.
    assert_eq!(s.append_from(Origin::Health, &l("up", "a"), Sample { t: 1, v: 0.0 }), Appended::Ok);
    assert_eq!(s.refused(Origin::Health), 0);
    assert_eq!(s.read(&ByName("up"), 0, 10).len(), 1);
    assert_eq!(s.rejected_series(), 2);
}

#[tokio::test(start_paused = true)]
async fn refusals_are_logged_at_most_once_per_interval_and_origin() {
    let s = SeriesStore::new(Duration::from_secs(3600), 1);
    s.append(&l("m", "kept"), Sample { t: 1, v: 1.0 });
    let reports = |s: &SeriesStore| s.read_lock().reports;
    for i in 0..1_000 {
        s.append(&l("m", &i.to_string()), Sample { t: 1, v: 1.0 });
    }
    assert_eq!(reports(&s), [1, 0], "one line for a thousand refusals");
    assert_eq!(s.read_lock().unreported, [999, 0], "the next line says how many followed");
    tokio::time::advance(REFUSAL_LOG_INTERVAL - Duration::from_millis(1)).await;
    s.append(&l("m", "late"), Sample { t: 1, v: 1.0 });
    assert_eq!(reports(&s), [1, 0]);
    tokio::time::advance(Duration::from_millis(1)).await;
    s.append(&l("m", "later"), Sample { t: 1, v: 1.0 });
    assert_eq!(reports(&s), [2, 0]);
    assert_eq!(s.read_lock().unreported, [0, 0]);
    assert_eq!(s.refused(Origin::Target), 1_002);
}

#[test]
fn the_store_publishes_its_own_counters() {
    let s = SeriesStore::new(Duration::from_secs(3600), 1);
    s.append(&l("m", "a"), Sample { t: 1, v: 1.0 });
    s.append(&l("m", "b"), Sample { t: 1, v: 1.0 });
    s.append(&l("m", "c"), Sample { t: 1, v: 1.0 });
    s.record_own_series(5);
    let latest = |name: &'static str, origin: Option<&str>| {
        s.read(&ByName(name), 0, 10)
            .into_iter()
            .find(|d| d.labels.get("origin") == origin)
            .and_then(|d| d.samples.last().map(|x| x.v))
    };
    assert_eq!(latest("autonomic_store_refused_samples_total", Some("target")), Some(2.0));
    assert_eq!(latest("autonomic_store_refused_samples_total", Some("internal")), Some(0.0));
    assert_eq!(latest("autonomic_store_series_limit", Some("target")), Some(1.0));
    assert_eq!(latest("autonomic_store_series_limit", Some("internal")), Some((1 + MIN_RESERVE) as f64));
    assert_eq!(latest("autonomic_store_series", None), Some(1.0), "counted before its own series were added");
}

#[test]
fn series_whose_pairs_hash_alike_are_told_apart_and_forgotten_one_by_one() {
    // Forcing a real 64-bit collision is impractical: file two series under one made-up hash.
    let mut inner = Inner::default();
    let (a, b) = (l("up", "a"), l("up", "b"));
    for (id, labels) in [(1, &a), (2, &b)] {
        inner.add_hash(7, id);
        inner.series.insert(id, MemSeries::new(Arc::new(labels.clone()), Vec::new()));
    }
    assert_eq!(SeriesStore::find(&inner, 7, a.iter()), Some(1));
    assert_eq!(SeriesStore::find(&inner, 7, b.iter()), Some(2), "the collided series is found");
    assert_eq!(SeriesStore::find(&inner, 7, l("up", "c").iter()), None);
    assert_eq!(SeriesStore::find(&inner, 8, a.iter()), None);
    inner.remove_hash(7, 1);
    inner.series.remove(&1);
    assert_eq!(SeriesStore::find(&inner, 7, a.iter()), None);
    assert_eq!(SeriesStore::find(&inner, 7, b.iter()), Some(2), "it takes the first place");
    inner.remove_hash(7, 2);
    assert!(inner.by_hash.is_empty() && inner.collided.is_empty());
}

proptest::proptest! {
    #[test]
    fn a_series_key_matches_exactly_its_own_pairs(
        x in proptest::collection::vec(("[a-c_]{0,3}", "[a-c\u{e9}=,]{0,3}"), 0..4),
        y in proptest::collection::vec(("[a-c_]{0,3}", "[a-c\u{e9}=,]{0,3}"), 0..4),
    ) {
        let key = pairs_key(x.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        proptest::prop_assert!(key_matches(&key, x.iter().map(|(n, v)| (n.as_str(), v.as_str()))));
        proptest::prop_assert_eq!(key_matches(&key, y.iter().map(|(n, v)| (n.as_str(), v.as_str()))), x == y);
    }
}
