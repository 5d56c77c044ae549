//! A replica's prefix cache: the KV blocks of shared prompt prefixes
//! (system prompts), kept after the request that computed them, so a later
//! request with the same prefix skips that part of its prefill and shares
//! the blocks instead of holding a copy (vLLM's automatic prefix caching,
//! SGLang's RadixAttention, reduced to whole named prefixes).
//!
//! Only full KV blocks are cached (as in vLLM): a prefix of `t` tokens
//! shares `t / block_tokens` blocks, so a sequence's own blocks stay
//! `ceil((context − shared) / block_tokens)` and the per-residue growth
//! counting of decode is unchanged. An entry is created when a prefill
//! that carried the prefix completes (the blocks are then computed); a
//! request admitted while the first one is still prefilling misses and
//! computes the prefix again, and its copy is dropped at publication.
//!
//! Cached blocks count in the replica's used blocks once, however many
//! sequences reference them. Referenced entries are never evicted; an
//! unreferenced one is evicted only when KV blocks are needed (admission,
//! decode growth, swap-in) or when the cache holds `max_prefixes`:
//! - `lru`: the least recently used (acquired or released) first;
//! - `lfu`: the least often used first (ties: least recent). A burst of
//!   one-off prefixes (a scan) cannot flush a popular system prompt,
//!   which LRU lets happen; the price is that a prompt that *was* popular
//!   lingers after its traffic moves on.
//!
//! Cost: O(log prefixes) per acquire, release, insert and eviction.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Which unreferenced prefix goes first when blocks are needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PrefixEviction {
    /// Least recently used.
    #[default]
    Lru,
    /// Least frequently used (ties: least recently used).
    Lfu,
}

impl PrefixEviction {
    pub fn name(self) -> &'static str {
        match self {
            PrefixEviction::Lru => "lru",
            PrefixEviction::Lfu => "lfu",
        }
    }
}

/// A request's shared prefix: which one, and its length in tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub id: u32,
    pub tokens: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixCacheConfig {
    pub eviction: PrefixEviction,
    /// Most prefixes held at once (besides the KV capacity). None: no limit.
    pub max_prefixes: Option<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    blocks: u64,
    refs: u64,
    uses: u64,
    last_use: u64,
}

#[derive(Debug)]
pub struct PrefixCache {
    cfg: PrefixCacheConfig,
    entries: BTreeMap<u32, Entry>,
    /// Unreferenced entries in eviction order.
    idle: BTreeSet<(u64, u64, u32)>,
    idle_blocks: u64,
    held_blocks: u64,
    tick: u64,
    pub evictions: u64,
    /// Ids inserted or removed since the last [`PrefixCache::drain_changed`]
    /// (the router's view of who caches what follows them).
    changed: Vec<u32>,
}

impl PrefixCache {
    pub fn new(cfg: PrefixCacheConfig) -> Self {
        PrefixCache {
            cfg,
            entries: BTreeMap::new(),
            idle: BTreeSet::new(),
            idle_blocks: 0,
            held_blocks: 0,
            tick: 0,
            evictions: 0,
            changed: Vec::new(),
        }
    }

    fn key(&self, id: u32, e: &Entry) -> (u64, u64, u32) {
        match self.cfg.eviction {
            PrefixEviction::Lru => (e.last_use, 0, id),
            PrefixEviction::Lfu => (e.uses, e.last_use, id),
        }
    }

    pub fn contains(&self, id: u32) -> bool {
        self.entries.contains_key(&id)
    }

    /// Blocks held by cached prefixes (referenced or not).
    pub fn held_blocks(&self) -> u64 {
        self.held_blocks
    }

    /// References held on cached prefixes (0 once every sequence left).
    pub fn refs(&self) -> u64 {
        self.entries.values().map(|e| e.refs).sum()
    }

    /// Blocks that evictions could free, not counting prefix `keep`.
    pub fn evictable_blocks(&self, keep: Option<u32>) -> u64 {
        let kept = keep.and_then(|id| self.entries.get(&id)).filter(|e| e.refs == 0).map_or(0, |e| e.blocks);
        self.idle_blocks - kept
    }

    /// Whether inserting needs an eviction first (`max_prefixes` reached).
    pub fn full(&self) -> bool {
        self.cfg.max_prefixes.is_some_and(|m| self.entries.len() as u64 >= u64::from(m))
    }

