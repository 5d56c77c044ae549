//! The sim driver's multi-tenant front door: tenants' arrivals, the modeled
//! clients (timeouts, retries, breaker, idempotency cache) and the gateway
//! core, plugged into the LLM driver's event loop (`llm`) in front of
//! the LLM pool.
//!
//! Why a plug-in and not a second driver: the pool, its step-time model and
//! its metrics stay in one place; the LLM driver only forwards its events
//! (wrapping [`Event`]) and the pool's answers (`on_response`) here, and
//! counts gateway-held requests in its queue levels. The front door sees
//! the primary pool only through [`PrimaryPool`], so it does not care
//! whether a safety gate stands in front of it. Every attempt — each
//! retry included — is its own request in the recorder, with exactly one
//! terminal outcome: from the gateway (rate limited, overloaded, withdrawn)
//! or from the pool. A preempted request's `Cancelled` is not terminal: the
//! gateway requeues it and the recorder never sees that answer.
//!
//! Streams: tenants' own (`tenant/<name>/...`) and `clients/backoff`; a
//! scenario without tenants creates none of them.

use super::fallback::{FallbackEvent, FallbackPool};
use crate::core::gateway::{self, Gateway, Offer, Reason};
use crate::core::llm::{self, Served};
use crate::core::{Outcome, RequestId};
use crate::engine::RngStreams;
use crate::metrics::frontdoor::{BreakerChange, FrontDoorRecorder, FrontDoorSummary, Phases, TenantInfo};
use crate::metrics::Recorder;
use crate::model::clients::Client;
use crate::scenario::FrontDoorConfig;
use crate::time::{SimDuration, SimTime};
use crate::workload::tenants::{TenantArrival, TenantArrivals};
use crate::workload::Arrival;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};

/// The front door's own events.
#[derive(Debug, Clone, Copy)]
pub(super) enum Event {
    Arrival,
    Retry {
        logical: u64,
    },
    Timeout {
        request: RequestId,
    },
    /// Carry out gateway actions produced while the pool was answering.
    Pump,
    Fallback(FallbackEvent),
}

/// What a client wants (its attempts share it).
struct Logical {
    tenant: u32,
    prompt: u32,
    output: u32,
    first_at: SimTime,
    attempts: u32,
    measured: bool,
    /// Where it came from, for the pool to route by (see [`PrimaryPool::submit`]).
    origin: u32,
}

/// One attempt in flight.
struct Attempt {
    logical: u64,
    sent: SimTime,
    given_up: bool,
    /// The pool it was dispatched to (0: primary, 1: fallback).
    pool: usize,
}

/// Where the front door sends the primary pool's requests: the LLM core,
/// or — with a safety pipeline — its gate, which forwards only what passes
/// its input checks and checks what comes out.
pub(super) trait PrimaryPool {
    /// A dispatched request; `mix` is its tenant's safety traffic mix;
    /// `origin` is where it came from: 0 for a single pool's tenants, a
    /// fleet population's users' region and model for a fleet.
    fn submit(&mut self, now: SimTime, input: llm::Input, mix: Option<[f64; 3]>, origin: u32);
    /// A preempted or withdrawn request: stopped wherever it is.
    fn cancel(&mut self, now: SimTime, request: RequestId);
    /// KV-cache blocks in use in the pool.
    fn kv_used_blocks(&self) -> u64;
}

pub(super) struct FrontDoor<'a> {
    cfg: &'a FrontDoorConfig,
    arrivals: TenantArrivals,
    pending: Option<TenantArrival>,
    gateway: Gateway,
    fallback: Option<FallbackPool<'a>>,
    clients: Vec<Client>,
    backoff_rng: ChaCha8Rng,
    logical: BTreeMap<u64, Logical>,
    attempts: BTreeMap<RequestId, Attempt>,
    /// Idempotency keys whose result completed after the client gave up.
    results: BTreeSet<u64>,
    next_request: u64,
    next_logical: u64,
    out: Vec<gateway::Action>,
    rec: FrontDoorRecorder,
    /// The measured interval's start, and when arrivals stop.
    measure_from: SimTime,
    stop: SimTime,
    kv_total_blocks: u64,
}

