//! Fuzzes the Prometheus / OpenMetrics exposition parser: any UTF-8 input, both formats.
//!
//! Run with `cargo +nightly fuzz run exposition` from the repository root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use monitor::exposition::{Format, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        match parse(text, format) {
            Ok(exposition) => {
                // Every sample has a metric name.
                for sample in &exposition.samples {
                    assert!(sample.labels.metric_name().is_some(), "{sample:?}");
                }
            }
            Err(e) => {
                // The error points into the input: an existing line, at most one column past
                // that line's last character.
                let line = text
                    .split('\n')
                    .nth(e.line.wrapping_sub(1))
                    .unwrap_or_else(|| panic!("line of {e:?} is outside the input"));
                assert!(e.column >= 1 && e.column <= line.chars().count() + 1, "{e:?}");
                assert!(!e.message.is_empty());
            }
        }
    }
});
