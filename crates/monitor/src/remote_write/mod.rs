//! Prometheus remote write 1.0, decoding: a snappy-compressed (block format) protobuf
//! `prometheus.WriteRequest`, checked before anything is stored.
//!
//! The message types are the subset of Prometheus' `prompb` that remote write 1.0 sends,
//! derived with `prost` by hand (no `protoc` at build time); exemplars, native histograms
//! and metadata are skipped as unknown fields. [`receiver`] is the source that serves
//! `POST /api/v1/write` with it.

use model::{Labels, Sample};
use prost::Message;

pub mod receiver;

pub use receiver::{PATH, RemoteWriteSettings, RemoteWriteSource};

/// The most bytes a request may hold once decompressed, by default (Prometheus' own
/// receiver has no such limit; a sender batches at most a few MB).
pub const DEFAULT_MAX_DECODED_BYTES: usize = 32 << 20;

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    /// The series and their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    /// The series' labels, `__name__` included.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Its samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<ProtoSample>,
}

/// `prometheus.Label`. Its strings are read as byte slices of the decompressed body (the
/// wire format is the same), so decoding copies no label; [`checked`] checks the UTF-8.
#[derive(Clone, PartialEq, Message)]
pub struct Label {
    /// Label name.
    #[prost(bytes = "bytes", tag = "1")]
    pub name: bytes::Bytes,
    /// Label value.
    #[prost(bytes = "bytes", tag = "2")]
    pub value: bytes::Bytes,
}

impl Label {
    /// A label (copying its name and value).
    pub fn new(name: &str, value: &str) -> Self {
        Self {
            name: bytes::Bytes::copy_from_slice(name.as_bytes()),
            value: bytes::Bytes::copy_from_slice(value.as_bytes()),
        }
    }
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoSample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Why a remote-write body was refused (HTTP 400), with what and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// Not snappy's block format (or truncated).
    #[error("the body is not snappy-compressed (block format): {0}")]
    Snappy(String),
    /// Larger than the limit once decompressed.
    #[error("the body decompresses to {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Decompressed size the body declares.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a `WriteRequest`.
    #[error("the body is not a protobuf WriteRequest: {0}")]
    Protobuf(String),
    /// A series with a label that Prometheus would refuse.
    #[error("series {series}: {problem}")]
    InvalidLabels {
        /// Index of the series in the request.
        series: usize,
        /// What is wrong, quoting the label.
        problem: String,
    },
}

/// A decoded request, checked: every series' labels (borrowed from the request, sorted by
/// name, empty values left out) and samples, flattened.
#[derive(Debug, Default)]
pub struct Batch<'a> {
    labels: Vec<(&'a str, &'a str)>,
    /// Per series: its labels' and its samples' ranges.
    series: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
    samples: Vec<Sample>,
}

impl<'a> Batch<'a> {
    /// Series in the request.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether the request held no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Samples in the request.
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// Each series' labels and samples, in request order.
    pub fn iter(&self) -> impl Iterator<Item = (&[(&'a str, &'a str)], &[Sample])> + '_ {
        self.series.iter().map(|(l, s)| (&self.labels[l.clone()], &self.samples[s.clone()]))
    }
}

fn utf8(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// Checks every series' labels as Prometheus checks them (a metric name, valid names, no
/// name twice, valid UTF-8; an empty value means the label is absent). Nothing is returned
/// unless the whole request is valid, so that a refused request stores nothing.
pub fn checked(request: &WriteRequest) -> Result<Batch<'_>, DecodeError> {
    let mut batch = Batch {
        labels: Vec::with_capacity(request.timeseries.iter().map(|s| s.labels.len()).sum()),
        series: Vec::with_capacity(request.timeseries.len()),
        samples: Vec::with_capacity(request.timeseries.iter().map(|s| s.samples.len()).sum()),
    };
    let mut names: Vec<&str> = Vec::new();
    for (index, series) in request.timeseries.iter().enumerate() {
        let invalid = |problem: String| DecodeError::InvalidLabels { series: index, problem };
        let from = batch.labels.len();
        names.clear();
        for l in &series.labels {
            let name = utf8(&l.name).filter(|n| model::valid_label_name(n)).ok_or_else(|| {
                invalid(format!("invalid label name {:?}", model::excerpt(&String::from_utf8_lossy(&l.name))))
            })?;
            let value = utf8(&l.value).ok_or_else(|| invalid(format!("the value of label {name:?} is not UTF-8")))?;
            names.push(name);
            if !value.is_empty() {
                batch.labels.push((name, value));
            }
        }
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(invalid(format!("label {:?} is given twice", model::excerpt(w[0]))));
        }
        let own = &mut batch.labels[from..];
        own.sort_unstable_by(|a, b| a.0.cmp(b.0));
        match own.iter().find(|(n, _)| *n == model::METRIC_NAME) {
            None => return Err(invalid("no metric name (`__name__`)".into())),
            Some((_, name)) if !model::valid_metric_name(name) => {
                return Err(invalid(format!("invalid metric name {:?}", model::excerpt(name))));
            }
            Some(_) => {}
        }
        let first = batch.samples.len();
        batch.samples.extend(series.samples.iter().map(|s| Sample { t: s.timestamp, v: s.value }));
        batch.series.push((from..batch.labels.len(), first..batch.samples.len()));
    }
    Ok(batch)
}

