//! One pool's side of the gateway: its priority-class queues, its dispatch
//! cap and in-flight count, its measured drain rate and KV pressure, and
//! the batch requests it may preempt. The primary pool has a lane, and so
//! does the fallback pool when degradation is on: the same checks and the
//! same fairness apply to each, against each pool's own state.

use super::entry::{Entry, State};
use super::protocol::Action;
use super::{Fair, Queued};
use crate::time::{SimDuration, SimTime};
use crate::RequestId;
use std::collections::BTreeMap;

pub(super) struct Lane {
    /// Realtime, streaming, batch.
    pub classes: [Fair; 3],
    pub in_flight: u64,
    pub max_in_flight: u64,
    /// Batch-class requests in the pool, latest last (stale ids skipped).
    batch_in_pool: Vec<RequestId>,
    pub preempting: u64,
    pub drained: super::DecayedRate,
    pub kv_used_fraction: f64,
}

impl Lane {
    pub fn new(weights: &[f64], max_in_flight: u64, drain_window: SimDuration) -> Lane {
        let fair = Fair::new(weights);
        Lane {
            classes: [fair.clone(), fair.clone(), fair],
            in_flight: 0,
            max_in_flight,
            batch_in_pool: Vec::new(),
            preempting: 0,
            drained: super::DecayedRate::new(drain_window),
            kv_used_fraction: 0.0,
        }
    }

    pub fn queued(&self) -> u64 {
        self.classes.iter().map(|c| c.len() as u64).sum()
    }

    /// The next request to dispatch: an aged lower-class head first (oldest;
    /// `true`: it was aged), else strict priority with WF2Q+ in the class.
    pub fn next(
        &mut self,
        now: SimTime,
        aging: Option<SimDuration>,
        open: impl Fn(usize) -> bool,
    ) -> Option<(usize, Queued, bool)> {
        if let Some((class, flow)) = aging.and_then(|a| self.aging_due(now, a, &open)) {
            return self.classes[class].pop(|f| f == flow).map(|(f, q)| (f, q, true));
        }
        self.classes.iter_mut().find_map(|c| c.pop(&open)).map(|(f, q)| (f, q, false))
    }

    fn aging_due(&self, now: SimTime, aging: SimDuration, open: &impl Fn(usize) -> bool) -> Option<(usize, usize)> {
        let mut best: Option<(SimTime, usize, usize)> = None;
        for (class, fair) in self.classes.iter().enumerate().skip(1) {
            for flow in 0..fair.flows() {
                if let Some(h) = fair.head(flow).filter(|h| open(flow) && h.enqueued + aging <= now) {
                    if best.is_none_or(|b| h.enqueued < b.0) {
                        best = Some((h.enqueued, class, flow));
                    }
                }
            }
        }
        best.map(|(_, class, flow)| (class, flow))
    }

    /// Counts a dispatch; `preemptible` requests may be preempted later.
    pub fn dispatched(
        &mut self,
        now: SimTime,
        request: RequestId,
        preemptible: bool,
        entries: &BTreeMap<RequestId, Entry>,
    ) {
        self.in_flight += 1;
        self.drained.add(now, 1.0);
        if preemptible {
            self.batch_in_pool.push(request);
            if self.batch_in_pool.len() as u64 > 2 * self.in_flight + 16 {
                self.batch_in_pool.retain(|r| entries.get(r).is_some_and(|e| e.state == State::InPool));
            }
        }
    }

    /// One preemption per realtime request that waits only for a slot in
    /// this full pool (`ready`: those a freed slot would dispatch).
    pub fn preempt(&mut self, ready: u64, entries: &mut BTreeMap<RequestId, Entry>, out: &mut Vec<Action>) {
        if self.in_flight < self.max_in_flight {
            return;
        }
        while ready > self.preempting {
            let Some(victim) = self.batch_in_pool.pop() else { return };
            if let Some(e) = entries.get_mut(&victim).filter(|e| e.state == State::InPool) {
                e.state = State::Preempting;
                self.preempting += 1;
                out.push(Action::Preempt { request: victim });
            }
        }
    }
}
