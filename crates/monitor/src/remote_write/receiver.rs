//! The `remote_write` source: `POST /api/v1/write`, Prometheus remote write 1.0 into the
//! series store.
//!
//! The answer follows the protocol's contract with the sender: 204 only once every sample
//! of the request is in the store (a resent sample that is already there counts); 400,
//! which a sender does not retry, for a body that cannot be decoded or samples the store
//! refuses (out of order, another value for a stored timestamp, too old, too far ahead,
//! a new series beyond `max_series`), each counted by reason; 415 for another protocol
//! (remote write 2.0) or encoding. Samples a refused request carried that the store took
//! stay: a refusal never removes what was accepted.

use std::sync::Arc;
use std::time::Duration;

use model::{Appended, BoxFuture, HttpRequest, HttpResponse, Labels, Millis, Origin, Role, Route, Sample, SeriesRef};
use model::{Source, SourceContext};

use super::{DEFAULT_MAX_DECODED_BYTES, DecodeError, checked, decode_request};

/// The path Prometheus' `remote_write.url` points at.
pub const PATH: &str = "/api/v1/write";

/// How far ahead of the controller's clock a sample may be (a sender's clock skew).
pub const MAX_FUTURE: Duration = Duration::from_secs(10 * 60);

/// Settings of a `remote_write` source.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWriteSettings {
    /// Largest request once decompressed (`max_request_size`); the compressed body may be
    /// as large as snappy's worst case for that size.
    pub max_request_bytes: usize,
    /// Samples older than this before now are refused as out of bounds (the store's
    /// retention: they would be dropped at once).
    pub retention: Duration,
}

impl Default for RemoteWriteSettings {
    fn default() -> Self {
        Self { max_request_bytes: DEFAULT_MAX_DECODED_BYTES, retention: Duration::from_secs(3600) }
    }
}

/// The `remote_write` source.
pub struct RemoteWriteSource {
    settings: RemoteWriteSettings,
}

impl RemoteWriteSource {
    /// A receiver with these settings.
    pub fn new(settings: RemoteWriteSettings) -> Self {
        Self { settings }
    }
}

impl Source for RemoteWriteSource {
    fn type_name(&self) -> &'static str {
        "remote_write"
    }

    fn name(&self) -> String {
        format!("remote_write {PATH}")
    }

    fn run(&self, _ctx: SourceContext) -> BoxFuture<'static, ()> {
        // Everything happens in the route's handler.
        Box::pin(std::future::pending())
    }

    fn routes(&self, ctx: &SourceContext) -> Vec<Route> {
        let receiver = Arc::new(Receiver { settings: self.settings.clone(), ctx: ctx.clone() });
        let max = self.settings.max_request_bytes;
        vec![Route {
            path: PATH,
            role: Role::Write,
            // Snappy's worst case for incompressible input.
            max_body_bytes: max.saturating_add(max / 6).saturating_add(32),
            handler: Arc::new(move |request| {
                let receiver = receiver.clone();
                Box::pin(async move { receiver.receive(&request) })
            }),
        }]
    }
}

struct Receiver {
    settings: RemoteWriteSettings,
    ctx: SourceContext,
}

/// One series of a checked request: its labels and samples.
type SeriesOf<'a> = (&'a [(&'a str, &'a str)], &'a [Sample]);

/// Why samples of an accepted body were not stored, in the order of the `reason` label.
const REASONS: [&str; 5] =
    ["out_of_order", "duplicate_timestamp", "too_many_series", "out_of_bounds", "too_far_in_future"];

