//! Fuzzes alert templates: any text either fails to load with a message, or expands for
//! any labels and any value (NaN, ±Inf, ±1e308 included) without a panic and to a bounded
//! size.
//!
//! Run with `cargo +nightly fuzz run rule_template` from the repository root.

#![no_main]

use analyze::rules::template::Template;
use libfuzzer_sys::fuzz_target;
use model::Labels;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(template) = Template::parse(text) else { return };
    let labels = Labels::from_pairs([("instance", "a:1"), ("job", "api"), ("service", "x".repeat(300).as_str())]);
    for value in [0.0, -0.0, 1.5, -2.25e-300, 1e308, -1e308, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX] {
        let out = template.expand(&labels, value);
        // Every action yields at most a few hundred bytes (printf's bounded width and
        // precision, a 309-digit float at most); the text itself is copied once.
        assert!(out.len() <= text.len() * 400 + 1_000, "{} bytes from {} bytes of template", out.len(), text.len());
    }
});
