//! The output side of one response: which chunks were sent to the output
//! classifier, which passed, and how much the caller holds.
//!
//! Why in-order release: checks of later chunks can finish first (another
//! classifier server, a smaller batch), but a caller must never hold text
//! after a chunk that has not passed, so a chunk is released only once it
//! and every earlier chunk passed. O(1) amortized per chunk.

use crate::time::SimTime;
use std::collections::VecDeque;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stream {
    /// Chunks asked for and not yet released: (tokens ..upto, passed).
    chunks: VecDeque<(u32, bool)>,
    /// Chunks asked for so far (the next chunk's index).
    asked: u32,
    /// Tokens covered by the chunks asked for.
    asked_upto: u32,
    /// Tokens the caller holds.
    released: u32,
    first_release: Option<SimTime>,
}

impl Stream {
    /// Asks for a check of the tokens up to `upto`: the new chunk's index,
    /// or None if those tokens were already asked for.
    pub fn ask(&mut self, upto: u32) -> Option<u32> {
        if upto <= self.asked_upto {
            return None;
        }
        self.chunks.push_back((upto, false));
        self.asked_upto = upto;
        self.asked += 1;
        Some(self.asked - 1)
    }

    /// The chunk ending at `upto` passed: the tokens the caller now holds,
    /// if that released any.
    pub fn pass(&mut self, now: SimTime, upto: u32) -> Option<u32> {
        if let Some(c) = self.chunks.iter_mut().find(|c| c.0 == upto) {
            c.1 = true;
        }
        let before = self.released;
        while let Some(&(upto, true)) = self.chunks.front() {
            self.chunks.pop_front();
            self.released = upto;
        }
        (self.released > before).then(|| {
            self.first_release.get_or_insert(now);
            self.released
        })
    }

    pub fn released(&self) -> u32 {
        self.released
    }

    pub fn first_release(&self) -> Option<SimTime> {
        self.first_release
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_in_order_only_what_passed() {
        let mut s = Stream::default();
        let t = SimTime(5);
        assert_eq!((s.ask(4), s.ask(8), s.ask(8), s.ask(10)), (Some(0), Some(1), None, Some(2)));
        assert_eq!(s.pass(t, 8), None, "chunk 2 passed first: held back");
        assert_eq!(s.first_release(), None);
        assert_eq!(s.pass(SimTime(7), 4), Some(8), "chunk 1 passes: both go out");
        assert_eq!(s.first_release(), Some(SimTime(7)));
        assert_eq!(s.pass(SimTime(9), 10), Some(10));
        assert_eq!(s.released(), 10);
        assert_eq!(s.ask(10), None, "tokens already asked for are not asked again");
    }
}
