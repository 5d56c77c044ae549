//! The top-level loader: reads a scenario file, applies `--set` overrides,
//! and runs the section resolvers in order — placement of the front-door
//! keys, a fleet (its pools and populations), arrivals, the run, what
//! serves (a station, an LLM pool and its front door, or the fleet), replications, the safety pipeline — into a [`Scenario`].

use super::check;
use super::error::{Origin, ScenarioError};
use super::fleet;
use super::frontdoor;
use super::llm;
use super::locate::Locator;
use super::run::{self, RunConfig, ValidationConfig};
use super::safety::{self, SafetyModel};
use super::schema::ScenarioFile;
use super::serving::Serving;
use super::station;
use super::workload;
use crate::workload::ArrivalSpec;
use std::path::{Path, PathBuf};

/// A validated scenario, ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub seed: u64,
    pub path: PathBuf,
    /// The effective file (overrides applied), echoed into reports.
    pub file: ScenarioFile,
    pub run: RunConfig,
    pub arrivals: ArrivalSpec,
    pub serving: Serving,
    pub validation: ValidationConfig,
    /// The safety pipeline (LLM serving with a `[safety]` table).
    pub safety: Option<Box<SafetyModel>>,
}

/// Reads, overrides and validates the scenario at `path`.
pub fn load(path: &Path, overrides: &[String]) -> Result<Scenario, ScenarioError> {
    load_with_profiles(path, overrides, None)
}

/// Like [`load`], with a profiles folder (`--profiles`) searched before the
/// scenario's own and the built-in profiles.
pub fn load_with_profiles(
    path: &Path,
    overrides: &[String],
    profiles: Option<&Path>,
) -> Result<Scenario, ScenarioError> {
    from_text_with_profiles(&read(path, "scenarios/")?, path, overrides, profiles)
}

/// The text of a scenario file, or an error saying where such files live.
pub fn read(path: &Path, shipped_in: &str) -> Result<String, ScenarioError> {
    crate::input::read_text(path, crate::input::TEXT_MAX_BYTES, "scenario files").map_err(|e| {
        match crate::input::NotUtf8::of(&e) {
            Some(at) => ScenarioError {
                file: path.to_path_buf(),
                origin: Origin::File { line: Some((at.line, at.column)) },
                key: String::new(),
                message: "expected UTF-8 text, found an invalid byte".into(),
                hint: Some("save the file as UTF-8 (a character in another encoding, often in a comment)".into()),
            },
            None => ScenarioError {
                file: path.to_path_buf(),
                origin: Origin::File { line: None },
                key: String::new(),
                message: format!("cannot read the scenario file: {e}"),
                hint: Some(format!("check the path; shipped scenarios live in {shipped_in}")),
            },
        }
    })
}

/// Like [`load`], for text already in memory (`path` names it in errors and
/// anchors relative trace paths).
pub fn from_text(text: &str, path: &Path, overrides: &[String]) -> Result<Scenario, ScenarioError> {
    from_text_with_profiles(text, path, overrides, None)
}

/// Like [`from_text`], with a profiles folder as in [`load_with_profiles`].
pub fn from_text_with_profiles(
    text: &str,
    path: &Path,
    overrides: &[String],
    profiles: Option<&Path>,
) -> Result<Scenario, ScenarioError> {
    let locator = Locator::new(text, path, overrides)?;
    let effective: ScenarioFile = locator.effective(text, |e| e)?;
    resolve(effective, path, profiles, &locator)
}

/// Runs the section resolvers in order; the first error wins.
fn resolve(file: ScenarioFile, path: &Path, profiles: Option<&Path>, loc: &Locator) -> Result<Scenario, ScenarioError> {
    let name = name(&file, path, loc)?;
    frontdoor::check_placement(&file, loc)?;
    if !file.tenants.is_empty() {
        check::forbid(loc, "workload.clients", &file.workload.clients, "tenants bring their own arrivals")?;
    }
    let fleet = match file.regions.is_empty() {
        true => {
            let why = "failures strike a fleet's regions and pools: add [[regions]]";
            check::forbid(loc, "failures", &(!file.failures.is_empty()).then_some(()), why)?;
            None
        }
        false => Some(fleet::resolve(&file, llm::Source { path, profiles }, loc)?),
    };
    let arrivals = match (&fleet, file.tenants.is_empty()) {
        (Some((_, all)), _) => all.clone(),
        (None, true) => workload::arrivals(&file.workload, path, loc)?,
        (None, false) => frontdoor::aggregate_arrivals(&file),
    };
    let run = run::run(&file.run, &arrivals, loc)?;
    let allow_large = file.run.allow_large.unwrap_or(false);
    match fleet.as_ref().and_then(|(f, _)| f.performability) {
        // A performability run simulates requests one level run at a time:
        // its clock spans the whole run, its requests one level run.
        Some(level) => {
            run::check_limits(&run, &arrivals, true, loc)?;
            let level_run = RunConfig { duration: Some(run.warmup + level), ..run.clone() };
            run::check_limits(&level_run, &arrivals, allow_large, loc)?;
        }
        None => run::check_limits(&run, &arrivals, allow_large, loc)?,
    }
    let is_trace = matches!(arrivals, ArrivalSpec::Trace { .. });
    let serving = match (&file.replica, fleet) {
        (_, Some((fleet, _))) => Serving::Fleet(Box::new(fleet)),
        (Some(replica), None) => {
            let source = llm::Source { path, profiles };
            let mut pool = llm::resolve(&file, replica, is_trace, source, loc)?;
            pool.frontdoor = frontdoor::resolve(&file, &pool, None, is_trace, source, loc)?;
            Serving::Llm(Box::new(pool))
        }
        (None, None) => station::resolve(&file, &run, &arrivals, loc)?,
    };
    let validation = run::validation(&file.validation, loc)?;
    let safety = safety::resolve(&file, &serving, loc)?.map(Box::new);
    Ok(Scenario {
        name,
        seed: file.seed.unwrap_or(1),
        path: path.to_path_buf(),
        file,
        run,
        arrivals,
        serving,
        validation,
        safety,
    })
}

/// The scenario's name (default: the file stem), which names its report folder.
fn name(file: &ScenarioFile, path: &Path, loc: &Locator) -> Result<String, ScenarioError> {
    let name = match &file.name {
        Some(n) => n.clone(),
        None => path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "scenario".into()),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) || name.starts_with('.')
    {
        return Err(loc.error(
            "name",
            format!("`{name}` cannot name a report folder"),
            "use letters, digits, `-`, `_` and `.`",
        ));
    }
    Ok(name)
}