impl Receiver {
    fn receive(&self, request: &HttpRequest) -> HttpResponse {
        if let Err(refusal) = check_protocol(request) {
            return refusal;
        }
        let decoded = match decode_request(&request.body, self.settings.max_request_bytes) {
            Ok(r) => r,
            Err(e @ DecodeError::TooLarge { .. }) => return HttpResponse::error(413, "bad_data", &e.to_string()),
            Err(e) => return HttpResponse::bad_data(&e.to_string()),
        };
        let batch = match checked(&decoded) {
            Ok(b) => b,
            Err(e) => return HttpResponse::bad_data(&e.to_string()),
        };
        let now = self.ctx.clock.now();
        let oldest = now.saturating_sub(Millis::try_from(self.settings.retention.as_millis()).unwrap_or(Millis::MAX));
        let newest = now.saturating_add(MAX_FUTURE.as_millis() as Millis);
        let mut refused = [0u64; REASONS.len()];
        // The first refused sample of each reason: its series and time.
        let mut first: [Option<(usize, Millis)>; REASONS.len()] = [None; REASONS.len()];
        // Samples outside the accepted time range never reach the store: one sample far in
        // the future would otherwise make every later one of its series out of order.
        let mut kept: Vec<Sample> = Vec::with_capacity(batch.sample_count());
        let mut spans: Vec<(usize, std::ops::Range<usize>)> = Vec::with_capacity(batch.len());
        for (index, (_, samples)) in batch.iter().enumerate() {
            let from = kept.len();
            for sample in samples {
                let reason = if sample.t < oldest {
                    3
                } else if sample.t > newest {
                    4
                } else {
                    kept.push(*sample);
                    continue;
                };
                refused[reason] += 1;
                first[reason].get_or_insert((index, sample.t));
            }
            spans.push((index, from..kept.len()));
        }
        let all: Vec<SeriesOf<'_>> = batch.iter().collect();
        let series: Vec<SeriesRef<'_>> =
            spans.iter().map(|(i, r)| SeriesRef { labels: all[*i].0, samples: &kept[r.clone()] }).collect();
        let appended = self.ctx.samples.append_series(Origin::Target, &series);
        let mut stored = 0u64;
        let mut outcomes = appended.iter();
        for (i, r) in &spans {
            for k in r.clone() {
                let reason = match outcomes.next() {
                    Some(Appended::Ok | Appended::Duplicate) | None => {
                        stored += 1;
                        continue;
                    }
                    Some(Appended::OutOfOrder) => 0,
                    Some(Appended::DuplicateTimestamp) => 1,
                    Some(Appended::TooManySeries) => 2,
                };
                refused[reason] += 1;
                first[reason].get_or_insert((*i, kept[k].t));
            }
        }
        let metrics = &self.ctx.metrics;
        metrics.ingested("remote_write", stored);
        for (reason, n) in REASONS.iter().zip(refused) {
            metrics.rejected("remote_write", reason, n);
        }
        let total_refused: u64 = refused.iter().sum();
        if total_refused == 0 {
            return HttpResponse::no_content();
        }
        let mut parts = Vec::new();
        for (r, n) in refused.iter().enumerate() {
            let Some((i, t)) = first[r] else { continue };
            let labels = Labels::from_pairs(all[i].0.iter().copied());
            let what = match r {
                0 => "out of order",
                1 => "duplicate sample for timestamp",
                2 => "new series beyond the store's max_series",
                3 => "older than the store's retention",
                _ => "too far in the future (more than 10m ahead of the receiver's clock)",
            };
            parts.push(format!("{n} {what} (first: {} at {t})", model::excerpt(&labels.to_string())));
        }
        HttpResponse::bad_data(&format!(
            "{total_refused} of {} samples refused, the other {stored} stored: {}",
            batch.sample_count(),
            parts.join("; ")
        ))
    }
}

