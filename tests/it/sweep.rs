//! Sweeps over grids, replicated and sharded: the same bytes for any
//! thread count, sharded-then-merged equal to unsharded, and located,
//! hinted refusals (with nothing written) for bad specs and bad shard sets.

use crate::support::{servesim, STATION};
use servesim::plan::source::Source;
use servesim::plan::sweep::{self, table, Axis, Measured, Spec};
use std::path::Path;
use std::process::Output;

fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("s.toml"), STATION).expect("write scenario");
    dir
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(out: Output, expected: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("hint: "), "{stderr}");
    for e in expected {
        assert!(stderr.contains(e), "missing {e:?}:\n{stderr}");
    }
}

fn report(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("report folder")
        .map(|e| e.expect("entry").path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).expect("file")))
        .collect();
    files.sort();
    files
}

#[test]
fn a_replicated_grid_renders_the_same_bytes_on_one_and_two_threads() {
    let dir = folder();
    let path = dir.path().join("s.toml");
    let spec = Spec {
        scenario: "s".into(),
        seed: 1,
        axes: vec![Axis::parse("servers.count=1,2").unwrap(), Axis::parse("workload.rate_per_s=40..120/40").unwrap()],
        replications: Some(3),
        slo_p99_ns: Some(50_000_000),
        question: String::new(),
    };
    let render = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        pool.install(|| {
            let scenarios = sweep::load_points(&Source::new(&path), &spec.axes, 0..6).expect("points");
            let runs = sweep::run_points(&scenarios, spec.replications, &|| {}, |s| Measured::of(&s));
            let r = table::render(&spec, &runs);
            (r.csv, r.markdown)
        })
    };
    let (csv, md) = render(1);
    assert_eq!((csv.clone(), md.clone()), render(2), "thread count changed the bytes");
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("servers.count,workload.rate_per_s,offered_per_s,offered_per_s_ci95,"), "{header}");
    assert_eq!(csv.lines().count(), 7, "{csv}");
    assert!(csv.contains("\n2,120,"), "{csv}");
    assert!(md.starts_with("# s sweep of `servers.count` x `workload.rate_per_s` (seed 1, 3 replications)"), "{md}");
    assert!(md.contains(" ± "), "{md}");
    for count in ["1", "2"] {
        let prefix = format!("at servers.count={count}: ");
        assert!(md.lines().any(|l| l.starts_with(&prefix) && l.contains("over 3 replications")), "{md}");
    }
}

#[test]
fn sharded_then_merged_is_the_unsharded_report_byte_for_byte() {
    let dir = folder();
    let cwd = dir.path();
    let studies: [&[&str]; 2] = [
        &["--vary", "workload.rate_per_s=20,60"],
        &[
            "--vary",
            "servers.count=1,2",
            "--vary",
            "workload.rate_per_s=30..90/30",
            "--replications",
            "2",
            "--slo-p99",
            "40ms",
        ],
    ];
    for (k, study) in studies.iter().enumerate() {
        let whole = format!("whole{k}");
        ok(servesim(&[&["sweep", "s.toml", "--out", &whole, "--quiet"][..], study].concat(), cwd));
        for n in [1, 2, 3, 7] {
            let shards: Vec<String> = (1..=n).map(|i| format!("shards{k}-{n}/{i}")).collect();
            // Run the shards out of order: the merge orders them.
            for (i, out) in shards.iter().enumerate().rev() {
                let shard = format!("{}/{n}", i + 1);
                ok(servesim(&[&["sweep", "s.toml", "--shard", &shard, "--out", out, "-q"][..], study].concat(), cwd));
            }
            let merged = format!("merged{k}-{n}");
            let mut args = vec!["merge", "--out", &merged, "--quiet"];
            args.extend(shards.iter().rev().map(String::as_str));
            ok(servesim(&args, cwd));
            assert_eq!(report(&cwd.join(&merged)), report(&cwd.join(&whole)), "study {k}, {n} shards");
        }
    }
}

#[test]
fn merge_refuses_missing_duplicate_and_foreign_shards_and_writes_nothing() {
    let dir = folder();
    let cwd = dir.path();
    let vary = ["--vary", "workload.rate_per_s=20,40,60"];
    for (out, shard, seed) in [("a1", "1/2", "1"), ("a2", "2/2", "1"), ("b2", "2/2", "2")] {
        let args = [&["sweep", "s.toml", "--shard", shard, "--out", out, "--seed", seed, "-q"][..], &vary].concat();
        ok(servesim(&args, cwd));
    }
    let merge = |dirs: &[&str]| servesim(&[&["merge", "--out", "m"][..], dirs].concat(), cwd);
    refused(merge(&["a1"]), &["shards 2 of 2 are missing (1 of 2 given)", "--shard 2/2"]);
    refused(merge(&["a1", "a2", "a2"]), &["shard 2/2 is given twice: a2 and a2"]);
    refused(merge(&["a1", "b2"]), &["b2/shard.json: `sweep`: belongs to a different sweep", "seed 2", "seed 1"]);
    refused(merge(&["a1", "nowhere"]), &["nowhere/shard.json: cannot read"]);
    std::fs::write(cwd.join("a2/runs.csv"), "point,replication\n").expect("corrupt");
    refused(merge(&["a1", "a2"]), &["a2/runs.csv:1:1: expected the header"]);
    assert!(!cwd.join("m").exists(), "nothing written on a refused merge");
}

#[test]
fn bad_sweep_specs_are_refused_before_any_run() {
    let dir = folder();
    let cwd = dir.path();
    let sweep = |extra: &[&str]| servesim(&[&["sweep", "s.toml", "--out", "r"][..], extra].concat(), cwd);
    refused(sweep(&["--vary", "servers.count=1..4/0"]), &["--vary servers.count=1..4/0", "STEP must be > 0"]);
    refused(sweep(&["--vary", "servers.count=4..1/1"]), &["LO must be <= HI, got 4 > 1"]);
    refused(
        sweep(&["--vary", "servers.count=1..200/1", "--vary", "workload.rate_per_s=1..200/1"]),
        &["the grid of `servers.count` x `workload.rate_per_s` has 40000 points; a sweep has at most 10000"],
    );
    refused(sweep(&["--vary", "servers.count=1", "--vary", "servers.count=2"]), &["`servers.count` is varied twice"]);
    refused(sweep(&["--vary", "servers.count=1,2", "--replications", "1"]), &["--replications 1: expected 2 to"]);
    refused(sweep(&["--vary", "servers.count=1,2", "--shard", "3/2"]), &["--shard `3/2`: expected I/N"]);
    refused(
        sweep(&["--vary", "service.mean=5ms..15ms/5ms", "--vary", "servers.count=1,0"]),
        &["(from --vary servers.count=0)"],
    );
    assert!(!cwd.join("r").exists(), "nothing written");
}
