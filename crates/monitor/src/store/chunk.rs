//! Compressed chunks of samples, as Prometheus' head keeps them (Gorilla's XOR encoding):
//! timestamps as delta-of-deltas, values as the XOR with the previous value, both in a bit
//! stream. Regular scrapes cost one bit per timestamp and a few bits per slowly moving
//! value, so a sample takes one or two bytes instead of sixteen.
//!
//! Layout: the first timestamp as a zig-zag varint and the first value's 64 bits; the
//! second timestamp's delta as a zig-zag varint; then per sample a delta-of-delta in one of
//! five widths (`0`, `10`+14 bits, `110`+17, `1110`+20, `1111`+64) and the value XOR (`0`
//! for the same value; `10` + the meaningful bits within the previous leading and trailing
//! zeros; `11` + 6 bits of leading zeros + 6 bits of length + the bits).

use model::{Millis, Sample};

/// Samples per chunk before a new one is started (as Prometheus).
pub const SAMPLES_PER_CHUNK: u16 = 120;

/// An append-only bit stream.
#[derive(Debug, Clone, Default, PartialEq)]
struct Bits {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0: the last byte is full or there is none).
    used: u8,
}

impl Bits {
    fn push_bit(&mut self, bit: bool) {
        if self.used == 0 {
            self.bytes.push(0);
        }
        if bit && let Some(last) = self.bytes.last_mut() {
            *last |= 0x80 >> self.used;
        }
        self.used = (self.used + 1) % 8;
    }

    /// The low `n` bits of `v`, most significant first.
    fn push_bits(&mut self, v: u64, n: u8) {
        for i in (0..n).rev() {
            self.push_bit((v >> i) & 1 == 1);
        }
    }

    fn push_varint(&mut self, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        loop {
            let byte = (z & 0x7f) as u8;
            z >>= 7;
            self.push_bits(u64::from(byte | if z != 0 { 0x80 } else { 0 }), 8);
            if z == 0 {
                break;
            }
        }
    }
}

/// Reads a bit stream; `None` past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let bit = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Some(bit)
    }

    fn bits(&mut self, n: u8) -> Option<u64> {
        let mut v = 0u64;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.bit()?);
        }
        Some(v)
    }

    fn varint(&mut self) -> Option<i64> {
        let mut z = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.bits(8)?;
            z |= (byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some((z >> 1) as i64 ^ -((z & 1) as i64));
            }
        }
        None
    }
}

/// Sign-extends the low `n` bits of `v`.
fn signed(v: u64, n: u8) -> i64 {
    let shift = 64 - u32::from(n);
    ((v << shift) as i64) >> shift
}

/// A chunk of up to [`SAMPLES_PER_CHUNK`] samples, in time order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chunk {
    bits: Bits,
    count: u16,
    min_t: Millis,
    max_t: Millis,
    last_delta: i64,
    last_v: u64,
    leading: u8,
    trailing: u8,
}

impl Chunk {
    /// Samples held.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether it holds no sample.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether it holds [`SAMPLES_PER_CHUNK`] samples.
    pub fn is_full(&self) -> bool {
        self.count >= SAMPLES_PER_CHUNK
    }

    /// Time of the first sample.
    pub fn min_t(&self) -> Millis {
        self.min_t
    }

    /// Time of the last sample.
    pub fn max_t(&self) -> Millis {
        self.max_t
    }

    /// The last sample's value.
    pub fn last_value(&self) -> f64 {
        f64::from_bits(self.last_v)
    }

    /// Bytes of encoded samples.
    pub fn encoded_len(&self) -> usize {
        self.bits.bytes.len()
    }

    /// Gives back spare capacity (for a chunk that is full).
    pub fn shrink(&mut self) {
        self.bits.bytes.shrink_to_fit();
    }

