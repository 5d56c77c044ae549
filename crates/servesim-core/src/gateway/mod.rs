//! The multi-tenant front door: rate limits, admission control, fair
//! queues with priority classes, and the dispatch of requests to the LLM
//! pool — sans-IO and clock-free like the rest of `core`: the driver feeds
//! `(now, Input)` and carries out the `Action`s.
//!
//! Order of checks on an offer (none is ever skipped): rate limits (GCRA:
//! the tenant's and the global, on requests and on tokens = prompt +
//! expected output; `gcra.rs`), then admission (queue depth, tier shedding
//! under pressure, predicted wait against the tenant's deadline;
//! `admission.rs`), then the tenant's queue in its priority class
//! (`fair.rs`: WF2Q+ by estimated GPU-seconds within a class).
//!
//! Why the gateway holds requests instead of forwarding them at once: the
//! replicas' own queues are FIFO, so anything handed to them early is
//! served in arrival order and fair queuing would be defeated. The dispatch
//! signal is an in-flight cap: at most `max_in_flight` requests are in the
//! pool (dispatched, not yet answered) — by default one full batch per
//! replica, so replicas batch fully while the order of everything beyond a
//! batch is decided here. A request is dispatched when an answer frees a
//! slot. Per-tenant concurrency caps make a tenant's head ineligible.
//!
//! Classes: strict priority realtime > streaming > batch; with `aging`, a
//! lower-class request that has waited `aging` is served before any fresh
//! higher-class one (oldest first), so batch is never starved. Preemption:
//! when a realtime request waits because the pool is full (not because
//! its tenant is at its `max_concurrency`, which no preemption cures), the most
//! recently dispatched batch request (not one dispatched by aging, which
//! would be requeued and aged in again at once) is cancelled in the pool
//! (`Preempt`;
//! the driver sends the core `Cancel`, which frees its batch slot and KV)
//! and, once the core answers `Cancelled`, requeued at the head of its
//! flow (`Requeued`) to be recomputed later; its discarded work is counted
//! by the driver.
//!
//! Degradation: with a second pool (a smaller fallback model), a request
//! the primary pool's admission refuses faces the same admission checks
//! against the fallback's own queue, drain rate and KV pressure, and waits
//! in the fallback's queues if it passes; rate limits are charged once,
//! before either. Each pool has its own `Lane` (`lane.rs`): class queues,
//! dispatch cap, drain rate, preemption candidates. The words the gateway
//! and its driver exchange are in `protocol.rs`; what it remembers of each
//! request, in `entry.rs`.
//!
//! Requests still queued at their deadline are rejected (`Overloaded`)
//! when they reach the head, without ever reaching the pool. Cost per
//! event: O(tenants) for a dispatch, O(log n) for bookkeeping.

mod admission;
mod entry;
mod fair;
mod gcra;
mod lane;
mod protocol;

pub use admission::{predicted_wait, AdmissionConfig, DecayedRate};
pub use fair::{Fair, Queued};
pub use gcra::{Gcra, Verdict};
pub use protocol::{Action, Class, Input, Offer, Reason};

use super::{Outcome, RequestId};
use crate::time::{SimDuration, SimTime};
use entry::{Entry, State};
use lane::Lane;
use std::collections::BTreeMap;

/// A request limit and a token limit (either optional).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    pub requests: Option<Gcra>,
    pub tokens: Option<Gcra>,
}

/// What the gateway knows about one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantPolicy {
    pub class: Class,
    pub weight: f64,
    /// Position in the shedding order (0 = shed first).
    pub shed_rank: u32,
    pub limits: Limits,
    pub max_concurrency: Option<u32>,
    /// Longest acceptable wait in the gateway.
    pub deadline: Option<SimDuration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GatewayConfig {
    pub tenants: Vec<TenantPolicy>,
    pub global: Limits,
    /// The dispatch cap of each pool: the primary first, then the fallback
    /// (a smaller model) if degradation is on.
    pub max_in_flight: Vec<u64>,
    pub aging: Option<SimDuration>,
    pub preemption: bool,
    pub admission: AdmissionConfig,
}

