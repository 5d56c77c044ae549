//! Planning and checking: sweeps to find the knee, replications with
//! confidence intervals, and the queueing-theory formulas the simulator is
//! validated against.

pub mod capacity;
pub mod capacity_report;
pub mod compare;
pub mod compare_report;
pub mod replicate;
pub mod space;
pub mod sweep;
pub mod theory;
pub mod tradeoff;
