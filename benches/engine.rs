//! Engine and end-to-end simulator throughput (criterion).
//!
//! - `engine/hold/N`: the classic hold model on [`EventQueue`]: N events
//!   pending, each step pops the earliest and schedules one at
//!   `now + increment`, so the queue size stays N. Increments come from a
//!   pre-drawn table of exponential values, so the RNG is not measured.
//!   Throughput: hold steps (one pop + one push) per second.
//! - `engine/mm1`: the M/M/1 validation scenario (100 000 requests) through
//!   the real sim driver. Throughput: events the driver processed per second.
//! - `sim/single-gpu-batching`: the shipped batching scenario end to end.
//!   Throughput: simulated requests per wall-clock second.
//!
//! Numbers are reported, never asserted (DESIGN.md: no timing assertions).
//! Run with `cargo bench --bench engine`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};
use servesim::engine::EventQueue;
use servesim::scenario::{self, Scenario};
use servesim::sim;
use servesim::time::SimTime;
use std::path::Path;
use std::time::Duration;

/// Hold steps per criterion iteration (amortizes the harness's own cost).
const STEPS_PER_ITER: usize = 1024;
/// Size of the pre-drawn increment table (a power of two, so `& MASK` wraps).
const INCREMENTS: usize = 1 << 16;
/// Mean increment, in nanoseconds; the initial times span N times this.
const MEAN_INCREMENT_NS: f64 = 1_000_000.0;

/// Exponential increments (ns), drawn once, outside the measurement.
fn increments(rng: &mut ChaCha8Rng) -> Vec<u64> {
    let exp = Exp::new(1.0 / MEAN_INCREMENT_NS).expect("positive rate");
    (0..INCREMENTS).map(|_| exp.sample(rng).round() as u64).collect()
}

fn hold(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine/hold");
    group.sample_size(30);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(STEPS_PER_ITER as u64));
    for n in [1_000usize, 100_000] {
        let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0000 + n as u64);
        let incs = increments(&mut rng);
        let span = (n as f64 * MEAN_INCREMENT_NS) as u64;
        let mut queue = EventQueue::new();
        for i in 0..n as u64 {
            queue.schedule(SimTime(rng.random_range(0..span)), i);
        }
        let mut next = 0usize;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            // The queue persists across iterations: it holds N events
            // throughout, and its time distribution settles into the
            // hold model's steady state during warm-up.
            b.iter(|| {
                for _ in 0..STEPS_PER_ITER {
                    let (now, event) = queue.pop().expect("the hold model never empties");
                    let at = SimTime(now.0 + incs[next & (INCREMENTS - 1)]);
                    next = next.wrapping_add(1);
                    queue.schedule(at, black_box(event));
                }
            });
        });
        assert_eq!(queue.len(), n, "hold model changed the queue size");
    }
    group.finish();
}

fn load(relative: &str, overrides: &[String]) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    scenario::load(&path, overrides).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

fn mm1(c: &mut Criterion) {
    let scenario = load("scenarios/validation/mm1.toml", &["run.max_requests=100000".into()]);
    // Deterministic: every run processes exactly this many events.
    let events = sim::run(&scenario).summary.run.events;
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(events));
    group.bench_function("mm1", |b| b.iter(|| sim::run(black_box(&scenario))));
    group.finish();
}

fn single_gpu_batching(c: &mut Criterion) {
    let scenario = load("scenarios/single-gpu-batching.toml", &[]);
    let offered = sim::run(&scenario).summary.requests.offered;
    let mut group = c.benchmark_group("sim");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(offered));
    group.bench_function("single-gpu-batching", |b| b.iter(|| sim::run(black_box(&scenario))));
    group.finish();
}

criterion_group!(benches, hold, mm1, single_gpu_batching);
criterion_main!(benches);
