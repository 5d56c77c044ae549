//! The safety pipeline in full runs of the sim driver: fail closed under
//! random failures (a property test), the outage scenario, dedicated
//! classifier capacity, the trade-off plot, and bad thresholds refused
//! with their place, key, expectation and hint.

use crate::support::root;
use proptest::prelude::*;
use servesim::metrics::safety::SafetySummary;
use servesim::metrics::Summary;
use servesim::scenario::{self, Scenario};
use servesim::sim;

/// A small chat service; `input` (keys of `safety.input`, each followed
/// by a comma), `classifier` (keys of its one input classifier) and
/// `extra` (lines of the `[safety]` table) are spliced in.
fn text(rate: f64, input: &str, classifier: &str, extra: &str) -> String {
    format!(
        r#"
name = "safety-test"
seed = 3
[run]
duration = "10s"
[workload]
rate_per_s = {rate}
prompt_tokens = {{ median = 300, p99 = 2000, max = 4000 }}
output_tokens = {{ median = 100, p99 = 400, max = 800 }}
[replica]
gpu = "h100-sxm"
model = "llama-3-8b"
count = 1
[batching]
policy = "continuous"
max_batch = 64
[safety]
mix = {{ benign = 0.8, borderline = 0.1, harmful = 0.1 }}
input = {{ {input}classifiers = [{{ name = "violence", {classifier} }}] }}
{extra}
"#
    )
}

fn load(text: &str, sets: &[String]) -> Scenario {
    scenario::from_text(text, &root().join("scenarios/safety-test.toml"), sets).unwrap_or_else(|e| panic!("{e}"))
}

fn safety(s: &Summary) -> &SafetySummary {
    s.safety.as_ref().expect("a [safety] run reports its pipeline")
}

/// Random pipelines with slow, overloaded, timing-out and failing
/// classifiers: with fail_open off, nothing unchecked ever reaches a
/// caller, every request gets one outcome, and the invariants hold.
mod fail_closed {
    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn no_unchecked_token_is_ever_delivered(
            rate in 5.0f64..60.0,
            servers in 1u32..3,
            max_batch in 1u32..8,
            queue in 1u64..40,
            base_ms in 1u64..60,
            timeout_ms in 5u64..300,
            chunk in 1u32..64,
            streaming in any::<bool>(),
            outage in proptest::option::of((0u64..9, 1u64..5, any::<bool>())),
            escalate in 0usize..3,
            seed in 0u64..1000,
        ) {
            let classifier = format!(
                "servers = {servers}, max_batch = {max_batch}, queue_capacity = {queue}, base = \"{base_ms}ms\", scv = 0.5"
            );
            let mut extra = format!("timeout = \"{timeout_ms}ms\"\n");
            extra += ["", "review = { reviewers = 2, review_time = \"2s\", hours = { open = \"2s\", close = \"8s\", period = \"10s\" } }\n", "review = { reviewers = 1, review_time = \"1s\", holding_refusal = true }\n"][escalate];
            let input = if escalate == 0 { "escalate = \"pass\", " } else { "" };
            let mode = if streaming { "streaming" } else { "whole" };
            extra += &format!(
                "output = {{ mode = \"{mode}\", chunk_tokens = {chunk}, classifier = {{ servers = {servers}, max_batch = {max_batch}, queue_capacity = {queue}, base = \"{base_ms}ms\", scv = 0.5 }} }}\n"
            );
            if let Some((start, len, output)) = outage {
                let name = if output { "output" } else { "violence" };
                extra += &format!("outages = [{{ classifier = \"{name}\", start = \"{start}s\", end = \"{}s\" }}]\n", start + len);
            }
            let mut s = load(&text(rate, input, &classifier, &extra), &[]);
            s.seed = seed;
            let summary = sim::run(&s).summary;
            let safety = safety(&summary);
            prop_assert_eq!(safety.unchecked_tokens_delivered, 0, "reproduce with seed={}", seed);
            prop_assert_eq!(safety.unchecked_inputs, 0);
            prop_assert!(safety.invariant_nothing_unchecked);
            prop_assert!(summary.invariants.all_hold, "invariants: {:?}", summary.invariants);
            prop_assert!(summary.littles_law.holds);
            prop_assert_eq!(summary.requests.by_outcome.values().sum::<u64>(), summary.requests.offered);
        }
    }
}

