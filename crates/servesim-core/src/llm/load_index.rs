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
    /// `tree[1]` is the root; node `k`'s children are `2k` and `2k + 1`;
    /// leaves start at `width`. Each node holds the `(load, replica)` of
    /// its subtree's winner, so a comparison reads no other memory;
    /// padding leaves hold [`PAD`].
    tree: Vec<(u64, u32)>,
    width: usize,
    n: usize,
}

const PAD: (u64, u32) = (u64::MAX, u32::MAX);

impl LoadIndex {
    /// `n` replicas, all at load 0. O(n).
    pub fn new(n: usize) -> Self {
        let width = n.next_power_of_two().max(1);
        let mut tree = vec![PAD; 2 * width];
        for (i, leaf) in tree[width..width + n].iter_mut().enumerate() {
            *leaf = (0, i as u32);
        }
        for k in (1..width).rev() {
            tree[k] = tree[2 * k].min(tree[2 * k + 1]);
        }
        LoadIndex { tree, width, n }
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn load(&self, i: usize) -> u64 {
        self.tree[self.width + i].0
    }

    /// The replica with the least load, ties to the lowest index; None if
    /// there are no replicas. O(1).
    pub fn least(&self) -> Option<usize> {
        (self.n > 0).then_some(self.tree[1].1 as usize)
    }

    /// Replica `i`'s load is now `load`. O(log n); it stops climbing where
    /// a node's winner is unchanged (its ancestors are then unchanged too).
    pub fn set(&mut self, i: usize, load: u64) {
        let mut k = self.width + i;
        self.tree[k].0 = load;
        while k > 1 {
            k /= 2;
            let winner = self.tree[2 * k].min(self.tree[2 * k + 1]);
            if self.tree[k] == winner {
                break;
            }
            self.tree[k] = winner;
        }
    }
}
