//! `servesim run`: one scenario, one report folder.

use super::{Failure, ScenarioFlags};
use anyhow::anyhow;
use clap::Args;
use servesim::{report, sim};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Scenario file (TOML), e.g. scenarios/single-gpu-batching.toml.
    scenario: PathBuf,
    /// Report folder. Default: reports/<scenario name>/.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    flags: ScenarioFlags,
}

pub fn run(args: RunArgs) -> Result<ExitCode, Failure> {
    let scenario = args.flags.load(&args.scenario)?;
    let text = std::fs::read_to_string(&args.scenario).unwrap_or_default();
    let recorded = sim::run(&scenario);
    let out = args.out.unwrap_or_else(|| PathBuf::from("reports").join(&scenario.name));
    let dir = report::write(&out, &recorded, &report::question_of(&text)).map_err(Failure::failed)?;
    let s = &recorded.summary;
    if !args.flags.quiet {
        let e2e = &s.latency.end_to_end;
        let outcomes: Vec<String> =
            s.requests.by_outcome.iter().filter(|(_, &n)| n > 0).map(|(name, n)| format!("{name} {n}")).collect();
        println!(
            "{} (seed {}): {} requests offered; outcomes: {}",
            s.scenario,
            s.seed,
            s.requests.offered,
            outcomes.join(", ")
        );
        println!(
            "  end-to-end latency: mean {:.3} ms, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            e2e.mean_s * 1e3,
            e2e.p50_s * 1e3,
            e2e.p99_s * 1e3,
            e2e.max_s * 1e3
        );
        println!(
            "  throughput {:.3} req/s, GPU utilization {:.1}%, mean batch {:.2}",
            s.throughput.completed_per_s,
            s.servers.utilization_mean * 100.0,
            s.batching.mean_size
        );
        println!("  report: {}", dir.display());
    }
    if !s.invariants.all_hold {
        return Err(Failure::failed(anyhow!(
            "invariants violated (see the Checks section of {}/summary.md); reproduce with --seed {}",
            dir.display(),
            s.seed
        )));
    }
    Ok(ExitCode::SUCCESS)
}