    /// Appends a sample newer than the last one (the caller checks the order).
    pub fn push(&mut self, s: Sample) {
        let bits = s.v.to_bits();
        match self.count {
            0 => {
                self.bits.push_varint(s.t);
                self.bits.push_bits(bits, 64);
                self.min_t = s.t;
            }
            1 => {
                let delta = s.t.wrapping_sub(self.max_t);
                self.bits.push_varint(delta);
                self.push_value(bits);
                self.last_delta = delta;
            }
            _ => {
                let delta = s.t.wrapping_sub(self.max_t);
                let dod = delta.wrapping_sub(self.last_delta);
                match dod {
                    0 => self.bits.push_bit(false),
                    -8192..=8191 => {
                        self.bits.push_bits(0b10, 2);
                        self.bits.push_bits(dod as u64, 14);
                    }
                    -65536..=65535 => {
                        self.bits.push_bits(0b110, 3);
                        self.bits.push_bits(dod as u64, 17);
                    }
                    -524_288..=524_287 => {
                        self.bits.push_bits(0b1110, 4);
                        self.bits.push_bits(dod as u64, 20);
                    }
                    _ => {
                        self.bits.push_bits(0b1111, 4);
                        self.bits.push_bits(dod as u64, 64);
                    }
                }
                self.push_value(bits);
                self.last_delta = delta;
            }
        }
        self.max_t = s.t;
        self.last_v = bits;
        self.count += 1;
    }

    fn push_value(&mut self, bits: u64) {
        let xor = bits ^ self.last_v;
        if xor == 0 {
            self.bits.push_bit(false);
            return;
        }
        self.bits.push_bit(true);
        // At most 63 leading zeros fit the six bits that carry them.
        let leading = (xor.leading_zeros() as u8).min(63);
        let trailing = xor.trailing_zeros() as u8;
        let window_fits = self.count > 1 && leading >= self.leading && trailing >= self.trailing;
        if window_fits && self.leading + self.trailing > 0 {
            self.bits.push_bit(false);
            let width = 64 - self.leading - self.trailing;
            self.bits.push_bits(xor >> self.trailing, width);
        } else {
            self.bits.push_bit(true);
            let width = 64 - leading - trailing;
            self.bits.push_bits(u64::from(leading), 6);
            // 64 meaningful bits are written as 0: six bits count 0 to 63.
            self.bits.push_bits(u64::from(width % 64), 6);
            self.bits.push_bits(xor >> trailing, width);
            self.leading = leading;
            self.trailing = trailing;
        }
    }

    /// Its samples, oldest first.
    pub fn iter(&self) -> ChunkIter<'_> {
        ChunkIter {
            r: Reader { bytes: &self.bits.bytes, pos: 0 },
            left: self.count,
            read: 0,
            t: 0,
            delta: 0,
            v: 0,
            leading: 0,
            trailing: 0,
        }
    }

    /// The encoded form and what is needed to read and extend it, for a snapshot.
    pub(crate) fn parts(&self) -> (&[u8], u8, u16, [i64; 3], u64, [u8; 2]) {
        (
            &self.bits.bytes,
            self.bits.used,
            self.count,
            [self.min_t, self.max_t, self.last_delta],
            self.last_v,
            [self.leading, self.trailing],
        )
    }

    /// Rebuilds a chunk from [`Chunk::parts`], checking that its bytes decode to `count`
    /// samples ending at `max_t` with `last_v`.
    pub(crate) fn from_parts(
        bytes: Vec<u8>,
        used: u8,
        count: u16,
        times: [i64; 3],
        last_v: u64,
        window: [u8; 2],
    ) -> Option<Chunk> {
        if used > 7 || count > SAMPLES_PER_CHUNK || window[0] > 63 || window[1] > 64 {
            return None;
        }
        let chunk = Chunk {
            bits: Bits { bytes, used },
            count,
            min_t: times[0],
            max_t: times[1],
            last_delta: times[2],
            last_v,
            leading: window[0],
            trailing: window[1],
        };
        let mut decoded = 0u16;
        let mut last = None;
        for s in chunk.iter() {
            decoded += 1;
            last = Some(s);
        }
        let consistent = match last {
            None => count == 0,
            Some(s) => decoded == count && s.t == times[1] && s.v.to_bits() == last_v,
        };
        consistent.then_some(chunk)
    }
}

/// Decodes a chunk.
pub struct ChunkIter<'a> {
    r: Reader<'a>,
    left: u16,
    read: u16,
    t: i64,
    delta: i64,
    v: u64,
    leading: u8,
    trailing: u8,
}

