//! The failure kinds that take no region down: a partition cuts one users'
//! region off from one serving region until detected, a bad rollout slows
//! a pool and answers some of its requests `failed`, stragglers slow some
//! of a pool's replicas; each is refused at its keys when malformed.

use crate::fleet::{fleet, json, refused, run};

/// Pools in us-east and us-west; all users near eu-west, which has no
/// pool: us-east (80 ms) serves them, us-west (140 ms) is next; detection
/// 2 s + 3 s; `failures` appended.
fn three_regions(failures: &str) -> String {
    let regions = r#"
[[regions]]
name = "us-west"
[[regions.pools]]
model = "llama-3-8b"
gpu = "h100-sxm"
replicas = 3
[[regions]]
name = "eu-west"
[[rtt]]
between = ["us-east", "us-west"]
rtt = "60ms"
[[rtt]]
between = ["us-east", "eu-west"]
rtt = "80ms"
[[rtt]]
between = ["us-west", "eu-west"]
rtt = "140ms"
[fleet]
health_check_interval = "2s"
dns_ttl = "3s"
"#;
    fleet("eu-west", &format!("{regions}{failures}"))
}

const PARTITION: &str =
    "[[failures]]\nkind = \"partition\"\nusers = \"eu-west\"\nregion = \"us-east\"\nfrom = \"10s\"\nto = \"20s\"\n";

#[test]
fn a_partition_fails_its_users_requests_until_detected_then_moves_them() {
    let s = run(&three_regions(PARTITION));
    assert!(s.invariants.all_hold && s.invariants.lost == 0, "{:?}", s.invariants);
    let j = json(&s);
    let incident = &j["fleet"]["incidents"][0];
    assert_eq!((incident["kind"].as_str(), incident["users"].as_str()), (Some("partition"), Some("eu-west")));
    assert!((incident["time_to_detect_s"].as_f64().unwrap() - 5.0).abs() < 1e-9, "{incident}");
    let last = incident["last_routed_in_s"].as_f64().unwrap();
    assert!((10.0..=15.0).contains(&last), "the last request sent across the partition left at {last} s");
    // About 30 req/s for the 5 s until detection, each failed at once.
    let failed = incident["failed"].as_u64().unwrap();
    assert!((100..=200).contains(&failed), "{failed}");
    assert_eq!(j["requests"]["by_outcome"]["failed"].as_u64(), Some(failed));
    let west = j["fleet"]["pools"][1]["routed"].as_u64().unwrap();
    assert!(west > 100, "us-west took the cut-off users' traffic: {west}");
    // Users near us-west or us-east would not have been cut off: the same
    // run without the partition sends nothing to us-west.
    assert_eq!(json(&run(&three_regions("")))["fleet"]["pools"][1]["routed"], 0);
}

#[test]
fn a_bad_rollout_answers_its_error_rate_failed_and_slows_its_steps() {
    let rollout = |slowdown: f64, rate: f64| {
        let f = format!("[[failures]]\nkind = \"bad_rollout\"\npool = \"us-east/llama-3-8b\"\nfrom = \"0s\"\nto = \"40s\"\nslowdown = {slowdown}\nerror_rate = {rate}\n");
        json(&run(&fleet("us-east", &f)))
    };
    let errors = rollout(1.0, 0.5);
    let offered = errors["requests"]["offered"].as_f64().unwrap();
    let failed = errors["fleet"]["incidents"][0]["failed"].as_f64().unwrap();
    let sd = (offered * 0.25).sqrt();
    assert!((failed - offered / 2.0).abs() < 4.0 * sd, "{failed} of {offered} failed at a 50% error rate");
    assert_eq!(errors["invariants"]["lost"], 0);
    let (plain, slow) = (rollout(1.0, 0.0), rollout(3.0, 0.0));
    let tpot = |j: &serde_json::Value| j["llm"]["tpot"]["p50_s"].as_f64().unwrap();
    assert!(tpot(&slow) > 2.5 * tpot(&plain), "TPOT p50 {} vs {}", tpot(&slow), tpot(&plain));
    assert_eq!(plain["requests"]["by_outcome"]["failed"], 0, "a 0 error rate fails nothing");
}

#[test]
fn stragglers_slow_their_replicas_only() {
    let f = "[[failures]]\nkind = \"stragglers\"\npool = \"us-east/llama-3-8b\"\nfraction = 0.3\nslowdown = 4.0\nfrom = \"0s\"\nto = \"40s\"\n";
    let (j, plain) = (json(&run(&fleet("us-east", f))), json(&run(&fleet("us-east", ""))));
    assert_eq!(j["fleet"]["incidents"][0]["replicas"], 1, "30% of 3 replicas rounds up to one");
    // The straggler's sequences decode four times slower: the slowest
    // tokens are its, while most requests are served at the usual pace.
    let tpot = |j: &serde_json::Value, q: &str| j["llm"]["tpot"][q].as_f64().unwrap();
    assert!(tpot(&j, "p99_s") > 2.0 * tpot(&plain, "p99_s"), "{} vs {}", j["llm"]["tpot"], plain["llm"]["tpot"]);
    assert!(tpot(&j, "p50_s") < 2.0 * tpot(&plain, "p50_s"), "{} vs {}", j["llm"]["tpot"], plain["llm"]["tpot"]);
    assert_eq!(j["invariants"]["lost"], 0);
}

#[test]
fn malformed_failures_are_refused_at_their_keys() {
    let bad = |f: &str, key: &str, hint: &[&str]| refused(&three_regions(&format!("[[failures]]\n{f}")), key, hint);
    let p = "kind = \"partition\"\nfrom = \"1s\"\nto = \"2s\"\n";
    bad(&format!("{p}users = \"us-east\"\nregion = \"us-east\"\n"), "failures[0].users", &["other than"]);
    bad(&format!("{p}users = \"mars\"\nregion = \"us-east\"\n"), "failures[0].users", &["`us-west`"]);
    bad(&format!("{p}region = \"us-east\"\n"), "failures[0].users", &["regions"]);
    let r = "kind = \"bad_rollout\"\npool = \"us-east/llama-3-8b\"\n";
    bad(&format!("{r}from = \"1s\"\nto = \"2s\"\nslowdown = 0\n"), "failures[0].slowdown", &["slowdown ="]);
    bad(&format!("{r}from = \"1s\"\nto = \"2s\"\nerror_rate = 1.5\n"), "failures[0].error_rate", &["error_rate ="]);
    bad(&format!("{r}from = \"3s\"\nto = \"2s\"\n"), "failures[0].to", &["`to` after `from`"]);
    bad(&format!("{r}from = \"50s\"\nto = \"60s\"\n"), "failures[0].from", &["inside the run"]);
    bad(
        "kind = \"bad_rollout\"\npool = \"us-east/mistral\"\nfrom = \"1s\"\nto = \"2s\"\n",
        "failures[0].pool",
        &["us-east/llama-3-8b"],
    );
    let s = "kind = \"stragglers\"\npool = \"us-west/llama-3-8b\"\nfrom = \"1s\"\nto = \"2s\"\n";
    bad(&format!("{s}fraction = 0.5\n"), "failures[0].slowdown", &["slowdown ="]);
    bad(&format!("{s}slowdown = 2.0\nfraction = 0\n"), "failures[0].fraction", &["fraction ="]);
}
