//! Arbitrary bytes as a request trace (the Azure CSV format): the reader
//! `workload.trace` uses, with its line-length cap, header, timestamp and
//! ordering checks. Errors are rendered too, since they quote the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = servesim::workload::trace::parse_trace(data, Path::new("fuzzed.csv")) {
        let _ = e.to_string();
    }
});
