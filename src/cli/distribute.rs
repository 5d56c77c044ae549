//! `servesim distribute`: how long until every node holds the model
//! weights, per strategy, against the theoretical lower bound.

use super::{CommonFlags, Failure};
use anyhow::anyhow;
use clap::Args;
use servesim::distribute::{self, report};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct DistributeArgs {
    /// Distribution scenario (TOML), e.g. scenarios/weights-70b-2000-nodes.toml.
    scenario: PathBuf,
    /// Report folder. Default: reports/<scenario name>/.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    flags: CommonFlags,
}

pub fn distribute(args: DistributeArgs) -> Result<ExitCode, Failure> {
    let mut plan = distribute::load(&args.scenario, args.flags.set_overrides()?).map_err(Failure::input)?;
    if let Some(seed) = args.flags.seed {
        plan.seed = seed;
    }
    let out = args.out.unwrap_or_else(|| PathBuf::from("reports").join(&plan.name));
    servesim::report::check_out(&out)?;
    let result = distribute::run(&plan);
    let files = report::render(&result, &servesim::report::question_at(&args.scenario)).map_err(Failure::failed)?;
    let dir = servesim::report::write_files(&out, &files)?;
    let s = &result.summary;
    if !args.flags.quiet {
        let b = &s.lower_bound;
        say!(
            "{} (seed {}): {} nodes, {:.1} GB in {} chunks; lower bound {} (F/u_s {}, F/d_min {}, N·F/(u_s+Σu) {})",
            s.scenario,
            s.seed,
            s.fleet.nodes,
            s.weights.file_bytes as f64 / 1e9,
            s.weights.chunks,
            report::humane_secs(b.lower_bound_s),
            report::humane_secs(b.origin_s),
            report::humane_secs(b.slowest_download_s),
            report::humane_secs(b.aggregate_upload_s),
        );
        print!("{}", report::table(s));
        say!("  report: {}", dir.display());
    }
    let broken: Vec<&str> = s.strategies.iter().filter(|r| !r.invariants.all_hold).map(|r| r.strategy).collect();
    if !broken.is_empty() {
        return Err(Failure::failed(anyhow!(
            "invariants violated for {} (see the Checks section of {}/summary.md); reproduce with --seed {}",
            broken.join(", "),
            dir.display(),
            s.seed
        )));
    }
    Ok(ExitCode::SUCCESS)
}
