//! Admission control: say no early and honestly, before a request waits.
//!
//! Why these signals: a queue-depth cap bounds memory and worst-case wait;
//! the predicted wait catches the case where the queue is short but drains
//! slowly (Little's law: a request with `n` requests ahead, drained at `X`
//! per second, waits about `n / X`), which is what decides whether it can
//! start before its deadline; KV-cache pressure catches a pool about to
//! preempt or thrash. The drain rate is measured, not assumed: an
//! exponentially decayed count of dispatches (time constant `window`), so
//! it follows a pool that slows down (lost replicas, longer requests).
//!
//! Shedding by tier: with `n` tiers ranked in shedding order (rank 0 shed
//! first), pressure `p` = max(queue depth / max_queue, KV pressure) sheds
//! rank `r` once `p >= (r + 1) / n`: the free tier goes first and the top
//! tier only when the queue is full.

use crate::time::{SimDuration, SimTime};

/// An exponentially decayed event rate (events per second), O(1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecayedRate {
    tau_s: f64,
    mass: f64,
    at: SimTime,
}

impl DecayedRate {
    /// `window` > 0: the time constant.
    pub fn new(window: SimDuration) -> DecayedRate {
        DecayedRate { tau_s: window.as_secs_f64().max(1e-9), mass: 0.0, at: SimTime::ZERO }
    }

    fn decay(&self, now: SimTime) -> f64 {
        self.mass * (-now.since(self.at).as_secs_f64() / self.tau_s).exp()
    }

    /// Counts `n` events at `now` (calls in time order).
    pub fn add(&mut self, now: SimTime, n: f64) {
        self.mass = self.decay(now) + n;
        self.at = now;
    }

    /// Events per second around `now`.
    pub fn rate(&self, now: SimTime) -> f64 {
        self.decay(now) / self.tau_s
    }
}

/// Admission settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdmissionConfig {
    /// Most requests held in the gateway; beyond it arrivals are rejected.
    pub max_queue: Option<u64>,
    /// Reject a request whose predicted wait exceeds its deadline.
    pub predicted_wait: bool,
    /// KV use (fraction of blocks) from which pressure rises to 1 at full.
    pub kv_high: Option<f64>,
    /// Time constant of the measured drain rate.
    pub drain_window: SimDuration,
    /// Number of tiers in the shedding order.
    pub tiers: u32,
}

impl AdmissionConfig {
    /// Everything admitted: no caps, no prediction, no shedding.
    pub fn open() -> AdmissionConfig {
        AdmissionConfig {
            max_queue: None,
            predicted_wait: false,
            kv_high: None,
            drain_window: SimDuration::from_secs(10),
            tiers: 1,
        }
    }

    /// Pressure in [0, 1]: the larger of queue fill and KV pressure.
    pub fn pressure(&self, queued: u64, kv_used_fraction: f64) -> f64 {
        let queue = self.max_queue.map_or(0.0, |m| queued as f64 / m.max(1) as f64);
        let kv = self.kv_high.map_or(0.0, |h| ((kv_used_fraction - h) / (1.0 - h).max(1e-9)).clamp(0.0, 1.0));
        queue.max(kv).min(1.0)
    }

    /// Whether tier rank `rank` (0 = shed first) is shed at `pressure`.
    pub fn sheds(&self, rank: u32, pressure: f64) -> bool {
        let n = f64::from(self.tiers.max(1));
        pressure > 0.0 && pressure >= f64::from(rank + 1) / n
    }
}

/// Little's law: the wait of a request with `ahead` requests in front,
/// drained at `rate` per second (None while nothing has drained yet).
pub fn predicted_wait(ahead: u64, rate_per_s: f64) -> Option<SimDuration> {
    (rate_per_s > 0.0).then(|| SimDuration::from_secs_f64((ahead + 1) as f64 / rate_per_s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decayed_rate_tracks_a_steady_rate() {
        let mut r = DecayedRate::new(SimDuration::from_secs(5));
        for i in 0..10_000u64 {
            r.add(SimTime(i * 10_000_000), 1.0); // 100 per second
        }
        let rate = r.rate(SimTime(10_000 * 10_000_000));
        assert!((rate - 100.0).abs() < 2.0, "{rate}");
        // It decays when nothing drains.
        assert!(r.rate(SimTime(10_000 * 10_000_000 + 20_000_000_000)) < 2.0);
    }

    #[test]
    fn free_tier_is_shed_first_and_the_top_tier_only_when_full() {
        let a = AdmissionConfig { max_queue: Some(100), tiers: 3, ..AdmissionConfig::open() };
        let p = |q| a.pressure(q, 0.0);
        assert!(!a.sheds(0, p(30)) && a.sheds(0, p(34)));
        assert!(!a.sheds(1, p(60)) && a.sheds(1, p(67)));
        assert!(!a.sheds(2, p(99)) && a.sheds(2, p(100)));
        let kv = AdmissionConfig { kv_high: Some(0.9), tiers: 2, ..AdmissionConfig::open() };
        assert!(!kv.sheds(0, kv.pressure(0, 0.9)) && kv.sheds(0, kv.pressure(0, 0.96)));
        assert_eq!(predicted_wait(9, 5.0), Some(SimDuration::from_secs(2)));
        assert_eq!(predicted_wait(9, 0.0), None);
    }
}
