//! The store's snapshot: every series with its compressed chunks, written on shutdown (and
//! periodically) and loaded on start, so a restarted controller keeps the history its
//! learned baselines need.
//!
//! The file is checksummed (CRC-32 of everything before the trailer) and every length in it
//! is checked against what is left, so a truncated or corrupt snapshot is reported and
//! skipped, never a crash. It is written to a temporary file and renamed, so a crash while
//! writing leaves the previous snapshot whole.
//!
//! Layout (little endian): `AUTONOMIC-SNAPSHOT-1`, the series count (u64), then per series
//! its label count (u16), each name and value (u32 length + UTF-8), its chunk count (u32),
//! and per chunk: bits used in the last byte (u8), samples (u16), first and last time and
//! last delta (3 × i64), last value bits (u64), XOR window (2 × u8), bytes (u32 length +
//! bytes); then the CRC-32 (u32).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use model::Labels;

use super::chunk::Chunk;
use super::{MemSeries, SeriesStore};

const MAGIC: &[u8] = b"AUTONOMIC-SNAPSHOT-1";

/// Why a snapshot could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Not a snapshot of this format.
    #[error("not an Autonomic snapshot (or of another version)")]
    Magic,
    /// The checksum does not match: the file is corrupt or truncated.
    #[error("checksum mismatch: the file is corrupt or truncated")]
    Checksum,
    /// The content is inconsistent at `offset`.
    #[error("invalid content at byte {offset}: {what}")]
    Invalid {
        /// Where.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },
}

/// What a snapshot held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Series.
    pub series: usize,
    /// Samples.
    pub samples: usize,
    /// Bytes of the file.
    pub bytes: usize,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], SnapshotError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else { return Err(SnapshotError::Invalid { offset: self.pos, what }) };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], SnapshotError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, SnapshotError> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, SnapshotError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn i64(&mut self, what: &'static str) -> Result<i64, SnapshotError> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }
    fn text(&mut self, what: &'static str) -> Result<&'a str, SnapshotError> {
        let len = self.u32(what)? as usize;
        let offset = self.pos;
        std::str::from_utf8(self.take(len, what)?).map_err(|_| SnapshotError::Invalid { offset, what })
    }
}

fn put_text(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl SeriesStore {
    /// Writes every series to `path` (through a temporary file renamed over it).
    pub fn write_snapshot(&self, path: &Path) -> Result<SnapshotStats, SnapshotError> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        let mut samples = 0;
        let series = {
            let inner = self.read_lock();
            out.extend_from_slice(&(inner.series.len() as u64).to_le_bytes());
            for s in inner.series.values() {
                out.extend_from_slice(&(s.labels.len() as u16).to_le_bytes());
                for (n, v) in s.labels.iter() {
                    put_text(&mut out, n);
                    put_text(&mut out, v);
                }
                out.extend_from_slice(&(s.chunks.len() as u32).to_le_bytes());
                for c in &s.chunks {
                    let (bytes, used, count, times, last_v, window) = c.parts();
                    samples += usize::from(count);
                    out.push(used);
                    out.extend_from_slice(&count.to_le_bytes());
                    for t in times {
                        out.extend_from_slice(&t.to_le_bytes());
                    }
                    out.extend_from_slice(&last_v.to_le_bytes());
                    out.extend_from_slice(&window);
                    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                    out.extend_from_slice(bytes);
                }
            }
            inner.series.len()
        };
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        let tmp = path.with_extension("snapshot-writing");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&out)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        Ok(SnapshotStats { series, samples, bytes: out.len() })
    }

    /// Loads a snapshot written by [`SeriesStore::write_snapshot`] into this (empty) store.
    /// Nothing is loaded unless the whole file checks out.
    pub fn load_snapshot(&self, path: &Path) -> Result<SnapshotStats, SnapshotError> {
        let bytes = std::fs::read(path)?;
        let loaded = parse(&bytes)?;
        let mut samples = 0;
        let mut inner = self.write();
        let limit = self.series_limit(model::Origin::Internal);
        for (labels, chunks) in &loaded {
            if inner.series.len() >= limit {
                break;
            }
            let hash = self.hash_pairs(labels.iter());
            if Self::find(&inner, hash, labels.iter()).is_some() {
                continue;
            }
            samples += chunks.iter().map(Chunk::len).sum::<usize>();
            let id = inner.next_id;
            inner.next_id = inner.next_id.wrapping_add(1);
            let labels = Arc::new(labels.clone());
            inner.index.add(id, &labels);
            inner.add_hash(hash, id);
            inner.series.insert(id, MemSeries::new(labels, chunks.clone()));
        }
        Ok(SnapshotStats { series: inner.series.len(), samples, bytes: bytes.len() })
    }
}

