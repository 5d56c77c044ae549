//! A set of node ids with O(1) insert, remove, membership and random
//! sampling: a dense member list plus each id's position (a "sparse set").
//!
//! Why not `BTreeSet`: the swarm coordinator updates who has a free slot on
//! every transfer start and end (millions of times per run), and the
//! O(log n) tree walks dominated the profile. Iteration order is the dense
//! order, which depends only on the sequence of operations, so runs stay
//! deterministic.

const ABSENT: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub struct IdSet {
    members: Vec<u32>,
    /// Position of id `base + i` in `members`, at index `i`.
    position: Vec<u32>,
    base: u32,
}

impl IdSet {
    /// An empty set for ids `0..universe`.
    pub fn new(universe: u32) -> IdSet {
        IdSet::range(0, universe)
    }

    /// An empty set for ids `base..base + len` (e.g. one rack's nodes).
    pub fn range(base: u32, len: u32) -> IdSet {
        IdSet { members: Vec::new(), position: vec![ABSENT; len as usize], base }
    }

    fn slot(&self, id: u32) -> usize {
        (id - self.base) as usize
    }

    pub fn contains(&self, id: u32) -> bool {
        self.position[self.slot(id)] != ABSENT
    }

    pub fn insert(&mut self, id: u32) {
        if !self.contains(id) {
            let slot = self.slot(id);
            self.position[slot] = self.members.len() as u32;
            self.members.push(id);
        }
    }

    pub fn remove(&mut self, id: u32) {
        let slot = self.slot(id);
        let at = self.position[slot];
        if at == ABSENT {
            return;
        }
        self.members.swap_remove(at as usize);
        if let Some(&moved) = self.members.get(at as usize) {
            let moved = self.slot(moved);
            self.position[moved] = at;
        }
        self.position[slot] = ABSENT;
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn members(&self) -> &[u32] {
        &self.members
    }

    /// Up to `count` members, cyclically from dense position `start % len`.
    pub fn window(&self, start: usize, count: usize, out: &mut Vec<u32>) {
        out.clear();
        let n = self.members.len();
        if n == 0 {
            return;
        }
        let start = start % n;
        out.extend(self.members[start..].iter().chain(&self.members[..start]).take(count));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_set() {
        let mut s = IdSet::new(10);
        for i in [3, 5, 7, 5] {
            s.insert(i);
        }
        assert_eq!(s.len(), 3);
        s.remove(3);
        s.remove(3);
        assert!(!s.contains(3) && s.contains(5) && s.contains(7));
        let mut out = Vec::new();
        s.window(1, 5, &mut out);
        assert_eq!(out.len(), 2);
        assert!(out.contains(&5) && out.contains(&7));
    }
}
