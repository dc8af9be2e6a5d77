//! Parsing NAB's timestamps (`YYYY-MM-DD HH:MM:SS[.ffffff]`, naive, taken as UTC).

/// Parses `YYYY-MM-DD HH:MM:SS` with an optional fraction of 1 to 6 digits (`T` is accepted in
/// place of the space) into microseconds since the Unix epoch, UTC.
pub(crate) fn parse_timestamp_us(s: &str) -> Result<i64, String> {
    let bad = || format!("bad timestamp {s:?} (expected YYYY-MM-DD HH:MM:SS[.ffffff])");
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b' ' | b'T') || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let num = |from: usize, to: usize| -> Result<i64, String> {
        let digits = &b[from..to];
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        Ok(digits.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let micros = match &b[19..] {
        [] => 0,
        [b'.', frac @ ..] if (1..=6).contains(&frac.len()) => {
            let value = num(20, b.len())?;
            value * 10i64.pow(6 - frac.len() as u32)
        }
        _ => return Err(bad()),
    };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(format!("timestamp {s:?} is not a valid date and time"));
    }
    let days = days_from_civil(year, month, day);
    Ok(((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000 + micros)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_timestamp_us;

    #[test]
    fn parses_known_instants() {
        assert_eq!(parse_timestamp_us("1970-01-01 00:00:00"), Ok(0));
        // 2014-04-10 07:15:00 UTC = 1397114100 s.
        assert_eq!(parse_timestamp_us("2014-04-10 07:15:00"), Ok(1_397_114_100_000_000));
        assert_eq!(parse_timestamp_us("2014-04-10 07:15:00.000000"), Ok(1_397_114_100_000_000));
        assert_eq!(parse_timestamp_us("2014-04-10T07:15:00.5"), Ok(1_397_114_100_500_000));
        // Leap day and a date before the epoch.
        assert_eq!(parse_timestamp_us("2016-02-29 00:00:00"), Ok(1_456_704_000_000_000));
        assert_eq!(parse_timestamp_us("1969-12-31 23:59:59"), Ok(-1_000_000));
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "2014-04-10",
            "2014-04-10 07:15",
            "2014/04/10 07:15:00",
            "2014-13-10 07:15:00",
            "2015-02-29 00:00:00",
            "2014-04-10 24:00:00",
            "2014-04-10 07:15:00.",
            "2014-04-10 07:15:00.1234567",
            "2014-04-10 07:15:00Z",
            "2014-0a-10 07:15:00",
        ] {
            assert!(parse_timestamp_us(s).is_err(), "{s:?} should be rejected");
        }
    }
}
