//! What an executor runs: a model shape ([`ExecModel`]) and one step's
//! sequences ([`Batch`]), laid out in a paged KV cache.
//!
//! Why a layout is derived, not passed: the core describes a step by sums
//! ([`StepShape`]), which is all the step-time model needs and what keeps
//! the core O(1) per step. An executor needs sequences. The decoding
//! sequences get equal contexts (the remainder spread one token each over
//! the first ones), and all prefill chunks of the step run as one chunk of
//! `prefill_tokens` on `prefill_cached_tokens` cached tokens. The sums that
//! set the cost — tokens through the linear layers, KV tokens read — are
//! kept exactly; only how attention work splits across sequences is
//! approximated.
//!
//! Paging: the KV cache is a pool of blocks of [`BLOCK_TOKENS`] tokens and
//! each sequence has a block table. Logical block `j` of the sequences in
//! order maps to physical block `(global index) % pool_blocks`: distinct
//! blocks while the step fits the pool, aliased beyond it. Aliasing changes
//! which values are read, never how many bytes: a long-context step on a
//! GPU reads every KV byte it would read with a private cache, from a pool
//! far larger than L2, without needing memory for 256 x 32K tokens.

use super::LiveError;
use crate::core::llm::StepShape;
use crate::model::profile::ModelProfile;

/// Tokens per KV block.
pub const BLOCK_TOKENS: u64 = 16;

/// A Llama-shaped decoder (GQA attention, gated FFN, lm_head), bf16.
/// Norms and rotary embeddings are left out: they are elementwise and move
/// well under 1% of a step's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecModel {
    pub name: String,
    pub layers: u32,
    pub hidden: u32,
    pub heads: u32,
    pub kv_heads: u32,
    pub head_dim: u32,
    pub intermediate: u32,
    pub vocab: u32,
}

impl ExecModel {
    /// The shapes of `profile`, with `layers` in place of its own if given.
    /// Every matrix dimension must be a multiple of 16 (the tensor-core
    /// tile) and `heads` a multiple of `kv_heads`.
    pub fn from_profile(profile: &ModelProfile, layers: Option<u32>) -> Result<ExecModel, LiveError> {
        let layers = layers.unwrap_or(profile.layers);
        let name = if layers == profile.layers { profile.name.clone() } else { format!("{}-{layers}l", profile.name) };
        let m = ExecModel {
            name,
            layers,
            hidden: profile.hidden_size,
            heads: profile.attention_heads,
            kv_heads: profile.kv_heads,
            head_dim: profile.head_dim,
            intermediate: profile.intermediate_size,
            vocab: profile.vocab_size,
        };
        let dims = [
            ("hidden_size", m.hidden),
            ("intermediate_size", m.intermediate),
            ("head_dim", m.head_dim),
            ("vocab_size", m.vocab),
        ];
        if let Some((key, v)) = dims.iter().find(|(_, v)| v % 16 != 0 || *v == 0) {
            return Err(LiveError::Shape(format!(
                "model `{}`: {key} = {v} must be a positive multiple of 16 to run on the executors",
                profile.name
            )));
        }
        if m.layers == 0 || m.kv_heads == 0 || !m.heads.is_multiple_of(m.kv_heads) || m.head_dim > 256 {
            return Err(LiveError::Shape(format!(
                "model `{}`: need layers >= 1, kv_heads dividing attention_heads and head_dim <= 256",
                profile.name
            )));
        }
        Ok(m)
    }

    /// Query heads' width: `heads x head_dim`.
    pub fn q_dim(&self) -> usize {
        (self.heads * self.head_dim) as usize
    }

    /// One of K or V per token: `kv_heads x head_dim`.
    pub fn kv_dim(&self) -> usize {
        (self.kv_heads * self.head_dim) as usize
    }

    /// Output width of the fused QKV projection.
    pub fn qkv_dim(&self) -> usize {
        self.q_dim() + 2 * self.kv_dim()
    }

    /// Weights of one layer: QKV, O, gate+up, down.
    pub fn layer_weights(&self) -> u64 {
        let (h, i) = (u64::from(self.hidden), u64::from(self.intermediate));
        h * self.qkv_dim() as u64 + self.q_dim() as u64 * h + 3 * h * i
    }

    /// The model profile the step-time model should use for what this
    /// executor runs: `parameters` counts exactly the weights a step
    /// streams (every layer, plus the lm_head), so predicted bytes are the
    /// executed bytes.
    pub fn profile(&self) -> ModelProfile {
        ModelProfile {
            name: self.name.clone(),
            description: "executed by servesim's live backend (random weights, real shapes)".into(),
            parameters: u64::from(self.layers) * self.layer_weights() + u64::from(self.vocab) * u64::from(self.hidden),
            layers: self.layers,
            hidden_size: self.hidden,
            attention_heads: self.heads,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
            intermediate_size: self.intermediate,
            vocab_size: self.vocab,
            dtype_bytes: 2,
            precision: None,
            moe: None,
            sliding_window: None,
        }
    }
}

