//! The sim driver: the scheduling core under a virtual clock.
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

use crate::core::station::{Action, BatchId, Input, Scheduler, StationConfig};
use crate::core::RequestId;
use crate::engine::{EventQueue, RngStreams};
use crate::metrics::recorder::{Recorded, RunEnd};
use crate::metrics::timeline::auto_width;
use crate::metrics::Recorder;
use crate::model::ServiceModel;
use crate::model::SharedServer;
use crate::scenario::{RunConfig, Scenario, Serving};
use crate::time::{SimDuration, SimTime};
use crate::workload::{Arrival, ArrivalSpec, ArrivalStream};

mod fallback;
mod frontdoor;
pub(crate) mod llm;
mod safety;

#[derive(Debug, Clone, Copy)]
enum Event {
    Arrival,
    BatchDone(BatchId),
    Timer { queue: u32, at: SimTime },
    SharedDone { generation: u64 },
}

/// Runs `scenario` with its own seed and run settings.
pub fn run(scenario: &Scenario) -> Recorded {
    run_with(scenario, scenario.seed, &scenario.run)
}

/// The span arrivals are expected to cover (for the timeline's width).
fn horizon(scenario: &Scenario, run: &RunConfig) -> SimDuration {
    if let Some(d) = run.duration {
        return d;
    }
    match &scenario.arrivals {
        ArrivalSpec::Trace { records, time_scale } => {
            SimDuration::from_secs_f64(records.last().map_or(0.0, |r| r.offset_ns as f64 / 1e9) / time_scale)
        }
        spec @ ArrivalSpec::Renewal { .. } => {
            let rate = ArrivalStream::mean_rate(spec, 1.0).max(f64::MIN_POSITIVE);
            SimDuration::from_secs_f64(run.max_requests.unwrap_or(1) as f64 / rate)
        }
    }
}

/// Runs `scenario` with an explicit seed and run settings (replications).
pub fn run_with(scenario: &Scenario, seed: u64, run: &RunConfig) -> Recorded {
    match &scenario.serving {
        Serving::Station { station, service } => run_station(scenario, station, service, seed, run),
        Serving::Llm(llm) => llm::run(scenario, llm, seed, run),
    }
}

/// The arrival stream, cut off at the run's duration or request limit.
pub(crate) struct Arrivals {
    stream: ArrivalStream,
    stop: Option<SimTime>,
    max_requests: Option<u64>,
    offered: u64,
}

impl Arrivals {
    pub(crate) fn new(scenario: &Scenario, streams: &RngStreams, run: &RunConfig) -> Self {
        Arrivals {
            stream: ArrivalStream::new(scenario.arrivals.clone(), streams.stream("arrivals")),
            stop: run.duration.map(|d| SimTime::ZERO + d),
            max_requests: run.max_requests,
            offered: 0,
        }
    }

    /// The next arrival within the limits, counting it as offered.
    pub(crate) fn next(&mut self) -> Option<Arrival> {
        let a = self.stream.next()?;
        let within = self.stop.is_none_or(|stop| a.at < stop) && self.max_requests.is_none_or(|max| self.offered < max);
        within.then(|| {
            self.offered += 1;
            a
        })
    }
}

/// The window width for the timeline: set, or ~100 rows over the horizon.
pub(crate) fn window(scenario: &Scenario, run: &RunConfig) -> SimDuration {
    run.window.unwrap_or_else(|| auto_width(horizon(scenario, run)))
}