impl<'a> FrontDoor<'a> {
    /// Arrivals stop at `stop`; measurement starts at `measure_from`;
    /// `width` is the timeline's window; the pool has `kv_total_blocks`.
    pub(super) fn new(
        cfg: &'a FrontDoorConfig,
        streams: &RngStreams,
        (measure_from, stop): (SimTime, SimTime),
        width: SimDuration,
        kv_total_blocks: u64,
    ) -> Self {
        let trigger = cfg.trigger.as_ref().map(|t| (SimTime::ZERO + t.at, SimTime::ZERO + t.until));
        FrontDoor {
            cfg,
            arrivals: TenantArrivals::new(&cfg.tenants, streams, Some(stop)),
            pending: None,
            gateway: Gateway::new(cfg.gateway.clone()),
            fallback: cfg.fallback.as_deref().map(|f| FallbackPool::new(f, streams)),
            clients: cfg.tenants.iter().map(|_| Client::new(cfg.clients)).collect(),
            backoff_rng: streams.stream("clients/backoff"),
            logical: BTreeMap::new(),
            attempts: BTreeMap::new(),
            results: BTreeSet::new(),
            next_request: 0,
            next_logical: 0,
            out: Vec::new(),
            rec: FrontDoorRecorder::new(cfg.tenants.len(), width, measure_from, trigger),
            measure_from,
            stop,
            kv_total_blocks: kv_total_blocks.max(1),
        }
    }

    pub(super) fn start(&mut self, sched: &mut impl FnMut(SimTime, Event)) {
        self.pending = self.arrivals.next();
        if let Some(a) = &self.pending {
            sched(a.at, Event::Arrival);
        }
    }

    /// Requests held in the gateway (waiting, not in the pool).
    pub(super) fn queued(&self) -> u64 {
        self.gateway.queued()
    }

    /// Requests in the fallback pool.
    pub(super) fn in_fallback(&self) -> u64 {
        self.fallback.as_ref().map_or(0, FallbackPool::outstanding)
    }

    pub(super) fn handle(
        &mut self,
        now: SimTime,
        event: Event,
        primary: &mut impl PrimaryPool,
        recorder: &mut Recorder,
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        self.observe(now, primary);
        match event {
            Event::Arrival => {
                let Some(a) = self.pending.take() else { return };
                self.request(now, a, 0, recorder, sched);
                self.pending = self.arrivals.next();
                if let Some(a) = &self.pending {
                    sched(a.at, Event::Arrival);
                }
            }
            Event::Retry { logical } => self.attempt(now, logical, recorder, sched),
            Event::Timeout { request } => self.timeout(now, request, sched),
            Event::Pump => {}
            Event::Fallback(e) => {
                if let Some(f) = self.fallback.as_mut() {
                    f.handle(now, e);
                }
            }
        }
        self.settle(now, primary, recorder, sched);
    }

    /// A request sent from outside the tenants' own arrivals (a fleet's
    /// populations), from `origin` (see [`PrimaryPool::submit`]).
    pub(super) fn arrive(
        &mut self,
        now: SimTime,
        arrival: TenantArrival,
        origin: u32,
        primary: &mut impl PrimaryPool,
        recorder: &mut Recorder,
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        self.observe(now, primary);
        self.request(now, arrival, origin, recorder, sched);
        self.settle(now, primary, recorder, sched);
    }

    /// The gateway learns how full the pools' KV caches are.
    fn observe(&mut self, now: SimTime, primary: &impl PrimaryPool) {
        let kv_used_fraction = primary.kv_used_blocks() as f64 / self.kv_total_blocks as f64;
        self.gateway.handle(now, gateway::Input::Observe { pool: 0, kv_used_fraction }, &mut self.out);
        if let Some(f) = &self.fallback {
            let kv_used_fraction = f.kv_used_fraction();
            self.gateway.handle(now, gateway::Input::Observe { pool: 1, kv_used_fraction }, &mut self.out);
        }
    }

    /// A client's new request: its first attempt goes out.
    fn request(
        &mut self,
        now: SimTime,
        a: TenantArrival,
        origin: u32,
        recorder: &mut Recorder,
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        let id = self.next_logical;
        self.next_logical += 1;
        let measured = recorder.measures(now);
        let logical = Logical {
            tenant: a.tenant,
            prompt: a.prompt_tokens,
            output: a.output_tokens,
            first_at: now,
            attempts: 0,
            measured,
            origin,
        };
        self.logical.insert(id, logical);
        self.rec.request(now);
        self.rec.tenants[a.tenant as usize].requests += u64::from(measured);
        self.attempt(now, id, recorder, sched);
    }

