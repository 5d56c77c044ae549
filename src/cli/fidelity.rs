//! `servesim fidelity`: the same workload live and simulated with a
//! calibrated profile; per-metric error as a table, a CSV and a CDF plot.

use super::backend::ExecutorFlags;
use super::{Failure, ScenarioFlags};
use anyhow::anyhow;
use clap::Args;
use servesim::live::{self, Backend};
use servesim::model::profile::CalibratedProfile;
use servesim::report::{self, plots};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct FidelityArgs {
    /// Scenario file (an LLM-serving scenario).
    scenario: PathBuf,
    /// Calibrated profile written by `servesim calibrate` (its gpu must be the scenario's).
    #[arg(long, value_name = "FILE")]
    profile: PathBuf,
    /// Executor for the live run.
    #[arg(long, value_enum, default_value = "cuda")]
    backend: Backend,
    /// Report folder. Default: reports/<scenario name>-fidelity-<backend>/.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    exec: ExecutorFlags,
    #[command(flatten)]
    flags: ScenarioFlags,
}

pub fn fidelity(args: FidelityArgs) -> Result<ExitCode, Failure> {
    if args.backend == Backend::Sim {
        return Err(Failure::input(anyhow!("fidelity compares a live run with the sim: use --backend cpu or cuda")));
    }
    ExecutorFlags::check(args.backend)?;
    let scenario = args.flags.load(&args.scenario)?;
    live::driver::llm_config(&scenario).map_err(Failure::input)?;
    let calibrated = CalibratedProfile::load(&args.profile).map_err(Failure::input)?;
    let leaf = format!("{}-fidelity-{}", scenario.name, args.backend.name());
    let out = args.out.unwrap_or_else(|| PathBuf::from("reports").join(leaf));
    report::check_out(&out)?;
    let exec = args.exec.open(args.backend)?;
    let f = live::fidelity::run(&scenario, exec, &calibrated).map_err(|e| match e {
        live::LiveError::Shape(_) => Failure::input(e),
        _ => Failure::failed(e),
    })?;
    let st = &f.steps;
    let saturated = live::fidelity::saturation_warning(&f.live.summary.throughput).map_or(String::new(), |w| w + "\n");
    let table = format!(
        "{}\nsteps: {} live steps; calibrated step model vs the wall time the core saw MAPE {:.1}%, vs the \
         executor's own timing {:.1}% (the profile's overhead includes the calibrated hand-off); hand-off outside \
         the timed step {:.1} us mean\n{saturated}",
        live::fidelity::table(&f.rows),
        st.count,
        st.mape_wall * 100.0,
        st.mape_executor * 100.0,
        st.handoff_mean_s * 1e6
    );
    let head = format!(
        "{} (seed {}): live on {} vs sim with {}; {} requests offered\n\n",
        scenario.name,
        scenario.seed,
        f.device,
        args.profile.display(),
        f.live.summary.requests.offered
    );
    if !args.flags.quiet {
        print!("{head}{table}");
    }
    let mut csv = String::from("metric,live,sim,error\n");
    for r in &f.rows {
        csv.push_str(&format!("{},{},{},{}\n", r.metric, r.live, r.sim, r.error));
    }
    let curves: Vec<(String, Vec<(f64, f64)>)> = [("live", &f.live), ("sim", &f.sim)]
        .iter()
        .flat_map(|(run, rec)| {
            rec.cdfs
                .iter()
                .filter(|(n, _)| *n != "end-to-end")
                .map(move |(n, s)| (format!("{run} {n}"), s.cdf_points()))
        })
        .collect();
    let series: Vec<plots::CdfSeries> =
        curves.iter().map(|(label, points)| plots::CdfSeries { label, points }).collect();
    let svg = plots::latency_cdf_svg(&format!("{}: live vs sim", scenario.name), &series).map_err(Failure::failed)?;
    let files = vec![
        ("fidelity.md", format!("# Fidelity\n\n{head}{table}").into_bytes()),
        ("fidelity.csv", csv.into_bytes()),
        ("fidelity_cdf.svg", svg.into_bytes()),
        ("live_steps.csv", live::fidelity::steps_csv(&f.live_steps).into_bytes()),
        ("summary_live.json", report::summary_json(&f.live.summary).map_err(Failure::failed)?.into_bytes()),
        ("summary_sim.json", report::summary_json(&f.sim.summary).map_err(Failure::failed)?.into_bytes()),
    ];
    let dir = report::write_files(&out, &files)?;
    if !args.flags.quiet {
        say!("report: {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}
