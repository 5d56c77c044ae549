//! `servesim merge`: the shard folders of one sweep, combined into the
//! report the unsharded sweep writes, byte for byte — or, if they do not
//! make one whole sweep, an error and nothing written.

use super::Failure;
use clap::Args;
use servesim::plan::sweep::{part, table};
use servesim::report;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The shard folders (`servesim sweep --shard I/N` for every I of N), in any order.
    #[arg(required = true, value_name = "DIR")]
    shards: Vec<PathBuf>,
    /// Output folder. Default: reports/<scenario name>-sweep/, as the unsharded sweep writes.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print only errors.
    #[arg(long, short)]
    quiet: bool,
}

pub fn merge(args: MergeArgs) -> Result<ExitCode, Failure> {
    if let Some(out) = &args.out {
        report::check_out(out)?;
    }
    let (spec, runs) = part::merge(&args.shards).map_err(Failure::input)?;
    let out = args.out.unwrap_or_else(|| PathBuf::from("reports").join(format!("{}-sweep", spec.scenario)));
    let rendered = table::render(&spec, &runs);
    let shown = rendered.shown.clone();
    let dir = report::write_files(&out, &rendered.files())?;
    if !args.quiet {
        print!("{shown}");
        say!("report: {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}
