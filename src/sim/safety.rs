//! The sim driver's side of the safety pipeline: the modeled world around
//! the core's [`SafetyStage`].
//!
//! Why a gate beside the LLM loop rather than a loop of its own: the LLM
//! event loop (`llm`) stays the one driver; with a `[safety]` table it
//! hands arrivals to this gate, which forwards those that pass to the LLM
//! core, turns the core's chunk boundaries and answers into stage inputs,
//! stops flagged streams with `Cancel`, and answers callers. The gate knows
//! nothing of that loop: it has its own events ([`GateEvent`]), which the
//! driver wraps in its own, schedules through a callback, and hands back to
//! [`Gate::event`].
//!
//! Draws, each from its own stream so none shifts another (nor the
//! existing `arrivals`, sizes and `router` streams): `safety/risk` (per
//! request: class, rule hit, every classifier score — beta by class),
//! `safety/classifier/<name>` (batch-time noise) and `safety/review`
//! (review times). Outages: a batch that starts while its classifier is
//! down fails at once (an error, not a hang); one already running finishes.

use crate::core::llm::{self, LlmScheduler, Served};
use crate::core::safety::{Action, Class, Escalation, Input, OutputMode, Risk, SafetyStage, Timer};
use crate::core::station::BatchId;
use crate::core::{IdMap, Outcome, RequestId};
use crate::engine::RngStreams;
use crate::metrics::safety::{PoolCounters, SafetyEnd, SafetyRecorded, SafetyRecorder, SafetySummary};
use crate::scenario::SafetyModel;
use crate::time::{SimDuration, SimTime};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution};

/// The safety pipeline's own events.
#[derive(Debug, Clone, Copy)]
pub(super) enum GateEvent {
    Classifier {
        pool: u32,
        batch: BatchId,
        ok: bool,
    },
    Timer(Timer),
    ReviewDone {
        reviewer: u32,
    },
    /// The LLM core has actions the gate's inputs left: carry them out now.
    Flush,
}

/// A caller's answer: request, outcome, what it saw (first token = first
/// tokens released to it).
pub(super) type Answer = (RequestId, Outcome, Served);

pub(super) struct Gate<'a> {
    model: &'a SafetyModel,
    stage: SafetyStage,
    risk_rng: ChaCha8Rng,
    pool_rngs: Vec<ChaCha8Rng>,
    review_rng: ChaCha8Rng,
    /// Beta score distributions per pool, by class.
    scores: Vec<[Beta<f64>; 3]>,
    /// LLM arrivals held until their input verdict.
    held: IdMap<llm::Input>,
    out: Vec<Action>,
    chunks: Vec<(RequestId, u32)>,
    counters: Vec<PoolCounters>,
    recorder: SafetyRecorder,
}

impl<'a> Gate<'a> {
    pub(super) fn new(model: &'a SafetyModel, streams: &RngStreams, window: SimDuration) -> Self {
        let c = &model.core;
        let (chunk_tokens, mode) = match c.output.mode {
            OutputMode::Whole => (None, "whole"),
            OutputMode::Streaming { chunk_tokens } => (Some(chunk_tokens), "streaming"),
        };
        let summary = SafetySummary {
            fail_open: c.fail_open,
            output_mode: mode.into(),
            chunk_tokens,
            input_pass_threshold: c.input.pass,
            input_block_threshold: c.input.block,
            output_block_threshold: c.output.block,
            invariant_nothing_unchecked: true,
            ..SafetySummary::default()
        };
        let beta = |(a, b): (f64, f64)| Beta::new(a, b).unwrap_or_else(|_| unreachable!("validated: alpha, beta > 0"));
        Gate {
            stage: SafetyStage::new(c.clone()),
            risk_rng: streams.stream("safety/risk"),
            pool_rngs: model
                .pools
                .iter()
                .map(|(name, ..)| streams.stream(&format!("safety/classifier/{name}")))
                .collect(),
            review_rng: streams.stream("safety/review"),
            scores: model.pools.iter().map(|(_, _, s)| s.map(beta)).collect(),
            held: IdMap::default(),
            out: Vec::new(),
            chunks: Vec::new(),
            counters: vec![PoolCounters::default(); model.pools.len()],
            recorder: SafetyRecorder::new(summary, window, model.audit_log),
            model,
        }
    }

