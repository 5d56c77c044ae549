//! The sim driver for the batching station: the scheduling core under a
//! virtual clock.
//!
//! It owns the event queue, the arrival stream and the modeled GPUs, feeds
//! the core `(now, input)` and carries out its actions: a `StartBatch`
//! becomes a `BatchDone` event after a modeled service time, an `ArmTimer`
//! a `Timer` event, a `Respond` a record. Random draws come from named
//! streams: `arrivals`, `router`, `service/gpu-<i>` (one per GPU) and
//! `service/shared` (processor sharing), so changing one component never
//! shifts another's draws.
//!
//! Pending events are O(GPUs + queues): one arrival, one completion per
//! busy GPU, one flush timer per queue. Each event is O(log pending).

use super::limits::{self, run_end, window, Arrivals};
use crate::core::station::{Action, BatchId, Input, Scheduler, StationConfig};
use crate::core::RequestId;
use crate::engine::{Clock, RngStreams};
use crate::metrics::recorder::Recorded;
use crate::metrics::timeline::Levels;
use crate::metrics::Recorder;
use crate::model::ServiceModel;
use crate::model::SharedServer;
use crate::scenario::{RunConfig, Scenario};
use crate::time::SimTime;
use crate::workload::Arrival;
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone, Copy)]
enum Event {
    Arrival,
    BatchDone(BatchId),
    Timer { queue: u32, at: SimTime },
    SharedDone { generation: u64 },
}

/// Runs the station over the scenario's arrivals.
pub(super) fn run(
    scenario: &Scenario,
    station: &StationConfig,
    service: &ServiceModel,
    seed: u64,
    run: &RunConfig,
) -> Recorded {
    StationRun::new(scenario, station, service, seed, run).run(&scenario.name, seed)
}

/// One station run: the core, the modeled GPUs and the clock.
struct StationRun<'a> {
    service: &'a ServiceModel,
    processor_sharing: bool,
    core: Scheduler,
    arrivals: Arrivals,
    /// The next arrival, scheduled as `Event::Arrival`.
    pending: Option<Arrival>,
    offered: u64,
    gpu_rngs: Vec<ChaCha8Rng>,
    shared_rng: ChaCha8Rng,
    /// Processor sharing: the GPUs as one shared server.
    shared: Option<SharedServer>,
    /// The GPU each batch runs on (FCFS GPUs), by batch id.
    batch_server: Vec<u32>,
    busy_gpus: u32,
    actions: Vec<Action>,
    recorder: Recorder,
    clock: Clock<Event>,
}

impl<'a> StationRun<'a> {
    fn new(
        scenario: &Scenario,
        station: &StationConfig,
        service: &'a ServiceModel,
        seed: u64,
        run: &RunConfig,
    ) -> Self {
        let streams = RngStreams::new(seed);
        let servers = station.servers;
        let core = Scheduler::new(station.clone(), streams.stream("router"));
        let mut arrivals = Arrivals::new(scenario, &streams, run);
        let gpu_rngs = (0..servers).map(|i| streams.stream(&format!("service/gpu-{i}"))).collect();
        let shared_rng = streams.stream("service/shared");
        let recorder = Recorder::new(run.warmup, run.measure_until, servers, window(scenario, run));
        let mut clock = Clock::new(limits::stop(run), run.drain).with_event_cap(run.max_events);
        let pending = arrivals.next();
        if let Some(a) = &pending {
            clock.schedule(a.at, Event::Arrival);
        }
        StationRun {
            service,
            processor_sharing: station.processor_sharing,
            core,
            arrivals,
            pending,
            offered: 0,
            gpu_rngs,
            shared_rng,
            shared: station.processor_sharing.then(|| SharedServer::new(servers)),
            batch_server: Vec::new(),
            busy_gpus: 0,
            actions: Vec::new(),
            recorder,
            clock,
        }
    }

    fn run(mut self, scenario: &str, seed: u64) -> Recorded {
        while let Some((now, event)) = self.clock.next_event() {
            self.handle(now, event);
            self.carry_out(now);
            self.record_levels(now);
        }
        let idle = self.core.waiting() == 0 && self.core.in_service() == 0;
        self.recorder.finish(scenario, seed, run_end(self.clock.ending(), idle), self.processor_sharing)
    }

    fn handle(&mut self, now: SimTime, event: Event) {
        let actions = &mut self.actions;
        match event {
            Event::Arrival => {
                let Some(arrival) = self.pending.take() else { return };
                let request = RequestId(self.offered);
                self.clock.arrived();
                self.offered += 1;
                self.recorder.arrival(request, &arrival);
                self.core.handle(now, Input::Arrival { request }, actions);
                self.pending = self.arrivals.next();
                if let Some(a) = &self.pending {
                    self.clock.schedule(a.at, Event::Arrival);
                }
            }
            Event::BatchDone(batch) => {
                let server = self.batch_server[batch.0 as usize];
                self.recorder.batch_finished(now, server);
                self.busy_gpus -= 1;
                self.core.handle(now, Input::BatchDone { batch }, actions);
            }
            Event::Timer { queue, at } => self.core.handle(now, Input::Timer { queue, at }, actions),
            Event::SharedDone { generation } => {
                let Some(ps) = self.shared.as_mut() else { return };
                if let Some((job, next)) = ps.complete(now, generation) {
                    if let Some((at, generation)) = next {
                        self.clock.schedule(at, Event::SharedDone { generation });
                    }
                    self.core.handle(now, Input::BatchDone { batch: job }, actions);
                }
            }
        }
    }

    /// Carries out the core's actions.
    fn carry_out(&mut self, now: SimTime) {
        let mut actions = std::mem::take(&mut self.actions);
        for action in actions.drain(..) {
            match action {
                Action::StartBatch { batch, server, size } => self.start_batch(now, batch, server, size),
                Action::Respond { request, outcome, arrived, started } => {
                    self.recorder.respond(now, request, outcome, arrived, started);
                }
                Action::ArmTimer { queue, at } => self.clock.schedule(at, Event::Timer { queue, at }),
            }
        }
        self.actions = actions;
    }

    /// A batch starts: on the shared server, or on its own GPU.
    fn start_batch(&mut self, now: SimTime, batch: BatchId, server: u32, size: u32) {
        self.recorder.batch_started(now, server, size);
        if let Some(ps) = self.shared.as_mut() {
            let work = self.service.batch_time(size, &mut self.shared_rng);
            let (at, generation) = ps.admit(now, batch, work);
            self.clock.schedule(at, Event::SharedDone { generation });
            return;
        }
        let i = batch.0 as usize;
        if self.batch_server.len() <= i {
            self.batch_server.resize(i + 1, 0);
        }
        self.batch_server[i] = server;
        self.busy_gpus += 1;
        let took = self.service.batch_time(size, &mut self.gpu_rngs[server as usize]);
        self.recorder.step_modeled(now, server, took);
        self.clock.schedule(now + took, Event::BatchDone(batch));
    }

    fn record_levels(&mut self, now: SimTime) {
        let busy = self.shared.as_ref().map_or(f64::from(self.busy_gpus), SharedServer::busy);
        let waiting = self.core.waiting() as f64;
        let in_service = self.core.in_service() as f64;
        let levels = Levels { in_system: waiting + in_service, waiting, busy, kv_used: 0.0, running: in_service };
        self.recorder.levels(now, levels);
    }
}
