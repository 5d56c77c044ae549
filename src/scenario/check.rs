//! Checks more than one section resolver needs: a located "not allowed
//! here", a positive rate, a renewal arrival process (`[workload]` and each
//! tenant), a trace file read relative to the scenario, a token-count
//! distribution (request sizes, conversation turns), and per-class numbers
//! (the safety mix, a tenant's own mix). Each error names its key.

use super::error::ScenarioError;
use super::locate::Locator;
use super::schema::{ArrivalKind, ClassNumbers, RateStep, TokenDist};
use crate::workload::dist::Dist;
use crate::workload::measured::read_records;
use crate::workload::tokens::TokenSizes;
use crate::workload::trace::{TraceError, TraceRecord};
use crate::workload::{ArrivalSpec, RateSchedule};
use std::path::Path;

/// What a squared coefficient of variation means, for every `scv` error.
pub(super) const SCV_HINT: &str =
    "scv = 1 is Poisson; 4 to 100 is bursty; beyond 1e4 the gaps are all but 0 or all but infinite";

/// An error at `key` if `value` is set; `why` says why it does not belong.
pub(super) fn forbid<T>(loc: &Locator, key: &str, value: &Option<T>, why: &str) -> Result<(), ScenarioError> {
    match value {
        Some(_) => Err(loc.error(key, format!("not allowed here: {why}"), "remove the key")),
        None => Ok(()),
    }
}

fn positive_rate(loc: &Locator, key: &str, rate: f64) -> Result<f64, ScenarioError> {
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err(loc.error(key, format!("expected a rate > 0 requests per second, got {rate}"), "e.g. rate_per_s = 50.0"))
    }
}

/// A renewal process from the keys under `prefix` (`workload`, or a tenant).
pub(super) fn renewal(
    loc: &Locator,
    prefix: &str,
    kind: ArrivalKind,
    rate_per_s: Option<f64>,
    scv: Option<f64>,
    schedule: &[RateStep],
) -> Result<ArrivalSpec, ScenarioError> {
    let key = |k: &str| format!("{prefix}.{k}");
    let Some(rate) = rate_per_s else {
        return Err(loc.error(
            &key("rate_per_s"),
            "missing: the arrival rate in requests per second",
            "e.g. rate_per_s = 50.0",
        ));
    };
    let base = positive_rate(loc, &key("rate_per_s"), rate)?;
    let mut changes = Vec::new();
    for (i, step) in schedule.iter().enumerate() {
        let key = key(&format!("schedule[{i}].rate_per_s"));
        if !(step.rate_per_s.is_finite() && step.rate_per_s >= 0.0) {
            return Err(loc.error(&key, format!("expected a rate >= 0, got {}", step.rate_per_s), "0 pauses arrivals"));
        }
        changes.push((step.at, step.rate_per_s));
    }
    let gap = match kind {
        ArrivalKind::Poisson | ArrivalKind::Deterministic => {
            forbid(loc, &key("scv"), &scv, "scv is only for `arrival = \"gamma\"`")?;
            if kind == ArrivalKind::Poisson {
                Dist::Exponential { mean: 1.0 }
            } else {
                Dist::Deterministic { value: 1.0 }
            }
        }
        _ => {
            let Some(scv) = scv else {
                return Err(loc.error(
                    &key("scv"),
                    "missing: gamma arrivals need the gaps' squared coefficient of variation",
                    "scv = 1 is Poisson; 4 is bursty",
                ));
            };
            if scv > super::guard::MAX_SCV {
                return Err(loc.error(
                    &key("scv"),
                    format!("expected an scv of at most {:.0e}, got {scv}", super::guard::MAX_SCV),
                    SCV_HINT,
                ));
            }
            let gap = Dist::Gamma { mean: 1.0, scv };
            gap.validate().map_err(|e| loc.error(&key("scv"), e.to_string(), SCV_HINT))?;
            gap
        }
    };
    Ok(ArrivalSpec::Renewal { gap, rate: RateSchedule::new(base, &changes) })
}

/// Reads the trace at `trace` (relative to the scenario file's folder),
/// placing any error at `key`.
pub(super) fn load_trace(
    trace: &Path,
    scenario: &Path,
    loc: &Locator,
    key: &str,
) -> Result<Vec<TraceRecord>, ScenarioError> {
    let resolved = match scenario.parent() {
        Some(dir) if trace.is_relative() => dir.join(trace),
        _ => trace.to_path_buf(),
    };
    read_records(&resolved).map_err(|e| {
        let hint = match e {
            TraceError::Io { .. } => "relative trace paths are resolved from the scenario file's folder",
            TraceError::Row { .. } | TraceError::OutOfOrder { .. } => {
                "fix or delete that row; a good Azure row reads `2023-11-16 18:17:03.9799600,4808,10`, a measured \
                 run's `0.731,2048,64,180.4,961.6` (arrival_s,prompt_tokens,output_tokens,ttft_ms,latency_ms)"
            }
            _ => {
                "a trace starts with the header `TIMESTAMP,ContextTokens,GeneratedTokens` (Azure) or \
                 `arrival_s,prompt_tokens,output_tokens,ttft_ms,latency_ms` (a measured run), then one request per row"
            }
        };
        loc.error(key, e.to_string(), hint)
    })
}

