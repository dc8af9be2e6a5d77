//! Durations as Prometheus writes them: `1h30m`, `5m`, `250ms`, `2d`, `1w`, `1y`, `0`.

use std::time::Duration;

use crate::excerpt::excerpt;

/// The longest duration [`parse_duration`] accepts: about 292 years, what fits in a signed
/// 64-bit count of nanoseconds, as in Prometheus. Within it a duration can be added to any
/// `Instant` or epoch-millisecond timestamp and converted to `i64` milliseconds or
/// nanoseconds without overflowing.
pub const MAX_DURATION: Duration = Duration::from_millis(i64::MAX as u64 / 1_000_000);

/// Parses a Prometheus duration. Units must appear largest first, each at most once; the
/// total is at most [`MAX_DURATION`]. Errors quote only an excerpt of `text`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    // (suffix, milliseconds), largest first; "ms" must be tried before "m".
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("ms", 1),
        ("m", 60_000),
        ("s", 1_000),
    ];
    // Order of units in a valid duration.
    const ORDER: [&str; 7] = ["y", "w", "d", "h", "m", "s", "ms"];
    let too_long = || format!("duration {:?} is too long (at most about 292y, as in Prometheus)", excerpt(text));
    let max_ms = MAX_DURATION.as_millis() as u64;
    let mut total: u64 = 0;
    let mut rest = s;
    let mut last_rank: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "not a duration: {:?} (expected a number before {:?}; units: y w d h m s ms)",
                excerpt(text),
                excerpt(rest)
            ));
        }
        let n: u64 = rest[..digits].parse().map_err(|_| too_long())?;
        rest = &rest[digits..];
        let Some((unit, ms)) = UNITS.iter().find(|(u, _)| rest.starts_with(u)) else {
            return Err(format!("not a duration: {:?} (missing or unknown unit; use y w d h m s ms)", excerpt(text)));
        };
        let rank = ORDER.iter().position(|u| u == unit).unwrap_or(0);
        if last_rank.is_some_and(|r| r >= rank) {
            return Err(format!(
                "not a duration: {:?} (units must go from largest to smallest, each once)",
                excerpt(text)
            ));
        }
        last_rank = Some(rank);
        total = n.checked_mul(*ms).and_then(|v| total.checked_add(v)).filter(|t| *t <= max_ms).ok_or_else(too_long)?;
        rest = &rest[unit.len()..];
    }
    Ok(Duration::from_millis(total))
}

/// Formats a duration the way Prometheus prints them (`1h30m`, `250ms`, `0s`).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400_000u64), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_prometheus_forms() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m500ms"), Ok(Duration::from_millis(60_500)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_bad_forms_with_a_reason() {
        for bad in ["", "5", "5 minutes", "m5", "1m1h", "1s1s", "-5s", "1.5s"] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(!err.is_empty());
        }
    }

    #[test]
    fn refuses_what_would_overflow_with_a_short_message() {
        for absurd in ["99999999999y", "293y", "500000000y", "106752d", "99999999999999999999999999s"] {
            let err = parse_duration(absurd).expect_err(absurd);
            assert!(err.contains("too long (at most about 292y"), "{absurd}: {err}");
        }
        assert_eq!(parse_duration("292y"), Ok(Duration::from_secs(292 * 365 * 86_400)));
        assert_eq!(parse_duration(&format!("{}ms", MAX_DURATION.as_millis())), Ok(MAX_DURATION));
        let ms = i64::try_from(MAX_DURATION.as_nanos()).expect("fits i64 nanoseconds");
        assert!(ms > 0);
        let huge = format!("{}s", "9".repeat(1 << 20));
        let err = parse_duration(&huge).expect_err("huge");
        assert!(err.len() < 300, "the message quotes an excerpt: {} bytes", err.len());
        let junk = "x".repeat(1 << 20);
        assert!(parse_duration(&junk).expect_err("junk").len() < 400);
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ms in 0u64..10_000_000_000) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
