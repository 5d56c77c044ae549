//! `--set key=value` overrides applied to a shipped scenario: the first
//! byte picks the scenario (from the repository's `scenarios/`), each
//! further line is one override, in order, as the command line passes them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The shipped single-run scenarios, read once: (path, text).
fn shipped() -> &'static [(PathBuf, String)] {
    static SHIPPED: OnceLock<Vec<(PathBuf, String)>> = OnceLock::new();
    SHIPPED.get_or_init(|| {
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios"));
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("the repository's scenarios/")
            .flatten()
            .map(|entry| entry.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).expect("a shipped scenario");
                (p, text)
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let Ok(rest) = std::str::from_utf8(rest) else { return };
    let scenarios = shipped();
    let (path, text) = &scenarios[usize::from(pick) % scenarios.len()];
    let overrides: Vec<String> = rest.lines().map(str::to_owned).collect();
    if let Err(e) = servesim::scenario::from_text(text, path, &overrides) {
        let _ = e.to_string();
    }
});
