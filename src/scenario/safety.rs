//! The `[safety]` table: the safety pipeline in front of and behind LLM
//! serving, resolved into the core's [`SafetyConfig`] plus the modeled
//! world the sim driver draws from ([`SafetyModel`]).
//!
//! Why a file of its own: the pipeline has many knobs (classifier pools,
//! score distributions, review staffing, outages) and their checks belong
//! together.
//!
//! Rules: thresholds lie in [0, 1] with `block_threshold >=
//! pass_threshold`; the traffic mix has a positive total; score
//! distributions are beta(alpha, beta) with both > 0; pools have >= 1
//! server and `max_batch >= 1`; outages name a classifier and end after
//! they start; working hours open before they close, within the period.

use super::check::{class_numbers, traffic_mix};
use super::error::ScenarioError;
use super::locate::Locator;
use super::schema::{
    ClassifierSection, EscalateTo, InputSection, OutputModeKey, ReviewSection, SafetySection, ScenarioFile,
    ScoreSection,
};
use super::serving::Serving;
use crate::core::safety::review::ReviewConfig;
use crate::core::safety::{Escalation, OutputCheck, OutputMode, SafetyConfig, Thresholds, WorkingHours};
use crate::core::station::{QueueLayout, Routing, StationConfig};
use crate::time::SimDuration;
use crate::workload::dist::Dist;

/// How one classifier pool's batches take time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassifierTime {
    pub base: SimDuration,
    pub per_item: SimDuration,
    /// Mean-1 multiplicative noise.
    pub jitter: Option<Dist>,
}

/// Beta parameters (alpha, beta) by class, in `Class::ALL` order.
pub type Scores = [(f64, f64); 3];

/// A pool down in [start, end).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outage {
    pub pool: u32,
    pub start: SimDuration,
    pub end: SimDuration,
}

/// The resolved `[safety]` table: the core's settings and the modeled world.
#[derive(Debug, Clone, PartialEq)]
pub struct SafetyModel {
    pub core: SafetyConfig,
    /// Per pool: name, time model, score distributions.
    pub pools: Vec<(String, ClassifierTime, Scores)>,
    /// Class weights, normalized, in `Class::ALL` order.
    pub mix: [f64; 3],
    pub rule_hit: [f64; 3],
    /// Review time, seconds.
    pub review_time: Option<Dist>,
    pub outages: Vec<Outage>,
    pub latency_slo_p99: Option<SimDuration>,
    pub audit_log: bool,
}

const DEFAULT_SCORES: ScoreSection = ScoreSection { benign: [1.0, 12.0], borderline: [4.0, 4.0], harmful: [12.0, 1.5] };

fn unit(loc: &Locator, key: &str, value: f64) -> Result<f64, ScenarioError> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(loc.error(
            key,
            format!("expected a number in [0, 1], got {value}"),
            "scores and thresholds are probabilities",
        ))
    }
}

fn classifier(
    loc: &Locator,
    key: &str,
    c: &ClassifierSection,
    default_name: String,
) -> Result<(StationConfig, (String, ClassifierTime, Scores)), ScenarioError> {
    let servers = c.servers.unwrap_or(1);
    if servers == 0 {
        return Err(loc.error(
            &format!("{key}.servers"),
            "expected an integer >= 1, got 0",
            "a classifier needs a server",
        ));
    }
    let max_batch = c.max_batch.unwrap_or(1);
    if max_batch == 0 {
        return Err(loc.error(&format!("{key}.max_batch"), "expected an integer >= 1, got 0", "1 means no batching"));
    }
    let jitter = match c.scv {
        None => None,
        Some(scv) => {
            let d = Dist::Lognormal { mean: 1.0, scv };
            d.validate().map_err(|e| loc.error(&format!("{key}.scv"), e.to_string(), "e.g. scv = 0.25"))?;
            Some(d)
        }
    };
    let s = c.scores.unwrap_or(DEFAULT_SCORES);
    let mut scores = [(0.0, 0.0); 3];
    for (i, (name, [a, b])) in
        [("benign", s.benign), ("borderline", s.borderline), ("harmful", s.harmful)].into_iter().enumerate()
    {
        if !(a.is_finite() && b.is_finite() && a > 0.0 && b > 0.0) {
            return Err(loc.error(
                &format!("{key}.scores.{name}"),
                format!("expected beta parameters [alpha, beta], both > 0, got [{a}, {b}]"),
                "e.g. [1, 12] puts most scores near 0 (mean alpha / (alpha + beta))",
            ));
        }
        scores[i] = (a, b);
    }
    let station = StationConfig {
        servers,
        layout: QueueLayout::Shared,
        routing: Routing::RoundRobin,
        queue_capacity: c.queue_capacity,
        max_batch,
        max_wait: c.max_wait.unwrap_or_default(),
        processor_sharing: false,
    };
    let time = ClassifierTime {
        base: c.base.unwrap_or(SimDuration::from_millis(10)),
        per_item: c.per_item.unwrap_or(SimDuration::from_millis(1)),
        jitter,
    };
    Ok((station, (c.name.clone().unwrap_or(default_name), time, scores)))
}

