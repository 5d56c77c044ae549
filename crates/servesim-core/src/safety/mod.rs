//! The safety pipeline as a serving stage: checks with their own capacity,
//! latency and failure modes, gating what reaches the GPUs and the callers.
//!
//! Why it is part of the core: in the systems this tool models, a response
//! that is fast but unchecked is a failure even when every latency SLO is
//! green, so *whether* content may pass is a scheduling decision like any
//! other — made here, sans-IO and clock-free, from `(now, Input)`. The
//! driver draws every random quantity (traffic class, classifier scores,
//! classifier and review times) and models outages; the stage decides.
//!
//! The path of one request ([`SafetyStage`]):
//! 1. **Rule filter** (in process, microseconds): a hit blocks at once.
//! 2. **Input classifiers**, one per harm category, checked in parallel,
//!    each on its own classifier pool (servers, bounded queue, batching —
//!    the batching station of `station`, not the inference GPUs).
//! 3. **Confidence routing** on the highest category score: below
//!    `pass` passes, at or above `block` is refused, the middle band is
//!    escalated to an extra classifier or to the human review queue
//!    ([`review`]), where the caller waits or gets a holding refusal.
//! 4. The request goes to the LLM core (`Action::Forward`).
//! 5. **Output check**: the whole response once generated, or — streaming
//!    — each chunk of N tokens as the LLM produces it; a chunk reaches the
//!    caller (`Action::Release`) only after it and every earlier chunk
//!    passed ([`stream`]). A flagged chunk stops generation at once
//!    (`Action::Stop`, a `Cancel` to the LLM core) and only that caller is
//!    refused.
//!
//! **Fail closed**: a check that cannot run — its pool is down, its queue
//! is full (load is shed there, never by skipping the check) or it misses
//! its deadline — refuses the request (`SafetyUnavailable`) or stops the
//! stream. `fail_open` (a what-if) lets it pass instead and says so: each
//! such decision is a `FailedOpen` verdict, and the metrics count every
//! token it lets through unchecked.
//!
//! Every decision is reported as [`Action::Decision`] (the audit trail the
//! metrics and the invariant checker read). Cost: O(categories) per
//! request in, O(1) amortized per check, O(log n) per timer.

mod hours;
pub mod review;
mod stage;
pub mod stream;

pub use hours::WorkingHours;
pub use stage::SafetyStage;

use super::station::{BatchId, StationConfig};
use super::{Outcome, RequestId};
use crate::llm::Served;
use crate::time::{SimDuration, SimTime};

/// A request's modeled risk: what a perfect judge would say of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Benign,
    Borderline,
    Harmful,
}

impl Class {
    pub const ALL: [Class; 3] = [Class::Benign, Class::Borderline, Class::Harmful];

    pub fn name(self) -> &'static str {
        match self {
            Class::Benign => "benign",
            Class::Borderline => "borderline",
            Class::Harmful => "harmful",
        }
    }
}

/// Confidence routing: `score < pass` passes, `score >= block` is blocked,
/// anything between is escalated. `0 <= pass <= block <= 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub pass: f64,
    pub block: f64,
}

/// Where a score sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Pass,
    Escalate,
    Block,
}

impl Thresholds {
    pub fn route(&self, score: f64) -> Route {
        if score >= self.block {
            Route::Block
        } else if score < self.pass {
            Route::Pass
        } else {
            Route::Escalate
        }
    }
}

/// Where the middle band goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Escalation {
    /// An extra classifier (pool `pool`); it blocks at `block` and above.
    Classifier { pool: u32, block: f64 },
    /// The human review queue.
    Review(review::ReviewConfig),
}

