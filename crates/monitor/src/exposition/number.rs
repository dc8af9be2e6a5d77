//! Sample values and timestamps, with Go's (and so Prometheus') acceptance rules.

use model::Millis;

/// Why a number token was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NumberError {
    /// Not a number at all.
    Invalid,
    /// Syntactically a number, but beyond the target type's range.
    OutOfRange,
    /// `NaN` or an infinity where only finite numbers make sense (timestamps).
    NotFinite,
}

/// A sample value as Go's `strconv.ParseFloat` reads it (Prometheus' rule): decimal with
/// optional exponent, `NaN`, `Inf`/`Infinity` with optional sign, all case-insensitive. A
/// signed NaN, hex floats, underscores and finite literals that overflow `f64` are rejected;
/// literals that underflow become (sub)normals or zero.
pub(super) fn parse_value(s: &str) -> Result<f64, NumberError> {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if unsigned.len() != s.len() && unsigned.eq_ignore_ascii_case("nan") {
        return Err(NumberError::Invalid);
    }
    let v: f64 = s.parse().map_err(|_| NumberError::Invalid)?;
    if v.is_infinite() && !unsigned.starts_with(['i', 'I']) {
        return Err(NumberError::OutOfRange);
    }
    Ok(v)
}

/// A Prometheus text format timestamp: an integer number of milliseconds, optional sign.
pub(super) fn parse_millis(s: &str) -> Result<Millis, NumberError> {
    use std::num::IntErrorKind;
    s.parse::<Millis>().map_err(|e| match e.kind() {
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => NumberError::OutOfRange,
        _ => NumberError::Invalid,
    })
}

