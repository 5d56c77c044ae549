//! The batching station: static batching of whole requests on GPUs,
//! behind one shared queue or one queue per GPU. The driver feeds
//! `(now, Input)` to the [`Scheduler`] and carries out its `Action`s (start
//! a batch, respond, arm a flush timer); the LLM core (`llm`) and the
//! safety stage (`safety`, which runs its classifier pools as
//! stations) have their own inputs and actions.
//!
//! A GPU takes a batch when it is idle and its queue holds `max_batch`
//! requests, or when the oldest waiting request has waited `max_wait` (a
//! partial flush). Whole batches run to completion; on `BatchDone` each
//! caller gets *its own* response (the batch remembers its request ids: the
//! response router). Queues are bounded: overflow is answered `Overloaded`
//! at once, never dropped. With `processor_sharing`, every admitted request
//! starts at once as a batch of one and the driver's GPU model shares its
//! capacity among them.
//!
//! Cost: arrival O(1) (+ O(log servers) to find an idle GPU), batch start
//! O(batch), completion O(batch) — one response per request is inherent.

use super::{Outcome, RequestId, Slab};
use crate::time::{SimDuration, SimTime};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, VecDeque};

/// A batch running on a GPU; the id is reused after the batch completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BatchId(pub u32);

/// What the driver tells the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A request arrived now.
    Arrival { request: RequestId },
    /// The GPU finished this batch now.
    BatchDone { batch: BatchId },
    /// A timer armed with `ArmTimer { queue, at }` fired.
    Timer { queue: u32, at: SimTime },
}

/// What the core asks the driver to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run a batch of `size` requests on GPU `server`; report `BatchDone`
    /// when it finishes.
    StartBatch { batch: BatchId, server: u32, size: u32 },
    /// Deliver `outcome` to the caller of `request`. `started` is when its
    /// batch began (None if it never ran).
    Respond { request: RequestId, outcome: Outcome, arrived: SimTime, started: Option<SimTime> },
    /// Feed `Input::Timer { queue, at }` back at time `at`.
    ArmTimer { queue: u32, at: SimTime },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum QueueLayout {
    /// One queue feeds every GPU (pooling: best latency, one point of contention).
    #[default]
    Shared,
    /// Each GPU has its own queue; arrivals are routed on arrival.
    PerServer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Routing {
    /// Cycle through the GPUs.
    #[default]
    RoundRobin,
    /// Fewest requests waiting plus in service; ties to the lowest index.
    JoinShortestQueue,
    /// Uniformly at random (stream "router").
    Random,
}

/// The core's view of a station: no service times, those belong to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct StationConfig {
    pub servers: u32,
    pub layout: QueueLayout,
    pub routing: Routing,
    /// Waiting requests per queue (in service, under processor sharing).
    pub queue_capacity: Option<u64>,
    pub max_batch: u32,
    pub max_wait: SimDuration,
    pub processor_sharing: bool,
}

#[derive(Debug, Clone, Copy)]
struct Waiting {
    request: RequestId,
    arrived: SimTime,
}

#[derive(Debug)]
struct RunningBatch {
    server: u32,
    started: SimTime,
    members: Vec<Waiting>,
}

/// The scheduling state machine. Feed it with [`Scheduler::handle`].
pub struct Scheduler {
    config: StationConfig,
    queues: Vec<VecDeque<Waiting>>,
    /// Earliest flush timer pending per queue, to avoid arming duplicates.
    armed: Vec<Option<SimTime>>,
    /// Idle GPUs, lowest index first (FCFS only).
    idle: BTreeSet<u32>,
    /// Requests in service per GPU (for join-shortest-queue).
    in_service: Vec<u64>,
    /// Running batches by `BatchId`.
    batches: Slab<RunningBatch>,
    running: u64,
    next_server: u32,
    router_rng: ChaCha8Rng,
}

impl Scheduler {
    /// `router_rng` is only drawn from by `Routing::Random`.
    pub fn new(config: StationConfig, router_rng: ChaCha8Rng) -> Self {
        let queue_count = match config.layout {
            QueueLayout::Shared => 1,
            QueueLayout::PerServer => config.servers as usize,
        };
        Scheduler {
            queues: vec![VecDeque::new(); queue_count],
            armed: vec![None; queue_count],
            idle: (0..config.servers).collect(),
            in_service: vec![0; config.servers as usize],
            batches: Slab::default(),
            running: 0,
            next_server: 0,
            router_rng,
            config,
        }
    }