/// One sequence of a step: `cached` tokens already in its KV cache, `new`
/// tokens computed now (1 for a decode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seq {
    pub cached: u64,
    pub new: u64,
}

/// The sequences of one step and their places in the paged KV cache.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    pub seqs: Vec<Seq>,
}

impl Batch {
    /// The layout of `shape` (see the module doc). Decodes first, then the
    /// prefill chunk.
    pub fn from_shape(shape: &StepShape) -> Batch {
        let n = shape.decode_seqs;
        let mut seqs: Vec<Seq> = (0..n)
            .map(|i| Seq {
                cached: shape.decode_context_tokens / n + u64::from(i < shape.decode_context_tokens % n),
                new: 1,
            })
            .collect();
        if shape.prefill_tokens > 0 {
            seqs.push(Seq { cached: shape.prefill_cached_tokens, new: shape.prefill_tokens });
        }
        Batch { seqs }
    }

    /// [`Batch::from_shape`] for an executor: a step with no token is an error.
    pub fn for_step(shape: &StepShape) -> Result<Batch, LiveError> {
        let batch = Batch::from_shape(shape);
        if batch.tokens() == 0 {
            return Err(LiveError::Shape("a step with no tokens".into()));
        }
        Ok(batch)
    }

    /// Tokens through the linear layers.
    pub fn tokens(&self) -> u64 {
        self.seqs.iter().map(|s| s.new).sum()
    }

    /// Blocks each sequence needs (cached + new tokens).
    pub fn blocks(&self) -> u64 {
        self.seqs.iter().map(|s| (s.cached + s.new).div_ceil(BLOCK_TOKENS)).sum()
    }

    /// Per-sequence arrays for kernels: `(token start, keys after the step,
    /// first block-table entry)`, and the block table over a pool of
    /// `pool_blocks` blocks.
    pub fn layout(&self, pool_blocks: u64) -> Layout {
        let (mut token, mut block) = (0u64, 0u64);
        let mut layout = Layout::default();
        for s in &self.seqs {
            let blocks = (s.cached + s.new).div_ceil(BLOCK_TOKENS);
            layout.token_start.push(token as i32);
            layout.ctx_len.push((s.cached + s.new) as i32);
            layout.table_start.push(block as i32);
            layout.table.extend((block..block + blocks).map(|b| (b % pool_blocks.max(1)) as i32));
            token += s.new;
            block += blocks;
        }
        layout.token_start.push(token as i32);
        layout.table_start.push(block as i32);
        layout
    }
}

/// A [`Batch`] as flat `i32` arrays (what the kernels take). Arrays indexed
/// by sequence have one extra final entry (the totals).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layout {
    /// Index of the sequence's first new token among the step's tokens.
    pub token_start: Vec<i32>,
    /// Keys in the sequence's cache after the step (cached + new).
    pub ctx_len: Vec<i32>,
    /// Index of the sequence's first entry in `table`.
    pub table_start: Vec<i32>,
    /// Physical block of each logical block, sequences concatenated.
    pub table: Vec<i32>,
}

impl Layout {
    /// Sequence owning step token `t` and that token's position in it.
    pub fn token_place(&self, t: usize) -> (usize, u64) {
        let seq = self.token_start.partition_point(|&s| s as usize <= t) - 1;
        let new = (self.token_start[seq + 1] - self.token_start[seq]) as u64;
        (seq, self.ctx_len[seq] as u64 - new + (t - self.token_start[seq] as usize) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_keeps_the_shapes_sums() {
        let shape = StepShape::decode(3, 100).with_prefill(40, 7);
        let b = Batch::from_shape(&shape);
        assert_eq!(b.seqs.len(), 4);
        assert_eq!(b.tokens(), shape.tokens());
        let decode_ctx: u64 = b.seqs[..3].iter().map(|s| s.cached).sum();
        assert_eq!(decode_ctx, 100);
        assert_eq!(b.seqs[3], Seq { cached: 7, new: 40 });
        let l = b.layout(1000);
        assert_eq!(l.token_start, vec![0, 1, 2, 3, 43]);
        assert_eq!(l.ctx_len, vec![35, 34, 34, 47]);
        assert_eq!(*l.table_start.last().unwrap() as u64, b.blocks());
        assert_eq!(l.token_place(0), (0, 34));
        assert_eq!(l.token_place(3), (3, 7));
        assert_eq!(l.token_place(42), (3, 46));
        let aliased = b.layout(2);
        assert!(aliased.table.iter().all(|&p| (0..2).contains(&p)));
    }
}
