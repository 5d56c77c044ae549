//! The least-loaded replica, kept as loads change: a tournament tree.
//!
//! Routing asks "which replica has the fewest outstanding requests (ties to
//! the lowest index)?" once per arrival, and loads change a few times per
//! request (arrival, completion, cancel, hand-off). Scanning every replica
//! per arrival costs O(replicas), which dominates a 2,000-replica fleet;
//! the tree answers in O(1) and absorbs a load change in O(log replicas).
//!
//! Each inner node holds the winner (lower `(load, index)`) of its two
//! children, so the root is exactly `min_by_key(load)` over the indices in
//! order, the choice a linear scan makes. Leaves past `n` (padding up to a
//! power of two) never win.

/// Loads of `n` replicas and, at the root, the least loaded.
#[derive(Debug, Clone)]
pub struct LoadIndex {
    loads: Vec<u64>,
    /// `tree[1]` is the root; node `k`'s children are `2k` and `2k + 1`;
    /// leaves start at `width`. Each node holds a replica index, `NONE` for
    /// padding.
    tree: Vec<u32>,
    width: usize,
}

const NONE: u32 = u32::MAX;

impl LoadIndex {
    /// `n` replicas, all at load 0. O(n).
    pub fn new(n: usize) -> Self {
        let width = n.next_power_of_two().max(1);
        let mut tree = vec![NONE; 2 * width];
        for (i, leaf) in tree[width..width + n].iter_mut().enumerate() {
            *leaf = i as u32;
        }
        let mut index = LoadIndex { loads: vec![0; n], tree, width };
        for k in (1..width).rev() {
            index.tree[k] = index.winner(index.tree[2 * k], index.tree[2 * k + 1]);
        }
        index
    }

    pub fn len(&self) -> usize {
        self.loads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.loads.is_empty()
    }

    pub fn load(&self, i: usize) -> u64 {
        self.loads[i]
    }

    /// The replica with the least load, ties to the lowest index; None if
    /// there are no replicas. O(1).
    pub fn least(&self) -> Option<usize> {
        let root = self.tree[1];
        (root != NONE).then_some(root as usize)
    }

    /// Replica `i`'s load is now `load`. O(log n); O(1) if unchanged.
    pub fn set(&mut self, i: usize, load: u64) {
        if self.loads[i] == load {
            return;
        }
        self.loads[i] = load;
        let mut k = (self.width + i) / 2;
        while k >= 1 {
            self.tree[k] = self.winner(self.tree[2 * k], self.tree[2 * k + 1]);
            k /= 2;
        }
    }

    fn winner(&self, a: u32, b: u32) -> u32 {
        match (a, b) {
            (NONE, _) => b,
            (_, NONE) => a,
            _ if self.loads[b as usize] < self.loads[a as usize] => b,
            _ => a,
        }
    }
}
