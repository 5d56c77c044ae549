//! Failures in a fleet run: a region outage moves traffic once detected
//! (health check + DNS TTL) and back after it ends, a replica or rack loss
//! fails what those replicas held, pools with an MTBF fail at random, and
//! every offered request keeps exactly one outcome throughout.

use crate::fleet::{fleet, json, refused, run, EU};

/// A second pool of the model in `eu-west`, 100 ms away; all users near
/// `us-east`; detection 2 s + 3 s; `failures` appended.
fn two_regions(failures: &str) -> String {
    let eu = EU.replace(
        "name = \"eu-west\"\n",
        "name = \"eu-west\"\n[[regions.pools]]\nmodel = \"llama-3-8b\"\ngpu = \"h100-sxm\"\nreplicas = 3\n",
    );
    fleet("us-east", &format!("{eu}\n[fleet]\nhealth_check_interval = \"2s\"\ndns_ttl = \"3s\"\n{failures}"))
}

const OUTAGE: &str = "[[failures]]\nkind = \"region_outage\"\nregion = \"us-east\"\nfrom = \"10s\"\nto = \"20s\"\n";

#[test]
fn a_region_outage_moves_traffic_after_detection_and_back_after_recovery() {
    let s = run(&two_regions(OUTAGE));
    assert!(s.invariants.all_hold && s.invariants.lost == 0, "{:?}", s.invariants);
    let j = json(&s);
    let incident = &j["fleet"]["incidents"][0];
    assert_eq!(incident["kind"], "region_outage");
    let (from, detect) = (10.0, 2.0 + 3.0);
    assert!((incident["time_to_detect_s"].as_f64().unwrap() - detect).abs() < 1e-9, "{incident}");
    // The last request sent into us-east while it was down left no later
    // than detection + TTL (+ the RTT, for a request already on its way).
    let last = incident["last_routed_in_s"].as_f64().unwrap();
    assert!(last >= from && last <= from + detect + 0.1, "last routed into us-east at {last} s");
    let failed = incident["failed"].as_u64().unwrap();
    assert!(failed > 50, "about 30 req/s for 5 s sent into the dead region, and what it held: {failed}");
    assert!(j["requests"]["by_outcome"]["failed"].as_u64().unwrap() >= failed);
    let pools = &j["fleet"]["pools"];
    assert!(pools[1]["routed"].as_u64().unwrap() > 100, "eu-west took the traffic: {}", pools[1]["routed"]);
    // us-east is re-admitted after it is back plus detection: an outage
    // lasting to the end leaves it fewer requests.
    let longer = json(&run(&two_regions(&OUTAGE.replace("\"20s\"", "\"39s\""))));
    let (back, never) = (pools[0]["routed"].as_u64().unwrap(), longer["fleet"]["pools"][0]["routed"].as_u64().unwrap());
    assert!(back > never + 200, "us-east served {back} with recovery, {never} without");
}

#[test]
fn failures_are_deterministic_and_absent_failures_change_nothing() {
    let text = two_regions(OUTAGE);
    assert_eq!(json(&run(&text)), json(&run(&text)));
    let plain = json(&run(&two_regions("")));
    assert!(plain["fleet"].get("incidents").is_none() && plain["fleet"].get("replica_failures").is_none());
    assert_eq!(plain["requests"]["by_outcome"]["failed"], 0);
}

#[test]
fn a_replica_loss_fails_what_it_held_and_its_pool_serves_on() {
    let loss = "[[failures]]\nkind = \"replica_loss\"\npool = \"us-east/llama-3-8b\"\ncount = 2\nat = \"10s\"\nrepair_after = \"10s\"\n";
    let s = run(&fleet("us-east", loss));
    assert!(s.invariants.all_hold && s.invariants.lost == 0, "{:?}", s.invariants);
    let j = json(&s);
    let incident = &j["fleet"]["incidents"][0];
    assert_eq!((incident["replicas"].as_u64(), incident["pool"].as_str()), (Some(2), Some("us-east/llama-3-8b")));
    assert!(incident["time_to_detect_s"].is_null(), "a loss inside a pool moves no traffic");
    let failed = incident["failed"].as_u64().unwrap();
    assert!(failed > 0 && failed == j["requests"]["by_outcome"]["failed"].as_u64().unwrap(), "{incident}");
    assert!(failed < 100, "only what the two replicas held: the third one serves on ({failed})");
}

