//! A hash map keyed by request ids, hashed with one multiply.
//!
//! Why: request ids are sequential integers chosen by the driver, not by an
//! adversary, so SipHash's DoS resistance buys nothing here and costs ~10%
//! of an M/M/1 run. Fixed (unseeded), like everything else; hash order never
//! reaches output.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Fibonacci hashing of a `u64` key.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A map from request ids (as `u64`) to `V`.
pub type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;
