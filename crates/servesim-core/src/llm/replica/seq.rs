//! A sequence in each state a replica holds it in, and the step in flight.
//!
//! Below the replica and its parts (the decode set, the step cycle, the
//! hand-off, cancel), which all move these values between queues, so that
//! none of them depends on the file that assembles them.

use crate::llm::{Prefix, Served};
use crate::time::SimTime;
use crate::RequestId;

/// A request that has not finished.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seq {
    pub(super) request: RequestId,
    pub(super) arrived: SimTime,
    /// The prompt as sent.
    pub(super) prompt: u32,
    pub(super) output: u32,
    pub(super) generated: u32,
    /// When it first entered a batch (end of its queue wait).
    pub(super) admitted: Option<SimTime>,
    pub(super) first_token: Option<SimTime>,
    /// A cacheable prefix: its full blocks' tokens, fewer than `prompt`.
    pub(super) prefix: Option<Prefix>,
    /// Its conversation: its context is cached under this id when it ends.
    pub(super) session: Option<u32>,
}

impl Seq {
    /// Tokens to prefill: the prompt, plus generated tokens after a recompute.
    pub(super) fn prefill_len(&self) -> u32 {
        self.prompt + self.generated
    }

    pub(super) fn served(&self) -> Served {
        Served {
            arrived: self.arrived,
            admitted: self.admitted,
            first_token: self.first_token,
            last_token: None,
            prompt_tokens: self.prompt,
            output_tokens: self.generated,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Prefilling {
    pub(super) seq: Seq,
    pub(super) done: u32,
    /// KV blocks held: the prompt's (or, static, the whole lifetime's),
    /// beside a shared prefix's.
    pub(super) blocks: u64,
    /// Tokens of the cached prefix it references (0: none).
    pub(super) shared: u64,
}

/// The step in flight: what to apply when it finishes.
#[derive(Debug, Default)]
pub(super) struct Plan {
    pub(super) decode_seqs: u64,
    pub(super) new_blocks: u64,
    /// Tokens of each prefill chunk, for the prefilling sequences from the
    /// front.
    pub(super) chunks: Vec<u32>,
}
