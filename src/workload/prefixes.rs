//! Shared prompt prefixes (system prompts) of synthetic LLM requests.
//!
//! A fraction `share` of requests start with one of `prefixes` system
//! prompts of `tokens` tokens each, chosen uniformly; their prompt is the
//! prefix followed by the drawn prompt length (the user's part), so it is
//! `tokens + prompt_tokens`. Draws come from their own stream
//! ("prefixes"): turning this on, or changing it, keeps every arrival time
//! and size. Two draws per request (share, then which prefix), always, so
//! a change of `share` keeps each request's choice of prefix.

use crate::core::llm::Prefix;
use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SharedPrefix {
    pub tokens: u32,
    /// Fraction of requests with a prefix, in [0, 1].
    pub share: f64,
    /// Distinct prefixes (ids 0..prefixes), >= 1.
    pub prefixes: u32,
}

impl SharedPrefix {
    /// This request's prefix, if it has one.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<Prefix> {
        let u: f64 = rng.random();
        let id = rng.random_range(0..self.prefixes.max(1));
        (u < self.share).then_some(Prefix { id, tokens: self.tokens })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_share_and_the_choice_of_prefix_follow_the_draws() {
        let p = SharedPrefix { tokens: 1000, share: 0.8, prefixes: 4 };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut by_id = [0u32; 4];
        let n = 100_000;
        for _ in 0..n {
            if let Some(x) = p.draw(&mut rng) {
                assert_eq!(x.tokens, 1000);
                by_id[x.id as usize] += 1;
            }
        }
        let with: u32 = by_id.iter().sum();
        assert!((f64::from(with) / f64::from(n) - 0.8).abs() < 0.01, "{with}");
        assert!(by_id.iter().all(|&k| (f64::from(k) / f64::from(with) - 0.25).abs() < 0.01), "{by_id:?}");
        let none = SharedPrefix { share: 0.0, ..p };
        assert!((0..100).all(|_| none.draw(&mut rng).is_none()));
    }
}
