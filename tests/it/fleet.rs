//! The fleet: its layout is checked with located errors, its global
//! router keeps requests near their users and spills over when the
//! nearest pool is full, crossing regions costs the RTT and egress, and a
//! fleet of one pool in one region is exactly the single-pool run.

use crate::support::root;
use servesim::metrics::Summary;
use servesim::report::summary_json;
use servesim::scenario::{self, Origin, Scenario};
use servesim::sim;

const SINGLE: &str = r#"
name = "pool"
seed = 11
[run]
duration = "40s"
warmup = "5s"
[workload]
arrival = "poisson"
rate_per_s = 30.0
prompt_tokens = { median = 400, p99 = 3000, max = 6000 }
output_tokens = { median = 120, p99 = 600, max = 1000 }
[replica]
gpu = "h100-sxm"
model = "llama-3-8b"
tp = 1
count = 3
routing = "least-outstanding"
[batching]
policy = "continuous"
max_batch = 64
[slo]
ttft_p99 = "1s"
tpot_p99 = "50ms"
"#;

/// The fleet holding `SINGLE`'s pool in `us-east`, its one population's
/// users all near `users`; `extra` is appended (more regions, RTTs, keys).
pub(crate) fn fleet(users: &str, extra: &str) -> String {
    format!(
        r#"
name = "pool"
seed = 11
[run]
duration = "40s"
warmup = "5s"
[batching]
policy = "continuous"
max_batch = 64
[slo]
ttft_p99 = "1s"
tpot_p99 = "50ms"
[[regions]]
name = "us-east"
egress_usd_per_gb = 0.05
[[regions.pools]]
model = "llama-3-8b"
gpu = "h100-sxm"
tp = 1
replicas = 3
routing = "least-outstanding"
[[populations]]
name = "chat"
regions = {{ "{users}" = 1 }}
models = {{ "llama-3-8b" = 1 }}
workload = {{ arrival = "poisson", rate_per_s = 30.0, prompt_tokens = {{ median = 400, p99 = 3000, max = 6000 }}, output_tokens = {{ median = 120, p99 = 600, max = 1000 }} }}
{extra}
"#
    )
}

pub(crate) const EU: &str = r#"
[[regions]]
name = "eu-west"
[[rtt]]
between = ["us-east", "eu-west"]
rtt = "100ms"
"#;

