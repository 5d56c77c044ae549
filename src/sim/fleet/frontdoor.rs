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

use super::users::Sent;
use super::FleetRun;
use crate::core::llm::{Input, Served};
use crate::core::{Outcome, RequestId};
use crate::sim::frontdoor::{Event, PrimaryPool};
use crate::time::SimTime;
use crate::workload::tenants::TenantArrival;

/// What the front door asked of the fleet while handling one event.
#[derive(Default)]
pub(super) struct Doorway {
    /// The fleet's KV-cache blocks in use, for the gateway's admission.
    kv_used_blocks: u64,
    asked: Vec<Asked>,
}

enum Asked {
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

impl FleetRun<'_> {
    /// A population's request, sent through the front door as `tenant`'s.
    pub(super) fn knock(&mut self, now: SimTime, sent: Sent, tenant: u32) {
        let origin = (sent.region * self.fleet.models.len() + sent.model) as u32;
        let arrival = TenantArrival {
            at: now,
            tenant,
            prompt_tokens: sent.arrival.prompt_tokens,
            output_tokens: sent.arrival.output_tokens,
        };
        self.with_door(now, |door, doorway, recorder, mut sched| {
            door.arrive(now, arrival, origin, doorway, recorder, &mut sched)
        });
    }

    /// One of the front door's own events (a retry, a client's timeout).
    pub(super) fn door_event(&mut self, now: SimTime, event: Event) {
        self.with_door(now, |door, doorway, recorder, mut sched| {
            door.handle(now, event, doorway, recorder, &mut sched)
        });
    }

    /// Runs `f` on the front door, then carries out what it asked.
    fn with_door(
        &mut self,
        now: SimTime,
        f: impl FnOnce(
            &mut crate::sim::frontdoor::FrontDoor<'_>,
            &mut Doorway,
            &mut crate::metrics::Recorder,
            &mut dyn FnMut(SimTime, Event),
        ),
    ) {
        let Some(door) = self.door.as_mut() else { return };
        let mut doorway = std::mem::take(&mut self.doorway);
        doorway.kv_used_blocks = self.totals.load.kv_used_blocks;
        let clock = &mut self.clock;
        f(door, &mut doorway, &mut self.recorder, &mut |at, e| clock.schedule(at, super::Event::FrontDoor(e)));
        for asked in doorway.asked.drain(..) {
            match asked {
                Asked::Submit { input, origin } => {
                    let models = self.fleet.models.len();
                    let (region, model) = (origin as usize / models, origin as usize % models);
                    self.dispatch(now, input, region, model);
                }
                Asked::Cancel { request } => self.cancel(now, request),
            }
        }
        self.doorway = doorway;
    }

    /// Stops `request` wherever it is: on its way, it is answered
    /// `cancelled` now; in its pool, the core answers it.
    fn cancel(&mut self, now: SimTime, request: RequestId) {
        match self.placed.get(&request.0).copied() {
            Some(Placed::Travelling { slot }) => {
                let Some((pool, input)) = self.travelling.remove(slot) else { return };
                self.in_transit -= 1;
                self.placed.remove(&request.0);
                let sent = self.crossing.remove(&request.0).map_or(now, |c| c.sent);
                self.answers.push((pool, request, Outcome::Cancelled, super::refused(sent, &input), false));
            }
            Some(Placed::InPool { pool }) => {
                self.touch(now, pool, |run| run.input(now, pool, Input::Cancel { request }))
            }
            None => {}
        }
    }

    /// The front door's view of an answer reaching its user: when its
    /// attempt reached the gateway, or None when it is not terminal (a
    /// preempted request, requeued).
    pub(super) fn door_answer(
        &mut self,
        now: SimTime,
        request: RequestId,
        outcome: Outcome,
        served: &Served,
        transient: bool,
    ) -> Option<SimTime> {
        let Some(door) = self.door.as_mut() else { return Some(served.arrived) };
        self.placed.remove(&request.0);
        let clock = &mut self.clock;
        let mut sched = |at, e| clock.schedule(at, super::Event::FrontDoor(e));
        door.on_response(now, request, outcome, served, transient, &mut sched)
    }
}
