use super::*;
use crate::time::SimDuration;
use crate::Outcome;
use rand::SeedableRng;
use std::collections::BTreeMap;

const KV_BYTES_PER_TOKEN: u64 = 1000;

/// `prefill` prefill replicas then decode replicas with the given KV blocks.
fn scheduler(prefill: &[u64], decode: &[u64]) -> LlmScheduler {
    let replicas = prefill
        .iter()
        .chain(decode)
        .enumerate()
        .map(|(i, &kv)| Replica::new(i as u32, ReplicaConfig::new(kv)))
        .collect();
    let d = Disaggregation {
        prefill_replicas: prefill.len() as u32,
        kv_bytes_per_token: KV_BYTES_PER_TOKEN,
        link_bandwidth_bytes_per_s: 50e9,
        link_latency: SimDuration::ZERO,
    };
    LlmScheduler::new(replicas, RouterPolicy::RoundRobin, ChaCha8Rng::seed_from_u64(1)).with_disaggregation(d)
}

fn ms(n: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_millis(n)
}

#[derive(Default)]
struct Trace {
    responses: Vec<(RequestId, Outcome, Served, SimTime)>,
    /// (request, from, to, bytes, started)
    transfers: Vec<(RequestId, u32, u32, u64, SimTime)>,
    /// Most sequences seen waiting on a decode replica (arrived KV).
    max_decode_waiting: u64,
    /// Chunk boundaries reported (with `watch_chunks`).
    chunks: Vec<(RequestId, u32)>,
}

/// A tiny driver: 1 ms steps, `transfer` per KV transfer, arrivals
/// `(at_ms, prompt, output)`; runs until no event is left.
fn simulate(core: &mut LlmScheduler, requests: &[(u64, u32, u32)], transfer: SimDuration) -> Trace {
    simulate_with_cancels(core, requests, &[], transfer)
}

/// As `simulate`, plus `Cancel` inputs `(at_ms, request)`.
fn simulate_with_cancels(
    core: &mut LlmScheduler,
    requests: &[(u64, u32, u32)],
    cancels: &[(u64, u64)],
    transfer: SimDuration,
) -> Trace {
    let mut events: BTreeMap<(SimTime, u64), Input> = BTreeMap::new();
    let mut n = 0u64;
    let mut push = |events: &mut BTreeMap<_, _>, at: SimTime, input: Input| {
        events.insert((at, n), input);
        n += 1;
    };
    for (i, &(at, prompt_tokens, output_tokens)) in requests.iter().enumerate() {
        push(
            &mut events,
            ms(at),
            Input::Arrival { request: RequestId(i as u64), prompt_tokens, output_tokens, prefix: None, session: None },
        );
    }
    for &(at, r) in cancels {
        push(&mut events, ms(at), Input::Cancel { request: RequestId(r) });
    }
    let (mut trace, mut out) = (Trace::default(), Vec::new());
    let p = core.entry_pool();
    while let Some(((now, _), input)) = events.pop_first() {
        core.handle(now, input, &mut out);
        trace.chunks.extend(core.drain_chunks());
        for a in out.drain(..) {
            match a {
                Action::StartStep { replica, shape, .. } => {
                    if core.replicas()[replica as usize].role() == Role::PrefillOnly {
                        assert_eq!(shape.decode_seqs, 0, "a prefill replica never decodes");
                    }
                    push(&mut events, now + SimDuration::from_millis(1), Input::StepDone { replica })
                }
                Action::Respond { request, outcome, served } => trace.responses.push((request, outcome, served, now)),
                Action::ArmTimer { replica, at } => push(&mut events, at, Input::Timer { replica, at }),
                Action::TransferKv { request, from, to, handle, bytes } => {
                    trace.transfers.push((request, from, to, bytes, now));
                    push(&mut events, now + transfer, Input::KvArrived { request, from, to, handle });
                }
            }
        }
        let sum = core.replicas().iter().fold(Load::default(), |acc, r| acc.replace(Load::default(), r.load()));
        assert_eq!(core.load(), sum, "incremental pool totals drifted");
        let decode_waiting = core.replicas()[p..].iter().map(Replica::waiting).max().unwrap_or(0);
        trace.max_decode_waiting = trace.max_decode_waiting.max(decode_waiting);
    }
    trace
}

