//! # servesim-core
//!
//! THE scheduling core of servesim: every serving decision, and nothing
//! else, plus the integer-nanosecond time it is expressed in ([`time`]).
//!
//! Why a crate of its own: the core sits at the bottom of servesim's
//! dependency order (time -> core -> model/workload/engine -> metrics ->
//! scenario -> sim -> ...). As a separate crate it *cannot* import the
//! layers above it: a `use` of scenario, model, metrics, workload or sim
//! code does not compile here, so the order holds without a checker. Its
//! dependencies are `rand`/`rand_chacha` (streams handed in by drivers),
//! `serde`/`schemars` (config enums that scenario files name directly) and
//! `humantime` (durations as text). The `servesim` crate re-exports it as
//! `servesim::core` and `servesim::time`.
//!
//! Layout: the core's modules sit at the crate root (`servesim_core::llm`,
//! `servesim_core::station`, ...), beside [`time`].
//!
//! The core is sans-IO (as quinn-proto or str0m): it never reads a clock,
//! never sleeps and never draws service times. A driver feeds each state
//! machine `(now, Input)` and carries out the `Action`s it pushes: start a
//! batch or a step on a GPU, respond to a request with its outcome, arm a
//! timer. The sim driver wires those to the event queue and modeled GPUs; a
//! live driver wires the same core to a real executor and a wall clock.
//!
//! The state machines, one module each: [`station`] (batching of whole
//! requests), [`llm`] (token-level replicas behind a router), [`gateway`]
//! (the multi-tenant front door), [`safety`] (input and output checks).
//! The crate root holds only what they share: request ids, outcomes, and
//! the id containers [`IdMap`] and [`Slab`].
//!
//! Determinism: decisions depend only on the inputs' order and values; idle
//! GPUs are picked lowest-index first; the only randomness (random routing)
//! comes from a stream handed in at construction.

pub mod gateway;
mod idmap;
pub mod llm;
pub mod safety;
mod slab;
pub mod station;
pub mod time;

pub use idmap::IdMap;
pub use slab::Slab;

/// A caller's request, numbered by the driver in arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// What happened to a request, exactly once per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// Served; the caller got its own result from the batch.
    Completed,
    /// Rejected on arrival because its queue was full.
    Overloaded,
    /// Can never be served here (e.g. its context exceeds the replica's KV cache).
    Failed,
    /// Stopped before it completed: its caller gave up (timeout,
    /// cancellation) or a check stopped it; its resources were freed.
    Cancelled,
    /// Refused by a gateway rate limit (HTTP 429, with a Retry-After).
    RateLimited,
    /// Refused by a safety check: blocked input, or output stopped.
    Refused,
    /// A safety check could not run (classifier down, overloaded or timed
    /// out), so the request was refused: checks fail closed.
    SafetyUnavailable,
}

impl Outcome {
    /// Stable name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Overloaded => "overloaded",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::RateLimited => "rate_limited",
            Outcome::Refused => "refused",
            Outcome::SafetyUnavailable => "safety_unavailable",
        }
    }

    pub const ALL: [Outcome; 7] = [
        Outcome::Completed,
        Outcome::Overloaded,
        Outcome::Failed,
        Outcome::Cancelled,
        Outcome::RateLimited,
        Outcome::Refused,
        Outcome::SafetyUnavailable,
    ];
}