#[test]
fn a_rack_loss_takes_down_the_replicas_with_a_gpu_in_the_rack() {
    // TP-4 replicas, 8 GPUs a node, one node a rack: rack 1 holds replicas 2 and 3.
    let text = fleet("us-east", "[fleet]\nnodes_per_rack = 1\n[[failures]]\nkind = \"rack_loss\"\npool = \"us-east/llama-3-8b\"\nrack = 1\nat = \"10s\"\nrepair_after = \"5s\"\n")
        .replace("tp = 1\nreplicas = 3", "tp = 4\nreplicas = 5");
    let s = run(&text);
    assert!(s.invariants.all_hold && s.invariants.lost == 0);
    assert_eq!(json(&s)["fleet"]["incidents"][0]["replicas"], 2);
}

#[test]
fn pools_with_an_mtbf_fail_at_random_and_nothing_is_lost() {
    let text = fleet("us-east", "").replace("replicas = 3\n", "replicas = 3\nmtbf = \"30s\"\nmttr = \"5s\"\n");
    let s = run(&text);
    assert!(s.invariants.all_hold && s.invariants.lost == 0, "{:?}", s.invariants);
    let j = json(&s);
    assert!(j["fleet"]["replica_failures"].as_u64().unwrap() > 0);
    assert!(j["requests"]["by_outcome"]["failed"].as_u64().unwrap() > 0);
    assert_eq!(j, json(&run(&text)), "one seed, one history");
}

#[test]
fn bad_failures_are_refused_at_their_keys() {
    let outage = |region: &str, from: &str, to: &str| {
        two_regions(&format!(
            "[[failures]]\nkind = \"region_outage\"\nregion = \"{region}\"\nfrom = \"{from}\"\nto = \"{to}\"\n"
        ))
    };
    refused(&outage("mars", "10s", "20s"), "failures[0].region", &["us-east", "eu-west"]);
    refused(&outage("us-east", "20s", "10s"), "failures[0].to", &["after"]);
    refused(&outage("us-east", "50s", "60s"), "failures[0].from", &["run.duration"]);
    let rack = "[[failures]]\nkind = \"rack_loss\"\npool = \"us-east/llama-3-8b\"\nrack = 1\nat = \"10s\"\nrepair_after = \"5s\"\n";
    refused(&fleet("us-east", rack), "failures[0].rack", &["below 1"]);
    let lose = |n: u32| {
        format!("[[failures]]\nkind = \"replica_loss\"\npool = \"us-east/llama-3-8b\"\ncount = {n}\nat = \"10s\"\nrepair_after = \"5s\"\n")
    };
    refused(&fleet("us-east", &lose(4)), "failures[0].count", &["1..=3"]);
    refused(&fleet("us-east", &lose(1).replace("us-east/", "eu-west/")), "failures[0].pool", &["us-east/llama-3-8b"]);
    refused(
        &fleet("us-east", "").replace("replicas = 3\n", "replicas = 3\nmtbf = \"30s\"\n"),
        "regions[0].pools[0].mtbf",
        &["mttr"],
    );
}

#[test]
fn the_region_outage_scenario_fails_over_in_time_and_matches_its_snapshot() {
    let path = crate::support::root().join("scenarios/fleet/region-outage.toml");
    let s = servesim::scenario::load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
    let encode = |s: &servesim::scenario::Scenario| {
        servesim::report::summary_json(&servesim::sim::run(s).summary).expect("encodes")
    };
    let first = encode(&s);
    assert_eq!(first, encode(&s), "two runs differ");
    let j: serde_json::Value = serde_json::from_str(&first).expect("valid JSON");
    assert_eq!((j["invariants"]["all_hold"].as_bool(), j["invariants"]["lost"].as_u64()), (Some(true), Some(0)));
    let outage = &j["fleet"]["incidents"][0];
    // Health check 10 s + TTL 30 s; us-west is 60 ms away.
    let (from, detect, rtt) = (300.0, 40.0, 0.06);
    assert!((outage["time_to_detect_s"].as_f64().unwrap() - detect).abs() < 1e-9);
    let last = outage["last_routed_in_s"].as_f64().unwrap();
    assert!(last <= from + detect + rtt, "traffic entered us-east at {last} s");
    assert!(outage["failed"].as_u64().unwrap() > 0);
    crate::support::assert_snapshot("shipped_scenarios", &s.name, &first);
}