/// The same failures with `fail_open = true` do deliver unchecked tokens,
/// and the report says so (the checker is not vacuous).
#[test]
fn fail_open_counts_what_it_lets_through() {
    let extra = "output = { mode = \"streaming\", chunk_tokens = 8 }\noutages = [{ classifier = \"output\", start = \"2s\", end = \"6s\" }]\n";
    let s = load(&text(20.0, "", "servers = 2", extra), &["safety.fail_open=true".into()]);
    let summary = sim::run(&s).summary;
    let open = safety(&summary);
    assert!(open.fail_open);
    assert!(open.unchecked_tokens_delivered > 0, "an output outage under fail-open delivers unchecked tokens");
    assert!(!open.invariant_nothing_unchecked);
    let closed = sim::run(&load(&text(20.0, "", "servers = 2", extra), &[])).summary;
    assert_eq!(safety(&closed).unchecked_tokens_delivered, 0);
    assert!(closed.requests.by_outcome.get("safety_unavailable").copied().unwrap_or(0) > 0);
}

/// During the input outage nothing passes the input stage (every request
/// arriving then is rejected), during the output outage streams are
/// stopped, nothing unchecked is delivered, traffic flows after each
/// outage, and the timeline plot marks the outages.
#[test]
fn outage_scenario_fails_closed_then_recovers() {
    let path = root().join("scenarios/safety-classifier-outage.toml");
    let s = scenario::load(&path, &["safety.audit_log=true".into()]).unwrap_or_else(|e| panic!("{e}"));
    let recorded = sim::run(&s);
    let safety = safety(&recorded.summary);
    assert_eq!(safety.unchecked_tokens_delivered, 0);
    assert!(recorded.summary.invariants.all_hold);
    let extra = recorded.safety.as_ref().expect("safety extras");
    let audit = extra.audit.as_ref().expect("audit log asked for");
    let lines: Vec<serde_json::Value> =
        audit.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    let at = |v: &serde_json::Value| v["t_s"].as_f64().unwrap_or(-1.0);
    let is = |v: &serde_json::Value, check: &str, verdict: &str| v["check"] == check && v["verdict"] == verdict;
    // Input outage 60..90 s (+ the 0.5 s deadline of checks asked just before).
    let passes_in_outage = lines.iter().filter(|v| is(v, "input", "pass") && at(v) > 60.5 && at(v) < 90.0).count();
    assert_eq!(passes_in_outage, 0, "no request passes input while `violence` is down");
    let rejected = lines.iter().filter(|v| is(v, "input", "unavailable") && at(v) >= 60.0 && at(v) < 90.5).count();
    assert!(rejected > 400, "~20 req/s for 30 s are rejected: {rejected}");
    let passes_after = lines.iter().filter(|v| is(v, "input", "pass") && at(v) > 91.0 && at(v) < 100.0).count();
    assert!(passes_after > 100, "traffic flows after recovery: {passes_after}");
    // Output outage 120..130 s: streams stopped, none released meanwhile.
    let output_passes = lines.iter().filter(|v| is(v, "output", "pass") && at(v) > 120.5 && at(v) < 130.0).count();
    assert_eq!(output_passes, 0);
    let stopped = lines.iter().filter(|v| is(v, "output", "unavailable") && at(v) >= 120.0 && at(v) < 130.5).count();
    assert!(stopped > 50, "streams in flight are stopped: {stopped}");
    let completed_after: u64 = extra.windows[28..34].iter().map(|w| w.completed).sum();
    assert!(completed_after > 100, "completions resume after 140 s: {completed_after}");
    let files = servesim::report::render(&recorded, "").expect("renders");
    let svg = files.iter().find(|(n, _)| *n == "safety_timeline.svg").expect("timeline plot");
    assert!(String::from_utf8_lossy(&svg.1).contains("classifier down"), "the plot marks the outage");
    assert!(files.iter().any(|(n, _)| *n == "audit.jsonl"));
}

