//! Query results in Prometheus' JSON shape, serialised straight from the result into a
//! buffer that refuses to grow past the response limit.

use model::Millis;
use promql::Value;

/// A successful response, serialised straight from the query's result: a range query over
/// a thousand series returns over a million points, and building a JSON tree of them first
/// cost as long as evaluating the query.
pub struct Success {
    pub(crate) value: Value,
    pub(crate) t: Millis,
}

impl serde::Serialize for Success {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let kind = match &self.value {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        };
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("status", "success")?;
        m.serialize_entry("data", &Data { kind, value: &self.value, t: self.t })?;
        m.end()
    }
}

struct Data<'a> {
    kind: &'static str,
    value: &'a Value,
    t: Millis,
}

impl serde::Serialize for Data<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("resultType", self.kind)?;
        match self.value {
            Value::Scalar(v) => m.serialize_entry("result", &Point(self.t, *v))?,
            Value::String(text) => m.serialize_entry("result", &(Seconds(self.t), text))?,
            Value::Vector(samples) => m.serialize_entry("result", &VectorOut { samples, t: self.t })?,
            Value::Matrix(series) => m.serialize_entry("result", &MatrixOut(series))?,
        }
        m.end()
    }
}

fn seconds(t: Millis) -> f64 {
    t as f64 / 1000.0
}

/// A time in seconds as Prometheus writes it: whole seconds as an integer (`1700000000`),
/// others with their milliseconds (`1700000000.5`).
struct Seconds(Millis);

impl serde::Serialize for Seconds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 1000 == 0 { s.serialize_i64(self.0 / 1000) } else { s.serialize_f64(seconds(self.0)) }
    }
}

/// `[seconds, "value"]`, the value written as Prometheus writes it.
struct Point(Millis, f64);

impl serde::Serialize for Point {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut tup = s.serialize_tuple(2)?;
        tup.serialize_element(&Seconds(self.0))?;
        tup.serialize_element(&FloatText(self.1))?;
        tup.end()
    }
}

struct FloatText(f64);

impl serde::Serialize for FloatText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&promql::PromFloat(self.0))
    }
}

struct Metric<'a>(&'a model::Labels);

impl serde::Serialize for Metric<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter())
    }
}

struct VectorOut<'a> {
    samples: &'a [promql::VectorSample],
    t: Millis,
}

impl serde::Serialize for VectorOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.samples.iter().map(|sample| VectorEntry { sample, t: self.t }))
    }
}

struct VectorEntry<'a> {
    sample: &'a promql::VectorSample,
    t: Millis,
}

impl serde::Serialize for VectorEntry<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("metric", &Metric(&self.sample.labels))?;
        m.serialize_entry("value", &Point(self.t, self.sample.v))?;
        m.end()
    }
}

struct MatrixOut<'a>(&'a [model::SeriesData]);

impl serde::Serialize for MatrixOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(MatrixEntry))
    }
}

struct MatrixEntry<'a>(&'a model::SeriesData);

impl serde::Serialize for MatrixEntry<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("metric", &Metric(&self.0.labels))?;
        m.serialize_entry("values", &Points(&self.0.samples))?;
        m.end()
    }
}

struct Points<'a>(&'a [model::Sample]);

impl serde::Serialize for Points<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|p| Point(p.t, p.v)))
    }
}

/// Writes into memory until `limit` bytes, then fails: a response is built whole before it
/// is sent (so an error can still be answered instead), and must not grow without bound.
pub(crate) struct CappedBuffer {
    pub(crate) bytes: Vec<u8>,
    limit: usize,
    pub(crate) overflowed: bool,
}

impl CappedBuffer {
    pub(crate) fn new(limit: usize) -> Self {
        Self { bytes: Vec::new(), limit, overflowed: false }
    }
}

impl std::io::Write for CappedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len().saturating_add(buf.len()) > self.limit {
            self.overflowed = true;
            return Err(std::io::Error::other("response size limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
