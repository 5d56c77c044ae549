//! Where one step's time goes: the answer both step models give (the
//! roofline in `step.rs`, the engine model in `engine_step.rs`), kept apart
//! from either so that they depend on it and not on each other.

use crate::time::SimDuration;

/// Where one step's time goes (per GPU of the replica).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepCost {
    /// All bytes read and written: weights and KV cache.
    pub bytes_per_gpu: f64,
    /// All FLOPs: linear layers and attention.
    pub flops_per_gpu: f64,
    /// The KV-cache part of `bytes_per_gpu` (read and written).
    pub kv_bytes_per_gpu: f64,
    /// The attention part of `flops_per_gpu`.
    pub attention_flops_per_gpu: f64,
    pub overhead_s: f64,
    /// Time to move the bytes; with the attention term, the sum of the
    /// linear and the attention terms' memory times.
    pub memory_s: f64,
    /// Time for the FLOPs; with the attention term, the sum of the two
    /// terms' compute times.
    pub compute_s: f64,
    pub comm_s: f64,
    /// The step's duration, rounded once to whole nanoseconds.
    pub time: SimDuration,
}

impl StepCost {
    /// True when reading memory, not arithmetic, sets the roofline term
    /// (with the attention term: when `memory_s >= compute_s` summed over
    /// both terms).
    pub fn memory_bound(&self) -> bool {
        self.memory_s >= self.compute_s
    }
}
