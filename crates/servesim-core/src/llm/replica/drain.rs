//! A replica draining: it takes no new work and finishes what it holds.
//!
//! Why a state of its own rather than a failure: scale-in must not fail
//! the requests a replica holds (a failure answers them `Failed`), and
//! must not keep feeding it either, or it never empties. A draining
//! replica keeps stepping until it holds nothing; the scheduler routes
//! around it exactly as around a failed one. The driver releases its node
//! once it is idle (for the scheduler, a failed replica that held nothing).

use super::Replica;

impl Replica {
    /// The replica takes no new work from now on and finishes what it holds.
    pub fn drain(&mut self) {
        self.draining = true;
    }

    /// Whether it is draining (and not repaired since).
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// Whether the router may place arrivals on it: neither failed nor draining.
    pub fn takes_arrivals(&self) -> bool {
        !self.down && !self.draining
    }
}

#[cfg(test)]
mod tests {
    use crate::llm::{Action, Input, LlmScheduler, Replica, ReplicaConfig, RouterPolicy};
    use crate::time::{SimDuration, SimTime};
    use crate::{Outcome, RequestId};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn arrive(core: &mut LlmScheduler, now: SimTime, id: u64, out: &mut Vec<Action>) {
        let input =
            Input::Arrival { request: RequestId(id), prompt_tokens: 64, output_tokens: 4, prefix: None, session: None };
        core.handle(now, input, out);
    }

    /// Steps every busy replica to completion, answering `StepDone` as the driver would.
    fn run_out(core: &mut LlmScheduler, mut now: SimTime, out: &mut Vec<Action>) -> Vec<(RequestId, Outcome)> {
        let mut answers = Vec::new();
        let mut k = 0;
        while k < out.len() {
            match out[k] {
                Action::StartStep { replica, .. } => {
                    now += SimDuration::from_millis(1);
                    core.handle(now, Input::StepDone { replica }, out);
                }
                Action::Respond { request, outcome, .. } => answers.push((request, outcome)),
                _ => {}
            }
            k += 1;
        }
        answers
    }

    #[test]
    fn a_draining_replica_finishes_what_it_holds_takes_nothing_new_and_reopens() {
        for routing in [RouterPolicy::RoundRobin, RouterPolicy::LeastOutstanding, RouterPolicy::PowerOfTwoChoices] {
            let replicas = (0..2).map(|i| Replica::new(i, ReplicaConfig::new(1000))).collect();
            let mut core = LlmScheduler::new(replicas, routing, ChaCha8Rng::seed_from_u64(3));
            let (mut out, t0) = (Vec::new(), SimTime::ZERO);
            for id in 0..6 {
                arrive(&mut core, t0, id, &mut out);
            }
            let held = core.replicas()[0].outstanding();
            assert!(held > 0, "{routing:?}");
            core.handle(t0, Input::ReplicaDrain { replica: 0 }, &mut out);
            assert!(core.replicas()[0].is_draining() && !core.replicas()[0].takes_arrivals());
            for id in 6..12 {
                arrive(&mut core, t0, id, &mut out);
            }
            assert_eq!(core.replicas()[0].outstanding(), held, "{routing:?}: nothing new lands on it");
            let answers = run_out(&mut core, t0, &mut out);
            assert_eq!(answers.len(), 12, "{routing:?}: every request answered once");
            assert!(answers.iter().all(|&(_, o)| o == Outcome::Completed), "{routing:?}: a drain fails nothing");
            assert_eq!(core.outstanding(), 0);
            // Reopened, it takes work again.
            out.clear();
            core.handle(t0, Input::ReplicaRepaired { replica: 0 }, &mut out);
            assert!(core.replicas()[0].takes_arrivals());
            core.handle(t0, Input::ReplicaDrain { replica: 1 }, &mut out);
            arrive(&mut core, t0, 12, &mut out);
            assert_eq!(core.replicas()[0].outstanding(), 1, "{routing:?}");
        }
    }

    #[test]
    fn a_drained_replica_that_fails_is_closed_once_and_every_replica_closed_fails_arrivals() {
        let replicas = (0..2).map(|i| Replica::new(i, ReplicaConfig::new(1000))).collect();
        let mut core = LlmScheduler::new(replicas, RouterPolicy::RoundRobin, ChaCha8Rng::seed_from_u64(1));
        let (mut out, t0) = (Vec::new(), SimTime::ZERO);
        core.handle(t0, Input::ReplicaDrain { replica: 0 }, &mut out);
        core.handle(t0, Input::ReplicaDrain { replica: 0 }, &mut out);
        core.handle(t0, Input::ReplicaFailed { replica: 0 }, &mut out);
        core.handle(t0, Input::ReplicaFailed { replica: 1 }, &mut out);
        arrive(&mut core, t0, 0, &mut out);
        assert!(matches!(out.last(), Some(Action::Respond { outcome: Outcome::Failed, .. })));
        core.handle(t0, Input::ReplicaRepaired { replica: 0 }, &mut out);
        assert!(core.replicas()[0].takes_arrivals() && !core.replicas()[0].is_draining());
        out.clear();
        arrive(&mut core, t0, 1, &mut out);
        assert_eq!(core.replicas()[0].outstanding(), 1, "the one open replica takes it");
    }
}