    /// Streaming checks: the chunk size the LLM core must report.
    pub(super) fn chunk_tokens(&self) -> Option<u32> {
        match self.model.core.output.mode {
            OutputMode::Streaming { chunk_tokens } => Some(chunk_tokens),
            OutputMode::Whole => None,
        }
    }

    /// Requests in the pipeline (from arrival to their caller's answer).
    pub(super) fn outstanding(&self) -> u64 {
        self.stage.outstanding()
    }

    fn draw_risk(&mut self, output_tokens: u32, mix: [f64; 3]) -> Risk {
        let c = &self.model.core;
        let rng = &mut self.risk_rng;
        let u: f64 = rng.random();
        let mut acc = 0.0;
        let class = Class::ALL
            .into_iter()
            .zip(mix)
            .find(|(_, w)| {
                acc += w;
                u < acc
            })
            .map_or(Class::Harmful, |(c, _)| c);
        let k = Class::ALL.iter().position(|&x| x == class).unwrap_or(0);
        let rule_hit = rng.random::<f64>() < self.model.rule_hit[k];
        let input_scores = c.input_pools.iter().map(|&p| self.scores[p as usize][k].sample(rng)).collect();
        let escalation_score = match c.escalation {
            Some(Escalation::Classifier { pool, .. }) => self.scores[pool as usize][k].sample(rng),
            _ => 0.0,
        };
        let out = &self.scores[c.output.pool as usize][k];
        let output_scores = (0..c.output_scores(output_tokens)).map(|_| out.sample(rng)).collect();
        Risk {
            class,
            rule_hit,
            input_scores,
            escalation_score,
            reviewer_blocks: class == Class::Harmful,
            output_scores,
        }
    }

    /// A caller's request arrived; the LLM sees it only if it passes.
    /// `mix`: its sender's traffic mix (a tenant's), in place of the
    /// scenario's.
    pub(super) fn arrive(&mut self, now: SimTime, input: llm::Input, mix: Option<[f64; 3]>) {
        let llm::Input::Arrival { request, output_tokens, .. } = input else { return };
        let risk = self.draw_risk(output_tokens, mix.unwrap_or(self.model.mix));
        self.recorder.arrival(now, request, risk.class, output_tokens);
        self.held.insert(request.0, input);
        self.stage.handle(now, Input::Arrival { request, risk }, &mut self.out);
    }

    /// The caller gave up on `request`: answered `Cancelled` at once, or,
    /// once the LLM has it, its stream is stopped.
    pub(super) fn cancel(&mut self, now: SimTime, request: RequestId) {
        self.stage.handle(now, Input::Cancel { request }, &mut self.out);
    }

    pub(super) fn event(&mut self, now: SimTime, event: GateEvent) {
        let input = match event {
            GateEvent::Classifier { pool, batch, ok } => Input::ClassifierDone { pool, batch, ok },
            GateEvent::Timer(t) => Input::Timer(t),
            GateEvent::ReviewDone { reviewer } => Input::ReviewDone { reviewer },
            GateEvent::Flush => return,
        };
        self.stage.handle(now, input, &mut self.out);
    }

    /// The LLM core answered `request`.
    pub(super) fn llm_done(&mut self, now: SimTime, request: RequestId, outcome: Outcome, served: Served) {
        self.recorder.llm_done(now, request, &served);
        self.stage.handle(now, Input::LlmDone { request, outcome, served }, &mut self.out);
    }

    fn down(&self, pool: u32, now: SimTime) -> bool {
        let t = now.since(SimTime::ZERO);
        self.model.outages.iter().any(|o| o.pool == pool && o.start <= t && t < o.end)
    }

    /// Carries out the stage's decisions until it has none left: LLM
    /// inputs go to `core` (its actions into `llm_actions`), timed events
    /// to `sched`, callers' answers into `answers`.
    pub(super) fn pump(
        &mut self,
        now: SimTime,
        core: &mut LlmScheduler,
        llm_actions: &mut Vec<llm::Action>,
        sched: &mut impl FnMut(SimTime, GateEvent),
        answers: &mut Vec<Answer>,
    ) {
        loop {
            self.chunks.extend(core.drain_chunks());
            for (request, tokens) in std::mem::take(&mut self.chunks) {
                self.stage.handle(now, Input::Generated { request, tokens }, &mut self.out);
            }
            if self.out.is_empty() {
                break;
            }
            for action in std::mem::take(&mut self.out) {
                self.carry_out(now, action, core, llm_actions, sched, answers);
            }
        }
        self.recorder.backlog(now, self.stage.review_backlog());
    }

