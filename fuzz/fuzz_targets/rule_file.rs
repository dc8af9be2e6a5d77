//! Fuzzes the Prometheus rule-file loader: never panics; diagnostics point into the input.
//!
//! Run with `cargo +nightly fuzz run rule_file` from the repository root.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(diags) = analyze::rules::parse_rule_file("fuzz.yaml", text, std::time::Duration::from_secs(15)) {
        // Lines as YAML counts them: ended by \n, \r\n or a lone \r.
        let lines = text.replace("\r\n", "\n").split(['\n', '\r']).count() as u64;
        for d in &diags.0 {
            assert!(d.line <= lines + 1, "{d}");
        }
    }
});
