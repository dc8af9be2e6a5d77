//! Round trips: prometheus-client's OpenMetrics encoder and our own writer, into the parser;
//! and robustness of the parser on mangled and arbitrary input.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use model::Labels;
use monitor::exposition::{Format, MetricType, ParsedSample, parse};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::{CounterWithExemplar, HistogramWithExemplars};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use proptest::prelude::*;

/// `cases` cases, and no regression files written next to the tests.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(cases) }
}

// ---- strategies ----

type LabelSet = Vec<(String, String)>;

/// Label values with everything that needs escaping, unicode, and arbitrary strings.
fn label_value() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9]{0,6}", r#"[\\"\n a-zé€😀]{0,8}"#, any::<String>(),]
}

/// Legal label names; `le` is reserved for histogram buckets.
fn label_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,5}".prop_map(|k| if k == "le" { "lex".to_owned() } else { k })
}

/// A label set with distinct names.
fn label_set() -> impl Strategy<Value = LabelSet> {
    prop::collection::btree_map(label_name(), label_value(), 0..4).prop_map(|m| m.into_iter().collect())
}

/// Any f64 worth testing: special values, extremes, subnormals, ordinary numbers.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(f64::MAX),
        Just(f64::MIN),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        any::<f64>(),
        -1e6..1e6f64,
        (0u32..1_000_000).prop_map(f64::from),
    ]
}

/// Finite histogram bucket bounds.
fn bound() -> impl Strategy<Value = f64> {
    prop_oneof![-1e3..1e3f64, prop::num::f64::NORMAL, prop::num::f64::SUBNORMAL, Just(0.0), Just(-0.0),]
}

fn exemplar_time() -> impl Strategy<Value = Option<SystemTime>> {
    proptest::option::of((0u64..4_000_000_000_000).prop_map(|ms| UNIX_EPOCH + Duration::from_millis(ms)))
}

/// An exemplar: its labels and optional timestamp.
type ExemplarSpec = (LabelSet, Option<SystemTime>);
/// A histogram observation with an optional exemplar label set.
type Observation = (f64, Option<LabelSet>);

#[derive(Debug, Clone)]
enum Kind {
    Counter(Vec<(LabelSet, Vec<f64>)>),
    /// prometheus-client only encodes exemplar counters with `u64` values.
    CounterWithExemplar(Vec<(LabelSet, u64, Option<ExemplarSpec>)>),
    Gauge(Vec<(LabelSet, f64)>),
    Histogram {
        buckets: Vec<f64>,
        series: Vec<(LabelSet, Vec<Observation>)>,
    },
    Info(LabelSet),
}

#[derive(Debug, Clone)]
struct FamilySpec {
    word: String,
    help: String,
    seconds: bool,
    kind: Kind,
}

/// Series of one family: distinct label sets (the family's keys).
fn series<T: std::fmt::Debug + Clone>(v: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<(LabelSet, T)>> {
    prop::collection::btree_map(label_set(), v, 0..4).prop_map(|m| m.into_iter().collect())
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        series(prop::collection::vec(value(), 1..3)).prop_map(Kind::Counter),
        series((any::<u64>(), proptest::option::of((label_set(), exemplar_time()))))
            .prop_map(|s| { Kind::CounterWithExemplar(s.into_iter().map(|(l, (v, e))| (l, v, e)).collect()) }),
        series(value()).prop_map(Kind::Gauge),
        (
            prop::collection::vec(bound(), 0..5),
            series(prop::collection::vec((value(), proptest::option::of(label_set())), 0..6)),
        )
            .prop_map(|(mut buckets, series)| {
                buckets.sort_by(f64::total_cmp);
                buckets.dedup();
                Kind::Histogram { buckets, series }
            }),
        label_set().prop_map(Kind::Info),
    ]
}

fn family() -> impl Strategy<Value = FamilySpec> {
    ("[a-z][a-z_]{0,6}", "[a-zA-Z0-9 .,()'\"]{0,20}", any::<bool>(), kind())
        .prop_map(|(word, help, seconds, kind)| FamilySpec { word, help, seconds, kind })
}

// ---- expectations ----

/// A canonical NaN, so that NaN compares equal to NaN and everything else bit for bit.
fn value_key(v: f64) -> u64 {
    if v.is_nan() { f64::NAN.to_bits() } else { v.to_bits() }
}

/// `le` values compared as numbers: the encoder's float formatting is its own business
/// (prometheus-client's 0.0.4 encoder writes a `-0.0` bound as `0`, like Go clients).
fn canonical_bound(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == 0.0 {
        "0".to_owned()
    } else {
        format!("{v:?}")
    }
}

