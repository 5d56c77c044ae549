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
//!
//! Expert parallelism waits for its busiest GPU. The GPUs of an EP group
//! run a layer's experts side by side and meet at the layer's combine, so
//! the layer takes as long as the GPU with the most experts hit, not the
//! mean. Each of a GPU's `n = E / ep` experts is hit with probability
//! `p = 1 - (1 - k/E)^b`; taking the hits as independent, a GPU's count is
//! Binomial(n, p) and the busiest of `ep` GPUs has expectation
//! `sum_{m=1..n} (1 - F(m-1)^ep)` with `F` the binomial CDF (the identity
//! `E[X] = sum P(X >= m)` for the maximum of `ep` independent counts). At
//! 4 decode tokens of Qwen3-235B-A22B (128 experts, top 8) the busiest of 8
//! GPUs hits 6.1 experts against a mean of 3.6; the gap closes as the batch
//! grows and every expert is hit. Sharding each expert over the group
//! (`moe_tp`) has no such gap: every GPU reads a slice of every hit expert.
//! Routing is taken as uniform; real routers favour some experts, which
//! lowers the distinct experts a batch hits (not modeled).

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

    /// Expected distinct experts hit on the busiest of `ep` GPUs that each
    /// hold `experts / ep` (see the module doc). O(experts / ep).
    pub fn expected_busiest_experts_hit(&self, ep: u32, tokens: u64) -> f64 {
        let ep = ep.max(1);
        let n = self.experts / ep;
        let p = 1.0 - (1.0 - f64::from(self.experts_per_token) / f64::from(self.experts)).powf(tokens as f64);
        if ep == 1 || p <= 0.0 || p >= 1.0 {
            return f64::from(n) * p;
        }
        let (ln_p, ln_q) = (p.ln(), (1.0 - p).ln());
        // F(m-1) accumulated from log-space binomial terms (no overflow at n = 256).
        let (mut ln_choose, mut below, mut expected) = (0.0_f64, 0.0_f64, 0.0_f64);
        for m in 0..n {
            below += (ln_choose + f64::from(m) * ln_p + f64::from(n - m) * ln_q).exp();
            expected += 1.0 - below.min(1.0).powi(ep as i32);
            ln_choose += (f64::from(n - m) / f64::from(m + 1)).ln();
        }
        expected
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

/// The busiest GPU's expected experts hit, tabulated by a step's token
/// count so a step prices it in O(1): past the table every expert is hit.
#[derive(Debug, Clone, PartialEq)]
pub struct BusiestExperts {
    table: Vec<f64>,
    local: f64,
}

impl BusiestExperts {
    /// The table for `ep` GPUs, up to the token count at which an expert
    /// is missed with probability below 1e-12.
    pub fn new(moe: &Moe, ep: u32) -> BusiestExperts {
        let miss = 1.0 - f64::from(moe.experts_per_token) / f64::from(moe.experts);
        let saturated = if miss <= 0.0 { 1 } else { ((1e-12_f64).ln() / miss.ln()).ceil() as u64 };
        BusiestExperts {
            table: (0..=saturated).map(|b| moe.expected_busiest_experts_hit(ep, b)).collect(),
            local: f64::from(moe.experts / ep.max(1)),
        }
    }

    /// Expected experts hit on the busiest GPU by a step of `tokens` tokens.
    pub fn get(&self, tokens: u64) -> f64 {
        usize::try_from(tokens).ok().and_then(|b| self.table.get(b)).copied().unwrap_or(self.local)
    }
}
