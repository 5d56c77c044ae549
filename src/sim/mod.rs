//! The sim drivers: the scheduling cores under a virtual clock.
//!
//! Three drivers, one per kind of serving: [`station`] runs the batching
//! station, [`fleet`] pools across regions behind a global router (with
//! [`llm`]'s pool accounting), [`llm`] the LLM replicas (with, as plug-ins in front of or
//! beside the pool, the multi-tenant [`frontdoor`], its [`fallback`] pool
//! and the [`safety`] gate). All take their clock and run bookkeeping from
//! [`crate::engine::Clock`] and their arrivals and timeline window from
//! [`limits`].
//!
//! Dependencies point one way: `fleet` uses `llm`'s pool usage and
//! summary parts; `llm` uses `frontdoor` and `safety`;
//! `frontdoor` uses `fallback`; each stage has its own event type and
//! schedules through a callback, so none knows the loop it runs in.

use crate::metrics::recorder::Recorded;
use crate::scenario::{RunConfig, Scenario, Serving};

mod fallback;
mod fleet;
mod frontdoor;
mod limits;
pub(crate) mod llm;
mod safety;
mod station;

/// Runs `scenario` with its own seed and run settings.
pub fn run(scenario: &Scenario) -> Recorded {
    run_with(scenario, scenario.seed, &scenario.run)
}

/// Runs `scenario` with an explicit seed and run settings (replications).
pub fn run_with(scenario: &Scenario, seed: u64, run: &RunConfig) -> Recorded {
    match &scenario.serving {
        Serving::Station { station, service } => station::run(scenario, station, service, seed, run),
        Serving::Llm(llm) => llm::run(scenario, llm, seed, run),
        Serving::Fleet(fleet) => fleet::run(scenario, fleet, seed, run),
    }
}