fn canonical(sample: &ParsedSample) -> (Labels, u64) {
    let mut labels = sample.labels.clone();
    if let Some(le) = labels.get("le") {
        let bound: f64 = le.parse().unwrap_or_else(|_| panic!("unparseable le {le:?}"));
        labels.set("le", canonical_bound(bound));
    }
    (labels, value_key(sample.value))
}

/// What a registry must parse into, in each format.
struct Expected {
    samples: Vec<(Labels, u64)>,
    om_types: BTreeMap<String, MetricType>,
    text_types: BTreeMap<String, MetricType>,
    om_help: BTreeMap<String, String>,
    text_help: BTreeMap<String, String>,
}

impl Expected {
    /// A family that is encoded: OpenMetrics names it `family`, the text format by its
    /// (suffixed) sample name.
    fn family(&mut self, family: &str, text_name: &str, t: MetricType, help: &str) {
        let text_type = if t == MetricType::Info { MetricType::Gauge } else { t };
        self.om_types.insert(family.to_owned(), t);
        self.text_types.insert(text_name.to_owned(), text_type);
        self.om_help.insert(family.to_owned(), format!("{help}."));
        // The text format separates help from the name by any blanks: leading ones are lost.
        let text_help = format!("{}.", help.trim_start_matches([' ', '\t']));
        self.text_help.insert(text_name.to_owned(), text_help);
    }

    fn sample(&mut self, labels: Labels, v: f64) {
        self.samples.push((labels, value_key(v)));
    }
}

fn series_labels(name: &str, consts: &LabelSet, labels: &LabelSet) -> Labels {
    Labels::from_pairs(consts.iter().chain(labels).map(|(k, v)| (k.as_str(), v.as_str())).chain([("__name__", name)]))
}

fn register(
    registry: &mut Registry,
    name: &str,
    help: &str,
    seconds: bool,
    metric: impl prometheus_client::registry::Metric,
) {
    if seconds {
        registry.register_with_unit(name, help, Unit::Seconds, metric);
    } else {
        registry.register(name, help, metric);
    }
}

