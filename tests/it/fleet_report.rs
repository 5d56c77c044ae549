//! The fleet's report: availability and the per-region and per-model
//! breakdowns add up to the fleet's totals and to the pools' own sections,
//! nothing is lost, availability and time to recover match what a small
//! deterministic fleet must give, the report's files are deterministic,
//! and bad SLO-window settings are refused at their keys.

use crate::fleet::{json, load, run};
use crate::support::root;
use servesim::metrics::fleet::FleetSummary;
use servesim::metrics::fleet_breakdown::FleetGroupSummary;
use servesim::metrics::Summary;

/// One replica, 10 requests/s of tiny fixed sizes on a deterministic
/// clock (at 0.1 s, 0.2 s, ...): each done in milliseconds, far within
/// the SLO. The replica is lost from 10.05 s to 20.05 s.
const STEADY: &str = r#"
name = "steady"
seed = 3
[run]
duration = "40s"
warmup = "2050ms"
[batching]
policy = "continuous"
max_batch = 64
[slo]
ttft_p99 = "1s"
tpot_p99 = "100ms"
[fleet]
slo_window = "5s"
slo_target = 0.95
[[regions]]
name = "us-east"
[[regions.pools]]
model = "llama-3-8b"
gpu = "h100-sxm"
replicas = 1
[[populations]]
name = "steady"
regions = { "us-east" = 1 }
models = { "llama-3-8b" = 1 }
workload = { arrival = "deterministic", rate_per_s = 10.0, prompt_tokens = { fixed = 100 }, output_tokens = { fixed = 2 } }
[[failures]]
kind = "replica_loss"
pool = "us-east/llama-3-8b"
count = 1
at = "10050ms"
repair_after = "10s"
"#;

fn fleet_of(s: &Summary) -> &FleetSummary {
    s.fleet.as_ref().expect("a fleet section")
}

/// One count of a group.
type Count = fn(&FleetGroupSummary) -> u64;

/// Every count of `rows` sums to `total`'s, and no row lost a request.
fn adds_up(view: &str, rows: &[FleetGroupSummary], total: &FleetGroupSummary) {
    let sum = |f: Count| rows.iter().map(f).sum::<u64>();
    let counts: [(&str, Count); 7] = [
        ("offered", |g| g.offered),
        ("completed", |g| g.completed),
        ("failed", |g| g.failed),
        ("refused", |g| g.refused),
        ("in flight", |g| g.in_flight_at_end),
        ("within SLO", |g| g.within_slo),
        ("TTFT samples", |g| g.ttft.count),
    ];
    for (name, f) in counts {
        assert_eq!(sum(f), f(total), "{view}: {name}");
    }
    for g in rows {
        assert_eq!(g.lost, 0, "{view} {}", g.name);
        assert_eq!(g.offered, g.completed + g.failed + g.refused + g.in_flight_at_end, "{view} {}", g.name);
        let availability = if g.offered > 0 { g.within_slo as f64 / g.offered as f64 } else { 0.0 };
        assert_eq!(g.availability, availability, "{view} {}", g.name);
    }
}

#[test]
fn availability_and_recovery_of_a_small_deterministic_fleet_are_as_derived() {
    let s = run(STEADY);
    assert!(s.invariants.all_hold && s.invariants.lost == 0, "{:?}", s.invariants);
    let f = fleet_of(&s);
    let t = &f.total;
    // Measured arrivals: 2.1 s .. 39.9 s (40.0 s if the clock lets it in).
    assert!(matches!(t.offered, 379 | 380), "offered {}", t.offered);
    assert_eq!(t.offered, s.requests.measured);
    // Down over (10.05 s, 20.05 s): the arrivals at 10.1 s .. 20.0 s fail at
    // once; the one at 10.0 s is done in milliseconds, before the loss.
    assert_eq!((t.failed, t.refused, t.in_flight_at_end, t.lost), (100, 0, 0, 0));
    assert_eq!(t.completed, t.offered - 100);
    assert_eq!(t.within_slo, t.completed, "every completed request is far within the SLO");
    assert_eq!(t.availability, (t.offered - 100) as f64 / t.offered as f64);
    assert_eq!(f.by_region[0], FleetGroupSummary { name: "us-east".into(), ..t.clone() });
    assert_eq!(f.by_model[0], FleetGroupSummary { name: "llama-3-8b".into(), ..t.clone() });
    // Windows of 5 s: [10, 15) holds 1 completion and 49 failures, [15, 20)
    // 50 failures; the 8 windows holding answers are otherwise all within
    // SLO but for at most the one failure at 20.0 s.
    let w = &f.slo_windows;
    assert_eq!((w.window_s, w.target, w.windows, w.met), (5.0, 0.95, 8, 6));
    assert_eq!((w.met_fraction, w.min_attainment), (0.75, 0.0));
    let incident = &f.incidents[0];
    assert_eq!((incident.failed, incident.answered, incident.slo_attainment), (100, 100, Some(0.0)));
    // The first window starting after the end (20.05 s) starts at 25 s.
    assert_eq!(incident.recovered_at_s, Some(25.0));
    assert!((incident.time_to_recover_s.unwrap() - 4.95).abs() < 1e-9, "{incident:?}");
}

