//! `servesim run`: one scenario, one report folder; simulated by default,
//! or live on a real executor (`--backend cpu|cuda`).

use super::backend::ExecutorFlags;
use super::{Failure, ScenarioFlags};
use anyhow::anyhow;
use clap::Args;
use servesim::live::{self, Backend};
use servesim::{report, sim};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Scenario file (TOML), e.g. scenarios/single-gpu-batching.toml.
    scenario: PathBuf,
    /// Report folder. Default: reports/<scenario name>/ (reports/<name>-<backend>/ for live runs).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where steps run: the step-time model (sim), or live in wall-clock time on the CPU reference or CUDA kernels.
    #[arg(long, value_enum, default_value = "sim")]
    backend: Backend,
    #[command(flatten)]
    exec: ExecutorFlags,
    #[command(flatten)]
    flags: ScenarioFlags,
}

pub fn run(args: RunArgs) -> Result<ExitCode, Failure> {
    let scenario = args.flags.load(&args.scenario)?;
    let leaf = match args.backend {
        Backend::Sim => scenario.name.clone(),
        live_backend => format!("{}-{}", scenario.name, live_backend.name()),
    };
    let out = args.out.unwrap_or_else(|| PathBuf::from("reports").join(leaf));
    report::check_out(&out)?;
    let recorded = match args.backend {
        Backend::Sim => sim::run(&scenario),
        live_backend => {
            live::driver::llm_config(&scenario).map_err(Failure::input)?;
            let exec = args.exec.open(live_backend, &args.flags.profiles.lookup()?)?;
            if !args.flags.common.quiet {
                say!("live run on {}: model {} (real time; Ctrl-C to stop)", exec.device(), exec.model().name);
            }
            live::driver::run(&scenario, exec).map_err(Failure::failed)?.recorded
        }
    };
    let dir = report::write(&out, &recorded, &report::question_at(&args.scenario))?;
    let s = &recorded.summary;
    if !args.flags.common.quiet {
        let e2e = &s.latency.end_to_end;
        let outcomes: Vec<String> =
            s.requests.by_outcome.iter().filter(|(_, &n)| n > 0).map(|(name, n)| format!("{name} {n}")).collect();
        let backend = if s.backend == "sim" { String::new() } else { format!(", backend {}", s.backend) };
        say!(
            "{} (seed {}{backend}): {} requests offered; outcomes: {}",
            s.scenario,
            s.seed,
            s.requests.offered,
            outcomes.join(", ")
        );
        say!(
            "  end-to-end latency: mean {:.3} ms, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            e2e.mean_s * 1e3,
            e2e.p50_s * 1e3,
            e2e.p99_s * 1e3,
            e2e.max_s * 1e3
        );
        say!(
            "  throughput {:.3} req/s, GPUs busy {:.1}% of the time, mean batch {:.2}",
            s.throughput.completed_per_s,
            s.servers.utilization_mean * 100.0,
            s.batching.mean_size
        );
        say!("  report: {}", dir.display());
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
