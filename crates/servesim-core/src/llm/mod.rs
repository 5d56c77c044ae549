//! The LLM serving core: token-level requests on model replicas, scheduled
//! step by step (iteration-level), behind a router.
//!
//! Same sans-IO contract as the rest of `core`: the driver feeds
//! `(now, Input)`, the core pushes `Action`s. A replica asks for one step at
//! a time (`StartStep` with the step's [`StepShape`]: the sums the
//! step-time model needs); the driver answers `StepDone` when the modeled —
//! or real — GPU finishes it. Policies (static, continuous, chunked
//! prefill), the paged KV cache and preemption live in `replica/`;
//! request placement in `router.rs`; the prefix cache in `prefix.rs`; the
//! inputs and actions themselves in `protocol.rs`.
//!
//! Disaggregated serving ([`LlmScheduler::with_disaggregation`]): the first
//! `prefill_replicas` replicas form the prefill pool (role `PrefillOnly`),
//! the rest the decode pool (`DecodeOnly`). Arrivals are routed within the
//! prefill pool by the configured router. When a prefill ends, the first
//! token is produced there (TTFT stops) and the core asks the driver to
//! move the KV (`TransferKv`, `prompt tokens × whole-model KV bytes/token`)
//! to the decode replica with the fewest outstanding requests, counting
//! transfers already headed to it (ties to the lowest index; a
//! [`LoadIndex`] answers and absorbs each change in a few word operations
//! at any pool size). The driver models the link and answers
//! `KvArrived`; only then are the prefill replica's blocks freed, and the
//! sequence waits in the decode replica's arrived-KV queue until its blocks
//! fit there. Nothing is dropped: every request still gets one outcome.
//!
//! Failures (`Input::ReplicaFailed` / `ReplicaRepaired`): a failed replica
//! answers what it held `Failed` and takes no work until repaired. While
//! one is down, an arrival the router places on a down replica goes to the
//! least-outstanding replica that is up instead (the down one's view is
//! raised above every live load, so each down replica costs one re-pick
//! at most until it next changes); with every replica down it is answered
//! `Failed` at once. Without failures nothing of this runs.
//!
//! Draining (`Input::ReplicaDrain`, for scale-in): the replica finishes
//! what it holds and is routed around as a failed one is, until
//! `ReplicaRepaired` opens it again.

mod load_index;
mod prefix;
mod protocol;
mod replica;
mod router;
mod shape;
#[cfg(test)]
mod tests;

pub use load_index::LoadIndex;
pub use prefix::{Prefix, PrefixCacheConfig, PrefixEviction};
pub use protocol::{Action, Input, Job, Served};
pub use replica::{Cancel, Handoff, Load, Policy, Preemption, Prefilled, Replica, ReplicaConfig, ReplicaStats, Role};
pub use router::{Router, RouterPolicy};
pub use shape::StepShape;

use super::{IdMap, RequestId};
use crate::time::{SimDuration, SimTime};
use rand_chacha::ChaCha8Rng;

/// Separate prefill and decode pools, and the link a KV transfer crosses
/// (the driver times each [`Action::TransferKv`] with
/// [`Disaggregation::transfer_time`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Disaggregation {
    /// Replicas `0..prefill_replicas` prefill; the rest decode. Both pools
    /// must be non-empty.
    pub prefill_replicas: u32,
    /// KV bytes of one token of the whole model (all layers, all KV heads).
    pub kv_bytes_per_token: u64,
    pub link_bandwidth_bytes_per_s: f64,
    pub link_latency: SimDuration,
}

impl Disaggregation {
    /// latency + bytes / bandwidth.
    pub fn transfer_time(&self, bytes: u64) -> SimDuration {
        self.link_latency + SimDuration::from_secs_f64(bytes as f64 / self.link_bandwidth_bytes_per_s)
    }
}

/// Replicas of one model behind a router.
pub struct LlmScheduler {
    replicas: Vec<Replica>,
    router: Router,
    disaggregation: Option<Disaggregation>,
    /// Per decode replica: transfers headed to it, not yet arrived.
    incoming: Vec<u64>,
    /// Per decode replica: outstanding + incoming, for hand-off placement.
    decode_loads: LoadIndex,
    scratch: Vec<Prefilled>,
    /// A touched replica's prefix-cache changes, on their way to the router.
    prefix_changes: Vec<u32>,
    /// Σ of every replica's load, updated per input from the touched ones.
    totals: Load,
    /// The replica holding each unanswered request (the prefill replica
    /// while its KV is in transfer), so a cancel finds it in O(1).
    location: IdMap<u32>,
    /// Requests cancelled while their KV was in transfer.
    stopping: Vec<RequestId>,
    /// Chunk boundaries reached (see [`LlmScheduler::watch_chunks`]).
    chunks: Vec<(RequestId, u32)>,
    /// Replicas taking no arrivals: failed and not yet repaired, or draining.
    closed: u32,
}

