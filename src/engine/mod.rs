//! The discrete-event engine: a virtual clock, an event queue ordered by
//! `(time, seq)`, and named random streams.
//!
//! The engine knows nothing about serving; drivers (see `crate::sim`) own the
//! event payload type and the loop. Keeping it this small is what lets the
//! hold-model benchmark (`benches/engine.rs`) measure the queue alone.

pub mod queue;
pub mod rng;

pub use queue::EventQueue;
pub use rng::RngStreams;
