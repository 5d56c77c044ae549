//! # servesim
//!
//! A deterministic discrete-event simulator and capacity-planning workbench
//! for LLM inference serving.
//!
//! The spine (see `../shared/DESIGN.md`): one **scheduling core**
//! ([`core`], the `servesim-core` crate in `crates/`) makes every serving
//! decision — batching, queueing, rejection — as a sans-IO state machine
//! fed with `(now, input)` that emits actions. A
//! **driver** runs it: [`sim`] under a virtual clock against modeled GPUs
//! ([`model`]) and a seeded workload ([`workload`]); [`live`] runs the
//! same core in wall-clock time against real kernels. What happens is recorded and checked
//! ([`metrics`]) and written out ([`report`]); [`plan`] compares the
//! simulator with queueing theory.
//!
//! ```text
//! scenario (TOML) -> scenario::load -> sim::run -> metrics -> report::write
//!                        workload ---> core <---> model (GPU service times)
//! ```
//!
//! Determinism: integer-nanosecond time ([`time`]), events ordered by
//! `(time, seq)`, one named random stream per component ([`engine::rng`]),
//! no hash-order iteration in output. Same scenario + seed => same bytes.

pub mod bench;
pub mod distribute;
pub mod engine;
pub mod input;
pub mod live;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod swarm;
pub mod workload;

/// The scheduling core: the `servesim-core` crate, re-exported so that
/// `servesim::core::...` (and `crate::core::...` inside this crate) name it.
/// This facade is the only link between the two crates; the core itself
/// cannot see this one.
pub use servesim_core as core;
/// Integer-nanosecond simulated time, from `servesim-core`.
pub use servesim_core::time;
