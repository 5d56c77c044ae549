//! The LLM serving core: token-level requests on model replicas, scheduled
//! step by step (iteration-level), behind a router.
//!
//! Same sans-IO contract as the rest of `core`: the driver feeds
//! `(now, Input)`, the core pushes `Action`s. A replica asks for one step at
//! a time (`StartStep` with the step's [`StepShape`]: the sums the
//! step-time model needs); the driver answers `StepDone` when the modeled —
//! or real — GPU finishes it. Policies (static, continuous, chunked
//! prefill), the paged KV cache and preemption live in `replica/`;
//! request placement in `router.rs`; the prefix cache in `prefix.rs`.
//!
//! Disaggregated serving ([`LlmScheduler::with_disaggregation`]): the first
//! `prefill_replicas` replicas form the prefill pool (role `PrefillOnly`),
//! the rest the decode pool (`DecodeOnly`). Arrivals are routed within the
//! prefill pool by the configured router. When a prefill ends, the first
//! token is produced there (TTFT stops) and the core asks the driver to
//! move the KV (`TransferKv`, `prompt tokens × whole-model KV bytes/token`)
//! to the decode replica with the fewest outstanding requests, counting
//! transfers already headed to it (ties to the lowest index; O(decode
//! replicas) per transfer). The driver models the link and answers
//! `KvArrived`; only then are the prefill replica's blocks freed, and the
//! sequence waits in the decode replica's arrived-KV queue until its blocks
//! fit there. Nothing is dropped: every request still gets one outcome.

mod prefix;
mod replica;
mod router;
mod shape;

pub use prefix::{Prefix, PrefixCacheConfig, PrefixEviction};
pub use replica::{Cancel, Handoff, Load, Policy, Preemption, Prefilled, Replica, ReplicaConfig, ReplicaStats, Role};
pub use router::RouterPolicy;
pub use shape::StepShape;

use super::{IdMap, Outcome, RequestId};
use crate::time::SimTime;
use rand_chacha::ChaCha8Rng;
use router::Router;

/// What the driver tells the LLM core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A request arrived now with its prompt and (known to the model) output
    /// length; `prefix` is the cached prefix its prompt starts with, if any
    /// (a system prompt, or its conversation's earlier turns); `session` is
    /// its conversation, if any: when it completes, its whole context stays
    /// cached under that id as the next turn's prefix.
    Arrival { request: RequestId, prompt_tokens: u32, output_tokens: u32, prefix: Option<Prefix>, session: Option<u32> },
    /// Replica `replica` finished the step it was asked to run.
    StepDone { replica: u32 },
    /// A timer armed with `ArmTimer { replica, at }` fired.
    Timer { replica: u32, at: SimTime },
    /// The KV transfer asked for by `TransferKv` with these fields completed.
    KvArrived { request: RequestId, from: u32, to: u32, handle: u32 },
    /// Stop serving `request` (its caller gave up, or a check stopped it):
    /// it is answered `Cancelled` once its queue slot, batch slot and KV
    /// blocks are free — now, or when the step it is in ends (a GPU step is
    /// not interrupted; if that step completes it, it completes). Ignored
    /// for a request already answered.
    Cancel { request: RequestId },
}

/// A new request, as a replica takes it (the fields of `Input::Arrival`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    pub request: RequestId,
    pub prompt_tokens: u32,
    pub output_tokens: u32,
    pub prefix: Option<Prefix>,
    pub session: Option<u32>,
}

/// Timing of a finished request, for TTFT / TPOT / end-to-end metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    pub arrived: SimTime,
    /// When it first entered a batch (None if it never did).
    pub admitted: Option<SimTime>,
    /// When the first output token was produced (None if none was).
    pub first_token: Option<SimTime>,
    pub prompt_tokens: u32,
    pub output_tokens: u32,
}

/// What the LLM core asks the driver to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Run one step on `replica`; `swap_bytes` of KV cache move over PCIe
    /// (swap preemption) before it. Report `StepDone` when finished.
    StartStep { replica: u32, shape: StepShape, swap_bytes: u64 },
    /// Deliver `outcome` to the caller of `request`.
    Respond { request: RequestId, outcome: Outcome, served: Served },
    /// Feed `Input::Timer { replica, at }` back at `at`.
    ArmTimer { replica: u32, at: SimTime },
    /// Move `bytes` of KV cache of `request` (held in slot `handle` of
    /// prefill replica `from`) to decode replica `to`; answer
    /// `Input::KvArrived` with the same fields when the transfer completes.
    TransferKv { request: RequestId, from: u32, to: u32, handle: u32, bytes: u64 },
}

