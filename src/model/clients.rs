//! Clients of the front door, as modeled by the sim driver: what callers do
//! when a request is slow or refused. This is the half of a metastable
//! failure the server does not control: retries multiply offered load
//! exactly when capacity is short.
//!
//! A client per tenant has a timeout per attempt (on expiry it gives up and
//! cancels the attempt, so the server frees its queue slot, batch slot and
//! KV blocks), retries with exponential backoff and full jitter (a uniform
//! draw in [0, min(cap, base·2^(k−1))] before retry k, from the stream
//! `clients/backoff`), optionally honours Retry-After (waits at least that
//! long), a retry budget (retries at most `ratio` × first attempts, both
//! counted with exponential decay over 10 s, like Finagle's budget) and a
//! circuit breaker per tenant: closed; open after `failures` consecutive
//! failed attempts, refusing locally for `open_for`; then half-open, letting
//! one probe through (success closes it, failure re-opens it).

use crate::core::gateway::DecayedRate;
use crate::time::{SimDuration, SimTime};
use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerPolicy {
    pub failures: u32,
    pub open_for: SimDuration,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientPolicy {
    pub timeout: Option<SimDuration>,
    /// First attempt included (1 = never retry).
    pub max_attempts: u32,
    pub backoff: SimDuration,
    pub backoff_cap: SimDuration,
    pub honour_retry_after: bool,
    pub retry_budget: Option<f64>,
    pub breaker: Option<BreakerPolicy>,
    /// Retries carry the first attempt's idempotency key: a result that
    /// completed after the client gave up is answered from a result cache.
    pub idempotency: bool,
}

impl ClientPolicy {
    /// Full-jitter backoff before retry `k` (k >= 1).
    pub fn backoff<R: Rng + ?Sized>(&self, k: u32, rng: &mut R) -> SimDuration {
        let ceiling = self.backoff.0.saturating_mul(1u64 << (k.saturating_sub(1)).min(40)).min(self.backoff_cap.0);
        SimDuration(if ceiling == 0 { 0 } else { rng.random_range(0..=ceiling) })
    }
}

/// Circuit-breaker state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open { until: SimTime },
    HalfOpen { probing: bool },
}

impl BreakerState {
    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open { .. } => "open",
            BreakerState::HalfOpen { .. } => "half-open",
        }
    }
}

/// One tenant's client-side state: breaker and retry budget.
#[derive(Debug, Clone)]
pub struct Client {
    policy: ClientPolicy,
    state: BreakerState,
    consecutive_failures: u32,
    firsts: DecayedRate,
    retries: DecayedRate,
    /// Breaker state changes `(when, new state)`, in time order.
    pub changes: Vec<(SimTime, BreakerState)>,
}

impl Client {
    pub fn new(policy: ClientPolicy) -> Client {
        let window = SimDuration::from_secs(10);
        Client {
            policy,
            state: BreakerState::Closed,
            consecutive_failures: 0,
            firsts: DecayedRate::new(window),
            retries: DecayedRate::new(window),
            changes: Vec::new(),
        }
    }

    pub fn policy(&self) -> &ClientPolicy {
        &self.policy
    }

    fn set(&mut self, now: SimTime, state: BreakerState) {
        self.state = state;
        self.changes.push((now, state));
    }

    /// Whether the breaker lets an attempt through now.
    pub fn allow(&mut self, now: SimTime) -> bool {
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open { until } if now >= until => {
                self.set(now, BreakerState::HalfOpen { probing: true });
                true
            }
            BreakerState::Open { .. } | BreakerState::HalfOpen { probing: true } => false,
            BreakerState::HalfOpen { probing: false } => {
                self.state = BreakerState::HalfOpen { probing: true };
                true
            }
        }
    }

    /// An attempt's result, for the breaker.
    pub fn record(&mut self, now: SimTime, success: bool) {
        let Some(b) = self.policy.breaker else { return };
        if success {
            self.consecutive_failures = 0;
            if self.state != BreakerState::Closed {
                self.set(now, BreakerState::Closed);
            }
            return;
        }
        self.consecutive_failures += 1;
        let trips = match self.state {
            BreakerState::Closed => self.consecutive_failures >= b.failures,
            BreakerState::HalfOpen { .. } => true,
            BreakerState::Open { .. } => false,
        };
        if trips {
            self.set(now, BreakerState::Open { until: now + b.open_for });
        }
    }

    /// Counts an attempt that is sent (a first attempt or a retry).
    pub fn sent(&mut self, now: SimTime, retry: bool) {
        if retry {
            self.retries.add(now, 1.0);
        } else {
            self.firsts.add(now, 1.0);
        }
    }

    /// Whether the retry budget allows one more retry now.
    pub fn budget_allows(&self, now: SimTime) -> bool {
        self.policy.retry_budget.is_none_or(|ratio| self.retries.rate(now) < ratio * self.firsts.rate(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn policy() -> ClientPolicy {
        ClientPolicy {
            timeout: None,
            max_attempts: 5,
            backoff: SimDuration::from_millis(100),
            backoff_cap: SimDuration::from_millis(1000),
            honour_retry_after: true,
            retry_budget: Some(0.1),
            breaker: Some(BreakerPolicy { failures: 3, open_for: SimDuration::from_secs(5) }),
            idempotency: true,
        }
    }

    #[test]
    fn breaker_opens_half_opens_and_closes() {
        let mut c = Client::new(policy());
        let t = |s| SimTime::ZERO + SimDuration::from_secs(s);
        for _ in 0..3 {
            assert!(c.allow(t(0)));
            c.record(t(0), false);
        }
        assert!(!c.allow(t(4)), "open for 5 s");
        assert!(c.allow(t(5)), "one probe when half-open");
        assert!(!c.allow(t(5)), "only one");
        c.record(t(6), false);
        assert!(!c.allow(t(10)), "the failed probe re-opened it");
        assert!(c.allow(t(11)));
        c.record(t(11), true);
        assert!(c.allow(t(11)) && c.allow(t(11)), "closed");
        let names: Vec<&str> = c.changes.iter().map(|(_, s)| s.name()).collect();
        assert_eq!(names, ["open", "half-open", "open", "half-open", "closed"]);
    }

    #[test]
    fn full_jitter_backoff_stays_under_the_exponential_ceiling() {
        let p = policy();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for k in 1..8u32 {
            let ceiling = (100u64 << (k - 1)).min(1000) * 1_000_000;
            let draws: Vec<u64> = (0..2000).map(|_| p.backoff(k, &mut rng).0).collect();
            assert!(draws.iter().all(|&d| d <= ceiling));
            let mean = draws.iter().sum::<u64>() as f64 / 2000.0;
            assert!((mean / ceiling as f64 - 0.5).abs() < 0.05, "k {k}: uniform mean {mean}");
        }
    }

    #[test]
    fn the_retry_budget_caps_retries_at_a_fraction_of_first_attempts() {
        let mut c = Client::new(policy());
        let (mut firsts, mut retries) = (0, 0);
        for ms in 0..60_000u64 {
            let now = SimTime(ms * 1_000_000);
            c.sent(now, false);
            firsts += 1;
            // Every request fails and wants a retry.
            if c.budget_allows(now) {
                c.sent(now, true);
                retries += 1;
            }
        }
        let ratio = f64::from(retries) / f64::from(firsts);
        assert!(ratio <= 0.1 + 1e-3 && ratio > 0.09, "{ratio}");
    }
}
