//! `--out` never destroys a user's files: every command that writes a
//! report folder replaces only a folder servesim wrote (marked by its
//! manifest) or an empty one; anything else is refused with exit 2 and
//! left byte for byte as it was. Interrupted writes leave only hidden
//! temporary folders, which the next run cleans when their process is gone.

use crate::support::{root, servesim};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scenario(name: &str) -> String {
    root().join("scenarios").join(name).display().to_string()
}

/// A small, fast `run` of the single-GPU scenario.
const QUICK: [&str; 4] = ["--set", "run.duration=5s", "--set", "run.warmup=0s"];

/// Every file under `dir` (recursively) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files
                    .insert(path.strip_prefix(dir).expect("inside").to_path_buf(), std::fs::read(&path).expect("read"));
            }
        }
    }
    files
}

/// A folder of the user's own files, including a nested one and binary bytes.
fn user_folder(dir: &Path) {
    std::fs::create_dir_all(dir.join("notes")).expect("mkdir");
    std::fs::write(dir.join("thesis.tex"), "\\documentclass{article}\n").expect("write");
    std::fs::write(dir.join("notes/raw.bin"), [0u8, 255, 10, 13, 7]).expect("write");
}

/// The command was refused with exit 2 and the standard message.
fn assert_refused(out: &Output, why: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr.contains(why) && stderr.contains("use an empty or new folder"), "{stderr}");
}

/// Each report-writing command, pointed at `out` (relative to the temp dir).
fn writers(out: &str) -> Vec<Vec<String>> {
    let cal = root().join("profiles/calibrated");
    let (single, sweep_json, profile) = (
        scenario("single-gpu-batching.toml"),
        cal.join("h100.sweep.json").display().to_string(),
        cal.join("h100.toml").display().to_string(),
    );
    let (distribution, safety, live) = (
        scenario("distribute/swarm-vs-theory.toml"),
        scenario("safety-pipeline.toml"),
        scenario("live-cpu-smoke.toml"),
    );
    let commands: Vec<Vec<&str>> = vec![
        [&["run", &single, "--out", out][..], &QUICK].concat(),
        [&["sweep", &single, "--vary", "workload.rate_per_s=40,60", "--out", out][..], &QUICK].concat(),
        vec!["distribute", &distribution, "--out", out],
        vec![
            "tradeoff",
            &safety,
            "--values",
            "0.5",
            "--set",
            "run.duration=2s",
            "--set",
            "run.warmup=0s",
            "--out",
            out,
        ],
        vec!["calibrate", "--refit", &sweep_json, "--out", "fresh.toml", "--report", out],
        vec!["fidelity", &live, "--profile", &profile, "--backend", "cpu", "--out", out],
    ];
    commands.into_iter().map(|c| c.into_iter().map(String::from).collect()).collect()
}

/// `run` of the single-GPU scenario into `out`, short unless `extra` says otherwise.
fn run_single(cwd: &Path, out: &str, extra: &[&str]) -> Output {
    let single = scenario("single-gpu-batching.toml");
    let args: Vec<&str> = [&["run", &single, "--out", out][..], &QUICK, extra].concat();
    servesim(&args, cwd)
}

fn run_args(args: &[String], cwd: &Path) -> Output {
    servesim(&args.iter().map(String::as_str).collect::<Vec<_>>(), cwd)
}

#[test]
fn every_writer_refuses_a_folder_of_user_files_and_leaves_it_byte_for_byte() {
    let tmp = tempfile::tempdir().expect("tempdir");
    user_folder(&tmp.path().join("mine"));
    let before = snapshot(&tmp.path().join("mine"));
    for args in writers("mine") {
        let out = run_args(&args, tmp.path());
        assert_refused(&out, "--out mine exists and is not a servesim report folder");
        assert_eq!(snapshot(&tmp.path().join("mine")), before, "{args:?} changed the user's folder");
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path()).expect("list").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(left, ["mine"], "nothing else was written");
}

#[test]
fn every_writer_leaves_an_existing_file_at_out_untouched() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("results.csv"), "a,b\n1,2\n").expect("write");
    for args in writers("results.csv") {
        let out = run_args(&args, tmp.path());
        assert_refused(&out, "--out results.csv is a file, not a folder");
        assert_eq!(std::fs::read(tmp.path().join("results.csv")).expect("read"), b"a,b\n1,2\n");
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path()).expect("list").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(left, ["results.csv"], "nothing else was written, not even hidden");
}

#[test]
fn the_scenario_folder_and_the_current_folder_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let project = tmp.path().join("project");
    std::fs::create_dir(&project).expect("mkdir");
    std::fs::copy(root().join("scenarios/single-gpu-batching.toml"), project.join("s.toml")).expect("copy");
    user_folder(&project.join("src"));
    let before = snapshot(&project);
    for out_dir in [".", "../project"] {
        let out = servesim(&[&["run", "s.toml", "--out", out_dir][..], &QUICK].concat(), &project);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert_eq!(snapshot(&project), before, "--out {out_dir} changed the project");
    }
    // The scenario's own folder, from outside it.
    let out = servesim(&[&["run", "project/s.toml", "--out", "project"][..], &QUICK].concat(), tmp.path());
    assert_refused(&out, "--out project exists and is not a servesim report folder");
    assert_eq!(snapshot(&project), before);
    // An empty current folder is still refused: replacing it would pull the folder from under the shell.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    assert_refused(&run_single(&empty, ".", &[]), "is the current folder");
}

