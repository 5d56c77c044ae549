//! Resource guards and located errors, table-driven: each case edits a
//! scenario (a file line or a `--set`), runs the real binary, and asserts
//! exit 2, the key, the expected words and a hint. The limits themselves
//! live in `servesim::scenario::guard`.

use crate::support::STATION;
use std::path::Path;
use std::process::{Command, Output};

fn servesim(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_servesim")).args(args).current_dir(dir).output().expect("run servesim")
}

/// Runs `servesim <args>` next to `s.toml` (holding `text`) and checks the
/// bad-input contract: exit 2, the expected words, a hint, no panic.
fn refused(text: &(impl AsRef<[u8]> + ?Sized), args: &[&str], expected: &[&str]) {
    refused_among(&[("s.toml", text.as_ref())], args, expected);
}

/// [`refused`] with any set of files (relative paths) in the folder.
fn refused_among(files: &[(&str, &[u8])], args: &[&str], expected: &[&str]) {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, bytes) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
    }
    let output = servesim(dir.path(), args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let context = format!("servesim {args:?}\n--- stderr ---\n{stderr}");
    assert_eq!(output.status.code(), Some(2), "{context}");
    assert!(stderr.starts_with("error: ") && stderr.contains("hint: "), "{context}");
    assert!(!stderr.contains("panicked"), "{context}");
    for e in expected {
        assert!(stderr.contains(e), "missing {e:?}: {context}");
    }
}

/// `servesim run s.toml` with `sets` as `--set` overrides.
fn run_with(text: &str, sets: &[&str], expected: &[&str]) {
    let mut args = vec!["run", "s.toml", "--out", "report", "--quiet"];
    for set in sets {
        args.extend(["--set", set]);
    }
    refused(text, &args, expected);
}

#[test]
fn counts_that_size_allocations_are_refused_at_their_key() {
    let cases: &[(&str, &[&str])] = &[
        ("servers.count=4294967295", &["`servers.count`", "1..=100000", "one server per GPU"]),
        ("validation.replications=4294967295", &["`validation.replications`", "1..=10000"]),
    ];
    for (set, expected) in cases {
        run_with(STATION, &[set], expected);
    }
    // Located in the file: line 8 is `count`.
    refused(
        &STATION.replace("count = 1", "count = 4294967295"),
        &["run", "s.toml", "--out", "report"],
        &["s.toml:8:", "`servers.count`", "1..=100000"],
    );
    refused(STATION, &["validate", "s.toml", "--replications", "4294967295"], &["--replications", "2..=10000"]);
}

#[test]
fn absurd_amounts_of_work_are_refused_with_the_estimate_and_the_override() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["workload.rate_per_s=1e15"], &["`run.duration`", "1.000e15 requests", "--allow-large", "run.allow_large"]),
        (&["run.duration=\"1000000h\""], &["`run.duration`", "3.600e10 requests", "--allow-large"]),
        (&["run.duration=\"100000000h\""], &["`run.duration`", "292 years"]),
        (&["workload.arrival=\"gamma\"", "workload.scv=1e9"], &["`workload.scv`", "at most 1e4"]),
        (&["run.window=\"1ns\""], &["`run.window`", "timeline rows", "omit run.window"]),
        (&["run.warmup=\"2s\""], &["`run.warmup`", "nothing would be measured"]),
        (
            &["validation.requests=10", "validation.warmup_requests=100"],
            &["`validation.warmup_requests`", "at most validation.requests (10)"],
        ),
    ];
    for (sets, expected) in cases {
        run_with(STATION, sets, expected);
    }
    // A request cap with no duration: the cap is the estimate.
    let capped = STATION.replace("duration = \"1s\"", "max_requests = 4294967295");
    refused(&capped, &["run", "s.toml", "--out", "report"], &["s.toml:2:", "`run.max_requests`", "4.295e9"]);
}

