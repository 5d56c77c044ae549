//! A station shared by processor sharing: with `n` jobs present on `c`
//! servers, each job is served at rate min(1, c/n).
//!
//! Implemented with a virtual clock V(t) that advances at the per-job rate:
//! a job admitted at V₀ with work S finishes when V reaches V₀ + S, so the
//! next completion is always the smallest finish tag (a min-heap). Arrivals
//! and completions cost O(log n); nothing is updated per job per event.
//! The driver re-arms one completion event after every change and ignores
//! stale ones by `generation`.

use crate::core::station::BatchId;
use crate::time::{SimDuration, SimTime};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Tag(f64);
impl Eq for Tag {}
impl PartialOrd for Tag {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Tag {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

pub struct SharedServer {
    servers: f64,
    virtual_secs: f64,
    updated: SimTime,
    jobs: BinaryHeap<Reverse<(Tag, BatchId)>>,
    generation: u64,
}

impl SharedServer {
    pub fn new(servers: u32) -> Self {
        SharedServer {
            servers: f64::from(servers.max(1)),
            virtual_secs: 0.0,
            updated: SimTime::ZERO,
            jobs: BinaryHeap::new(),
            generation: 0,
        }
    }

    fn rate(&self) -> f64 {
        let n = self.jobs.len() as f64;
        if n == 0.0 {
            0.0
        } else {
            (self.servers / n).min(1.0)
        }
    }

    fn advance(&mut self, now: SimTime) {
        self.virtual_secs += now.since(self.updated).as_secs_f64() * self.rate();
        self.updated = now;
    }

    /// Number of jobs in service.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Busy servers right now: min(n, c).
    pub fn busy(&self) -> f64 {
        (self.jobs.len() as f64).min(self.servers)
    }

    /// Admits a job needing `work` of one server's time; returns when the
    /// next completion is due and the generation that event must carry.
    pub fn admit(&mut self, now: SimTime, job: BatchId, work: SimDuration) -> (SimTime, u64) {
        self.advance(now);
        self.jobs.push(Reverse((Tag(self.virtual_secs + work.as_secs_f64()), job)));
        self.next_completion(now)
    }

    /// Removes the job whose completion event (of `generation`) fired, if the
    /// event is current; returns it and the next completion to arm, if any.
    pub fn complete(&mut self, now: SimTime, generation: u64) -> Option<(BatchId, Option<(SimTime, u64)>)> {
        if generation != self.generation {
            return None;
        }
        self.advance(now);
        let Reverse((tag, job)) = self.jobs.pop()?;
        // Snap to the finish tag so rounding to whole nanoseconds never drifts.
        self.virtual_secs = self.virtual_secs.max(tag.0);
        let next = (!self.jobs.is_empty()).then(|| self.next_completion(now));
        Some((job, next))
    }

    fn next_completion(&mut self, now: SimTime) -> (SimTime, u64) {
        self.generation += 1;
        let Reverse((tag, _)) = self.jobs.peek().copied().unwrap_or(Reverse((Tag(self.virtual_secs), BatchId(0))));
        let remaining = (tag.0 - self.virtual_secs).max(0.0);
        let rate = self.rate().max(f64::MIN_POSITIVE);
        (now + SimDuration::from_secs_f64(remaining / rate), self.generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_jobs_share_one_server() {
        let mut ps = SharedServer::new(1);
        let s = SimDuration::from_secs;
        let (t1, g1) = ps.admit(SimTime::ZERO, BatchId(0), s(2));
        assert_eq!(t1, SimTime(2_000_000_000));
        // At t=1 a second job of 2s arrives: job 0 has 1s left at half speed.
        let (t2, g2) = ps.admit(SimTime(1_000_000_000), BatchId(1), s(2));
        assert_eq!(t2, SimTime(3_000_000_000));
        assert!(ps.complete(t1, g1).is_none(), "stale event ignored");
        let (done, next) = ps.complete(t2, g2).unwrap();
        assert_eq!(done, BatchId(0));
        // Job 1 has 1s of work left, now alone at full speed.
        assert_eq!(next.unwrap().0, SimTime(4_000_000_000));
    }
}
