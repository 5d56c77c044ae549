//! Weight-distribution simulator throughput (criterion).
//!
//! - `distribute/swarm-1000`: `scenarios/distribute/swarm-vs-theory.toml`
//!   with the swarm only (1,000 nodes × 500 chunks = 500,000 chunk transfers).
//! - `distribute/scale-10k`: `scenarios/distribute/scale-10k.toml`, the
//!   scale target: 10,000 nodes × 140 GB in 256 MB chunks (547 chunks, 5.47
//!   million chunk transfers) by a rack-aware swarm over 250 racks.
//!
//! Throughput is chunk transfers simulated per wall-clock second. Numbers
//! are reported, never asserted. Run with `cargo bench --bench distribute`
//! (the 10k case takes a few minutes: criterion's minimum is 10 samples).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use servesim::distribute::{self, load, Plan};
use std::path::Path;
use std::time::Duration;

fn plan(file: &str, sets: &[&str]) -> Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/distribute").join(file);
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    load::load(&path, &sets).unwrap_or_else(|e| panic!("{e}"))
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("distribute");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(5));
    for (name, file, sets) in
        [("swarm-1000", "swarm-vs-theory.toml", &["strategy=swarm"][..]), ("scale-10k", "scale-10k.toml", &[][..])]
    {
        let p = plan(file, sets);
        group.throughput(Throughput::Elements(p.nodes as u64 * p.chunks as u64));
        group.bench_function(name, |b| b.iter(|| black_box(distribute::run(black_box(&p)).summary.strategies.len())));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
