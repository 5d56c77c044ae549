use super::*;
use crate::llm::{PrefixCacheConfig, PrefixEviction, Served, StepShape};
use crate::time::SimDuration;

fn job(request: RequestId, prompt_tokens: u32, output_tokens: u32, prefix: Option<Prefix>) -> Job {
    Job { request, prompt_tokens, output_tokens, prefix, session: None }
}

fn config(policy: Policy, kv_blocks: u64, preemption: Preemption) -> ReplicaConfig {
    ReplicaConfig { policy, preemption, ..ReplicaConfig::new(kv_blocks) }
}

/// Runs `requests` (prompt, output) arriving at t=0 to completion with
/// 1 ms steps; returns responses in order and every step's shape.
fn drive(cfg: ReplicaConfig, requests: &[(u32, u32)]) -> (Replica, Vec<(RequestId, Outcome, Served)>, Vec<StepShape>) {
    let mut r = Replica::new(0, cfg);
    let mut out = Vec::new();
    let mut now = SimTime::ZERO;
    for (i, &(p, o)) in requests.iter().enumerate() {
        r.arrive(now, job(RequestId(i as u64), p, o, None), &mut out);
    }
    let (mut responses, mut shapes) = (Vec::new(), Vec::new());
    for _ in 0..100_000 {
        r.poll(now, &mut out);
        let mut stepped = false;
        for a in out.drain(..) {
            match a {
                Action::StartStep { shape, .. } => {
                    shapes.push(shape);
                    stepped = true;
                }
                Action::Respond { request, outcome, served } => responses.push((request, outcome, served)),
                Action::ArmTimer { at, .. } => {
                    now = now.max(at);
                    r.timer(at);
                }
                Action::TransferKv { .. } => unreachable!("only the scheduler transfers KV"),
            }
        }
        if stepped {
            now += SimDuration::from_millis(1);
            r.step_done(now, &mut out);
        } else if r.outstanding() == 0 && out.is_empty() {
            break;
        }
    }
    (r, responses, shapes)
}

#[test]
fn one_request_prefills_then_decodes() {
    let (r, responses, shapes) = drive(config(Policy::Continuous, 1000, Preemption::Recompute), &[(100, 5)]);
    assert_eq!(shapes[0], StepShape::prefill(100, 0));
    assert_eq!(shapes[1], StepShape::decode(1, 100));
    assert_eq!(shapes[4], StepShape::decode(1, 103));
    assert_eq!(shapes.len(), 5);
    let (_, outcome, served) = responses[0];
    assert_eq!(outcome, Outcome::Completed);
    assert_eq!(served.first_token, Some(SimTime(1_000_000)));
    assert_eq!(served.output_tokens, 5);
    assert_eq!(r.kv_used_blocks(), 0);
}

#[test]
fn continuous_lets_short_requests_leave_early() {
    let (_, responses, _) = drive(config(Policy::Continuous, 1000, Preemption::Recompute), &[(10, 50), (10, 2)]);
    assert_eq!(responses[0].0, RequestId(1), "the short request finishes first");
    assert_eq!(responses.len(), 2);
}

#[test]
fn static_answers_the_whole_batch_at_the_end() {
    let policy = Policy::Static { max_wait: SimDuration::ZERO };
    let (r, responses, shapes) = drive(config(policy, 1000, Preemption::Recompute), &[(10, 50), (10, 2)]);
    assert_eq!(shapes[0], StepShape::prefill(10, 0).with_prefill(10, 0));
    let finished: Vec<_> = responses.iter().map(|(_, _, s)| s.output_tokens).collect();
    assert_eq!(finished, vec![2, 50]);
    assert_eq!(shapes.len(), 50, "one prefill step then 49 decode steps for the longest");
    assert_eq!(r.kv_used_blocks(), 0);
}

