//! Planning and checking: sweeps to find the knee, replications with
//! confidence intervals, and the queueing-theory formulas the simulator is
//! validated against.

pub mod check;
pub mod replicate;
pub mod sweep;
pub mod theory;
pub mod tradeoff;
