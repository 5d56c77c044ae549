//! The simulator against queueing theory. Each expected value is derived
//! here from its textbook formula (written out independently of
//! `servesim::plan::theory`), and compared with independent replications:
//! the formula must lie inside the simulated 99% Student-t interval. Seeds
//! are fixed, so the outcome is reproducible; a failure prints the seed.
//!
//! Run with `cargo test --release` (the README's test command): about 12M
//! simulated requests, a few seconds optimized, minutes unoptimized.

use servesim::metrics::Summary;
use servesim::plan::replicate::{estimate, replications};
use servesim::scenario::{self, Scenario};
use std::path::PathBuf;

fn scenario(file: &str, sets: &[&str]) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/validation").join(file);
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    scenario::load(&path, &sets).unwrap_or_else(|e| panic!("{e}"))
}

/// Independent replications of `s` (`[validation]` sets their size).
fn replicate(s: &Scenario) -> Vec<Summary> {
    let runs = replications(s);
    for r in &runs {
        assert!(
            r.littles_law.holds && r.invariants.all_hold,
            "{}: invariants/Little's law fail, seed {}",
            s.name,
            r.seed
        );
    }
    runs
}

fn assert_agrees(s: &Scenario, runs: &[Summary], what: &str, theory: f64, metric: fn(&Summary) -> f64) {
    let values: Vec<f64> = runs.iter().map(metric).collect();
    let e = estimate(&values);
    assert!(
        (e.mean - theory).abs() <= e.half_width_99,
        "{} {what}: theory {theory:.6} outside simulated {:.6} ± {:.6} (99%), seed {}",
        s.name,
        e.mean,
        e.half_width_99,
        s.seed
    );
}

fn wait(s: &Summary) -> f64 {
    s.latency.queue_wait.mean_s
}
fn sojourn(s: &Summary) -> f64 {
    s.latency.end_to_end.mean_s
}
fn p_wait(s: &Summary) -> f64 {
    s.latency.waited_fraction
}
fn batch(s: &Summary) -> f64 {
    s.batching.mean_size
}

#[test]
fn mm1_matches_formulas_also_after_set() {
    for (rate, sets) in [(70.0, vec![]), (50.0, vec!["workload.rate_per_s=50"])] {
        let s = scenario("mm1.toml", &sets);
        let (lambda, mu) = (rate, 100.0);
        let rho = lambda / mu;
        let runs = replicate(&s);
        assert_agrees(&s, &runs, "P(wait)", rho, p_wait);
        assert_agrees(&s, &runs, "Wq", rho / (mu - lambda), wait);
        assert_agrees(&s, &runs, "W", 1.0 / (mu - lambda), sojourn);
    }
}

#[test]
fn mmc_matches_erlang_c() {
    let s = scenario("mmc.toml", &[]);
    let (lambda, mu, c) = (320.0, 100.0, 4);
    let a: f64 = lambda / mu;
    let fact = |k: i32| (1..=k).map(f64::from).product::<f64>();
    let tail = a.powi(c) / fact(c) * f64::from(c) / (f64::from(c) - a);
    let erlang_c = tail / ((0..c).map(|k| a.powi(k) / fact(k)).sum::<f64>() + tail);
    let wq = erlang_c / (f64::from(c) * mu - lambda);
    let runs = replicate(&s);
    assert_agrees(&s, &runs, "P(wait)", erlang_c, p_wait);
    assert_agrees(&s, &runs, "Wq", wq, wait);
    assert_agrees(&s, &runs, "W", wq + 1.0 / mu, sojourn);
}

/// Pollaczek-Khinchine: Wq = ρ E[S] (1 + SCV) / (2 (1 − ρ)).
fn pk(lambda: f64, mean_s: f64, scv: f64) -> f64 {
    let rho = lambda * mean_s;
    rho * mean_s * (1.0 + scv) / (2.0 * (1.0 - rho))
}

#[test]
fn md1_and_mg1_match_pollaczek_khinchine() {
    for (file, lambda, scv) in [("md1.toml", 70.0, 0.0), ("mg1-scv0.5.toml", 70.0, 0.5), ("mg1-scv4.toml", 60.0, 4.0)] {
        let s = scenario(file, &[]);
        let runs = replicate(&s);
        assert_agrees(&s, &runs, "P(wait)", lambda * 0.01, p_wait);
        assert_agrees(&s, &runs, "Wq", pk(lambda, 0.01, scv), wait);
        assert_agrees(&s, &runs, "W", pk(lambda, 0.01, scv) + 0.01, sojourn);
    }
}

#[test]
fn processor_sharing_is_insensitive() {
    let expected = 0.01 / (1.0 - 0.7);
    let mut means = Vec::new();
    for file in ["ps-deterministic.toml", "ps-hyperexp.toml"] {
        let s = scenario(file, &[]);
        let runs = replicate(&s);
        assert_agrees(&s, &runs, "W", expected, sojourn);
        means.push(runs.iter().map(sojourn).sum::<f64>() / runs.len() as f64);
    }
    // Same mean sojourn although service SCV is 0 in one and 4 in the other.
    assert!((means[0] - means[1]).abs() / expected < 0.03, "{means:?}");
}

#[test]
fn bulk_service_matches_gross_harris() {
    let s = scenario("bulk-service.toml", &[]);
    let (lambda, mu, b) = (150.0, 25.0, 8);
    // Root in (0,1) of μ r^(b+1) − (λ+μ) r + λ, by bisection.
    let f = |r: f64| mu * r.powi(b + 1) - (lambda + mu) * r + lambda;
    let (mut lo, mut hi) = (0.0f64, 0.999_999);
    while hi - lo > 1e-14 {
        let mid = (lo + hi) / 2.0;
        if f(mid) > 0.0 {
            lo = mid
        } else {
            hi = mid
        }
    }
    let r = lo;
    // P(idle) = μC/λ, P(busy, q waiting) = C r^q.
    let c = 1.0 / (mu / lambda + 1.0 / (1.0 - r));
    let lq = c * r / (1.0 - r).powi(2);
    let p_busy = 1.0 - mu * c / lambda;
    let runs = replicate(&s);
    assert_agrees(&s, &runs, "Wq", lq / lambda, wait);
    assert_agrees(&s, &runs, "W", lq / lambda + 1.0 / mu, sojourn);
    assert_agrees(&s, &runs, "mean batch", lambda / (mu * p_busy), batch);
}

#[test]
fn static_batcher_with_timeout_matches_formula() {
    for (t, sets) in [(0.05, vec![]), (0.2, vec!["batching.max_wait=200ms"])] {
        let s = scenario("batcher-timeout.toml", &sets);
        let (lambda, n) = (100.0, 8u32);
        // P(X >= j) for X ~ Poisson(λT), by summing the pmf.
        let m: f64 = lambda * t;
        let pmf = |k: u32| (-m).exp() * (1..=k).fold(1.0, |p, i| p * m / f64::from(i));
        let at_least = |j: u32| 1.0 - (0..j).map(pmf).sum::<f64>();
        let e_batch = 1.0 + (1..n).map(at_least).sum::<f64>();
        let e_wait_sum = (1..n).map(|j| f64::from(j) * at_least(j)).sum::<f64>() / lambda;
        let runs = replicate(&s);
        assert_agrees(&s, &runs, "mean wait", e_wait_sum / e_batch, wait);
        assert_agrees(&s, &runs, "mean batch", e_batch, batch);
    }
}