    /// Carries out what the gateway decided, and the fallback pool's answers.
    fn settle(
        &mut self,
        now: SimTime,
        primary: &mut impl PrimaryPool,
        recorder: &mut Recorder,
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        self.apply(now, primary, recorder, sched);
        self.fallback_answers(now, recorder, sched);
    }

    /// Carries out the fallback pool's actions; records its answers.
    fn fallback_answers(&mut self, now: SimTime, recorder: &mut Recorder, sched: &mut impl FnMut(SimTime, Event)) {
        let Some(f) = self.fallback.as_mut() else { return };
        for (request, outcome, served) in f.carry_out(now, &mut |at, e| sched(at, Event::Fallback(e))) {
            if let Some(sent) = self.on_response(now, request, outcome, &served, false, sched) {
                self.rec.totals.fallback_completed += u64::from(outcome == Outcome::Completed);
                recorder.respond(now, request, outcome, sent, served.admitted);
            }
        }
    }

    /// Sends an attempt of `id`, unless the tenant's breaker refuses it.
    fn attempt(&mut self, now: SimTime, id: u64, recorder: &mut Recorder, sched: &mut impl FnMut(SimTime, Event)) {
        let Some(l) = self.logical.get_mut(&id) else { return };
        let client = &mut self.clients[l.tenant as usize];
        if !client.allow(now) {
            self.rec.totals.breaker_fast_failures += 1;
            self.logical.remove(&id);
            return;
        }
        let retry = l.attempts > 0;
        client.sent(now, retry);
        l.attempts += 1;
        let request = RequestId(self.next_request);
        self.next_request += 1;
        recorder.arrival(request, &Arrival { at: now, prompt_tokens: l.prompt, output_tokens: l.output });
        let counts = &mut self.rec.tenants[l.tenant as usize];
        counts.attempts += u64::from(l.measured);
        counts.retries += u64::from(l.measured && retry);
        self.rec.attempt(now, retry);
        self.attempts.insert(request, Attempt { logical: id, sent: now, given_up: false, pool: 0 });
        if self.cfg.clients.idempotency && self.results.remove(&id) {
            // Completed after an earlier attempt was given up: served from the cache.
            self.rec.totals.cache_hits += 1;
            recorder.respond(now, request, Outcome::Completed, now, Some(now));
            self.ended(now, request, Outcome::Completed, None, None, false, sched);
            return;
        }
        let (tokens, cost) =
            (u64::from(l.prompt) + u64::from(l.output), self.cfg.cost.cost(l.prompt.into(), l.output.into()));
        let offer = Offer { request, tenant: l.tenant, tokens, cost };
        self.gateway.handle(now, gateway::Input::Offer(offer), &mut self.out);
        if let Some(timeout) = self.cfg.clients.timeout {
            sched(now + timeout, Event::Timeout { request });
        }
    }

    /// The client stops waiting for `request`: it withdraws it (cancelling
    /// it wherever it is) and retries if it may.
    fn timeout(&mut self, now: SimTime, request: RequestId, sched: &mut impl FnMut(SimTime, Event)) {
        let Some(a) = self.attempts.get_mut(&request).filter(|a| !a.given_up) else { return };
        a.given_up = true;
        let id = a.logical;
        let Some(l) = self.logical.get(&id) else { return };
        self.rec.tenants[l.tenant as usize].timeouts += u64::from(l.measured);
        self.clients[l.tenant as usize].record(now, false);
        self.gateway.handle(now, gateway::Input::Withdraw { request }, &mut self.out);
        self.retry_or_give_up(now, id, true, None, sched);
    }

