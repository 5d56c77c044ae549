//! Weighted fair queuing across tenants by cost: WF2Q+ (Bennett & Zhang,
//! 1997) over per-tenant FIFO queues.
//!
//! Why WF2Q+: it is the packetized scheduler with the same delay bound as
//! WFQ (a leaky-bucket-shaped flow of burst sigma and guaranteed rate g is
//! delayed at most sigma/g + Lmax/r), but without WFQ's GPS simulation: its
//! virtual time advances by the work dispatched, not by a clock, so it needs
//! no server rate — which matters here, where a "server" is a pool of
//! batching replicas whose rate changes with the batch. Its eligibility rule
//! (only heads whose start tag S <= V) keeps a flow from running ahead of
//! its share, which plain start-time fair queuing and DRR allow (their
//! bounds grow with the number of flows or the quantum). Cost is the
//! request's estimated GPU-seconds, so a long request counts as many short
//! ones.
//!
//! Tags: a flow's head gets `S = max(V, F_prev)` when it arrives to an
//! empty flow, `S = F_prev` when it follows a dispatched packet, and
//! `F = S + cost / phi` with `phi = weight / sum of all weights`. A
//! dispatch first advances `V = max(V + W, min S over open heads)`, where W
//! is the cost of the previous dispatch (the work done since, as when V is
//! updated at departures: a request arriving while another is served sees
//! V without that work, which is what keeps the bound), then picks the
//! eligible head (S <= V) with the smallest F. Flows the caller marks
//! ineligible (at their concurrency cap) are skipped and keep their tags.
//! Every operation is O(flows) (tenants are few); removal of a queued
//! request is O(its flow's queue).

use crate::time::SimTime;
use crate::RequestId;
use std::collections::VecDeque;

/// A request waiting in a flow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Queued {
    pub request: RequestId,
    /// Estimated GPU-seconds.
    pub cost: f64,
    pub enqueued: SimTime,
}

#[derive(Debug, Clone)]
struct Flow {
    phi: f64,
    queue: VecDeque<Queued>,
    /// Finish tag of the last dispatched request.
    finish: f64,
    /// Tags of the head, when the queue is non-empty.
    head: (f64, f64),
}

/// WF2Q+ over a fixed set of flows (one per tenant).
#[derive(Debug, Clone)]
pub struct Fair {
    flows: Vec<Flow>,
    v: f64,
    /// Cost of the last dispatch, added to V at the next one.
    last_cost: f64,
    len: usize,
}

