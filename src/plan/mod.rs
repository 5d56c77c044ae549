//! Planning and checking: replications with confidence intervals, and the
//! queueing-theory formulas the simulator is validated against.

pub mod replicate;
pub mod theory;