/// An OpenMetrics timestamp: seconds as a decimal number with optional fraction and
/// exponent, converted to milliseconds exactly (no binary floating point on the way) and
/// truncated toward zero, as Prometheus' `int64(seconds * 1000)` intends.
pub(super) fn parse_seconds_as_millis(s: &str) -> Result<Millis, NumberError> {
    let b = s.as_bytes();
    let mut i = 0;
    let negative = match b.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let unsigned = s.get(i..).unwrap_or("");
    if ["inf", "infinity", "nan"].iter().any(|w| unsigned.eq_ignore_ascii_case(w)) {
        return Err(NumberError::NotFinite);
    }

    // Mantissa: digits with at most one '.', at least one digit.
    let mantissa_start = i;
    let mut digits = 0usize;
    let mut fraction_digits = 0usize;
    let mut seen_point = false;
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' => {
                digits += 1;
                if seen_point {
                    fraction_digits += 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        i += 1;
    }
    let mantissa_end = i;
    if digits == 0 {
        return Err(NumberError::Invalid);
    }

    // Exponent: e/E, optional sign, at least one digit. Saturates far beyond any
    // meaningful value so that arithmetic below cannot overflow.
    let mut exponent: i64 = 0;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let exponent_negative = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let exponent_start = i;
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            exponent = (exponent * 10 + i64::from(c - b'0')).min(1_000_000_000);
            i += 1;
        }
        if i == exponent_start {
            return Err(NumberError::Invalid);
        }
        if exponent_negative {
            exponent = -exponent;
        }
    }
    if i != b.len() {
        return Err(NumberError::Invalid);
    }

    // value = M * 10^(exponent - fraction_digits) seconds, M the mantissa's digits as an
    // integer; in ms that is M * 10^shift. With a negative shift, the last -shift digits of
    // M are dropped (truncation toward zero).
    let digits_i64 = i64::try_from(digits).map_err(|_| NumberError::OutOfRange)?;
    let fraction_i64 = i64::try_from(fraction_digits).map_err(|_| NumberError::OutOfRange)?;
    let shift = exponent - fraction_i64 + 3;
    let keep = if shift < 0 { digits_i64 + shift } else { digits_i64 };
    let mut kept = 0i64;
    let mut ms: i128 = 0;
    for &c in b.get(mantissa_start..mantissa_end).unwrap_or(&[]) {
        if c == b'.' {
            continue;
        }
        if kept >= keep {
            break;
        }
        kept += 1;
        ms = ms.checked_mul(10).and_then(|m| m.checked_add(i128::from(c - b'0'))).ok_or(NumberError::OutOfRange)?;
    }
    if ms != 0 && shift > 0 {
        for _ in 0..shift {
            ms = ms.checked_mul(10).ok_or(NumberError::OutOfRange)?;
            if ms > i128::from(i64::MAX) + 1 {
                return Err(NumberError::OutOfRange);
            }
        }
    }
    if negative {
        ms = -ms;
    }
    Millis::try_from(ms).map_err(|_| NumberError::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_go_parse_float() {
        for (s, v) in [
            ("1", 1.0),
            ("-2.5e3", -2500.0),
            ("1E+5", 1e5),
            (".5", 0.5),
            ("5.", 5.0),
            ("1.e2", 100.0),
            ("+Inf", f64::INFINITY),
            ("-Inf", f64::NEG_INFINITY),
            ("Inf", f64::INFINITY),
            ("inf", f64::INFINITY),
            ("-infinity", f64::NEG_INFINITY),
            ("1e-400", 0.0),
        ] {
            assert_eq!(parse_value(s), Ok(v), "{s}");
        }
        assert!(parse_value("NaN").unwrap().is_nan());
        assert!(parse_value("nan").unwrap().is_nan());
        for s in ["", "+NaN", "-nan", "0x10", "0x1p3", "1_000", "1e", "e5", ".", "abc", "1 "] {
            assert_eq!(parse_value(s), Err(NumberError::Invalid), "{s:?}");
        }
        assert_eq!(parse_value("1e400"), Err(NumberError::OutOfRange));
        assert_eq!(parse_value("-1e400"), Err(NumberError::OutOfRange));
    }

    #[test]
    fn millis_are_integers() {
        assert_eq!(parse_millis("1712345678123"), Ok(1_712_345_678_123));
        assert_eq!(parse_millis("-5"), Ok(-5));
        assert_eq!(parse_millis("1.5"), Err(NumberError::Invalid));
        assert_eq!(parse_millis("1e3"), Err(NumberError::Invalid));
        assert_eq!(parse_millis("99999999999999999999"), Err(NumberError::OutOfRange));
    }

    #[test]
    fn seconds_convert_exactly_and_truncate() {
        for (s, ms) in [
            ("1520879607.789", 1_520_879_607_789),
            ("1520879607.7899", 1_520_879_607_789),
            ("0.0009", 0),
            ("-1.5", -1_500),
            ("-0.0009", 0),
            ("1", 1_000),
            ("1.", 1_000),
            (".25", 250),
            ("1.5e9", 1_500_000_000_000),
            ("15e-1", 1_500),
            ("1234567e-7", 123),
            ("0000000000000000000000000001", 1_000),
            ("0e999999999999", 0),
            ("+2", 2_000),
        ] {
            assert_eq!(parse_seconds_as_millis(s), Ok(ms), "{s}");
        }
        for s in ["", "-", ".", "1e", "1.2.3", "0x1", "1_0", "1 ", "e3"] {
            assert_eq!(parse_seconds_as_millis(s), Err(NumberError::Invalid), "{s:?}");
        }
        for s in ["NaN", "+Inf", "-inf", "Infinity"] {
            assert_eq!(parse_seconds_as_millis(s), Err(NumberError::NotFinite), "{s}");
        }
        for s in ["1e20", "9223372036854776", "1e999999999999999999"] {
            assert_eq!(parse_seconds_as_millis(s), Err(NumberError::OutOfRange), "{s}");
        }
        assert_eq!(parse_seconds_as_millis("9223372036854775.807"), Ok(i64::MAX));
        assert_eq!(parse_seconds_as_millis("-9223372036854775.808"), Ok(i64::MIN));
    }
}
