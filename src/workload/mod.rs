//! Who sends requests, and when: arrival processes, rate schedules and trace
//! replay. A workload yields arrivals one at a time, in time order, so the
//! driver holds one pending arrival, never the whole run in memory.

pub mod arrivals;
pub mod conversations;
pub mod dist;
pub mod prefixes;
pub mod tenants;
pub mod tokens;
pub mod trace;

pub use arrivals::{Arrival, ArrivalSpec, ArrivalStream, RateSchedule};
