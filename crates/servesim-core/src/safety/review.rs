//! The human review queue: `reviewers` people taking middle-band requests
//! in arrival order, during working hours only.
//!
//! Why a queue of its own: humans are the slowest, scarcest check (minutes,
//! not milliseconds), and off hours nobody drains the queue, so its backlog
//! and wait are what a planner must see. The caller either waits for the
//! verdict or gets a holding refusal at once (`holding_refusal`), in which
//! case the review still happens (for the record) but changes nothing for
//! that caller. A review that starts in working hours finishes even if the
//! hours end meanwhile. O(log reviewers) per review.

use super::WorkingHours;
use crate::time::SimTime;
use crate::RequestId;
use std::collections::{BTreeSet, VecDeque};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReviewConfig {
    pub reviewers: u32,
    /// None: always staffed.
    pub hours: Option<WorkingHours>,
    /// Answer the caller with a refusal at once instead of waiting.
    pub holding_refusal: bool,
}

/// A request waiting for, or under, review.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Review {
    pub request: RequestId,
    pub enqueued: SimTime,
}

pub struct ReviewQueue {
    config: ReviewConfig,
    waiting: VecDeque<Review>,
    idle: BTreeSet<u32>,
    /// The review each reviewer is on, by reviewer.
    busy: Vec<Option<Review>>,
    /// When a `ReviewOpens` timer is armed for.
    armed: Option<SimTime>,
}

/// What the queue asks of its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Start {
        reviewer: u32,
        request: RequestId,
        enqueued: SimTime,
    },
    /// Nobody is at work: wake the queue at this time.
    WakeAt(SimTime),
}

impl ReviewQueue {
    pub fn new(config: ReviewConfig) -> Self {
        ReviewQueue {
            idle: (0..config.reviewers).collect(),
            busy: vec![None; config.reviewers as usize],
            waiting: VecDeque::new(),
            armed: None,
            config,
        }
    }

    /// Requests waiting for a reviewer (the backlog).
    pub fn backlog(&self) -> u64 {
        self.waiting.len() as u64
    }

    pub fn push(&mut self, now: SimTime, request: RequestId, out: &mut Vec<Next>) {
        self.waiting.push_back(Review { request, enqueued: now });
        self.dispatch(now, out);
    }

    /// Reviewer `reviewer` is done: the review it finished.
    pub fn done(&mut self, now: SimTime, reviewer: u32, out: &mut Vec<Next>) -> Option<Review> {
        let review = self.busy.get_mut(reviewer as usize)?.take()?;
        self.idle.insert(reviewer);
        self.dispatch(now, out);
        Some(review)
    }

    /// The working hours began (a `WakeAt` fired).
    pub fn wake(&mut self, now: SimTime, out: &mut Vec<Next>) {
        if self.armed.is_some_and(|at| at <= now) {
            self.armed = None;
        }
        self.dispatch(now, out);
    }

    fn dispatch(&mut self, now: SimTime, out: &mut Vec<Next>) {
        if self.waiting.is_empty() || self.idle.is_empty() {
            return;
        }
        if let Some(hours) = self.config.hours.filter(|h| !h.is_open(now)) {
            let at = hours.next_open(now);
            if self.armed != Some(at) {
                self.armed = Some(at);
                out.push(Next::WakeAt(at));
            }
            return;
        }
        while let (Some(&reviewer), Some(review)) = (self.idle.first(), self.waiting.front().copied()) {
            self.idle.remove(&reviewer);
            self.waiting.pop_front();
            self.busy[reviewer as usize] = Some(review);
            out.push(Next::Start { reviewer, request: review.request, enqueued: review.enqueued });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;

    #[test]
    fn reviews_wait_for_working_hours_and_free_reviewers() {
        let hours = WorkingHours {
            period: SimDuration::from_secs(100),
            open: SimDuration::from_secs(10),
            close: SimDuration::from_secs(20),
        };
        let mut q = ReviewQueue::new(ReviewConfig { reviewers: 1, hours: Some(hours), holding_refusal: false });
        let s = |x| SimTime::ZERO + SimDuration::from_secs(x);
        let mut out = Vec::new();
        q.push(s(1), RequestId(1), &mut out);
        q.push(s(2), RequestId(2), &mut out);
        assert_eq!(out, [Next::WakeAt(s(10))], "closed: one wake-up, nothing starts");
        assert_eq!(q.backlog(), 2);
        out.clear();
        q.wake(s(10), &mut out);
        assert_eq!(out, [Next::Start { reviewer: 0, request: RequestId(1), enqueued: s(1) }]);
        out.clear();
        let done = q.done(s(25), 0, &mut out);
        assert_eq!(done.map(|r| (r.request, r.enqueued)), Some((RequestId(1), s(1))));
        assert_eq!(out, [Next::WakeAt(s(110))], "hours over: the next review waits for tomorrow");
        assert_eq!(q.done(s(26), 0, &mut out), None, "an idle reviewer finishes nothing");
    }
}
