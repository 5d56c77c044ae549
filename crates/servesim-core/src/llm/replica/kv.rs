//! The replica's KV ledger: the one place its paged KV cache's block count
//! changes.
//!
//! Why a ledger: blocks are taken by admissions, swap-ins and decode
//! growth, and given back by completions, preemptions, cancels, hand-offs
//! and prefix-cache evictions; a cached prefix's blocks are counted once
//! however many sequences reference it. Routing every change through a few
//! checked methods keeps that arithmetic in one file and makes a double
//! free visible (a debug assertion; a release build never underflows).
//!
//! The ledger owns the prefix cache (`prefix.rs`) because an entry's blocks
//! are part of the count: publishing, evicting and replacing an entry move
//! blocks between "held by a sequence" and "held by the cache".
//!
//! Capacity is checked when blocks are reserved ([`KvLedger::reserve`],
//! with the caller's headroom above it). Decode growth ([`KvLedger::grow`])
//! is charged when a step ends, for room the replica made (by eviction or
//! preemption) before planning the step.

use super::super::prefix::{Prefix, PrefixCache, PrefixCacheConfig};

#[derive(Debug)]
pub(super) struct KvLedger {
    capacity: u64,
    block_tokens: u64,
    used: u64,
    prefixes: Option<PrefixCache>,
}

impl KvLedger {
    /// `capacity` blocks of `block_tokens` tokens (0 is taken as 1), with a
    /// prefix cache if `prefix_cache` is set.
    pub(super) fn new(capacity: u64, block_tokens: u32, prefix_cache: Option<PrefixCacheConfig>) -> Self {
        KvLedger {
            capacity,
            block_tokens: u64::from(block_tokens.max(1)),
            used: 0,
            prefixes: prefix_cache.map(PrefixCache::new),
        }
    }

    /// Blocks that hold `tokens` tokens.
    pub(super) fn blocks(&self, tokens: u64) -> u64 {
        tokens.div_ceil(self.block_tokens)
    }

    /// Blocks in use: by sequences and by cached prefixes.
    pub(super) fn used(&self) -> u64 {
        self.used
    }

    pub(super) fn free(&self) -> u64 {
        self.capacity.saturating_sub(self.used)
    }

    /// Blocks free now plus those held only by unreferenced cached prefixes
    /// (not `keep`): what an admission can have after evicting.
    pub(super) fn available(&self, keep: Option<u32>) -> u64 {
        self.free() + self.prefixes.as_ref().map_or(0, |c| c.evictable_blocks(keep))
    }

    /// Takes `blocks` if `blocks + headroom` are free, evicting unreferenced
    /// cached prefixes (never `keep`) to make room; false, changing nothing,
    /// if they cannot be found.
    pub(super) fn reserve(&mut self, blocks: u64, headroom: u64, keep: Option<u32>) -> bool {
        if !self.reclaim(blocks + headroom, keep) {
            return false;
        }
        self.used += blocks;
        true
    }

    /// Charges one step's decode growth (new blocks for the sequences whose
    /// context crossed a block boundary).
    pub(super) fn grow(&mut self, blocks: u64) {
        self.used += blocks;
    }

    /// Gives back `blocks` a sequence held.
    pub(super) fn release(&mut self, blocks: u64) {
        debug_assert!(blocks <= self.used, "KV ledger: freeing {blocks} of {} used blocks", self.used);
        self.used = self.used.saturating_sub(blocks);
    }

    /// Evicts unreferenced cached prefixes (not `keep`) until `need` blocks
    /// are free; false, evicting nothing, if they cannot be.
    fn reclaim(&mut self, need: u64, keep: Option<u32>) -> bool {
        if need <= self.free() {
            return true;
        }
        if need > self.available(keep) {
            return false;
        }
        while need > self.free() {
            if !self.evict_one(keep) {
                return false;
            }
        }
        true
    }

    /// Evicts one unreferenced cached prefix (not `keep`); false if none.
    pub(super) fn evict_one(&mut self, keep: Option<u32>) -> bool {
        match self.prefixes.as_mut().and_then(|c| c.evict_one(keep)) {
            Some(blocks) => {
                self.release(blocks);
                true
            }
            None => false,
        }
    }

    /// Evicts every unreferenced cached prefix.
    pub(super) fn flush_prefixes(&mut self) {
        while self.evict_one(None) {}
    }

    pub(super) fn caches_prefixes(&self) -> bool {
        self.prefixes.is_some()
    }

    /// Whether prefix `id` is cached.
    pub(super) fn has_prefix(&self, id: u32) -> bool {
        self.prefixes.as_ref().is_some_and(|c| c.contains(id))
    }