impl Fair {
    /// One flow per weight (weights > 0).
    pub fn new(weights: &[f64]) -> Fair {
        let total: f64 = weights.iter().sum();
        let flows = weights
            .iter()
            .map(|w| Flow { phi: w / total, queue: VecDeque::new(), finish: 0.0, head: (0.0, 0.0) })
            .collect();
        Fair { flows, v: 0.0, last_cost: 0.0, len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of flows.
    pub fn flows(&self) -> usize {
        self.flows.len()
    }

    /// Requests waiting in `flow`.
    pub fn flow_len(&self, flow: usize) -> usize {
        self.flows[flow].queue.len()
    }

    /// The oldest request of `flow`, if any.
    pub fn head(&self, flow: usize) -> Option<&Queued> {
        self.flows[flow].queue.front()
    }

    fn set_head(&mut self, flow: usize, start: f64) {
        let f = &mut self.flows[flow];
        if let Some(q) = f.queue.front() {
            f.head = (start, start + q.cost / f.phi);
        }
    }

    /// Appends `q` to `flow`.
    pub fn push(&mut self, flow: usize, q: Queued) {
        self.len += 1;
        let f = &mut self.flows[flow];
        f.queue.push_back(q);
        if f.queue.len() == 1 {
            let start = self.v.max(f.finish);
            self.set_head(flow, start);
        }
    }

    /// Puts `q` back at the head of `flow` (a preempted request), as if it
    /// had never been dispatched.
    pub fn push_front(&mut self, flow: usize, q: Queued) {
        self.len += 1;
        let f = &mut self.flows[flow];
        let start = if f.queue.is_empty() { self.v.max(f.finish) } else { f.head.0 };
        f.queue.push_front(q);
        self.set_head(flow, start);
    }

    /// Removes a queued request (client gave up); true if it was here.
    pub fn remove(&mut self, flow: usize, request: RequestId) -> bool {
        let f = &mut self.flows[flow];
        let Some(i) = f.queue.iter().position(|q| q.request == request) else { return false };
        f.queue.remove(i);
        self.len -= 1;
        if i == 0 {
            let start = self.flows[flow].head.0;
            self.set_head(flow, start);
        }
        true
    }

    /// Dispatches the next request among flows with `eligible(flow)` true:
    /// the smallest finish tag among heads with S <= V.
    pub fn pop(&mut self, eligible: impl Fn(usize) -> bool) -> Option<(usize, Queued)> {
        let open = |f: &Flow, i: usize| !f.queue.is_empty() && eligible(i);
        let min_start =
            self.flows.iter().enumerate().filter(|(i, f)| open(f, *i)).map(|(_, f)| f.head.0).min_by(f64::total_cmp)?;
        let v = (self.v + self.last_cost).max(min_start);
        let (flow, _) = self
            .flows
            .iter()
            .enumerate()
            .filter(|(i, f)| open(f, *i) && f.head.0 <= v)
            .min_by(|a, b| a.1.head.1.total_cmp(&b.1.head.1).then(a.0.cmp(&b.0)))?;
        let f = &mut self.flows[flow];
        let q = f.queue.pop_front()?;
        f.finish = f.head.1;
        let next_start = f.finish;
        self.len -= 1;
        self.set_head(flow, next_start);
        self.v = v;
        self.last_cost = q.cost;
        Some((flow, q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(id: u64, cost: f64, at: SimTime) -> Queued {
        Queued { request: RequestId(id), cost, enqueued: at }
    }

    /// A server of rate `rate` cost-units/s serving one request at a time
    /// from `fair`; `arrivals` are (time s, flow, cost). Returns per flow
    /// the served cost and the worst delay (arrival to end of service).
    fn serve(fair: &mut Fair, arrivals: &[(f64, usize, f64)], rate: f64, until: f64) -> Vec<(f64, f64)> {
        let mut served = vec![(0.0, 0.0f64); fair.flows.len()];
        let mut arrived_at = std::collections::BTreeMap::new();
        let (mut t, mut next) = (0.0f64, 0usize);
        while t < until {
            while next < arrivals.len() && arrivals[next].0 <= t {
                let (at, flow, cost) = arrivals[next];
                arrived_at.insert(next as u64, at);
                fair.push(flow, q(next as u64, cost, SimTime::ZERO));
                next += 1;
            }
            match fair.pop(|_| true) {
                Some((flow, job)) => {
                    t += job.cost / rate;
                    served[flow].0 += job.cost;
                    served[flow].1 = served[flow].1.max(t - arrived_at[&job.request.0]);
                }
                None if next < arrivals.len() => t = arrivals[next].0,
                None => break,
            }
        }
        served
    }

    #[test]
    fn two_backlogged_flows_of_weights_1_3_get_service_1_3() {
        // Always backlogged, mixed costs (a long request counts as many short ones).
        let mut fair = Fair::new(&[1.0, 3.0]);
        let arrivals: Vec<(f64, usize, f64)> =
            (0..40_000).map(|i| (0.0, i % 2, if i % 6 < 2 { 4.0 } else { 0.5 + (i % 5) as f64 * 0.3 })).collect();
        let served = serve(&mut fair, &arrivals, 1.0, 8000.0);
        let ratio = served[1].0 / served[0].0;
        assert!((ratio - 3.0).abs() / 3.0 < 0.02, "served {served:?}, ratio {ratio}");
    }

    #[test]
    fn parekh_gallager_bound_holds_for_a_shaped_flow_while_another_floods() {
        // Flow 0 is leaky-bucket shaped (sigma = 3 units of burst, rho = 0.2
        // units/s) with weight 1; flow 1 floods with weight 1 (g = r/2).
        // WF2Q+ guarantees delay <= sigma/g + Lmax/r.
        let (rate, lmax) = (1.0, 2.0);
        let (sigma, rho) = (3.0, 0.2);
        let mut arrivals = Vec::new();
        // Shaped: bursts of sigma (in 1-unit requests) every sigma/rho seconds.
        for k in 0..40 {
            for _ in 0..3 {
                arrivals.push((k as f64 * sigma / rho, 0, 1.0));
            }
        }
        // Flood: 5,000 requests of up to Lmax at t = 0.
        for i in 0..5_000 {
            arrivals.push((0.0, 1, if i % 3 == 0 { lmax } else { 0.7 }));
        }
        arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut fair = Fair::new(&[1.0, 1.0]);
        let served = serve(&mut fair, &arrivals, rate, 600.0);
        let g = rate * 0.5;
        let bound = sigma / g + lmax / rate;
        assert!(served[0].1 <= bound + 1e-9, "worst delay {} > bound {bound}", served[0].1);
        assert!(served[0].1 > 0.5 * bound, "the bound is approached, not vacuous: {}", served[0].1);
    }

    #[test]
    fn ineligible_flows_are_skipped_and_removal_keeps_order() {
        let mut fair = Fair::new(&[1.0, 1.0]);
        for i in 0..4 {
            fair.push(0, q(i, 1.0, SimTime::ZERO));
        }
        fair.push(1, q(10, 1.0, SimTime::ZERO));
        assert_eq!(fair.pop(|f| f == 1).map(|(f, q)| (f, q.request.0)), Some((1, 10)));
        assert!(fair.remove(0, RequestId(0)));
        assert!(!fair.remove(0, RequestId(0)));
        let order: Vec<u64> = std::iter::from_fn(|| fair.pop(|_| true)).map(|(_, q)| q.request.0).collect();
        assert_eq!(order, vec![1, 2, 3]);
        assert!(fair.is_empty());
    }
}
