//! Flags shared by the subcommands: the thread count (every subcommand),
//! for those that read scenarios the seed, key overrides and quiet output,
//! for those that load serving scenarios the work limit and a profiles
//! folder, and for those that replay measured benchmarks how they were run.

use super::failure::Failure;
use clap::Args;
use servesim::bench::fidelity::Replay;
use servesim::model::profile_lookup::ProfileLookup;
use servesim::plan::source::Source;
use servesim::scenario::Scenario;
use std::path::{Path, PathBuf};

/// `--profiles DIR`: the user's profiles, searched before all others.
#[derive(Args, Debug, Clone, Default)]
pub struct ProfilesFlag {
    /// Folder of your own profiles (gpus/, models/, calibrated/), searched first; a file there overrides
    /// the built-in profile of the same name. Default: profiles/ beside or above the scenario, ./profiles,
    /// then the built-ins.
    #[arg(long = "profiles", value_name = "DIR")]
    dir: Option<PathBuf>,
}

impl ProfilesFlag {
    /// The folder given, which must exist.
    pub(super) fn dir(&self) -> Result<Option<&Path>, Failure> {
        match self.dir.as_deref() {
            Some(dir) if !dir.is_dir() => Err(Failure::input(anyhow::anyhow!(
                "--profiles {}: no such folder\n  hint: a profiles folder holds gpus/, models/ and calibrated/; \
                 leave the flag out to use the built-in profiles",
                dir.display()
            ))),
            dir => Ok(dir),
        }
    }

    /// The folder given, else `./profiles` (where calibration reads and writes).
    pub(super) fn folder(&self) -> &Path {
        self.dir.as_deref().unwrap_or(Path::new("profiles"))
    }

    /// Outside a scenario: the folder given, `./profiles`, the built-ins.
    pub(super) fn lookup(&self) -> Result<ProfileLookup, Failure> {
        let user = self.dir()?.map(Path::to_path_buf);
        Ok(ProfileLookup::new(user.into_iter().chain([PathBuf::from("profiles")])))
    }
}

/// How measured benchmark rows were run (`fidelity` and `calibrate`
/// with `--benchmarks`): aiconfigurator's aiperf run unless told.
#[derive(Args, Debug, Clone, Default)]
pub struct ReplayFlags {
    /// With --benchmarks: measured requests each client sends (the benchmark's num_prompts / concurrency).
    /// Default: 20, as aiconfigurator's aiperf script.
    #[arg(long, value_name = "N", requires = "benchmarks", value_parser = clap::value_parser!(u32).range(1..))]
    requests_per_client: Option<u32>,
    /// With --benchmarks: unmeasured warm-up requests per client before the measured ones. Default: 2, as
    /// aiconfigurator's aiperf script.
    #[arg(long, value_name = "N", requires = "benchmarks")]
    warmup_per_client: Option<u32>,
    /// With --benchmarks: serve with the engines' shipped limits, not the ones aiconfigurator's generated
    /// benchmark configurations set (max sequences = clients, max batched tokens = clients + isl + 1500).
    #[arg(long, requires = "benchmarks")]
    engine_defaults: bool,
}

impl ReplayFlags {
    pub(super) fn replay(&self) -> Replay {
        let defaults = Replay::default();
        Replay {
            requests_per_client: self.requests_per_client.unwrap_or(defaults.requests_per_client),
            warmup_per_client: self.warmup_per_client.unwrap_or(defaults.warmup_per_client),
            generated_limits: !self.engine_defaults,
        }
    }
}

/// Flags every subcommand takes, before or after its name.
#[derive(Args, Debug, Clone)]
pub struct GlobalFlags {
    /// Threads for the work that runs in parallel (a report's files, sweep points, replications, swarm seeds,
    /// distribution strategies); default one per core. Results are byte-identical for any count.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

impl GlobalFlags {
    /// Sizes rayon's global pool; without `--threads` rayon picks (one
    /// thread per core, or `RAYON_NUM_THREADS`).
    pub(super) fn apply(&self) -> Result<(), Failure> {
        let Some(n) = self.threads else { return Ok(()) };
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.into())
            .build_global()
            .map_err(|e| Failure::failed(anyhow::anyhow!("--threads {n}: cannot start the thread pool: {e}")))
    }
}

/// Flags of every command that reads a scenario file: the seed, key
/// overrides, quiet output.
#[derive(Args, Debug, Clone)]
pub struct CommonFlags {
    /// Master seed (overrides the scenario's `seed`).
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Override a scenario key, e.g. --set batching.max_batch=16 --set batching.max_wait=5ms (repeatable).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    pub(super) set: Vec<String>,
    /// Print only errors.
    #[arg(long, short)]
    pub(super) quiet: bool,
}

/// Flags of the commands that load serving scenarios: the [`CommonFlags`],
/// the work limit and a profiles folder (a distribution scenario has
/// neither, so `distribute` takes the common flags alone).
#[derive(Args, Debug, Clone)]
pub struct ScenarioFlags {
    #[command(flatten)]
    pub(super) common: CommonFlags,
    /// Run even when the expected work is above the limit (sets run.allow_large = true).
    #[arg(long)]
    pub(super) allow_large: bool,
    #[command(flatten)]
    pub(super) profiles: ProfilesFlag,
}

/// Refuses a key path (of `--set`, `--vary`, `--key`) too large to be a
/// scenario key before any work is done on it.
pub(super) fn check_key(flag: &str, key: &str) -> Result<(), Failure> {
    match servesim::input::key_too_large(key) {
        None => Ok(()),
        Some(why) => {
            let mut shown: String = key.chars().take(60).collect();
            if shown.len() < key.len() {
                shown.push_str("...");
            }
            Err(Failure::input(anyhow::anyhow!(
                "{flag} {shown}: {why}\n  hint: scenario keys are at most five levels deep, e.g. \
                 batching.max_batch; `servesim schema` lists them"
            )))
        }
    }
}

impl CommonFlags {
    /// The `--set` overrides, each key checked for size.
    pub(super) fn set_overrides(&self) -> Result<&[String], Failure> {
        for raw in &self.set {
            check_key("--set", raw.split_once('=').map_or(raw.as_str(), |(key, _)| key))?;
        }
        Ok(&self.set)
    }
}

impl ScenarioFlags {
    /// The `--set` overrides, then `--allow-large` as the serving-scenario
    /// override it stands for.
    pub(super) fn overrides(&self) -> Result<Vec<String>, Failure> {
        let allow = self.allow_large.then(|| "run.allow_large=true".to_string());
        Ok(self.common.set_overrides()?.iter().cloned().chain(allow).collect())
    }

    /// The scenario at `path` as these flags ask for it: every point of a
    /// study is loaded from it.
    pub(super) fn source(&self, path: &Path) -> Result<Source, Failure> {
        Ok(Source {
            path: path.to_path_buf(),
            overrides: self.overrides()?,
            profiles: self.profiles.dir()?.map(Path::to_path_buf),
            seed: self.common.seed,
        })
    }

    pub(super) fn load(&self, path: &Path) -> Result<Scenario, Failure> {
        self.source(path)?.load(&[]).map_err(Failure::input)
    }
}
