//! `servesim check`, the CI gate: exit 0 when every assertion passes, 1
//! when one fails (named with actual vs target), 2 on bad input (located,
//! with a hint).

use crate::support::{root, servesim};
use std::path::Path;
use std::process::Output;

const SCENARIO: &str = "scenarios/llama70b-h100-continuous.toml";

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn passing_assertions_exit_zero_with_a_table() {
    let out = servesim(&["check", SCENARIO], &root());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let header = stdout.lines().find(|l| l.starts_with("metric")).unwrap_or_default();
    for column in ["op", "target", "actual", "baseline", "delta", "verdict"] {
        assert!(header.contains(column), "{stdout}");
    }
    let row = stdout.lines().find(|l| l.starts_with("ttft_p99 ")).unwrap_or_default();
    assert!(row.contains("<=") && row.contains("2s") && row.contains("528.744ms") && row.ends_with("pass"), "{stdout}");
    assert!(stdout.contains("all 5 assertions pass"), "{stdout}");
}

#[test]
fn a_failing_assertion_exits_one_and_names_actual_vs_target() {
    let out = servesim(&["check", SCENARIO, "--set", "check.ttft_p99=<= 100ms", "-q"], &root());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.lines().any(|l| l.starts_with("ttft_p99 ") && l.ends_with("FAIL")), "{stdout}");
    assert!(
        stderr.contains("1 of 5 assertions failed") && stderr.contains("ttft_p99 <= 100ms (actual 528.744ms)"),
        "{stderr}"
    );
}

#[test]
fn saved_summaries_check_against_a_file_and_a_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let run = servesim(&["run", &root().join(SCENARIO).to_string_lossy(), "--out", "r", "-q"], dir.path());
    assert!(run.status.success(), "{run:?}");
    let slo = write(dir.path(), "slo.toml", "[check]\ne2e_p99 = \"< 10s\"\nllm.cost.usd = \"<= 10\"\n");
    let summary = dir.path().join("r/summary.json").to_string_lossy().into_owned();
    let out = servesim(&["check", "--summary", &summary, "--assertions", &slo, "--baseline", &summary], dir.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let row = stdout.lines().find(|l| l.starts_with("e2e_p99 ")).unwrap_or_default();
    assert!(row.contains("19.009s") && row.contains("+0.000ms") && row.ends_with("FAIL"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("llm.cost.usd ") && l.ends_with("pass")), "{stdout}");
}

#[test]
fn bad_input_exits_two_with_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = root().join(SCENARIO).to_string_lossy().into_owned();
    let cases = [
        (
            "[check]\nttft_p98 = \"<= 2s\"\n",
            vec![":2:12: `check.ttft_p98`: unknown metric `ttft_p98`", "close names: ttft_p90, ttft_p99"],
        ),
        ("[check]\n\ntpot_p99 = \"about 2s\"\n", vec![":3:12: `check.tpot_p99`: expected `<op> <value>`", "hint:"]),
        ("[check]\ngoodput_fraction = \"<= 2s\"\n", vec!["cannot compare with the duration 2s"]),
        ("[check]\nslo_met = \">= 1\"\n", vec!["is true/false, so it cannot compare with 1"]),
        ("[chekc]\nslo_met = true\n", vec![":1:", "chekc"]),
    ];
    for (body, expected) in cases {
        let file = write(dir.path(), "a.toml", body);
        let out = servesim(&["check", &scenario, "--assertions", &file, "-q"], dir.path());
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{body}: {stdout}{stderr}");
        for part in expected {
            assert!(stderr.contains(part), "{body}: `{part}` missing from {stderr}");
        }
    }
    let station = root().join("scenarios/single-gpu-batching.toml").to_string_lossy().into_owned();
    let out = servesim(&["check", &station], dir.path());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out).1.contains("no [check] table"), "{out:?}");
    let out = servesim(&["check", "--summary", "missing.json", "--assertions", "a.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
