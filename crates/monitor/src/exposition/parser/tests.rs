//! Limits stop the parser at the first excess, and its work stays O(n log n) in labels.

use std::fmt::Write as _;
use std::sync::atomic::AtomicBool;

use super::labels::comparisons;
use crate::exposition::{ExpositionError, Format, LimitExceeded, ParseLimits, parse_limited};

const TEXT: Format = Format::PrometheusText;
const OM: Format = Format::OpenMetrics;

fn limits(samples: usize, labels: usize, name: usize, value: usize) -> ParseLimits {
    ParseLimits { samples, labels, label_name_length: name, label_value_length: value }
}

fn limit_error(text: &str, format: Format, l: ParseLimits) -> LimitExceeded {
    match parse_limited(text, format, l, None) {
        Err(ExpositionError::Limit(e)) => e,
        other => panic!("expected a limit error for {text:?}, got {other:?}"),
    }
}

/// A sample line with `n` labels `l0="v" … l{n-1}="v"`, in reverse name order so that a
/// sorted insertion cannot be an append.
fn wide_line(n: usize) -> String {
    let mut line = String::from("wide{");
    for i in (0..n).rev() {
        let _ = write!(line, "l{i}=\"v\",");
    }
    line.push_str("} 1\n");
    line
}

#[test]
fn sample_limit_allows_the_limit_and_stops_at_the_next_sample() {
    let ok = parse_limited("a 1\nb 2\n", TEXT, limits(2, 64, 256, 4096), None).expect("two samples fit");
    assert_eq!(ok.samples.len(), 2);
    // The third line is garbage: the parser never reads it, it stopped at the limit.
    let e = limit_error("a 1\nb 2\nc 3\n{{{ not an exposition\n", TEXT, limits(2, 64, 256, 4096));
    assert_eq!(e, LimitExceeded::Samples { limit: 2 });
    assert_eq!(e.to_string(), "sample_limit exceeded: more than 2 samples");
    // Comments and metadata are not samples.
    let om = "# TYPE a gauge\n# HELP a help\na 1\n# EOF\n";
    assert!(parse_limited(om, OM, limits(1, 64, 256, 4096), None).is_ok());
}

#[test]
fn label_limit_counts_the_metric_name_and_stops_inside_the_label_set() {
    let l = limits(10, 3, 256, 4096);
    assert!(parse_limited("m{a=\"1\",b=\"2\"} 1\n", TEXT, l, None).is_ok(), "name + 2 labels = 3");
    let e = limit_error("m{a=\"1\",b=\"2\",c=\"3\"} 1\n", TEXT, l);
    assert_eq!(e, LimitExceeded::Labels { limit: 3, metric: "\"m\"".into(), line: 1 });
    assert!(e.to_string().starts_with("label_limit exceeded: a sample of \"m\" has more than 3 labels"), "{e}");
    // A label set far wider than the limit, unterminated: refused at the 4th label.
    let mut huge = wide_line(100_000);
    huge.truncate(huge.len() - 5);
    assert!(matches!(limit_error(&huge, TEXT, l), LimitExceeded::Labels { limit: 3, .. }));
    // The quoted-name form counts the name too.
    let e = limit_error("{a=\"1\",b=\"2\",\"m\"} 1\n", TEXT, limits(10, 2, 256, 4096));
    assert!(matches!(e, LimitExceeded::Labels { limit: 2, .. }), "{e}");
    // An exemplar's labels are dropped, so they do not count.
    let om = "m_total{a=\"1\"} 1 # {x=\"1\",y=\"2\",z=\"3\"} 1\n# EOF\n";
    assert!(parse_limited(om, OM, limits(10, 2, 256, 4096), None).is_ok());
}

#[test]
fn label_name_and_value_lengths_are_limited_in_bytes() {
    let l = limits(10, 64, 4, 6);
    assert!(parse_limited("m{abcd=\"123456\"} 1\n", TEXT, l, None).is_ok());
    assert_eq!(
        limit_error("m{abcde=\"1\"} 1\n", TEXT, l),
        LimitExceeded::LabelNameLength { limit: 4, name: "\"abcde\"".into(), length: 5, line: 1 }
    );
    assert_eq!(
        limit_error("ok 1\nm{a=\"1234567\"} 1\n", TEXT, l),
        LimitExceeded::LabelValueLength { limit: 6, name: "\"a\"".into(), length: 7, line: 2 }
    );
    // Bytes, not characters: "üüüü" is 8 bytes.
    assert!(matches!(limit_error("m{a=\"üüüü\"} 1\n", TEXT, l), LimitExceeded::LabelValueLength { length: 8, .. }));
    // The metric name is the value of `__name__`, bare or quoted.
    let e = limit_error("metric_x 1\n", TEXT, l);
    assert_eq!(e, LimitExceeded::LabelValueLength { limit: 6, name: "\"__name__\"".into(), length: 8, line: 1 });
    assert!(matches!(limit_error("{\"metric_x\"} 1\n", TEXT, l), LimitExceeded::LabelValueLength { .. }));
    assert!(matches!(limit_error("{\"abcdefg\"=\"1\", \"m\"} 1\n", TEXT, l), LimitExceeded::LabelNameLength { .. }));
    // A huge value is named shortly in the message.
    let long = format!("m{{a=\"{}\"}} 1\n", "x".repeat(100_000));
    let message = limit_error(&long, TEXT, l).to_string();
    assert!(message.len() < 200, "{message}");
}

#[test]
fn a_set_cancel_flag_stops_the_parse() {
    let cancel = AtomicBool::new(true);
    let got = parse_limited("a 1\n", TEXT, ParseLimits::NONE, Some(&cancel));
    assert_eq!(got, Err(ExpositionError::Cancelled));
    let cancel = AtomicBool::new(false);
    assert!(parse_limited("a 1\n", TEXT, ParseLimits::NONE, Some(&cancel)).is_ok());
}

#[test]
fn malformed_input_is_still_a_parse_error_under_limits() {
    let got = parse_limited("a{x=\"1\",x=\"2\"} 1\n", TEXT, limits(10, 64, 256, 4096), None);
    match got {
        Err(ExpositionError::Malformed(e)) => assert!(e.message.contains("duplicate label name \"x\""), "{e}"),
        other => panic!("{other:?}"),
    }
}

/// Label-name comparisons to parse one sample with `n` labels and no limits.
fn comparisons_for(n: usize) -> u64 {
    let line = wide_line(n);
    comparisons::take();
    let e = parse_limited(&line, TEXT, ParseLimits::NONE, None).expect("parses");
    assert_eq!(e.samples[0].labels.len(), n + 1);
    comparisons::take()
}

#[test]
fn work_per_sample_is_n_log_n_in_its_labels_not_quadratic() {
    // Comparing each label name with every earlier one (the old duplicate check) costs
    // n²/2 comparisons: 2 M for 2,000 labels, 128 M for 16,000. A sorted map costs
    // O(n log n) (about 6.5 n and 7.7 n here: a B-tree's nodes are scanned linearly).
    let (small, large) = (2_000, 16_000);
    let (c_small, c_large) = (comparisons_for(small), comparisons_for(large));
    let bound = |n: usize| 4 * n as u64 * (n as f64).log2().ceil() as u64;
    assert!(c_small > 0, "the count must see the label set's comparisons");
    assert!(c_small <= bound(small), "{c_small} comparisons for {small} labels");
    assert!(c_large <= bound(large), "{c_large} comparisons for {large} labels");
    // Eight times the labels: ~8.4× the work for n log n, 64× for n².
    assert!(c_large < 12 * c_small, "{c_small} → {c_large}: superlinear growth");
}
