//! The safety stage wired to the LLM core under a tiny deterministic
//! driver (1 ms GPU steps, fixed classifier times): the streaming hold-back
//! adds exactly what the model predicts to TTFT, and a flagged response in
//! a batch of many stops generation and refuses only its own caller.

use crate::llm_harness::{one_replica_pool, roomy_replica, Events, LlmDriver, Reply};
use servesim::core::llm::{self, Served};
use servesim::core::safety::{
    self, Action, Class, OutputCheck, OutputMode, Risk, SafetyConfig, SafetyStage, Thresholds, Verdict,
};
use servesim::core::station::{QueueLayout, Routing, StationConfig};
use servesim::core::{Outcome, RequestId};
use servesim::time::{SimDuration, SimTime};
use std::collections::BTreeMap;

const STEP: SimDuration = SimDuration(1_000_000);
const RULES: SimDuration = SimDuration(20_000);
const INPUT_CHECK: SimDuration = SimDuration(3_000_000);
const OUTPUT_CHECK: SimDuration = SimDuration(2_000_000);

fn pool() -> StationConfig {
    StationConfig {
        servers: 64,
        layout: QueueLayout::Shared,
        routing: Routing::RoundRobin,
        queue_capacity: None,
        max_batch: 1,
        max_wait: SimDuration::ZERO,
        processor_sharing: false,
    }
}

fn config(chunk_tokens: u32) -> SafetyConfig {
    SafetyConfig {
        pools: vec![pool(), pool()],
        rule_latency: RULES,
        input_pools: vec![0],
        input: Thresholds { pass: 0.3, block: 0.8 },
        escalation: None,
        output: OutputCheck { pool: 1, mode: OutputMode::Streaming { chunk_tokens }, block: 0.8 },
        timeout: SimDuration::from_secs(10),
        fail_open: false,
    }
}

enum Ev {
    Safety(safety::Input),
    Llm(llm::Input),
}

/// What each caller got: outcome, answer time, the record, first release,
/// and the most tokens released to it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Answer {
    outcome: Outcome,
    at: SimTime,
    served: Option<Served>,
    first_release: Option<SimTime>,
    released: u32,
}

struct World {
    stage: Option<SafetyStage>,
    driver: LlmDriver,
    events: Events<Ev>,
    sizes: BTreeMap<u64, (u32, u32)>,
    answers: BTreeMap<u64, Answer>,
    released: BTreeMap<u64, u32>,
    decisions: Vec<safety::Decision>,
}

impl World {
    fn new(stage: Option<SafetyStage>, chunk: Option<u32>) -> Self {
        World {
            stage,
            driver: LlmDriver::new(one_replica_pool(roomy_replica(), chunk), STEP),
            events: Events::new(),
            sizes: BTreeMap::new(),
            answers: BTreeMap::new(),
            released: BTreeMap::new(),
            decisions: Vec::new(),
        }
    }

    fn push(&mut self, at: SimTime, ev: Ev) {
        self.events.push(at, ev);
    }

    /// The caller of `request` gives up at `at`.
    fn cancel_at(mut self, at: SimTime, request: u64) -> Self {
        self.push(at, Ev::Safety(safety::Input::Cancel { request: RequestId(request) }));
        self
    }

    /// Requests `(prompt, output, output chunk scores)` all arriving at 0.
    fn run(mut self, requests: &[(u32, u32, Vec<f64>)]) -> Self {
        for (i, (prompt, output, scores)) in requests.iter().enumerate() {
            let request = RequestId(i as u64);
            self.sizes.insert(i as u64, (*prompt, *output));
            let ev = if self.stage.is_some() {
                let risk = Risk {
                    class: Class::Benign,
                    rule_hit: false,
                    input_scores: vec![0.0],
                    escalation_score: 0.0,
                    reviewer_blocks: false,
                    output_scores: scores.clone(),
                };
                Ev::Safety(safety::Input::Arrival { request, risk })
            } else {
                Ev::Llm(llm::Input::Arrival {
                    request,
                    prompt_tokens: *prompt,
                    output_tokens: *output,
                    prefix: None,
                    session: None,
                })
            };
            self.push(SimTime::ZERO, ev);
        }
        while let Some((now, ev)) = self.events.pop() {
            match ev {
                Ev::Safety(input) => self.safety(now, input),
                Ev::Llm(input) => self.llm(now, input),
            }
        }
        self
    }

