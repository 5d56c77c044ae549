//! `servesim fidelity`: the same workload live and simulated with a
//! calibrated profile; per-metric error as a table, a CSV and a CDF plot.
//! With `--benchmarks FILE.csv`: every measured run of a benchmark file
//! (aiconfigurator's silicon format, see `servesim::bench`) simulated and
//! compared, per row and per engine/model/precision/GPU/tp group. With
//! `--measured RUN.csv`: a measured run replayed through the scenario's
//! engine configuration, request by request (`servesim::bench::replay`).

use super::backend::ExecutorFlags;
use super::flags::ReplayFlags;
use super::{Failure, ScenarioFlags};
use anyhow::anyhow;
use clap::Args;
use servesim::bench::{self, fidelity, replay};
use servesim::live::{self, Backend};
use servesim::metrics::latency::LatencyStat;
use servesim::metrics::recorder::Recorded;
use servesim::model::profile::CalibratedProfile;
use servesim::report::{self, plots};
use servesim::scenario::Serving;
use servesim::time::SimDuration;
use servesim::workload::measured;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct FidelityArgs {
    /// Scenario file (an LLM-serving scenario) for a live comparison.
    #[arg(required_unless_present = "benchmarks")]
    scenario: Option<PathBuf>,
    /// Calibrated profile written by `servesim calibrate` (its gpu must be the scenario's). With --benchmarks:
    /// a file in <profiles>/calibrated/ (default: <gpu>-engines there, when it exists).
    #[arg(long, value_name = "FILE")]
    profile: Option<PathBuf>,
    /// Measured runs (aiconfigurator silicon CSV: id, backend, model_path, system, precision, mode, isl, osl,
    /// batch_size, tp_size, silicon_ttft_ms, silicon_tpot_ms, ...): simulate every row instead of a live run.
    #[arg(long, value_name = "FILE.csv", conflicts_with = "scenario")]
    benchmarks: Option<PathBuf>,
    /// A measured run, one completed request per row (arrival_s, prompt_tokens, output_tokens, ttft_ms,
    /// latency_ms, optional tpot_ms): replay its arrivals and lengths through the scenario and compare TTFT, TPOT
    /// and latency at mean/p50/p90/p99 instead of a live run.
    #[arg(long, value_name = "RUN.csv", requires = "scenario", conflicts_with_all = ["benchmarks", "profile"])]
    measured: Option<PathBuf>,
    #[command(flatten)]
    replay: ReplayFlags,
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
    if let (Some(scenario), Some(file)) = (&args.scenario, &args.measured) {
        return measured(scenario, file, &args);
    }
    let (scenario_path, profile) = match (&args.benchmarks, &args.scenario, &args.profile) {
        (Some(file), _, _) => return benchmarks(file, &args),
        (None, Some(scenario), Some(profile)) => (scenario.clone(), profile.clone()),
        (None, _, None) => {
            return Err(Failure::input(anyhow!("--profile FILE: the calibrated profile to simulate with")))
        }
        (None, None, _) => {
            return Err(Failure::input(anyhow!(
                "a scenario file (with --profile or --measured), or --benchmarks FILE.csv"
            )))
        }
    };
    if args.backend == Backend::Sim {
        return Err(Failure::input(anyhow!("fidelity compares a live run with the sim: use --backend cpu or cuda")));
    }
    ExecutorFlags::check(args.backend)?;
    let scenario = args.flags.load(&scenario_path)?;
    live::driver::llm_config(&scenario).map_err(Failure::input)?;
    let calibrated = CalibratedProfile::load(&profile).map_err(Failure::input)?;
    let leaf = format!("{}-fidelity-{}", scenario.name, args.backend.name());
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("reports").join(leaf));
    report::check_out(&out)?;
    let exec = args.exec.open(args.backend, &args.flags.profiles.lookup()?)?;
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
        live::fidelity::table(&f.rows, "live"),
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
        profile.display(),
        f.live.summary.requests.offered
    );
    if !args.flags.common.quiet {
        print!("{head}{table}");
    }
    let csv = live::fidelity::csv(&f.rows, "live");
    let curves = [("live", &f.live), ("sim", &f.sim)].into_iter().flat_map(|(run, rec)| latency_curves(run, rec));
    let svg = cdf_svg(&format!("{}: live vs sim", scenario.name), curves.collect())?;
    let files = vec![
        ("fidelity.md", format!("# Fidelity\n\n{head}{table}").into_bytes()),
        ("fidelity.csv", csv.into_bytes()),
        ("fidelity_cdf.svg", svg.into_bytes()),
        ("live_steps.csv", live::fidelity::steps_csv(&f.live_steps).into_bytes()),
        ("summary_live.json", report::summary_json(&f.live.summary).map_err(Failure::failed)?.into_bytes()),
        ("summary_sim.json", report::summary_json(&f.sim.summary).map_err(Failure::failed)?.into_bytes()),
    ];
    let dir = report::write_files(&out, &files)?;
    if !args.flags.common.quiet {
        say!("report: {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `--benchmarks`: every row simulated; `fidelity.csv` and `fidelity.md`.
fn benchmarks(file: &Path, args: &FidelityArgs) -> Result<ExitCode, Failure> {
    let rows = bench::read(file).map_err(Failure::input)?;
    let calibrated = match &args.profile {
        None => None,
        Some(p) => {
            let dir = args.flags.profiles.folder().join("calibrated");
            let in_dir = p.parent().is_some_and(|d| d.canonicalize().ok() == dir.canonicalize().ok());
            let name = p.file_stem().map(|s| s.to_string_lossy().into_owned()).filter(|_| in_dir && p.is_file());
            Some(name.ok_or_else(|| {
                Failure::input(anyhow!(
                    "--profile {}: expected a calibrated profile file in {} (shipped: h100-sxm-engines.toml)",
                    p.display(),
                    dir.display()
                ))
            })?)
        }
    };
    let stem = file.file_stem().map_or("benchmarks".into(), |s| s.to_string_lossy().into_owned());
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("reports").join(format!("{stem}-fidelity")));
    report::check_out(&out)?;
    let run = args.replay.replay();
    let outcomes =
        fidelity::run_all(&rows, args.flags.profiles.folder(), fidelity::Pricing::Named(calibrated.as_deref()), run);
    let md = fidelity::markdown(&outcomes, &file.display().to_string(), calibrated.as_deref());
    let files = vec![("fidelity.md", md.clone().into_bytes()), ("fidelity.csv", fidelity::csv(&outcomes).into_bytes())];
    let dir = report::write_files(&out, &files)?;
    if !args.flags.common.quiet {
        let all = fidelity::Accuracy::of(&outcomes);
        if all.rows == 0 {
            say!("{}: {} rows, none simulated", file.display(), rows.len());
        } else {
            say!(
                "{}: {} rows, {} simulated: TTFT MAPE {:.1}%, TPOT MAPE {:.1}% (per group in fidelity.md)",
                file.display(),
                rows.len(),
                all.rows,
                all.ttft_mape * 100.0,
                all.tpot_mape * 100.0
            );
        }
        // The first few on the console; every one, with its reason, in
        // fidelity.md and fidelity.csv.
        const LISTED: usize = 10;
        let not: Vec<_> = outcomes.iter().filter(|o| o.predicted.is_err()).collect();
        for o in not.iter().take(LISTED) {
            say!(
                "  not expressed: line {} ({}): {}",
                o.row.line,
                o.row.id,
                o.predicted.as_ref().err().map_or("", |e| e)
            );
        }
        if not.len() > LISTED {
            say!("  ... and {} more rows not expressed, each with its reason in fidelity.md", not.len() - LISTED);
        }
        say!("report: {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `--measured`: the scenario replaying a measured run (its send times and
/// lengths as the trace); each latency measured against simulated.
fn measured(scenario_path: &Path, file: &Path, args: &FidelityArgs) -> Result<ExitCode, Failure> {
    let run = measured::read_measured(file).map_err(Failure::input)?;
    let trace = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let replay = [
        "workload.arrival=trace".to_string(),
        format!("workload.trace={}", toml_edit::Value::from(trace.display().to_string())),
    ];
    let scenario = args.flags.source(scenario_path)?.load(&replay).map_err(Failure::input)?;
    let refuse = |why: &str| Failure::input(anyhow!("{}: {why}", scenario_path.display()));
    if !matches!(scenario.serving, Serving::Llm(_)) {
        return Err(refuse(
            "--measured replays a run on one LLM serving pool (a [replica] table), not a fleet or a station",
        ));
    }
    let r = &scenario.run;
    if r.warmup > SimDuration::ZERO || r.duration.is_some() || r.max_requests.is_some() {
        return Err(refuse(
            "--measured compares every measured request: remove run.warmup, run.duration and run.max_requests",
        ));
    }
    let leaf = format!("{}-fidelity-measured", scenario.name);
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("reports").join(leaf));
    report::check_out(&out)?;
    let sim = servesim::sim::run(&scenario);
    let reference = replay::Measured::of(&run);
    let rows = replay::compare(&reference, &sim.summary);
    let head = format!(
        "{} (seed {}): {} measured requests from {} replayed and simulated\n\n",
        scenario.name,
        scenario.seed,
        run.len(),
        file.display()
    );
    let table = live::fidelity::table(&rows, "measured");
    if !args.flags.common.quiet {
        print!("{head}{table}");
    }
    let csv = live::fidelity::csv(&rows, "measured");
    let measured_curves =
        [("measured TTFT".to_string(), &reference.ttft), ("measured TPOT".to_string(), &reference.tpot)];
    let curves = measured_curves.into_iter().chain(latency_curves("sim", &sim)).collect();
    let svg = cdf_svg(&format!("{}: measured vs sim", scenario.name), curves)?;
    let files = vec![
        ("fidelity.md", format!("# Fidelity\n\n{head}{table}").into_bytes()),
        ("fidelity.csv", csv.into_bytes()),
        ("fidelity_cdf.svg", svg.into_bytes()),
        ("summary_sim.json", report::summary_json(&sim.summary).map_err(Failure::failed)?.into_bytes()),
    ];
    let dir = report::write_files(&out, &files)?;
    if !args.flags.common.quiet {
        say!("report: {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// A run's TTFT and TPOT distributions, labelled `"{run} {metric}"`.
fn latency_curves<'a>(run: &'a str, rec: &'a Recorded) -> impl Iterator<Item = (String, &'a LatencyStat)> + 'a {
    rec.cdfs.iter().filter(|(n, _)| *n != "end-to-end").map(move |(n, s)| (format!("{run} {n}"), s))
}

/// The CDF plot of labelled latency distributions.
fn cdf_svg(title: &str, curves: Vec<(String, &LatencyStat)>) -> Result<String, Failure> {
    let points: Vec<(String, Vec<(f64, f64)>)> = curves.into_iter().map(|(l, s)| (l, s.cdf_points())).collect();
    let series: Vec<plots::CdfSeries> =
        points.iter().map(|(label, points)| plots::CdfSeries { label, points }).collect();
    plots::latency_cdf_svg(title, &series).map_err(Failure::failed)
}
