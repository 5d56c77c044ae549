//! Bad input through the real binary: every malformed or nonsensical
//! scenario exits with code 2 and a short message that names the file, the
//! place (line:col, `--set` or trace row), the key and a hint; it never
//! panics and leaves no report folder (or hidden temporary one) behind.

use crate::support::STATION;
use std::path::Path;
use std::process::{Command, Output};
use tempfile::TempDir;

/// A trace-replay scenario reading `trace` (line 3 is the `trace` key).
fn trace_scenario(trace: &str) -> String {
    format!(
        "[workload]\narrival = \"trace\"\ntrace = \"{trace}\"\n\n[service]\nmodel = \"exponential\"\nmean = \"10ms\"\n"
    )
}

/// Writes `files` into a fresh folder and runs `servesim <args>` there;
/// `{out}` in an argument stands for `<folder>/report`.
fn servesim(files: &[(&str, &str)], args: &[&str]) -> (TempDir, Output) {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write input");
    }
    let out = dir.path().join("report");
    let args = args.iter().map(|a| a.replace("{out}", &out.to_string_lossy()));
    let output =
        Command::new(env!("CARGO_BIN_EXE_servesim")).args(args).current_dir(dir.path()).output().expect("run servesim");
    (dir, output)
}

/// Runs `args` on `files` and checks the bad-input contract; returns stderr.
fn rejected(files: &[(&str, &str)], args: &[&str], expected: &[&str]) -> String {
    let (dir, output) = servesim(files, args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let context = format!("servesim {args:?}\n--- stderr ---\n{stderr}");
    assert_eq!(output.status.code(), Some(2), "{context}");
    assert!(stderr.starts_with("error: "), "{context}");
    assert!(!stderr.contains("panicked"), "{context}");
    assert!(stderr.lines().count() <= 15, "too long: {context}");
    for text in expected {
        assert!(stderr.contains(text), "missing {text:?} in {context}");
    }
    assert_no_leftovers(dir.path(), files, &context);
    stderr
}

/// Nothing but the inputs remains: no report folder, no `.report.tmp-*`.
fn assert_no_leftovers(dir: &Path, files: &[(&str, &str)], context: &str) {
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .expect("list temp dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| !files.iter().any(|(f, _)| f == name))
        .collect();
    left.sort();
    assert!(left.is_empty(), "left behind {left:?}; {context}");
}

/// `servesim run bad.toml` (plus `extra` flags) with `text` as the scenario
/// must be rejected with a hint and every `expected` fragment.
fn bad_scenario(text: &str, extra: &[&str], expected: &[&str]) {
    bad_files(&[("bad.toml", text)], extra, expected);
}

/// Like [`bad_scenario`], with extra input files beside `bad.toml`.
fn bad_files(files: &[(&str, &str)], extra: &[&str], expected: &[&str]) {
    let args: Vec<&str> = ["run", "bad.toml", "--out", "{out}"].iter().chain(extra).copied().collect();
    let all: Vec<&str> = expected.iter().copied().chain(["bad.toml", "\n  hint: "]).collect();
    rejected(files, &args, &all);
}

#[test]
fn toml_syntax_error() {
    let text = STATION.replace(r#"duration = "1s""#, r#"duration = "1s"#);
    bad_scenario(&text, &[], &["bad.toml:2:", "`run.duration`", "invalid TOML"]);
}

#[test]
fn unknown_key() {
    let text = STATION.replace("count = 1", "cuont = 2");
    bad_scenario(&text, &[], &["bad.toml:8:1:", "`servers.cuont`", "unknown field", "did you mean `count`?"]);
}

#[test]
fn unknown_enum_value() {
    let text = STATION.replace(r#"model = "exponential""#, r#"model = "exponental""#);
    bad_scenario(&text, &[], &["bad.toml:11:9:", "`service.model`", "did you mean `exponential`?"]);
}

#[test]
fn negative_rate() {
    let text = STATION.replace("rate_per_s = 10.0", "rate_per_s = -5.0");
    bad_scenario(&text, &[], &["bad.toml:5:14:", "`workload.rate_per_s`", "expected a rate > 0", "got -5"]);
}

#[test]
fn zero_servers() {
    let text = STATION.replace("count = 1", "count = 0");
    bad_scenario(&text, &[], &["bad.toml:8:9:", "`servers.count`", "expected an integer >= 1, got 0"]);
}

#[test]
fn zero_max_batch() {
    let text = format!("{STATION}\n[batching]\nmax_batch = 0\n");
    bad_scenario(&text, &[], &["bad.toml:15:13:", "`batching.max_batch`", "expected an integer >= 1, got 0"]);
}

#[test]
fn unstable_without_duration() {
    let text =
        STATION.replace(r#"duration = "1s""#, "max_requests = 1000").replace("rate_per_s = 10.0", "rate_per_s = 200.0");
    bad_scenario(&text, &[], &["bad.toml:5:14:", "`workload.rate_per_s`", "utilization 2.000 >= 1", "run.duration"]);
}

#[test]
fn missing_trace_file() {
    let text = trace_scenario("missing.csv");
    bad_scenario(&text, &[], &["bad.toml:3:9:", "`workload.trace`", "missing.csv"]);
}

#[test]
fn trace_with_a_bad_row() {
    let csv = "TIMESTAMP,ContextTokens,GeneratedTokens\n\
               2023-11-16 18:17:03.9799600,4808,10\n\
               2023-11-16 18:17:04.0319600,many,8\n";
    let scenario = trace_scenario("rows.csv");
    bad_files(
        &[("bad.toml", &scenario), ("rows.csv", csv)],
        &[],
        &["bad.toml:3:9:", "`workload.trace`", "rows.csv: line 3", "ContextTokens", "\"many\""],
    );
}

#[test]
fn set_value_of_the_wrong_type() {
    let expected = ["--set servers.count=abc", "`servers.count`", "expected an integer"];
    bad_scenario(STATION, &["--set", "servers.count=abc"], &expected);
}

#[test]
fn set_value_that_is_not_a_duration() {
    let expected = ["--set batching.max_wait=fast", "`batching.max_wait`", "`fast` is not a duration"];
    bad_scenario(STATION, &["--set", "batching.max_wait=fast"], &expected);
}

#[test]
fn set_without_equals() {
    bad_scenario(STATION, &["--set", "servers.count"], &["--set servers.count", "expected `key.path=value`"]);
}

#[test]
fn wrong_type_in_file() {
    let text = STATION.replace("count = 1", r#"count = "two""#);
    bad_scenario(&text, &[], &["bad.toml:8:9:", "`servers.count`", "string \"two\"", "expected an integer"]);
}

#[test]
fn gamma_arrivals_without_scv() {
    let text = STATION.replace("rate_per_s = 10.0", "arrival = \"gamma\"\nrate_per_s = 10.0");
    bad_scenario(&text, &[], &["bad.toml:4:1:", "`workload.scv`", "missing", "scv = 1 is Poisson"]);
}

#[test]
fn nonexistent_scenario_file() {
    let args = ["run", "nowhere.toml", "--out", "{out}"];
    rejected(&[], &args, &["nowhere.toml", "cannot read the scenario file", "\n  hint: "]);
}

#[test]
fn validate_without_closed_form_theory() {
    let text = STATION.replace("rate_per_s = 10.0", "arrival = \"gamma\"\nscv = 4.0\nrate_per_s = 10.0");
    rejected(&[("gamma.toml", &text)], &["validate", "gamma.toml"], &["gamma.toml", "no closed-form theory"]);
}

#[test]
fn valid_scenario_writes_a_report() {
    let (dir, output) = servesim(&[("ok.toml", STATION)], &["run", "ok.toml", "--out", "{out}", "--quiet"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    let summary = std::fs::read_to_string(dir.path().join("report/summary.json")).expect("summary.json");
    assert!(summary.contains("\"scenario\""), "{summary}");
}
