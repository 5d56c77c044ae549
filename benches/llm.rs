//! LLM serving simulator throughput (criterion): a fleet of 100 Llama-3-8B
//! replicas (one H100 each) with continuous batching at high load (1,000
//! requests/s, ~94% of GPU time busy), one simulated minute per iteration.
//! Throughput: simulated requests per wall-clock second. Reported, never
//! asserted. Run with `cargo bench --bench llm`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use servesim::scenario;
use servesim::sim;
use std::path::Path;
use std::time::Duration;

const SETS: [&str; 7] = [
    "replica.model=llama-3-8b",
    "replica.tp=1",
    "replica.count=100",
    "workload.rate_per_s=1000",
    "run.duration=1m",
    "run.warmup=0s",
    "batching.policy=continuous",
];

fn fleet(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/llama70b-h100-continuous.toml");
    let sets: Vec<String> = SETS.iter().map(|s| s.to_string()).collect();
    let s = scenario::load(&path, &sets).unwrap_or_else(|e| panic!("{e}"));
    let requests = sim::run(&s).summary.requests.offered;
    let mut group = c.benchmark_group("llm");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(requests));
    group.bench_function("continuous-100-replicas", |b| b.iter(|| black_box(sim::run(&s).summary.run.events)));
    group.finish();
}

criterion_group!(benches, fleet);
criterion_main!(benches);
