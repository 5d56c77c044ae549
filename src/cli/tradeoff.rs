//! `servesim tradeoff`: where should the safety thresholds go? A safety
//! scenario swept over one threshold; a table and two plots.

use super::{Failure, ScenarioFlags};
use anyhow::anyhow;
use clap::Args;
use servesim::plan::tradeoff;
use servesim::report;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct TradeoffArgs {
    /// Scenario file with a `[safety]` table.
    scenario: PathBuf,
    /// The threshold to sweep.
    #[arg(long, default_value = tradeoff::DEFAULT_KEY)]
    key: String,
    /// Its values, e.g. 0.5,0.6,0.7,0.8,0.9,0.95.
    #[arg(long, value_name = "V1,V2,...", default_value = "0.5,0.6,0.7,0.8,0.9,0.95")]
    values: String,
    /// Output folder. Default: reports/<scenario name>-tradeoff/.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    flags: ScenarioFlags,
}

pub fn tradeoff(args: TradeoffArgs) -> Result<ExitCode, Failure> {
    super::flags::check_key("--key", &args.key)?;
    let values: Vec<String> = args.values.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
    if values.is_empty() {
        return Err(Failure::input(anyhow!("--values: expected V1,V2,... e.g. 0.5,0.7,0.9")));
    }
    let source = args.flags.source(&args.scenario)?;
    let base = source.load(&[]).map_err(Failure::input)?;
    let out = args.out.unwrap_or_else(|| PathBuf::from("reports").join(format!("{}-tradeoff", base.name)));
    report::check_out(&out)?;
    let key = &args.key;
    let points = tradeoff::tradeoff(&source, key, &values)
        .map_err(|e| Failure::input(e.from_flag(key, &values, |v| format!("--key {key} --values {v}"))))?;
    let table = tradeoff::to_markdown(key, &points);
    let [(curve_name, curve), (frontier_name, frontier)] =
        tradeoff::plots(&base.name, key, &points).map_err(Failure::failed)?;
    let md = format!("# {} trade-off over `{key}` (seed {})\n\n{table}", base.name, base.seed);
    let files = [
        ("tradeoff.csv", tradeoff::to_csv(key, &points).into_bytes()),
        ("tradeoff.md", md.into_bytes()),
        (curve_name, curve.into_bytes()),
        (frontier_name, frontier.into_bytes()),
    ];
    let dir = report::write_files(&out, &files)?;
    if !args.flags.common.quiet {
        print!("{table}");
        say!("report: {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}