#[test]
fn an_empty_folder_is_filled_and_a_report_folder_is_replaced() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(tmp.path().join("out")).expect("mkdir");
    let first = run_single(tmp.path(), "out", &["--seed", "1"]);
    assert!(first.status.success(), "{first:?}");
    let manifest = std::fs::read_to_string(tmp.path().join("out/.servesim-report.json")).expect("manifest");
    assert!(manifest.contains("\"summary.json\""), "{manifest}");
    let one = std::fs::read(tmp.path().join("out/summary.json")).expect("summary");
    let second = run_single(tmp.path(), "out", &["--seed", "2"]);
    assert!(second.status.success(), "{second:?}");
    assert_ne!(std::fs::read(tmp.path().join("out/summary.json")).expect("summary"), one, "replaced");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).expect("list").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(left, ["out"], "no temporary or old folders remain");
    // A report folder the user added a file to is theirs now: refused, both files kept.
    std::fs::write(tmp.path().join("out/my-notes.md"), "keep me\n").expect("write");
    let before = snapshot(&tmp.path().join("out"));
    assert_refused(&run_single(tmp.path(), "out", &["--seed", "3"]), "not a servesim report folder");
    assert_eq!(snapshot(&tmp.path().join("out")), before);
}

#[test]
fn a_symlink_at_out_is_refused_and_its_target_untouched() {
    let tmp = tempfile::tempdir().expect("tempdir");
    user_folder(&tmp.path().join("real"));
    let before = snapshot(&tmp.path().join("real"));
    std::os::unix::fs::symlink(tmp.path().join("real"), tmp.path().join("link")).expect("symlink");
    let out = run_single(tmp.path(), "link", &[]);
    assert_refused(&out, "--out link is a symbolic link");
    assert_eq!(snapshot(&tmp.path().join("real")), before);
}

#[test]
fn stale_temporary_folders_are_cleaned_only_when_they_hold_nothing_else() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Pids above the Linux maximum (2^22) belong to no process.
    let manifest = "{\"kind\": \"servesim report\", \"files\": [\"summary.json\"]}\n";
    let stale = tmp.path().join(".out.tmp-999999991");
    std::fs::create_dir(&stale).expect("mkdir");
    std::fs::write(stale.join(".servesim-report.json"), manifest).expect("write");
    std::fs::write(stale.join("summary.json"), "{").expect("write");
    std::fs::create_dir(tmp.path().join(".out.old-999999992")).expect("mkdir");
    // Not ours to delete: a stale-looking folder holding an unknown file, and one of a live process.
    let foreign = tmp.path().join(".out.tmp-999999993");
    user_folder(&foreign);
    let live = tmp.path().join(format!(".out.tmp-{}", std::process::id()));
    std::fs::create_dir(&live).expect("mkdir");
    let out = run_single(tmp.path(), "out", &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(!stale.exists() && !tmp.path().join(".out.old-999999992").exists(), "stale folders cleaned");
    assert!(live.exists(), "a live process's folder is left alone");
    let mut expected = BTreeMap::new();
    user_folder(&tmp.path().join("expected"));
    expected.extend(snapshot(&tmp.path().join("expected")));
    assert_eq!(snapshot(&foreign), expected, "a folder with unknown files survives byte for byte");
}

#[test]
fn an_interrupted_run_leaves_the_old_report_or_the_new_one_and_nothing_visible() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let long = ["--set", "run.duration=60s"];
    let first = run_single(tmp.path(), "out", &long);
    assert!(first.status.success(), "{first:?}");
    let before = snapshot(&tmp.path().join("out"));
    let single = scenario("single-gpu-batching.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_servesim"))
        .args(["run", &single, "--out", "out", "--seed", "7"])
        .args(long)
        .current_dir(tmp.path())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(150));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let _ = child.wait();
    let after = snapshot(&tmp.path().join("out"));
    let complete = after == before || after.keys().eq(before.keys());
    assert!(complete, "the report folder is whole: {:?}", after.keys());
    // The next run cleans whatever temporary folder the killed one left.
    let next = run_single(tmp.path(), "out", &long);
    assert!(next.status.success(), "{next:?}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).expect("list").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(left, ["out"], "only the report remains");
}

#[test]
fn calibrate_never_overwrites_a_profile_it_did_not_write() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sweep = root().join("profiles/calibrated/h100.sweep.json").display().to_string();
    let profiles = root().join("profiles").display().to_string();
    std::fs::write(tmp.path().join("mine.toml"), "gpu = \"mine\"\n").expect("write");
    let out = servesim(
        &["calibrate", "--refit", &sweep, "--out", "mine.toml", "--report", "r", "--profiles", &profiles],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a profile servesim calibrate wrote"), "{out:?}");
    assert_eq!(std::fs::read(tmp.path().join("mine.toml")).expect("read"), b"gpu = \"mine\"\n");
    assert!(!tmp.path().join("r").exists());
    // Its own profile it replaces.
    for _ in 0..2 {
        let out = servesim(
            &["calibrate", "--refit", &sweep, "--out", "cal.toml", "--report", "r", "--profiles", &profiles],
            tmp.path(),
        );
        assert!(out.status.success(), "{out:?}");
    }
}
