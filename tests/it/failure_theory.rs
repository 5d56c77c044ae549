//! The stochastic failure model against the theory it must reproduce,
//! derived here: independent exponential failures and repairs make a
//! component up a fraction A = MTBF / (MTBF + MTTR) of the time; a TP-k
//! replica needs all k GPUs (and every enclosing domain), so it is up a
//! fraction A^k (times each domain's availability); and replicas on
//! disjoint GPUs are independent, so the number up at an instant is
//! Binomial(n, A^k).
//!
//! Tolerances come from the central limit theorem, at five standard
//! errors, with fixed seeds: a time average over T of a two-state process
//! whose correlation decays as exp(-t / tau) has variance about
//! 2 p (1 - p) tau / T, and tau is at most a GPU's 1 / (1/MTBF + 1/MTTR).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use servesim::model::failure::{FailureModel, Interval, PoolFailures, Reliability};
use servesim::time::{SimDuration, SimTime};

const MTBF_S: u64 = 1_000;
const MTTR_S: u64 = 50;
const HORIZON_S: u64 = 2_000_000;

fn gpu() -> Reliability {
    Reliability { mtbf: SimDuration::from_secs(MTBF_S), mttr: SimDuration::from_secs(MTTR_S) }
}

/// GPUs alone fail; nodes, racks and zones never do.
fn gpus_only() -> FailureModel {
    FailureModel {
        gpu: gpu(),
        gpus_per_node: 8,
        nodes_per_rack: 4,
        racks_per_zone: 4,
        node: None,
        rack: None,
        zone: None,
    }
}

fn generate(model: &FailureModel, replicas: u32, tp: u32, seed: u64) -> PoolFailures {
    model.generate(replicas, tp, SimDuration::from_secs(HORIZON_S), &mut ChaCha8Rng::seed_from_u64(seed))
}

/// The fraction of replica-time the replicas were up.
fn up_fraction(f: &PoolFailures) -> f64 {
    let down: f64 = f.replicas.iter().flatten().map(|i| i.len().as_secs_f64()).sum();
    1.0 - down / (f.replicas.len() as f64 * HORIZON_S as f64)
}

/// Five standard errors of the mean up fraction of `n` replicas up a
/// fraction `p` of the time.
fn tolerance(p: f64, n: u32) -> f64 {
    let tau = 1.0 / (1.0 / MTBF_S as f64 + 1.0 / MTTR_S as f64);
    5.0 * (2.0 * p * (1.0 - p) * tau / (HORIZON_S as f64 * f64::from(n))).sqrt()
}

fn is_down(down: &[Interval], t: SimTime) -> bool {
    let i = down.partition_point(|d| d.to <= t);
    down.get(i).is_some_and(|d| d.contains(t))
}

#[test]
fn a_tp_k_replica_is_up_a_to_the_k_of_the_time() {
    let a = gpu().availability();
    for (tp, seed) in [(1, 11), (2, 12), (4, 13), (8, 14)] {
        let n = 64 / tp;
        let expected = a.powi(tp as i32);
        let got = up_fraction(&generate(&gpus_only(), n, tp, seed));
        let tol = tolerance(expected, n);
        assert!((got - expected).abs() < tol, "tp {tp}: up {got:.5}, theory {expected:.5} +- {tol:.5}");
    }
}

#[test]
fn a_node_failure_multiplies_in_the_node_s_availability() {
    let node = Reliability { mtbf: SimDuration::from_secs(5_000), mttr: SimDuration::from_secs(200) };
    let model = FailureModel { node: Some(node), ..gpus_only() };
    // TP-8 on 8-GPU nodes: each replica sits on exactly one node.
    let expected = gpu().availability().powi(8) * node.availability();
    let got = up_fraction(&generate(&model, 16, 8, 21));
    // The node's repairs are slower than a GPU's: its correlation time bounds the error.
    let tau = 1.0 / (1.0 / 5_000.0 + 1.0 / 200.0);
    let tol = 5.0 * (2.0 * expected * (1.0 - expected) * tau / (HORIZON_S as f64 * 16.0)).sqrt();
    assert!((got - expected).abs() < tol, "up {got:.5}, theory {expected:.5} +- {tol:.5}");
}

#[test]
fn the_number_of_replicas_up_at_an_instant_is_binomial() {
    let (n, tp) = (50u32, 4u32);
    let p = gpu().availability().powi(tp as i32);
    let f = generate(&gpus_only(), n, tp, 31);
    // Instants 20 correlation times apart are independent draws.
    let spacing = 1_000u64;
    let counts: Vec<f64> = (1..HORIZON_S / spacing)
        .map(|j| {
            let t = SimTime::ZERO + SimDuration::from_secs(j * spacing);
            f.replicas.iter().filter(|down| !is_down(down, t)).count() as f64
        })
        .collect();
    let m = counts.len() as f64;
    let mean = counts.iter().sum::<f64>() / m;
    let var = counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (m - 1.0);
    let (theory_mean, theory_var) = (f64::from(n) * p, f64::from(n) * p * (1.0 - p));
    // Standard errors: of a mean, sqrt(var / m); of a sample variance, var * sqrt(2 / (m - 1)) (near-normal counts).
    let mean_tol = 5.0 * (theory_var / m).sqrt();
    let var_tol = 5.0 * theory_var * (2.0 / (m - 1.0)).sqrt();
    assert!((mean - theory_mean).abs() < mean_tol, "mean {mean:.3}, theory {theory_mean:.3} +- {mean_tol:.3}");
    assert!((var - theory_var).abs() < var_tol, "variance {var:.3}, theory {theory_var:.3} +- {var_tol:.3}");
}

#[test]
fn one_seed_gives_one_failure_history() {
    assert_eq!(generate(&gpus_only(), 8, 2, 5), generate(&gpus_only(), 8, 2, 5));
    assert_ne!(generate(&gpus_only(), 8, 2, 5), generate(&gpus_only(), 8, 2, 6));
}
