//! The safety stage's state machine (see the module docs for the path of a
//! request). Requests and checks in flight live in id-keyed maps that are
//! never iterated, so hash order cannot reach a decision.

use super::review::{Next, ReviewQueue};
use super::stream::Stream;
use super::{Action, Check, Class, Decision, Escalation, Input, OutputMode, Risk, Route, SafetyConfig, Timer, Verdict};
use crate::llm::Served;
use crate::station::{self, Scheduler};
use crate::time::SimTime;
use crate::{IdMap, Outcome, RequestId};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What a check in flight is for.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// The input classifier number `i` (of `input_pools`).
    Input(usize),
    Escalation,
    /// Output tokens `..upto`, chunk number `chunk`.
    Output {
        upto: u32,
        chunk: u32,
    },
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    request: RequestId,
    kind: Kind,
}

struct Req {
    risk: Risk,
    /// Input checks still out, and the highest score so far.
    input_left: usize,
    input_max: f64,
    stream: Stream,
    /// The LLM core's answer, once it came.
    llm: Option<(Outcome, Served)>,
    /// A check stopped its stream: the caller's outcome.
    stopped: Option<Outcome>,
    /// Sent to the LLM core.
    forwarded: bool,
}

/// A request under human review.
struct Reviewing {
    class: Class,
    blocks: bool,
    /// Its caller waits for the verdict (no holding refusal).
    waiting: bool,
}

pub struct SafetyStage {
    config: SafetyConfig,
    pools: Vec<Scheduler>,
    requests: IdMap<Req>,
    checks: IdMap<Pending>,
    next_check: u64,
    review: Option<ReviewQueue>,
    reviewing: IdMap<Reviewing>,
}

impl SafetyStage {
    /// Classifier pools use a shared queue, so their router never draws.
    pub fn new(config: SafetyConfig) -> Self {
        let pools = config.pools.iter().map(|p| Scheduler::new(p.clone(), ChaCha8Rng::seed_from_u64(0))).collect();
        let review = match config.escalation {
            Some(Escalation::Review(r)) => Some(ReviewQueue::new(r)),
            _ => None,
        };
        SafetyStage {
            config,
            pools,
            requests: IdMap::default(),
            checks: IdMap::default(),
            next_check: 0,
            review,
            reviewing: IdMap::default(),
        }
    }

    /// Requests the stage holds (in a check, under review, or generating).
    pub fn outstanding(&self) -> u64 {
        self.requests.len() as u64
    }

    /// Requests waiting for a human reviewer.
    pub fn review_backlog(&self) -> u64 {
        self.review.as_ref().map_or(0, ReviewQueue::backlog)
    }