/// Checks and decodes a whole snapshot.
fn parse(bytes: &[u8]) -> Result<Vec<(Labels, Vec<Chunk>)>, SnapshotError> {
    if bytes.len() < MAGIC.len() + 12 || !bytes.starts_with(MAGIC) {
        return Err(SnapshotError::Magic);
    }
    let (body, trailer) = bytes.split_at(bytes.len() - 4);
    let mut crc = [0u8; 4];
    crc.copy_from_slice(trailer);
    if crc32fast::hash(body) != u32::from_le_bytes(crc) {
        return Err(SnapshotError::Checksum);
    }
    let mut c = Cursor { bytes: body, pos: MAGIC.len() };
    let count = c.u64("series count")?;
    let mut out = Vec::new();
    for _ in 0..count {
        let labels_at = c.pos;
        let n = c.u16("label count")?;
        let mut pairs = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            pairs.push((c.text("label name")?, c.text("label value")?));
        }
        let labels = Labels::from_pairs(pairs.iter().copied());
        if labels.len() != pairs.len() || labels.metric_name().is_none() {
            return Err(SnapshotError::Invalid { offset: labels_at, what: "labels" });
        }
        let chunks = c.u32("chunk count")?;
        let mut list: Vec<Chunk> = Vec::new();
        for _ in 0..chunks {
            let at = c.pos;
            let used = c.u8("chunk")?;
            let samples = c.u16("chunk")?;
            let times = [c.i64("chunk")?, c.i64("chunk")?, c.i64("chunk")?];
            let last_v = c.u64("chunk")?;
            let window = [c.u8("chunk")?, c.u8("chunk")?];
            let len = c.u32("chunk length")? as usize;
            let data = c.take(len, "chunk bytes")?.to_vec();
            let chunk = Chunk::from_parts(data, used, samples, times, last_v, window)
                .ok_or(SnapshotError::Invalid { offset: at, what: "chunk" })?;
            if chunk.is_empty() || list.last().is_some_and(|prev| prev.max_t() >= chunk.min_t()) {
                return Err(SnapshotError::Invalid { offset: at, what: "chunk order" });
            }
            list.push(chunk);
        }
        out.push((labels, list));
    }
    if c.pos != body.len() {
        return Err(SnapshotError::Invalid { offset: c.pos, what: "trailing bytes" });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use model::{ByName, Sample, SeriesReader};

    use super::*;

    fn filled() -> SeriesStore {
        let s = SeriesStore::new(Duration::from_secs(3600), 1000);
        for i in 0..300i64 {
            for inst in ["a", "b"] {
                let l = Labels::from_pairs([("__name__", "m"), ("instance", inst)]);
                s.append(&l, Sample { t: 1_000 + i * 15_000, v: (i % 17) as f64 * 1.5 });
            }
        }
        s
    }

    #[test]
    fn a_snapshot_restores_every_sample_and_the_series_keep_growing() {
        let dir = tempfile_dir();
        let path = dir.join("store.snapshot");
        let before = filled();
        let written = before.write_snapshot(&path).expect("written");
        assert_eq!((written.series, written.samples), (2, 600));
        let after = SeriesStore::new(Duration::from_secs(3600), 1000);
        let loaded = after.load_snapshot(&path).expect("loaded");
        assert_eq!((loaded.series, loaded.samples), (2, 600));
        assert_eq!(after.read(&ByName("m"), i64::MIN, i64::MAX), before.read(&ByName("m"), i64::MIN, i64::MAX));
        // The head chunk goes on where it stopped.
        let l = Labels::from_pairs([("__name__", "m"), ("instance", "a")]);
        assert_eq!(after.append(&l, Sample { t: 1_000 + 300 * 15_000, v: 2.0 }), model::Appended::Ok);
        assert_eq!(after.read(&ByName("m"), i64::MIN, i64::MAX)[0].samples.len(), 301);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_corrupt_or_truncated_snapshot_is_refused_whole() {
        let dir = tempfile_dir();
        let path = dir.join("store.snapshot");
        filled().write_snapshot(&path).expect("written");
        let good = std::fs::read(&path).unwrap();
        let mut flipped = good.clone();
        flipped[good.len() / 2] ^= 0x10;
        let cases: [(&[u8], &str); 4] = [
            (&flipped, "checksum"),
            (&good[..good.len() - 9], "checksum"),
            (b"something else entirely", "not an Autonomic snapshot"),
            (b"", "not an Autonomic snapshot"),
        ];
        for (bytes, expect) in cases {
            std::fs::write(&path, bytes).unwrap();
            let store = SeriesStore::new(Duration::from_secs(3600), 1000);
            let err = store.load_snapshot(&path).expect_err("refused");
            assert!(err.to_string().contains(expect), "{err}");
            assert_eq!(store.series_count(), 0, "nothing of a refused snapshot is loaded");
        }
        // A checksum that matches content that does not parse is still refused, not a panic.
        let mut forged = MAGIC.to_vec();
        forged.extend_from_slice(&u64::MAX.to_le_bytes());
        let crc = crc32fast::hash(&forged);
        forged.extend_from_slice(&crc.to_le_bytes());
        std::fs::write(&path, &forged).unwrap();
        let err = SeriesStore::new(Duration::from_secs(1), 10).load_snapshot(&path).expect_err("refused");
        assert!(err.to_string().contains("invalid content"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "autonomic-snapshot-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