/// How generated text is checked before it reaches the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// One check of the whole response once it is generated.
    Whole,
    /// One check per chunk of `chunk_tokens`, released in order once passed.
    Streaming { chunk_tokens: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutputCheck {
    pub pool: u32,
    pub mode: OutputMode,
    /// A chunk scoring at least this is flagged.
    pub block: f64,
}

/// The stage's settings (see the scenario's `[safety]` table).
#[derive(Debug, Clone, PartialEq)]
pub struct SafetyConfig {
    /// Classifier pools: each its own servers, queue and batching.
    pub pools: Vec<StationConfig>,
    pub rule_latency: SimDuration,
    /// Pools of the input classifiers, one per harm category.
    pub input_pools: Vec<u32>,
    pub input: Thresholds,
    /// Where the middle band goes (None: it passes).
    pub escalation: Option<Escalation>,
    pub output: OutputCheck,
    /// A check without a result this long after it was asked for fails.
    pub timeout: SimDuration,
    /// What-if only: failed checks pass instead of refusing.
    pub fail_open: bool,
}

impl SafetyConfig {
    /// Output chunk scores a request needs: one per chunk, or one.
    pub fn output_scores(&self, output_tokens: u32) -> u32 {
        match self.output.mode {
            OutputMode::Whole => 1,
            OutputMode::Streaming { chunk_tokens } => output_tokens.div_ceil(chunk_tokens.max(1)).max(1),
        }
    }
}

/// Everything the driver drew for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Risk {
    pub class: Class,
    /// The rule filter matches it.
    pub rule_hit: bool,
    /// One score per input classifier, in `input_pools` order.
    pub input_scores: Vec<f64>,
    /// The extra classifier's score (escalation to a classifier).
    pub escalation_score: f64,
    /// A human reviewer would block it.
    pub reviewer_blocks: bool,
    /// Output classifier scores, one per chunk (whole mode: one).
    pub output_scores: Vec<f64>,
}

/// Which check a decision comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    Rules,
    Input,
    Escalation,
    Review,
    Output,
}

impl Check {
    pub fn name(self) -> &'static str {
        match self {
            Check::Rules => "rules",
            Check::Input => "input",
            Check::Escalation => "escalation",
            Check::Review => "review",
            Check::Output => "output",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Pass,
    Block,
    Escalate,
    /// The check could not run (outage, full queue, deadline): fail closed.
    Unavailable,
    /// The check could not run and `fail_open` let the content pass.
    FailedOpen,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Block => "block",
            Verdict::Escalate => "escalate",
            Verdict::Unavailable => "unavailable",
            Verdict::FailedOpen => "failed_open",
        }
    }
}

/// One decision of the pipeline (a line of the audit log).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub request: RequestId,
    pub class: Class,
    pub check: Check,
    pub verdict: Verdict,
    /// The score it was made on (None: no score — rules, review, failures).
    pub score: Option<f64>,
    /// Output checks: the response's tokens `..upto` this decision covers.
    pub upto: u32,
}

/// Timers the stage arms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The rule filter finished with `request`.
    Rules(RequestId),
    /// Check `check` must have a result by now.
    Deadline(u64),
    /// A classifier pool's batching flush timer.
    Pool { pool: u32, queue: u32, at: SimTime },
    /// Reviewers' working hours start.
    ReviewOpens,
}

/// What the driver tells the stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A caller's request arrived, with its drawn risk.
    Arrival {
        request: RequestId,
        risk: Risk,
    },
    Timer(Timer),
    /// A classifier batch ended; `ok = false`: it failed (pool down).
    ClassifierDone {
        pool: u32,
        batch: BatchId,
        ok: bool,
    },
    /// A reviewer finished the review it started.
    ReviewDone {
        reviewer: u32,
    },
    /// The LLM produced `tokens` tokens of `request` so far (streaming).
    Generated {
        request: RequestId,
        tokens: u32,
    },
    /// The LLM core answered `request`.
    LlmDone {
        request: RequestId,
        outcome: Outcome,
        served: Served,
    },
    /// The caller gave up: answer it `Cancelled` now, or — while the LLM
    /// generates it — stop the stream and answer once the LLM has. Pending
    /// checks of it are ignored; a review under way still completes.
    Cancel {
        request: RequestId,
    },
}

/// What the stage asks the driver to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Run a batch of `size` checks on server `server` of `pool`.
    StartClassifier {
        pool: u32,
        batch: BatchId,
        server: u32,
        size: u32,
    },
    ArmTimer {
        at: SimTime,
        timer: Timer,
    },
    /// Reviewer `reviewer` starts reviewing `request` (queued since
    /// `enqueued`); answer `ReviewDone`.
    StartReview {
        reviewer: u32,
        request: RequestId,
        enqueued: SimTime,
    },
    /// Serve `request` (to the LLM core).
    Forward {
        request: RequestId,
    },
    /// Stop generating `request` (a `Cancel` to the LLM core).
    Stop {
        request: RequestId,
    },
    /// The caller of `request` now holds its tokens `..upto`.
    Release {
        request: RequestId,
        upto: u32,
    },
    /// The caller's final answer. `served` is the LLM's record (None if it
    /// never reached the LLM); `first_release` when its first tokens
    /// reached the caller.
    Respond {
        request: RequestId,
        outcome: Outcome,
        served: Option<Served>,
        first_release: Option<SimTime>,
    },
    Decision(Decision),
}
