//! What a run measured: the recorder the drivers feed, latency statistics,
//! the per-window timeline, and the `summary.json` document they produce.
//! Invariant checks live beside the data they check (`recorder.rs`).

pub mod audit;
pub mod autoscale;
pub mod fleet;
pub mod fleet_breakdown;
pub mod fleet_windows;
pub mod frontdoor;
pub mod latency;
pub mod llm;
pub mod performability;
pub mod recorder;
pub mod safety;
pub mod summary;
pub mod timeline;

pub use latency::LatencyStat;
pub use recorder::Recorder;
pub use summary::Summary;
pub use timeline::{Timeline, WindowRow};