/// Registers `families` and returns the registry and what it must parse into.
fn build(prefix: Option<&str>, consts: &LabelSet, families: &[FamilySpec]) -> (Registry, Expected) {
    let const_labels =
        consts.iter().map(|(k, v)| (Cow::Owned(k.clone()), Cow::Owned(v.clone()))).collect::<Vec<_>>().into_iter();
    let mut registry = match prefix {
        Some(p) => Registry::with_prefix_and_labels(p, const_labels),
        None => Registry::with_labels(const_labels),
    };
    let mut want = Expected {
        samples: Vec::new(),
        om_types: BTreeMap::new(),
        text_types: BTreeMap::new(),
        om_help: BTreeMap::new(),
        text_help: BTreeMap::new(),
    };

    for (i, f) in families.iter().enumerate() {
        let base = format!("{}_{i}", f.word);
        let mut full = match prefix {
            Some(p) => format!("{p}_{base}"),
            None => base.clone(),
        };
        if f.seconds {
            full.push_str("_seconds");
        }
        let r = &mut registry;
        match &f.kind {
            Kind::Counter(series) => {
                let family = Family::<LabelSet, Counter<f64, AtomicU64>>::default();
                for (labels, incs) in series {
                    let counter = family.get_or_create(labels);
                    for v in incs {
                        counter.inc_by(*v);
                    }
                }
                register(r, &base, &f.help, f.seconds, family.clone());
                let name = format!("{full}_total");
                if !series.is_empty() {
                    want.family(&full, &name, MetricType::Counter, &f.help);
                }
                for (labels, _) in series {
                    let v = family.get(labels).expect("registered series").get();
                    want.sample(series_labels(&name, consts, labels), v);
                }
            }
            Kind::CounterWithExemplar(series) => {
                type C = CounterWithExemplar<LabelSet>;
                let family = Family::<LabelSet, C>::default();
                for (labels, v, exemplar) in series {
                    let (ex_labels, ex_time) = match exemplar.clone() {
                        Some((l, t)) => (Some(l), t),
                        None => (None, None),
                    };
                    family.get_or_create(labels).inc_by(*v, ex_labels, ex_time);
                }
                register(r, &base, &f.help, f.seconds, family.clone());
                let name = format!("{full}_total");
                if !series.is_empty() {
                    want.family(&full, &name, MetricType::Counter, &f.help);
                }
                for (labels, _, _) in series {
                    let v = family.get(labels).expect("registered series").get().0 as f64;
                    want.sample(series_labels(&name, consts, labels), v);
                }
            }
            Kind::Gauge(series) => {
                let family = Family::<LabelSet, Gauge<f64, AtomicU64>>::default();
                for (labels, v) in series {
                    family.get_or_create(labels).set(*v);
                }
                register(r, &base, &f.help, f.seconds, family);
                if !series.is_empty() {
                    want.family(&full, &full, MetricType::Gauge, &f.help);
                }
                for (labels, v) in series {
                    want.sample(series_labels(&full, consts, labels), *v);
                }
            }
            Kind::Histogram { buckets, series } => {
                let bounds = buckets.clone();
                let family = Family::<LabelSet, HistogramWithExemplars<LabelSet>, _>::new_with_constructor(move || {
                    HistogramWithExemplars::new(bounds.clone().into_iter())
                });
                for (labels, observations) in series {
                    let histogram = family.get_or_create(labels);
                    for (v, exemplar) in observations {
                        histogram.observe(*v, exemplar.clone(), None);
                    }
                }
                register(r, &base, &f.help, f.seconds, family);
                if !series.is_empty() {
                    want.family(&full, &full, MetricType::Histogram, &f.help);
                }
                for (labels, observations) in series {
                    // The classic histogram's bookkeeping, done independently.
                    let mut sum = 0.0;
                    let mut counts = vec![0u64; buckets.len() + 1];
                    for (v, _) in observations {
                        sum += *v;
                        let bucket = if v.is_nan() {
                            buckets.len()
                        } else {
                            buckets.iter().position(|b| b >= v).unwrap_or(buckets.len())
                        };
                        counts[bucket] += 1;
                    }
                    want.sample(series_labels(&format!("{full}_sum"), consts, labels), sum);
                    let count = observations.len() as f64;
                    want.sample(series_labels(&format!("{full}_count"), consts, labels), count);
                    let bucket_name = format!("{full}_bucket");
                    let mut cumulative = 0;
                    for (bound, n) in buckets.iter().chain([&f64::INFINITY]).zip(&counts) {
                        cumulative += n;
                        let l = series_labels(&bucket_name, consts, labels).with("le", canonical_bound(*bound));
                        want.sample(l, cumulative as f64);
                    }
                }
            }
            Kind::Info(labels) => {
                register(r, &base, &f.help, f.seconds, Info::new(labels.clone()));
                let name = format!("{full}_info");
                want.family(&full, &name, MetricType::Info, &f.help);
                want.sample(series_labels(&name, consts, labels), 1.0);
            }
        }
    }
    (registry, want)
}

fn sorted(mut v: Vec<(Labels, u64)>) -> Vec<(Labels, u64)> {
    v.sort();
    v
}

proptest! {
    #![proptest_config(config(256))]

    /// prometheus-client's OpenMetrics output parses back to exactly what was registered.
    #[test]
    fn prometheus_client_openmetrics_round_trip(
        prefix in proptest::option::of("[a-z]{1,4}"),
        consts in prop::collection::btree_map("[A-Z][a-z]{0,4}", label_value(), 0..2),
        families in prop::collection::vec(family(), 0..6),
    ) {
        let consts: LabelSet = consts.into_iter().collect();
        let (registry, want) = build(prefix.as_deref(), &consts, &families);
        let mut text = String::new();
        encode(&mut text, &registry).expect("encodes");
        let parsed = parse(&text, Format::OpenMetrics)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert!(parsed.samples.iter().all(|s| s.timestamp.is_none()));
        let got = sorted(parsed.samples.iter().map(canonical).collect());
        prop_assert_eq!(got, sorted(want.samples), "{}", text);
        prop_assert_eq!(parsed.types, want.om_types, "{}", text);
        prop_assert_eq!(parsed.help, want.om_help, "{}", text);
    }

    /// The same through prometheus-client's Prometheus text (0.0.4) encoder.
    #[test]
    fn prometheus_client_text_round_trip(
        prefix in proptest::option::of("[a-z]{1,4}"),
        consts in prop::collection::btree_map("[A-Z][a-z]{0,4}", label_value(), 0..2),
        families in prop::collection::vec(family(), 0..6),
    ) {
        let consts: LabelSet = consts.into_iter().collect();
        let (registry, want) = build(prefix.as_deref(), &consts, &families);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).expect("encodes");
        let parsed = parse(&text, Format::PrometheusText)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let got = sorted(parsed.samples.iter().map(canonical).collect());
        prop_assert_eq!(got, sorted(want.samples), "{}", text);
        prop_assert_eq!(parsed.types, want.text_types, "{}", text);
        prop_assert_eq!(parsed.help, want.text_help, "{}", text);
    }
}

