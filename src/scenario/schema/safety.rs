//! `[safety]`: the safety pipeline's sections — rules, input classifiers,
//! escalation, human review, output checks and outages. Many knobs, so a
//! file of their own; the scenario file gains one optional field.

use crate::time::SimDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The safety pipeline (LLM serving only). When absent, nothing is checked.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SafetySection {
    /// What-if only: a check that cannot run lets content pass (reported in
    /// red with the unchecked tokens delivered). Default: false (fail closed).
    pub fail_open: Option<bool>,
    /// A check without a result this long after it was asked for fails
    /// (closed). Default: "500ms".
    pub timeout: Option<SimDuration>,
    /// SLO on the p99 of input safety latency (arrival to the input verdict).
    pub latency_slo_p99: Option<SimDuration>,
    /// Write `audit.jsonl` (one decision per line) with the report. Default: false.
    pub audit_log: Option<bool>,
    /// Traffic mix by class (relative weights), for every request (a
    /// tenant's `safety_mix` replaces it for that tenant's requests).
    /// Default: benign 0.9, borderline 0.07, harmful 0.03.
    pub mix: Option<ClassNumbers>,
    #[serde(default)]
    pub rules: RulesSection,
    #[serde(default)]
    pub input: InputSection,
    /// The extra classifier the middle band goes to (`input.escalate = "classifier"`).
    pub escalation: Option<EscalationSection>,
    /// The human review queue (`input.escalate = "review"`).
    pub review: Option<ReviewSection>,
    #[serde(default)]
    pub output: OutputSection,
    /// Classifier outages: the named classifier fails every batch in [start, end).
    #[serde(default)]
    pub outages: Vec<OutageSection>,
}

/// One number per traffic class.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ClassNumbers {
    pub benign: Option<f64>,
    pub borderline: Option<f64>,
    pub harmful: Option<f64>,
}

/// A beta(alpha, beta) score distribution per class: `[alpha, beta]`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreSection {
    #[serde(deserialize_with = "beta_pair")]
    pub benign: [f64; 2],
    #[serde(deserialize_with = "beta_pair")]
    pub borderline: [f64; 2],
    #[serde(deserialize_with = "beta_pair")]
    pub harmful: [f64; 2],
}

/// Exactly two numbers: a plain `[f64; 2]` lets TOML drop a third silently.
fn beta_pair<'de, D: serde::Deserializer<'de>>(d: D) -> Result<[f64; 2], D::Error> {
    let v = Vec::<f64>::deserialize(d)?;
    <[f64; 2]>::try_from(v.as_slice())
        .map_err(|_| serde::de::Error::invalid_length(v.len(), &"two numbers [alpha, beta]"))
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RulesSection {
    /// Time the rule filter takes per request. Default: "20us".
    pub latency: Option<SimDuration>,
    /// Fraction of each class the rules match (and block). Default: harmful 0.2, others 0.
    pub hit_rate: Option<ClassNumbers>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum EscalateTo {
    /// The middle band passes.
    Pass,
    /// An extra classifier (`[safety.escalation]`) decides.
    Classifier,
    /// Human reviewers (`[safety.review]`) decide.
    #[default]
    Review,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct InputSection {
    /// Highest category score below this passes, in [0, 1]. Default: 0.3.
    pub pass_threshold: Option<f64>,
    /// Highest category score at or above this is refused, in [pass_threshold, 1]. Default: 0.8.
    pub block_threshold: Option<f64>,
    /// Where the middle band goes: "pass", "classifier" or "review". Default: "review".
    pub escalate: Option<EscalateTo>,
    /// One classifier per harm category, all asked in parallel.
    #[serde(default)]
    pub classifiers: Vec<ClassifierSection>,
}

/// A classifier on its own pool of servers: shared queue, static batching,
/// batch time `base + per_item × size` (times a lognormal factor of mean 1
/// and squared coefficient of variation `scv`, if set).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ClassifierSection {
    /// Name, e.g. the harm category. Default: "classifier-<i>".
    pub name: Option<String>,
    /// Servers in the pool. Default: 1.
    pub servers: Option<u32>,
    /// Most checks in one batch. Default: 1.
    pub max_batch: Option<u32>,
    /// Send a partial batch once its oldest check waited this long. Default: "0s".
    pub max_wait: Option<SimDuration>,
    /// Most checks waiting; overflow fails (closed). Default: unbounded.
    pub queue_capacity: Option<u64>,
    /// Fixed cost of one batch. Default: "10ms".
    pub base: Option<SimDuration>,
    /// Added cost per check in the batch. Default: "1ms".
    pub per_item: Option<SimDuration>,
    /// Variability of batch times (lognormal factor). Default: none (deterministic).
    pub scv: Option<f64>,
    /// Score distributions by class. Default: benign [1, 12], borderline [4, 4], harmful [12, 1.5].
    pub scores: Option<ScoreSection>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationSection {
    /// Score at or above which the extra classifier refuses, in [0, 1]. Default: 0.5.
    pub block_threshold: Option<f64>,
    pub classifier: ClassifierSection,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReviewSection {
    /// Reviewers at work. Default: 1.
    pub reviewers: Option<u32>,
    /// Mean time of one review. Default: "60s".
    pub review_time: Option<SimDuration>,
    /// Squared coefficient of variation of review times (lognormal). Default: 1.
    pub review_time_scv: Option<f64>,
    /// Working hours; absent: always staffed.
    pub hours: Option<HoursSection>,
    /// Refuse the caller at once (the review still happens) instead of
    /// making it wait. Default: false.
    pub holding_refusal: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HoursSection {
    /// Opening time within each period, e.g. "9h".
    pub open: SimDuration,
    /// Closing time within each period, e.g. "17h".
    pub close: SimDuration,
    /// Default: "24h".
    pub period: Option<SimDuration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OutputModeKey {
    /// Check the whole response once generated.
    Whole,
    /// Check each chunk of `chunk_tokens` as generated; release chunks once passed.
    #[default]
    Streaming,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    /// "whole" or "streaming". Default: "streaming".
    pub mode: Option<OutputModeKey>,
    /// Tokens per streamed chunk (streaming only). Default: 32.
    pub chunk_tokens: Option<u32>,
    /// A chunk scoring at or above this is flagged, in [0, 1]. Default: 0.8.
    pub block_threshold: Option<f64>,
    /// The output classifier. Default: the classifier defaults, named "output".
    pub classifier: Option<ClassifierSection>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutageSection {
    /// A classifier's name ("output" for the output classifier by default).
    pub classifier: String,
    pub start: SimDuration,
    pub end: SimDuration,
}