fn thresholds(loc: &Locator, i: &InputSection) -> Result<Thresholds, ScenarioError> {
    let pass = unit(loc, "safety.input.pass_threshold", i.pass_threshold.unwrap_or(0.3))?;
    let block = unit(loc, "safety.input.block_threshold", i.block_threshold.unwrap_or(0.8))?;
    if block < pass {
        return Err(loc.error(
            "safety.input.block_threshold",
            format!("expected block_threshold >= pass_threshold ({pass}), got {block}"),
            "scores below pass_threshold pass, at or above block_threshold are refused; the band between is escalated",
        ));
    }
    Ok(Thresholds { pass, block })
}

/// The safety pipeline of a scenario, if it has a `[safety]` table: only
/// LLM serving has one, and a front door's fallback pool would bypass it.
/// Without one, no tenant may set a safety mix.
pub(super) fn resolve(
    file: &ScenarioFile,
    serving: &Serving,
    loc: &Locator,
) -> Result<Option<SafetyModel>, ScenarioError> {
    match (&file.safety, serving) {
        (None, _) => match file.tenants.iter().position(|t| t.safety_mix.is_some()) {
            Some(i) => Err(loc.error(
                &format!("tenants[{i}].safety_mix"),
                "only a safety pipeline ([safety]) draws requests' traffic classes",
                "add a [safety] table, or remove safety_mix",
            )),
            None => Ok(None),
        },
        (Some(_), Serving::Llm(llm)) if llm.frontdoor.as_ref().is_some_and(|f| f.fallback.is_some()) => Err(loc.error(
            "gateway.fallback",
            "the fallback pool does not sit behind the safety pipeline: degraded requests would skip its checks",
            "remove gateway.fallback, or the [safety] table",
        )),
        (Some(s), Serving::Llm(_)) => pipeline(s, loc).map(Some),
        (Some(_), Serving::Fleet(_)) => Err(loc.error(
            "safety",
            "a fleet has no safety pipeline yet",
            "remove the [safety] table, or run one pool with [replica]",
        )),
        (Some(_), Serving::Station { .. }) => {
            Err(loc.error("safety", "only LLM serving has a safety pipeline", "add a [replica] table"))
        }
    }
}

