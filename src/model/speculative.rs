//! Speculative decoding: a step that verifies proposed tokens and may
//! yield several tokens per sequence.
//!
//! Why: vLLM, SGLang and TensorRT-LLM all ship it (a draft model, MTP heads
//! or n-gram lookup proposes `k` tokens; the target model scores them in
//! one step). Decode is weight-bound, so scoring `k + 1` tokens costs
//! little more than scoring one, and every accepted proposal is a token
//! without a step of its own.
//!
//! Tokens a sequence gains per step. The target verifies the `k` proposals
//! in order and keeps them up to the first rejection, then adds its own
//! token (the correction, or the bonus after `k` acceptances). With each
//! proposal accepted independently with probability `a`, the accepted run
//! `J` has `P(J >= j) = a^j` for `j <= k`, so
//!
//! ```text
//! E[tokens] = 1 + sum_{j=1..k} P(J >= j) = sum_{j=0..k} a^j = (1 - a^(k+1)) / (1 - a)
//! ```
//!
//! Cost of the step. The target scores `k + 1` tokens per sequence on top
//! of its cache: a prefill-like chunk of `k + 1` tokens per sequence (KV
//! read once, `k + 1` tokens through the GEMMs, causal attention within the
//! chunk). A draft model adds `k` of its own decode steps; MTP heads and
//! n-gram lookup are folded into the target's step.

use super::step::StepModel;
use crate::core::llm::StepShape;
use crate::time::SimDuration;
use rand::Rng;

/// Proposal length and acceptance rate of a speculative decoder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speculation {
    /// Tokens proposed per sequence per step (`k`).
    proposal_tokens: u32,
    /// Probability that each proposal is accepted, given its predecessors
    /// were (`a`).
    acceptance_rate: f64,
}

impl Speculation {
    /// `Err` names the bad value: `k >= 1`, `a` in [0, 1).
    pub fn new(proposal_tokens: u32, acceptance_rate: f64) -> Result<Speculation, String> {
        if proposal_tokens == 0 {
            return Err("proposal_tokens: expected an integer >= 1, got 0".into());
        }
        if !(acceptance_rate.is_finite() && (0.0..1.0).contains(&acceptance_rate)) {
            return Err(format!("acceptance_rate: expected a probability in [0, 1), got {acceptance_rate}"));
        }
        Ok(Speculation { proposal_tokens, acceptance_rate })
    }

    pub fn proposal_tokens(&self) -> u32 {
        self.proposal_tokens
    }

    /// `(1 - a^(k+1)) / (1 - a)` (module doc).
    pub fn mean_tokens_per_step(&self) -> f64 {
        let a = self.acceptance_rate;
        (1.0 - a.powi(self.proposal_tokens as i32 + 1)) / (1.0 - a)
    }

    /// Tokens one sequence gains in one verify step, drawn from `rng`:
    /// one plus the proposals accepted before the first rejection.
    pub fn draw_tokens<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        1 + (0..self.proposal_tokens).take_while(|_| rng.random::<f64>() < self.acceptance_rate).count() as u32
    }

    /// The target's verify step for `seqs` decoding sequences whose cached
    /// contexts sum to `context_tokens`: `k + 1` tokens each, causal within
    /// the chunk (`c * cached + c(c+1)/2` attended keys per sequence, summed).
    pub fn verify_shape(&self, seqs: u64, context_tokens: u64) -> StepShape {
        let chunk = u64::from(self.proposal_tokens) + 1;
        StepShape {
            prefill_tokens: seqs * chunk,
            prefill_seqs: seqs,
            prefill_attended: chunk * context_tokens + seqs * chunk * (chunk + 1) / 2,
            prefill_cached_tokens: context_tokens,
            ..StepShape::default()
        }
    }

    /// Duration of one speculative step: the target's verify step plus, with
    /// a draft model, `k` draft decode steps over the same sequences.
    pub fn step_time(
        &self,
        target: &StepModel,
        draft: Option<&StepModel>,
        seqs: u64,
        context_tokens: u64,
    ) -> SimDuration {
        let proposals = draft.map_or(SimDuration::ZERO, |d| {
            let one = d.time(&StepShape::decode(seqs, context_tokens));
            SimDuration::from_secs_f64(one.as_secs_f64() * f64::from(self.proposal_tokens))
        });
        target.time(&self.verify_shape(seqs, context_tokens)) + proposals
    }
}
