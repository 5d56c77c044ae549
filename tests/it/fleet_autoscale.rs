//! Autoscaling with cold starts: a pool scales out on its metric and in by
//! draining (failing nothing), a new replica's weight download is what
//! `servesim distribute` predicts for the nodes starting with it, every
//! cold start in the report is provisioning + container + download + load,
//! a restarted slot's cache and the warm pool skip what they should, the
//! shipped diurnal and cold-start-storm scenarios answer their questions,
//! and bad autoscalers are refused at their keys.

use crate::fleet::{json, refused};
use crate::support::{assert_snapshot, gpu, model, root, servesim};
use serde_json::Value;
use servesim::distribute::{self, Strategy};
use servesim::report::summary_json;
use servesim::scenario::{self, Scenario};
use servesim::sim;

/// One autoscaled pool of Llama-3-8B (2 to 12 replicas on concurrency),
/// 5 req/s with a spike to 60 req/s from 2 to 5 minutes (and, with
/// `again`, a second from 9 to 11); `cold` is appended to
/// `[fleet.cold_start]`.
fn spiky(cold: &str, again: bool) -> String {
    let second = if again { ", { at = \"9m\", rate_per_s = 60.0 }, { at = \"11m\", rate_per_s = 5.0 }" } else { "" };
    format!(
        r#"
name = "spiky"
seed = 3
[run]
duration = "14m"
[batching]
policy = "continuous"
max_batch = 64
[slo]
ttft_p99 = "2s"
[fleet.cold_start]
provision = "60s"
container_start = "20s"
origin_upload = "100Gbps"
node_bandwidth = "50Gbps"
{cold}
[[regions]]
name = "us-east"
[[regions.pools]]
model = "llama-3-8b"
gpu = "h100-sxm"
replicas = 2
routing = "least-outstanding"
autoscale = {{ min_replicas = 2, max_replicas = 12, metric = "concurrency", target = 4, interval = "15s", scale_down_window = "1m" }}
[[populations]]
name = "users"
regions = {{ "us-east" = 1 }}
models = {{ "llama-3-8b" = 1 }}
workload = {{ arrival = "poisson", rate_per_s = 5.0, schedule = [{{ at = "2m", rate_per_s = 60.0 }}, {{ at = "5m", rate_per_s = 5.0 }}{second}], prompt_tokens = {{ median = 400, p99 = 3000, max = 6000 }}, output_tokens = {{ median = 150, p99 = 700, max = 1000 }} }}
"#
    )
}