fn pipeline(s: &SafetySection, loc: &Locator) -> Result<SafetyModel, ScenarioError> {
    let mut stations = Vec::new();
    let mut pools = Vec::new();
    let input = thresholds(loc, &s.input)?;
    if s.input.classifiers.is_empty() {
        return Err(loc.error(
            "safety.input.classifiers",
            "missing: at least one input classifier",
            "add [[safety.input.classifiers]] with name = \"violence\" (one per harm category)",
        ));
    }
    for (i, c) in s.input.classifiers.iter().enumerate() {
        let (station, pool) = classifier(loc, &format!("safety.input.classifiers[{i}]"), c, format!("classifier-{i}"))?;
        stations.push(station);
        pools.push(pool);
    }
    let input_pools = (0..pools.len() as u32).collect();
    let escalation = match s.input.escalate.unwrap_or_default() {
        EscalateTo::Pass => None,
        EscalateTo::Classifier => {
            let Some(e) = &s.escalation else {
                return Err(loc.error(
                    "safety.escalation",
                    "missing: `input.escalate = \"classifier\"` needs [safety.escalation.classifier]",
                    "or set input.escalate = \"review\" or \"pass\"",
                ));
            };
            let block = unit(loc, "safety.escalation.block_threshold", e.block_threshold.unwrap_or(0.5))?;
            let (station, pool) = classifier(loc, "safety.escalation.classifier", &e.classifier, "escalation".into())?;
            stations.push(station);
            pools.push(pool);
            Some(Escalation::Classifier { pool: pools.len() as u32 - 1, block })
        }
        EscalateTo::Review => Some(Escalation::Review(review(loc, s.review.as_ref().cloned().unwrap_or_default())?)),
    };
    let review_time = match (&escalation, &s.review) {
        (Some(Escalation::Review(_)), r) => {
            let r = r.clone().unwrap_or_default();
            let mean = r.review_time.unwrap_or(SimDuration::from_secs(60)).as_secs_f64();
            let d = Dist::Lognormal { mean, scv: r.review_time_scv.unwrap_or(1.0) };
            d.validate().map_err(|e| loc.error("safety.review.review_time_scv", e.to_string(), "e.g. 0.5"))?;
            Some(d)
        }
        _ => None,
    };
    let o = &s.output;
    let chunk_tokens = o.chunk_tokens.unwrap_or(32);
    if chunk_tokens == 0 {
        return Err(loc.error("safety.output.chunk_tokens", "expected an integer >= 1, got 0", "e.g. 32"));
    }
    let mode = match o.mode.unwrap_or_default() {
        OutputModeKey::Whole => OutputMode::Whole,
        OutputModeKey::Streaming => OutputMode::Streaming { chunk_tokens },
    };
    let block = unit(loc, "safety.output.block_threshold", o.block_threshold.unwrap_or(0.8))?;
    let oc = o.classifier.clone().unwrap_or_default();
    let (station, pool) = classifier(loc, "safety.output.classifier", &oc, "output".into())?;
    stations.push(station);
    pools.push(pool);
    let output = OutputCheck { pool: pools.len() as u32 - 1, mode, block };
    for (i, (name, ..)) in pools.iter().enumerate() {
        if pools[..i].iter().any(|p| &p.0 == name) {
            return Err(loc.error(
                "safety",
                format!("two classifiers are named `{name}`"),
                "give each a distinct name",
            ));
        }
    }
    let mut outages = Vec::new();
    for (i, out) in s.outages.iter().enumerate() {
        let key = format!("safety.outages[{i}]");
        let Some(pool) = pools.iter().position(|p| p.0 == out.classifier) else {
            let names: Vec<&str> = pools.iter().map(|p| p.0.as_str()).collect();
            return Err(loc.error(
                &format!("{key}.classifier"),
                format!("no classifier is named `{}`", out.classifier),
                format!("one of: {}", names.join(", ")),
            ));
        };
        if out.end <= out.start {
            return Err(loc.error(&format!("{key}.end"), "expected end > start", "an outage lasts from start to end"));
        }
        outages.push(Outage { pool: pool as u32, start: out.start, end: out.end });
    }
    let mix = traffic_mix(loc, "safety.mix", s.mix.unwrap_or_default(), [0.9, 0.07, 0.03])?;
    let rule_hit = class_numbers(loc, "safety.rules.hit_rate", s.rules.hit_rate.unwrap_or_default(), [0.0, 0.0, 0.2])?;
    for (i, r) in rule_hit.iter().enumerate() {
        unit(loc, &format!("safety.rules.hit_rate.{}", crate::core::safety::Class::ALL[i].name()), *r)?;
    }
    let timeout = s.timeout.unwrap_or(SimDuration::from_millis(500));
    if timeout == SimDuration::ZERO {
        return Err(loc.error("safety.timeout", "expected a duration > 0", "e.g. \"500ms\""));
    }
    let core = SafetyConfig {
        pools: stations,
        rule_latency: s.rules.latency.unwrap_or(SimDuration(20_000)),
        input_pools,
        input,
        escalation,
        output,
        timeout,
        fail_open: s.fail_open.unwrap_or(false),
    };
    Ok(SafetyModel {
        core,
        pools,
        mix,
        rule_hit,
        review_time,
        outages,
        latency_slo_p99: s.latency_slo_p99,
        audit_log: s.audit_log.unwrap_or(false),
    })
}

fn review(loc: &Locator, r: ReviewSection) -> Result<ReviewConfig, ScenarioError> {
    let reviewers = r.reviewers.unwrap_or(1);
    if reviewers == 0 {
        return Err(loc.error(
            "safety.review.reviewers",
            "expected an integer >= 1, got 0",
            "or set input.escalate = \"pass\"",
        ));
    }
    let hours = match r.hours {
        None => None,
        Some(h) => {
            let period = h.period.unwrap_or(SimDuration::from_secs(24 * 3600));
            if !(h.open < h.close && h.close <= period) {
                return Err(loc.error(
                    "safety.review.hours",
                    "expected open < close <= period",
                    "e.g. hours = { open = \"9h\", close = \"17h\" }",
                ));
            }
            Some(WorkingHours { period, open: h.open, close: h.close })
        }
    };
    Ok(ReviewConfig { reviewers, hours, holding_refusal: r.holding_refusal.unwrap_or(false) })
}
