//! What one step of a replica computes: the sums over its sequences that
//! the step-time model needs (`model::step`), and nothing per sequence.
//!
//! Why it lives in the core: the replica plans each step and hands its shape
//! to the driver in `Action::StartStep`; the model and the live executors
//! only read it. Keeping the sums here lets the core build them
//! incrementally (O(1) per step) without knowing how they are priced.

/// What one step computes, as sums over its sequences (all tokens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepShape {
    /// Prompt tokens computed this step (all prefill chunks together).
    pub prefill_tokens: u64,
    /// Prefill chunks in the step (one per prefilling sequence).
    pub prefill_seqs: u64,
    /// Of those, chunks of prompts (a speculative verify step's chunks are
    /// not): engines run a step with prompt work without CUDA graphs.
    pub prompt_chunks: u64,
    /// Σ over prefill tokens of the keys each attends to, itself included
    /// (see [`prefill_attended`]).
    pub prefill_attended: u64,
    /// Σ over prefill chunks of the tokens already cached before the chunk
    /// (earlier chunks, a cached prefix): their KV is read once per chunk.
    pub prefill_cached_tokens: u64,
    /// Sequences generating one token each this step.
    pub decode_seqs: u64,
    /// Σ over decoding sequences of the tokens already in their KV cache.
    pub decode_context_tokens: u64,
}

/// Σ attended keys for a prefill chunk of `chunk` tokens on top of `cached`
/// tokens (causal attention): `chunk*cached + chunk(chunk+1)/2`.
fn prefill_attended(chunk: u64, cached: u64) -> u64 {
    chunk.saturating_mul(cached).saturating_add(chunk.saturating_mul(chunk.saturating_add(1)) / 2)
}

impl StepShape {
    /// CSV header of [`StepShape::csv_fields`] (the step's sums as reports
    /// list them, one step per row).
    pub const CSV_HEADER: &'static str = "prefill_tokens,prefill_cached_tokens,decode_seqs,decode_context_tokens";

    /// The step's sums as CSV fields, in [`StepShape::CSV_HEADER`]'s order.
    pub fn csv_fields(&self) -> String {
        format!(
            "{},{},{},{}",
            self.prefill_tokens, self.prefill_cached_tokens, self.decode_seqs, self.decode_context_tokens
        )
    }

    /// One prefill chunk of `chunk` tokens on top of `cached` tokens.
    pub fn prefill(chunk: u64, cached: u64) -> StepShape {
        StepShape::default().with_prefill(chunk, cached)
    }

    /// `seqs` decoding sequences whose cached contexts sum to `context_tokens`.
    pub fn decode(seqs: u64, context_tokens: u64) -> StepShape {
        StepShape::default().with_decode(seqs, context_tokens)
    }

    /// Adds a prefill chunk (a mixed step: chunked prefill with decodes).
    pub fn with_prefill(mut self, chunk: u64, cached: u64) -> StepShape {
        self.prefill_tokens += chunk;
        self.prefill_seqs += u64::from(chunk > 0);
        self.prompt_chunks += u64::from(chunk > 0);
        self.prefill_attended += prefill_attended(chunk, cached);
        self.prefill_cached_tokens += cached;
        self
    }

    /// Adds decoding sequences.
    pub fn with_decode(mut self, seqs: u64, context_tokens: u64) -> StepShape {
        self.decode_seqs += seqs;
        self.decode_context_tokens += context_tokens;
        self
    }

    /// Tokens that go through the model's linear layers this step.
    pub fn tokens(&self) -> u64 {
        self.prefill_tokens.saturating_add(self.decode_seqs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_attend_like_one_prefill() {
        let whole = prefill_attended(1000, 0);
        let chunked: u64 = (0..4).map(|k| prefill_attended(250, 250 * k)).sum();
        assert_eq!(whole, 1000 * 1001 / 2);
        assert_eq!(chunked, whole);
    }
}
