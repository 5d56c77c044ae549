//! Max-min fair rates by progressive filling (bottleneck order).
//!
//! Why this algorithm: max-min fairness is what long-lived TCP flows sharing
//! links approximate, and progressive filling computes it exactly: raise
//! every unfrozen flow's rate together; when a resource saturates, freeze its
//! flows. Equivalently, repeatedly take the resource with the smallest fair
//! share `residual / unfrozen flows` and give that share to its unfrozen
//! flows. Shares only grow as flows freeze elsewhere (a frozen flow took at
//! most the share), so a lazy min-heap keyed by share with a version per
//! resource finds the next bottleneck. O((P + F·L) log P) for F flows of at
//! most L resources over P resources; scratch buffers are reused.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

#[derive(PartialEq)]
struct Key {
    share: f64,
    res: u32,
    version: u32,
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    // Reversed for a min-heap; ties broken by resource index, so the order
    // never depends on anything but the inputs.
    fn cmp(&self, other: &Self) -> Ordering {
        other.share.total_cmp(&self.share).then(other.res.cmp(&self.res))
    }
}

/// Reusable scratch space for [`Filler::solve`].
#[derive(Default)]
pub struct Filler {
    heap: BinaryHeap<Key>,
    count: Vec<u32>,
    version: Vec<u32>,
    res_start: Vec<u32>,
    res_flows: Vec<u32>,
    frozen: Vec<bool>,
}

impl Filler {
    /// Max-min fair rates for flows over local resources `0..residual.len()`.
    /// Flow `f` crosses `paths[starts[f]..starts[f + 1]]`; `residual` is each
    /// resource's capacity left for these flows (consumed in place). Writes
    /// `rates[f]`. A flow with an empty path gets rate 0.
    pub fn solve(&mut self, paths: &[u32], starts: &[u32], residual: &mut [f64], rates: &mut Vec<f64>) {
        let flows = starts.len().saturating_sub(1);
        let nres = residual.len();
        rates.clear();
        rates.resize(flows, 0.0);
        self.count.clear();
        self.count.resize(nres, 0);
        self.version.clear();
        self.version.resize(nres, 0);
        for &r in paths {
            self.count[r as usize] += 1;
        }
        // CSR: resource -> its flows.
        self.res_start.clear();
        self.res_start.push(0);
        let mut acc = 0;
        for &c in &self.count {
            acc += c;
            self.res_start.push(acc);
        }
        self.res_flows.clear();
        self.res_flows.resize(acc as usize, 0);
        let mut fill: Vec<u32> = self.res_start[..nres].to_vec();
        for f in 0..flows {
            for &r in &paths[starts[f] as usize..starts[f + 1] as usize] {
                self.res_flows[fill[r as usize] as usize] = f as u32;
                fill[r as usize] += 1;
            }
        }
        self.frozen.clear();
        self.frozen.resize(flows, false);
        self.heap.clear();
        for (r, (&count, &left)) in self.count.iter().zip(residual.iter()).enumerate() {
            if count > 0 {
                self.heap.push(Key { share: left.max(0.0) / count as f64, res: r as u32, version: 0 });
            }
        }
        while let Some(Key { res, version, .. }) = self.heap.pop() {
            let r = res as usize;
            if self.count[r] == 0 {
                continue;
            }
            if version != self.version[r] {
                let share = residual[r].max(0.0) / self.count[r] as f64;
                self.heap.push(Key { share, res, version: self.version[r] });
                continue;
            }
            let share = residual[r].max(0.0) / self.count[r] as f64;
            for i in self.res_start[r]..self.res_start[r + 1] {
                let f = self.res_flows[i as usize] as usize;
                if self.frozen[f] {
                    continue;
                }
                self.frozen[f] = true;
                rates[f] = share;
                for &q in &paths[starts[f] as usize..starts[f + 1] as usize] {
                    let q = q as usize;
                    residual[q] -= share;
                    self.count[q] -= 1;
                    self.version[q] = self.version[q].wrapping_add(1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Textbook water-filling by levels: raise all unfrozen flows by the
    /// smallest per-flow headroom, freeze flows on saturated resources.
    fn water_fill(paths: &[Vec<u32>], caps: &[f64]) -> Vec<f64> {
        let mut rate = vec![0.0; paths.len()];
        let mut frozen: Vec<bool> = paths.iter().map(|p| p.is_empty()).collect();
        let mut left = caps.to_vec();
        while frozen.iter().any(|f| !f) {
            let users = |r: usize| (0..paths.len()).filter(|&f| !frozen[f] && paths[f].contains(&(r as u32))).count();
            let step = (0..caps.len())
                .filter(|&r| users(r) > 0)
                .map(|r| left[r] / users(r) as f64)
                .fold(f64::INFINITY, f64::min);
            let active: Vec<usize> = (0..paths.len()).filter(|&f| !frozen[f]).collect();
            for &f in &active {
                rate[f] += step;
                for &r in &paths[f] {
                    left[r as usize] -= step;
                }
            }
            for &f in &active {
                if paths[f].iter().any(|&r| left[r as usize] <= 1e-9 * caps[r as usize]) {
                    frozen[f] = true;
                }
            }
        }
        rate
    }

    #[test]
    fn matches_water_filling_on_random_networks() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut filler = Filler::default();
        for _ in 0..300 {
            let nres = rng.random_range(1..8);
            let caps: Vec<f64> = (0..nres).map(|_| rng.random_range(1.0..100.0)).collect();
            let paths: Vec<Vec<u32>> = (0..rng.random_range(1..12))
                .map(|_| {
                    let mut p: Vec<u32> = (0..nres as u32).filter(|_| rng.random_bool(0.4)).collect();
                    if p.is_empty() {
                        p.push(rng.random_range(0..nres as u32));
                    }
                    p
                })
                .collect();
            let flat: Vec<u32> = paths.iter().flatten().copied().collect();
            let mut starts = vec![0u32];
            for p in &paths {
                starts.push(starts.last().unwrap() + p.len() as u32);
            }
            let mut residual = caps.clone();
            let mut rates = Vec::new();
            filler.solve(&flat, &starts, &mut residual, &mut rates);
            let want = water_fill(&paths, &caps);
            for (got, want) in rates.iter().zip(&want) {
                assert!((got - want).abs() <= 1e-9 * want.max(1.0), "{rates:?} vs {want:?} on {paths:?} {caps:?}");
            }
            for (r, cap) in caps.iter().enumerate() {
                let used: f64 = paths.iter().zip(&rates).filter(|(p, _)| p.contains(&(r as u32))).map(|(_, x)| x).sum();
                assert!(used <= cap * (1.0 + 1e-12), "resource {r} over capacity");
            }
        }
    }

    #[test]
    fn single_bottleneck_splits_evenly() {
        let mut rates = Vec::new();
        let mut residual = vec![12.0, 100.0, 2.0];
        // Three flows on resource 0; the third also on resource 2 (cap 2).
        Filler::default().solve(&[0, 1, 0, 1, 0, 2], &[0, 2, 4, 6], &mut residual, &mut rates);
        assert_eq!(rates, vec![5.0, 5.0, 2.0]);
    }
}
