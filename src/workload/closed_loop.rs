//! Closed-loop benchmark clients: N clients, each sending its next request
//! when its previous answer arrives (plus a fixed think time), until the
//! run's requests are all sent.
//!
//! Why closed loop: this is how serving benchmarks measure an engine
//! (`vllm bench serve --max-concurrency`, genai-perf / aiperf
//! `--concurrency`, inference-perf, aiconfigurator's silicon runs): a
//! semaphore of N slots over `num_prompts` requests. Offered load then
//! follows the server's speed, so a planner comparing servesim with such a
//! run must drive it the same way; an open arrival process at the measured
//! throughput queues differently.
//!
//! Phases: `warmup_requests` go first, through the same clients, and are
//! not measured; when the last of them is answered, the measured phase
//! starts (the clients start again, by the start pattern, from that
//! instant) with `concurrency × requests_per_client` requests. Requests are
//! a shared pool, as a benchmark's semaphore hands them out: a client whose
//! answer arrives takes the next unsent request, if any. Each client's
//! request and its answer are tracked by request id: O(1) per request,
//! memory O(concurrency).

use crate::core::{IdMap, RequestId};
use crate::time::{SimDuration, SimTime};

/// A validated `workload.clients`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedLoopSpec {
    /// Clients (>= 1).
    pub concurrency: u32,
    /// Measured requests per client (>= 1).
    pub requests_per_client: u32,
    /// Pause between an answer and the client's next request.
    pub think_time: SimDuration,
    /// Clients start evenly over this span (zero: all at once).
    pub ramp: SimDuration,
    /// Unmeasured requests sent before the measured ones.
    pub warmup_requests: u32,
}

impl ClosedLoopSpec {
    /// Requests of the measured phase.
    pub fn measured_requests(&self) -> u64 {
        u64::from(self.concurrency) * u64::from(self.requests_per_client)
    }

    /// When client `i` of a phase of `n` clients starting at `from` sends
    /// its first request: `from + ramp · i / n`.
    fn first_send(&self, from: SimTime, i: u32, n: u32) -> SimTime {
        let offset = u128::from(self.ramp.0) * u128::from(i) / u128::from(n.max(1));
        from + SimDuration(offset as u64)
    }
}

/// Which requests are being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Unmeasured warm-up requests.
    Warmup,
    /// The benchmark's requests.
    Measured,
}

/// The clients of one run.
#[derive(Debug)]
pub struct ClosedLoop {
    spec: ClosedLoopSpec,
    phase: Phase,
    /// Requests of the current phase not yet sent.
    unsent: u64,
    /// Requests of the current phase sent and not yet answered.
    unanswered: u64,
    /// Each unanswered request's client and send time.
    owner: IdMap<(u32, SimTime)>,
}

impl ClosedLoop {
    /// The clients, before anything is sent (see [`ClosedLoop::start`]).
    pub fn new(spec: ClosedLoopSpec) -> Self {
        let (phase, unsent) = match spec.warmup_requests {
            0 => (Phase::Measured, spec.measured_requests()),
            w => (Phase::Warmup, u64::from(w)),
        };
        ClosedLoop { spec, phase, unsent, unanswered: 0, owner: IdMap::default() }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// `(client, first send time)` of each client of the phase starting at
    /// `at`: as many clients as the phase has requests, at most `concurrency`.
    pub fn start(&self, at: SimTime) -> impl Iterator<Item = (u32, SimTime)> + '_ {
        let n = self.spec.concurrency.min(u32::try_from(self.unsent).unwrap_or(u32::MAX));
        (0..n).map(move |i| (i, self.spec.first_send(at, i, n)))
    }

    /// Client `client` is due to send now: true if a request is left for
    /// it, which it then sends as `request` (tracked until answered).
    pub fn send(&mut self, now: SimTime, client: u32, request: RequestId) -> bool {
        if self.unsent == 0 {
            return false;
        }
        self.unsent -= 1;
        self.unanswered += 1;
        self.owner.insert(request.0, (client, now));
        true
    }

    /// When `request`, if one of the clients', was sent.
    pub fn sent_at(&self, request: RequestId) -> Option<SimTime> {
        self.owner.get(&request.0).map(|&(_, at)| at)
    }

    /// `request` was answered now. Returns what follows: its client's next
    /// send, or, when the warm-up's last answer arrives, the measured phase.
    pub fn answered(&mut self, now: SimTime, request: RequestId) -> Next {
        let Some((client, _)) = self.owner.remove(&request.0) else { return Next::Nothing };
        self.unanswered -= 1;
        if self.unsent > 0 {
            return Next::Send { client, at: now + self.spec.think_time };
        }
        if self.phase == Phase::Warmup && self.unanswered == 0 {
            self.phase = Phase::Measured;
            self.unsent = self.spec.measured_requests();
            return Next::Measure;
        }
        Next::Nothing
    }
}

/// What an answer leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The client sends again at `at`.
    Send {
        client: u32,
        at: SimTime,
    },
    /// The warm-up is over: measure from now, and start the clients
    /// ([`ClosedLoop::start`]).
    Measure,
    Nothing,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(concurrency: u32, per_client: u32, warmup: u32) -> ClosedLoopSpec {
        ClosedLoopSpec {
            concurrency,
            requests_per_client: per_client,
            think_time: SimDuration(5),
            ramp: SimDuration(30),
            warmup_requests: warmup,
        }
    }

    #[test]
    fn a_ramp_spreads_first_sends_and_a_phase_never_starts_more_clients_than_requests() {
        let c = ClosedLoop::new(spec(3, 2, 0));
        let starts: Vec<_> = c.start(SimTime(100)).collect();
        assert_eq!(starts, vec![(0, SimTime(100)), (1, SimTime(110)), (2, SimTime(120))]);
        let w = ClosedLoop::new(spec(3, 2, 1));
        assert_eq!((w.phase(), w.start(SimTime(0)).count()), (Phase::Warmup, 1));
    }

    #[test]
    fn answers_hand_out_the_shared_pool_then_the_warmup_gives_way_to_measurement() {
        let mut c = ClosedLoop::new(spec(2, 1, 2));
        assert!(c.send(SimTime(0), 0, RequestId(0)) && c.send(SimTime(0), 1, RequestId(1)));
        assert!(!c.send(SimTime(0), 1, RequestId(2)), "the warm-up has two requests");
        assert_eq!(c.sent_at(RequestId(1)), Some(SimTime(0)));
        assert_eq!(c.answered(SimTime(7), RequestId(0)), Next::Nothing, "one warm-up answer is still out");
        assert_eq!(c.answered(SimTime(9), RequestId(1)), Next::Measure);
        assert_eq!(c.phase(), Phase::Measured);
        assert!(c.send(SimTime(9), 0, RequestId(3)) && c.send(SimTime(9), 1, RequestId(4)));
        assert!(!c.send(SimTime(9), 0, RequestId(5)));
        assert_eq!(c.answered(SimTime(20), RequestId(3)), Next::Nothing, "all sent");
        assert_eq!(c.answered(SimTime(20), RequestId(99)), Next::Nothing, "not a client's request");
    }

    #[test]
    fn an_answer_with_requests_left_brings_its_client_back_after_thinking() {
        let mut c = ClosedLoop::new(spec(1, 2, 0));
        assert!(c.send(SimTime(0), 0, RequestId(0)));
        assert_eq!(c.answered(SimTime(50), RequestId(0)), Next::Send { client: 0, at: SimTime(55) });
    }
}
