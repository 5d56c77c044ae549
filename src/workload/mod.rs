//! Who sends requests, and when: arrival processes, rate schedules, trace
//! replay, and closed-loop benchmark clients. A workload yields arrivals one at a time, in time order, so the
//! driver holds one pending arrival, never the whole run in memory.

pub mod arrivals;
pub mod closed_loop;
pub mod conversations;
pub mod dist;
pub mod measured;
pub mod prefixes;
pub mod tenants;
pub mod tokens;
pub mod trace;

pub use arrivals::{Arrival, ArrivalSpec, ArrivalStream, RateSchedule};
