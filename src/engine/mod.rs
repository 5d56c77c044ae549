//! The discrete-event engine: a virtual clock, an event queue ordered by
//! `(time, seq)`, a run's bookkeeping over them ([`Clock`]), and named
//! random streams.
//!
//! The engine knows nothing about serving; drivers (see `crate::sim`) own the
//! event payload type and what each event does. Keeping it this small is
//! what lets the hold-model benchmark (`benches/engine.rs`) measure the
//! queue alone.

pub mod clock;
pub mod queue;
pub mod rng;

pub use clock::{Clock, Ending};
pub use queue::EventQueue;
pub use rng::RngStreams;