fn load(text: &str) -> Scenario {
    scenario::from_text(text, &root().join("scenarios/test.toml"), &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn autoscaling(j: &Value) -> &Value {
    &j["fleet"]["autoscaling"]
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The cold starts that downloaded, grouped by their start time.
fn cold_batches(j: &Value) -> Vec<Vec<&Value>> {
    let mut batches: Vec<Vec<&Value>> = Vec::new();
    for c in autoscaling(j)["cold_starts"].as_array().unwrap().iter().filter(|c| c["download_nodes"] != 0) {
        match batches.last_mut() {
            Some(b) if b[0]["start_s"] == c["start_s"] => b.push(c),
            _ => batches.push(vec![c]),
        }
    }
    batches
}

#[test]
fn the_weight_download_is_what_servesim_distribute_predicts_for_the_same_nodes() {
    let weights = model("llama-3-8b").weight_bytes();
    let tmp = tempfile::tempdir().expect("tempdir");
    for strategy in [Strategy::FanOut, Strategy::Swarm] {
        let name = strategy.name();
        let j = json(&sim::run(&load(&spiky(&format!("weight_strategy = \"{name}\""), false))).summary);
        let batches = cold_batches(&j);
        assert!(!batches.is_empty(), "{name}: the spike started replicas");
        for batch in batches {
            let nodes = batch.len();
            assert!(batch.iter().all(|c| c["download_nodes"] == nodes && c["weight_strategy"] == name));
            // The same nodes, file and strategy, as a distribution scenario of its own.
            let path = tmp.path().join(format!("{name}-{nodes}.toml"));
            std::fs::write(
                &path,
                format!(
                    "strategy = \"{name}\"\n[weights]\nsize = \"{weights}B\"\n[origin]\nupload = \"100Gbps\"\n\
                     [nodes]\ncount = {nodes}\nupload = \"50Gbps\"\n"
                ),
            )
            .unwrap();
            let done = distribute::node_completion_s(&distribute::load(&path, &[]).unwrap(), strategy);
            for (c, d) in batch.iter().zip(&done) {
                assert!((f(&c["download_s"]) - d.unwrap()).abs() < 1e-6, "{name}: {c} vs {d:?}");
            }
            // And the command itself: its first, median and last node.
            let out = tmp.path().join(format!("{name}-{nodes}"));
            let run = servesim(&["distribute", path.to_str().unwrap(), "--out", out.to_str().unwrap()], tmp.path());
            assert!(run.status.success(), "{run:?}");
            let report: Value =
                serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
            let s = &report["strategies"][0];
            let mut downloads: Vec<f64> = batch.iter().map(|c| f(&c["download_s"])).collect();
            downloads.sort_by(f64::total_cmp);
            let close = |a: f64, b: &Value| (a - f(b)).abs() < 1e-6;
            assert!(close(downloads[0], &s["first_node_s"]), "{name}: {downloads:?} vs {s}");
            assert!(close(downloads[nodes - 1], &s["last_node_s"]), "{name}: {downloads:?} vs {s}");
        }
    }
}

#[test]
fn every_cold_start_is_provisioning_plus_container_plus_download_plus_load() {
    let load_s = model("llama-3-8b").weight_bytes() as f64 / gpu("h100-sxm").pcie_bandwidth_bytes_per_s;
    let s = sim::run(&load(&spiky("cache_ttl = \"30m\"", true))).summary;
    assert!(s.invariants.all_hold && s.invariants.lost == 0, "{:?}", s.invariants);
    let j = json(&s);
    let starts = autoscaling(&j)["cold_starts"].as_array().unwrap();
    assert!(starts.len() >= 10, "two spikes started replicas: {}", starts.len());
    for c in starts {
        let parts = ["provision_s", "container_s", "download_s", "load_s"].map(|k| f(&c[k]));
        let total: f64 = parts.iter().sum();
        assert!((f(&c["ready_s"]) - f(&c["start_s"]) - total).abs() < 1e-6, "{c}");
        assert!((parts[3] - load_s).abs() < 1e-6, "weights / tp over PCIe: {c}");
        match c["kind"].as_str().unwrap() {
            "cold" => assert!(parts[0] == 60.0 && parts[1] == 20.0 && parts[2] > 0.0, "{c}"),
            "cached" => assert!(parts[0] == 60.0 && parts[1] == 20.0 && parts[2] == 0.0, "{c}"),
            other => panic!("no warm pool here, got {other}: {c}"),
        }
    }
    // The second spike restarts slots drained after the first: their disks still hold the weights.
    assert!(starts.iter().any(|c| c["kind"] == "cached"), "{starts:?}");
    let no_cache = json(&sim::run(&load(&spiky("cache_ttl = \"0s\"", true))).summary);
    assert!(autoscaling(&no_cache)["cold_starts"].as_array().unwrap().iter().all(|c| c["kind"] == "cold"));
}

#[test]
fn scaling_out_and_in_by_draining_fails_nothing_and_bills_only_provisioned_nodes() {
    let s = sim::run(&load(&spiky("", false))).summary;
    assert!(s.invariants.all_hold && s.invariants.lost == 0, "{:?}", s.invariants);
    let j = json(&s);
    assert_eq!(j["requests"]["by_outcome"]["failed"], 0, "a drain finishes what the replica holds");
    let a = autoscaling(&j);
    let decisions = a["decisions"].as_array().unwrap();
    assert!(decisions.iter().any(|d| d["to"].as_u64() > d["from"].as_u64()), "{decisions:?}");
    let down = decisions.iter().find(|d| d["to"].as_u64() < d["from"].as_u64()).expect("scaled in after the spike");
    assert!(f(&down["t_s"]) >= 300.0 + 60.0, "not before the 1-minute scale-down window after the spike: {down}");
    let pool = &a["pools"][0];
    assert_eq!((pool["peak_replicas"].as_u64(), pool["final_replicas"].as_u64()), (Some(12), Some(2)));
    let (billed, peak) = (f(&pool["gpu_hours"]), f(&pool["static_peak_gpu_hours"]));
    assert!(billed > 2.0 * 14.0 / 60.0 && billed < 0.6 * peak, "billed {billed} GPU-h, static peak {peak}");
    assert_eq!(json(&sim::run(&load(&spiky("", false))).summary), j, "deterministic");
}

#[test]
fn a_warm_pool_skips_provisioning_and_the_download_and_is_billed_while_idle() {
    let cold = json(&sim::run(&load(&spiky("", false))).summary);
    // Room above the spike's replicas, so the warm pool is refilled by provisioning.
    let roomy = spiky("warm_pool = 4", false).replace("max_replicas = 12", "max_replicas = 60");
    let warm = json(&sim::run(&load(&roomy)).summary);
    let starts = autoscaling(&warm)["cold_starts"].as_array().unwrap();
    let first = &starts[0]["start_s"];
    let from_warm: Vec<&Value> = starts.iter().filter(|c| c["kind"] == "warm").collect();
    assert_eq!(from_warm.iter().filter(|c| c["start_s"] == *first).count(), 4, "the spike takes every warm node");
    assert!(from_warm.iter().all(|c| f(&c["provision_s"]) == 0.0 && f(&c["download_s"]) == 0.0));
    assert!(starts.iter().any(|c| c["kind"] == "warm_refill"), "the warm pool is refilled");
    let bill = |j: &Value| f(&autoscaling(j)["pools"][0]["gpu_hours"]);
    assert!(bill(&warm) > bill(&cold), "warm nodes are billed while idle");
}

/// The share of the report's SLO windows that met the SLO target.
fn windows_met(j: &Value) -> f64 {
    let w = &j["fleet"]["slo_windows"];
    assert!(w["windows"].as_u64().unwrap() > 1000, "a day of 1-minute windows: {w}");
    f(&w["met_fraction"])
}

#[test]
fn diurnal_autoscaling_meets_the_slo_in_99_percent_of_windows_at_fewer_gpu_hours_than_static_peak() {
    let path = root().join("scenarios/fleet/diurnal-autoscaling.toml");
    let s = scenario::load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
    let run = sim::run(&s);
    let first = summary_json(&run.summary).expect("encodes");
    assert_eq!(first, summary_json(&sim::run(&s).summary).expect("encodes"), "two runs differ");
    let j: Value = serde_json::from_str(&first).unwrap();
    assert_eq!((j["invariants"]["all_hold"].as_bool(), j["invariants"]["lost"].as_u64()), (Some(true), Some(0)));
    let auto = windows_met(&j);
    assert!(auto >= 0.99, "the autoscaler met the SLO in {:.1}% of windows", auto * 100.0);
    let fixed_scenario = scenario::load(&path, &["fleet.static_peak=true".to_string()]).unwrap();
    let fixed_j = json(&sim::run(&fixed_scenario).summary);
    let bill = |j: &Value| f(&autoscaling(j)["pools"][0]["gpu_hours"]);
    assert!(windows_met(&fixed_j) >= 0.99);
    assert!(bill(&j) < 0.7 * bill(&fixed_j), "autoscaled {} GPU-h vs static peak {}", bill(&j), bill(&fixed_j));
    assert!(autoscaling(&fixed_j)["decisions"].as_array().unwrap().is_empty());
    assert_snapshot("shipped_scenarios", &s.name, &first);
}

#[test]
fn the_cold_start_storm_reaches_capacity_fastest_from_warm_nodes_then_peer_to_peer() {
    let path = root().join("scenarios/fleet/cold-start-storm.toml");
    let variant = |set: &[&str]| {
        let sets: Vec<String> = set.iter().map(|s| s.to_string()).collect();
        let s = scenario::load(&path, &sets).unwrap_or_else(|e| panic!("{e}"));
        summary_json(&sim::run(&s).summary).expect("encodes")
    };
    let registry = variant(&[]);
    assert_eq!(registry, variant(&[]), "two runs differ");
    let runs: Vec<Value> = [
        registry.clone(),
        variant(&["fleet.cold_start.weight_strategy=swarm"]),
        variant(&["fleet.cold_start.warm_pool=200"]),
    ]
    .iter()
    .map(|s| serde_json::from_str(s).unwrap())
    .collect();
    let mut capacity = Vec::new();
    for j in &runs {
        assert_eq!((j["invariants"]["all_hold"].as_bool(), j["invariants"]["lost"].as_u64()), (Some(true), Some(0)));
        let first = &autoscaling(j)["decisions"][0];
        assert_eq!((first["from"].as_u64(), first["to"].as_u64()), (Some(40), Some(240)), "200 new replicas at once");
        let starts = autoscaling(j)["cold_starts"].as_array().unwrap();
        let spike: Vec<&Value> = starts.iter().filter(|c| c["start_s"] == first["t_s"]).collect();
        assert_eq!(spike.len(), 200);
        let last = spike.iter().map(|c| f(&c["ready_s"])).fold(0.0, f64::max);
        capacity.push((last - f(&first["t_s"]), j["requests"]["by_outcome"]["overloaded"].as_u64().unwrap()));
    }
    let [(registry_s, registry_shed), (swarm_s, swarm_shed), (warm_s, warm_shed)] = capacity[..] else { panic!() };
    assert!(registry_s > 5.0 * swarm_s && swarm_s > warm_s, "time to capacity {capacity:?}");
    assert!(registry_shed > swarm_shed && swarm_shed > warm_shed, "requests shed {capacity:?}");
    assert_snapshot("shipped_scenarios", "cold-start-storm", &registry);
}

#[test]
fn bad_autoscalers_are_refused_at_their_keys() {
    let text = spiky("", false);
    let at = "regions[0].pools[0]";
    let swap = |from: &str, to: &str| {
        assert!(text.contains(from), "{from}");
        text.replace(from, to)
    };
    refused(
        &swap("min_replicas = 2, max_replicas = 12", "min_replicas = 14, max_replicas = 12"),
        &format!("{at}.autoscale.min_replicas"),
        &["max_replicas"],
    );
    refused(&swap("replicas = 2\n", "replicas = 20\n"), &format!("{at}.replicas"), &["[2, 12]"]);
    // An unknown metric fails as the file is read, at its line, naming the metrics.
    let e = scenario::from_text(&swap("\"concurrency\"", "\"vibes\""), &root().join("scenarios/test.toml"), &[])
        .expect_err("refused");
    assert!(matches!(e.origin, scenario::Origin::File { line: Some(_) }), "{e}");
    let names = ["vibes", "utilization", "queue_depth", "kv_use", "concurrency"];
    assert!(names.iter().all(|m| e.to_string().contains(m)), "{e}");
    refused(&swap("target = 4,", "target = 0,"), &format!("{at}.autoscale.target"), &["e.g."]);
    refused(
        &swap("metric = \"concurrency\", target = 4", "metric = \"utilization\", target = 4"),
        &format!("{at}.autoscale.target"),
        &["(0, 1]"],
    );
    refused(&swap("interval = \"15s\"", "interval = \"0s\""), &format!("{at}.autoscale.interval"), &["15s"]);
    refused(&spiky("warm_pool = 13", false), "fleet.cold_start.warm_pool", &["max_replicas"]);
    refused(
        &spiky("origin_upload = \"0Gbps\"", false).replacen("origin_upload = \"100Gbps\"\n", "", 1),
        "fleet.cold_start.origin_upload",
        &["100Gbps"],
    );
    refused(&swap("duration = \"14m\"\n", ""), &format!("{at}.autoscale"), &["run.duration"]);
}
