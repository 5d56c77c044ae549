//! What the gateway remembers of each request it holds: its tenant, its
//! pool, its cost and where it is (queued, in the pool, being preempted or
//! withdrawn). Below the gateway and its lanes, which both read and move it.

use crate::time::SimTime;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum State {
    Queued { deadline: Option<SimTime> },
    InPool,
    Preempting,
    Withdrawing,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Entry {
    pub(super) tenant: u32,
    pub(super) pool: usize,
    pub(super) cost: f64,
    pub(super) arrived: SimTime,
    pub(super) state: State,
}