/// Which trace column an empirical size distribution resamples.
pub(super) type Column = fn(&TraceRecord) -> u32;

/// A size distribution; `column` is the trace column `empirical` reads
/// (None: this key takes no trace), relative to scenario file `path`.
pub(super) fn token_sizes(
    loc: &Locator,
    key: &str,
    d: &Option<TokenDist>,
    column: Option<Column>,
    path: &Path,
) -> Result<TokenSizes, ScenarioError> {
    let Some(d) = d else {
        return Err(loc.error(
            key,
            "missing: synthetic arrivals need a size",
            "e.g. { median = 1000, p99 = 8000 } or { fixed = 512 }",
        ));
    };
    let max_tokens = super::guard::MAX_TOKENS;
    for (part, v) in [("median", d.median), ("p99", d.p99), ("mean", d.mean)] {
        if v.is_some_and(|v| v > max_tokens) {
            return Err(loc.error(
                &format!("{key}.{part}"),
                format!("expected at most {max_tokens:.0e} tokens, got {}", v.unwrap_or_default()),
                "token counts of real requests are below a few million",
            ));
        }
    }
    if let (Some(p99), Some(max)) = (d.p99, d.max) {
        if p99 > f64::from(max) {
            return Err(loc.error(
                &format!("{key}.p99"),
                format!("p99 ({p99}) is above max ({max}): at most 1% of sizes may exceed p99, and none exceeds max"),
                "raise max or lower p99",
            ));
        }
    }
    match (d.fixed, d.median, d.p99, d.mean, &d.empirical) {
        (Some(n), None, None, None, None) if n >= 1 => Ok(TokenSizes::Fixed(n)),
        (None, Some(m), Some(q), None, None) => {
            TokenSizes::lognormal(m, q, d.max).map_err(|e| loc.error(key, e, "e.g. { median = 1000, p99 = 8000 }"))
        }
        (None, None, None, Some(m), None) => {
            TokenSizes::geometric(m, d.max).map_err(|e| loc.error(&format!("{key}.mean"), e, "e.g. { mean = 200 }"))
        }
        (None, None, None, None, Some(trace)) => {
            let key = format!("{key}.empirical");
            let Some(column) = column else {
                return Err(loc.error(
                    &key,
                    "only prompt_tokens and output_tokens resample a trace",
                    "use { median, p99 }",
                ));
            };
            let records = load_trace(trace, path, loc, &key)?;
            let values: Vec<u32> = records.iter().map(column).collect();
            TokenSizes::empirical(values, d.max).map_err(|e| loc.error(&key, e, "point at a trace with rows"))
        }
        _ => Err(loc.error(
            key,
            "expected one of `fixed` (>= 1), both `median` and `p99`, `mean`, or `empirical`",
            "e.g. { median = 1000, p99 = 8000, max = 32768 }, { fixed = 512 }, { mean = 200 } or \
             { empirical = \"../../shared/data/azure-llm-2023/code.csv\" }",
        )),
    }
}

/// A traffic mix (relative weights of benign, borderline, harmful) at
/// `key`, normalized to sum to 1; absent classes weigh `default`'s.
pub(super) fn traffic_mix(
    loc: &Locator,
    key: &str,
    n: ClassNumbers,
    default: [f64; 3],
) -> Result<[f64; 3], ScenarioError> {
    let mix = class_numbers(loc, key, n, default)?;
    let total: f64 = mix.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return Err(loc.error(
            key,
            "expected weights with a positive total",
            "e.g. { benign = 0.9, borderline = 0.07, harmful = 0.03 }",
        ));
    }
    Ok(mix.map(|w| w / total))
}

pub(super) fn class_numbers(
    loc: &Locator,
    key: &str,
    n: ClassNumbers,
    default: [f64; 3],
) -> Result<[f64; 3], ScenarioError> {
    let mut out = default;
    for (i, (name, v)) in
        [("benign", n.benign), ("borderline", n.borderline), ("harmful", n.harmful)].iter().enumerate()
    {
        if let Some(v) = v {
            if !(v.is_finite() && *v >= 0.0) {
                return Err(loc.error(
                    &format!("{key}.{name}"),
                    format!("expected a number >= 0, got {v}"),
                    "each class's value is a plain non-negative number, e.g. 0.5",
                ));
            }
            out[i] = *v;
        }
    }
    Ok(out)
}