    /// Carries out the gateway's actions.
    fn apply(
        &mut self,
        now: SimTime,
        primary: &mut impl PrimaryPool,
        recorder: &mut Recorder,
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        for action in std::mem::take(&mut self.out) {
            match action {
                gateway::Action::Dispatch { request, pool } => {
                    let Some(a) = self.attempts.get_mut(&request) else { continue };
                    a.pool = pool;
                    let Some(l) = self.logical.get(&a.logical) else { continue };
                    let input = llm::Input::Arrival {
                        request,
                        prompt_tokens: l.prompt,
                        output_tokens: l.output,
                        prefix: None,
                        session: None,
                    };
                    let mix = self.cfg.tenants[l.tenant as usize].safety_mix;
                    match self.fallback.as_mut().filter(|_| pool > 0) {
                        Some(f) => f.submit(now, input),
                        None => primary.submit(now, input, mix, l.origin),
                    }
                }
                gateway::Action::Reject { request, reason, retry_after, .. } => {
                    let Some(a) = self.attempts.get(&request) else { continue };
                    let (sent, measured) = (a.sent, self.logical.get(&a.logical).map(|l| (l.tenant, l.measured)));
                    recorder.respond(now, request, reason.outcome(), sent, None);
                    if let (Some((tenant, true)), false) = (measured, reason == Reason::Withdrawn) {
                        self.rec.tenants[tenant as usize].rejected_after.record(now.since(sent).0);
                    }
                    self.rec.rejected(now);
                    // A rate-limited request without a Retry-After never conforms.
                    let after = match (reason, retry_after) {
                        (Reason::RateLimited, None) => None,
                        (_, after) => Some(after.unwrap_or(SimDuration::ZERO)),
                    };
                    self.ended(now, request, reason.outcome(), after, None, false, sched);
                }
                gateway::Action::Preempt { request } | gateway::Action::Cancel { request } => {
                    if matches!(action, gateway::Action::Cancel { .. }) {
                        self.rec.totals.cancelled_in_pool += 1;
                    }
                    let pool = self.attempts.get(&request).map_or(0, |a| a.pool);
                    match self.fallback.as_mut().filter(|_| pool > 0) {
                        Some(f) => f.cancel(now, request),
                        None => primary.cancel(now, request),
                    }
                }
                gateway::Action::Requeued { .. } => {}
            }
        }
    }

    /// The pool answered `request`: returns when the attempt reached the
    /// gateway (its arrival, for the recorder), or None when the answer is
    /// not terminal (a preempted request, requeued in the gateway) and must
    /// not be recorded. `transient`: a `failed` that the loss of its server
    /// caused (a replica or a region down), which a client may retry, where
    /// any other `failed` (a request that can never fit) is final.
    pub(super) fn on_response(
        &mut self,
        now: SimTime,
        request: RequestId,
        outcome: Outcome,
        served: &Served,
        transient: bool,
        sched: &mut impl FnMut(SimTime, Event),
    ) -> Option<SimTime> {
        let before = self.out.len();
        self.gateway.handle(now, gateway::Input::Done { request, outcome }, &mut self.out);
        let requeued = self.out[before..].contains(&gateway::Action::Requeued { request });
        if self.out.len() > before {
            sched(now, Event::Pump);
        }
        if requeued {
            self.rec.totals.preemptions += 1;
            self.rec.totals.preempted_gpu_s += self.work(served);
            return None;
        }
        let sent = self.attempts.get(&request).map_or(served.arrived, |a| a.sent);
        self.ended(now, request, outcome, None, Some(served), transient, sched);
        Some(sent)
    }

    /// Estimated GPU-seconds a request had received when it stopped.
    fn work(&self, s: &Served) -> f64 {
        let prompt = if s.admitted.is_some() { u64::from(s.prompt_tokens) } else { 0 };
        self.cfg.cost.cost(prompt, u64::from(s.output_tokens))
    }

