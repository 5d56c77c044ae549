//! `servesim validate`: the simulator against queueing theory, as a table.

use super::{Failure, ScenarioFlags};
use anyhow::anyhow;
use clap::Args;
use servesim::plan::{replicate, theory};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Validation scenarios. Default: every .toml in scenarios/validation/. Each must be a station with a
    /// closed form: Poisson arrivals at a constant rate, an unbounded shared queue, and one of M/M/c, M/G/1,
    /// M/G/c processor sharing, bulk service M/M^[b]/1, or a zero-service-time batcher with a flush timeout.
    scenarios: Vec<PathBuf>,
    /// Replications per scenario (overrides validation.replications).
    #[arg(long)]
    replications: Option<u32>,
    #[command(flatten)]
    flags: ScenarioFlags,
}

fn default_scenarios() -> Result<Vec<PathBuf>, Failure> {
    let dir = PathBuf::from("scenarios/validation");
    let entries = std::fs::read_dir(&dir).map_err(|e| {
        Failure::input(anyhow!("{}: {e}; run from the repository root or name scenario files", dir.display()))
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    Ok(paths)
}

pub fn validate(args: ValidateArgs) -> Result<ExitCode, Failure> {
    let paths = if args.scenarios.is_empty() { default_scenarios()? } else { args.scenarios.clone() };
    let mut scenarios = Vec::new();
    for path in &paths {
        let mut s = args.flags.load(path)?;
        if let Some(r) = args.replications {
            let max = servesim::scenario::guard::MAX_REPLICATIONS;
            if r < 2 || u64::from(r) > max {
                return Err(Failure::input(anyhow!(
                    "--replications: expected 2..={max}, got {r}\n  hint: 20 replications give a tight interval"
                )));
            }
            s.validation.replications = r;
        }
        let t = theory::theory(&s).map_err(|why| {
            Failure::input(anyhow!(
                "{}: no closed-form theory: {why}\n  hint: validate takes the stations listed in `servesim validate --help`; use `servesim run` for any other scenario",
                path.display()
            ))
        })?;
        scenarios.push((s, t));
    }
    let mut failures = 0;
    say!(
        "{:<28} {:<38} {:<17} {:>12} {:>12} {:>24}  result",
        "scenario",
        "model",
        "metric",
        "theory",
        "simulated",
        "95% CI"
    );
    for (s, t) in &scenarios {
        let v = replicate::validate(s, t);
        for c in &v.checks {
            let e = c.simulated;
            failures += usize::from(!c.pass);
            say!(
                "{:<28} {:<38} {:<17} {:>12.6} {:>12.6} [{:>10.6}, {:>10.6}]  {}",
                s.name,
                t.model,
                c.metric.name(),
                c.theory,
                e.mean,
                e.mean - e.half_width_95,
                e.mean + e.half_width_95,
                if c.pass { "pass" } else { "FAIL" }
            );
        }
        failures += usize::from(!v.littles_law_holds);
        if !args.flags.common.quiet || !v.littles_law_holds {
            say!(
                "{:<28} {:<38} {:<17} Little's law and invariants in all {} replications: {}",
                s.name,
                "",
                "L = λW",
                v.replications,
                if v.littles_law_holds { "pass" } else { "FAIL" }
            );
        }
    }
    say!("pass criterion: theory inside the simulated 99% Student-t interval over independent replications");
    if failures > 0 {
        return Err(Failure::failed(anyhow!("{failures} validation check(s) failed")));
    }
    Ok(ExitCode::SUCCESS)
}