// ---- our own writer ----

fn is_legacy_metric_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && bytes.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

fn is_legacy_label_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && bytes.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_name(out: &mut String, name: &str) {
    if is_legacy_metric_name(name) {
        out.push_str(name);
    } else {
        push_quoted(out, name);
    }
}

fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        // Debug is Rust's shortest round-tripping form: `1.0`, `-0.0`, `1e300`, `5e-324`.
        write!(out, "{v:?}").expect("writing to a String");
    }
}

/// Writes samples (and metadata) in the Prometheus text format, or in OpenMetrics with
/// timestamps as seconds and a final `# EOF`. Names that are not legacy names use the
/// quoted UTF-8 form.
fn write_exposition(
    samples: &[ParsedSample],
    types: &BTreeMap<String, MetricType>,
    help: &BTreeMap<String, String>,
    format: Format,
) -> String {
    let om = format == Format::OpenMetrics;
    let mut out = String::new();
    for (name, text) in help {
        out.push_str("# HELP ");
        push_name(&mut out, name);
        out.push(' ');
        for c in text.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '"' if om => out.push_str("\\\""),
                c => out.push(c),
            }
        }
        out.push('\n');
    }
    for (name, t) in types {
        out.push_str("# TYPE ");
        push_name(&mut out, name);
        out.push(' ');
        out.push_str(match (t, om) {
            (MetricType::Unknown, false) => "untyped",
            (t, _) => t.as_str(),
        });
        out.push('\n');
    }
    for s in samples {
        let name = s.labels.metric_name().expect("samples have names");
        let rest: Vec<_> = s.labels.iter().filter(|(k, _)| *k != "__name__").collect();
        let legacy = is_legacy_metric_name(name);
        if legacy {
            out.push_str(name);
        }
        if !legacy || !rest.is_empty() {
            out.push('{');
            if !legacy {
                push_quoted(&mut out, name);
            }
            for (i, (k, v)) in rest.iter().enumerate() {
                if i > 0 || !legacy {
                    out.push(',');
                }
                if is_legacy_label_name(k) {
                    out.push_str(k);
                } else {
                    push_quoted(&mut out, k);
                }
                out.push('=');
                push_quoted(&mut out, v);
            }
            out.push('}');
        }
        out.push(' ');
        push_value(&mut out, s.value);
        if let Some(ms) = s.timestamp {
            out.push(' ');
            if om {
                let sign = if ms < 0 { "-" } else { "" };
                let abs = ms.unsigned_abs();
                write!(out, "{sign}{}.{:03}", abs / 1000, abs % 1000).expect("writing to a String");
            } else {
                write!(out, "{ms}").expect("writing to a String");
            }
        }
        out.push('\n');
    }
    if om {
        out.push_str("# EOF\n");
    }
    out
}

fn metric_name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z_:][a-zA-Z0-9_:]{0,10}", r"\PC{1,8}", r#"[a-z.\\"\n ]{1,6}"#,]
}

fn any_label_name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z_][a-zA-Z0-9_]{0,8}", r"\PC{1,6}", r#"[a-z.\\"\n ]{1,6}"#]
}

fn parsed_sample() -> impl Strategy<Value = ParsedSample> {
    (
        metric_name(),
        prop::collection::vec((any_label_name(), label_value()), 0..5),
        value(),
        proptest::option::of(any::<i64>()),
    )
        .prop_map(|(name, pairs, value, timestamp)| {
            // The name goes last so that a generated `__name__` label cannot replace it.
            let labels = Labels::from_pairs(pairs.into_iter().chain([("__name__".to_owned(), name)]));
            ParsedSample { labels, value, timestamp }
        })
}

fn metric_type(om: bool) -> impl Strategy<Value = MetricType> {
    let text =
        [MetricType::Counter, MetricType::Gauge, MetricType::Histogram, MetricType::Summary, MetricType::Unknown];
    let extra = [MetricType::GaugeHistogram, MetricType::Info, MetricType::StateSet];
    let all: Vec<_> = if om { text.iter().chain(&extra).copied().collect() } else { text.to_vec() };
    prop::sample::select(all)
}

fn same(a: &ParsedSample, b: &ParsedSample) -> bool {
    a.labels == b.labels && value_key(a.value) == value_key(b.value) && a.timestamp == b.timestamp
}

