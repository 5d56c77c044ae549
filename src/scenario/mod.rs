//! Scenario files: TOML in, a validated [`Scenario`] out.
//!
//! Loading is three passes, so every error can point at its source:
//! 1. parse and deserialize the file as written (syntax errors, unknown
//!    keys and wrong types carry the file's line and column);
//! 2. apply `--set key.path=value` overrides and deserialize again (errors
//!    now name the override);
//! 3. check meaning: ranges, cross-field rules, stability, the trace file —
//!    each error names its key, located in the file.
//!
//! The layers, each importing only those below it:
//! - `schema`: the file format (serde types), imports no resolver;
//! - `error`, `locate`: located errors; `check`: checks several sections share;
//!   `guard`: the resource limits (counts, timeline rows, expected work);
//! - `serving`: the resolved types the drivers read;
//! - one resolver per section family: `workload`, `run`, `station`, `llm`
//!   (with `engine` for `[engine]`),
//!   `frontdoor` (which resolves its fallback pool through `llm`), `fleet`
//!   (which resolves each of its pools through `llm`), `safety`;
//! - `load`: the top-level loader, which runs them in order and owns
//!   [`Scenario`].

// A scenario error is fatal and happens at most once per run; carrying its
// location and hint inline (no boxing) keeps construction sites plain.
#![allow(clippy::result_large_err)]

mod autoscale;
mod check;
mod engine;
mod error;
mod fleet;
mod frontdoor;
pub mod guard;
mod llm;
mod load;
mod locate;
mod run;
mod safety;
pub mod schema;
mod serving;
mod station;
mod workload;

pub use autoscale::{Autoscale, ColdStart};
pub use engine::release_number;
pub use error::{Origin, ScenarioError};
pub use load::{from_text, from_text_with_profiles, load, load_with_profiles, read, Scenario};
pub use locate::Locator;
pub use run::{RunConfig, ValidationConfig};
pub use safety::{ClassifierTime, Outage, SafetyModel, Scores};
pub use serving::{
    CostModel, Failure, FleetConfig, FleetPool, FrontDoorConfig, LlmConfig, Population, Region, Serving, Trigger,
};
