//! Arbitrary text as a scenario file: the whole loader (TOML parse,
//! deserialization, every section resolver, the resource guards, profile
//! look-ups), exactly as `servesim run` drives it. The notional file sits in
//! the repository's `scenarios/`, so relative profile and trace paths
//! resolve as they do for a shipped scenario. Every outcome but a panic,
//! a hang or a blown memory limit is fine: bad input must become an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/fuzzed.toml"));
    if let Err(e) = servesim::scenario::from_text(text, path, &[]) {
        let _ = e.to_string();
    }
});