#[test]
fn chunked_prefill_respects_the_token_budget() {
    let policy = Policy::ChunkedPrefill { chunk_tokens: 64 };
    let (r, responses, shapes) = drive(config(policy, 1000, Preemption::Recompute), &[(200, 20), (50, 20)]);
    assert!(shapes.iter().all(|s| s.tokens() <= 64), "{shapes:?}");
    assert_eq!(shapes[0], StepShape::prefill(64, 0));
    assert_eq!(responses.len(), 2);
    assert_eq!(r.kv_used_blocks(), 0);
}

#[test]
fn kv_pressure_preempts_and_everyone_finishes() {
    for preemption in [Preemption::Recompute, Preemption::Swap] {
        // 40 blocks of 16 tokens; eight requests of 64 + 200 tokens each
        // cannot all grow at once.
        let requests = vec![(64, 200); 8];
        let (r, responses, shapes) = drive(config(Policy::Continuous, 40, preemption), &requests);
        assert_eq!(responses.len(), 8, "{preemption:?}");
        assert!(responses.iter().all(|(_, o, s)| *o == Outcome::Completed && s.output_tokens == 200));
        // Preempted work is redone as prefill, never regenerated: every
        // sequence decodes exactly its 199 tokens after the first.
        let decoded: u64 = shapes.iter().map(|s| s.decode_seqs).sum();
        let first_tokens = 8 + r.stats().preemptions * u64::from(preemption == Preemption::Recompute);
        assert_eq!(decoded + first_tokens, 8 * 200, "{preemption:?}");
        assert!(r.stats().preemptions > 0, "{preemption:?}");
        assert_eq!(r.kv_used_blocks(), 0, "{preemption:?}");
        match preemption {
            Preemption::Recompute => assert!(r.stats().recomputed_tokens > 0),
            Preemption::Swap => assert!(r.stats().swapped_bytes > 0),
        }
    }
}

fn cached(kv_blocks: u64) -> ReplicaConfig {
    let mut cfg = config(Policy::Continuous, kv_blocks, Preemption::Recompute);
    cfg.prefix_cache = Some(PrefixCacheConfig { eviction: PrefixEviction::Lru, max_prefixes: None });
    cfg
}

fn ms(n: u64) -> SimTime {
    SimTime(n * 1_000_000)
}

/// Steps `r` (1 ms each, from `t` ms) until it has nothing left;
/// returns the responses and the end time in ms.
fn run_out(r: &mut Replica, mut t: u64) -> (Vec<Action>, u64) {
    let (mut out, mut responses) = (Vec::new(), Vec::new());
    while r.outstanding() > 0 {
        r.poll(ms(t), &mut out);
        assert!(r.busy(), "work left but no step");
        t += 1;
        r.step_done(ms(t), &mut out);
        responses.extend(out.drain(..).filter(|a| matches!(a, Action::Respond { .. })));
    }
    (responses, t)
}

#[test]
fn a_cached_prefix_skips_its_prefill_shares_its_blocks_and_drains_to_zero() {
    let mut r = Replica::new(0, cached(1000));
    let mut out = Vec::new();
    // A 100-token prefix: its 6 full blocks (96 tokens) are cacheable.
    let prefix = Some(Prefix { id: 3, tokens: 100 });
    r.arrive(ms(0), job(RequestId(0), 300, 3, prefix), &mut out);
    r.poll(ms(0), &mut out);
    let [Action::StartStep { shape, .. }] = out[..] else { panic!("{out:?}") };
    assert_eq!(shape, StepShape::prefill(300, 0), "a miss prefills the whole prompt");
    out.clear();
    r.step_done(ms(1), &mut out);
    assert_eq!(r.prefix_cache_usage(), (6, 1), "published, referenced by its sequence");
    assert_eq!(r.kv_used_blocks(), 19, "6 shared + ceil(204 / 16) own = ceil(300 / 16)");
    // The same prefix again: a hit, 96 tokens of prefill skipped, 13 own blocks.
    r.arrive(ms(1), job(RequestId(1), 300, 3, prefix), &mut out);
    r.poll(ms(1), &mut out);
    let [Action::StartStep { shape, .. }] = out[..] else { panic!("{out:?}") };
    assert_eq!(shape, StepShape::decode(1, 300).with_prefill(204, 96));
    assert_eq!(r.kv_used_blocks(), 19 + 13, "the prefix's blocks counted once");
    assert_eq!(r.prefix_cache_usage(), (6, 2));
    out.clear();
    r.step_done(ms(2), &mut out);
    let (responses, _) = run_out(&mut r, 2);
    assert_eq!(responses.len(), 2);
    let s = r.stats();
    assert_eq!((s.prefix_lookups, s.prefix_hits, s.prefix_cached_tokens), (2, 1, 96));
    // Drained: only the unreferenced cached prefix holds blocks.
    assert_eq!(r.prefix_cache_usage(), (6, 0));
    assert_eq!(r.kv_used_blocks(), 6);
    r.flush_prefix_cache();
    assert_eq!(r.kv_used_blocks(), 0);
    assert_eq!(r.prefix_cache_usage(), (0, 0));
}