/// Refuses, with 415, what is not remote write 1.0: another content type or encoding, or
/// another protocol version (2.0 sends `proto=io.prometheus.write.v2.Request`).
fn check_protocol(request: &HttpRequest) -> Result<(), HttpResponse> {
    let unsupported = |what: String| Err(HttpResponse::error(415, "bad_data", &what));
    if let Some(ct) = request.header("content-type") {
        let mut parts = ct.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        if !media.eq_ignore_ascii_case("application/x-protobuf") {
            return unsupported(format!(
                "unsupported Content-Type {:?}: remote write 1.0 sends application/x-protobuf",
                model::excerpt(ct)
            ));
        }
        for param in parts {
            if let Some(proto) = param.strip_prefix("proto=")
                && proto != "prometheus.WriteRequest"
            {
                return unsupported(format!(
                    "unsupported protocol {:?}: only remote write 1.0 (prometheus.WriteRequest) is implemented",
                    model::excerpt(proto)
                ));
            }
        }
    }
    if let Some(encoding) = request.header("content-encoding")
        && !encoding.trim().eq_ignore_ascii_case("snappy")
    {
        return unsupported(format!(
            "unsupported Content-Encoding {:?}: remote write sends snappy",
            model::excerpt(encoding)
        ));
    }
    if let Some(version) = request.header("x-prometheus-remote-write-version")
        && !version.trim().starts_with("0.1.")
    {
        return unsupported(format!(
            "unsupported remote write version {:?}: only 1.0 (0.1.0) is implemented",
            model::excerpt(version)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_write::{Label, ProtoSample, TimeSeries, WriteRequest, encode};
    use crate::store::SeriesStore;
    use model::{ByName, Clock, SeriesReader};

    #[derive(Debug)]
    struct Fixed(Millis);
    impl Clock for Fixed {
        fn now(&self) -> Millis {
            self.0
        }
    }

    const NOW: Millis = 1_700_000_000_000;

    fn setup(max_series: usize) -> (Arc<SeriesStore>, Route, model::SelfMetrics) {
        let store = Arc::new(SeriesStore::new(Duration::from_secs(3600), max_series));
        let metrics = model::SelfMetrics::new();
        let ctx = SourceContext {
            samples: store.clone(),
            signals: model::SignalSink::new(|_| {}),
            clock: Arc::new(Fixed(NOW)),
            metrics: metrics.clone(),
        };
        let route = RemoteWriteSource::new(RemoteWriteSettings::default()).routes(&ctx).remove(0);
        (store, route, metrics)
    }

    fn body(series: &[(&str, &[(Millis, f64)])]) -> Vec<u8> {
        encode(&WriteRequest {
            timeseries: series
                .iter()
                .map(|(inst, samples)| TimeSeries {
                    labels: vec![Label::new("__name__", "up"), Label::new("instance", inst)],
                    samples: samples.iter().map(|&(timestamp, value)| ProtoSample { value, timestamp }).collect(),
                })
                .collect(),
        })
    }

    fn post(route: &Route, body: Vec<u8>, headers: &[(&str, &str)]) -> HttpResponse {
        let request = HttpRequest { headers: headers.iter().map(|(n, v)| ((*n).into(), (*v).into())).collect(), body };
        futures_lite_block_on((route.handler)(request))
    }

    /// The handlers do no I/O: polling once completes them.
    fn futures_lite_block_on(f: BoxFuture<'static, HttpResponse>) -> HttpResponse {
        tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(f)
    }

    const PROM: [(&str, &str); 3] = [
        ("content-type", "application/x-protobuf"),
        ("content-encoding", "snappy"),
        ("x-prometheus-remote-write-version", "0.1.0"),
    ];

    #[test]
    fn every_sample_is_stored_before_the_204_and_a_resent_batch_is_accepted_again() {
        let (store, route, metrics) = setup(100);
        let b = body(&[("a", &[(NOW - 2_000, 1.0), (NOW - 1_000, 2.0)]), ("b", &[(NOW - 1_000, 5.0)])]);
        assert_eq!(post(&route, b.clone(), &PROM).status, 204);
        let read = store.read(&ByName("up"), 0, NOW);
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].samples.len(), 2);
        // A sender that timed out and retries: the same samples again are no error.
        assert_eq!(post(&route, b, &PROM).status, 204);
        assert!(metrics.encode().contains("autonomic_samples_ingested_total{source=\"remote_write\"} 6"));
    }

    #[test]
    fn out_of_order_and_conflicting_samples_are_refused_counted_and_the_rest_kept() {
        let (store, route, metrics) = setup(100);
        assert_eq!(post(&route, body(&[("a", &[(NOW - 1_000, 1.0)])]), &PROM).status, 204);
        let b = body(&[("a", &[(NOW - 5_000, 9.0), (NOW - 1_000, 7.0), (NOW - 500, 3.0)])]);
        let r = post(&route, b, &PROM);
        assert_eq!(r.status, 400);
        let text = String::from_utf8(r.body).unwrap();
        assert!(text.contains("2 of 3 samples refused, the other 1 stored"), "{text}");
        assert!(text.contains("1 out of order") && text.contains("1 duplicate sample for timestamp"), "{text}");
        let samples = &store.read(&ByName("up"), 0, NOW)[0].samples;
        assert_eq!(samples.iter().map(|s| s.v).collect::<Vec<_>>(), vec![1.0, 3.0], "the series is not corrupted");
        let m = metrics.encode();
        assert!(m.contains("reason=\"out_of_order\"} 1") && m.contains("reason=\"duplicate_timestamp\"} 1"), "{m}");
    }

    #[test]
    fn samples_outside_the_time_window_never_reach_the_store() {
        let (store, route, _) = setup(100);
        let b = body(&[("a", &[(NOW - 7_200_000, 1.0), (Millis::MAX, 2.0)]), ("b", &[(NOW, 1.0)])]);
        let r = post(&route, b, &PROM);
        assert_eq!(r.status, 400);
        let text = String::from_utf8(r.body).unwrap();
        assert!(text.contains("older than the store's retention") && text.contains("too far in the future"), "{text}");
        // The far-future sample did not poison series `a`: a sample at now still goes in.
        assert_eq!(post(&route, body(&[("a", &[(NOW, 1.0)])]), &PROM).status, 204);
        assert_eq!(store.read(&ByName("up"), 0, NOW).len(), 2);
    }

    #[test]
    fn new_series_beyond_the_limit_are_refused_with_the_limit_named() {
        let (_, route, _) = setup(1);
        let r = post(&route, body(&[("a", &[(NOW, 1.0)]), ("b", &[(NOW, 1.0)])]), &PROM);
        assert_eq!(r.status, 400);
        assert!(String::from_utf8(r.body).unwrap().contains("1 new series beyond the store's max_series"));
    }

    #[test]
    fn other_protocols_and_encodings_get_415_and_bad_bodies_400() {
        let (store, route, _) = setup(100);
        let b = body(&[("a", &[(NOW, 1.0)])]);
        let v2 = [("content-type", "application/x-protobuf;proto=io.prometheus.write.v2.Request")];
        assert_eq!(post(&route, b.clone(), &v2).status, 415);
        assert_eq!(post(&route, b.clone(), &[("content-type", "application/json")]).status, 415);
        assert_eq!(post(&route, b.clone(), &[("content-encoding", "gzip")]).status, 415);
        assert_eq!(post(&route, b.clone(), &[("x-prometheus-remote-write-version", "2.0.0")]).status, 415);
        let r = post(&route, b"not snappy".to_vec(), &PROM);
        assert_eq!(r.status, 400);
        assert!(String::from_utf8(r.body).unwrap().contains("not snappy"));
        let truncated = b[..b.len() - 3].to_vec();
        assert_eq!(post(&route, truncated, &PROM).status, 400);
        assert!(store.read(&ByName("up"), 0, NOW).is_empty(), "nothing of a refused request is stored");
    }
}
