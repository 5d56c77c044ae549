//! A run's clock: the event queue plus the bookkeeping every driver keeps
//! about time — how far the run got, whether it was cut off at its stop,
//! when the last request arrived and how many events it handled.
//!
//! Why in the engine and not in each driver: the station and LLM drivers
//! must agree exactly on what "the run ended at" and "arrivals ended at"
//! mean (the recorder's time averages and Little's law are taken over
//! them), so the rule is written once. The clock knows nothing of what the
//! events are; the driver owns the payload type and what an event does.

use super::EventQueue;
use crate::time::SimTime;

/// The event queue of one run and where the run stands.
pub struct Clock<E> {
    queue: EventQueue<E>,
    /// When arrivals stop (the run's duration), if the run has one.
    stop: Option<SimTime>,
    /// Whether events after `stop` are still handled (the run drains).
    drain: bool,
    end: SimTime,
    last_arrival: SimTime,
    events: u64,
    /// Events the run may handle before it is cut off (None: no cap).
    event_cap: Option<u64>,
    cut_off: bool,
}

/// How a run ended, in the clock's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ending {
    /// The time of the last event handled, or the stop when cut off there.
    pub end: SimTime,
    /// When arrivals stopped: the stop, or the last arrival; never after `end`.
    pub arrivals_end: SimTime,
    /// Events handled.
    pub events: u64,
    /// Events that asked for a time in the past (a driver bug if not 0).
    pub events_in_past: u64,
    /// Whether the run ended before its queue emptied.
    pub cut_off: bool,
}

impl<E> Clock<E> {
    /// A clock whose arrivals stop at `stop`; past it, a run that does not
    /// `drain` ends at the first later event.
    pub fn new(stop: Option<SimTime>, drain: bool) -> Self {
        Clock {
            queue: EventQueue::new(),
            stop,
            drain,
            end: SimTime::ZERO,
            last_arrival: SimTime::ZERO,
            events: 0,
            event_cap: None,
            cut_off: false,
        }
    }

    /// Cuts the run off after `cap` events (a guard against livelock).
    pub fn with_event_cap(mut self, cap: Option<u64>) -> Self {
        self.event_cap = cap;
        self
    }

    /// Schedules `event` at `at` (see [`EventQueue::schedule`]).
    pub fn schedule(&mut self, at: SimTime, event: E) {
        self.queue.schedule(at, event);
    }

    /// When the earliest queued event is due.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.queue.peek_time()
    }

    /// The earliest queued event, without advancing the run: for a driver
    /// that also takes events from elsewhere and calls [`Clock::advance`].
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.queue.pop()
    }

    /// The next event to handle, with the run advanced to it; `None` when
    /// the queue is empty or the run was cut off at its stop.
    pub fn next_event(&mut self) -> Option<(SimTime, E)> {
        let (now, event) = self.queue.pop()?;
        self.advance(now).then_some((now, event))
    }

    /// Advances the run to an event due at `now` and counts it. Returns
    /// false, leaving the run ended at its stop, when `now` is past the
    /// stop and the run does not drain.
    pub fn advance(&mut self, now: SimTime) -> bool {
        if let (false, Some(stop)) = (self.drain, self.stop) {
            if now > stop {
                self.end = stop;
                self.cut_off = true;
                return false;
            }
        }
        if self.event_cap.is_some_and(|cap| self.events >= cap) {
            self.cut_off = true;
            return false;
        }
        self.events += 1;
        self.end = now;
        true
    }

    /// A request arrived at the current time.
    pub fn arrived(&mut self) {
        self.last_arrival = self.end;
    }

    /// Ends the run where it stands, cut off (its steps' executor failed).
    pub fn halt(&mut self) {
        self.cut_off = true;
    }

    /// When arrivals stop, if the run has a duration.
    pub fn stop(&self) -> Option<SimTime> {
        self.stop
    }

    /// The time the run has reached.
    pub fn end(&self) -> SimTime {
        self.end
    }

    /// How the run ended (call once the driver's loop is over).
    pub fn ending(&self) -> Ending {
        Ending {
            end: self.end,
            arrivals_end: self.stop.unwrap_or(self.last_arrival).min(self.end),
            events: self.events,
            events_in_past: self.queue.clamped(),
            cut_off: self.cut_off,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_without_drain_ends_at_its_stop() {
        let mut clock = Clock::new(Some(SimTime(10)), false);
        for t in [3, 7, 12, 15] {
            clock.schedule(SimTime(t), t);
        }
        assert_eq!(clock.next_event(), Some((SimTime(3), 3)));
        clock.arrived();
        assert_eq!(clock.next_event(), Some((SimTime(7), 7)));
        assert_eq!(clock.next_event(), None);
        let e = clock.ending();
        assert_eq!((e.end, e.arrivals_end, e.events, e.cut_off), (SimTime(10), SimTime(10), 2, true));
    }

    #[test]
    fn a_draining_run_ends_at_its_last_event() {
        let mut clock = Clock::new(None, true);
        for t in [3, 7, 12] {
            clock.schedule(SimTime(t), t);
        }
        while let Some((_, t)) = clock.next_event() {
            if t < 10 {
                clock.arrived();
            }
        }
        let e = clock.ending();
        assert_eq!((e.end, e.arrivals_end, e.events, e.cut_off), (SimTime(12), SimTime(7), 3, false));
    }
}