pub(crate) fn load(text: &str) -> Scenario {
    scenario::from_text(text, &root().join("scenarios/test.toml"), &[]).unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn run(text: &str) -> Summary {
    sim::run(&load(text)).summary
}

pub(crate) fn json(s: &Summary) -> serde_json::Value {
    serde_json::from_str(&summary_json(s).expect("encodes")).expect("valid JSON")
}

#[test]
fn one_pool_in_one_region_is_the_single_pool_run() {
    let single = json(&run(SINGLE));
    let mut fleet = json(&run(&fleet("us-east", "")));
    let section = fleet.as_object_mut().expect("an object").remove("fleet").expect("a fleet section");
    assert_eq!(section["pools"][0]["llm"], single["llm"], "the pool's own llm section");
    assert!(single["llm"]["tokens"]["output"].as_u64().unwrap() > 10_000, "the run is not trivial");
    assert_eq!(fleet, single, "every common section, field by field");
}

#[test]
fn a_request_served_from_another_region_pays_the_rtt_and_egress() {
    let near = run(&fleet("us-east", EU));
    let far = run(&fleet("eu-west", EU));
    let (near_llm, far_llm) = (near.llm.as_ref().unwrap(), far.llm.as_ref().unwrap());
    assert_eq!(near_llm.ttft.count, far_llm.ttft.count);
    // The same requests reach the pool 50 ms later, so it runs the same
    // schedule shifted: every TTFT grows by the whole RTT, TPOT not at all.
    let grew = far_llm.ttft.mean_s - near_llm.ttft.mean_s;
    assert!((grew - 0.1).abs() < 1e-6, "TTFT grew by {grew} s, not the 100 ms RTT");
    assert!((far_llm.tpot.mean_s - near_llm.tpot.mean_s).abs() < 1e-9);
    let (nf, ff) = (near.fleet.as_ref().unwrap(), far.fleet.as_ref().unwrap());
    assert_eq!((nf.cross_region_requests, nf.egress_usd), (0, 0.0));
    assert_eq!(ff.cross_region_requests, far_llm.ttft.count);
    let tokens = far_llm.tokens.prompt + far_llm.tokens.output;
    assert!((ff.egress_bytes - 4.0 * tokens as f64).abs() < 1e-6, "4 bytes a token");
    assert!((ff.egress_usd - ff.egress_bytes / 1e9 * 0.05).abs() < 1e-12, "billed at us-east's egress price");
    assert!(far.invariants.all_hold && far.invariants.lost == 0);
}

/// `us-east` holds one small pool, `eu-west` a second pool of the same
/// model; all users are near `us-east`.
fn spilling(limit: f64) -> String {
    let eu = r#"
[[regions]]
name = "eu-west"
[[regions.pools]]
model = "llama-3-8b"
gpu = "h100-sxm"
replicas = 3
[[rtt]]
between = ["us-east", "eu-west"]
rtt = "80ms"
"#;
    fleet("us-east", &format!("{eu}\n[fleet]\nspillover_outstanding_per_replica = {limit}\n"))
        .replace("rate_per_s = 30.0", "rate_per_s = 120.0")
}

#[test]
fn traffic_stays_near_its_users_until_the_pool_is_full_then_spills_over() {
    let roomy = run(&spilling(1e9));
    let pools = &roomy.fleet.as_ref().unwrap().pools;
    assert_eq!(pools[1].routed, 0, "nothing leaves us-east while it has room");
    let tight = run(&spilling(2.0));
    let pools = &tight.fleet.as_ref().unwrap().pools;
    assert!(
        pools[1].routed > 0 && pools[0].routed > pools[1].routed,
        "routed {} / {}",
        pools[0].routed,
        pools[1].routed
    );
    assert_eq!(tight.fleet.as_ref().unwrap().cross_region_requests, pools[1].llm.ttft.count);
    assert!(tight.invariants.all_hold && tight.invariants.lost == 0);
}

#[test]
fn a_fleet_is_deterministic_and_its_populations_have_their_own_streams() {
    let two = fleet("us-east", "").replace(
        "\n[[populations]]",
        "\n[[populations]]\nname = \"batch\"\nregions = { \"us-east\" = 1 }\nmodels = { \"llama-3-8b\" = 1 }\nworkload = { rate_per_s = 5.0, prompt_tokens = { fixed = 100 }, output_tokens = { fixed = 50 } }\n[[populations]]",
    );
    let (a, b) = (summary_json(&run(&two)).unwrap(), summary_json(&run(&two)).unwrap());
    assert_eq!(a, b);
    let s = load(&two);
    let mut other = s.clone();
    other.seed += 1;
    assert_ne!(a, summary_json(&sim::run(&other).summary).unwrap());
}

/// The error loading `text` is at `key`, on a line of the file, with a hint
/// mentioning each of `hint`.
pub(crate) fn refused(text: &str, key: &str, hint: &[&str]) {
    let e = scenario::from_text(text, &root().join("scenarios/test.toml"), &[]).expect_err("refused");
    assert_eq!(e.key, key, "{e}");
    assert!(matches!(e.origin, Origin::File { line: Some(_) }), "located: {e}");
    let text = e.to_string();
    assert!(hint.iter().all(|h| text.contains(h)), "{text}");
}

#[test]
fn bad_fleets_are_refused_at_their_keys() {
    refused(
        &fleet("us-east", "").replace("model = \"llama-3-8b\"\ngpu", "model = \"llama-9\"\ngpu"),
        "regions[0].pools[0].model",
        &["profiles/"],
    );
    refused(
        &fleet("us-east", "").replace("gpu = \"h100-sxm\"", "gpu = \"h900\""),
        "regions[0].pools[0].gpu",
        &["profiles/"],
    );
    refused(&fleet("us-east", "[[regions]]\nname = \"eu-west\"\n"), "regions", &["[[rtt]]", "eu-west"]);
    refused(&fleet("mars", ""), "populations[0].regions.mars", &["us-east"]);
    refused(
        &fleet("us-east", "").replace("models = { \"llama-3-8b\" = 1 }", "models = { \"llama-3-70b\" = 1 }"),
        "populations[0].models.llama-3-70b",
        &["no pool serves it", "llama-3-8b"],
    );
    refused(&fleet("us-east", "").replace("replicas = 3", "replicas = 0"), "regions[0].pools[0].replicas", &[]);
    refused(&fleet("us-east", "[workload]\nrate_per_s = 3.0\n"), "workload", &["populations"]);
}

#[test]
fn set_reaches_a_pool_by_its_index_and_is_blamed_for_what_it_breaks() {
    let text = fleet("us-east", EU).replace(
        "name = \"eu-west\"",
        "name = \"eu-west\"\n[[regions.pools]]\nmodel = \"llama-3-8b\"\ngpu = \"h100-sxm\"\nreplicas = 2",
    );
    let path = root().join("scenarios/test.toml");
    let with = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        scenario::from_text(&text, &path, &sets).map_err(Box::new)
    };
    let replicas = |s: &Scenario| match &s.serving {
        servesim::scenario::Serving::Fleet(f) => f.pools.iter().map(|p| p.llm.replicas).collect::<Vec<_>>(),
        _ => panic!("a fleet"),
    };
    assert_eq!(replicas(&with(&[]).unwrap()), [3, 2]);
    assert_eq!(replicas(&with(&["regions[1].pools[0].replicas=7"]).unwrap()), [3, 7]);
    let e = with(&["regions[1].pools[0].replicas=0"]).expect_err("no replicas");
    assert_eq!(
        (e.key.as_str(), &e.origin),
        ("regions[1].pools[0].replicas", &Origin::Override("regions[1].pools[0].replicas=0".into()))
    );
    let e = with(&["regions[2].name=x"]).expect_err("past the end");
    assert!(e.to_string().contains("`regions` has 2 entries"), "{e}");
    let e = with(&["rtt[0].between[1]=x"]).expect_err("a list element");
    assert!(e.to_string().contains("array element"), "{e}");
    let e = with(&["regions[one].name=x"]).expect_err("not an index");
    assert!(e.to_string().contains("index from 0"), "{e}");
}

