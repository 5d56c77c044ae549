//! `servesim sweep`: where is the knee? One scenario, one key, many values.

use super::{Failure, ScenarioFlags};
use anyhow::anyhow;
use clap::Args;
use servesim::plan::sweep;
use servesim::report;
use servesim::time::parse_duration;
use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Scenario file (TOML).
    scenario: PathBuf,
    /// The key and its values, in increasing load, e.g. workload.rate_per_s=50,75,100,125,130.
    #[arg(long, value_name = "KEY.PATH=V1,V2,...")]
    vary: String,
    /// Report the largest value whose end-to-end p99 is within this SLO with nothing rejected, e.g. 250ms.
    #[arg(long, value_name = "DURATION")]
    slo_p99: Option<String>,
    /// Output folder. Default: reports/<scenario name>-sweep/.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    flags: ScenarioFlags,
}

pub fn sweep(args: SweepArgs) -> Result<ExitCode, Failure> {
    let Some((key, list)) = args.vary.split_once('=') else {
        return Err(Failure::input(anyhow!(
            "--vary {}: expected KEY.PATH=V1,V2,... e.g. --vary workload.rate_per_s=50,100,150",
            args.vary
        )));
    };
    super::flags::check_key("--vary", key)?;
    let values: Vec<String> = list.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
    if values.is_empty() {
        return Err(Failure::input(anyhow!("--vary {}: no values after `=`", args.vary)));
    }
    let slo = match &args.slo_p99 {
        Some(text) => Some(parse_duration(text).map_err(|e| Failure::input(anyhow!("--slo-p99: {e}")))?),
        None => None,
    };
    let base = args.flags.load(&args.scenario)?;
    let out = args.out.unwrap_or_else(|| PathBuf::from("reports").join(format!("{}-sweep", base.name)));
    report::check_out(&out)?;
    let points = sweep::sweep(&args.scenario, &args.flags.overrides()?, key, &values, args.flags.seed)
        .map_err(|e| Failure::input(e.from_flag(key, &values, |v| format!("--vary {key}={v}"))))?;
    let mut table = sweep::to_markdown(key, &points);
    if let Some(slo) = slo {
        let verdict = match sweep::max_meeting_slo(&points, slo) {
            Some(p) => format!("largest {key} meeting p99 <= {slo} with nothing rejected: {}", p.value),
            None => format!("no swept {key} meets p99 <= {slo} with nothing rejected"),
        };
        let _ = writeln!(table, "\n{verdict}");
    }
    let md = format!("# {} sweep of `{key}` (seed {})\n\n{table}", base.name, base.seed);
    let files = [("sweep.csv", sweep::to_csv(key, &points).into_bytes()), ("sweep.md", md.into_bytes())];
    let dir = report::write_files(&out, &files)?;
    if !args.flags.quiet {
        print!("{table}");
        say!("report: {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}
