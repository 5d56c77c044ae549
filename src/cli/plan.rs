//! `servesim plan`: the cheapest fleet that meets every SLO, searched over
//! the scenario's `[plan]` section (see `servesim::plan::capacity`).

use super::{Failure, ScenarioFlags};
use anyhow::anyhow;
use clap::Args;
use servesim::plan::{capacity, capacity_report, space};
use servesim::report;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Scenario file (TOML) with a demand, `[slo]` targets and a `[plan]` search space.
    scenario: PathBuf,
    /// Output folder. Default: reports/<scenario name>-plan/.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    flags: ScenarioFlags,
}

pub fn plan(args: PlanArgs) -> Result<ExitCode, Failure> {
    let space = space::read(&args.flags.source(&args.scenario)?).map_err(Failure::input)?;
    let out = args.out.unwrap_or_else(|| PathBuf::from("reports").join(format!("{}-plan", space.base.name)));
    report::check_out(&out)?;
    let searches = capacity::plan(&space).map_err(Failure::input)?;
    let r = capacity_report::report(&space, &searches);
    let question = report::question_at(&args.scenario);
    let md = capacity_report::to_markdown(&r, &question, space.replications);
    let json = capacity_report::to_json(&r).map_err(|e| Failure::failed(anyhow!("encoding plan.json: {e}")))?;
    let files = [
        ("plan.md", md.into_bytes()),
        ("plan.csv", capacity_report::to_csv(&r).into_bytes()),
        ("plan.json", json.into_bytes()),
        ("report.html", capacity_report::to_html(&r, &question, space.replications).into_bytes()),
    ];
    let dir = report::write_files(&out, &files)?;
    if !args.flags.common.quiet {
        match &r.winner {
            Some(w) => {
                let b = w.point.binding();
                say!(
                    "cheapest meeting every SLO: {} with {} replicas ({} GPUs), ${:.2}/hour; binding {} (headroom {:.1}%)",
                    w.config,
                    w.point.replicas,
                    w.point.gpus,
                    w.point.usd_per_hour,
                    b.metric,
                    b.headroom * 100.0
                );
                say!("  reproduce: {}", w.command);
            }
            None => say!("no configuration meets every SLO with at most {} replicas", r.max_replicas),
        }
        say!("report: {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}
