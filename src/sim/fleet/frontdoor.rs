//! The multi-tenant front door in front of a fleet: the same gateway and
//! modeled clients as in front of one pool (`sim/frontdoor.rs`), whose
//! dispatched requests go through the global router.
//!
//! Why a buffer between them: the front door hands its dispatches and
//! cancels to a [`PrimaryPool`] while it holds the recorder and the clock,
//! so the fleet's side of that interface ([`Doorway`]) only notes them, in
//! order; the fleet then routes each dispatch as it routes a population's
//! request (nearest healthy region, RTT, egress) and stops each cancelled
//! one wherever it is: on its way to a pool (answered `cancelled` at once),
//! or in its pool (the core answers it). A population's request enters as
//! its tenant's request, its users' region and model packed in the
//! `origin` the front door carries for it.
//!
//! Every attempt is its own request with one terminal outcome, as in front
//! of one pool; a `failed` answer its server's loss caused (a replica or
//! region down, a partition, a bad rollout's errors) is transient, so the
//! clients retry it under their policy and retry budget.

use crate::core::llm::Input;
use crate::core::RequestId;
use crate::sim::frontdoor::PrimaryPool;
use crate::time::SimTime;

/// What the front door asked of the fleet while handling one event.
#[derive(Default)]
pub(super) struct Doorway {
    /// The fleet's KV-cache blocks in use, for the gateway's admission.
    pub(super) kv_used_blocks: u64,
    pub(super) asked: Vec<Asked>,
}

/// One thing asked, in order.
pub(super) enum Asked {
    Submit { input: Input, origin: u32 },
    Cancel { request: RequestId },
}

impl PrimaryPool for Doorway {
    fn submit(&mut self, _now: SimTime, input: Input, _mix: Option<[f64; 3]>, origin: u32) {
        self.asked.push(Asked::Submit { input, origin });
    }

    fn cancel(&mut self, _now: SimTime, request: RequestId) {
        self.asked.push(Asked::Cancel { request });
    }

    fn kv_used_blocks(&self) -> u64 {
        self.kv_used_blocks
    }
}

/// Where a dispatched request is, for a cancel to find it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Placed {
    /// On its way to a pool (its slot in `travelling`).
    Travelling {
        slot: u32,
    },
    InPool {
        pool: u32,
    },
}