    fn carry_out(
        &mut self,
        now: SimTime,
        action: Action,
        core: &mut LlmScheduler,
        llm_actions: &mut Vec<llm::Action>,
        sched: &mut impl FnMut(SimTime, GateEvent),
        answers: &mut Vec<Answer>,
    ) {
        match action {
            Action::StartClassifier { pool, batch, size, .. } => {
                let down = self.down(pool, now);
                let c = &mut self.counters[pool as usize];
                c.batches += 1;
                c.checks += u64::from(size);
                if down {
                    c.failed_checks += u64::from(size);
                    sched(now, GateEvent::Classifier { pool, batch, ok: false });
                    return;
                }
                let time = &self.model.pools[pool as usize].1;
                let mut t = time.base.0 + time.per_item.0 * u64::from(size);
                if let Some(j) = &time.jitter {
                    t = (t as f64 * j.sample(&mut self.pool_rngs[pool as usize])).round() as u64;
                }
                self.counters[pool as usize].busy_ns += t;
                sched(now + SimDuration(t), GateEvent::Classifier { pool, batch, ok: true });
            }
            Action::ArmTimer { at, timer } => sched(at, GateEvent::Timer(timer)),
            Action::StartReview { reviewer, enqueued, .. } => {
                self.recorder.review_started(now, enqueued);
                let secs = self.model.review_time.map_or(0.0, |d| d.sample(&mut self.review_rng));
                let at = now + SimDuration::from_secs_f64(secs);
                sched(at, GateEvent::ReviewDone { reviewer });
            }
            Action::Forward { request } => {
                self.recorder.forwarded(now, request);
                if let Some(input) = self.held.remove(&request.0) {
                    core.handle(now, input, llm_actions);
                }
            }
            Action::Stop { request } => core.handle(now, llm::Input::Cancel { request }, llm_actions),
            Action::Release { request, upto } => self.recorder.released(request, upto),
            Action::Respond { request, outcome, served, first_release } => {
                let held = self.held.remove(&request.0);
                let Some(arrived) = self.recorder.respond(now, request, outcome, served.as_ref(), first_release) else {
                    return;
                };
                let caller = match served {
                    // What the caller saw: from its own arrival (the LLM
                    // saw it only once it passed) to its first released tokens.
                    Some(s) => Served { arrived, first_token: first_release.or(Some(now)), ..s },
                    None => {
                        let prompt_tokens = match held {
                            Some(llm::Input::Arrival { prompt_tokens, .. }) => prompt_tokens,
                            _ => 0,
                        };
                        Served {
                            arrived,
                            admitted: None,
                            first_token: None,
                            last_token: None,
                            prompt_tokens,
                            output_tokens: 0,
                        }
                    }
                };
                answers.push((request, outcome, caller));
            }
            Action::Decision(d) => self.recorder.decision(now, &d),
        }
    }

    /// The summary section and the report's extra files.
    pub(super) fn finish(mut self, end: SimTime, gpu_busy_s: f64) -> (SafetySummary, SafetyRecorded) {
        let c = &self.model.core;
        let pools = self
            .model
            .pools
            .iter()
            .zip(&c.pools)
            .zip(&self.counters)
            .map(|(((name, ..), station), counters)| (name.clone(), station.servers, station.max_batch, *counters))
            .collect();
        let reviewers = match c.escalation {
            Some(Escalation::Review(r)) => Some(r.reviewers),
            _ => None,
        };
        let outages: Vec<(String, SimDuration, SimDuration)> =
            self.model.outages.iter().map(|o| (self.model.pools[o.pool as usize].0.clone(), o.start, o.end)).collect();
        let facts = SafetyEnd { end, pools, reviewers, gpu_busy_s, outages: &outages };
        self.recorder.finish(facts, self.model.latency_slo_p99);
        let recorded = self.recorder.take_recorded();
        (self.recorder.summary, recorded)
    }
}
