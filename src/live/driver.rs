//! The live driver: the LLM core under the wall clock, each step run on an
//! executor.
//!
//! Why it reuses the sim driver's loop: the point of a live run is to see
//! the *same* decisions meet real step times, so arrivals, sizes, routing,
//! recording and the report all come from `sim::llm::drive`. Only the
//! `Steps` differ: here `start` hands the step to a worker thread that
//! owns the executor, and `wait` sleeps until the next queued event (an
//! arrival replayed at its scenario time, a timer) is due on the wall
//! clock, or returns early when the worker reports a finished step. Time
//! in the core is wall time since the run began, in nanoseconds.
//!
//! One executor serves every replica: steps of different replicas queue on
//! the one device, as they would on a single GPU. To replay a trace faster
//! than real time, scale it in the scenario (`--set workload.time_scale=10`).
//! A live run is not deterministic (it measures), so its report is for
//! comparison, not for byte-identical snapshots.

use super::{Executor, LiveError};
use crate::core::llm::StepShape;
use crate::metrics::recorder::Recorded;
use crate::model::profile::CalibratedProfile;
use crate::model::step::StepModel;
use crate::scenario::{LlmConfig, Scenario, Serving};
use crate::sim::llm::{drive, Steps, Waited};
use crate::time::{SimDuration, SimTime};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

type Done = (u32, Result<Duration, LiveError>);

/// One live step: its shape, the executor's own timing (CUDA events, or
/// the CPU's clock around the step) and the wall time the core saw from
/// `StartStep` to `StepDone` (hand-off to the worker and back included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepTiming {
    pub shape: StepShape,
    pub executor: Duration,
    pub wall: Duration,
}

/// A live run's record and its steps.
pub struct LiveRun {
    pub recorded: Recorded,
    pub steps: Vec<StepTiming>,
}

/// Steps run on a worker thread's executor, ended in wall-clock time.
struct Live {
    backend: &'static str,
    start: Instant,
    jobs: Option<Sender<(u32, StepShape)>>,
    done: Receiver<Done>,
    /// Started, not yet reported: (shape, when sent), FIFO (one worker).
    pending: std::collections::VecDeque<(StepShape, Instant)>,
    steps: Vec<StepTiming>,
    worker: Option<JoinHandle<Box<dyn Executor>>>,
    in_flight: usize,
    error: Option<LiveError>,
}

impl Live {
    fn new(mut exec: Box<dyn Executor>) -> Live {
        let backend = exec.backend().name();
        let (jobs, inbox) = mpsc::channel::<(u32, StepShape)>();
        let (report, done) = mpsc::channel::<Done>();
        let worker = std::thread::spawn(move || {
            for (replica, shape) in inbox {
                if report.send((replica, exec.run(&shape))).is_err() {
                    break;
                }
            }
            exec
        });
        Live {
            backend,
            start: Instant::now(),
            jobs: Some(jobs),
            done,
            pending: Default::default(),
            steps: Vec::new(),
            worker: Some(worker),
            in_flight: 0,
            error: None,
        }
    }

    fn now(&self) -> SimTime {
        SimTime::ZERO + SimDuration(self.start.elapsed().as_nanos() as u64)
    }

    /// Stops the worker; its steps and executor, or the first error.
    fn finish(mut self) -> Result<(Vec<StepTiming>, Box<dyn Executor>), LiveError> {
        self.jobs = None;
        let exec = self.worker.take().map(JoinHandle::join);
        match (self.error, exec) {
            (Some(e), _) => Err(e),
            (None, Some(Ok(exec))) => Ok((self.steps, exec)),
            (None, _) => Err(LiveError::Stopped("the executor thread panicked".into())),
        }
    }
}