#[test]
fn the_region_outage_report_adds_up_loses_nothing_and_recovers_after_the_outage() {
    let path = root().join("scenarios/fleet/region-outage.toml");
    let scenario = servesim::scenario::load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
    let recorded = servesim::sim::run(&scenario);
    let s = &recorded.summary;
    assert!(s.invariants.all_hold && s.invariants.lost == 0);
    let f = fleet_of(s);
    let t = &f.total;
    // The fleet's row is the top-level measured requests.
    assert_eq!(t.offered, s.requests.measured);
    let measured = |o: &str| s.requests.measured_by_outcome[o];
    assert_eq!((t.completed, t.failed), (measured("completed"), measured("failed")));
    assert!(t.failed > 0 && t.lost == 0);
    for (view, rows) in
        [("serving region", &f.by_region), ("users' region", &f.by_users_region), ("model", &f.by_model)]
    {
        adds_up(view, rows, t);
    }
    assert_eq!((f.by_region.len(), f.by_users_region.len(), f.by_model.len()), (3, 3, 2));
    // The pools' own sections count the same completed requests and goodput.
    let pools = &f.pools;
    assert_eq!(t.ttft.count, pools.iter().map(|p| p.llm.ttft.count).sum::<u64>());
    let good: f64 = pools.iter().map(|p| p.llm.goodput_per_s).sum();
    assert!((t.goodput_per_s - good).abs() < 1e-9 * good.max(1.0), "{} vs {good}", t.goodput_per_s);
    let hours: f64 = pools.iter().map(|p| p.llm.cost.gpu_hours).sum();
    assert!((t.gpu_hours.unwrap() - hours).abs() < 1e-9 && f.by_users_region[0].gpu_hours.is_none());
    // Every measured answer is in one SLO window.
    let answered: u64 = recorded.slo_windows.iter().map(|r| r.answered).sum();
    assert_eq!(answered, t.offered - t.in_flight_at_end);
    // The outage costs SLO while it lasts, and the fleet is back within
    // SLO in a finite time after it ends.
    let outage = &f.incidents[0];
    assert!(outage.slo_attainment.unwrap() < 1.0 && outage.answered > 0, "{outage:?}");
    let back = outage.recovered_at_s.expect("recovers");
    assert!(back >= outage.to_s && outage.time_to_recover_s == Some(back - outage.to_s), "{outage:?}");
    let window = recorded.slo_windows.iter().find(|r| r.t_start_s == back).expect("the window");
    assert_eq!(window.met, Some(true));
}

#[test]
fn the_fleet_report_files_are_deterministic_and_mark_the_incidents() {
    let text = STEADY.replace("duration = \"40s\"", "duration = \"30s\"");
    let files = |seed_threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(seed_threads).build().expect("a pool");
        pool.install(|| servesim::report::render(&servesim::sim::run(&load(&text)), "q").expect("renders"))
    };
    let (one, four) = (files(1), files(4));
    assert_eq!(one, four);
    let file = |name: &str| {
        let (_, bytes) = one.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no {name}"));
        String::from_utf8(bytes.clone()).expect("text")
    };
    let csv = file("slo_windows.csv");
    assert!(csv.starts_with("t_start_s,answered,within_slo,failed,attainment,met\n"), "{csv}");
    assert!(csv.contains("\n15.0,50,0,50,0.0,false\n"), "{csv}");
    assert!(file("fleet_slo.svg").contains("replica loss us-east/llama-3-8b"));
    let md = file("summary.md");
    assert!(md.contains("## Fleet") && md.contains("| replica loss us-east/llama-3-8b | 10–20 |"), "{md}");
    let j = json(&run(&text));
    assert_eq!(j["fleet"]["incidents"][0]["recovered_at_s"], 25.0);
}

#[test]
fn bad_slo_windows_are_refused_at_their_keys() {
    let target = STEADY.replace("slo_target = 0.95", "slo_target = 1.5");
    crate::fleet::refused(&target, "fleet.slo_target", &["(0, 1]", "0.99"]);
    let window = STEADY.replace("slo_window = \"5s\"", "slo_window = \"0s\"");
    crate::fleet::refused(&window, "fleet.slo_window", &["slo_window = \"1m\""]);
}