    /// Prefix ids cached or dropped since the last drain (may repeat).
    pub(super) fn drain_prefix_changes(&mut self) -> impl Iterator<Item = u32> + '_ {
        self.prefixes.iter_mut().flat_map(PrefixCache::drain_changed)
    }

    /// Tokens of prefix `p` that its cache entry holds: all of them, or
    /// fewer when the entry is an earlier, shorter context of the same id.
    pub(super) fn cached_tokens(&self, p: Prefix) -> u64 {
        let entry = self.prefixes.as_ref().map_or(0, |c| c.blocks_of(p.id)) * self.block_tokens;
        entry.min(u64::from(p.tokens))
    }

    /// A sequence starts referencing cached prefix `id`.
    pub(super) fn acquire_prefix(&mut self, id: u32) {
        if let Some(cache) = self.prefixes.as_mut() {
            cache.acquire(id);
        }
    }

    /// Drops a sequence's reference to its cached prefix, if it holds one
    /// (`shared` tokens of `prefix`).
    pub(super) fn release_prefix(&mut self, prefix: Option<Prefix>, shared: u64) {
        if let (true, Some(p), Some(cache)) = (shared > 0, prefix, self.prefixes.as_mut()) {
            cache.release(p.id);
        }
    }

    /// A prefill carrying a cacheable prefix (`shared` = 0: it found none
    /// cached) finished holding `blocks`: its prefix's blocks become the
    /// cache entry (or, if another copy was published first, are freed),
    /// and the sequence references the entry. Returns the sequence's own
    /// blocks and the shared tokens.
    pub(super) fn publish_prefix(&mut self, prefix: Option<Prefix>, blocks: u64, shared: u64) -> (u64, u64) {
        let (Some(p), Some(cache), 0) = (prefix, self.prefixes.as_mut(), shared) else { return (blocks, shared) };
        let prefix_blocks = u64::from(p.tokens) / self.block_tokens;
        if cache.contains(p.id) && cache.blocks_of(p.id) != prefix_blocks {
            // Another length under the same id (a conversation's other turn):
            // keep this copy private.
            return (blocks, 0);
        } else if cache.contains(p.id) {
            self.release(prefix_blocks);
        } else {
            if cache.full() {
                let Some(freed) = cache.evict_one(None) else { return (blocks, 0) };
                self.release(freed);
            }
            // `self.release` ended the borrow; the entry goes in the same cache.
            let Some(cache) = self.prefixes.as_mut() else { return (blocks, 0) };
            cache.insert(p.id, prefix_blocks);
        }
        self.acquire_prefix(p.id);
        (blocks - prefix_blocks, u64::from(p.tokens))
    }

    /// A conversation turn ended with `ctx` tokens of KV (its blocks just
    /// freed): its full blocks become the cache entry of `session`, the
    /// next turn's prefix, replacing the session's earlier, shorter entry.
    /// Skipped if that entry is still referenced or the blocks cannot be
    /// found by evicting idle entries.
    pub(super) fn keep_context(&mut self, session: Option<u32>, ctx: u64) {
        let (Some(id), Some(cache)) = (session, self.prefixes.as_mut()) else { return };
        let blocks = ctx / self.block_tokens;
        if blocks == 0 || cache.is_referenced(id) {
            return;
        }
        if let Some(old) = cache.remove_idle(id) {
            self.release(old);
        }
        if !self.reclaim(blocks, None) {
            return;
        }
        let Some(cache) = self.prefixes.as_mut() else { return };
        if cache.full() {
            let Some(freed) = cache.evict_one(None) else { return };
            self.release(freed);
        }
        let Some(cache) = self.prefixes.as_mut() else { return };
        cache.insert(id, blocks);
        self.used += blocks;
    }

    /// Blocks held by cached prefixes, and references to them.
    pub(super) fn prefix_usage(&self) -> (u64, u64) {
        self.prefixes.as_ref().map_or((0, 0), |c| (c.held_blocks(), c.refs()))
    }

    /// Prefixes evicted so far.
    pub(super) fn prefix_evictions(&self) -> u64 {
        self.prefixes.as_ref().map_or(0, |c| c.evictions)
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::PrefixEviction;
    use super::*;

    fn cached(capacity: u64) -> KvLedger {
        KvLedger::new(capacity, 16, Some(PrefixCacheConfig { eviction: PrefixEviction::Lru, max_prefixes: None }))
    }

    #[test]
    fn reserve_honours_capacity_and_headroom() {
        let mut kv = KvLedger::new(10, 16, None);
        assert_eq!(kv.blocks(33), 3);
        assert!(kv.reserve(6, 4, None));
        assert!(!kv.reserve(4, 1, None), "only 4 free, 5 asked");
        assert_eq!((kv.used(), kv.free()), (6, 4));
        kv.release(6);
        assert_eq!(kv.used(), 0);
    }

    #[test]
    fn a_published_prefix_is_counted_once_and_evicted_only_when_unreferenced() {
        let mut kv = cached(20);
        let prefix = Some(Prefix { id: 1, tokens: 64 });
        // Two prefills of 8 blocks each carry the same 4-block prefix.
        assert!(kv.reserve(8, 0, None) && kv.reserve(8, 0, None));
        assert_eq!(kv.publish_prefix(prefix, 8, 0), (4, 64), "the first copy becomes the entry");
        assert_eq!(kv.publish_prefix(prefix, 8, 0), (4, 64), "the second copy is freed");
        assert_eq!((kv.used(), kv.prefix_usage()), (12, (4, 2)));
        assert!(!kv.reserve(9, 0, None), "a referenced prefix is never evicted");
        kv.release(4);
        kv.release_prefix(prefix, 64);
        kv.release(4);
        kv.release_prefix(prefix, 64);
        assert!(kv.reserve(17, 0, None), "the idle prefix is evicted to make room");
        assert_eq!((kv.used(), kv.prefix_usage(), kv.prefix_evictions()), (17, (0, 0), 1));
    }

    #[test]
    fn a_finished_turn_replaces_its_sessions_shorter_entry() {
        let mut kv = cached(100);
        kv.keep_context(Some(3), 40);
        assert_eq!((kv.used(), kv.prefix_usage()), (2, (2, 0)));
        kv.keep_context(Some(3), 100);
        assert_eq!((kv.used(), kv.prefix_usage()), (6, (6, 0)));
        kv.flush_prefixes();
        assert_eq!(kv.used(), 0);
    }
}