    /// Adds prefix `id` holding `blocks`, unreferenced. The caller checked
    /// it is absent and that the cache is not full.
    pub fn insert(&mut self, id: u32, blocks: u64) {
        self.tick += 1;
        let e = Entry { blocks, refs: 0, uses: 0, last_use: self.tick };
        self.idle.insert(self.key(id, &e));
        self.idle_blocks += blocks;
        self.held_blocks += blocks;
        self.entries.insert(id, e);
        self.changed.push(id);
    }

    /// Ids whose presence may have changed since the last drain, in order
    /// (an id may repeat). O(1) per change.
    pub fn drain_changed(&mut self) -> std::vec::Drain<'_, u32> {
        self.changed.drain(..)
    }

    /// A sequence starts using cached prefix `id`. False if it is absent.
    pub fn acquire(&mut self, id: u32) -> bool {
        let Some(mut e) = self.entries.get(&id).copied() else { return false };
        if e.refs == 0 {
            self.idle.remove(&self.key(id, &e));
            self.idle_blocks -= e.blocks;
        }
        self.tick += 1;
        e.refs += 1;
        e.uses += 1;
        e.last_use = self.tick;
        self.entries.insert(id, e);
        true
    }

    /// A sequence stopped using prefix `id`.
    pub fn release(&mut self, id: u32) {
        let Some(mut e) = self.entries.get(&id).copied() else { return };
        debug_assert!(e.refs > 0, "release of an unreferenced prefix {id}");
        self.tick += 1;
        e.refs = e.refs.saturating_sub(1);
        e.last_use = self.tick;
        if e.refs == 0 {
            self.idle.insert(self.key(id, &e));
            self.idle_blocks += e.blocks;
        }
        self.entries.insert(id, e);
    }

    /// Blocks held by entry `id` (0 if absent).
    pub fn blocks_of(&self, id: u32) -> u64 {
        self.entries.get(&id).map_or(0, |e| e.blocks)
    }

    /// Whether entry `id` exists and a sequence references it.
    pub fn is_referenced(&self, id: u32) -> bool {
        self.entries.get(&id).is_some_and(|e| e.refs > 0)
    }

    /// Removes unreferenced entry `id` (to replace it); returns its blocks.
    /// Not an eviction: the caller supersedes it.
    pub fn remove_idle(&mut self, id: u32) -> Option<u64> {
        let e = self.entries.get(&id).copied().filter(|e| e.refs == 0)?;
        self.idle.remove(&self.key(id, &e));
        self.entries.remove(&id);
        self.idle_blocks -= e.blocks;
        self.held_blocks -= e.blocks;
        self.changed.push(id);
        Some(e.blocks)
    }

    /// Evicts the first unreferenced prefix in eviction order, other than
    /// `keep`; returns the blocks freed.
    pub fn evict_one(&mut self, keep: Option<u32>) -> Option<u64> {
        let &key = self.idle.iter().find(|k| Some(k.2) != keep)?;
        self.idle.remove(&key);
        let e = self.entries.remove(&key.2)?;
        self.idle_blocks -= e.blocks;
        self.held_blocks -= e.blocks;
        self.evictions += 1;
        self.changed.push(key.2);
        Some(e.blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(eviction: PrefixEviction) -> PrefixCache {
        PrefixCache::new(PrefixCacheConfig { eviction, max_prefixes: None })
    }

    #[test]
    fn referenced_prefixes_are_never_evicted() {
        let mut c = cache(PrefixEviction::Lru);
        c.insert(1, 10);
        c.insert(2, 20);
        assert!(c.acquire(1) && c.acquire(2));
        assert_eq!((c.evictable_blocks(None), c.evict_one(None)), (0, None));
        c.release(2);
        assert_eq!(c.evictable_blocks(None), 20);
        assert_eq!(c.evictable_blocks(Some(2)), 0);
        assert_eq!(c.evict_one(Some(2)), None, "the kept prefix stays");
        assert_eq!(c.evict_one(None), Some(20));
        assert_eq!((c.held_blocks(), c.refs(), c.evictions), (10, 1, 1));
    }

    #[test]
    fn lru_and_lfu_pick_different_victims() {
        // Prefix 1 is used three times, then prefix 2 once, more recently.
        for (eviction, victim) in [(PrefixEviction::Lru, 10), (PrefixEviction::Lfu, 20)] {
            let mut c = cache(eviction);
            c.insert(1, 10);
            c.insert(2, 20);
            for _ in 0..3 {
                c.acquire(1);
                c.release(1);
            }
            c.acquire(2);
            c.release(2);
            assert_eq!(c.evict_one(None), Some(victim), "{eviction:?}");
        }
    }
}
