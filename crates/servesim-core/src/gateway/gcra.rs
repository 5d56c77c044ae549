//! Rate limits as GCRA (the Generic Cell Rate Algorithm, ITU-T I.371), the
//! exact, O(1)-state form of a token bucket.
//!
//! Why GCRA and not a refilled token counter: one timestamp (the theoretical
//! arrival time, TAT) per limit, integer nanoseconds, no refill loop and no
//! float drift; and the earliest conforming time falls out of the same
//! comparison, so a rejection carries an *exact* Retry-After.
//!
//! Virtual scheduling, for a request of `n` units (1 per request, or its
//! tokens): with emission interval `T` (ns per unit) and tolerance `tau`,
//! the request is non-conforming iff `t < TAT + (n − 1)·T − tau`; if it
//! conforms, `TAT = max(t, TAT) + n·T`. For `n = 1` this is the I.371
//! definition verbatim (non-conforming iff `t < TAT − tau`). A rate `r` per
//! second with burst `b` gives `T = round(1e9 / r)` ns and
//! `tau = round((b − 1)·T)`, so back-to-back arrivals conform for exactly
//! `1 + floor(tau / T)` requests. A check does not change state; `commit`
//! does, so several limits can be checked together and charged only when
//! all conform.

use crate::time::{SimDuration, SimTime};

/// One GCRA limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Emission interval: ns per unit.
    t_ns: u64,
    /// Tolerance, ns.
    tau_ns: u64,
    /// Theoretical arrival time.
    tat: SimTime,
}

/// A check's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Conforms,
    /// Conforms no earlier than this long from now (the exact Retry-After).
    RetryAfter(SimDuration),
    /// Never conforms: `n` units exceed the burst.
    Never,
}

impl Gcra {
    /// `rate_per_s` > 0 units per second, `burst` >= 1 units (validated by
    /// the scenario loader).
    pub fn new(rate_per_s: f64, burst: f64) -> Gcra {
        let t_ns = (1e9 / rate_per_s).round().max(1.0) as u64;
        Gcra::from_interval(t_ns, ((burst - 1.0) * t_ns as f64).round().max(0.0) as u64)
    }

    /// Emission interval `t_ns` >= 1 and tolerance `tau_ns`, as in I.371.
    pub fn from_interval(t_ns: u64, tau_ns: u64) -> Gcra {
        Gcra { t_ns: t_ns.max(1), tau_ns, tat: SimTime::ZERO }
    }

    /// Whether `n` units conform at `now` (state unchanged).
    pub fn check(&self, now: SimTime, n: u64) -> Verdict {
        let extra = n.saturating_sub(1).saturating_mul(self.t_ns);
        if extra > self.tau_ns {
            return Verdict::Never;
        }
        // Earliest conforming time: TAT + (n − 1)·T − tau (never before now).
        let earliest = self.tat.0.saturating_add(extra).saturating_sub(self.tau_ns);
        if now.0 >= earliest {
            Verdict::Conforms
        } else {
            Verdict::RetryAfter(SimDuration(earliest - now.0))
        }
    }

    /// Charges `n` conforming units at `now`: TAT = max(now, TAT) + n·T.
    pub fn commit(&mut self, now: SimTime, n: u64) {
        self.tat = SimTime(self.tat.0.max(now.0).saturating_add(n.saturating_mul(self.t_ns)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// ITU-T I.371 virtual scheduling, written from the standard: a cell at
    /// `t` is non-conforming iff t < TAT − tau; else TAT = max(t, TAT) + T.
    struct Reference {
        t: u64,
        tau: u64,
        tat: u64,
    }

    impl Reference {
        fn arrive(&mut self, t: u64) -> bool {
            if (t as i128) < self.tat as i128 - self.tau as i128 {
                return false;
            }
            self.tat = t.max(self.tat) + self.t;
            true
        }
    }

    #[test]
    fn verdicts_match_the_i371_virtual_scheduling_definition_on_random_traces() {
        let mut rng = ChaCha8Rng::seed_from_u64(371);
        for trace in 0..500 {
            let t = rng.random_range(1..5_000u64);
            let tau = rng.random_range(0..40_000u64);
            let (mut gcra, mut reference) = (Gcra::from_interval(t, tau), Reference { t, tau, tat: 0 });
            let mut now = 0u64;
            for _ in 0..400 {
                // Mix back-to-back bursts, short and long gaps.
                now += match rng.random_range(0..4) {
                    0 => 0,
                    1 => rng.random_range(0..t),
                    2 => rng.random_range(0..3 * t),
                    _ => rng.random_range(0..tau + 10 * t),
                };
                let expected = reference.arrive(now);
                let verdict = gcra.check(SimTime(now), 1);
                assert_eq!(verdict == Verdict::Conforms, expected, "trace {trace} at {now}");
                match verdict {
                    Verdict::Conforms => gcra.commit(SimTime(now), 1),
                    Verdict::RetryAfter(wait) => {
                        // Exact: conforms at now + wait, not one ns earlier.
                        assert_eq!(gcra.check(SimTime(now + wait.0), 1), Verdict::Conforms);
                        assert!(matches!(gcra.check(SimTime(now + wait.0 - 1), 1), Verdict::RetryAfter(_)));
                        let mut probe = Reference { t, tau, tat: reference.tat };
                        assert!(probe.arrive(now + wait.0), "the reference agrees at Retry-After");
                        let mut early = Reference { t, tau, tat: reference.tat };
                        assert!(!early.arrive(now + wait.0 - 1), "and not a nanosecond earlier");
                    }
                    Verdict::Never => panic!("one unit always conforms eventually"),
                }
            }
        }
    }

    #[test]
    fn back_to_back_burst_is_one_plus_floor_tau_over_t() {
        for (t, tau) in [(100, 0), (100, 99), (100, 100), (100, 250), (7, 1000), (1_000_000, 4_999_999)] {
            let mut g = Gcra::from_interval(t, tau);
            let mut burst = 0;
            while g.check(SimTime(5), 1) == Verdict::Conforms {
                g.commit(SimTime(5), 1);
                burst += 1;
            }
            assert_eq!(burst, 1 + tau / t, "T = {t}, tau = {tau}");
        }
        // rate 10/s, burst 5: five back-to-back, the sixth 100 ms later.
        let mut g = Gcra::new(10.0, 5.0);
        for _ in 0..5 {
            assert_eq!(g.check(SimTime::ZERO, 1), Verdict::Conforms);
            g.commit(SimTime::ZERO, 1);
        }
        assert_eq!(g.check(SimTime::ZERO, 1), Verdict::RetryAfter(SimDuration::from_millis(100)));
    }

    #[test]
    fn token_costs_charge_n_units_and_oversized_requests_never_conform() {
        // 1000 tokens/s, burst 2000 tokens.
        let mut g = Gcra::new(1000.0, 2000.0);
        assert_eq!(g.check(SimTime::ZERO, 1500), Verdict::Conforms);
        g.commit(SimTime::ZERO, 1500);
        // 1500 more need TAT + 1499 ms − 1999 ms = 1 s.
        assert_eq!(g.check(SimTime::ZERO, 1500), Verdict::RetryAfter(SimDuration::from_secs(1)));
        assert_eq!(g.check(SimTime::ZERO, 2001), Verdict::Never);
        // n units equal n single-unit commits.
        let (mut a, mut b) = (Gcra::from_interval(3, 20), Gcra::from_interval(3, 20));
        a.commit(SimTime(4), 5);
        for _ in 0..5 {
            b.commit(SimTime(4), 1);
        }
        assert_eq!(a, b);
    }
}