impl ChunkIter<'_> {
    fn value(&mut self) -> Option<u64> {
        if !self.r.bit()? {
            return Some(self.v);
        }
        if self.r.bit()? {
            self.leading = self.r.bits(6)? as u8;
            let width = match self.r.bits(6)? as u8 {
                0 => 64,
                w => w,
            };
            self.trailing = 64u8.checked_sub(self.leading)?.checked_sub(width)?;
        }
        let width = 64u8.checked_sub(self.leading)?.checked_sub(self.trailing)?;
        let xor = self.r.bits(width)?.checked_shl(u32::from(self.trailing)).unwrap_or(0);
        Some(self.v ^ xor)
    }

    fn next_sample(&mut self) -> Option<Sample> {
        match self.read {
            0 => {
                self.t = self.r.varint()?;
                self.v = self.r.bits(64)?;
            }
            1 => {
                self.delta = self.r.varint()?;
                self.t = self.t.wrapping_add(self.delta);
                self.v = self.value()?;
            }
            _ => {
                let dod = if !self.r.bit()? {
                    0
                } else if !self.r.bit()? {
                    signed(self.r.bits(14)?, 14)
                } else if !self.r.bit()? {
                    signed(self.r.bits(17)?, 17)
                } else if !self.r.bit()? {
                    signed(self.r.bits(20)?, 20)
                } else {
                    self.r.bits(64)? as i64
                };
                self.delta = self.delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.delta);
                self.v = self.value()?;
            }
        }
        self.read += 1;
        Some(Sample { t: self.t, v: f64::from_bits(self.v) })
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let s = self.next_sample();
        if s.is_none() {
            // A corrupt stream ends the chunk; it never loops or panics.
            self.left = 0;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(samples: &[Sample]) -> Vec<Sample> {
        let mut c = Chunk::default();
        for s in samples {
            c.push(*s);
        }
        c.iter().collect()
    }

    #[test]
    fn regular_scrapes_take_a_byte_or_two_per_sample() {
        let mut c = Chunk::default();
        let mut v = 1_000.0;
        for i in 0..120 {
            v += f64::from(i % 7);
            c.push(Sample { t: 1_700_000_000_000 + i64::from(i) * 15_000, v });
        }
        assert!(c.is_full());
        assert!(c.encoded_len() < 120 * 3, "{} bytes for 120 samples", c.encoded_len());
        let back: Vec<Sample> = c.iter().collect();
        assert_eq!(back.len(), 120);
        assert_eq!(back[119].t, 1_700_000_000_000 + 119 * 15_000);
    }

    #[test]
    fn special_values_and_extreme_times_survive() {
        let samples = [
            Sample { t: i64::MIN + 1, v: f64::NAN },
            Sample { t: -5, v: model::STALE_NAN },
            Sample { t: 0, v: f64::INFINITY },
            Sample { t: 1, v: -0.0 },
            Sample { t: i64::MAX - 10, v: f64::MIN_POSITIVE },
            Sample { t: i64::MAX, v: 1.0 },
        ];
        let back = round_trip(&samples);
        assert_eq!(back.len(), samples.len());
        for (a, b) in samples.iter().zip(&back) {
            assert_eq!((a.t, a.v.to_bits()), (b.t, b.v.to_bits()));
        }
    }

    proptest! {
        #[test]
        fn any_increasing_series_round_trips_bit_for_bit(
            start in any::<i32>(),
            steps in proptest::collection::vec((1i64..100_000_000, any::<u64>(), 0u8..4), 1..120),
        ) {
            let mut t = i64::from(start);
            let mut samples = Vec::new();
            let mut last = 0u64;
            for (dt, bits, kind) in steps {
                t += dt;
                // Repeats, small changes and arbitrary bit patterns.
                let v = match kind { 0 => last, 1 => last ^ (bits & 0xff), 2 => bits, _ => (bits % 1000) as f64 as u64 };
                last = v;
                samples.push(Sample { t, v: f64::from_bits(v) });
            }
            let back = round_trip(&samples);
            prop_assert_eq!(back.len(), samples.len());
            for (a, b) in samples.iter().zip(&back) {
                prop_assert_eq!((a.t, a.v.to_bits()), (b.t, b.v.to_bits()));
            }
        }

        #[test]
        fn a_corrupt_chunk_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), count in 0u16..130) {
            let _ = Chunk::from_parts(bytes, 0, count.min(SAMPLES_PER_CHUNK), [0, 0, 0], 0, [0, 0]);
        }
    }
}
