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

#[test]
fn performability_agrees_with_a_request_level_run_of_the_same_failures() {
    let exact = json(&sim::run(&load(&accelerated("request-level"))).summary);
    let split = json(&sim::run(&load(&accelerated("performability"))).summary);
    let p = &split["fleet"]["performability"];
    eprintln!("{p:#}");
    let offered = exact["requests"]["measured"].as_f64().unwrap();
    let failed = exact["requests"]["measured_by_outcome"]["failed"].as_f64().unwrap();
    let span = exact["run"]["measure_span_s"].as_f64().unwrap();
    let good = exact["fleet"]["pools"][0]["llm"]["goodput_per_s"].as_f64().unwrap() * span;
    let late = offered - failed - good;
    eprintln!("exact: offered {offered} failed {failed} good {good} late {late} availability {}", good / offered);
    panic!();
}
