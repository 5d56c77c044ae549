//! `servesim swarm`: draws a whole scenario from each seed of a range, runs
//! it and checks the invariants (see `servesim::swarm`); prints a summary,
//! and for each failure its problems, the command that reproduces it and
//! the scenario file written to `--out`.

use super::Failure;
use anyhow::anyhow;
use clap::Args;
use rayon::prelude::*;
use servesim::{report, swarm};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct SwarmArgs {
    /// One seed to check (e.g. to reproduce a failure).
    #[arg(long, conflicts_with = "seeds", required_unless_present = "seeds")]
    seed: Option<u64>,
    /// A range of seeds, A..B (B excluded), run in parallel (RAYON_NUM_THREADS caps the threads).
    #[arg(long, value_name = "A..B")]
    seeds: Option<String>,
    /// Folder for the scenario files of failing seeds (swarm-<seed>.toml).
    #[arg(long, default_value = "swarm-failures")]
    out: PathBuf,
    /// The profiles folder the generated scenarios use.
    #[arg(long, default_value = "profiles")]
    profiles: PathBuf,
    /// Print the generated scenario of --seed and stop.
    #[arg(long, requires = "seed")]
    print: bool,
}

fn range(text: &str) -> Result<std::ops::Range<u64>, Failure> {
    let bad = || Failure::input(anyhow!("--seeds {text}: expected A..B with A < B, e.g. --seeds 0..1000"));
    let (a, b) = text.split_once("..").ok_or_else(bad)?;
    let (a, b) = (a.trim().parse::<u64>().map_err(|_| bad())?, b.trim().parse::<u64>().map_err(|_| bad())?);
    if a >= b {
        return Err(bad());
    }
    Ok(a..b)
}

pub fn swarm(args: SwarmArgs) -> Result<ExitCode, Failure> {
    let seeds = match (&args.seeds, args.seed) {
        (Some(text), _) => range(text)?,
        (None, Some(seed)) => seed..seed.saturating_add(1),
        (None, None) => return Err(Failure::input(anyhow!("give --seed N or --seeds A..B"))),
    };
    let profiles = std::fs::canonicalize(&args.profiles).map_err(|e| {
        Failure::input(anyhow!(
            "--profiles {}: {e} (hint: run from the repository root or pass --profiles)",
            args.profiles.display()
        ))
    })?;
    let profiles = profiles.to_string_lossy().into_owned();
    if args.print {
        print!("{}", swarm::generate::scenario(seeds.start, &profiles).text);
        return Ok(ExitCode::SUCCESS);
    }
    let count = seeds.end - seeds.start;
    let failures: Vec<swarm::Outcome> = seeds
        .clone()
        .into_par_iter()
        .map(|seed| swarm::check(seed, &profiles))
        .filter(|o| !o.problems.is_empty())
        .collect();
    let mut features: BTreeMap<&str, u64> = BTreeMap::new();
    for seed in seeds {
        for f in swarm::generate::scenario(seed, &profiles).features {
            *features.entry(f).or_default() += 1;
        }
    }
    for failure in &failures {
        let file = args.out.join(format!("swarm-{}.toml", failure.seed));
        report::write_file_atomic(&file, failure.text.as_bytes())
            .map_err(|e| Failure::failed(anyhow!("writing {}: {e}", file.display())))?;
        say!("seed {} FAILED ({}):", failure.seed, failure.features.join(", "));
        for problem in &failure.problems {
            say!("  - {problem}");
        }
        say!("  reproduce: servesim swarm --seed {}", failure.seed);
        say!("  scenario: {}", file.display());
    }
    let seen: Vec<String> = features.iter().map(|(f, n)| format!("{f} {n}")).collect();
    say!("swarm: {count} seeds, {} failed; features: {}", failures.len(), seen.join(", "));
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