#[test]
fn unreferenced_prefixes_are_evicted_when_blocks_are_needed() {
    // 30 blocks: a cached 6-block prefix, then a prompt needing 25 blocks.
    let mut r = Replica::new(0, cached(30));
    let mut out = Vec::new();
    r.arrive(ms(0), job(RequestId(0), 100, 1, Some(Prefix { id: 1, tokens: 96 })), &mut out);
    let (responses, t) = run_out(&mut r, 0);
    assert_eq!((responses.len(), r.kv_used_blocks(), r.prefix_cache_usage()), (1, 6, (6, 0)));
    r.arrive(ms(t), job(RequestId(1), 400, 2, None), &mut out);
    let (responses, _) = run_out(&mut r, t);
    assert!(matches!(responses[..], [Action::Respond { outcome: Outcome::Completed, .. }]), "{responses:?}");
    assert_eq!(r.stats().prefix_evictions, 1);
    assert_eq!((r.kv_used_blocks(), r.prefix_cache_usage()), (0, (0, 0)));
    assert_eq!(r.stats().preemptions, 0, "eviction, not preemption");
}

#[test]
fn preempted_sequences_release_their_prefix_and_everything_drains() {
    for preemption in [Preemption::Recompute, Preemption::Swap] {
        let mut cfg = cached(60);
        cfg.preemption = preemption;
        let mut r = Replica::new(0, cfg);
        let mut out = Vec::new();
        for i in 0..8 {
            let prefix = Some(Prefix { id: i % 2, tokens: 64 });
            r.arrive(ms(0), job(RequestId(u64::from(i)), 100, 200, prefix), &mut out);
        }
        let (responses, _) = run_out(&mut r, 0);
        assert_eq!(responses.len(), 8, "{preemption:?}");
        assert!(r.stats().preemptions > 0, "{preemption:?}");
        assert_eq!(r.prefix_cache_usage().1, 0, "{preemption:?}: no reference left");
        assert_eq!(r.kv_used_blocks(), r.prefix_cache_usage().0, "{preemption:?}");
        r.flush_prefix_cache();
        assert_eq!(r.kv_used_blocks(), 0, "{preemption:?}");
    }
}

#[test]
fn a_request_that_can_never_fit_fails_at_once() {
    let (_, responses, shapes) = drive(config(Policy::Continuous, 4, Preemption::Recompute), &[(100, 10)]);
    assert_eq!(responses[0].1, Outcome::Failed);
    assert!(shapes.is_empty());
}

#[test]
fn a_waiting_request_is_cancelled_at_once_and_never_runs() {
    let mut r = Replica::new(0, config(Policy::Continuous, 1000, Preemption::Recompute));
    let mut out = Vec::new();
    r.arrive(ms(0), job(RequestId(0), 100, 5, None), &mut out);
    assert_eq!(r.cancel(RequestId(0), &mut out), Cancel::Stopped);
    assert!(matches!(out[..], [Action::Respond { outcome: Outcome::Cancelled, .. }]), "{out:?}");
    assert_eq!(r.outstanding(), 0);
    assert_eq!(r.cancel(RequestId(0), &mut out), Cancel::NotHere, "answered once");
    r.poll(ms(0), &mut out);
    assert!(!r.busy());
}

