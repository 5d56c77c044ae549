//! The modeled world the sim driver runs the core against. For now: how long
//! a batch takes on a GPU (`service`), and a GPU shared by processor sharing
//! (`ps`). Models draw randomness only from the streams they are handed.

pub mod clients;
pub mod coefficients;
pub mod engine_step;
pub mod failure;
pub mod moe;
pub mod precision;
pub mod profile;
pub mod profile_lookup;
pub mod ps;
pub mod service;
pub mod speculative;
pub mod step;
pub mod step_cost;
pub mod units;
pub mod weight_strategy;
pub mod window;

pub use ps::SharedServer;
pub use service::ServiceModel;
