//! Bad distribution scenarios through the real binary: exit code 2, a
//! message naming the file, line:column (or `--set`), the key and a hint,
//! no panic and no report folder left behind.

use std::process::Command;

/// Lines: 1 strategy, 3 size, 4 chunk, 6 upload (origin), 8 count, 9 upload.
const BASE: &str = r#"strategy = "swarm"
[weights]
size = "1GB"
chunk = "100MB"
[origin]
upload = "10Gbps"
[nodes]
count = 20
upload = "10Gbps"
"#;

fn rejected(text: &str, extra: &[&str], expected: &[&str]) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("bad.toml"), text).expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_servesim"))
        .args(["distribute", "bad.toml", "--out", "report"])
        .args(extra)
        .current_dir(dir.path())
        .output()
        .expect("run servesim");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let context = format!("--- stderr ---\n{stderr}");
    assert_eq!(output.status.code(), Some(2), "{context}");
    assert!(stderr.starts_with("error: bad.toml") && stderr.contains("\n  hint: "), "{context}");
    assert!(!stderr.contains("panicked"), "{context}");
    for e in expected {
        assert!(stderr.contains(e), "missing {e:?}: {context}");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 1, "left behind {left:?}");
}

#[test]
fn the_base_scenario_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("ok.toml"), BASE).expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_servesim"))
        .args(["distribute", "ok.toml", "--out", "report", "--quiet"])
        .current_dir(dir.path())
        .output()
        .expect("run servesim");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(dir.path().join("report/summary.json").exists());
}

/// A distribution scenario names no GPU or model, and sets no work limit:
/// the flags that would be ignored are refused.
#[test]
fn serving_only_flags_are_refused() {
    for flag in [&["--profiles", "."][..], &["--allow-large"]] {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("ok.toml"), BASE).expect("write");
        let output = Command::new(env!("CARGO_BIN_EXE_servesim"))
            .args(["distribute", "ok.toml", "--out", "report"])
            .args(flag)
            .current_dir(dir.path())
            .output()
            .expect("run servesim");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("unexpected argument '{}'", flag[0])), "{stderr}");
        assert!(!dir.path().join("report").exists(), "{stderr}");
    }
}

#[test]
fn zero_bandwidth() {
    rejected(
        &BASE.replace("upload = \"10Gbps\"\n[nodes]", "upload = \"0Gbps\"\n[nodes]"),
        &[],
        &["bad.toml:6:10:", "`origin.upload`", "expected a bandwidth > 0"],
    );
    rejected(BASE, &["--set", "nodes.upload=0GB/s"], &["--set nodes.upload=0GB/s", "expected a bandwidth > 0"]);
}

#[test]
fn bandwidth_without_unit() {
    rejected(
        &BASE.replace("count = 20\nupload = \"10Gbps\"", "count = 20\nupload = 10"),
        &[],
        &["bad.toml:9:10:", "`nodes.upload`", "has no unit"],
    );
}

#[test]
fn chunk_larger_than_file() {
    rejected(&BASE.replace("\"100MB\"", "\"2GB\""), &[], &["bad.toml:4:9:", "`weights.chunk`", "larger than the file"]);
}

#[test]
fn zero_nodes() {
    rejected(&BASE.replace("count = 20", "count = 0"), &[], &["bad.toml:8:9:", "`nodes.count`", "at least 1 node"]);
}

#[test]
fn unknown_strategy() {
    rejected(
        &BASE.replace("\"swarm\"", "\"swarn\""),
        &[],
        &["bad.toml:1:12:", "`strategy`", "unknown variant `swarn`", "did you mean `swarm`?"],
    );
    rejected(BASE, &["--set", "strategy=bittorrent"], &["--set strategy=bittorrent", "unknown variant"]);
}

#[test]
fn unknown_key_and_missing_weights() {
    rejected(&BASE.replace("count = 20", "cuont = 20"), &[], &["`nodes.cuont`", "did you mean `count`?"]);
}
