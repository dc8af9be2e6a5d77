//! Range checks for configured numbers and durations, with one wording for every key: the
//! message says the allowed range, so a user sees what to write instead.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::time::Duration;

use crate::duration::{MAX_DURATION, format_duration};

/// `Ok(d)` when `d` lies in `range`, else a message naming the range (`must be from 100ms
/// to 1h`, or `must be at least 100ms` when the range reaches [`MAX_DURATION`]).
pub fn duration_in(d: Duration, range: &RangeInclusive<Duration>) -> Result<Duration, String> {
    if range.contains(&d) {
        return Ok(d);
    }
    Err(if *range.end() >= MAX_DURATION {
        format!("must be at least {}", format_duration(*range.start()))
    } else {
        format!("must be from {} to {}", format_duration(*range.start()), format_duration(*range.end()))
    })
}

/// `Ok(n)` when `n` lies in `range`, else a message naming the range (`must be from 1 to 100`).
pub fn count_in<T: PartialOrd + Copy + Display>(n: T, range: &RangeInclusive<T>) -> Result<T, String> {
    if range.contains(&n) { Ok(n) } else { Err(format!("must be from {} to {}", range.start(), range.end())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_allowed_range() {
        let r = Duration::from_millis(100)..=Duration::from_secs(3600);
        assert_eq!(duration_in(Duration::from_secs(1), &r), Ok(Duration::from_secs(1)));
        assert_eq!(duration_in(Duration::from_millis(1), &r), Err("must be from 100ms to 1h".into()));
        assert_eq!(duration_in(Duration::from_secs(3601), &r), Err("must be from 100ms to 1h".into()));
        let open = Duration::from_millis(100)..=MAX_DURATION;
        assert_eq!(duration_in(Duration::ZERO, &open), Err("must be at least 100ms".into()));
        assert_eq!(count_in(0u32, &(1..=100)), Err("must be from 1 to 100".into()));
        assert_eq!(count_in(100u32, &(1..=100)), Ok(100));
    }
}
