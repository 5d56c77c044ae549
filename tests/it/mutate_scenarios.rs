//! Mutation fuzzing as a regression test: a few hundred mutants of the
//! shipped scenarios (`scripts/mutate-scenarios.py`) must each exit 0, 1 or
//! 2, with no panic, signal or timeout. Skipped where python3 is missing.

use crate::support::root;
use std::process::Command;

#[test]
fn mutated_shipped_scenarios_exit_cleanly() {
    let root = root();
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("python3 not found: mutation fuzzing skipped");
        return;
    }
    let keep = tempfile::tempdir().expect("tempdir");
    let out = Command::new("python3")
        .arg(root.join("scripts/mutate-scenarios.py"))
        .args(["--count", "250", "--seed", "3", "--timeout", "20"])
        .args(["--binary", env!("CARGO_BIN_EXE_servesim")])
        .arg("--keep")
        .arg(keep.path())
        .output()
        .expect("script runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("mutants: 250 (seed 3), failed 0"), "{stdout}");
}
