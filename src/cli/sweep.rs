//! `servesim sweep`: where is the knee? One scenario over a grid of key
//! values, each point run once or replicated, whole or as one shard of an
//! array job.

use super::{Failure, ScenarioFlags};
use anyhow::anyhow;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use servesim::plan::shard::Shard;
use servesim::plan::sweep::{self, axis, part, table, Axis, Measured, Spec, MAX_REPLICATIONS};
use servesim::report;
use servesim::time::parse_duration;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Scenario file (TOML).
    scenario: PathBuf,
    /// A key and its values, in increasing load: a list (workload.rate_per_s=50,75,100), a range
    /// LO..HI/STEP (workload.rate_per_s=50..150/25, batching.max_wait=5ms..20ms/5ms) or both mixed.
    /// Repeat for a grid (row-major, the last --vary fastest).
    #[arg(long, value_name = "KEY.PATH=VALUES", required = true)]
    vary: Vec<String>,
    /// Run each point N times (seeds RngStreams(seed).replication(i)) and show mean ± 95% half-width.
    #[arg(long, value_name = "N")]
    replications: Option<u32>,
    /// Report the largest value of the last --vary whose end-to-end p99 is within this SLO with nothing
    /// rejected, e.g. 250ms.
    #[arg(long, value_name = "DURATION")]
    slo_p99: Option<String>,
    /// Run only the I-th of N contiguous slices of the points and write a shard folder for `servesim merge`.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Output folder. Default: reports/<scenario name>-sweep/ (a shard: reports/<name>-sweep-shard-I-of-N/).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    flags: ScenarioFlags,
}

/// The `--vary` axes, each checked, no key twice, the grid bounded.
fn axes(specs: &[String]) -> Result<(Vec<Axis>, usize), Failure> {
    let mut axes: Vec<Axis> = Vec::new();
    for spec in specs {
        super::flags::check_key("--vary", spec.split_once('=').map_or(spec.as_str(), |(key, _)| key))?;
        let axis = Axis::parse(spec).map_err(|e| Failure::input(anyhow!("--vary {spec}: {e}")))?;
        if axes.iter().any(|a| a.key == axis.key) {
            return Err(Failure::input(anyhow!(
                "--vary {spec}: `{}` is varied twice\n  hint: list all its values in one --vary",
                axis.key
            )));
        }
        axes.push(axis);
    }
    let points = axis::grid_size(&axes).map_err(|e| Failure::input(anyhow!("--vary: {e}")))?;
    Ok((axes, points))
}

fn replications(n: Option<u32>) -> Result<Option<u32>, Failure> {
    match n {
        Some(n) if !(2..=MAX_REPLICATIONS).contains(&n) => Err(Failure::input(anyhow!(
            "--replications {n}: expected 2 to {MAX_REPLICATIONS}\n  hint: a confidence interval needs at least two \
             runs; leave --replications out for one run per point with the scenario's seed"
        ))),
        n => Ok(n),
    }
}

/// A progress bar on stderr, drawn only for a person watching a terminal.
fn progress(runs: usize, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(runs as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {elapsed} (eta {eta})") {
        bar.set_style(style);
    }
    bar
}

pub fn sweep(args: SweepArgs) -> Result<ExitCode, Failure> {
    let (axes, points) = axes(&args.vary)?;
    let replications = replications(args.replications)?;
    let slo = match &args.slo_p99 {
        Some(text) => Some(parse_duration(text).map_err(|e| Failure::input(anyhow!("--slo-p99: {e}")))?),
        None => None,
    };
    let shard = match &args.shard {
        Some(text) => Some(Shard::parse(text).map_err(|e| Failure::input(anyhow!("--shard {e}")))?),
        None => None,
    };
    let source = args.flags.source(&args.scenario)?;
    let base = source.load(&[]).map_err(Failure::input)?;
    let out = args.out.unwrap_or_else(|| {
        let leaf = match shard {
            None => format!("{}-sweep", base.name),
            Some(s) => format!("{}-sweep-shard-{}-of-{}", base.name, s.index, s.count),
        };
        PathBuf::from("reports").join(leaf)
    });
    report::check_out(&out)?;
    let spec = Spec {
        scenario: base.name.clone(),
        seed: base.seed,
        axes,
        replications,
        slo_p99_ns: slo.map(|d| d.0),
        question: report::question_at(&args.scenario),
    };
    let range = shard.map_or(0..points, |s| s.range(points));
    let scenarios = sweep::load_points(&source, &spec.axes, range.clone()).map_err(|e| {
        let blamed = spec
            .axes
            .iter()
            .fold(*e, |e, axis| e.from_flag(&axis.key, &axis.values, |v| format!("--vary {}={v}", axis.key)));
        Failure::input(blamed)
    })?;
    let bar = progress(scenarios.len() * spec.runs_per_point(), args.flags.common.quiet);
    let runs = sweep::run_points(&scenarios, replications, &|| bar.inc(1), |s| Measured::of(&s));
    bar.finish_and_clear();
    let Some(shard) = shard else {
        let rendered = table::render(&spec, &runs);
        let shown = rendered.shown.clone();
        let dir = report::write_files(&out, &rendered.files())?;
        if !args.flags.common.quiet {
            print!("{shown}");
            say!("report: {}", dir.display());
        }
        return Ok(ExitCode::SUCCESS);
    };
    let identity = part::identity(&spec, &base);
    let dir = report::write_files(&out, &part::files(&spec, &identity, shard, range.clone(), &runs))?;
    if !args.flags.common.quiet {
        say!("shard {shard}: points {}..{} of {points} ({} runs)", range.start, range.end, runs.len());
        say!("shard folder: {} (combine all {} with `servesim merge`)", dir.display(), shard.count);
    }
    Ok(ExitCode::SUCCESS)
}