#[test]
fn allow_large_lifts_only_the_work_estimate() {
    // With the override the work guard passes and the next check speaks.
    let sets = ["workload.rate_per_s=1e15", "servers.count=0"];
    let mut args = vec!["run", "s.toml", "--out", "report", "--allow-large"];
    for set in &sets {
        args.extend(["--set", set]);
    }
    refused(STATION, &args, &["`servers.count`", "expected an integer >= 1, got 0"]);
    let key = STATION.replace("duration = \"1s\"", "duration = \"1s\"\nallow_large = true");
    run_with(&key, &sets, &["`servers.count`", "got 0"]);
}

/// An LLM scenario (the shipped continuous-batching one).
fn llm_scenario(name: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("scenarios").join(name)).expect("shipped scenario");
    // Profiles are found next to the scenario's repository.
    text.replace("[replica]", &format!("[replica]\nprofiles = \"{}\"", root.join("profiles").display()))
}

#[test]
fn llm_counts_sizes_and_targets_are_refused_at_their_key() {
    let text = llm_scenario("llama70b-h100-continuous.toml");
    let cases: &[(&str, &[&str])] = &[
        ("replica.count=10000000", &["`replica.count`", "1..=10000"]),
        ("kv.block_tokens=4294967295", &["`kv.block_tokens`", "1..=65536", "16 is typical"]),
        ("slo.ttft_p99=\"0s\"", &["`slo.ttft_p99`", "expected a duration > 0"]),
        ("workload.output_tokens.max=500", &["`workload.output_tokens.p99`", "above max"]),
    ];
    for (set, expected) in cases {
        run_with(&text, &[set], expected);
    }
    let mean =
        text.replace("output_tokens = { median = 200, p99 = 1000, max = 2000 }", "output_tokens = { mean = 1e17 }");
    refused(&mean, &["run", "s.toml", "--out", "report"], &["`workload.output_tokens.mean`", "at most 1e7 tokens"]);
    let disaggregated = llm_scenario("llama70b-h100-disaggregated.toml");
    for bandwidth in ["2.5", "1e-9"] {
        run_with(
            &disaggregated,
            &[&format!("disaggregation.link_bandwidth_bytes_per_s={bandwidth}")],
            &["`disaggregation.link_bandwidth_bytes_per_s`", "at least 1e6 bytes per second"],
        );
    }
}

#[test]
fn closed_loop_clients_count_in_the_work_estimate() {
    let text = llm_scenario("vllm-closed-loop.toml");
    let expected: &[&str] = &["`workload.clients.requests_per_client`", "would send", "--allow-large"];
    run_with(&text, &["workload.clients.concurrency=100000", "workload.clients.requests_per_client=1000"], expected);
}

#[test]
fn distribution_node_counts_are_refused_at_their_key() {
    let text = "strategy = \"swarm\"\n[weights]\nsize = \"1GB\"\nchunk = \"100MB\"\n[origin]\nupload = \"10Gbps\"\n\
                [nodes]\ncount = 4294967295\nupload = \"10Gbps\"\n";
    refused(text, &["distribute", "s.toml", "--out", "report"], &["s.toml:8:", "`nodes.count`", "1..=1000000"]);
}

#[test]
fn a_batching_station_with_no_waiting_room_and_a_crawling_origin_are_refused() {
    let batching = format!("{STATION}\n[batching]\nmax_batch = 8\nmax_wait = \"5ms\"\n");
    run_with(&batching, &["servers.queue_capacity=0"], &["`servers.queue_capacity`", "admits nothing"]);
    let text =
        "strategy = \"swarm\"\n[weights]\nsize = \"1GB\"\nchunk = \"100MB\"\n[origin]\nupload = \"0.000001bps\"\n\
                [nodes]\ncount = 20\nupload = \"10Gbps\"\n";
    refused(
        text,
        &["distribute", "s.toml", "--out", "report"],
        &["s.toml:6:", "`origin.upload`", "at least 1000 bytes/s"],
    );
}