    pub fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Action>) {
        match input {
            Input::Arrival { request, risk } => {
                let n = self.config.input_pools.len();
                let stream = Stream::default();
                let req =
                    Req { risk, input_left: n, input_max: 0.0, stream, llm: None, stopped: None, forwarded: false };
                self.requests.insert(request.0, req);
                out.push(Action::ArmTimer { at: now + self.config.rule_latency, timer: Timer::Rules(request) });
            }
            Input::Timer(Timer::Rules(request)) => self.after_rules(now, request, out),
            Input::Timer(Timer::Deadline(check)) => {
                if let Some(p) = self.checks.remove(&check) {
                    self.failed(now, p, out);
                }
            }
            Input::Timer(Timer::Pool { pool, queue, at }) => {
                self.pool(now, pool, station::Input::Timer { queue, at }, true, out)
            }
            Input::Timer(Timer::ReviewOpens) => {
                let mut next = Vec::new();
                if let Some(q) = self.review.as_mut() {
                    q.wake(now, &mut next);
                }
                self.review_next(next, out);
            }
            Input::ClassifierDone { pool, batch, ok } => {
                self.pool(now, pool, station::Input::BatchDone { batch }, ok, out)
            }
            Input::ReviewDone { reviewer } => self.review_done(now, reviewer, out),
            Input::Generated { request, tokens } => {
                if matches!(self.config.output.mode, OutputMode::Streaming { .. }) {
                    self.ask_output(now, request, tokens, out);
                }
            }
            Input::LlmDone { request, outcome, served } => self.llm_done(now, request, outcome, served, out),
            Input::Cancel { request } => {
                let Some(req) = self.requests.get(&request.0) else { return };
                if req.stopped.is_some() {
                    // Already stopping; its outcome stands.
                } else if req.forwarded && req.llm.is_none() {
                    self.stop(request, Outcome::Cancelled, out);
                } else {
                    self.respond(request, Outcome::Cancelled, out);
                }
            }
        }
    }

    fn decide(&self, out: &mut Vec<Action>, request: RequestId, check: Check, verdict: Verdict, score: Option<f64>) {
        let Some(req) = self.requests.get(&request.0) else { return };
        out.push(Action::Decision(Decision { request, class: req.risk.class, check, verdict, score, upto: 0 }));
    }

    fn after_rules(&mut self, now: SimTime, request: RequestId, out: &mut Vec<Action>) {
        let Some(req) = self.requests.get(&request.0) else { return };
        if req.risk.rule_hit {
            self.decide(out, request, Check::Rules, Verdict::Block, None);
            return self.respond(request, Outcome::Refused, out);
        }
        self.decide(out, request, Check::Rules, Verdict::Pass, None);
        for (i, pool) in self.config.input_pools.clone().into_iter().enumerate() {
            self.submit(now, pool, Pending { request, kind: Kind::Input(i) }, out);
        }
    }

    /// Sends one check to `pool`, with its deadline.
    fn submit(&mut self, now: SimTime, pool: u32, pending: Pending, out: &mut Vec<Action>) {
        let id = self.next_check;
        self.next_check += 1;
        self.checks.insert(id, pending);
        out.push(Action::ArmTimer { at: now + self.config.timeout, timer: Timer::Deadline(id) });
        self.pool(now, pool, station::Input::Arrival { request: RequestId(id) }, true, out);
    }

    /// Feeds a classifier pool's batcher and carries out what it asks;
    /// `ok = false`: the batch it answers failed.
    fn pool(&mut self, now: SimTime, pool: u32, input: station::Input, ok: bool, out: &mut Vec<Action>) {
        let Some(p) = self.pools.get_mut(pool as usize) else { return };
        let mut actions = Vec::new();
        p.handle(now, input, &mut actions);
        for action in actions {
            match action {
                station::Action::StartBatch { batch, server, size } => {
                    out.push(Action::StartClassifier { pool, batch, server, size })
                }
                station::Action::ArmTimer { queue, at } => {
                    out.push(Action::ArmTimer { at, timer: Timer::Pool { pool, queue, at } })
                }
                station::Action::Respond { request, outcome, .. } => {
                    // A check past its deadline was answered already.
                    let Some(p) = self.checks.remove(&request.0) else { continue };
                    if ok && outcome == Outcome::Completed {
                        self.result(now, p, out);
                    } else {
                        self.failed(now, p, out);
                    }
                }
            }
        }
    }

    fn result(&mut self, now: SimTime, p: Pending, out: &mut Vec<Action>) {
        let Some(req) = self.requests.get_mut(&p.request.0) else { return };
        match p.kind {
            Kind::Input(i) => {
                let score = req.risk.input_scores.get(i).copied().unwrap_or(0.0);
                self.input_score(now, p.request, score, out);
            }
            Kind::Escalation => {
                let score = req.risk.escalation_score;
                let Some(Escalation::Classifier { block, .. }) = self.config.escalation else { return };
                let blocked = score >= block;
                let verdict = if blocked { Verdict::Block } else { Verdict::Pass };
                self.decide(out, p.request, Check::Escalation, verdict, Some(score));
                self.admit(p.request, !blocked, out);
            }
            Kind::Output { upto, chunk } => {
                if req.stopped.is_some() {
                    return;
                }
                let scores = &req.risk.output_scores;
                let score = scores.get(chunk as usize).or(scores.last()).copied().unwrap_or(0.0);
                if score >= self.config.output.block {
                    self.output_decision(p.request, upto, Verdict::Block, Some(score), out);
                    self.stop(p.request, Outcome::Refused, out);
                } else {
                    self.output_decision(p.request, upto, Verdict::Pass, Some(score), out);
                    self.release(now, p.request, upto, out);
                }
            }
        }
    }

    /// A check could not run: refuse or stop (fail closed), or let the
    /// content pass and say so (fail open).
    fn failed(&mut self, now: SimTime, p: Pending, out: &mut Vec<Action>) {
        let Some(req) = self.requests.get(&p.request.0) else { return };
        let open = self.config.fail_open;
        let verdict = if open { Verdict::FailedOpen } else { Verdict::Unavailable };
        match p.kind {
            Kind::Input(_) if open => {
                self.decide(out, p.request, Check::Input, verdict, None);
                self.input_score(now, p.request, 0.0, out);
            }
            Kind::Escalation if open => {
                self.decide(out, p.request, Check::Escalation, verdict, None);
                self.admit(p.request, true, out);
            }
            Kind::Input(_) | Kind::Escalation => {
                let check = if matches!(p.kind, Kind::Escalation) { Check::Escalation } else { Check::Input };
                self.decide(out, p.request, check, verdict, None);
                self.respond(p.request, Outcome::SafetyUnavailable, out);
            }
            Kind::Output { upto, .. } => {
                if req.stopped.is_some() {
                    return;
                }
                self.output_decision(p.request, upto, verdict, None, out);
                if open {
                    self.release(now, p.request, upto, out);
                } else {
                    self.stop(p.request, Outcome::SafetyUnavailable, out);
                }
            }
        }
    }

    fn output_decision(
        &self,
        request: RequestId,
        upto: u32,
        verdict: Verdict,
        score: Option<f64>,
        out: &mut Vec<Action>,
    ) {
        let Some(req) = self.requests.get(&request.0) else { return };
        let d = Decision { request, class: req.risk.class, check: Check::Output, verdict, score, upto };
        out.push(Action::Decision(d));
    }

    /// One input classifier answered `score`; route once all have.
    fn input_score(&mut self, now: SimTime, request: RequestId, score: f64, out: &mut Vec<Action>) {
        let Some(req) = self.requests.get_mut(&request.0) else { return };
        req.input_max = req.input_max.max(score);
        req.input_left -= 1;
        if req.input_left > 0 {
            return;
        }
        let max = req.input_max;
        let class = req.risk.class;
        let blocks = req.risk.reviewer_blocks;
        match self.config.input.route(max) {
            Route::Pass => {
                self.decide(out, request, Check::Input, Verdict::Pass, Some(max));
                self.admit(request, true, out);
            }
            Route::Block => {
                self.decide(out, request, Check::Input, Verdict::Block, Some(max));
                self.admit(request, false, out);
            }
            Route::Escalate => {
                self.decide(out, request, Check::Input, Verdict::Escalate, Some(max));
                match self.config.escalation {
                    None => self.admit(request, true, out),
                    Some(Escalation::Classifier { pool, .. }) => {
                        self.submit(now, pool, Pending { request, kind: Kind::Escalation }, out)
                    }
                    Some(Escalation::Review(cfg)) => {
                        let waiting = !cfg.holding_refusal;
                        self.reviewing.insert(request.0, Reviewing { class, blocks, waiting });
                        let mut next = Vec::new();
                        if let Some(q) = self.review.as_mut() {
                            q.push(now, request, &mut next);
                        }
                        if !waiting {
                            self.respond(request, Outcome::Refused, out);
                        }
                        self.review_next(next, out);
                    }
                }
            }
        }
    }

    fn review_next(&mut self, next: Vec<Next>, out: &mut Vec<Action>) {
        for n in next {
            match n {
                Next::Start { reviewer, request, enqueued } => {
                    out.push(Action::StartReview { reviewer, request, enqueued })
                }
                Next::WakeAt(at) => out.push(Action::ArmTimer { at, timer: Timer::ReviewOpens }),
            }
        }
    }

    fn review_done(&mut self, now: SimTime, reviewer: u32, out: &mut Vec<Action>) {
        let mut next = Vec::new();
        let done = self.review.as_mut().and_then(|q| q.done(now, reviewer, &mut next));
        if let Some(r) = done.and_then(|d| self.reviewing.remove(&d.request.0).map(|r| (d.request, r))) {
            let (request, Reviewing { class, blocks, waiting }) = r;
            let verdict = if blocks { Verdict::Block } else { Verdict::Pass };
            out.push(Action::Decision(Decision {
                request,
                class,
                check: Check::Review,
                verdict,
                score: None,
                upto: 0,
            }));
            if waiting {
                self.admit(request, !blocks, out);
            }
        }
        self.review_next(next, out);
    }

    /// The input side's last word: serve it, or refuse it.
    fn admit(&mut self, request: RequestId, pass: bool, out: &mut Vec<Action>) {
        let Some(req) = self.requests.get_mut(&request.0) else { return };
        if pass {
            req.forwarded = true;
            out.push(Action::Forward { request });
        } else {
            self.respond(request, Outcome::Refused, out);
        }
    }

    fn ask_output(&mut self, now: SimTime, request: RequestId, upto: u32, out: &mut Vec<Action>) {
        let Some(req) = self.requests.get_mut(&request.0) else { return };
        if req.stopped.is_some() {
            return;
        }
        if let Some(chunk) = req.stream.ask(upto) {
            self.submit(now, self.config.output.pool, Pending { request, kind: Kind::Output { upto, chunk } }, out);
        }
    }

    fn llm_done(&mut self, now: SimTime, request: RequestId, outcome: Outcome, served: Served, out: &mut Vec<Action>) {
        let Some(req) = self.requests.get_mut(&request.0) else { return };
        req.llm = Some((outcome, served));
        if let Some(stopped) = req.stopped {
            return self.respond(request, stopped, out);
        }
        if outcome != Outcome::Completed {
            return self.respond(request, outcome, out);
        }
        self.ask_output(now, request, served.output_tokens, out);
        self.finish_if_released(request, out);
    }

    fn release(&mut self, now: SimTime, request: RequestId, upto: u32, out: &mut Vec<Action>) {
        let Some(req) = self.requests.get_mut(&request.0) else { return };
        if let Some(upto) = req.stream.pass(now, upto) {
            out.push(Action::Release { request, upto });
        }
        self.finish_if_released(request, out);
    }

    /// Answers a completed response once the caller holds all of it.
    fn finish_if_released(&mut self, request: RequestId, out: &mut Vec<Action>) {
        let Some(req) = self.requests.get(&request.0) else { return };
        if let Some((Outcome::Completed, served)) = req.llm {
            if req.stream.released() >= served.output_tokens {
                self.respond(request, Outcome::Completed, out);
            }
        }
    }

    /// A check stopped the stream: stop generating, answer when the LLM has.
    fn stop(&mut self, request: RequestId, outcome: Outcome, out: &mut Vec<Action>) {
        let Some(req) = self.requests.get_mut(&request.0) else { return };
        req.stopped = Some(outcome);
        if req.llm.is_some() {
            self.respond(request, outcome, out);
        } else {
            out.push(Action::Stop { request });
        }
    }

    fn respond(&mut self, request: RequestId, outcome: Outcome, out: &mut Vec<Action>) {
        let Some(req) = self.requests.remove(&request.0) else { return };
        let served = req.llm.map(|(_, s)| s);
        out.push(Action::Respond { request, outcome, served, first_release: req.stream.first_release() });
    }
}