    /// An attempt's terminal outcome. `retry_after`: for a rejection, Some
    /// when a retry may conform (the Retry-After, or zero), None when a
    /// retry never can; `transient` as for [`Self::on_response`].
    #[allow(clippy::too_many_arguments)]
    fn ended(
        &mut self,
        now: SimTime,
        request: RequestId,
        outcome: Outcome,
        retry_after: Option<SimDuration>,
        served: Option<&Served>,
        transient: bool,
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        let Some(a) = self.attempts.remove(&request) else { return };
        let Some(l) = self.logical.get(&a.logical) else {
            return;
        };
        let t = l.tenant as usize;
        if let (Outcome::Cancelled, Some(s)) = (outcome, served) {
            let wasted = self.work(s);
            self.rec.tenants[t].wasted_gpu_s += wasted;
        }
        if outcome == Outcome::Completed {
            if self.measure_from <= now && now < self.stop {
                self.rec.tenants[t].gpu_s += self.cfg.cost.cost(l.prompt.into(), l.output.into());
            }
            if a.given_up {
                if self.cfg.clients.idempotency {
                    self.results.insert(a.logical);
                }
                return;
            }
            self.clients[t].record(now, true);
            let e2e = now.since(l.first_at);
            let ttft = served.and_then(|s| s.first_token).map_or(e2e, |f| f.since(l.first_at));
            let counts = &mut self.rec.tenants[t];
            if l.measured {
                counts.completed += 1;
                counts.e2e.record(e2e.0);
            }
            if self.cfg.tenants[t].slo.met(ttft, e2e) {
                self.rec.tenants[t].slo_met += u64::from(l.measured);
                self.rec.good(now, l.measured);
            }
            self.logical.remove(&a.logical);
            return;
        }
        if a.given_up {
            return;
        }
        self.clients[t].record(now, false);
        let retryable = (outcome != Outcome::Failed || transient) && (served.is_some() || retry_after.is_some());
        self.retry_or_give_up(now, a.logical, retryable, retry_after, sched);
    }

    fn retry_or_give_up(
        &mut self,
        now: SimTime,
        id: u64,
        retryable: bool,
        retry_after: Option<SimDuration>,
        sched: &mut impl FnMut(SimTime, Event),
    ) {
        let Some(l) = self.logical.get(&id) else { return };
        let client = &self.clients[l.tenant as usize];
        let policy = *client.policy();
        if !retryable || l.attempts >= policy.max_attempts {
            self.logical.remove(&id);
            return;
        }
        if !client.budget_allows(now) {
            self.rec.totals.retries_denied_by_budget += 1;
            self.logical.remove(&id);
            return;
        }
        let mut delay = policy.backoff(l.attempts, &mut self.backoff_rng);
        if let (true, Some(after)) = (policy.honour_retry_after, retry_after) {
            delay = delay.max(after);
        }
        sched(now + delay, Event::Retry { logical: id });
    }

    /// The `frontdoor` summary section, and whether the front door's
    /// invariants hold: with the run drained, nothing is left in the
    /// gateway or the pool and every KV block is free (cancelled work
    /// released its blocks).
    /// `pool_clear`: nothing is left in the pool(s) behind the gateway and
    /// every KV block is free.
    pub(super) fn finish(self, pool_clear: bool, drained: bool, span_s: f64) -> (FrontDoorSummary, bool) {
        let counts = self.gateway.counts();
        let info: Vec<TenantInfo> = self
            .cfg
            .tenants
            .iter()
            .zip(counts)
            .map(|(t, c)| TenantInfo {
                name: &t.name,
                tier: &t.tier,
                class: t.class.name(),
                weight: t.weight,
                admitted: c.admitted,
                preempted: c.preempted,
                degraded: c.degraded,
                rejected: c.rejected.by_reason().map(|(r, n)| (r.name().to_string(), n)).collect(),
            })
            .collect();
        let mut changes: Vec<(SimTime, usize, &'static str)> = Vec::new();
        for (i, c) in self.clients.iter().enumerate() {
            changes.extend(c.changes.iter().map(|(at, s)| (*at, i, s.name())));
        }
        changes.sort();
        let changes = changes
            .into_iter()
            .map(|(at, i, s)| BreakerChange {
                t_s: at.as_secs_f64(),
                tenant: self.cfg.tenants[i].name.clone(),
                state: s.into(),
            })
            .collect();
        let phases = self.cfg.trigger.as_ref().map(|t| {
            let (at, until) = (SimTime::ZERO + t.at, SimTime::ZERO + t.until);
            let after = until + SimDuration(t.until.0 - t.at.0);
            let p =
                Phases { measure_from: self.measure_from, at, until, after, end: self.stop, label: t.label.clone() };
            (p, 0.9)
        });
        let holds = !drained
            || (pool_clear
                && self.gateway.queued() == 0
                && self.gateway.in_flight(0) == 0
                && self.gateway.in_flight(1) == 0
                && self.fallback.as_ref().is_none_or(FallbackPool::is_clear));
        (self.rec.finish(&info, changes, phases, span_s), holds)
    }
}
