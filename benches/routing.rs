//! Per-arrival routing cost (criterion) at 10, 100, 1,000 and 10,000
//! replicas, for every router. One iteration is what an arrival costs the
//! router in a simulation: the pick, the chosen replica's load going up,
//! and one replica's load going down (a completion elsewhere), each
//! change folded into the router's view. Prefix-affinity draws prefixes
//! from 64 shared ones, each cached by the replicas its traffic reached
//! (a few dozen at most); `prefix-affinity-everywhere` starts with every
//! replica caching all 64 (system prompts held fleet-wide), so every
//! holder set is large. Session-affinity mixes conversation turns with
//! one-off requests. The pool stays near a steady load, so the figures
//! are per arrival at any fleet size; flat across sizes means no
//! O(replicas) work per request. Reported, never asserted. Run with
//! `cargo bench --bench routing`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use servesim_core::llm::{Router, RouterPolicy};
use std::time::Duration;

/// Each benchmark: its name, the router, and whether every replica starts
/// with every prefix cached.
const CASES: [(&str, RouterPolicy, bool); 6] = [
    ("round-robin", RouterPolicy::RoundRobin, false),
    ("least-outstanding", RouterPolicy::LeastOutstanding, false),
    ("power-of-two-choices", RouterPolicy::PowerOfTwoChoices, false),
    ("prefix-affinity", RouterPolicy::PrefixAffinity, false),
    ("prefix-affinity-everywhere", RouterPolicy::PrefixAffinity, true),
    ("session-affinity", RouterPolicy::SessionAffinity, false),
];

const PREFIXES: u32 = 64;

/// One arrival's draws: its prefix, its session, and which replica
/// completes a request meanwhile (mod the pool size).
type Draw = (Option<u32>, Option<u32>, usize);

/// A pool of `n` replicas at about 8 outstanding requests each, fed a
/// pre-drawn stream of arrivals (so the figures are the router's, not the
/// random generator's).
struct Pool {
    router: Router,
    loads: Vec<u64>,
    draws: Vec<Draw>,
    next: usize,
}

impl Pool {
    fn new(policy: RouterPolicy, n: usize, cached_everywhere: bool) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let draws = (0..4096)
            .map(|_| {
                let prefix = rng.random_bool(0.5).then(|| rng.random_range(0..PREFIXES));
                let session = rng.random_bool(0.5).then(|| rng.random_range(0..1_000_000));
                (prefix, session, rng.random_range(0..n))
            })
            .collect();
        let mut router = Router::new(policy, ChaCha8Rng::seed_from_u64(1), n);
        if cached_everywhere {
            (0..n).for_each(|i| (0..PREFIXES).for_each(|id| router.set_holds(i, id, true)));
        }
        let mut pool = Pool { router, loads: vec![0; n], draws, next: 0 };
        for _ in 0..8 * n {
            pool.arrival();
        }
        pool
    }

    fn set(&mut self, i: usize, load: u64) {
        self.loads[i] = load;
        self.router.set_load(i, load);
    }

    /// One arrival routed, and (once warm) one completion elsewhere.
    fn arrival(&mut self) -> usize {
        let (prefix, session, done) = self.draws[self.next];
        self.next = (self.next + 1) % self.draws.len();
        let r = self.router.pick(prefix, session);
        self.set(r, self.loads[r] + 1);
        if let Some(id) = prefix {
            self.router.set_holds(r, id, true);
        }
        if self.loads[done] > 8 {
            self.set(done, self.loads[done] - 1);
        }
        r
    }
}

fn routing(c: &mut Criterion) {
    let mut group = c.benchmark_group("routing");
    group.sample_size(20).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    for (name, policy, cached_everywhere) in CASES {
        for n in [10usize, 100, 1_000, 10_000] {
            let mut pool = Pool::new(policy, n, cached_everywhere);
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| b.iter(|| black_box(pool.arrival())));
        }
    }
    group.finish();
}

criterion_group!(benches, routing);
criterion_main!(benches);