fn run_station(
    scenario: &Scenario,
    station: &StationConfig,
    service: &ServiceModel,
    seed: u64,
    run: &RunConfig,
) -> Recorded {
    let streams = RngStreams::new(seed);
    let servers = station.servers;
    let mut core = Scheduler::new(station.clone(), streams.stream("router"));
    let mut arrivals = Arrivals::new(scenario, &streams, run);
    let mut gpu_rngs: Vec<_> = (0..servers).map(|i| streams.stream(&format!("service/gpu-{i}"))).collect();
    let mut shared_rng = streams.stream("service/shared");
    let mut shared = station.processor_sharing.then(|| SharedServer::new(servers));
    let mut recorder = Recorder::new(run.warmup, run.measure_until, servers, window(scenario, run));

    let stop_arrivals = run.duration.map(|d| SimTime::ZERO + d);
    let mut queue = EventQueue::new();
    let mut offered: u64 = 0;
    let mut pending = arrivals.next();
    if let Some(a) = &pending {
        queue.schedule(a.at, Event::Arrival);
    }

    let mut batch_server: Vec<u32> = Vec::new();
    let mut busy_gpus: u32 = 0;
    let mut actions = Vec::new();
    let mut events: u64 = 0;
    let mut end = SimTime::ZERO;
    let mut last_arrival = SimTime::ZERO;
    let mut cut_off = false;
    while let Some((now, event)) = queue.pop() {
        if let (false, Some(stop)) = (run.drain, stop_arrivals) {
            if now > stop {
                end = stop;
                cut_off = true;
                break;
            }
        }
        events += 1;
        end = now;
        match event {
            Event::Arrival => {
                let Some(arrival) = pending.take() else { continue };
                let request = RequestId(offered);
                last_arrival = now;
                offered += 1;
                recorder.arrival(request, &arrival);
                core.handle(now, Input::Arrival { request }, &mut actions);
                pending = arrivals.next();
                if let Some(a) = &pending {
                    queue.schedule(a.at, Event::Arrival);
                }
            }
            Event::BatchDone(batch) => {
                let server = batch_server[batch.0 as usize];
                recorder.batch_finished(now, server);
                busy_gpus -= 1;
                core.handle(now, Input::BatchDone { batch }, &mut actions);
            }
            Event::Timer { queue: q, at } => core.handle(now, Input::Timer { queue: q, at }, &mut actions),
            Event::SharedDone { generation } => {
                let Some(ps) = shared.as_mut() else { continue };
                if let Some((job, next)) = ps.complete(now, generation) {
                    if let Some((at, generation)) = next {
                        queue.schedule(at, Event::SharedDone { generation });
                    }
                    core.handle(now, Input::BatchDone { batch: job }, &mut actions);
                }
            }
        }
        for action in actions.drain(..) {
            match action {
                Action::StartBatch { batch, server, size } => {
                    recorder.batch_started(now, server, size);
                    if let Some(ps) = shared.as_mut() {
                        let work = service.batch_time(size, &mut shared_rng);
                        let (at, generation) = ps.admit(now, batch, work);
                        queue.schedule(at, Event::SharedDone { generation });
                    } else {
                        let i = batch.0 as usize;
                        if batch_server.len() <= i {
                            batch_server.resize(i + 1, 0);
                        }
                        batch_server[i] = server;
                        busy_gpus += 1;
                        let took = service.batch_time(size, &mut gpu_rngs[server as usize]);
                        queue.schedule(now + took, Event::BatchDone(batch));
                    }
                }
                Action::Respond { request, outcome, arrived, started } => {
                    recorder.respond(now, request, outcome, arrived, started);
                }
                Action::ArmTimer { queue: q, at } => queue.schedule(at, Event::Timer { queue: q, at }),
            }
        }
        let busy = shared.as_ref().map_or(f64::from(busy_gpus), SharedServer::busy);
        let waiting = core.waiting() as f64;
        let in_service = core.in_service() as f64;
        recorder.levels(now, [waiting + in_service, waiting, busy, 0.0, in_service]);
    }
    let drained = !cut_off && core.waiting() == 0 && core.in_service() == 0;
    let arrivals_end = stop_arrivals.unwrap_or(last_arrival).min(end);
    let run_end = RunEnd { end, arrivals_end, events, events_in_past: queue.clamped(), drained };
    recorder.finish(&scenario.name, seed, run_end, station.processor_sharing)
}