    /// Requests waiting in all queues (not yet in a batch).
    pub fn waiting(&self) -> u64 {
        self.queues.iter().map(|q| q.len() as u64).sum()
    }

    /// Requests in running batches.
    pub fn in_service(&self) -> u64 {
        self.running
    }

    /// Advances the state machine by one input at time `now`.
    pub fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Action>) {
        match input {
            Input::Arrival { request } => self.on_arrival(now, request, out),
            Input::BatchDone { batch } => self.on_batch_done(now, batch, out),
            Input::Timer { queue, at } => {
                let q = queue as usize;
                if self.armed.get(q) == Some(&Some(at)) {
                    self.armed[q] = None;
                }
                if q < self.queues.len() {
                    self.dispatch(now, q, out);
                }
            }
        }
    }

    fn on_arrival(&mut self, now: SimTime, request: RequestId, out: &mut Vec<Action>) {
        let waiting = Waiting { request, arrived: now };
        if self.config.processor_sharing {
            let full = self.config.queue_capacity.is_some_and(|cap| self.running >= cap);
            if full {
                out.push(reject(waiting));
            } else {
                self.start_batch(now, 0, vec![waiting], out);
            }
            return;
        }
        let q = self.route();
        self.queues[q].push_back(waiting);
        self.dispatch(now, q, out);
        let over = self.config.queue_capacity.is_some_and(|cap| self.queues[q].len() as u64 > cap);
        if over {
            if let Some(newest) = self.queues[q].pop_back() {
                out.push(reject(newest));
            }
        }
    }

    fn route(&mut self) -> usize {
        let n = self.config.servers;
        if self.config.layout == QueueLayout::Shared {
            return 0;
        }
        let server = match self.config.routing {
            Routing::RoundRobin => {
                let s = self.next_server;
                self.next_server = (s + 1) % n;
                s
            }
            Routing::Random => self.router_rng.random_range(0..n),
            Routing::JoinShortestQueue => {
                (0..n).min_by_key(|&s| self.queues[s as usize].len() as u64 + self.in_service[s as usize]).unwrap_or(0)
            }
        };
        server as usize
    }

    /// Starts batches from queue `q` while a GPU it feeds is idle and a batch
    /// is due (full, or its oldest request has waited `max_wait`); otherwise
    /// arms a flush timer for the oldest request.
    fn dispatch(&mut self, now: SimTime, q: usize, out: &mut Vec<Action>) {
        let max_batch = self.config.max_batch as usize;
        while let Some(oldest) = self.queues[q].front().copied() {
            let server = match self.config.layout {
                QueueLayout::Shared => self.idle.first().copied(),
                QueueLayout::PerServer => self.idle.get(&(q as u32)).copied(),
            };
            let Some(server) = server else { return };
            let due = oldest.arrived + self.config.max_wait;
            if self.queues[q].len() < max_batch && now < due {
                if self.armed[q].is_none_or(|armed| armed > due) {
                    self.armed[q] = Some(due);
                    out.push(Action::ArmTimer { queue: q as u32, at: due });
                }
                return;
            }
            self.idle.remove(&server);
            let take = self.queues[q].len().min(max_batch);
            let members: Vec<Waiting> = self.queues[q].drain(..take).collect();
            self.start_batch(now, server, members, out);
        }
    }

    fn start_batch(&mut self, now: SimTime, server: u32, members: Vec<Waiting>, out: &mut Vec<Action>) {
        let size = members.len() as u32;
        self.running += u64::from(size);
        self.in_service[server as usize] += u64::from(size);
        let state = RunningBatch { server, started: now, members };
        let id = self.batches.insert(state);
        out.push(Action::StartBatch { batch: BatchId(id), server, size });
    }

    fn on_batch_done(&mut self, now: SimTime, batch: BatchId, out: &mut Vec<Action>) {
        let Some(done) = self.batches.remove(batch.0) else {
            return;
        };
        let size = done.members.len() as u64;
        self.running -= size;
        self.in_service[done.server as usize] -= size;
        for member in &done.members {
            out.push(Action::Respond {
                request: member.request,
                outcome: Outcome::Completed,
                arrived: member.arrived,
                started: Some(done.started),
            });
        }
        if self.config.processor_sharing {
            return;
        }
        self.idle.insert(done.server);
        let q = match self.config.layout {
            QueueLayout::Shared => 0,
            QueueLayout::PerServer => done.server as usize,
        };
        self.dispatch(now, q, out);
    }
}

