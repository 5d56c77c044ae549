//! Multi-turn conversations: chat sessions whose next turn's prompt
//! contains every earlier turn (the system prompt, the user's messages and
//! the model's answers), then the user's new message.
//!
//! Why closed-loop: a user sends turn k+1 only after reading turn k's
//! answer, so follow-up turns arrive a think time after their predecessor's
//! response, not on the arrival clock; a slow fleet therefore sees fewer
//! follow-ups per second, as a real one does. The arrival process starts
//! conversations (`workload.rate_per_s` is new conversations per second).
//!
//! Each conversation has a session id. Every turn carries it, so the
//! replica that serves a turn keeps the turn's whole context (prompt and
//! answer) in its prefix cache under that id, and the next turn's prefix
//! is exactly that context: with `session-affinity` or `prefix-affinity`
//! routing the next turn finds it and skips its prefill. Session ids are
//! numbered from `first_session` up (after the shared system prompts' ids).
//!
//! A conversation ends after its drawn number of turns, when a turn does
//! not complete (a user whose request failed or was refused goes away), or
//! when the next turn would arrive after the arrivals end. Draws come from
//! the streams `turns` (how many) and `think-time`; the new message's and
//! answer's sizes from the same streams as first turns'.

use super::tokens::TokenSizes;
use crate::core::llm::Prefix;
use crate::core::{IdMap, RequestId};
use crate::time::{SimDuration, SimTime};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1};

#[derive(Debug, Clone, PartialEq)]
pub struct ConversationSpec {
    /// Turns per conversation (>= 1).
    pub turns: TokenSizes,
    /// Mean pause between a turn's answer and the next turn (exponential).
    pub think_time: SimDuration,
}

/// A follow-up turn due at some time: what it builds on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextTurn {
    pub session: u32,
    /// Turns still to come after this one.
    turns_left: u32,
    /// Tokens of every earlier turn: this turn's prefix.
    pub context: u32,
}

impl NextTurn {
    /// This turn's prompt and prefix, given the user's new message.
    pub fn prompt(&self, message_tokens: u32) -> (u32, Prefix) {
        (self.context.saturating_add(message_tokens), Prefix { id: self.session, tokens: self.context })
    }
}

/// Conversations in progress, by the request of their current turn.
pub struct Conversations {
    spec: ConversationSpec,
    next_session: u32,
    live: IdMap<NextTurn>,
    turns_rng: ChaCha8Rng,
    think_rng: ChaCha8Rng,
}

impl Conversations {
    pub fn new(spec: ConversationSpec, first_session: u32, turns_rng: ChaCha8Rng, think_rng: ChaCha8Rng) -> Self {
        Conversations { spec, next_session: first_session, live: IdMap::default(), turns_rng, think_rng }
    }

    /// `request` opens a new conversation; returns its session id.
    pub fn open(&mut self, request: RequestId, prompt: u32, output: u32) -> u32 {
        let session = self.next_session;
        self.next_session = self.next_session.wrapping_add(1);
        let turns = self.spec.turns.sample(&mut self.turns_rng);
        self.live
            .insert(request.0, NextTurn { session, turns_left: turns - 1, context: prompt.saturating_add(output) });
        session
    }

    /// `request` is turn `turn` (from [`Conversations::answered`]) with
    /// this prompt and output.
    pub fn continue_with(&mut self, request: RequestId, turn: NextTurn, prompt: u32, output: u32) {
        let next = NextTurn { turns_left: turn.turns_left, context: prompt.saturating_add(output), ..turn };
        self.live.insert(request.0, next);
    }

    /// `request` was answered at `now`: if it completed and its
    /// conversation goes on, the next turn and when it arrives.
    pub fn answered(&mut self, request: RequestId, completed: bool, now: SimTime) -> Option<(SimTime, NextTurn)> {
        let turn = self.live.remove(&request.0)?;
        if !completed || turn.turns_left == 0 {
            return None;
        }
        let think: f64 = Exp1.sample(&mut self.think_rng);
        let at = now + SimDuration::from_secs_f64(think * self.spec.think_time.as_secs_f64());
        Some((at, NextTurn { turns_left: turn.turns_left - 1, ..turn }))
    }

    /// Conversations whose current turn is unanswered.
    pub fn in_progress(&self) -> usize {
        self.live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn conversations(turns: u32) -> Conversations {
        let spec = ConversationSpec { turns: TokenSizes::Fixed(turns), think_time: SimDuration::from_secs(10) };
        Conversations::new(spec, 4, ChaCha8Rng::seed_from_u64(1), ChaCha8Rng::seed_from_u64(2))
    }

    #[test]
    fn each_turn_resends_the_conversation_and_the_last_turn_ends_it() {
        let mut c = conversations(3);
        assert_eq!(c.open(RequestId(0), 100, 50), 4, "sessions start after the system prompts' ids");
        let (at, turn) = c.answered(RequestId(0), true, SimTime::ZERO).expect("turn 2");
        assert!(at > SimTime::ZERO);
        let (prompt, prefix) = turn.prompt(30);
        assert_eq!((prompt, prefix), (180, Prefix { id: 4, tokens: 150 }));
        c.continue_with(RequestId(7), turn, prompt, 20);
        let (_, turn) = c.answered(RequestId(7), true, at).expect("turn 3");
        assert_eq!(turn.prompt(5), (205, Prefix { id: 4, tokens: 200 }));
        c.continue_with(RequestId(9), turn, 205, 1);
        assert_eq!(c.answered(RequestId(9), true, at), None, "three turns, then done");
        assert_eq!(c.in_progress(), 0);
    }

    #[test]
    fn a_turn_that_does_not_complete_ends_its_conversation() {
        let mut c = conversations(5);
        c.open(RequestId(0), 100, 50);
        assert_eq!(c.answered(RequestId(0), false, SimTime::ZERO), None);
        assert_eq!(c.answered(RequestId(0), true, SimTime::ZERO), None, "answered once");
        assert_eq!(c.in_progress(), 0);
    }

    #[test]
    fn think_times_are_exponential_with_the_given_mean() {
        let mut c = conversations(u32::MAX);
        let n = 20_000;
        let mut sum = 0.0;
        for i in 0..n {
            c.open(RequestId(i), 1, 1);
            let (at, _) = c.answered(RequestId(i), true, SimTime::ZERO).expect("next");
            sum += at.since(SimTime::ZERO).as_secs_f64();
        }
        let mean = sum / n as f64;
        assert!((mean - 10.0).abs() < 0.3, "{mean}");
    }
}