/// Decompresses (within `max_decoded_bytes`) and decodes a remote-write 1.0 body.
pub fn decode_request(body: &[u8], max_decoded_bytes: usize) -> Result<WriteRequest, DecodeError> {
    let size = snap::raw::decompress_len(body).map_err(|e| DecodeError::Snappy(e.to_string()))?;
    if size > max_decoded_bytes {
        return Err(DecodeError::TooLarge { size, limit: max_decoded_bytes });
    }
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| DecodeError::Snappy(e.to_string()))?;
    WriteRequest::decode(bytes::Bytes::from(raw)).map_err(|e| DecodeError::Protobuf(e.to_string()))
}

/// Decodes a remote-write 1.0 body into samples with their labels, in request order;
/// nothing unless the whole request is valid.
pub fn decode(body: &[u8], max_decoded_bytes: usize) -> Result<Vec<(Labels, Sample)>, DecodeError> {
    let request = decode_request(body, max_decoded_bytes)?;
    let batch = checked(&request)?;
    let mut out = Vec::with_capacity(batch.sample_count());
    for (labels, samples) in batch.iter() {
        let labels = Labels::from_pairs(labels.iter().copied());
        out.extend(samples.iter().map(|s| (labels.clone(), *s)));
    }
    Ok(out)
}

/// Encodes `request` as a remote-write body (for senders and tests).
pub fn encode(request: &WriteRequest) -> Vec<u8> {
    // Compressing a byte slice into a Vec cannot fail but for an input over snappy's
    // ~4 GiB limit, which a request built in memory here never reaches.
    snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: labels.iter().map(|(n, v)| Label::new(n, v)).collect(),
            samples: samples.iter().map(|&(timestamp, value)| ProtoSample { value, timestamp }).collect(),
        }
    }

    #[test]
    fn a_write_request_round_trips_with_its_labels_and_samples() {
        let request = WriteRequest {
            timeseries: vec![
                series(&[("__name__", "up"), ("job", "api"), ("empty", "")], &[(1_000, 1.0), (16_000, 0.0)]),
                series(&[("__name__", "http_requests_total"), ("code", "500")], &[(1_000, 7.5)]),
            ],
        };
        let got = decode(&encode(&request), DEFAULT_MAX_DECODED_BYTES).expect("valid");
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, Labels::from_pairs([("__name__", "up"), ("job", "api")]), "an empty value is no label");
        assert_eq!((got[1].1.t, got[1].1.v), (16_000, 0.0));
        assert_eq!(got[2].0.metric_name(), Some("http_requests_total"));
    }

    #[test]
    fn bad_bodies_and_labels_are_refused_with_what_is_wrong() {
        assert!(matches!(
            decode(b"not snappy at all", 1 << 20),
            Err(DecodeError::Snappy(_) | DecodeError::Protobuf(_))
        ));
        let truncated = &encode(&WriteRequest { timeseries: vec![series(&[("__name__", "up")], &[(1, 1.0)])] })[..6];
        assert!(matches!(decode(truncated, 1 << 20), Err(DecodeError::Snappy(_))), "{:?}", decode(truncated, 1 << 20));
        let garbage = snap::raw::Encoder::new().compress_vec(&[0xff; 64]).expect("compress");
        assert!(matches!(decode(&garbage, 1 << 20), Err(DecodeError::Protobuf(_))));
        let big = WriteRequest { timeseries: vec![series(&[("__name__", "up")], &[(1, 1.0); 1000])] };
        assert!(matches!(decode(&encode(&big), 100), Err(DecodeError::TooLarge { limit: 100, .. })));
        for (labels, want) in [
            (vec![("job", "x")], "series 1: no metric name"),
            (vec![("__name__", "up"), ("1abc", "x")], "series 1: invalid label name \"1abc\""),
            (vec![("__name__", "up"), ("a", "1"), ("a", "2")], "series 1: label \"a\" is given twice"),
            (vec![("__name__", "up-time")], "series 1: invalid metric name \"up-time\""),
        ] {
            let request = WriteRequest {
                timeseries: vec![series(&[("__name__", "ok")], &[(1, 1.0)]), series(&labels, &[(1, 1.0)])],
            };
            let err = decode(&encode(&request), 1 << 20).expect_err("invalid");
            assert!(err.to_string().starts_with(want), "{err}");
        }
    }
}
