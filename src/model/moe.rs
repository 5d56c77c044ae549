//! Mixture-of-experts layers: which expert weights a step has to read.
//!
//! Why it matters: a decode step of a dense model reads every weight once;
//! an MoE step reads only the experts its tokens are routed to. With top-k
//! routing over `E` experts, one token hits a given expert with probability
//! `k / E`, so a batch of `b` tokens (routing taken as independent and
//! uniform) leaves an expert untouched with probability `(1 - k/E)^b` and
//! touches, in expectation, `E * (1 - (1 - k/E)^b)` distinct experts. Under
//! expert parallelism each GPU holds `E / ep` experts and reads the expected
//! share of those. Small batches therefore stream a fraction of the
//! weights; large ones all of them, which is why MoE decode time grows with
//! batch size long before the compute roof.

use serde::{Deserialize, Serialize};

/// `[moe]` of a model profile (Hugging Face config.json names in the docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Moe {
    /// Routed experts per MoE layer (`num_experts`, `num_local_experts`).
    pub experts: u32,
    /// Experts each token is routed to (`num_experts_per_tok`).
    pub experts_per_token: u32,
    /// Experts every token goes through (DeepSeek's shared experts); 0 if none.
    #[serde(default)]
    pub shared_experts: u32,
    /// Intermediate width of one expert's gated MLP (`moe_intermediate_size`).
    pub expert_intermediate_size: u32,
}

impl Moe {
    /// Parameters of one expert in one layer: gate, up and down projections.
    pub fn expert_parameters(&self, hidden: u32) -> f64 {
        3.0 * f64::from(hidden) * f64::from(self.expert_intermediate_size)
    }

    /// Expected distinct experts, out of the `experts / ep` one GPU holds,
    /// that `tokens` tokens hit (see the module doc).
    pub fn expected_local_experts_hit(&self, ep: u32, tokens: f64) -> f64 {
        let (e, k) = (f64::from(self.experts), f64::from(self.experts_per_token));
        e / f64::from(ep.max(1)) * (1.0 - (1.0 - k / e).powf(tokens))
    }

    /// Meaning checks; `Err((key, what was expected))`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.experts == 0 || self.expert_intermediate_size == 0 {
            let key = if self.experts == 0 { "moe.experts" } else { "moe.expert_intermediate_size" };
            return Err((key, "expected an integer >= 1, got 0".into()));
        }
        if self.experts_per_token == 0 || self.experts_per_token > self.experts {
            return Err((
                "moe.experts_per_token",
                format!("expected 1..={} (at most moe.experts), got {}", self.experts, self.experts_per_token),
            ));
        }
        Ok(())
    }
}
