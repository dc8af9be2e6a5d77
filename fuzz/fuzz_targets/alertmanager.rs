//! Fuzzes the Alertmanager webhook payload reader: any body is either refused with the
//! field that is wrong or read into alerts that each have a name, a state and a
//! hexadecimal fingerprint; never a panic.
//!
//! Run with `cargo +nightly fuzz run alertmanager` from the repository root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use monitor::alertmanager::parse;

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(alerts) => {
            for a in &alerts {
                assert!(!a.name().is_empty());
                assert!(!a.fingerprint.is_empty() && a.fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));
            }
        }
        Err(e) => assert!(!e.field.is_empty(), "{e}"),
    }
});