/// Requests the gateway rejected, counted by [`Reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rejections([u64; Reason::ALL.len()]);

impl Rejections {
    fn add(&mut self, reason: Reason) {
        self.0[reason as usize] += 1;
    }

    /// Rejections for `reason`.
    pub fn of(&self, reason: Reason) -> u64 {
        self.0[reason as usize]
    }

    /// `(reason, count)` for every reason, in [`Reason::ALL`]'s order.
    pub fn by_reason(&self) -> impl Iterator<Item = (Reason, u64)> + '_ {
        Reason::ALL.into_iter().map(|r| (r, self.of(r)))
    }
}

/// What the gateway counted for one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GatewayCounts {
    pub offered: u64,
    pub admitted: u64,
    pub dispatched: u64,
    pub rejected: Rejections,
    pub preempted: u64,
    /// Admitted to the fallback pool after the primary refused them.
    pub degraded: u64,
    pub in_flight: u32,
}

pub struct Gateway {
    cfg: GatewayConfig,
    lanes: Vec<Lane>,
    entries: BTreeMap<RequestId, Entry>,
    counts: Vec<GatewayCounts>,
}

impl Gateway {
    pub fn new(cfg: GatewayConfig) -> Gateway {
        let weights: Vec<f64> = cfg.tenants.iter().map(|t| t.weight).collect();
        Gateway {
            lanes: cfg.max_in_flight.iter().map(|&cap| Lane::new(&weights, cap, cfg.admission.drain_window)).collect(),
            entries: BTreeMap::new(),
            counts: vec![GatewayCounts::default(); cfg.tenants.len()],
            cfg,
        }
    }

    /// Requests waiting in the gateway.
    pub fn queued(&self) -> u64 {
        self.lanes.iter().map(Lane::queued).sum()
    }

    /// Requests dispatched to pool `pool` and not yet answered.
    pub fn in_flight(&self, pool: usize) -> u64 {
        self.lanes.get(pool).map_or(0, |l| l.in_flight)
    }

    pub fn counts(&self) -> &[GatewayCounts] {
        &self.counts
    }