fn reject(w: Waiting) -> Action {
    Action::Respond { request: w.request, outcome: Outcome::Overloaded, arrived: w.arrived, started: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn config(servers: u32, max_batch: u32, max_wait_ms: u64, cap: Option<u64>) -> StationConfig {
        StationConfig {
            servers,
            layout: QueueLayout::Shared,
            routing: Routing::RoundRobin,
            queue_capacity: cap,
            max_batch,
            max_wait: SimDuration::from_millis(max_wait_ms),
            processor_sharing: false,
        }
    }

    fn scheduler(c: StationConfig) -> Scheduler {
        Scheduler::new(c, ChaCha8Rng::seed_from_u64(0))
    }

    fn ms(v: u64) -> SimTime {
        SimTime(v * 1_000_000)
    }

    #[test]
    fn full_batch_dispatches_at_once() {
        let mut s = scheduler(config(1, 3, 100, None));
        let mut out = Vec::new();
        for i in 0..3 {
            s.handle(ms(i), Input::Arrival { request: RequestId(i) }, &mut out);
        }
        // Two arrivals arm one timer; the third fills the batch.
        assert_eq!(out[0], Action::ArmTimer { queue: 0, at: ms(100) });
        assert_eq!(out.len(), 2);
        assert_eq!(out[1], Action::StartBatch { batch: BatchId(0), server: 0, size: 3 });
    }

    #[test]
    fn partial_batch_flushes_after_max_wait() {
        let mut s = scheduler(config(1, 8, 10, None));
        let mut out = Vec::new();
        s.handle(ms(0), Input::Arrival { request: RequestId(0) }, &mut out);
        s.handle(ms(4), Input::Arrival { request: RequestId(1) }, &mut out);
        assert_eq!(out, vec![Action::ArmTimer { queue: 0, at: ms(10) }]);
        out.clear();
        s.handle(ms(10), Input::Timer { queue: 0, at: ms(10) }, &mut out);
        assert_eq!(out, vec![Action::StartBatch { batch: BatchId(0), server: 0, size: 2 }]);
    }

    #[test]
    fn each_caller_gets_its_own_response() {
        let mut s = scheduler(config(1, 2, 0, None));
        let mut out = Vec::new();
        s.handle(ms(0), Input::Arrival { request: RequestId(7) }, &mut out);
        s.handle(ms(1), Input::Arrival { request: RequestId(8) }, &mut out);
        s.handle(ms(2), Input::Arrival { request: RequestId(9) }, &mut out);
        out.clear();
        s.handle(ms(5), Input::BatchDone { batch: BatchId(0) }, &mut out);
        let responded: Vec<_> = out
            .iter()
            .filter_map(|a| match a {
                Action::Respond { request, started, .. } => Some((*request, *started)),
                _ => None,
            })
            .collect();
        assert_eq!(responded, vec![(RequestId(7), Some(ms(0)))]);
        // The GPU is free again: requests 8 and 9 go out together.
        assert!(out.contains(&Action::StartBatch { batch: BatchId(0), server: 0, size: 2 }));
    }

    #[test]
    fn overflow_is_rejected_not_dropped() {
        let mut s = scheduler(config(1, 1, 0, Some(1)));
        let mut out = Vec::new();
        for i in 0..3 {
            s.handle(ms(0), Input::Arrival { request: RequestId(i) }, &mut out);
        }
        let rejected: Vec<_> =
            out.iter().filter(|a| matches!(a, Action::Respond { outcome: Outcome::Overloaded, .. })).collect();
        assert_eq!(rejected.len(), 1);
        assert_eq!(s.waiting() + s.in_service(), 2);
    }

    #[test]
    fn per_server_queues_route_round_robin() {
        let mut c = config(2, 1, 0, None);
        c.layout = QueueLayout::PerServer;
        let mut s = scheduler(c);
        let mut out = Vec::new();
        for i in 0..4 {
            s.handle(ms(0), Input::Arrival { request: RequestId(i) }, &mut out);
        }
        let servers: Vec<u32> = out
            .iter()
            .filter_map(|a| match a {
                Action::StartBatch { server, .. } => Some(*server),
                _ => None,
            })
            .collect();
        assert_eq!(servers, vec![0, 1]);
        assert_eq!(s.waiting(), 2);
    }
}
