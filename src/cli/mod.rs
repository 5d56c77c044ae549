//! Subcommands, one file each; shared flags (`flags.rs`) and the exit-code
//! convention (`failure.rs`) below them, so that no subcommand depends on
//! the file that dispatches to it.

/// `println!` that stops quietly when stdout is closed (`servesim schema |
/// head`): a reader that has seen enough is not an error to panic on.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod backend;
mod calibrate;
mod check;
mod compare;
mod distribute;
mod failure;
mod fidelity;
mod flags;
mod merge;
mod plan;
mod profiles;
mod run;
mod schema;
mod swarm;
mod sweep;
mod tradeoff;
mod validate;

pub use failure::Failure;
pub use flags::{CommonFlags, ScenarioFlags};

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "servesim",
    version,
    about = "Deterministic discrete-event simulator and capacity-planning workbench for LLM inference serving",
    long_about = "Deterministic discrete-event simulator and capacity-planning workbench for LLM inference serving.\n\n\
Start with:\n  servesim run scenarios/single-gpu-batching.toml     # writes reports/single-gpu-batching/\n  \
servesim sweep scenarios/single-gpu-batching.toml --vary workload.rate_per_s=50,100,125 --slo-p99 250ms\n  \
servesim validate                                    # simulator vs queueing theory\n  \
servesim schema                                      # every scenario key, as JSON Schema\n\n\
Same scenario + same seed => byte-identical summary.json."
)]
pub struct Cli {
    #[command(flatten)]
    global: flags::GlobalFlags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a scenario file and write its report folder.
    Run(run::RunArgs),
    /// Find the cheapest configuration of a scenario's `[plan]` search space that meets every SLO.
    Plan(plan::PlanArgs),
    /// Run a scenario over a grid of key values (e.g. the arrival rate), replicated or sharded, and tabulate the knee.
    Sweep(sweep::SweepArgs),
    /// Combine the shard folders of a sharded sweep into the report the unsharded sweep writes.
    Merge(merge::MergeArgs),
    /// Sweep a safety threshold: helpfulness (benign pass rate) vs safety (harmful block rate) vs added latency.
    Tradeoff(tradeoff::TradeoffArgs),
    /// Compare scenarios, or one scenario under --variant overrides, side by side on the same seeded workload.
    Compare(compare::CompareArgs),
    /// Check the simulator against queueing-theory formulas (M/M/c, M/G/1, PS, bulk service, batcher).
    Validate(validate::ValidateArgs),
    /// Print the JSON Schema of scenario files.
    Schema,
    /// Distribute model weights to a fleet: sequential, fan-out, tree, swarm, rack-aware swarm vs the lower bound.
    Distribute(distribute::DistributeArgs),
    /// Measure real steps (cpu or cuda executor) or take a saved sweep (--refit) and fit the step-time model, or fit the engine step model to measured serving runs (--benchmarks); write a calibrated profile.
    Calibrate(calibrate::CalibrateArgs),
    /// Run a scenario live and simulated with a calibrated profile; per-metric error.
    Fidelity(fidelity::FidelityArgs),
    /// Swarm-test the simulator: draw a whole scenario from each seed, run it, check every invariant.
    Swarm(swarm::SwarmArgs),
    /// List every GPU, model and calibrated profile (built-in and yours), where it comes from, and its key numbers.
    Profiles(profiles::ProfilesArgs),
    /// The CI gate: run scenarios (or read summary.json files) and evaluate their [check] assertions; exit 1 on a failure.
    Check(check::CheckArgs),
}

pub fn dispatch(cli: Cli) -> Result<ExitCode, Failure> {
    cli.global.apply()?;
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Plan(args) => plan::plan(args),
        Command::Sweep(args) => sweep::sweep(args),
        Command::Merge(args) => merge::merge(args),
        Command::Tradeoff(args) => tradeoff::tradeoff(args),
        Command::Compare(args) => compare::compare(args),
        Command::Validate(args) => validate::validate(args),
        Command::Schema => schema::schema(),
        Command::Distribute(args) => distribute::distribute(args),
        Command::Calibrate(args) => calibrate::calibrate(args),
        Command::Fidelity(args) => fidelity::fidelity(args),
        Command::Swarm(args) => swarm::swarm(args),
        Command::Profiles(args) => profiles::profiles(args),
        Command::Check(args) => check::check(args),
    }
}
