//! The LLM driver's events: its own (arrivals, steps, timers, KV
//! transfers, conversation turns, closed-loop clients' sends) and, wrapped, those of the stages it
//! drives (the safety gate, the front door).
//!
//! Why a module of its own: where requests come from ([`super::requests`])
//! schedules arrivals and turns, and the driver handles them; both name
//! the events, neither owns the other.

use crate::core::RequestId;
use crate::sim::frontdoor;
use crate::sim::safety::GateEvent;
use crate::time::SimTime;

/// What the LLM driver's clock holds.
#[derive(Debug, Clone, Copy)]
pub(super) enum Event {
    Arrival,
    StepDone {
        replica: u32,
    },
    Timer {
        replica: u32,
        at: SimTime,
    },
    KvArrived {
        request: RequestId,
        from: u32,
        to: u32,
        handle: u32,
    },
    /// A conversation's next turn, held in the requests' `turns` slab.
    Turn {
        slot: u32,
    },
    /// A closed-loop client sends its next request.
    ClientSend {
        client: u32,
    },
    /// A client's request, held in the requests' `ingress` slab, reaches
    /// the engine's scheduler. Scheduled at the send's own instant, so that
    /// it comes after every event already queued for that instant (the
    /// step that just started runs without it, as a real engine's loop
    /// does not wait for the HTTP round trip).
    Ingress {
        slot: u32,
    },
    Safety(GateEvent),
    FrontDoor(frontdoor::Event),
}
