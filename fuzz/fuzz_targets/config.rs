//! Fuzzes the configuration check (YAML, services, placeholders, inline rules, playbooks):
//! it must never panic, and every diagnostic must point into the input.
//!
//! Run with `cargo +nightly fuzz run config` from the repository root.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(diags) = controller::compile("fuzz.yaml", text, std::path::Path::new("/nonexistent")) {
        // Lines as YAML counts them: ended by \n, \r\n or a lone \r.
        let lines = text.replace("\r\n", "\n").split(['\n', '\r']).count() as u64;
        for d in &diags.0 {
            assert!(!d.message.is_empty());
            assert!(d.file != "fuzz.yaml" || d.line <= lines + 1, "{d}");
        }
    }
});