fn writer_round_trip(
    samples: Vec<ParsedSample>,
    types: BTreeMap<String, MetricType>,
    help: BTreeMap<String, String>,
    format: Format,
) -> Result<(), TestCaseError> {
    let text = write_exposition(&samples, &types, &help, format);
    let parsed = parse(&text, format).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    prop_assert_eq!(parsed.samples.len(), samples.len(), "{}", text);
    for (got, want) in parsed.samples.iter().zip(&samples) {
        prop_assert!(same(got, want), "{:?} != {:?}\n{}", got, want, text);
    }
    prop_assert_eq!(parsed.types, types, "{}", text);
    // The text format separates help from the name by any blanks, so leading ones are lost.
    let help: BTreeMap<_, _> = if format == Format::PrometheusText {
        help.into_iter().map(|(k, v)| (k, v.trim_start_matches([' ', '\t']).to_owned())).collect()
    } else {
        help
    };
    prop_assert_eq!(parsed.help, help, "{}", text);
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    /// parse(write(x)) == x in the Prometheus text format.
    #[test]
    fn own_writer_text_round_trip(
        samples in prop::collection::vec(parsed_sample(), 0..8),
        types in prop::collection::btree_map(metric_name(), metric_type(false), 0..4),
        help in prop::collection::btree_map(metric_name(), any::<String>(), 0..4),
    ) {
        writer_round_trip(samples, types, help, Format::PrometheusText)?;
    }

    /// parse(write(x)) == x in OpenMetrics, timestamps written as seconds.
    #[test]
    fn own_writer_openmetrics_round_trip(
        samples in prop::collection::vec(parsed_sample(), 0..8),
        types in prop::collection::btree_map(metric_name(), metric_type(true), 0..4),
        help in prop::collection::btree_map(metric_name(), any::<String>(), 0..4),
    ) {
        writer_round_trip(samples, types, help, Format::OpenMetrics)?;
    }
}

// ---- robustness ----

/// A parse error must point inside the input: an existing line, a column at most one past
/// that line's last character.
fn check_error_position(text: &str, format: Format) -> Result<(), TestCaseError> {
    if let Err(e) = parse(text, format) {
        let lines: Vec<&str> = text.split('\n').collect();
        prop_assert!(e.line >= 1 && e.line <= lines.len(), "{:?} for {:?}", e, text);
        let width = lines[e.line - 1].chars().count();
        prop_assert!(e.column >= 1 && e.column <= width + 1, "{:?} for {:?}", e, text);
        prop_assert!(!e.message.is_empty());
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    Insert(prop::sample::Index, char),
    Delete(prop::sample::Index, usize),
    Truncate(prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![
        prop::sample::select(vec![
            '"', '\\', '{', '}', ',', '=', ' ', '\t', '\n', '#', '.', 'e', '-', '+', 'é', '😀', '\0'
        ]),
        any::<char>(),
    ];
    prop_oneof![
        (any::<prop::sample::Index>(), interesting).prop_map(|(i, c)| Mutation::Insert(i, c)),
        (any::<prop::sample::Index>(), 1usize..4).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for m in mutations {
        match m {
            Mutation::Insert(i, c) => {
                let at = i.index(chars.len() + 1);
                chars.insert(at, *c);
            }
            Mutation::Delete(i, n) if !chars.is_empty() => {
                let at = i.index(chars.len());
                let end = (at + n).min(chars.len());
                chars.drain(at..end);
            }
            Mutation::Truncate(i) if !chars.is_empty() => {
                chars.truncate(i.index(chars.len()));
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(config(1024))]

    /// Valid expositions, mangled: never a panic, and errors point into the input.
    #[test]
    fn mangled_expositions_fail_cleanly(
        samples in prop::collection::vec(parsed_sample(), 1..6),
        om in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let format = if om { Format::OpenMetrics } else { Format::PrometheusText };
        let text = apply(&write_exposition(&samples, &BTreeMap::new(), &BTreeMap::new(), format), &mutations);
        check_error_position(&text, Format::PrometheusText)?;
        check_error_position(&text, Format::OpenMetrics)?;
    }

    /// Arbitrary strings: never a panic, and errors point into the input.
    #[test]
    fn arbitrary_input_fails_cleanly(text in prop_oneof![any::<String>(), r#"[a-z_{}="\\, \t\n#.0-9eE+\-é]{0,60}"#]) {
        check_error_position(&text, Format::PrometheusText)?;
        check_error_position(&text, Format::OpenMetrics)?;
    }
}