#[test]
fn a_pool_with_its_own_slo_is_judged_by_it() {
    let own = |slo: &str| {
        fleet("us-east", "")
            .replace("routing = \"least-outstanding\"", &format!("routing = \"least-outstanding\"\nslo = {slo}"))
    };
    let shared = json(&run(&fleet("us-east", "")));
    let strict = json(&run(&own("{ ttft_p99 = \"1ms\" }")));
    let targets = |j: &serde_json::Value| j["fleet"]["pools"][0]["llm"]["slo"].as_array().unwrap().len();
    assert_eq!(targets(&shared), 2, "the scenario's [slo]: TTFT and TPOT");
    let slo = &strict["fleet"]["pools"][0]["llm"]["slo"];
    assert_eq!((slo.as_array().unwrap().len(), slo[0]["target_s"].as_f64()), (1, Some(0.001)), "{slo}");
    let within = |j: &serde_json::Value| j["fleet"]["total"]["within_slo"].as_u64().unwrap();
    assert!(within(&shared) > 0);
    assert_eq!(within(&strict), 0, "no prefill finishes within 1 ms");
    assert_eq!(strict["requests"], shared["requests"], "the SLO judges, it does not change what is served");
    refused(&own("{ ttft_p99 = \"0s\" }"), "regions[0].pools[0].slo.ttft_p99", &[]);
}

#[test]
fn the_two_regions_scenario_is_deterministic_and_matches_its_snapshot() {
    let s = scenario::load(&root().join("scenarios/fleet/two-regions.toml"), &[]).unwrap_or_else(|e| panic!("{e}"));
    let first = summary_json(&sim::run(&s).summary).expect("encodes");
    assert_eq!(first, summary_json(&sim::run(&s).summary).expect("encodes"), "two runs differ");
    let parsed: serde_json::Value = serde_json::from_str(&first).expect("valid JSON");
    assert_eq!(parsed["invariants"]["all_hold"], true);
    assert_eq!(parsed["littles_law"]["holds"], true);
    assert!(parsed["fleet"]["cross_region_requests"].as_u64().unwrap() > 0, "European 70B requests cross");
    crate::support::assert_snapshot("shipped_scenarios", &s.name, &first);
}