#[test]
fn set_paths_and_plans_given_to_run_get_the_right_diagnosis() {
    for set in ["=", "servers..count=1"] {
        run_with(STATION, &[set], &["an empty part", "--set servers.count=2"]);
    }
    // A quoted part names the same key: the override reaches its check.
    run_with(
        STATION,
        &["servers.\"count\"=0"],
        &["(from --set servers.\"count\"=0)", "`servers.count`", "expected an integer >= 1, got 0"],
    );
    let plan = "strategy = \"swarm\"\n[weights]\nsize = \"1GB\"\n";
    refused(plan, &["run", "s.toml", "--out", "report"], &["s.toml:1:", "strategy", "servesim distribute"]);
}

#[test]
fn a_file_that_is_not_utf8_is_located_at_its_first_invalid_byte() {
    let text = b"[run]\nduration = \"1s\"\n# caf\xe9\n";
    refused(
        text,
        &["run", "s.toml", "--out", "report"],
        &["s.toml:3:6:", "expected UTF-8 text", "save the file as UTF-8"],
    );
    let plan = b"strategy = \"swarm\"\n[weights]\nsize = \"1\xffGB\"\n";
    refused(plan, &["distribute", "s.toml", "--out", "report"], &["s.toml:3:10:", "UTF-8"]);
}

#[test]
fn scv_price_and_distribution_keys_carry_a_hint() {
    let gamma = STATION.replace("model = \"exponential\"", "model = \"gamma\"");
    run_with(&gamma, &["service.scv=-1"], &["`service.scv`", "hint: the variance over the squared mean"]);
    run_with(
        STATION,
        &["workload.arrival=\"gamma\"", "workload.scv=-1"],
        &["`workload.scv`", "hint: scv = 1 is Poisson"],
    );
    let llm = llm_scenario("llama70b-h100-continuous.toml");
    run_with(
        &llm,
        &["replica.price_per_gpu_hour_usd=-1"],
        &["`replica.price_per_gpu_hour_usd`", "hint: the rental price"],
    );
    let plan = "strategy = \"swarm\"\n[weights]\nsize = \"1GB\"\nchunk = \"100MB\"\n[origin]\nupload = \"10Gbps\"\n\
                [nodes]\ncount = 20\nupload = \"10Gbps\"\n";
    let cases: &[(&str, &[&str])] = &[
        ("nodes.stragglers=2", &["`nodes.stragglers`", "hint: the share of nodes that are slow"]),
        ("nodes.bandwidth_cv=-1", &["`nodes.bandwidth_cv`", "hint: the spread of node bandwidths"]),
        ("nodes.straggler_speed=2", &["`nodes.straggler_speed`", "hint: a straggler's share"]),
        ("faults.checksum_failure_rate=1", &["`faults.checksum_failure_rate`", "hint: the chance a received chunk"]),
        ("faults.crashes=100", &["`faults.crashes`", "hint: each crash takes down a distinct node"]),
        ("tree.fanout=0", &["`tree.fanout`", "hint: children per tree node"]),
        ("swarm.upload_slots=0", &["`swarm.upload_slots`", "hint: concurrent transfers per node"]),
        ("swarm.download_slots=0", &["`swarm.download_slots`", "hint: concurrent transfers per node"]),
        ("origin.upload_slots=0", &["`origin.upload_slots`", "hint: concurrent transfers per node"]),
        ("origin.count=0", &["`origin.count`", "hint: the number of origin servers"]),
        ("topology.rack_size=0", &["`topology.rack_size`", "hint: nodes per rack"]),
    ];
    for (set, expected) in cases {
        refused(plan, &["distribute", "s.toml", "--out", "report", "--set", set], expected);
    }
    let crash_window = ["faults.crashes=1", "faults.crash_from=\"20s\"", "faults.crash_until=\"10s\""];
    let mut args = vec!["distribute", "s.toml", "--out", "report"];
    for set in &crash_window {
        args.extend(["--set", set]);
    }
    refused(plan, &args, &["`faults.crash_until`", "hint: crashes fall in the window"]);
    let no_upload = plan.replace("[nodes]\ncount = 20\nupload = \"10Gbps\"", "[nodes]\ncount = 20");
    refused(
        &no_upload,
        &["distribute", "s.toml", "--out", "report"],
        &["`nodes.upload`", "hint: add it, e.g. upload ="],
    );
}