#[test]
fn a_cancelled_sequence_leaves_at_the_step_end_and_the_rest_of_its_batch_is_unchanged() {
    let requests = [(100, 20), (60, 20), (80, 20)];
    let (_, alone, _) = drive(config(Policy::Continuous, 1000, Preemption::Recompute), &requests);
    let mut r = Replica::new(0, config(Policy::Continuous, 1000, Preemption::Recompute));
    let mut out = Vec::new();
    for (i, &(p, o)) in requests.iter().enumerate() {
        r.arrive(ms(0), job(RequestId(i as u64), p, o, None), &mut out);
    }
    r.poll(ms(0), &mut out);
    r.step_done(ms(1), &mut out);
    r.poll(ms(1), &mut out);
    out.clear();
    assert_eq!(r.cancel(RequestId(1), &mut out), Cancel::AtStepEnd, "in the running step");
    assert!(out.is_empty());
    r.step_done(ms(2), &mut out);
    let [Action::Respond { request: RequestId(1), outcome: Outcome::Cancelled, served }] = out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(served.output_tokens, 2, "first token at prefill, one decode step");
    assert_eq!(r.stats().cancelled_tokens, 61, "60 prompt tokens + 1 decoded token's KV");
    out.clear();
    let (responses, _) = run_out(&mut r, 2);
    let done = |rs: &[(RequestId, Outcome, Served)], id| rs.iter().find(|x| x.0 == RequestId(id)).map(|x| x.2);
    let rest: Vec<_> = responses
        .iter()
        .map(|a| match a {
            Action::Respond { request, outcome, served } => (*request, *outcome, *served),
            _ => unreachable!(),
        })
        .collect();
    for id in [0, 2] {
        let (got, want) = (done(&rest, id).unwrap(), done(&alone, id).unwrap());
        assert_eq!((got.output_tokens, got.first_token), (want.output_tokens, want.first_token), "{id}");
    }
    assert_eq!(r.kv_used_blocks(), 0);
}