/// Separate prefill and decode pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disaggregation {
    /// Replicas `0..prefill_replicas` prefill; the rest decode. Both pools
    /// must be non-empty.
    pub prefill_replicas: u32,
    /// KV bytes of one token of the whole model (all layers, all KV heads).
    pub kv_bytes_per_token: u64,
}

/// Replicas of one model behind a router.
pub struct LlmScheduler {
    replicas: Vec<Replica>,
    router: Router,
    disaggregation: Option<Disaggregation>,
    /// Per decode replica: transfers headed to it, not yet arrived.
    incoming: Vec<u64>,
    scratch: Vec<Prefilled>,
    /// Σ of every replica's load, updated per input from the touched ones.
    totals: Load,
    /// The replica holding each unanswered request (the prefill replica
    /// while its KV is in transfer), so a cancel finds it in O(1).
    location: IdMap<u32>,
    /// Requests cancelled while their KV was in transfer.
    stopping: Vec<RequestId>,
    /// Chunk boundaries reached (see [`LlmScheduler::watch_chunks`]).
    chunks: Vec<(RequestId, u32)>,
}

impl LlmScheduler {
    /// `rng` is drawn from only by power-of-two-choices routing.
    pub fn new(replicas: Vec<Replica>, routing: RouterPolicy, rng: ChaCha8Rng) -> Self {
        LlmScheduler {
            router: Router::new(routing, rng),
            replicas,
            disaggregation: None,
            incoming: Vec::new(),
            scratch: Vec::new(),
            totals: Load::default(),
            location: IdMap::default(),
            stopping: Vec::new(),
            chunks: Vec::new(),
        }
    }

    /// Streaming output checks: from now on, every replica reports each
    /// sequence's every `tokens`-th generated token (short of its last,
    /// which its `Respond` reports); read them with
    /// [`LlmScheduler::drain_chunks`] after each input. O(1) per boundary
    /// plus O(log n), nothing per step otherwise.
    pub fn watch_chunks(mut self, tokens: u32) -> Self {
        self.replicas.iter_mut().for_each(|r| r.watch_chunks(tokens));
        self
    }