#[test]
fn swept_values_are_blamed_on_the_flag_that_gave_them() {
    refused(
        STATION,
        &["sweep", "s.toml", "--vary", "servers.count=1,0", "--out", "report"],
        &["(from --vary servers.count=0)", "`servers.count`", "got 0"],
    );
    let safety = llm_scenario("safety-pipeline.toml");
    refused(
        &safety,
        &["tradeoff", "s.toml", "--values", "0.5,7", "--out", "report"],
        &["(from --key safety.output.block_threshold --values 7)", "`safety.output.block_threshold`"],
    );
}

#[test]
fn a_third_beta_parameter_is_refused() {
    let safety = llm_scenario("safety-pipeline.toml").replacen("benign = [1, 15]", "benign = [1, 15, 3]", 1);
    refused(
        &safety,
        &["run", "s.toml", "--out", "report"],
        &["s.toml:", "invalid length 3", "two numbers [alpha, beta]"],
    );
}

/// The scenario `llama70b-h100-continuous.toml` reading profiles from
/// `p/`, a copy of the shipped ones with `edit` applied to the file `name`.
fn with_profile(name: &str, edit: impl Fn(&str) -> String, expected: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("scenarios/llama70b-h100-continuous.toml")).expect("scenario");
    let scenario = text.replace("[replica]", "[replica]\nprofiles = \"p\"");
    let mut files = vec![("s.toml".to_string(), scenario.into_bytes())];
    for dir in ["gpus", "models"] {
        for entry in std::fs::read_dir(root.join("profiles").join(dir)).expect("profiles") {
            let path = entry.expect("entry").path();
            let file = format!("p/{dir}/{}", path.file_name().expect("name").to_string_lossy());
            let body = std::fs::read_to_string(&path).expect("profile");
            let body = if file.ends_with(name) { edit(&body) } else { body };
            files.push((file, body.into_bytes()));
        }
    }
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    refused_among(&files, &["run", "s.toml", "--out", "report"], expected);
}

#[test]
fn wild_profile_values_are_blamed_on_the_profile_file_and_key() {
    let set = |key: &'static str, value: &'static str| {
        move |body: &str| {
            body.lines()
                .map(|l| if l.starts_with(&format!("{key} =")) { format!("{key} = {value}") } else { l.to_string() })
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    with_profile(
        "models/llama-2-70b.toml",
        set("hidden_size", "4294967295"),
        &["p/models/llama-2-70b.toml:", "`hidden_size`", "expected at most 1048576", "fix the profile file"],
    );
    with_profile(
        "gpus/h100-sxm.toml",
        set("memory_bytes", "1000"),
        &["p/gpus/h100-sxm.toml:", "`memory_bytes`", "at least 1073741824 bytes", "80 GB GPU"],
    );
}

#[test]
fn a_refit_of_zero_step_times_is_bad_input() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sweep = std::fs::read_to_string(root.join("profiles/calibrated/h100.sweep.json")).expect("sweep");
    let mut json: serde_json::Value = serde_json::from_str(&sweep).expect("json");
    for step in json["steps"].as_array_mut().expect("steps") {
        step["measured_s"] = 0.into();
    }
    let profiles = root.join("profiles").display().to_string();
    refused_among(
        &[("z.json", json.to_string().as_bytes())],
        &["calibrate", "--refit", "z.json", "--out", "q.toml", "--gpu", "h100-sxm", "--profiles", &profiles],
        &["z.json", "`steps[0].measured_s`", "expected a step time > 0 seconds"],
    );
}
