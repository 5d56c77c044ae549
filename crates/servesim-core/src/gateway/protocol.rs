//! The words the gateway and its driver exchange: the priority classes,
//! the requests offered and the pool's answers in, dispatches, rejections
//! (with their reasons) and cancels out.
//!
//! In a file of their own, below the gateway and its lanes, which both
//! push these actions.

use crate::time::SimDuration;
use crate::{Outcome, RequestId};

/// Priority class, highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Realtime = 0,
    Streaming = 1,
    Batch = 2,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Realtime => "realtime",
            Class::Streaming => "streaming",
            Class::Batch => "batch",
        }
    }
}

/// A request offered to the gateway.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Offer {
    pub request: RequestId,
    pub tenant: u32,
    /// Prompt + expected output tokens (what the token limits charge).
    pub tokens: u64,
    /// Estimated GPU-seconds (what fair queuing charges).
    pub cost: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input {
    Offer(Offer),
    /// The pool answered `request` with `outcome`.
    Done {
        request: RequestId,
        outcome: Outcome,
    },
    /// The caller gave up on `request`.
    Withdraw {
        request: RequestId,
    },
    /// Pool `pool`'s KV use, a fraction of its blocks.
    Observe {
        pool: usize,
        kv_used_fraction: f64,
    },
}

/// Why the gateway answered a request itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    RateLimited,
    QueueFull,
    Shed,
    PredictedWait,
    Expired,
    Withdrawn,
}

impl Reason {
    /// Every reason, in the order reports list them.
    pub const ALL: [Reason; 6] = [
        Reason::RateLimited,
        Reason::QueueFull,
        Reason::Shed,
        Reason::PredictedWait,
        Reason::Expired,
        Reason::Withdrawn,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Reason::RateLimited => "rate_limited",
            Reason::QueueFull => "queue_full",
            Reason::Shed => "shed",
            Reason::PredictedWait => "predicted_wait",
            Reason::Expired => "expired",
            Reason::Withdrawn => "withdrawn",
        }
    }

    pub fn outcome(self) -> Outcome {
        match self {
            Reason::RateLimited => Outcome::RateLimited,
            Reason::Withdrawn => Outcome::Cancelled,
            _ => Outcome::Overloaded,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Hand `request` to pool `pool` now (0: primary, 1: fallback).
    Dispatch { request: RequestId, pool: usize },
    /// Answer `request` now. `retry_after`: when a rate-limited request
    /// would conform (None if it never can); `position`: its place in the
    /// queue when rejected for overload.
    Reject { request: RequestId, reason: Reason, retry_after: Option<SimDuration>, position: Option<u64> },
    /// Cancel `request` in the pool to make room for realtime work.
    Preempt { request: RequestId },
    /// Cancel `request` in the pool: its caller gave up.
    Cancel { request: RequestId },
    /// The pool's `Cancelled` answer to a preempted request is not final:
    /// it waits again in the gateway.
    Requeued { request: RequestId },
}