impl Steps for Live {
    fn backend(&self) -> &'static str {
        self.backend
    }

    fn start(&mut self, replica: u32, shape: StepShape, _modeled: SimDuration) -> Option<SimDuration> {
        let sent = Instant::now();
        match self.jobs.as_ref().map(|j| j.send((replica, shape))) {
            Some(Ok(())) => {
                self.in_flight += 1;
                self.pending.push_back((shape, sent));
            }
            _ => self.error = Some(LiveError::Stopped("the executor thread is gone".into())),
        }
        None
    }

    fn wait(&mut self, next: Option<SimTime>) -> Waited {
        if self.error.is_some() {
            return Waited::Stop;
        }
        let now = self.now();
        if next.is_some_and(|t| t <= now) {
            return Waited::Due;
        }
        let received = match (next, self.in_flight) {
            (None, 0) => return Waited::Due,
            (Some(t), 0) => {
                std::thread::sleep(Duration::from_nanos(t.since(now).0));
                return Waited::Due;
            }
            (Some(t), _) => match self.done.recv_timeout(Duration::from_nanos(t.since(now).0)) {
                Err(RecvTimeoutError::Timeout) => return Waited::Due,
                other => other.map_err(|_| ()),
            },
            (None, _) => self.done.recv().map_err(|_| ()),
        };
        self.in_flight = self.in_flight.saturating_sub(1);
        match received {
            Ok((replica, Ok(executor))) => {
                if let Some((shape, sent)) = self.pending.pop_front() {
                    self.steps.push(StepTiming { shape, executor, wall: sent.elapsed() });
                }
                // Never after the queued event that was not yet due.
                let at = next.map_or(self.now(), |t| self.now().min(t));
                Waited::StepDone { at, replica }
            }
            Ok((_, Err(e))) => {
                self.error = Some(e);
                Waited::Stop
            }
            Err(()) => {
                self.error = Some(LiveError::Stopped("the executor thread ended".into()));
                Waited::Stop
            }
        }
    }
}

/// The scenario's LLM settings, with the step model of what an executor
/// runs: `model` on one GPU of the scenario's GPU profile, optionally
/// `calibrated`. Scheduling settings (replicas, KV blocks, policy) are
/// unchanged, so a live run and a simulated one make the same decisions.
pub fn executed_config(
    llm: &LlmConfig,
    exec: &super::ExecModel,
    calibrated: Option<&CalibratedProfile>,
) -> Result<LlmConfig, LiveError> {
    let model = exec.profile();
    let step = StepModel::new(&llm.gpu, &model, 1, calibrated).map_err(|e| LiveError::Shape(e.to_string()))?;
    Ok(LlmConfig { model, step, tp: 1, ..llm.clone() })
}

/// The LLM settings of `scenario`, or an error for station scenarios.
pub fn llm_config(scenario: &Scenario) -> Result<&LlmConfig, LiveError> {
    match &scenario.serving {
        Serving::Llm(llm) => Ok(llm),
        Serving::Station { .. } => Err(LiveError::Shape(format!(
            "scenario `{}` is a batching-station scenario; the live backends run LLM-serving scenarios \
             (with a [replica] section)",
            scenario.name
        ))),
        Serving::Fleet(_) => Err(LiveError::Shape(format!(
            "scenario `{}` is a fleet; the live backends run one pool (a [replica] section)",
            scenario.name
        ))),
    }
}

/// Runs `scenario` live on `exec`, in real time. The summary says
/// `backend = "cpu" | "cuda"`; the model is the executed one.
pub fn run(scenario: &Scenario, exec: Box<dyn Executor>) -> Result<LiveRun, LiveError> {
    let llm = executed_config(llm_config(scenario)?, exec.model(), None)?;
    let mut live = Live::new(exec);
    let recorded = drive(scenario, &llm, scenario.seed, &scenario.run, &mut live);
    let (steps, _) = live.finish()?;
    Ok(LiveRun { recorded, steps })
}

/// The mean hand-off of the live path: wall time from `StartStep` to
/// `StepDone` minus the executor's own timing, over `n` steps of `shape`
/// sent one at a time through the worker thread, as a live run sends them.
/// It is host time outside every timed step, so calibration adds it to the
/// fitted overhead. The mean, not the median: thread wake-ups on a busy
/// host have a long tail, and every step pays it on average. Returns the
/// executor for further use.
pub fn handoff(
    exec: Box<dyn Executor>,
    shape: StepShape,
    n: usize,
) -> Result<(Duration, Box<dyn Executor>), LiveError> {
    let mut live = Live::new(exec);
    for _ in 0..n {
        live.start(0, shape, SimDuration::ZERO);
        if let Waited::Stop = live.wait(None) {
            break;
        }
    }
    let (steps, exec) = live.finish()?;
    let total: Duration = steps.iter().map(|s| s.wall.saturating_sub(s.executor)).sum();
    Ok((total / steps.len().max(1) as u32, exec))
}