    fn llm(&mut self, now: SimTime, input: llm::Input) {
        for reply in self.driver.handle(now, input) {
            match reply {
                Reply::Later { at, input } => self.push(at, Ev::Llm(input)),
                Reply::Respond { request, outcome, served } => match self.stage {
                    Some(_) => self.safety(now, safety::Input::LlmDone { request, outcome, served }),
                    None => {
                        let a = Answer {
                            outcome,
                            at: now,
                            served: Some(served),
                            first_release: served.first_token,
                            released: served.output_tokens,
                        };
                        self.answers.insert(request.0, a);
                    }
                },
                Reply::Generated { request, tokens } => self.safety(now, safety::Input::Generated { request, tokens }),
            }
        }
    }

    fn safety(&mut self, now: SimTime, input: safety::Input) {
        let Some(stage) = self.stage.as_mut() else { return };
        let mut out = Vec::new();
        stage.handle(now, input, &mut out);
        for a in out {
            match a {
                Action::StartClassifier { pool, batch, .. } => {
                    let took = if pool == 0 { INPUT_CHECK } else { OUTPUT_CHECK };
                    self.push(now + took, Ev::Safety(safety::Input::ClassifierDone { pool, batch, ok: true }));
                }
                Action::ArmTimer { at, timer } => self.push(at, Ev::Safety(safety::Input::Timer(timer))),
                Action::StartReview { .. } => unreachable!("no review here"),
                Action::Forward { request } => {
                    let (prompt_tokens, output_tokens) = self.sizes[&request.0];
                    self.llm(
                        now,
                        llm::Input::Arrival { request, prompt_tokens, output_tokens, prefix: None, session: None },
                    );
                }
                Action::Stop { request } => self.llm(now, llm::Input::Cancel { request }),
                Action::Release { request, upto } => {
                    let r = self.released.entry(request.0).or_default();
                    assert!(upto > *r, "releases only grow");
                    *r = upto;
                }
                Action::Respond { request, outcome, served, first_release } => {
                    let released = self.released.get(&request.0).copied().unwrap_or(0);
                    let a = Answer { outcome, at: now, served, first_release, released };
                    assert!(self.answers.insert(request.0, a).is_none(), "one answer per request");
                }
                Action::Decision(d) => self.decisions.push(d),
            }
        }
    }
}

fn ms(x: f64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs_f64(x / 1e3)
}

/// One request, 10 output tokens, chunks of 4: the caller's first token
/// waits for the rule filter, the input check, the prefill step, the 3
/// decode steps that complete chunk 1, and chunk 1's check.
#[test]
fn streaming_hold_back_adds_exactly_the_predicted_latency_to_ttft() {
    let (chunk, output) = (4u32, 10u32);
    let plain = World::new(None, None).run(&[(100, output, vec![])]);
    let checked = World::new(Some(SafetyStage::new(config(chunk))), Some(chunk)).run(&[(100, output, vec![0.0; 3])]);
    let (p, c) = (plain.answers[&0], checked.answers[&0]);
    assert_eq!((p.outcome, c.outcome), (Outcome::Completed, Outcome::Completed));
    let plain_ttft = p.first_release.unwrap().since(SimTime::ZERO);
    assert_eq!(plain_ttft, STEP, "without checks the first token comes with the prefill step");
    let input = RULES + INPUT_CHECK;
    let hold_back = SimDuration(STEP.0 * u64::from(chunk - 1));
    let predicted = plain_ttft + input + hold_back + OUTPUT_CHECK;
    assert_eq!(c.first_release.unwrap().since(SimTime::ZERO), predicted);
    assert_eq!(c.first_release, Some(ms(9.02)), "20 us + 3 ms + 1 ms + 3 x 1 ms + 2 ms");
    // The LLM itself saw the first token after the input stage and one step.
    assert_eq!(c.served.and_then(|s| s.first_token), Some(SimTime::ZERO + input + STEP));
    // The last chunk (tokens 9..10) is checked once generation ends.
    assert_eq!(c.at, SimTime::ZERO + input + SimDuration(STEP.0 * u64::from(output)) + OUTPUT_CHECK);
    assert_eq!(c.released, output);
    let passes: Vec<u32> =
        checked.decisions.iter().filter(|d| d.check == safety::Check::Output).map(|d| d.upto).collect();
    assert_eq!(passes, [4, 8, 10], "one check per chunk, the last one short");
}

