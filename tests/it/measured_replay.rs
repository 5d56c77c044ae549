//! Replaying a measured run (`fidelity SCENARIO --measured RUN.csv`)
//! against latencies derived from the step model, against located errors,
//! and against determinism.

use crate::support::{profiles, servesim};
use servesim::core::llm::StepShape;
use servesim::scenario::Serving;
use std::path::Path;

/// One H100 serving Llama-3-8B on the roofline (no engine table): a step's
/// time is the step model's, with no per-request cost.
fn scenario(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("replay.toml");
    let text = format!(
        "name = \"replay\"\nseed = 1\n\n[replica]\ngpu = \"h100-sxm\"\nmodel = \"llama-3-8b\"\nprofiles = \"{}\"\n",
        profiles().display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The latencies of one request served alone: its prompt in one step, then
/// one decode step per further token over a context one token longer each
/// time.
fn alone(step: &dyn Fn(&StepShape) -> f64, prompt: u64, output: u64) -> (f64, f64, f64) {
    let ttft = step(&StepShape::prefill(prompt, 0));
    let decode: f64 = (1..output).map(|j| step(&StepShape::decode(1, prompt + j))).sum();
    let tpot = decode / (output - 1) as f64;
    (ttft, tpot, ttft + decode)
}

/// Derivation. Requests 20 s apart never share a step, so each one's TTFT
/// is its prefill step and its latency the prefill plus `output - 1` decode
/// steps over a growing context, all priced by the scenario's own step
/// model. A measured file holding exactly those latencies must replay with
/// every statistic within the histograms' 0.1% (HDR, 3 digits); the same
/// file with every latency 25% longer must read -20% (sim / measured - 1 =
/// 1 / 1.25 - 1). The replay offers exactly the file's requests, and two
/// replays write the same bytes.
#[test]
fn a_run_the_step_model_explains_replays_to_zero_error_and_a_slower_one_to_its_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path());
    // The scenario as the replay loads it (a trace workload), for its step model.
    let placeholder = dir.path().join("placeholder.csv");
    std::fs::write(&placeholder, "arrival_s,prompt_tokens,output_tokens,ttft_ms,latency_ms\n0,1,1,1,1\n").unwrap();
    let replay = ["workload.arrival=trace".to_string(), format!("workload.trace={}", placeholder.display())];
    let loaded = servesim::scenario::load(&path, &replay).unwrap();
    let Serving::Llm(pool) = &loaded.serving else { panic!("an LLM scenario") };
    let step = |s: &StepShape| pool.step.time(s).as_secs_f64();
    let shapes = [(512u64, 64u64), (2048, 16), (128, 200), (1000, 2)];
    let write = |name: &str, scale: f64| {
        let mut text = String::from("id,arrival_s,prompt_tokens,output_tokens,ttft_ms,latency_ms\n");
        for (i, &(p, o)) in shapes.iter().cycle().take(12).enumerate() {
            let (ttft, _, e2e) = alone(&step, p, o);
            text.push_str(&format!("{i},{},{p},{o},{:.9},{:.9}\n", 20 * i + 3, ttft * 1e3 * scale, e2e * 1e3 * scale));
        }
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        file
    };
    for (name, scale, want) in [("exact.csv", 1.0, 0.0), ("slower.csv", 1.25, 1.0 / 1.25 - 1.0)] {
        let file = write(name, scale);
        let out = dir.path().join(format!("out-{name}"));
        let args = ["fidelity", path.to_str().unwrap(), "--measured", file.to_str().unwrap(), "--out"];
        let run = servesim(&[&args[..], &[out.to_str().unwrap()]].concat(), dir.path());
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let csv = std::fs::read_to_string(out.join("fidelity.csv")).unwrap();
        let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), 13, "{csv}");
        for r in &rows {
            let error: f64 = r[3].parse().unwrap();
            let want = if r[0] == "completed" { 0.0 } else { want };
            assert!((error - want).abs() < 2e-3, "{name}: {} error {error}, want {want}\n{csv}", r[0]);
        }
        assert_eq!(rows[12][..3], ["completed", "12", "12"]);
        let again = dir.path().join(format!("again-{name}"));
        let run = servesim(&[&args[..], &[again.to_str().unwrap()]].concat(), dir.path());
        assert!(run.status.success());
        for f in ["fidelity.csv", "fidelity.md", "summary_sim.json"] {
            assert_eq!(std::fs::read(out.join(f)).unwrap(), std::fs::read(again.join(f)).unwrap(), "{f}");
        }
    }
}

/// A bad measured file is refused at its line and column, and a scenario
/// the replay cannot use names the key to change; nothing is written.
#[test]
fn bad_measured_runs_and_scenarios_are_refused_with_the_place_and_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path());
    let head = "arrival_s,prompt_tokens,output_tokens,ttft_ms,latency_ms\n";
    let file = dir.path().join("bad.csv");
    let out = dir.path().join("out");
    let cases = [
        (format!("{head}0,10,10,5,20\n1,10,10,-5,20\n"), "line 3, column ttft_ms"),
        ("arrival_s,prompt_tokens,ttft_ms,latency_ms\n0,10,5,20\n".to_string(), "line 1, column output_tokens"),
        (head.to_string(), "no data rows"),
    ];
    for (text, needle) in cases {
        std::fs::write(&file, text).unwrap();
        let run = servesim(
            &["fidelity", path.to_str().unwrap(), "--measured", file.to_str().unwrap(), "--out", out.to_str().unwrap()],
            dir.path(),
        );
        let said = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{said}");
        assert!(said.contains(needle) && said.contains("bad.csv"), "{needle}: {said}");
        assert!(!out.exists());
    }
    std::fs::write(&file, format!("{head}0,10,10,5,20\n")).unwrap();
    for (set, needle) in [("workload.rate_per_s=5", "workload.rate_per_s"), ("run.warmup=1s", "remove run.warmup")] {
        let run = servesim(
            &[
                "fidelity",
                path.to_str().unwrap(),
                "--measured",
                file.to_str().unwrap(),
                "--set",
                set,
                "--out",
                out.to_str().unwrap(),
            ],
            dir.path(),
        );
        let said = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{said}");
        assert!(said.contains(needle), "{set}: {said}");
        assert!(!out.exists());
    }
}

/// The same file is a trace: `workload.trace` replays its arrivals and
/// lengths in any scenario.
#[test]
fn a_measured_run_is_a_trace_for_any_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.csv");
    std::fs::write(&file, "arrival_s,prompt_tokens,output_tokens,ttft_ms,latency_ms\n0.5,100,8,5,20\n0,50,4,5,20\n")
        .unwrap();
    let records = servesim::workload::measured::read_records(&file).unwrap();
    let got: Vec<_> = records.iter().map(|r| (r.offset_ns, r.prompt_tokens, r.output_tokens)).collect();
    assert_eq!(got, [(0, 50, 4), (500_000_000, 100, 8)]);
}
