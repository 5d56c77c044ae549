//! Reviewers' working hours: the same daily window, every period.
//!
//! Why a plain function of time: the core has no clock, so "is anyone at
//! work now, and if not, when" must be computable from `now` alone. O(1).

use crate::time::{SimDuration, SimTime};

/// Open during `[open, close)` of every `period` (measured from time 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingHours {
    pub period: SimDuration,
    pub open: SimDuration,
    pub close: SimDuration,
}

impl WorkingHours {
    fn phase(&self, t: SimTime) -> u64 {
        t.0 % self.period.0.max(1)
    }

    pub fn is_open(&self, t: SimTime) -> bool {
        (self.open.0..self.close.0).contains(&self.phase(t))
    }

    /// The first opening at or after `t` (`t` itself when open).
    pub fn next_open(&self, t: SimTime) -> SimTime {
        if self.is_open(t) {
            return t;
        }
        let phase = self.phase(t);
        let start = t.0 - phase;
        let at = if phase < self.open.0 { start + self.open.0 } else { start + self.period.0 + self.open.0 };
        SimTime(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_each_period() {
        let h = WorkingHours {
            period: SimDuration::from_secs(100),
            open: SimDuration::from_secs(10),
            close: SimDuration::from_secs(50),
        };
        let s = |x| SimTime::ZERO + SimDuration::from_secs(x);
        assert!(!h.is_open(s(5)) && h.is_open(s(10)) && h.is_open(s(49)) && !h.is_open(s(50)));
        assert_eq!(h.next_open(s(5)), s(10));
        assert_eq!(h.next_open(s(20)), s(20));
        assert_eq!(h.next_open(s(70)), s(110));
        assert!(h.is_open(s(130)));
    }
}
