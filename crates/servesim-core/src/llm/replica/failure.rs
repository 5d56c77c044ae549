//! A replica's hardware failing and being repaired.
//!
//! Why the replica loses everything: its GPUs' memory is gone, so every
//! sequence it held (queued, swapped out, prefilling, decoding, or a
//! finished static batch not yet answered) is answered `Failed` with the
//! tokens it had generated, and every KV block, cached prefixes included,
//! is given back. The step running when it fails still ends (the driver's
//! `StepDone` comes) but applies nothing; until it has, the replica starts
//! no step. A failed replica takes no new work: the scheduler routes
//! around it, and an arrival that reaches it anyway is answered `Failed`.
//! Repaired, it comes back empty. Sequences prefilled here whose KV is in
//! transfer (disaggregated serving) belong to the scheduler until the
//! transfer ends, as for a cancel, and are left to it.

use super::seq::{Plan, Seq};
use super::{config, Action, Outcome, Replica};

impl Replica {
    /// The replica fails now: every sequence it holds is answered
    /// `Failed`, its KV is freed, and it takes no work until
    /// [`Replica::repair`]. Returns how many requests it failed. O(held).
    pub fn fail(&mut self, out: &mut Vec<Action>) -> u64 {
        self.down = true;
        let mut dropped: Vec<Seq> = Vec::with_capacity(self.outstanding() as usize);
        dropped.extend(self.waiting.drain(..));
        dropped.extend(self.swapped.drain(..).map(|(seq, _)| seq));
        dropped.extend(self.arrived.drain(..).map(|(seq, _)| seq));
        dropped.append(&mut self.held);
        for p in std::mem::take(&mut self.prefilling) {
            self.kv.release(p.blocks);
            self.kv.release_prefix(p.seq.prefix, p.shared);
            dropped.push(p.seq);
        }
        while let Some(left) = self.decode.pop_latest() {
            self.free_decoded(&left);
            dropped.push(left.seq);
        }
        self.kv.flush_prefixes();
        if self.in_flight.is_some() {
            self.in_flight = Some(Plan::default());
        }
        self.cancelling.clear();
        self.armed = None;
        self.new_token_ratio = config::SGLANG_INIT_NEW_TOKEN_RATIO;
        dropped.sort_unstable_by_key(|s| s.request);
        for seq in &dropped {
            out.push(Action::Respond { request: seq.request, outcome: Outcome::Failed, served: seq.served() });
        }
        dropped.len() as u64
    }

    /// The replica is repaired: it takes work again, empty (a drain
    /// under way ends too).
    pub fn repair(&mut self) {
        self.down = false;
        self.draining = false;
    }

    /// Whether the replica is failed and not yet repaired.
    pub fn is_down(&self) -> bool {
        self.down
    }
}

#[cfg(test)]
mod tests {
    use crate::llm::{Action, Input, LlmScheduler, Replica, ReplicaConfig, RouterPolicy};
    use crate::time::{SimDuration, SimTime};
    use crate::{Outcome, RequestId};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn pool(n: u32, routing: RouterPolicy) -> LlmScheduler {
        let replicas = (0..n).map(|i| Replica::new(i, ReplicaConfig::new(1000))).collect();
        LlmScheduler::new(replicas, routing, ChaCha8Rng::seed_from_u64(1))
    }

    fn arrive(core: &mut LlmScheduler, now: SimTime, id: u64, out: &mut Vec<Action>) {
        let input =
            Input::Arrival { request: RequestId(id), prompt_tokens: 64, output_tokens: 8, prefix: None, session: None };
        core.handle(now, input, out);
    }

    fn answers(out: &[Action]) -> Vec<(RequestId, Outcome)> {
        out.iter()
            .filter_map(|a| match *a {
                Action::Respond { request, outcome, .. } => Some((request, outcome)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_failed_replica_fails_what_it_held_frees_its_kv_and_comes_back_empty() {
        for routing in [RouterPolicy::RoundRobin, RouterPolicy::LeastOutstanding, RouterPolicy::PowerOfTwoChoices] {
            let mut core = pool(2, routing);
            let (mut out, t0) = (Vec::new(), SimTime::ZERO);
            for id in 0..6 {
                arrive(&mut core, t0, id, &mut out);
            }
            let on_first = core.replicas()[0].outstanding();
            assert!(on_first > 0 && core.replicas()[0].kv_used_blocks() > 0 && core.replicas()[0].busy());
            out.clear();
            core.handle(t0, Input::ReplicaFailed { replica: 0 }, &mut out);
            let failed = answers(&out);
            assert_eq!(failed.len() as u64, on_first, "{routing:?}");
            assert!(failed.iter().all(|&(_, o)| o == Outcome::Failed));
            let r0 = &core.replicas()[0];
            assert_eq!((r0.outstanding(), r0.kv_used_blocks()), (0, 0));
            assert_eq!(core.outstanding(), 6 - on_first, "the pool's totals follow the failure");
            // Its lost step still ends, and applies nothing; new work goes to the live replica.
            out.clear();
            let t1 = t0 + SimDuration::from_millis(5);
            core.handle(t1, Input::StepDone { replica: 0 }, &mut out);
            for id in 6..10 {
                arrive(&mut core, t1, id, &mut out);
            }
            assert!(answers(&out).is_empty());
            assert_eq!(core.replicas()[0].outstanding(), 0);
            assert_eq!(core.outstanding(), 10 - on_first);
            // With every replica down an arrival fails at once.
            out.clear();
            core.handle(t1, Input::ReplicaFailed { replica: 1 }, &mut out);
            arrive(&mut core, t1, 10, &mut out);
            assert_eq!(answers(&out).len() as u64, 10 - on_first + 1);
            assert_eq!(core.outstanding(), 0);
            // Repaired, a replica takes work again.
            out.clear();
            core.handle(t1, Input::ReplicaRepaired { replica: 0 }, &mut out);
            arrive(&mut core, t1, 11, &mut out);
            assert!(answers(&out).is_empty());
            assert_eq!(core.replicas()[0].outstanding(), 1);
            assert!(out.iter().any(|a| matches!(a, Action::StartStep { replica: 0, .. })));
        }
    }
}