#[test]
fn cancelling_a_static_batch_member_releases_the_rest_when_the_batch_ends() {
    let policy = Policy::Static { max_wait: SimDuration::ZERO };
    let mut r = Replica::new(0, config(policy, 1000, Preemption::Recompute));
    let mut out = Vec::new();
    r.arrive(ms(0), job(RequestId(0), 10, 3, None), &mut out);
    r.arrive(ms(0), job(RequestId(1), 10, 50, None), &mut out);
    r.poll(ms(0), &mut out);
    let (mut t, mut responses) = (0, Vec::new());
    while r.outstanding() > 0 {
        t += 1;
        r.step_done(ms(t), &mut out);
        if t == 5 {
            assert_eq!(r.cancel(RequestId(1), &mut out), Cancel::Stopped, "between steps");
        }
        r.poll(ms(t), &mut out);
        responses.extend(out.drain(..).filter(|a| matches!(a, Action::Respond { .. })));
    }
    let outcomes: Vec<_> = responses
        .iter()
        .map(|a| match a {
            Action::Respond { request, outcome, .. } => (request.0, *outcome),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(outcomes, vec![(1, Outcome::Cancelled), (0, Outcome::Completed)]);
    assert_eq!(t, 5, "the batch ends with its longest remaining sequence");
    assert_eq!(r.kv_used_blocks(), 0);
}

#[test]
fn a_finished_turn_leaves_its_context_cached_for_the_next_turn() {
    let mut r = Replica::new(0, cached(1000));
    let mut out = Vec::new();
    let turn1 = Job { session: Some(9), ..job(RequestId(0), 100, 40, None) };
    r.arrive(ms(0), turn1, &mut out);
    let (_, t) = run_out(&mut r, 0);
    // KV of 100 + 39 tokens (the last answer token is never fed back):
    // 8 full blocks stay cached under session 9.
    assert_eq!(r.prefix_cache_usage(), (8, 0));
    assert_eq!(r.kv_used_blocks(), 8);
    // Turn 2 re-sends the 140-token conversation plus a 60-token message.
    let turn2 = Job { session: Some(9), ..job(RequestId(1), 200, 10, Some(Prefix { id: 9, tokens: 140 })) };
    r.arrive(ms(t), turn2, &mut out);
    r.poll(ms(t), &mut out);
    let [Action::StartStep { shape, .. }] = out[..] else { panic!("{out:?}") };
    assert_eq!(shape, StepShape::prefill(72, 128), "only the message and the uncached tail are prefilled");
    out.clear();
    r.step_done(ms(t + 1), &mut out);
    let (responses, _) = run_out(&mut r, t + 1);
    assert_eq!(responses.len(), 1);
    // Turn 2's longer context replaced turn 1's: 209 tokens, 13 blocks.
    assert_eq!(r.prefix_cache_usage(), (13, 0));
    assert_eq!(r.kv_used_blocks(), 13);
    r.flush_prefix_cache();
    assert_eq!(r.kv_used_blocks(), 0);
    assert_eq!(r.stats().prefix_hits, 1);
}

/// Polls `r` once at `now` and returns the step it started.
fn start_step(r: &mut Replica, now: SimTime) -> StepShape {
    let mut out = Vec::new();
    r.poll(now, &mut out);
    out.iter()
        .find_map(|a| match a {
            Action::StartStep { shape, .. } => Some(*shape),
            _ => None,
        })
        .expect("a step")
}

/// vLLM V1, `vllm/v1/core/sched/scheduler.py` `Scheduler.schedule`: the
/// running requests are scheduled first (a decode takes one token of the
/// budget), then the rest of `max_num_batched_tokens` goes to prompt
/// chunks; `KVCacheManager.allocate_slots` is asked for
/// `num_computed_tokens + num_new_tokens` only, so a chunked prompt holds
/// the blocks of its scheduled chunks, not of its whole prompt.
#[test]
fn vllm_schedules_decodes_first_and_a_chunked_prompt_holds_only_its_chunks() {
    let cfg = ReplicaConfig {
        max_batched_tokens: 100,
        ..config(Policy::VllmV1 { chunked: true }, 1000, Preemption::Recompute)
    };
    let mut r = Replica::new(0, cfg);
    let mut out = Vec::new();
    r.arrive(SimTime::ZERO, job(RequestId(0), 10, 5, None), &mut out);
    r.arrive(SimTime::ZERO, job(RequestId(1), 300, 5, None), &mut out);
    let first = start_step(&mut r, SimTime::ZERO);
    assert_eq!((first.decode_seqs, first.prefill_tokens), (0, 100), "10 + a 90-token chunk");
    assert_eq!(r.kv_used_blocks(), 1 + 6, "blocks(10) + blocks(90), not blocks(300) = 19");
    r.step_done(SimTime(1), &mut out);
    let second = start_step(&mut r, SimTime(1));
    assert_eq!((second.decode_seqs, second.prefill_tokens), (1, 99), "the decode first, then 99 of the budget");
    assert_eq!(r.kv_used_blocks(), 1 + 12, "the prompt's first 189 tokens");
}

/// vLLM V1, `Scheduler.schedule`: when blocks run out, the last running
/// request is preempted (`self.running.pop()`, recompute) and no waiting
/// request is admitted in that step.
#[test]
fn vllm_preempts_the_last_admitted_request_when_blocks_run_out() {
    let cfg =
        ReplicaConfig { max_batched_tokens: 64, ..config(Policy::VllmV1 { chunked: true }, 6, Preemption::Recompute) };
    let mut r = Replica::new(0, cfg);
    let mut out = Vec::new();
    r.arrive(SimTime::ZERO, job(RequestId(0), 32, 40, None), &mut out);
    r.arrive(SimTime::ZERO, job(RequestId(1), 64, 16, None), &mut out);
    start_step(&mut r, SimTime::ZERO);
    assert_eq!(r.kv_used_blocks(), 2 + 2, "request 0 whole, request 1's first 32-token chunk");
    r.step_done(SimTime(1), &mut out);
    // Request 0 decodes (a new block at 32 tokens) and request 1's second
    // chunk needs 2 more: 4 + 1 + 2 > 6, so request 1, the last admitted, goes.
    let shape = start_step(&mut r, SimTime(1));
    assert_eq!((shape.decode_seqs, shape.prefill_tokens), (1, 0));
    assert_eq!((r.stats().preemptions, r.waiting(), r.kv_used_blocks()), (1, 1, 2));
}

/// SGLang, `scheduler.py` `get_next_batch_to_run` and `schedule_policy.py`
/// `PrefillAdder`: a new prefill batch runs alone (the decodes wait), and
/// a waiting request is admitted only if its prompt plus its max new
/// tokens fit beside the running requests' remaining tokens ×
/// `new_token_ratio` (`_get_running_request_total_token_offset`), even
/// when its prompt alone would fit.
#[test]
fn sglang_runs_a_prefill_alone_and_admits_by_reservation() {
    let cfg = ReplicaConfig { block_tokens: 1, ..config(Policy::Sglang { chunked: true }, 100, Preemption::Recompute) };
    let mut r = Replica::new(0, cfg);
    let mut out = Vec::new();
    r.arrive(SimTime::ZERO, job(RequestId(0), 10, 30, None), &mut out);
    start_step(&mut r, SimTime::ZERO);
    r.step_done(SimTime(1), &mut out);
    r.arrive(SimTime(1), job(RequestId(1), 10, 20, None), &mut out);
    let shape = start_step(&mut r, SimTime(1));
    assert_eq!((shape.decode_seqs, shape.prefill_tokens), (0, 10), "the prefill runs without the decode");
    r.step_done(SimTime(2), &mut out);
    // Now 29 + 19 tokens remain to decode (× 0.7 = 33.6 reserved) and 22 are held:
    // 10 + 50 = 60 > 100 − 22 − 33.6 = 44.4 though the prompt's 10 fit.
    r.arrive(SimTime(2), job(RequestId(2), 10, 50, None), &mut out);
    let shape = start_step(&mut r, SimTime(2));
    assert_eq!((shape.decode_seqs, shape.prefill_tokens, r.waiting()), (2, 0, 1));
}

/// TensorRT-LLM, `capacityScheduler.cpp` `GuaranteedNoEvictScheduler`:
/// a request is scheduled only if the blocks of its prompt plus its
/// maximum output are free, reserved at once, so it never needs eviction;
/// `microBatchScheduler.cpp`: context and generation share a step within
/// `max_num_tokens`, a context that does not fit whole waits (chunked
/// context off).
#[test]
fn trtllm_reserves_a_lifetime_at_admission_and_never_preempts() {
    let cfg = ReplicaConfig {
        block_tokens: 32,
        max_batched_tokens: 100,
        ..config(Policy::Trtllm { chunked: false }, 8, Preemption::Recompute)
    };
    let mut r = Replica::new(0, cfg);
    let mut out = Vec::new();
    r.arrive(SimTime::ZERO, job(RequestId(0), 40, 100, None), &mut out);
    r.arrive(SimTime::ZERO, job(RequestId(1), 40, 100, None), &mut out);
    r.arrive(SimTime::ZERO, job(RequestId(2), 30, 10, None), &mut out);
    let shape = start_step(&mut r, SimTime::ZERO);
    assert_eq!(r.kv_used_blocks(), 5, "request 0's ceil(140 / 32) blocks, reserved at once");
    assert_eq!((shape.prefill_tokens, r.waiting()), (40, 2), "request 1's lifetime (5 more) does not fit, FCFS");
    let (r, responses, _) = drive(
        ReplicaConfig {
            block_tokens: 32,
            max_batched_tokens: 100,
            ..config(Policy::Trtllm { chunked: false }, 8, Preemption::Recompute)
        },
        &[(40, 100), (40, 100), (30, 10), (150, 1)],
    );
    assert_eq!(r.stats().preemptions, 0);
    let outcomes: Vec<_> = responses.iter().map(|(q, o, _)| (q.0, *o)).collect();
    assert!(
        outcomes.contains(&(3, Outcome::Failed)),
        "a 150-token context over max_num_tokens is refused: {outcomes:?}"
    );
    assert_eq!(outcomes.iter().filter(|(_, o)| *o == Outcome::Completed).count(), 3);
}

/// Continuous batching never runs a prompt longer than
/// `max_batched_tokens` as one oversized step: it refuses it on arrival,
/// as vLLM without chunked prefill does ("prompt is too long").
#[test]
fn continuous_refuses_a_prompt_over_the_step_budget() {
    let cfg = ReplicaConfig { max_batched_tokens: 100, ..config(Policy::Continuous, 1000, Preemption::Recompute) };
    let (_, responses, shapes) = drive(cfg, &[(150, 5), (50, 5)]);
    assert_eq!(responses.iter().map(|(q, o, _)| (q.0, *o)).collect::<Vec<_>>()[0], (0, Outcome::Failed));
    assert!(shapes.iter().all(|s| s.prefill_tokens <= 100));
}

/// TensorRT-LLM's overlap scheduler (`PyExecutor._executor_loop_overlap`,
/// on unless `disable_overlap_scheduler`) and SGLang's
/// (`Scheduler.event_loop_overlap`): each loop schedules and launches step
/// j+1, then waits for step j and handles its outputs, so the plan for the
/// step that starts when step j ends was made when step j started. A
/// request that arrives while step j runs first runs in step j+2; without
/// the overlap, in step j+1. An idle engine takes it at once.
#[test]
fn an_overlap_scheduler_admits_a_request_one_step_later() {
    let first_step_with = |overlap: bool| {
        let cfg = ReplicaConfig {
            block_tokens: 32,
            max_batched_tokens: 1000,
            overlap,
            ..config(Policy::Trtllm { chunked: false }, 100, Preemption::Recompute)
        };
        let mut r = Replica::new(0, cfg);
        let mut out = Vec::new();
        r.arrive(SimTime::ZERO, job(RequestId(0), 40, 10, None), &mut out);
        assert_eq!(start_step(&mut r, SimTime::ZERO).prefill_tokens, 40, "an idle engine plans with it at once");
        r.step_done(SimTime(10), &mut out);
        start_step(&mut r, SimTime(10));
        // Arrives while step 1 (10..20) runs.
        r.arrive(SimTime(15), job(RequestId(1), 50, 10, None), &mut out);
        r.step_done(SimTime(20), &mut out);
        if start_step(&mut r, SimTime(20)).prefill_tokens == 50 {
            return 2;
        }
        r.step_done(SimTime(30), &mut out);
        assert_eq!(start_step(&mut r, SimTime(30)).prefill_tokens, 50);
        3
    };
    assert_eq!(first_step_with(false), 2, "without the overlap: the step after the one it arrived in");
    assert_eq!(first_step_with(true), 3, "with it: one step later");
}

/// The API server streams each step's tokens one after another: with a
/// cost per token, a first token and an answer are delivered when the
/// stream has sent them, behind the tokens queued before; with none, at
/// the step's end.
#[test]
fn the_token_stream_delivers_tokens_one_after_another() {
    let delivered = |cost_ns: u64| {
        let cfg = ReplicaConfig {
            token_stream_cost: SimDuration(cost_ns),
            ..config(Policy::Continuous, 1000, Preemption::Recompute)
        };
        let (_, responses, _) = drive(cfg, &[(10, 3), (10, 3), (10, 3)]);
        responses.iter().map(|(_, _, s)| (s.first_token.unwrap().0, s.last_token.unwrap().0)).collect::<Vec<_>>()
    };
    // Steps end at 1, 2, 3 ms: the prompts' first tokens (3), then two
    // decode steps of 3 tokens each.
    assert_eq!(delivered(0), vec![(1_000_000, 3_000_000); 3]);
    // 0.5 ms a token: the first three leave by 2.5 ms, the next three by
    // 4 ms (the stream was busy until 2.5 ms when they came at 2 ms), the
    // last three by 5.5 ms: the stream, not the steps, sets the pace.
    assert_eq!(delivered(500_000), vec![(2_500_000, 5_500_000); 3]);
}
