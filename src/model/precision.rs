//! Number formats of a model's tensors, per tensor class.
//!
//! Why per class: serving engines quantize weights, activations and the KV
//! cache independently (an fp8 checkpoint served with a bf16 KV cache, fp4
//! experts next to bf16 attention), and each class sets a different cost:
//! weight bytes streamed per step, the tensor-core rate GEMMs run at, KV
//! bytes read per token and held per token. One `dtype_bytes` per model
//! cannot say which. A model profile without a `[precision]` table keeps its
//! single `dtype_bytes` for everything, as before.

use serde::{Deserialize, Serialize};

/// An element format. The 4-bit formats pack two values per byte; the
/// block-scaled ones carry their scales too: MXFP4 (OCP Microscaling
/// spec v1.0) one 8-bit exponent per 32 values, 4.25 bits a value; NVFP4
/// one fp8 scale per 16 values, 4.5 bits (its per-tensor fp32 scale is
/// negligible). `fp4` and `int4` count the packed values alone (a format
/// whose scales are accounted elsewhere, or not at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    Fp32,
    Bf16,
    Fp8,
    Fp4,
    Mxfp4,
    Nvfp4,
    Int4,
}

impl Dtype {
    /// Bytes per element, block scales included.
    pub fn bytes(self) -> f64 {
        match self {
            Dtype::Fp32 => 4.0,
            Dtype::Bf16 => 2.0,
            Dtype::Fp8 => 1.0,
            Dtype::Fp4 | Dtype::Int4 => 0.5,
            Dtype::Mxfp4 => 0.5 + 1.0 / 32.0,
            Dtype::Nvfp4 => 0.5 + 1.0 / 16.0,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::Fp32 => "fp32",
            Dtype::Bf16 => "bf16",
            Dtype::Fp8 => "fp8",
            Dtype::Fp4 => "fp4",
            Dtype::Mxfp4 => "mxfp4",
            Dtype::Nvfp4 => "nvfp4",
            Dtype::Int4 => "int4",
        }
    }

    /// Whether a benchmark's precision label names this format: its own
    /// name, or `fp4` for any 4-bit float (aiconfigurator's label for
    /// MXFP4 and NVFP4 checkpoints alike).
    pub fn is_labelled(self, label: &str) -> bool {
        label == self.name() || (label == "fp4" && matches!(self, Dtype::Fp4 | Dtype::Mxfp4 | Dtype::Nvfp4))
    }
}

/// `[precision]` of a model profile: the format of each tensor class as
/// the checkpoint is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Precision {
    /// Attention and dense-MLP weights (and shared experts).
    pub weights: Dtype,
    /// Routed-expert weights; the `weights` format when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experts: Option<Dtype>,
    /// Activations, the embedding and lm_head, and what all-reduces move.
    pub activations: Dtype,
    /// The KV cache.
    pub kv_cache: Dtype,
}

impl Precision {
    /// Every class in the format of `dtype_bytes` (a profile without
    /// `[precision]`): 4 fp32, 2 bf16, 1 fp8.
    pub fn uniform(dtype_bytes: u32) -> Precision {
        let d = match dtype_bytes {
            4 => Dtype::Fp32,
            1 => Dtype::Fp8,
            _ => Dtype::Bf16,
        };
        Precision { weights: d, experts: None, activations: d, kv_cache: d }
    }

    pub fn expert_weights(&self) -> Dtype {
        self.experts.unwrap_or(self.weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MXFP4: 32 values of 4 bits and one 8-bit scale, 136 bits per block;
    /// NVFP4: 16 values and one fp8 scale, 72 bits per block.
    #[test]
    fn block_scaled_formats_carry_their_scales() {
        assert_eq!(Dtype::Mxfp4.bytes() * 32.0 * 8.0, 136.0);
        assert_eq!(Dtype::Nvfp4.bytes() * 16.0 * 8.0, 72.0);
        assert_eq!(Dtype::Fp4.bytes(), 0.5);
        assert!(Dtype::Mxfp4.is_labelled("fp4") && Dtype::Nvfp4.is_labelled("fp4") && Dtype::Fp4.is_labelled("fp4"));
        assert!(Dtype::Mxfp4.is_labelled("mxfp4") && !Dtype::Int4.is_labelled("fp4") && !Dtype::Fp8.is_labelled("fp4"));
    }
}
