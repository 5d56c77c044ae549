//! Sliding-window attention: layers that attend to the last `tokens`
//! positions only (gpt-oss alternates them with full-attention layers,
//! `layer_types` and `sliding_window` in its config.json).
//!
//! Why it matters for cost: a window layer reads at most `tokens` cached
//! keys per query, whatever the context, so a long-context decode step
//! reads its KV cache and a long prompt computes attention on the full
//! layers only; pricing every layer as full attention overstates both by
//! up to the window layers' share.
//!
//! The step models see a step's sums, not each sequence, so a window
//! layer's share is bounded by `n * tokens` for `n` sequences:
//!
//! ```text
//! read     = (1 - f) * context + f * min(context, seqs * tokens)
//! attended = (1 - f) * prefill_attended + f * min(prefill_attended, prefill_tokens * tokens)
//! f        = window layers / layers
//! ```
//!
//! Exact while every sequence's context is at least the window (a
//! benchmark's prompts of 128+ tokens against gpt-oss's 128) and a bound
//! from above otherwise. The KV write of each new token counts every
//! layer. How much KV memory a token holds is the engine's pool rule
//! (`scenario::engine`: vLLM V1's hybrid pool holds the full layers alone,
//! SGLang's split the full layers and 0.8 of the window layers,
//! TensorRT-LLM every layer).

use crate::core::llm::StepShape;
use serde::{Deserialize, Serialize};

/// `[sliding_window]` of a model profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlidingWindow {
    /// Positions a window layer attends to (`sliding_window`).
    pub tokens: u32,
    /// Layers with the window (`layer_types` entries `sliding_attention`).
    pub layers: u32,
}

impl SlidingWindow {
    /// The window against the model's `layers`: located key and message.
    pub fn check(&self, layers: u32) -> Result<(), (&'static str, String)> {
        if self.tokens == 0 {
            return Err(("sliding_window.tokens", "expected an integer >= 1, got 0".into()));
        }
        if self.layers == 0 || self.layers > layers {
            return Err((
                "sliding_window.layers",
                format!("expected 1..={layers} (at most the model's layers), got {}", self.layers),
            ));
        }
        Ok(())
    }

    /// The window against a model of `layers` layers, as the step models
    /// price it.
    pub fn share(self, layers: u32) -> WindowShare {
        WindowShare {
            fraction: f64::from(self.layers) / f64::from(layers.max(self.layers)),
            tokens: f64::from(self.tokens),
        }
    }
}

/// The window layers' share of a model's layers, and their window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowShare {
    fraction: f64,
    tokens: f64,
}

/// A step's attention work as if every layer were a full-attention layer:
/// the layer-averaged tokens of cache read and keys attended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttentionLoad {
    /// Cached tokens read (prefill chunks' earlier tokens and decodes' context).
    pub cached_read: f64,
    /// Decodes' context alone (the roofline counts it as attended keys too).
    pub decode_context: f64,
    /// Keys the prompt tokens attend to.
    pub prefill_attended: f64,
}

/// What a model's layers read and attend to in step `s` (module doc).
pub fn load(window: Option<WindowShare>, s: &StepShape) -> AttentionLoad {
    let (prefill_cached, context, attended) =
        (s.prefill_cached_tokens as f64, s.decode_context_tokens as f64, s.prefill_attended as f64);
    let Some(WindowShare { fraction: f, tokens: span }) = window else {
        return AttentionLoad {
            cached_read: prefill_cached + context,
            decode_context: context,
            prefill_attended: attended,
        };
    };
    let mix = |full: f64, windowed: f64| (1.0 - f) * full + f * full.min(windowed);
    let prefill_cached = mix(prefill_cached, s.prefill_seqs as f64 * span);
    let decode_context = mix(context, s.decode_seqs as f64 * span);
    AttentionLoad {
        cached_read: prefill_cached + decode_context,
        decode_context,
        prefill_attended: mix(attended, s.prefill_tokens as f64 * span),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GPT_OSS: SlidingWindow = SlidingWindow { tokens: 128, layers: 18 };

    /// Without a window the load is the step's own sums.
    #[test]
    fn full_attention_reads_the_whole_context() {
        let s = StepShape::decode(4, 4000).with_prefill(300, 700);
        let l = load(None, &s);
        assert_eq!((l.cached_read, l.decode_context), (4700.0, 4000.0));
        assert_eq!(l.prefill_attended, s.prefill_attended as f64);
    }

    /// Half of gpt-oss's 36 layers see 128 positions: 8 decodes of 2,000
    /// tokens each read 2,000 keys on 18 layers and 128 on the other 18,
    /// (2,000 + 128) / 2 = 1,064 per sequence and layer on average.
    #[test]
    fn a_window_layer_reads_at_most_the_window() {
        let l = load(Some(GPT_OSS.share(36)), &StepShape::decode(8, 16_000));
        assert_eq!(l.cached_read, 8.0 * 1064.0);
        // A prompt of 1,000 tokens from scratch attends to 1000 * 1001 / 2
        // keys on a full layer; on a window layer position p attends to
        // min(p, 128): 128 * 129 / 2 + 872 * 128 = 119,872.
        let s = StepShape::prefill(1000, 0);
        let l = load(Some(GPT_OSS.share(36)), &s);
        let (full, exact_window) = (500_500.0, 119_872.0);
        assert_eq!(l.prefill_attended, 0.5 * full + 0.5 * 128_000.0, "the step-sum bound");
        assert!(
            0.5 * (full + exact_window) <= l.prefill_attended
                && l.prefill_attended <= 0.5 * (full + exact_window) * 1.02
        );
    }

    /// Contexts shorter than the window are read whole.
    #[test]
    fn short_contexts_are_not_cut() {
        let l = load(Some(GPT_OSS.share(36)), &StepShape::decode(8, 800));
        assert_eq!(l.cached_read, 800.0);
    }

    #[test]
    fn a_window_is_checked_against_the_model() {
        assert!(GPT_OSS.check(36).is_ok());
        assert_eq!(GPT_OSS.check(12).unwrap_err().0, "sliding_window.layers");
        assert_eq!(SlidingWindow { tokens: 0, layers: 1 }.check(36).unwrap_err().0, "sliding_window.tokens");
    }
}