/// Saturating a dedicated classifier raises safety latency and
/// rejections, yet takes no inference GPU time: the GPUs do less, not
/// more. Batching the classifier's calls raises its throughput.
#[test]
fn classifier_capacity_is_dedicated_and_batching_raises_its_throughput() {
    let pass = "escalate = \"pass\", ";
    let output = "output = { classifier = { servers = 8, max_batch = 16, max_wait = \"2ms\" } }";
    let run = |classifier: &str| sim::run(&load(&text(40.0, pass, classifier, output), &[])).summary;
    let roomy = run("servers = 4, base = \"10ms\", per_item = \"1ms\"");
    let saturated = run("servers = 1, base = \"40ms\", per_item = \"10ms\", queue_capacity = 20");
    let batched = run(
        "servers = 1, base = \"40ms\", per_item = \"10ms\", queue_capacity = 20, max_batch = 16, max_wait = \"5ms\"",
    );
    let (r, s, b) = (safety(&roomy), safety(&saturated), safety(&batched));
    assert!(
        s.input_latency.p99_s > 3.0 * r.input_latency.p99_s,
        "{} vs {}",
        s.input_latency.p99_s,
        r.input_latency.p99_s
    );
    let unavailable = |x: &Summary| x.requests.by_outcome.get("safety_unavailable").copied().unwrap_or(0);
    assert_eq!(unavailable(&roomy), 0);
    assert!(unavailable(&saturated) > 100, "{}", unavailable(&saturated));
    let gpu = |x: &Summary| x.llm.as_ref().map_or(0.0, |l| l.gpu_busy_fraction);
    assert!(
        gpu(&saturated) < gpu(&roomy),
        "rejected requests cost no GPU time: {} vs {}",
        gpu(&saturated),
        gpu(&roomy)
    );
    // At 40 req/s a 50 ms single-check batch caps the pool at 20 checks/s;
    // batches of up to 16 amortize the 40 ms base.
    let served = |x: &SafetySummary| x.classifiers[0].checks - x.classifiers[0].failed_checks;
    assert!(b.classifiers[0].mean_batch > 1.5, "{}", b.classifiers[0].mean_batch);
    assert!(
        unavailable(&batched) < unavailable(&saturated) / 4,
        "{} vs {}",
        unavailable(&batched),
        unavailable(&saturated)
    );
    let completed = |x: &Summary| x.requests.by_outcome.get("completed").copied().unwrap_or(0);
    assert!(completed(&batched) > completed(&saturated) + 100);
    assert!(served(b) >= served(s));
}

/// Reviewers work 0..5 s of every 20 s: a request escalated after 5 s
/// waits for the next shift (at 20 s), the backlog shows it, and every
/// waiting caller is still answered.
#[test]
fn human_review_waits_for_working_hours() {
    let review = "review = { reviewers = 2, review_time = \"200ms\", hours = { open = \"0s\", close = \"5s\", period = \"20s\" } }";
    let s = load(&text(10.0, "", "servers = 2", review), &["safety.mix.borderline=1".into()]);
    let summary = sim::run(&s).summary;
    let r = safety(&summary).review.clone().expect("review stats");
    assert!(r.reviews > 20, "{}", r.reviews);
    assert!(r.wait.max_s >= 10.0, "escalated at 5..10 s wait for 20 s: {}", r.wait.max_s);
    assert!(r.backlog_max > 10, "{}", r.backlog_max);
    assert!(summary.run.drained && summary.invariants.all_hold);
    assert!(summary.run.end_s >= 20.0, "the last reviews happen in the next shift: {}", summary.run.end_s);
}