#[test]
fn kv_moves_to_the_decode_pool_and_is_freed_on_the_prefill_replica_after_the_transfer() {
    let mut core = scheduler(&[1000], &[1000]);
    let mut out = Vec::new();
    core.handle(
        ms(0),
        Input::Arrival { request: RequestId(7), prompt_tokens: 100, output_tokens: 5, prefix: None, session: None },
        &mut out,
    );
    assert!(matches!(out.as_slice(), [Action::StartStep { replica: 0, .. }]), "{out:?}");
    out.clear();
    core.handle(ms(1), Input::StepDone { replica: 0 }, &mut out);
    // Prefill done: the first token is out, the KV is held for the transfer.
    let [Action::TransferKv { request, from: 0, to: 1, handle, bytes }] = out[..] else { panic!("{out:?}") };
    assert_eq!((request, bytes), (RequestId(7), 100 * KV_BYTES_PER_TOKEN));
    assert_eq!(core.replicas()[0].kv_used_blocks(), 7, "ceil(100 / 16) blocks held while in transit");
    assert_eq!(core.replicas()[0].in_transfer(), 1);
    assert_eq!(core.outstanding(), 1);
    out.clear();
    core.handle(ms(4), Input::KvArrived { request, from: 0, to: 1, handle }, &mut out);
    assert_eq!(core.replicas()[0].kv_used_blocks(), 0, "freed once the transfer completes");
    assert_eq!(core.replicas()[0].outstanding(), 0);
    assert_eq!(core.replicas()[1].kv_used_blocks(), 7);
    assert_eq!(core.replicas()[1].running(), 1);
    assert_eq!(core.outstanding(), 1);
    let [Action::StartStep { replica: 1, shape, .. }] = out[..] else { panic!("{out:?}") };
    assert_eq!(shape, StepShape::decode(1, 100), "decode only, no prefill on the decode replica");
    // A stale or repeated KvArrived changes nothing.
    out.clear();
    core.handle(ms(4), Input::KvArrived { request, from: 0, to: 1, handle }, &mut out);
    assert!(out.is_empty());
    assert_eq!(core.outstanding(), 1);
    // Four decode steps produce tokens 2..=5.
    for t in 5..9 {
        out.clear();
        core.handle(ms(t), Input::StepDone { replica: 1 }, &mut out);
    }
    let [Action::Respond { outcome: Outcome::Completed, served, .. }] = out[..] else { panic!("{out:?}") };
    assert_eq!(served.first_token, Some(ms(1)), "TTFT ends at prefill, before the transfer");
    assert_eq!(served.output_tokens, 5);
    assert_eq!(core.outstanding(), 0);
    assert_eq!(core.replicas()[1].kv_used_blocks(), 0);
}

#[test]
fn a_full_decode_replica_queues_arrived_kv_until_blocks_free() {
    // 20 blocks of 16 tokens on the decode replica: one 200-token
    // context (13 blocks) fits, two do not.
    let mut core = scheduler(&[1000], &[20]);
    let requests = [(0, 200, 50), (0, 200, 50), (0, 200, 50)];
    let trace = simulate(&mut core, &requests, SimDuration::from_millis(2));
    assert!(trace.max_decode_waiting >= 1, "arrived KV must wait for blocks");
    assert_eq!(trace.transfers.len(), 3);
    assert_eq!(trace.responses.len(), 3);
    assert!(trace.responses.iter().all(|(_, o, s, _)| *o == Outcome::Completed && s.output_tokens == 50));
    assert!(core.replicas().iter().all(|r| r.kv_used_blocks() == 0 && r.outstanding() == 0));
}

#[test]
fn every_request_gets_exactly_one_outcome() {
    // Two prefill replicas, two small decode replicas; single-token
    // outputs finish on the prefill replica, prompts too big for a
    // decode replica fail there (not silently dropped), the rest
    // complete after a transfer.
    let mut core = scheduler(&[400, 400], &[60, 60]);
    let requests: Vec<(u64, u32, u32)> = (0..200u32)
        .map(|i| (u64::from(i % 50), 20 + i * 37 % 700, if i % 17 == 0 { 1 } else { 1 + i * 13 % 300 }))
        .collect();
    let trace = simulate(&mut core, &requests, SimDuration::from_millis(3));
    let mut seen = vec![0u32; requests.len()];
    for (r, ..) in &trace.responses {
        seen[r.0 as usize] += 1;
    }
    assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
    let fits = |p: u32, o: u32| u64::from(p + o).div_ceil(16) <= 60;
    for (r, outcome, served, at) in &trace.responses {
        let (_, p, o) = requests[r.0 as usize];
        let expect = if fits(p, o) || o == 1 { Outcome::Completed } else { Outcome::Failed };
        assert_eq!(*outcome, expect, "request {r:?} ({p}, {o})");
        if expect == Outcome::Completed {
            assert!(served.first_token.is_some_and(|t| t <= *at));
        }
    }
    // Every multi-token request that fits the prefill pool was transferred once.
    let multi = requests.iter().filter(|&&(_, p, o)| o > 1 && u64::from(p + o).div_ceil(16) <= 400).count();
    assert_eq!(trace.transfers.len(), multi);
    assert!(trace.transfers.iter().all(|&(r, from, to, bytes, _)| from < 2
        && to >= 2
        && bytes == u64::from(requests[r.0 as usize].1) * KV_BYTES_PER_TOKEN));
    assert!(core.replicas().iter().all(|r| r.kv_used_blocks() == 0 && r.outstanding() == 0));
    assert_eq!(core.outstanding(), 0);
}

