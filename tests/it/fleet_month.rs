//! Long horizons by performability decomposition (`[fleet] method =
//! "performability"`): it agrees with a request-level run of the same
//! failures, its failure accounting adds up, the shipped month scenario
//! is deterministic and matches its snapshot, and its bad keys are
//! refused where they are.
//!
//! The agreement test's tolerance, derived: with the same seed both runs
//! see the same failure history (one stream per pool), so they differ by
//! (a) the requests each failure catches in flight, which the request-level
//! run draws once and the decomposition takes in expectation: a sum over
//! failures of the requests one replica holds at a random instant, about
//! Poisson, so its standard deviation is about the square root of its
//! mean; (b) which requests miss the SLO: counts of rare misses, again
//! about Poisson in each run; (c) the transient after each level change,
//! which the decomposition leaves out: the test's repairs (a minute) and
//! failures (minutes apart per replica) are long against a request's
//! seconds, so it is small against (a) and (b). Five standard deviations
//! of (a) and (b) together is the tolerance.

use crate::fleet::{json, load, refused};
use crate::support::{assert_snapshot, root};
use servesim::report::summary_json;
use servesim::sim;

/// One region, 16 Llama-3-8B replicas on 2 nodes, a node to a rack; GPUs
/// fail every 400 s and nodes every 3,000 s (a month's failures of a
/// 2,000-GPU fleet, hundreds of times over, in half an hour); `method`
/// picks how it is run.
fn accelerated(method: &str) -> String {
    format!(
        r#"
name = "accelerated"
seed = 7
[run]
duration = "1800s"
warmup = "10s"
[batching]
policy = "continuous"
max_batch = 64
[slo]
ttft_p99 = "1s"
tpot_p99 = "50ms"
[fleet]
method = "{method}"
nodes_per_rack = 1
node_mtbf = "3000s"
node_mttr = "90s"
[[regions]]
name = "us-east"
[[regions.pools]]
model = "llama-3-8b"
gpu = "h100-sxm"
replicas = 16
routing = "least-outstanding"
mtbf = "400s"
mttr = "60s"
[[populations]]
name = "chat"
regions = {{ "us-east" = 1 }}
models = {{ "llama-3-8b" = 1 }}
workload = {{ arrival = "poisson", rate_per_s = 120.0, prompt_tokens = {{ median = 400, p99 = 3000, max = 6000 }}, output_tokens = {{ median = 120, p99 = 600, max = 1000 }} }}
"#
    )
}

/// `(offered, failed, late)` requests of a request-level run's measured
/// interval: late ones completed outside an SLO target.
fn tally(exact: &serde_json::Value) -> (f64, f64, f64) {
    let offered = exact["requests"]["measured"].as_f64().unwrap();
    let failed = exact["requests"]["measured_by_outcome"]["failed"].as_f64().unwrap();
    let span = exact["run"]["measure_span_s"].as_f64().unwrap();
    let good = (exact["fleet"]["pools"][0]["llm"]["goodput_per_s"].as_f64().unwrap() * span).round();
    (offered, failed, offered - failed - good)
}

#[test]
fn performability_agrees_with_a_request_level_run_of_the_same_failures() {
    let exact = json(&sim::run(&load(&accelerated("request-level"))).summary);
    let split = json(&sim::run(&load(&accelerated("performability"))).summary);
    assert!(exact["invariants"]["all_hold"].as_bool().unwrap() && split["invariants"]["all_hold"].as_bool().unwrap());
    let (offered, failed, late) = tally(&exact);
    let p = &split["fleet"]["performability"];
    let f = |key: &str| p[key].as_f64().unwrap();
    // The failures are frequent enough to matter: dozens of them, and the
    // pool spends time well below full strength.
    assert!(p["failures"]["replicas"].as_u64().unwrap() > 40, "{}", p["failures"]);
    assert!(p["level_runs"].as_u64().unwrap() >= 5 && failed > 300.0, "{p}");
    // (a): the failed in flight, about Poisson.
    let expected_failed = f("failed_in_flight");
    let tol = 5.0 * expected_failed.sqrt();
    assert!((failed - expected_failed).abs() < tol, "failed {failed}, expected {expected_failed:.1} +- {tol:.1}");
    // (a) and (b) together, as a fraction of the offered requests.
    let expected_late = f("offered") - f("within_slo") - expected_failed;
    let tol = 5.0 * (expected_failed + late + expected_late.max(0.0) + 1.0).sqrt() / offered;
    let availability = (offered - failed - late) / offered;
    assert!(
        (availability - f("availability")).abs() < tol,
        "request level {availability:.6}, performability {:.6} +- {tol:.6}",
        f("availability")
    );
    // The offered requests: the level runs' rate over the horizon, against
    // the run's own Poisson count.
    let tol = 5.0 * offered.sqrt();
    assert!((f("offered") - offered).abs() < tol, "offered {offered}, expected {:.0} +- {tol:.0}", f("offered"));
}