#[test]
fn tradeoff_plot_is_produced() {
    let path = root().join("scenarios/safety-pipeline.toml");
    let sets = vec!["run.duration=60s".to_string()];
    let values: Vec<String> = ["0.5", "0.8", "0.95"].iter().map(|v| v.to_string()).collect();
    let key = servesim::plan::tradeoff::DEFAULT_KEY;
    let source = servesim::plan::source::Source { overrides: sets, ..servesim::plan::source::Source::new(&path) };
    let points = servesim::plan::tradeoff::tradeoff(&source, key, &values).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(points.len(), 3);
    // A stricter output check blocks more harmful streams and refuses more benign ones.
    assert!(points[0].harmful_block_rate >= points[2].harmful_block_rate);
    assert!(points[0].benign_pass_rate <= points[2].benign_pass_rate);
    assert!(points.iter().all(|p| p.unchecked_tokens_delivered == 0 && p.added_latency_s() > 0.0));
    let plots = servesim::plan::tradeoff::plots("safety-pipeline", key, &points).expect("plots");
    for (name, svg) in &plots {
        assert!(svg.starts_with("<svg") && svg.contains("helpfulness"), "{name}");
    }
    assert!(plots[0].1.contains("added latency"));
}

fn refused(sets: &[&str], expected: &[&str]) {
    let path = root().join("scenarios/safety-pipeline.toml");
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let err = scenario::load(&path, &sets).expect_err("must be refused").to_string();
    assert!(err.contains("hint:"), "{err}");
    for part in expected {
        assert!(err.contains(part), "`{part}` missing from: {err}");
    }
}

#[test]
fn bad_thresholds_are_refused_with_place_key_expectation_and_hint() {
    refused(
        &["safety.output.block_threshold=1.5"],
        &[
            "(from --set safety.output.block_threshold=1.5)",
            "`safety.output.block_threshold`",
            "expected a number in [0, 1], got 1.5",
        ],
    );
    refused(&["safety.input.pass_threshold=-0.1"], &["`safety.input.pass_threshold`", "expected a number in [0, 1]"]);
    refused(
        &["safety.input.pass_threshold=0.9"],
        &["`safety.input.block_threshold`", "expected block_threshold >= pass_threshold (0.9), got 0.8", "escalated"],
    );
    // In the file: the error points at the line and column of the value.
    let file = text(10.0, "pass_threshold = 0.7, block_threshold = 0.2, ", "servers = 1", "");
    let err = scenario::from_text(&file, &root().join("scenarios/bad.toml"), &[]).expect_err("refused").to_string();
    let line = file.lines().position(|l| l.contains("block_threshold = 0.2")).expect("line") + 1;
    let col = file.lines().nth(line - 1).and_then(|l| l.find("block_threshold = 0.2")).expect("col") + 1;
    let col = col + "block_threshold = ".len();
    assert!(err.contains(&format!("bad.toml:{line}:{col}: `safety.input.block_threshold`")), "{err}");
    assert!(err.contains("hint:"), "{err}");
    refused(
        &["safety.outages=[{classifier=\"nope\",start=\"1s\",end=\"2s\"}]"],
        &["no classifier is named `nope`", "violence"],
    );
    refused(&["safety.output.chunk_tokens=0"], &["`safety.output.chunk_tokens`", "expected an integer >= 1"]);
    refused(
        &["safety.input.classifiers=[]"],
        &["`safety.input.classifiers`", "missing: at least one input classifier"],
    );
    refused(&["safety.mix={benign=0,borderline=0,harmful=0}"], &["`safety.mix`", "positive total"]);
    let station = root().join("scenarios/single-gpu-batching.toml");
    let err = scenario::load(&station, &["safety.fail_open=true".into()]).expect_err("station").to_string();
    assert!(err.contains("`safety`: only LLM serving has a safety pipeline") && err.contains("hint:"), "{err}");
}

#[test]
fn block_threshold_override_changes_the_run() {
    let path = root().join("scenarios/safety-pipeline.toml");
    let s = scenario::load(&path, &["safety.output.block_threshold=0.9".into(), "run.duration=30s".into()])
        .unwrap_or_else(|e| panic!("{e}"));
    let summary = sim::run(&s).summary;
    assert_eq!(safety(&summary).output_block_threshold, 0.9);
    assert!(summary.invariants.all_hold);
}
