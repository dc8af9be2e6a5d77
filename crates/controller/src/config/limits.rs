//! The limits that keep one target from blinding the controller: the per-target scrape
//! limits under `scrape:` (Prometheus' names and meanings, but never "0 = no limit") and
//! the series store's `max_series`. Each is range-checked here, with file:line:column.

use std::ops::RangeInclusive;

use model::Diagnostics;
use model::bounds::count_in;
use monitor::ScrapeLimits;
use yamlspan::Spanned;

use super::raw::RawScrape;

/// `max_series` when not configured.
pub const DEFAULT_MAX_SERIES: usize = 200_000;

/// `max_series`: at least 1,000 (a handful of targets, their health series and a few rules
/// need that much), at most 10,000,000 (an in-memory store beyond that outgrows a machine).
pub const MAX_SERIES: RangeInclusive<usize> = 1_000..=10_000_000;

/// `scrape.sample_limit`: 1 to 10,000,000.
pub const SAMPLE_LIMIT: RangeInclusive<usize> = 1..=10_000_000;

/// `scrape.body_size_limit`: 1 KiB to 1 GiB (a body is held in memory while it is parsed).
pub const BODY_SIZE_LIMIT: RangeInclusive<u64> = 1024..=1024 * 1024 * 1024;

/// `scrape.label_limit`: 5 (the metric name and the four target labels every sample gets:
/// `job`, `service`, `instance`, `replica`) to 10,000.
pub const LABEL_LIMIT: RangeInclusive<usize> = 5..=10_000;

/// `scrape.label_name_length_limit`: 17 (`exported_instance` must fit) to 65,536 bytes.
pub const LABEL_NAME_LENGTH_LIMIT: RangeInclusive<usize> = 17..=65_536;

/// `scrape.label_value_length_limit`: 64 to 1,048,576 bytes.
pub const LABEL_VALUE_LENGTH_LIMIT: RangeInclusive<usize> = 64..=1024 * 1024;

/// The scrape limits of the `scrape:` section, defaults for the keys it leaves out; a value
/// out of range is reported and replaced by its default (the configuration is refused).
pub(super) fn scrape_limits(raw: Option<&RawScrape>, diags: &mut Diagnostics) -> ScrapeLimits {
    let d = ScrapeLimits::DEFAULT;
    let Some(raw) = raw else { return d };
    let body_size_limit = match &raw.body_size_limit {
        None => d.body_size_limit,
        Some(v) => match parse_size(&v.value).and_then(|n| in_range(n, &BODY_SIZE_LIMIT)) {
            Ok(n) => n,
            Err(e) => {
                diags.push(v.diagnostic("scrape.body_size_limit", e));
                d.body_size_limit
            }
        },
    };
    ScrapeLimits {
        sample_limit: checked(&raw.sample_limit, "scrape.sample_limit", d.sample_limit, &SAMPLE_LIMIT, diags),
        body_size_limit,
        label_limit: checked(&raw.label_limit, "scrape.label_limit", d.label_limit, &LABEL_LIMIT, diags),
        label_name_length_limit: checked(
            &raw.label_name_length_limit,
            "scrape.label_name_length_limit",
            d.label_name_length_limit,
            &LABEL_NAME_LENGTH_LIMIT,
            diags,
        ),
        label_value_length_limit: checked(
            &raw.label_value_length_limit,
            "scrape.label_value_length_limit",
            d.label_value_length_limit,
            &LABEL_VALUE_LENGTH_LIMIT,
            diags,
        ),
    }
}

/// The top-level `max_series`, [`DEFAULT_MAX_SERIES`] when absent.
pub(super) fn max_series(raw: &Option<Spanned<usize>>, diags: &mut Diagnostics) -> usize {
    checked(raw, "max_series", DEFAULT_MAX_SERIES, &MAX_SERIES, diags)
}

fn checked(
    v: &Option<Spanned<usize>>,
    path: &str,
    default: usize,
    range: &RangeInclusive<usize>,
    diags: &mut Diagnostics,
) -> usize {
    let Some(v) = v else { return default };
    in_range(v.value, range).unwrap_or_else(|e| {
        diags.push(v.diagnostic(path, e));
        default
    })
}

/// The range check, saying that 0 is not Prometheus' "no limit" here.
fn in_range<T: PartialOrd + Copy + std::fmt::Display + Default>(n: T, range: &RangeInclusive<T>) -> Result<T, String> {
    count_in(n, range).map_err(|e| {
        if n == T::default() {
            format!("{e} (0 does not mean \"no limit\" as in Prometheus: every limit is finite)")
        } else {
            e
        }
    })
}

/// A size in bytes: a plain number, or a number with a unit: `B`, `KB`/`KiB`, `MB`/`MiB`,
/// `GB`/`GiB`. As in Prometheus' `body_size_limit`, `KB`, `MB` and `GB` are powers of 1024.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let multiplier: u64 = match unit.trim_start() {
        "" | "B" => 1,
        "KB" | "KiB" => 1 << 10,
        "MB" | "MiB" => 1 << 20,
        "GB" | "GiB" => 1 << 30,
        _ => 0,
    };
    let shown = model::excerpt(t);
    if number.is_empty() || multiplier == 0 {
        return Err(format!(
            "expected a size such as 16MiB, 512KB or 1048576 (units B, KB, MB, GB, KiB, MiB, GiB), got {shown:?}"
        ));
    }
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("size {shown:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_prometheus_units() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("10MB"), Ok(10 << 20));
        assert_eq!(parse_size("512 KB"), Ok(512 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("100B"), Ok(100));
        for bad in ["", "MB", "1.5MB", "16 mb", "-1", "12XB", "99999999999999999999"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert!(parse_size("99999999999GB").unwrap_err().contains("too large"));
    }
}