/// Without preemption every boundary is reported once, in order. A
/// preempted sequence re-reports boundaries as it regenerates (the
/// stage ignores tokens it has already checked), so with preemption
/// only the set of boundaries is exact.
#[test]
fn watched_chunks_report_every_boundary() {
    let requests: Vec<(u64, u32, u32)> =
        (0..200u32).map(|i| (u64::from(i % 40), 20 + i * 37 % 300, 1 + i * 13 % 120)).collect();
    let plain = |kv| {
        let replicas = (0..2).map(|i| Replica::new(i, ReplicaConfig::new(kv))).collect();
        LlmScheduler::new(replicas, RouterPolicy::RoundRobin, ChaCha8Rng::seed_from_u64(1))
    };
    let cases = [
        ("disaggregated", scheduler(&[4000], &[4000, 4000]), true),
        ("plain", plain(4000), true),
        ("plain, preempting", plain(60), false),
    ];
    for (name, core, exact) in cases {
        let mut core = core.watch_chunks(5);
        let trace = simulate(&mut core, &requests, SimDuration::from_millis(2));
        let mut seen: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
        for (r, tokens) in &trace.chunks {
            seen.entry(r.0).or_default().push(*tokens);
        }
        let preempted: u64 = core.replicas().iter().map(|r| r.stats().preemptions).sum();
        assert_eq!(preempted == 0, exact, "{name}: {preempted} preemptions");
        for (r, outcome, ..) in &trace.responses {
            assert_eq!(*outcome, Outcome::Completed, "{name}");
            let output = requests[r.0 as usize].2;
            let expected: Vec<u32> = (1..).map(|k| 5 * k).take_while(|&t| t < output).collect();
            let mut got = seen.remove(&r.0).unwrap_or_default();
            if !exact {
                got.sort_unstable();
                got.dedup();
            }
            assert_eq!(got, expected, "{name}: request {r:?} of {output} tokens");
        }
        assert!(seen.is_empty(), "{name}");
    }
}

#[test]
fn cancels_anywhere_free_everything_and_answer_each_request_once() {
    let requests: Vec<(u64, u32, u32)> =
        (0..300u32).map(|i| (u64::from(i % 60), 20 + i * 37 % 500, 1 + i * 13 % 200)).collect();
    // Every third request is cancelled at some point of its life,
    // some twice, some long after it finished.
    let cancels: Vec<(u64, u64)> = (0..300u64)
        .filter(|i| i % 3 == 0)
        .flat_map(|i| [(i % 60 + i * 7 % 90, i), (i % 60 + i * 11 % 400, i)])
        .collect();
    let plain = || {
        let replicas = (0..3).map(|i| Replica::new(i, ReplicaConfig::new(120))).collect();
        LlmScheduler::new(replicas, RouterPolicy::RoundRobin, ChaCha8Rng::seed_from_u64(1))
    };
    for (name, mut core) in [("disaggregated", scheduler(&[400, 400], &[120, 120])), ("plain", plain())] {
        let trace = simulate_with_cancels(&mut core, &requests, &cancels, SimDuration::from_millis(3));
        let mut seen = vec![0u32; requests.len()];
        for (r, ..) in &trace.responses {
            seen[r.0 as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n == 1), "{name}: {seen:?}");
        let cancelled: Vec<_> = trace.responses.iter().filter(|(_, o, ..)| *o == Outcome::Cancelled).collect();
        assert!(cancelled.len() > 20, "{name}: {} cancelled", cancelled.len());
        for (r, _, served, _) in &cancelled {
            assert!(r.0 % 3 == 0, "{name}: only cancelled requests end cancelled");
            assert!(served.output_tokens < requests[r.0 as usize].2, "{name}: stopped before its last token");
        }
        let stats = core
            .replicas()
            .iter()
            .map(Replica::stats)
            .fold((0, 0), |a, s| (a.0 + s.cancelled, a.1 + s.cancelled_tokens));
        assert_eq!(stats.0, cancelled.len() as u64, "{name}");
        assert!(stats.1 > 0, "{name}: cancelled work is counted as wasted");
        assert!(core.replicas().iter().all(|r| r.kv_used_blocks() == 0 && r.outstanding() == 0), "{name}");
        assert_eq!(core.outstanding(), 0, "{name}");
        assert!(core.location.is_empty() && core.stopping.is_empty(), "{name}");
    }
}