#[test]
fn the_failure_and_capacity_accounting_adds_up() {
    let s = json(&sim::run(&load(&accelerated("performability"))).summary);
    let p = &s["fleet"]["performability"];
    let pool = &p["pools"][0];
    let levels = pool["levels"].as_array().unwrap();
    let sum = |key: &str| levels.iter().map(|l| l[key].as_f64().unwrap()).sum::<f64>();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    let horizon = p["horizon_h"].as_f64().unwrap();
    assert!(close(sum("hours"), horizon), "the levels cover the horizon");
    assert!(close(sum("replicas_failed"), pool["failures"]["replicas"].as_f64().unwrap()));
    assert!(levels.windows(2).all(|w| w[0]["replicas_up"].as_u64() > w[1]["replicas_up"].as_u64()), "most first");
    // Capacity lost is the replica-hours down; with TP1 every lost GPU-hour
    // is a failed one too (one GPU a replica), and the mean up follows.
    let n = pool["replicas"].as_f64().unwrap();
    let lost = pool["gpu_hours_lost"].as_f64().unwrap();
    let down: f64 =
        levels.iter().map(|l| l["hours"].as_f64().unwrap() * (n - l["replicas_up"].as_f64().unwrap())).sum();
    assert!(close(lost, down) && close(lost, pool["gpu_hours_failed"].as_f64().unwrap()));
    assert!(close(pool["mean_replicas_up"].as_f64().unwrap(), n - lost / horizon));
    assert!(close(p["gpu_hours"].as_f64().unwrap(), n * horizon));
    let below = pool["hours_below_n_minus_k"].as_array().unwrap();
    assert_eq!(below.len(), 4);
    let at_full = levels[0]["hours"].as_f64().unwrap();
    assert!(close(below[0].as_f64().unwrap(), horizon - at_full), "below N: all but the time at full strength");
    assert!(below.windows(2).all(|w| w[0].as_f64() >= w[1].as_f64()));
    // Every level's request-level run sees the same arrivals (one seed).
    assert!(levels.iter().all(|l| l["offered_per_s"] == levels[0]["offered_per_s"]));
    assert!(p["failures"]["gpus"].as_u64().unwrap() > 0 && p["failures"]["nodes"].as_u64().unwrap() > 0);
}

#[test]
fn bad_performability_keys_are_refused_at_their_keys() {
    let text = accelerated("performability");
    refused(
        &accelerated("request-level").replace("[fleet]\n", "[fleet]\nlevel_run = \"60s\"\n"),
        "fleet.level_run",
        &["remove"],
    );
    refused(&text.replace("mtbf = \"400s\"\nmttr = \"60s\"\n", ""), "fleet.method", &["mtbf"]);
    refused(&text.replace("node_mttr = \"90s\"\n", ""), "fleet.node_mtbf", &["node_mttr"]);
    refused(
        &text.replace("method = \"performability\"", "method = \"performability\"\nlevel_run = \"0s\""),
        "fleet.level_run",
        &["60s"],
    );
    let outage = "[[failures]]\nkind = \"region_outage\"\nregion = \"us-east\"\nfrom = \"100s\"\nto = \"200s\"\n";
    refused(&format!("{text}{outage}"), "failures", &["remove"]);
    let diurnal =
        text.replace("rate_per_s = 120.0,", "rate_per_s = 120.0, schedule = [{ at = \"600s\", rate_per_s = 60.0 }],");
    refused(&diurnal, "populations[0].workload.schedule", &["remove"]);
}

/// The shipped month, over 72 hours with 10 s level runs (seconds, not
/// minutes: the full month is measured in docs/measurements/performance.md).
#[test]
fn the_stochastic_failures_scenario_is_deterministic_and_matches_its_snapshot() {
    let path = root().join("scenarios/fleet/stochastic-failures.toml");
    let sets = ["run.duration=72h".to_string(), "fleet.level_run=10s".to_string()];
    let s = servesim::scenario::load(&path, &sets).unwrap_or_else(|e| panic!("{e}"));
    let encode = || summary_json(&sim::run(&s).summary).expect("encodes");
    let first = encode();
    assert_eq!(first, encode(), "two runs differ");
    let j: serde_json::Value = serde_json::from_str(&first).expect("valid JSON");
    assert_eq!((j["invariants"]["all_hold"].as_bool(), j["invariants"]["lost"].as_u64()), (Some(true), Some(0)));
    let p = &j["fleet"]["performability"];
    let gpus: u64 = p["pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["replicas"].as_u64().unwrap() * q["tp"].as_u64().unwrap())
        .sum();
    assert_eq!(gpus, 2000);
    let availability = p["availability"].as_f64().unwrap();
    assert!(availability > 0.99 && availability <= 1.0, "{availability}");
    assert_snapshot("shipped_scenarios", &s.name, &first);
}
