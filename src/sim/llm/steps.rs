//! How a driver turns the core's `StartStep` into a `StepDone`: the one
//! thing the sim and live drivers do differently.
//!
//! Why a trait and not a flag: the live driver (`crate::live::driver`)
//! runs the same [`super::LlmRun`] with steps on a real executor, so the
//! arrivals, routing, recording and report it compares stay the sim's.

use crate::core::llm::StepShape;
use crate::time::{SimDuration, SimTime};

/// What ended a step-driving loop early.
pub(crate) enum Waited {
    /// The earliest queued event is due (or nothing is left to wait for).
    Due,
    /// A step started by [`Steps::start`] ended at `at` on `replica`.
    StepDone { at: SimTime, replica: u32 },
    /// The steps' executor failed: end the run here (the caller reports
    /// the failure and discards the record).
    Stop,
}

/// The sim schedules the modeled duration on the virtual clock; the live
/// driver runs the step on a real executor and reports its end, in
/// wall-clock time, from `wait`.
pub(crate) trait Steps {
    /// "sim", "cpu" or "cuda": the summary's `backend`.
    fn backend(&self) -> &'static str;
    /// Starts a step whose modeled duration (step model plus KV swap) is
    /// `modeled`. Returns the duration to schedule on the event queue, or
    /// `None` when the step's end is reported by [`Steps::wait`].
    fn start(&mut self, replica: u32, shape: StepShape, modeled: SimDuration) -> Option<SimDuration>;
    /// Called before each event: returns when `next` (the earliest queued
    /// event) is due, or earlier when a started step ends.
    fn wait(&mut self, next: Option<SimTime>) -> Waited;
}

/// The virtual clock's steps: the modeled duration, nothing to wait for.
pub(super) struct Modeled;

impl Steps for Modeled {
    fn backend(&self) -> &'static str {
        "sim"
    }
    fn start(&mut self, _: u32, _: StepShape, modeled: SimDuration) -> Option<SimDuration> {
        Some(modeled)
    }
    fn wait(&mut self, _: Option<SimTime>) -> Waited {
        Waited::Due
    }
}