/// 16 requests share one batch; the output check flags request 5's second
/// chunk. Its generation stops (its KV freed), its caller alone is refused
/// and holds only the chunk that passed; the 15 others complete exactly as
/// they do when nobody is flagged.
#[test]
fn a_flagged_response_refuses_only_its_caller_and_the_batch_completes_unchanged() {
    let (chunk, output) = (8u32, 40u32);
    let clean = vec![0.0; 5];
    let mut flagged = clean.clone();
    flagged[1] = 0.95;
    let requests = |bad: Option<usize>| -> Vec<(u32, u32, Vec<f64>)> {
        (0..16).map(|i| (50, output, if Some(i) == bad { flagged.clone() } else { clean.clone() })).collect()
    };
    let run = |bad| World::new(Some(SafetyStage::new(config(chunk))), Some(chunk)).run(&requests(bad));
    let baseline = run(None);
    let world = run(Some(5));
    assert!(baseline.answers.values().all(|a| a.outcome == Outcome::Completed && a.released == output));
    let stopped = world.answers[&5];
    assert_eq!(stopped.outcome, Outcome::Refused);
    assert_eq!(stopped.released, chunk, "only the chunk that passed reached the caller");
    let generated = stopped.served.map(|s| s.output_tokens).unwrap_or(0);
    assert!(generated > 2 * chunk && generated < output, "stopped early, after the flagged chunk: {generated}");
    let stats = world.driver.core.replicas()[0].stats();
    assert_eq!(stats.cancelled, 1, "one stream stopped");
    assert_eq!(world.driver.core.replicas()[0].kv_used_blocks(), 0, "its KV was freed");
    for i in (0..16u64).filter(|&i| i != 5) {
        assert_eq!(world.answers[&i], baseline.answers[&i], "request {i} must complete unchanged");
    }
    let blocks: Vec<_> =
        world.decisions.iter().filter(|d| d.verdict == Verdict::Block).map(|d| (d.request, d.upto)).collect();
    assert_eq!(blocks, [(RequestId(5), 2 * chunk)]);
}

/// A caller that gives up during its input check is answered at once and
/// never reaches the GPU; one that gives up while its response streams has
/// its generation stopped (KV freed) and is answered `Cancelled`.
#[test]
fn a_caller_cancelling_in_either_stage_is_answered_once_and_its_work_stops() {
    let requests: Vec<(u32, u32, Vec<f64>)> = (0..3).map(|_| (50, 40, vec![0.0; 5])).collect();
    let stage = || Some(SafetyStage::new(config(8)));
    let world = World::new(stage(), Some(8)).cancel_at(ms(1.0), 0).cancel_at(ms(12.0), 1).run(&requests);
    let (early, mid, kept) = (world.answers[&0], world.answers[&1], world.answers[&2]);
    assert_eq!((early.outcome, early.at, early.served), (Outcome::Cancelled, ms(1.0), None), "never reached the LLM");
    assert_eq!(mid.outcome, Outcome::Cancelled);
    let generated = mid.served.map_or(0, |s| s.output_tokens);
    assert!(generated > 0 && generated < 40, "stopped mid-stream: {generated}");
    assert_eq!(kept.outcome, Outcome::Completed);
    assert_eq!(world.driver.core.replicas()[0].stats().cancelled, 1);
    assert_eq!(world.driver.core.replicas()[0].kv_used_blocks(), 0);
    assert!(world.released.get(&1).copied().unwrap_or(0) < 40);
}
