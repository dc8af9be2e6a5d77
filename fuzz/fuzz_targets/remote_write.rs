//! Fuzzes the remote-write decoder: any body is either refused with a reason or decoded
//! into samples whose every series has a valid metric name; never a panic, and never more
//! memory than the decompressed-size limit allows.
//!
//! Run with `cargo +nightly fuzz run remote_write` from the repository root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use monitor::remote_write::decode;

fuzz_target!(|data: &[u8]| {
    // Raw bytes as the body, and the same bytes compressed (so the fuzzer reaches protobuf).
    let compressed = snap::raw::Encoder::new().compress_vec(data).unwrap_or_default();
    for body in [data, compressed.as_slice()] {
        if let Ok(samples) = decode(body, 1 << 20) {
            for (labels, _) in &samples {
                assert!(labels.metric_name().is_some_and(|n| !n.is_empty()), "{labels:?}");
            }
        }
    }
});
