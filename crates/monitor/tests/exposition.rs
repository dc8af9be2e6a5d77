//! Rules of the exposition parser, good and bad inputs, in both formats.

use model::Labels;
use monitor::exposition::{Exposition, Format, MetricType, ParseError, ParsedSample, parse};

const TEXT: Format = Format::PrometheusText;
const OM: Format = Format::OpenMetrics;

fn ok(text: &str, format: Format) -> Exposition {
    match parse(text, format) {
        Ok(e) => e,
        Err(e) => panic!("{format:?} parse of {text:?} failed: {e}"),
    }
}

fn err(text: &str, format: Format) -> ParseError {
    match parse(text, format) {
        Ok(e) => panic!("{format:?} parse of {text:?} succeeded: {e:?}"),
        Err(e) => e,
    }
}

/// Asserts the error's position and that its message contains `needle`.
#[track_caller]
fn assert_err(text: &str, format: Format, line: usize, column: usize, needle: &str) {
    let e = err(text, format);
    assert_eq!((e.line, e.column), (line, column), "position of {e} for {text:?}");
    assert!(e.message.contains(needle), "message {:?} lacks {needle:?}", e.message);
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn sample(pairs: &[(&str, &str)], value: f64, timestamp: Option<i64>) -> ParsedSample {
    ParsedSample { labels: labels(pairs), value, timestamp }
}

fn single(text: &str, format: Format) -> ParsedSample {
    let e = ok(text, format);
    assert_eq!(e.samples.len(), 1, "{e:?}");
    e.samples.into_iter().next().unwrap()
}

fn value_of(text: &str, format: Format) -> f64 {
    single(text, format).value
}

// ---- content type ----

#[test]
fn format_from_content_type() {
    assert_eq!(Format::from_content_type(None), TEXT);
    assert_eq!(Format::from_content_type(Some("text/plain; version=0.0.4; charset=utf-8")), TEXT);
    assert_eq!(Format::from_content_type(Some("application/openmetrics-text; version=1.0.0; charset=utf-8")), OM);
    assert_eq!(Format::from_content_type(Some(" Application/OpenMetrics-Text ")), OM);
    assert_eq!(Format::from_content_type(Some("application/openmetrics-text;version=0.0.1")), OM);
    assert_eq!(Format::from_content_type(Some("application/json")), TEXT);
    assert_eq!(Format::from_content_type(Some("")), TEXT);
}

// ---- Prometheus text format: good inputs ----

#[test]
fn text_format_reference_example() {
    let text = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
"#;
    let e = ok(text, TEXT);
    assert_eq!(
        e.samples,
        vec![
            sample(
                &[("__name__", "http_requests_total"), ("method", "post"), ("code", "200")],
                1027.0,
                Some(1_395_066_363_000)
            ),
            sample(
                &[("__name__", "http_requests_total"), ("method", "post"), ("code", "400")],
                3.0,
                Some(1_395_066_363_000)
            ),
            sample(
                &[
                    ("__name__", "msdos_file_access_time_seconds"),
                    ("path", r"C:\DIR\FILE.TXT"),
                    ("error", "Cannot find file:\n\"FILE.TXT\""),
                ],
                1.458255915e9,
                None
            ),
            sample(&[("__name__", "metric_without_timestamp_and_labels")], 12.47, None),
            sample(
                &[("__name__", "something_weird"), ("problem", "division by zero")],
                f64::INFINITY,
                Some(-3_982_045)
            ),
            sample(&[("__name__", "http_request_duration_seconds_bucket"), ("le", "0.05")], 24054.0, None),
            sample(&[("__name__", "http_request_duration_seconds_bucket"), ("le", "+Inf")], 144_320.0, None),
            sample(&[("__name__", "http_request_duration_seconds_sum")], 53423.0, None),
            sample(&[("__name__", "http_request_duration_seconds_count")], 144_320.0, None),
            sample(&[("__name__", "rpc_duration_seconds"), ("quantile", "0.99")], 76656.0, None),
            sample(&[("__name__", "rpc_duration_seconds_sum")], 1.7560473e7, None),
        ]
    );
    assert_eq!(
        e.types.into_iter().collect::<Vec<_>>(),
        vec![
            ("http_request_duration_seconds".to_owned(), MetricType::Histogram),
            ("http_requests_total".to_owned(), MetricType::Counter),
            ("rpc_duration_seconds".to_owned(), MetricType::Summary),
        ]
    );
    assert_eq!(e.help["http_requests_total"], "The total number of HTTP requests.");
    assert_eq!(e.help["http_request_duration_seconds"], "A histogram of the request duration.");
    assert_eq!(e.help.len(), 2);
}

#[test]
fn text_types_untyped_is_unknown() {
    let e = ok("# TYPE a gauge\n# TYPE b untyped\n# TYPE c histogram\n", TEXT);
    assert_eq!(e.types["a"], MetricType::Gauge);
    assert_eq!(e.types["b"], MetricType::Unknown);
    assert_eq!(e.types["c"], MetricType::Histogram);
    assert!(e.samples.is_empty());
}

#[test]
fn text_help_unescapes_backslash_and_newline_only() {
    let e = ok("# HELP a one\\\\two\\nthree \\\"q\\\" \\t end\\\n", TEXT);
    assert_eq!(e.help["a"], "one\\two\nthree \\\"q\\\" \\t end\\");
    let e = ok("# HELP b\n# HELP c \t \n#  HELP\td\t\tspaced  help  \n", TEXT);
    assert_eq!(e.help["b"], "");
    assert_eq!(e.help["c"], "");
    assert_eq!(e.help["d"], "spaced  help  ");
}

#[test]
fn text_other_comments_are_ignored() {
    let text = "#HELP not_help x\n# HELPER foo\n# EOF\n# UNIT a seconds\n#\n# TYPE\n# random { junk \" \\\na 1\n";
    let e = ok(text, TEXT);
    assert!(e.help.is_empty() && e.types.is_empty(), "{e:?}");
    assert_eq!(e.samples, vec![sample(&[("__name__", "a")], 1.0, None)]);
}

#[test]
fn text_blank_lines_and_whitespace() {
    let text = "\n   \n\t\n  a 1\n\tb\t2\t\nc {x = \"1\" , y=\"2\" ,} 3   \nd{}4\n\n  # comment\ne 5 6  \n\n";
    let e = ok(text, TEXT);
    assert_eq!(
        e.samples,
        vec![
            sample(&[("__name__", "a")], 1.0, None),
            sample(&[("__name__", "b")], 2.0, None),
            sample(&[("__name__", "c"), ("x", "1"), ("y", "2")], 3.0, None),
            sample(&[("__name__", "d")], 4.0, None),
            sample(&[("__name__", "e")], 5.0, Some(6)),
        ]
    );
    assert_eq!(ok("", TEXT), Exposition::default());
    assert_eq!(ok("\n\n", TEXT), Exposition::default());
    // No trailing newline on the last line is fine.
    assert_eq!(single("a 1", TEXT).value, 1.0);
}

#[test]
fn label_value_escapes() {
    let s = single(r#"a{v="back\\slash quote\" newline\n raw	tab"} 1"#, TEXT);
    assert_eq!(s.labels.get("v"), Some("back\\slash quote\" newline\n raw\ttab"));
    // `\\n` is an escaped backslash followed by a plain `n`.
    let s = single(r#"a{v="\\\\n"} 1"#, TEXT);
    assert_eq!(s.labels.get("v"), Some("\\\\n"));
    for format in [TEXT, OM] {
        let s = single("a{v=\"ünï©ødé 😀 \\\"\u{7f}\r\"} 1\n# EOF\n", format);
        assert_eq!(s.labels.get("v"), Some("ünï©ødé 😀 \"\u{7f}\r"), "{format:?}");
    }
}

#[test]
fn empty_label_values_are_dropped() {
    let s = single("a{x=\"\",y=\"1\"} 1\n", TEXT);
    assert_eq!(s.labels, labels(&[("__name__", "a"), ("y", "1")]));
}

#[test]
fn special_and_exotic_floats() {
    for (text, expected) in [
        ("1", 1.0),
        ("-1", -1.0),
        ("+1", 1.0),
        ("1.5e3", 1500.0),
        ("1.5E+3", 1500.0),
        ("2e-3", 0.002),
        (".5", 0.5),
        ("5.", 5.0),
        ("+Inf", f64::INFINITY),
        ("-Inf", f64::NEG_INFINITY),
        ("Inf", f64::INFINITY),
        ("inf", f64::INFINITY),
        ("-inf", f64::NEG_INFINITY),
        ("+infinity", f64::INFINITY),
        ("1.7976931348623157e308", f64::MAX),
        ("5e-324", 5e-324),
        ("1e-400", 0.0),
        ("0.1", 0.1),
        ("123456789012345678901234567890", 1.2345678901234568e29),
    ] {
        for format in [TEXT, OM] {
            let eof = if format == OM { "# EOF\n" } else { "" };
            let v = value_of(&format!("a {text}\n{eof}"), format);
            assert_eq!(v.to_bits(), expected.to_bits(), "{text} in {format:?}");
        }
    }
    assert!(value_of("a NaN", TEXT).is_nan());
    assert!(value_of("a nan", TEXT).is_nan());
    assert!(value_of("a NaN\n# EOF\n", OM).is_nan());
    assert_eq!(value_of("a -0", TEXT).to_bits(), (-0.0f64).to_bits());
    assert_eq!(value_of("a -0.0", TEXT).to_bits(), (-0.0f64).to_bits());
}

#[test]
fn bad_floats() {
    for bad in ["abc", "1_000", "0x1p3", "0x10", "1e", "--1", "+NaN", "-nan", "1.2.3", "Infinit", "1,5"] {
        assert_err(&format!("metric {bad}\n"), TEXT, 1, 8, &format!("invalid sample value {bad:?}"));
    }
    assert_err("metric 1e400\n", TEXT, 1, 8, "\"1e400\" is out of range");
    assert_err("metric{a=\"b\"} -1e999 5\n", TEXT, 1, 15, "out of range");
    assert_err("m 1\nmetric\n", TEXT, 2, 7, "expected sample value, found end of line");
    assert_err("metric{a=\"b\"}", TEXT, 1, 14, "expected sample value, found end of input");
}

#[test]
fn text_timestamps_are_integer_millis() {
    assert_eq!(single("a 1 1712345678123\n", TEXT).timestamp, Some(1_712_345_678_123));
    assert_eq!(single("a 1 -5", TEXT).timestamp, Some(-5));
    assert_eq!(single("a 1 0\n", TEXT).timestamp, Some(0));
    assert_eq!(single("a 1\n", TEXT).timestamp, None);
    assert_err("a 1 1712345678.123\n", TEXT, 1, 5, "invalid timestamp \"1712345678.123\": is not an integer");
    assert_err("a 1 1e3\n", TEXT, 1, 5, "not an integer");
    assert_err("a 1 99999999999999999999\n", TEXT, 1, 5, "out of range");
    assert_err("a 1 2 3\n", TEXT, 1, 7, "expected end of line after the timestamp, found '3'");
}

#[test]
fn trailing_commas_in_label_sets() {
    let expected = labels(&[("__name__", "a"), ("x", "1"), ("y", "2")]);
    assert_eq!(single("a{x=\"1\",y=\"2\",} 1\n", TEXT).labels, expected);
    assert_eq!(single("a{x=\"1\",y=\"2\",} 1\n# EOF\n", OM).labels, expected);
    assert_err("a{x=\"1\",,} 1\n", TEXT, 1, 9, "expected a label name or '}', found ','");
    assert_err("a{,} 1\n", TEXT, 1, 3, "expected a label name or '}', found ','");
}

// ---- names ----

#[test]
fn metric_and_label_name_rules() {
    let s = single("a:b_c:9{_x9=\"1\",Y=\"2\"} 1\n", TEXT);
    assert_eq!(s.labels, labels(&[("__name__", "a:b_c:9"), ("_x9", "1"), ("Y", "2")]));
    assert_eq!(single("_ 1", TEXT).labels.metric_name(), Some("_"));
    assert_eq!(single(": 1", TEXT).labels.metric_name(), Some(":"));

    assert_err("foo-bar 1\n", TEXT, 1, 4, "expected '{' or whitespace after metric name \"foo\", found '-'");
    assert_err("foo.bar 1\n", TEXT, 1, 4, "found '.'");
    assert_err("1foo 1\n", TEXT, 1, 1, "expected a metric name or '{', found '1'");
    assert_err("é 1\n", TEXT, 1, 1, "found 'é'");
    assert_err("a{b-c=\"1\"} 1\n", TEXT, 1, 4, "expected '=' after label name \"b\", found '-'");
    assert_err("a{b:c=\"1\"} 1\n", TEXT, 1, 4, "found ':'");
    assert_err("a{1b=\"1\"} 1\n", TEXT, 1, 3, "expected a label name or '}', found '1'");
    assert_err("a{b=1} 1\n", TEXT, 1, 5, "expected '\"' starting the value of label \"b\", found '1'");
    assert_err("a{b=\"1\" c=\"2\"} 1\n", TEXT, 1, 9, "expected ',' or '}' after the value of label \"b\", found 'c'");
}

#[test]
fn duplicate_label_names() {
    assert_err("a{x=\"1\",y=\"2\",x=\"3\"} 1\n", TEXT, 1, 15, "duplicate label name \"x\"");
    // Even when one of them is empty (and would be dropped).
    assert_err("a{x=\"\",x=\"3\"} 1\n", TEXT, 1, 8, "duplicate label name \"x\"");
    assert_err("a{__name__=\"b\"} 1\n", TEXT, 1, 3, "duplicate label name \"__name__\"");
    assert_err("a{x=\"1\",x=\"1\"} 1\n# EOF\n", OM, 1, 9, "duplicate label name \"x\"");
}

#[test]
fn metric_name_from_name_label_or_missing() {
    let s = single("{__name__=\"a\",b=\"c\"} 1\n", TEXT);
    assert_eq!(s.labels, labels(&[("__name__", "a"), ("b", "c")]));
    assert_err("{b=\"c\"} 1\n", TEXT, 1, 1, "missing metric name");
    assert_err("x 1\n  {__name__=\"\"} 1\n", TEXT, 2, 3, "missing metric name");
    assert_err("{} 1\n# EOF\n", OM, 1, 1, "missing metric name");
}

#[test]
fn quoted_utf8_names() {
    let s = single("{\"my.metric\", \"my.label\"=\"v\", plain=\"w\"} 1\n", TEXT);
    assert_eq!(s.labels, labels(&[("__name__", "my.metric"), ("my.label", "v"), ("plain", "w")]));
    let s = single("{\"a\"=\"b\",\"ünï \\\"q\\\"\"} 2\n# EOF\n", OM);
    assert_eq!(s.labels, labels(&[("__name__", "ünï \"q\""), ("a", "b")]));
    let e = ok("# TYPE \"my.metric\" gauge\n# HELP \"my.metric\" Dots.\n{\"my.metric\"} 1\n# EOF\n", OM);
    assert_eq!(e.types["my.metric"], MetricType::Gauge);
    assert_eq!(e.help["my.metric"], "Dots.");
    let e = ok("# TYPE \"my metric\" counter\n", TEXT);
    assert_eq!(e.types["my metric"], MetricType::Counter);

    assert_err("a{\"b\"} 1\n", TEXT, 1, 3, "metric name \"b\" given twice");
    assert_err("{\"b\",\"c\"} 1\n", TEXT, 1, 6, "metric name \"c\" given twice");
    assert_err("{__name__=\"x\",\"b\"} 1\n", TEXT, 1, 15, "given twice");
    assert_err("{\"\"} 1\n", TEXT, 1, 2, "empty quoted metric name");
    assert_err("a{\"\"=\"x\"} 1\n", TEXT, 1, 3, "empty quoted label name");
    assert_err("{\"b\" 1\n", TEXT, 1, 6, "expected '=' after a quoted label name, or ',' or '}'");
    assert_err("# TYPE \"\" gauge\n", TEXT, 1, 8, "empty quoted metric name");
}

// ---- quoted strings ----

#[test]
fn unterminated_strings() {
    assert_err(
        "a{b=\"c} 1\n",
        TEXT,
        1,
        10,
        "unterminated label value starting at column 5: expected closing '\"', found end of line",
    );
    assert_err("x 1\na{b=\"c", TEXT, 2, 7, "found end of input");
    assert_err("a{b=\"c\\\"} 1\n", TEXT, 1, 12, "unterminated label value");
    assert_err("{\"a.b 1\n", TEXT, 1, 8, "unterminated quoted name starting at column 2");
    assert_err("a{b=\"line\nbreak\"} 1\n", TEXT, 1, 10, "found end of line");
}

#[test]
fn bad_escapes() {
    assert_err(
        "a{b=\"x\\ty\"} 1\n",
        TEXT,
        1,
        7,
        "invalid escape sequence in label value: expected \\\\, \\\" or \\n, found '\\' followed by 't'",
    );
    assert_err("a{b=\"\\u0041\"} 1\n", TEXT, 1, 6, "found '\\' followed by 'u'");
    assert_err("a{b=\"ü\\é\"} 1\n", TEXT, 1, 7, "followed by 'é'");
    assert_err(
        "a{b=\"x\\\n",
        TEXT,
        1,
        7,
        "invalid escape sequence in label value: expected \\\\, \\\" or \\n, found end of line",
    );
    assert_err("a{b=\"x\\", TEXT, 1, 7, "found end of input");
    assert_err("{\"a\\.b\"} 1\n", TEXT, 1, 4, "invalid escape sequence in quoted name");
}

// ---- metadata ----

#[test]
fn unknown_type_keywords() {
    assert_err(
        "# TYPE a gauges\n",
        TEXT,
        1,
        10,
        "unknown metric type \"gauges\": expected one of counter, gauge, histogram, summary or untyped",
    );
    assert_err("# TYPE a info\n", TEXT, 1, 10, "unknown metric type \"info\"");
    assert_err("# TYPE a Counter\n", TEXT, 1, 10, "unknown metric type \"Counter\"");
    assert_err(
        "# TYPE a untyped\n# EOF\n",
        OM,
        1,
        10,
        "unknown metric type \"untyped\": expected one of counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown",
    );
    assert_err("# TYPE a counter \n# EOF\n", OM, 1, 10, "unknown metric type \"counter \"");
    assert_err(
        "# TYPE a\n",
        TEXT,
        1,
        9,
        "expected whitespace and a metric type after metric name \"a\", found end of line",
    );
    assert_err("# TYPE a \n", TEXT, 1, 10, "expected a metric type after metric name \"a\", found end of line");
    assert_err("# TYPE a gauge extra\n", TEXT, 1, 16, "expected end of line after the metric type, found 'e'");
    assert_err("# TYPE \n", TEXT, 1, 8, "expected metric name after TYPE, found end of line");
    assert_err("# HELP 9a x\n", TEXT, 1, 8, "expected metric name after HELP, found '9'");
    assert_err("# HELP a{ x\n", TEXT, 1, 9, "expected whitespace after metric name \"a\", found '{'");
}

#[test]
fn second_type_or_help_for_a_family() {
    assert_err("# TYPE a gauge\na 1\n# TYPE a counter\n", TEXT, 3, 8, "second TYPE line for metric family \"a\"");
    assert_err("# TYPE a gauge\n# TYPE a gauge\n# EOF\n", OM, 2, 8, "second TYPE line for metric family \"a\"");
    assert_err("# HELP a x\n# HELP a y\n", TEXT, 2, 8, "second HELP line for metric family \"a\"");
    // Different families are independent.
    let e = ok("# TYPE a gauge\n# TYPE a_total counter\n# TYPE b gauge\n", TEXT);
    assert_eq!(e.types.len(), 3);
}

#[test]
fn exemplars_are_not_part_of_the_text_format() {
    assert_err("a_total 1 # {trace_id=\"x\"} 1\n", TEXT, 1, 11, "invalid timestamp \"#\"");
}

// ---- error positions ----

#[test]
fn columns_count_characters_not_bytes() {
    assert_err("a{b=\"ü€😀\"} x\n", TEXT, 1, 12, "invalid sample value \"x\"");
    assert_err("a{b=\"ü€😀\",c=\"d\"} 1 x\n", TEXT, 1, 20, "invalid timestamp \"x\"");
    let e = err("# HELP a ü\na{\"ü\"=\"€\",\"ü\"=\"€\"} 1\n", TEXT);
    assert_eq!((e.line, e.column), (2, 11), "{e}");
    assert_eq!(e.to_string(), "line 2, column 11: duplicate label name \"ü\"");
}

#[test]
fn error_lines_count_every_line() {
    let text = "# HELP a x\n\n# TYPE a gauge\na 1\n\n\na{b=\"1\"} 2 3\na{b=\"1\"} oops\n";
    assert_err(text, TEXT, 8, 10, "invalid sample value \"oops\"");
    let text = "# TYPE a gauge\na 1\na{b=\"1\"} 2 3.5x\n# EOF\n";
    assert_err(text, OM, 3, 12, "invalid timestamp \"3.5x\"");
}

// ---- OpenMetrics ----

#[test]
fn openmetrics_reference_example() {
    let text = r#"# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
# TYPE go_goroutines gauge
go_goroutines 69
# TYPE process_cpu_seconds counter
# UNIT process_cpu_seconds seconds
# HELP process_cpu_seconds Total user and system CPU time spent in seconds.
process_cpu_seconds_total 4.20072246e+06 1520879607.789
# TYPE foo histogram
foo_bucket{le="0.01"} 0
foo_bucket{le="1.0"} 5 # {trace_id="KOO5S4vxi0o"} 0.67
foo_bucket{le="+Inf"} 17 # {} 7.5 1520879607.789
foo_count 17
foo_sum 324789.3
foo_created 1520430000.123
# TYPE build info
build_info{version="1.2.3"} 1
# TYPE door stateset
door{door="open"} 1
door{door="closed"} 0
# TYPE queue gaugehistogram
queue_gbucket{le="+Inf"} 3
queue_gcount 3
queue_gsum 3
# TYPE mystery unknown
mystery 0
# EOF
"#;
    let e = ok(text, OM);
    assert_eq!(e.samples.len(), 18);
    assert_eq!(
        e.samples[0],
        sample(
            &[("__name__", "acme_http_router_request_seconds_sum"), ("path", "/api/v1"), ("method", "GET")],
            9036.32,
            None
        )
    );
    assert_eq!(
        e.samples[4],
        sample(&[("__name__", "process_cpu_seconds_total")], 4.20072246e6, Some(1_520_879_607_789))
    );
    assert_eq!(e.samples[6], sample(&[("__name__", "foo_bucket"), ("le", "1.0")], 5.0, None));
    assert_eq!(e.samples[7], sample(&[("__name__", "foo_bucket"), ("le", "+Inf")], 17.0, None));
    assert_eq!(e.samples[10], sample(&[("__name__", "foo_created")], 1_520_430_000.123, None));
    assert_eq!(
        e.types.iter().map(|(k, v)| (k.as_str(), *v)).collect::<Vec<_>>(),
        vec![
            ("acme_http_router_request_seconds", MetricType::Summary),
            ("build", MetricType::Info),
            ("door", MetricType::StateSet),
            ("foo", MetricType::Histogram),
            ("go_goroutines", MetricType::Gauge),
            ("mystery", MetricType::Unknown),
            ("process_cpu_seconds", MetricType::Counter),
            ("queue", MetricType::GaugeHistogram),
        ]
    );
    assert_eq!(e.help["acme_http_router_request_seconds"], "Latency though all of ACME's HTTP request router.");
}

#[test]
fn openmetrics_timestamps_are_seconds() {
    let ts = |t: &str| single(&format!("a 1 {t}\n# EOF\n"), OM).timestamp;
    assert_eq!(ts("1520879607.789"), Some(1_520_879_607_789));
    assert_eq!(ts("1520879607"), Some(1_520_879_607_000));
    assert_eq!(ts("1520879607.7899999"), Some(1_520_879_607_789));
    assert_eq!(ts("1.520879607789e9"), Some(1_520_879_607_789));
    assert_eq!(ts("-1.5"), Some(-1_500));
    assert_eq!(ts("0"), Some(0));
    assert_err("a 1 NaN\n# EOF\n", OM, 1, 5, "invalid timestamp \"NaN\": a timestamp must be finite");
    assert_err("a 1 +Inf\n# EOF\n", OM, 1, 5, "must be finite");
    assert_err("a 1 1e30\n# EOF\n", OM, 1, 5, "out of range");
    assert_err("a 1 12:00\n# EOF\n", OM, 1, 5, "invalid timestamp \"12:00\": expected seconds since the epoch");
    assert_err("a 1 2 3\n# EOF\n", OM, 1, 7, "expected '#' starting an exemplar, found '3'");
}

#[test]
fn openmetrics_exemplars_are_parsed_and_dropped() {
    for line in [
        "a_total 1 # {trace_id=\"abc\"} 1",
        "a_total 1 # {trace_id=\"abc\",span=\"x\\\"y\"} 0.5 1520879607.789",
        "a_total 1 1520879607.789 # {} NaN",
        "a_total 1 # {\"quoted.name\"=\"v\",} -Inf 1",
    ] {
        let s = single(&format!("{line}\n# EOF\n"), OM);
        assert_eq!(s.labels, labels(&[("__name__", "a_total")]), "{line}");
        assert_eq!(s.value, 1.0);
    }
    assert_err("a 1 # {x=\"y\"}\n# EOF\n", OM, 1, 14, "expected ' ' before the exemplar value, found end of line");
    assert_err("a 1 # {x=\"y\"} abc\n# EOF\n", OM, 1, 15, "invalid exemplar value \"abc\"");
    assert_err("a 1 # {x=\"y\"} 1 1 1\n# EOF\n", OM, 1, 18, "expected end of line after the exemplar, found ' '");
    assert_err("a 1 # {x=\"y\"} 1 abc\n# EOF\n", OM, 1, 17, "invalid timestamp \"abc\"");
    assert_err("a 1 # x\n# EOF\n", OM, 1, 7, "expected '{' starting the exemplar's label set, found 'x'");
    assert_err("a 1 #{x=\"y\"} 1\n# EOF\n", OM, 1, 6, "expected ' ' after the '#' of an exemplar, found '{'");
    assert_err("a 1 # {\"name\"} 1\n# EOF\n", OM, 1, 14, "expected '=' after a quoted label name, found '}'");
    assert_err("a 1 # {x=\"\\q\"} 1\n# EOF\n", OM, 1, 11, "invalid escape sequence");
}

#[test]
fn openmetrics_eof_handling() {
    assert_eq!(ok("# EOF\n", OM), Exposition::default());
    assert_eq!(ok("# EOF", OM), Exposition::default());
    assert_eq!(ok("a 1\n# EOF", OM).samples.len(), 1);
    assert_err("", OM, 1, 1, "expected '# EOF' at the end of an OpenMetrics exposition, found end of input");
    assert_err("a 1\n", OM, 2, 1, "expected '# EOF'");
    assert_err("a 1", OM, 1, 4, "expected '# EOF'");
    assert_err("# EOF\na 1\n", OM, 2, 1, "expected end of input after '# EOF', found 'a'");
    assert_err("# EOF\n\n", OM, 2, 1, "expected end of input after '# EOF', found end of line");
    assert_err("# EOF \n", OM, 1, 6, "expected end of line after '# EOF', found ' '");
    assert_err("# EOFX\n", OM, 1, 6, "found 'X'");
    // In the text format `# EOF` is just a comment.
    assert_eq!(ok("# EOF\na 1\n", TEXT).samples.len(), 1);
}

#[test]
fn openmetrics_is_strict_about_layout() {
    assert_err("a 1\n\n# EOF\n", OM, 2, 1, "OpenMetrics allows no empty lines");
    assert_err("# random comment\n# EOF\n", OM, 1, 3, "expected HELP, TYPE, UNIT or EOF after '# ', found \"random\"");
    assert_err("#TYPE a gauge\n# EOF\n", OM, 1, 2, "expected ' ' after '#', found 'T'");
    assert_err("a  1\n# EOF\n", OM, 1, 3, "expected sample value, found ' '");
    assert_err("a\t1\n# EOF\n", OM, 1, 2, "expected '{' or ' ' after metric name \"a\", found '\\t'");
    assert_err(" a 1\n# EOF\n", OM, 1, 1, "expected a metric name or '{', found ' '");
    assert_err("a{b=\"1\"}1\n# EOF\n", OM, 1, 9, "expected ' ' before the sample value, found '1'");
    assert_err("a{b = \"1\"} 1\n# EOF\n", OM, 1, 4, "expected '=' after label name \"b\", found ' '");
    assert_err("a 1 \n# EOF\n", OM, 1, 5, "expected a timestamp or '# {' exemplar, found end of line");
    assert_err("# HELP a\n# EOF\n", OM, 1, 9, "expected ' ' after metric name \"a\", found end of line");
    assert_err("# TYPE  a gauge\n# EOF\n", OM, 1, 8, "expected metric name after TYPE, found ' '");
}

#[test]
fn openmetrics_help_unit_and_escapes() {
    let e = ok("# HELP a x \\\"y\\\" \\\\ \\n \\z\n# UNIT a_seconds seconds\n# EOF\n", OM);
    assert_eq!(e.help["a"], "x \"y\" \\ \n \\z");
    let e = ok("# HELP a \n# EOF\n", OM);
    assert_eq!(e.help["a"], "");
    assert_err("# UNIT 1a s\n# EOF\n", OM, 1, 8, "expected metric name after UNIT, found '1'");
}

#[test]
fn never_panics_on_odd_inputs() {
    for text in [
        "\0",
        "#",
        "# ",
        "{",
        "}",
        "\"",
        "a{",
        "a{\"",
        "a{b",
        "a{b=",
        "a{b=\"",
        "a{b=\"\\",
        "a{b=\"\\é",
        "a{b=\"1\"",
        "a{b=\"1\",",
        "a ",
        "a 1 ",
        "a 1 #",
        "a 1 # ",
        "a 1 # {",
        "a 1 # {}",
        "a 1 # {} ",
        "a 1 # {} 1 ",
        "# HELP",
        "# HELP ",
        "# TYPE a",
        "# TYPE \"",
        "# TYPE \"\\",
        "é",
        "😀{",
        "\u{feff}a 1",
        "a 1\r\n",
        "\n\n\n#",
        "# EO",
        "# EOF\n\n",
        "{\"",
        "{\"\"",
        "{\"a\"",
        "{\"a\",",
        "{\"a\"=",
        "a 1 1 1",
    ] {
        for format in [TEXT, OM] {
            if let Err(e) = parse(text, format) {
                assert!(e.line >= 1 && e.column >= 1, "{e:?}");
                assert!(e.line <= text.split('\n').count(), "{text:?}: {e:?}");
            }
        }
    }
}
