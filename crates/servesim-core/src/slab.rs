//! A slab: values stored in a `Vec` under small reusable `u32` handles.
//!
//! Why: the core hands handles to the driver (a running batch, a decoding
//! sequence, a KV hand-off) and gets them back later; a slab makes that
//! O(1) with no hashing, reusing the most recently freed slot first,
//! deterministically. Removing a handle twice yields `None`; but a freed
//! handle is reused, so a caller that may hold a stale handle must check the
//! value's identity (e.g. its request id) before removing.

#[derive(Debug)]
pub struct Slab<T> {
    slots: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { slots: Vec::new(), free: Vec::new() }
    }
}

impl<T> Slab<T> {
    /// Stores `value`; returns its handle. O(1) amortized.
    pub fn insert(&mut self, value: T) -> u32 {
        match self.free.pop() {
            Some(handle) => {
                self.slots[handle as usize] = Some(value);
                handle
            }
            None => {
                self.slots.push(Some(value));
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// Takes the value out, freeing its handle. O(1).
    pub fn remove(&mut self, handle: u32) -> Option<T> {
        let value = self.slots.get_mut(handle as usize)?.take()?;
        self.free.push(handle);
        Some(value)
    }

    pub fn get(&self, handle: u32) -> Option<&T> {
        self.slots.get(handle as usize)?.as_ref()
    }

    /// The stored values, in handle order. O(slots).
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_reused_and_double_remove_is_none() {
        let mut s = Slab::default();
        let a = s.insert('a');
        let b = s.insert('b');
        assert_eq!(s.remove(a), Some('a'));
        assert_eq!(s.remove(a), None);
        assert_eq!(s.insert('c'), a);
        assert_eq!(s.get(b), Some(&'b'));
        assert_eq!(s.get(7), None);
    }
}