    pub fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Action>) {
        match input {
            Input::Offer(offer) => self.offer(now, offer, out),
            Input::Done { request, outcome } => self.done(request, outcome, out),
            Input::Withdraw { request } => self.withdraw(request, out),
            Input::Observe { pool, kv_used_fraction } => {
                if let Some(lane) = self.lanes.get_mut(pool) {
                    lane.kv_used_fraction = kv_used_fraction;
                }
            }
        }
        for pool in 0..self.lanes.len() {
            self.pump(now, pool, out);
        }
    }

    fn reject(&mut self, o: &Offer, reason: Reason, retry_after: Option<SimDuration>, position: Option<u64>) -> Action {
        self.counts[o.tenant as usize].rejected.add(reason);
        Action::Reject { request: o.request, reason, retry_after, position }
    }

    /// Rate limits: every limit is checked; all are charged only if all conform.
    fn rate_limit(&mut self, now: SimTime, o: &Offer) -> Option<Verdict> {
        let t = &self.cfg.tenants[o.tenant as usize].limits;
        let limits =
            [(t.requests, 1), (t.tokens, o.tokens), (self.cfg.global.requests, 1), (self.cfg.global.tokens, o.tokens)];
        let mut worst = Verdict::Conforms;
        for (g, n) in limits {
            match (g.map(|g| g.check(now, n)), worst) {
                (Some(Verdict::Never), _) => worst = Verdict::Never,
                (Some(Verdict::RetryAfter(a)), Verdict::RetryAfter(b)) => worst = Verdict::RetryAfter(a.max(b)),
                (Some(Verdict::RetryAfter(a)), Verdict::Conforms) => worst = Verdict::RetryAfter(a),
                _ => {}
            }
        }
        if worst != Verdict::Conforms {
            return Some(worst);
        }
        let t = &mut self.cfg.tenants[o.tenant as usize].limits;
        let g = &mut self.cfg.global;
        for (limit, n) in
            [(&mut t.requests, 1), (&mut t.tokens, o.tokens), (&mut g.requests, 1), (&mut g.tokens, o.tokens)]
        {
            if let Some(limit) = limit {
                limit.commit(now, n);
            }
        }
        None
    }

    /// Admission to pool `pool`: queue depth, tier shedding, predicted wait.
    fn admit(&self, now: SimTime, pool: usize, tenant: &TenantPolicy) -> Result<(), (Reason, u64)> {
        let (a, lane) = (self.cfg.admission, &self.lanes[pool]);
        let queued = lane.queued();
        // Requests that would be served before this one (same or higher class).
        let ahead: u64 = lane.classes[..=tenant.class as usize].iter().map(|c| c.len() as u64).sum();
        if a.max_queue.is_some_and(|m| queued >= m) {
            return Err((Reason::QueueFull, ahead));
        }
        if a.sheds(tenant.shed_rank, a.pressure(queued, lane.kv_used_fraction)) {
            return Err((Reason::Shed, ahead));
        }
        let must_wait = lane.in_flight >= lane.max_in_flight || ahead > 0;
        if let (true, true, Some(deadline)) = (a.predicted_wait, must_wait, tenant.deadline) {
            if predicted_wait(ahead, lane.drained.rate(now)).is_some_and(|w| w > deadline) {
                return Err((Reason::PredictedWait, ahead));
            }
        }
        Ok(())
    }

    /// Rate limits once, then admission to the primary pool, else (when
    /// degradation is on) the same checks against the fallback pool.
    fn offer(&mut self, now: SimTime, o: Offer, out: &mut Vec<Action>) {
        self.counts[o.tenant as usize].offered += 1;
        match self.rate_limit(now, &o) {
            Some(Verdict::RetryAfter(after)) => {
                return out.push(self.reject(&o, Reason::RateLimited, Some(after), None))
            }
            Some(_) => return out.push(self.reject(&o, Reason::RateLimited, None, None)),
            None => {}
        }
        let tenant = self.cfg.tenants[o.tenant as usize].clone();
        let mut refusal = None;
        for pool in 0..self.lanes.len() {
            match self.admit(now, pool, &tenant) {
                Ok(()) => {
                    let c = &mut self.counts[o.tenant as usize];
                    c.admitted += 1;
                    c.degraded += u64::from(pool > 0);
                    let deadline = tenant.deadline.map(|d| now + d);
                    let state = State::Queued { deadline };
                    let entry = Entry { tenant: o.tenant, pool, cost: o.cost, arrived: now, state };
                    self.entries.insert(o.request, entry);
                    let q = Queued { request: o.request, cost: o.cost, enqueued: now };
                    self.lanes[pool].classes[tenant.class as usize].push(o.tenant as usize, q);
                    return;
                }
                Err(r) => refusal = refusal.or(Some(r)),
            }
        }
        if let Some((reason, ahead)) = refusal {
            out.push(self.reject(&o, reason, None, Some(ahead)));
        }
    }

    fn release(&mut self, tenant: u32, pool: usize) {
        self.lanes[pool].in_flight -= 1;
        self.counts[tenant as usize].in_flight -= 1;
    }

    fn done(&mut self, request: RequestId, outcome: Outcome, out: &mut Vec<Action>) {
        let Some(e) = self.entries.get_mut(&request) else { return };
        let pool = e.pool;
        match e.state {
            State::Queued { .. } => return,
            State::Preempting if outcome == Outcome::Cancelled => {
                let (tenant, class) = (e.tenant, self.cfg.tenants[e.tenant as usize].class);
                e.state = State::Queued { deadline: None };
                let q = Queued { request, cost: e.cost, enqueued: e.arrived };
                self.lanes[pool].preempting -= 1;
                self.release(tenant, pool);
                self.counts[tenant as usize].preempted += 1;
                self.lanes[pool].classes[class as usize].push_front(tenant as usize, q);
                out.push(Action::Requeued { request });
                return;
            }
            State::Preempting => self.lanes[pool].preempting -= 1,
            State::InPool | State::Withdrawing => {}
        }
        let tenant = e.tenant;
        self.entries.remove(&request);
        self.release(tenant, pool);
    }

    fn withdraw(&mut self, request: RequestId, out: &mut Vec<Action>) {
        let Some(e) = self.entries.get_mut(&request) else { return };
        let pool = e.pool;
        match e.state {
            State::Queued { .. } => {
                let (tenant, class) = (e.tenant, self.cfg.tenants[e.tenant as usize].class);
                self.entries.remove(&request);
                self.lanes[pool].classes[class as usize].remove(tenant as usize, request);
                self.counts[tenant as usize].rejected.add(Reason::Withdrawn);
                out.push(Action::Reject { request, reason: Reason::Withdrawn, retry_after: None, position: None });
            }
            State::InPool => {
                e.state = State::Withdrawing;
                out.push(Action::Cancel { request });
            }
            State::Preempting => {
                // Its cancel is on the way; that answer is now final.
                e.state = State::Withdrawing;
                self.lanes[pool].preempting -= 1;
            }
            State::Withdrawing => {}
        }
    }

    fn pump(&mut self, now: SimTime, pool: usize, out: &mut Vec<Action>) {
        while self.lanes[pool].in_flight < self.lanes[pool].max_in_flight {
            let (counts, tenants) = (&self.counts, &self.cfg.tenants);
            let open = |f: usize| tenants[f].max_concurrency.is_none_or(|cap| counts[f].in_flight < cap);
            let Some((flow, q, aged)) = self.lanes[pool].next(now, self.cfg.aging, open) else { break };
            let Some(e) = self.entries.get_mut(&q.request) else { continue };
            if let State::Queued { deadline: Some(d) } = e.state {
                if d < now {
                    self.entries.remove(&q.request);
                    self.counts[flow].rejected.add(Reason::Expired);
                    let reason = Reason::Expired;
                    out.push(Action::Reject { request: q.request, reason, retry_after: None, position: None });
                    continue;
                }
            }
            e.state = State::InPool;
            let c = &mut self.counts[flow];
            c.in_flight += 1;
            c.dispatched += 1;
            // An aged request has earned its place: it is never preempted
            // (else it would be requeued, aged and dispatched again at once).
            let preemptible = self.cfg.tenants[flow].class == Class::Batch && !aged;
            self.lanes[pool].dispatched(now, q.request, preemptible, &self.entries);
            out.push(Action::Dispatch { request: q.request, pool });
        }
        if self.cfg.preemption {
            let ready = self.realtime_ready(pool);
            self.lanes[pool].preempt(ready, &mut self.entries, out);
        }
    }

    /// Realtime requests queued for pool `pool` that a freed slot would
    /// dispatch: a tenant at its concurrency cap waits for its own answers,
    /// not for the pool, so preempting for it would only free a slot that
    /// the preempted request (or another batch one) takes back at once.
    fn realtime_ready(&self, pool: usize) -> u64 {
        let fair = &self.lanes[pool].classes[Class::Realtime as usize];
        (0..fair.flows())
            .map(|flow| {
                let room = self.cfg.tenants[flow]
                    .max_concurrency
                    .map_or(u64::MAX, |cap| u64::from(cap.saturating_sub(self.counts[flow].in_flight)));
                (fair.flow_len(flow) as u64).min(room)
            })
            .sum()
    }
}

#[cfg(test)]
mod tests;