impl LlmScheduler {
    /// `rng` is drawn from only by power-of-two-choices routing.
    pub fn new(replicas: Vec<Replica>, routing: RouterPolicy, rng: ChaCha8Rng) -> Self {
        LlmScheduler {
            router: Router::new(routing, rng, replicas.len()),
            replicas,
            disaggregation: None,
            incoming: Vec::new(),
            decode_loads: LoadIndex::new(0),
            scratch: Vec::new(),
            prefix_changes: Vec::new(),
            totals: Load::default(),
            location: IdMap::default(),
            stopping: Vec::new(),
            chunks: Vec::new(),
            closed: 0,
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
        self.decode_loads = LoadIndex::new(self.replicas.len() - p);
        self.router = self.router.with_pool(p);
        self.disaggregation = Some(d);
        let all: Vec<usize> = (0..self.replicas.len()).collect();
        self.sync_views(&all);
        self
    }

    /// Sends every prefill finished on `from` to the least-outstanding
    /// decode replica.
    fn transfer_prefilled(&mut self, from: u32, out: &mut Vec<Action>) {
        let Some(d) = self.disaggregation else { return };
        let p = d.prefill_replicas as usize;
        self.scratch.extend(self.replicas[from as usize].drain_prefilled());
        for done in self.scratch.drain(..) {
            let i = self.decode_loads.least().unwrap_or(0);
            self.incoming[i] += 1;
            self.decode_loads.set(i, self.replicas[p + i].outstanding() + self.incoming[i]);
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
        self.sync_views(touched);
    }

    /// Replicas that take arrivals: the prefill pool, or all.
    fn entry_pool(&self) -> usize {
        self.router.len()
    }

    /// Brings the router's and the decode pool's view of replicas
    /// `touched` up to date: their outstanding counts and which prefixes
    /// they cache. Per replica, one [`LoadIndex`] change (a few word
    /// writes) plus the router's cost per prefix change.
    fn sync_views(&mut self, touched: &[usize]) {
        let entry = self.entry_pool();
        for &i in touched {
            let replica = &mut self.replicas[i];
            if i < entry {
                self.router.set_load(i, replica.outstanding());
                self.prefix_changes.extend(replica.drain_prefix_changes());
                for id in self.prefix_changes.drain(..) {
                    self.router.set_holds(i, id, replica.has_prefix(id));
                }
            } else if let Some(d) = i.checked_sub(entry).filter(|&d| d < self.incoming.len()) {
                self.decode_loads.set(d, replica.outstanding() + self.incoming[d]);
                replica.drain_prefix_changes().for_each(drop);
            }
        }
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
                let Some(r) = self.place(prefix.map(|p| p.id), session) else {
                    let served = Served {
                        arrived: now,
                        admitted: None,
                        first_token: None,
                        last_token: None,
                        prompt_tokens,
                        output_tokens: 0,
                    };
                    out.push(Action::Respond { request, outcome: crate::Outcome::Failed, served });
                    return;
                };
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
            Input::ReplicaFailed { replica } if (replica as usize) < self.replicas.len() => {
                let i = replica as usize;
                if self.replicas[i].is_down() {
                    return;
                }
                if self.replicas[i].takes_arrivals() {
                    self.closed += 1;
                }
                self.tracked(&[i], |s| {
                    s.replicas[i].fail(out);
                });
            }
            Input::ReplicaRepaired { replica } if (replica as usize) < self.replicas.len() => {
                let i = replica as usize;
                if self.replicas[i].takes_arrivals() {
                    return;
                }
                self.closed -= 1;
                self.tracked(&[i], |s| {
                    s.replicas[i].repair();
                    s.replicas[i].poll(now, out);
                });
            }
            Input::ReplicaDrain { replica } if (replica as usize) < self.replicas.len() => {
                let i = replica as usize;
                if self.replicas[i].takes_arrivals() {
                    self.closed += 1;
                    self.replicas[i].drain();
                }
            }
            Input::StepDone { .. }
            | Input::Timer { .. }
            | Input::ReplicaFailed { .. }
            | Input::ReplicaRepaired { .. }
            | Input::ReplicaDrain { .. } => {}
        }
    }

    /// The replica for an arrival: the router's pick, or, when that one is
    /// closed (down or draining), the least-outstanding replica that is
    /// open; `None` when every replica of the entry pool is closed.
    fn place(&mut self, prefix: Option<u32>, session: Option<u32>) -> Option<usize> {
        let mut r = self.router.pick(prefix, session);
        if self.closed == 0 {
            return Some(r);
        }
        for _ in 0..=self.closed {
            if self.replicas[r].takes_arrivals() {
                return Some(r);
            }
            // Above every live replica's outstanding count, so it is never the least again until it changes.
            self.router.set_load(r, self.totals.outstanding + 1);
            r = self.router.least()?;
        }
        None
    }
}
