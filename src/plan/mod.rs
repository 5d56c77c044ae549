//! Planning and checking: sweeps to find the knee, replications with
//! confidence intervals, sharding a study across machines, and the
//! queueing-theory formulas the simulator is validated against. Every
//! study loads its points from one [`source::Source`].

pub mod capacity;
pub mod capacity_report;
pub mod check;
pub mod compare;
pub mod compare_report;
pub mod replicate;
pub mod shard;
pub mod source;
pub mod space;
pub mod sweep;
pub mod theory;
pub mod tradeoff;

use std::fmt;

/// A planning input refused before any work: what is wrong and how to
/// write it instead. The caller prefixes where it came from (a flag, a file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub hint: String,
}

impl Refusal {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Refusal { message: message.into(), hint: hint.into() }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n  hint: {}", self.message, self.hint)
    }
}

impl std::error::Error for Refusal {}
