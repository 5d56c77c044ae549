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

/// An element format. fp4 and int4 are packed two per byte; their block
/// scales (e.g. MXFP4's one byte per 32 elements) are left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    Fp32,
    Bf16,
    Fp8,
    Fp4,
    Int4,
}

impl Dtype {
    /// Bytes per element.
    pub fn bytes(self) -> f64 {
        match self {
            Dtype::Fp32 => 4.0,
            Dtype::Bf16 => 2.0,
            Dtype::Fp8 => 1.0,
            Dtype::Fp4 | Dtype::Int4 => 0.5,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::Fp32 => "fp32",
            Dtype::Bf16 => "bf16",
            Dtype::Fp8 => "fp8",
            Dtype::Fp4 => "fp4",
            Dtype::Int4 => "int4",
        }
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
