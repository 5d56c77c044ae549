//! Tenants: who sends requests to a multi-tenant front door, each with its
//! own arrival process, request sizes, priority class, weight, limits and
//! SLOs.
//!
//! Determinism: tenant `i` draws from its own named streams
//! (`tenant/<name>/arrivals`, `.../prompt-tokens`, `.../output-tokens`), so
//! adding a tenant or changing one's sizes never shifts another's draws, and
//! no stream of a scenario without tenants changes. The streams are merged
//! in time order, ties to the lower tenant index: O(tenants) per arrival,
//! one pending arrival per tenant in memory.

use super::arrivals::{ArrivalSpec, ArrivalStream};
use super::tokens::TokenSizes;
use crate::core::gateway::{Class, Limits};
use crate::engine::RngStreams;
use crate::time::{SimDuration, SimTime};
use rand_chacha::ChaCha8Rng;

/// Per-request latency targets of a tenant (client view: from the first
/// attempt).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TenantSlo {
    pub ttft: Option<SimDuration>,
    pub e2e: Option<SimDuration>,
}

impl TenantSlo {
    /// Whether a completion with these latencies meets every target set.
    pub fn met(&self, ttft: SimDuration, e2e: SimDuration) -> bool {
        self.ttft.is_none_or(|t| ttft <= t) && self.e2e.is_none_or(|t| e2e <= t)
    }
}

/// A validated tenant.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub name: String,
    pub tier: String,
    pub class: Class,
    pub weight: f64,
    /// Its own arrivals and sizes; None in a fleet, whose populations send
    /// the tenant's requests.
    pub demand: Option<TenantDemand>,
    pub slo: TenantSlo,
    pub deadline: Option<SimDuration>,
    pub limits: Limits,
    pub max_concurrency: Option<u32>,
    /// Its safety traffic mix (benign, borderline, harmful; sums to 1), in
    /// place of the scenario's, when a safety pipeline runs.
    pub safety_mix: Option<[f64; 3]>,
}

/// What a tenant sends on its own: its arrival process and request sizes.
#[derive(Debug, Clone)]
pub struct TenantDemand {
    pub arrivals: ArrivalSpec,
    pub prompt_tokens: TokenSizes,
    pub output_tokens: TokenSizes,
}

/// One arrival of the merged stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantArrival {
    pub at: SimTime,
    pub tenant: u32,
    pub prompt_tokens: u32,
    pub output_tokens: u32,
}

struct Source {
    stream: ArrivalStream,
    next: Option<SimTime>,
    prompt: ChaCha8Rng,
    output: ChaCha8Rng,
}

/// All tenants' arrivals in time order, until `stop`.
pub struct TenantArrivals {
    /// Per tenant with a demand of its own: its index and its source.
    sources: Vec<(u32, Source)>,
    sizes: Vec<(TokenSizes, TokenSizes)>,
    stop: Option<SimTime>,
}

impl TenantArrivals {
    pub fn new(tenants: &[Tenant], streams: &RngStreams, stop: Option<SimTime>) -> Self {
        let own = || tenants.iter().enumerate().filter_map(|(i, t)| t.demand.as_ref().map(|d| (i as u32, t, d)));
        let sources = own()
            .map(|(i, t, d)| {
                let name = |what: &str| format!("tenant/{}/{what}", t.name);
                let mut stream = ArrivalStream::new(d.arrivals.clone(), streams.stream(&name("arrivals")));
                let next = stream.next().map(|a| a.at);
                let source = Source {
                    stream,
                    next,
                    prompt: streams.stream(&name("prompt-tokens")),
                    output: streams.stream(&name("output-tokens")),
                };
                (i, source)
            })
            .collect();
        let sizes = own().map(|(_, _, d)| (d.prompt_tokens.clone(), d.output_tokens.clone())).collect();
        TenantArrivals { sources, sizes, stop }
    }
}

impl Iterator for TenantArrivals {
    type Item = TenantArrival;

    fn next(&mut self) -> Option<TenantArrival> {
        let (i, at) = self
            .sources
            .iter()
            .enumerate()
            .filter_map(|(i, (_, s))| s.next.map(|at| (i, at)))
            .min_by_key(|&(i, at)| (at, i))?;
        if self.stop.is_some_and(|stop| at >= stop) {
            return None;
        }
        let (tenant, s) = &mut self.sources[i];
        s.next = s.stream.next().map(|a| a.at);
        let (prompt, output) = &self.sizes[i];
        Some(TenantArrival {
            at,
            tenant: *tenant,
            prompt_tokens: prompt.sample(&mut s.prompt),
            output_tokens: output.sample(&mut s.output),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::dist::Dist;
    use crate::workload::RateSchedule;

    fn tenant(name: &str, rate: f64) -> Tenant {
        Tenant {
            name: name.into(),
            tier: "free".into(),
            class: Class::Streaming,
            weight: 1.0,
            demand: Some(TenantDemand {
                arrivals: ArrivalSpec::Renewal {
                    gap: Dist::Exponential { mean: 1.0 },
                    rate: RateSchedule::new(rate, &[]),
                },
                prompt_tokens: TokenSizes::Fixed(10),
                output_tokens: TokenSizes::lognormal(100.0, 400.0, None).expect("valid"),
            }),
            slo: TenantSlo::default(),
            deadline: None,
            limits: Limits::default(),
            max_concurrency: None,
            safety_mix: None,
        }
    }

    #[test]
    fn merged_streams_are_ordered_and_a_new_tenant_leaves_the_others_alone() {
        let streams = RngStreams::new(5);
        let stop = SimTime::ZERO + SimDuration::from_secs(100);
        let one: Vec<_> = TenantArrivals::new(&[tenant("a", 3.0)], &streams, Some(stop)).collect();
        let two: Vec<_> = TenantArrivals::new(&[tenant("a", 3.0), tenant("b", 5.0)], &streams, Some(stop)).collect();
        assert!(two.windows(2).all(|w| w[0].at <= w[1].at));
        let a_again: Vec<_> = two.iter().filter(|a| a.tenant == 0).copied().collect();
        assert_eq!(one, a_again, "tenant a's arrivals and sizes do not depend on tenant b");
        let b = two.len() - a_again.len();
        assert!((b as f64 - 500.0).abs() < 4.0 * 500f64.sqrt(), "{b}");
        assert!(two.iter().all(|a| a.at < stop));
    }
}