    /// `(request, tokens generated so far)` per chunk boundary reached by
    /// the last input, in the order the replica produced them.
    pub fn drain_chunks(&mut self) -> std::vec::Drain<'_, (RequestId, u32)> {
        self.chunks.drain(..)
    }

    /// Splits the replicas into a prefill pool (the first
    /// `d.prefill_replicas`) and a decode pool (the rest), setting roles.
    ///
    /// # Panics
    /// If either pool would be empty (the scenario validator rejects that).
    pub fn with_disaggregation(mut self, d: Disaggregation) -> Self {
        let p = d.prefill_replicas as usize;
        assert!(p >= 1 && p < self.replicas.len(), "both pools need a replica: {p} of {}", self.replicas.len());
        for (i, r) in self.replicas.iter_mut().enumerate() {
            r.set_role(if i < p { Role::PrefillOnly } else { Role::DecodeOnly });
        }
        self.incoming = vec![0; self.replicas.len() - p];
        self.disaggregation = Some(d);
        self
    }

    /// Replicas that take arrivals: the prefill pool, or all.
    fn entry_pool(&self) -> usize {
        self.disaggregation.map_or(self.replicas.len(), |d| d.prefill_replicas as usize)
    }

    /// Sends every prefill finished on `from` to the least-outstanding
    /// decode replica.
    fn transfer_prefilled(&mut self, from: u32, out: &mut Vec<Action>) {
        let Some(d) = self.disaggregation else { return };
        let p = d.prefill_replicas as usize;
        self.scratch.extend(self.replicas[from as usize].drain_prefilled());
        for done in self.scratch.drain(..) {
            let i = (0..self.incoming.len())
                .min_by_key(|&i| self.replicas[p + i].outstanding() + self.incoming[i])
                .unwrap_or(0);
            self.incoming[i] += 1;
            out.push(Action::TransferKv {
                request: done.request,
                from,
                to: (p + i) as u32,
                handle: done.handle,
                bytes: done.ctx_tokens * d.kv_bytes_per_token,
            });
        }
    }

    pub fn replicas(&self) -> &[Replica] {
        &self.replicas
    }

    /// Requests waiting or running on any replica. O(1).
    pub fn outstanding(&self) -> u64 {
        self.totals.outstanding
    }

    /// The pool's summed load (kept incrementally). O(1).
    pub fn load(&self) -> Load {
        self.totals
    }

    /// Runs `f`, which may change only the replicas in `touched`, and folds
    /// their change of load into the pool totals.
    fn tracked(&mut self, touched: &[usize], f: impl FnOnce(&mut Self)) {
        let sum = |s: &Self| {
            touched.iter().fold(Load::default(), |acc, &i| acc.replace(Load::default(), s.replicas[i].load()))
        };
        let before = sum(self);
        f(self);
        let after = sum(self);
        self.totals = self.totals.replace(before, after);
    }

    pub fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Action>) {
        let start = out.len();
        self.dispatch(now, input, out);
        for action in &out[start..] {
            if let Action::Respond { request, .. } = action {
                self.location.remove(&request.0);
            }
        }
    }

    fn dispatch(&mut self, now: SimTime, input: Input, out: &mut Vec<Action>) {
        match input {
            Input::Arrival { request, prompt_tokens, output_tokens, prefix, session } => {
                let pool = self.entry_pool();
                let r = self.router.pick(&self.replicas[..pool], prefix.map(|p| p.id), session);
                self.location.insert(request.0, r as u32);
                self.tracked(&[r], |s| {
                    let replica = &mut s.replicas[r];
                    let job = Job { request, prompt_tokens, output_tokens, prefix, session };
                    replica.arrive(now, job, out);
                    replica.poll(now, out);
                });
            }
            Input::StepDone { replica } if (replica as usize) < self.replicas.len() => {
                self.tracked(&[replica as usize], |s| {
                    s.replicas[replica as usize].step_done(now, out);
                    s.chunks.extend(s.replicas[replica as usize].drain_chunks());
                    s.transfer_prefilled(replica, out);
                    s.replicas[replica as usize].poll(now, out);
                });
            }
            Input::Timer { replica, at } if (replica as usize) < self.replicas.len() => {
                self.tracked(&[replica as usize], |s| {
                    let r = &mut s.replicas[replica as usize];
                    r.timer(at);
                    r.poll(now, out);
                });
            }
            Input::KvArrived { request, from, to, handle } => {
                let Some(d) = self.disaggregation else { return };
                let Some(i) = (to as usize).checked_sub(d.prefill_replicas as usize) else { return };
                if i >= self.incoming.len() || from as usize >= self.replicas.len() {
                    return;
                }
                self.tracked(&[from as usize, to as usize], |s| {
                    let Some(h) = s.replicas[from as usize].release(handle, request) else { return };
                    s.incoming[i] -= 1;
                    s.location.insert(request.0, to);
                    s.replicas[to as usize].accept(h, out);
                    if let Some(k) = s.stopping.iter().position(|&r| r == request) {
                        s.stopping.swap_remove(k);
                        s.replicas[to as usize].cancel(request, out);
                    }
                    s.replicas[to as usize].poll(now, out);
                    // Freed blocks may let the prefill replica admit more.
                    s.replicas[from as usize].poll(now, out);
                });
            }
            Input::Cancel { request } => {
                let Some(&r) = self.location.get(&request.0) else { return };
                self.tracked(&[r as usize], |s| match s.replicas[r as usize].cancel(request, out) {
                    Cancel::Stopped => s.replicas[r as usize].poll(now, out),
                    Cancel::InTransfer if !s.stopping.contains(&request) => s.stopping.push(request),
                    Cancel::InTransfer | Cancel::AtStepEnd | Cancel::NotHere => {}
                });
            }
            Input::StepDone { .. } | Input::Timer { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;
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
        let d = Disaggregation { prefill_replicas: prefill.len() as u32, kv_bytes_per_token: KV_BYTES_PER_TOKEN };
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
                Input::Arrival {
                    request: RequestId(i as u64),
                    prompt_tokens,
                    output_tokens,
                    prefix: None,
                    session: None,
                },
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
                    Action::Respond { request, outcome, served } => {
                        trace.responses.push((request, outcome, served, now))
                    }
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
}
