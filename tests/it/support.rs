//! What several test modules need: the repository's paths, the real
//! binary, the shared Azure trace (or a warning where it is absent) and
//! insta snapshots kept at the paths they were first committed under.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Llama-3-8B chat on two A100s, on the built-in profiles (or those the
/// command is given), with a small `[plan]` search space over TP 1 and 2.
pub const CHAT_PLAN: &str = r#"# How many A100s serve Llama-3-8B chat at 8 requests/s within a TTFT p99 of 2 s?

name = "chat"
seed = 11

[run]
duration = "30s"
warmup = "5s"

[workload]
arrival = "poisson"
rate_per_s = 8.0
prompt_tokens = { median = 600, p99 = 4000, max = 8000 }
output_tokens = { median = 150, p99 = 600, max = 1000 }

[replica]
gpu = "a100-80gb"
model = "llama-3-8b"
count = 2

[batching]
policy = "continuous"
max_batch = 32

[slo]
ttft_p99 = "2s"

[plan]
tp = [1, 2]
max_replicas = 4
replications = 2
"#;

/// A valid one-GPU station scenario; bad-input tests break one thing in
/// it. Lines: 2 `duration`, 4 `[workload]`, 5 `rate_per_s`, 7 `[servers]`,
/// 8 `count`, 12 `mean`.
pub const STATION: &str = r#"[run]
duration = "1s"

[workload]
rate_per_s = 10.0

[servers]
count = 1

[service]
model = "exponential"
mean = "10ms"
"#;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped profiles folder.
pub fn profiles() -> PathBuf {
    root().join("profiles")
}

/// A shipped GPU profile by name.
pub fn gpu(name: &str) -> servesim::model::profile::GpuProfile {
    servesim::model::profile::GpuProfile::find(&profiles(), name).expect("shipped GPU profile")
}

/// A shipped model profile by name.
pub fn model(name: &str) -> servesim::model::profile::ModelProfile {
    servesim::model::profile::ModelProfile::find(&profiles(), name).expect("shipped model profile")
}

/// Runs the `servesim` binary in `cwd`; it must never panic, whatever the input.
pub fn servesim(args: &[&str], cwd: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_servesim")).args(args).current_dir(cwd).output().expect("binary runs");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"), "{out:?}");
    out
}

/// Where the real Azure code trace lives: beside the repository, never in it.
pub fn azure_trace_path() -> PathBuf {
    root().join("../shared/data/azure-llm-2023/code.csv")
}

/// The real Azure code trace, or `None` with a warning naming what is
/// skipped or replaced (`instead`) when it is absent.
pub fn azure_trace(instead: &str) -> Option<PathBuf> {
    let path = azure_trace_path();
    if path.exists() {
        Some(path)
    } else {
        eprintln!("WARNING: {} is missing; {instead}", path.display());
        None
    }
}

/// The committed snapshots: `tests/snapshots/`.
pub fn snapshots() -> PathBuf {
    root().join("tests/snapshots")
}

/// Asserts `value` against `tests/snapshots/<group>__<name>.snap`, the
/// name each snapshot had when its tests were binaries of their own, so
/// the committed files keep their paths and bytes. A difference fails as
/// any insta assertion does (and leaves a `.snap.new` to review).
pub fn assert_snapshot(group: &str, name: &str, value: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(snapshots());
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(format!("{group}__{name}"), value));
}
