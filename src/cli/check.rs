//! `servesim check`: the CI gate. Runs scenarios (or reads saved
//! `summary.json` files), evaluates their `[check]` assertions and those of
//! `--assertions FILE`, prints a pass/fail table, and answers with the exit
//! code a pipeline needs: 0 all pass, 1 any fails, 2 bad input.
//!
//! Nothing is written: a job that wants the report folder as an artifact
//! runs `servesim run` and checks its `summary.json` with `--summary`.

use super::{Failure, ScenarioFlags};
use anyhow::anyhow;
use clap::Args;
use serde_json::Value;
use servesim::plan::check::{self, Assertion, Outcome};
use servesim::scenario::schema::CheckSection;
use servesim::scenario::{self, Locator};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Scenario files to run and check against their `[check]` table (and --assertions).
    scenarios: Vec<PathBuf>,
    /// A saved summary.json to check instead of running (repeatable); needs --assertions.
    #[arg(long, value_name = "SUMMARY_JSON")]
    summary: Vec<PathBuf>,
    /// A TOML file with a `[check]` table, applied to every scenario and summary.
    #[arg(long, value_name = "FILE")]
    assertions: Option<PathBuf>,
    /// A stored summary.json to diff against (repeatable; matched by its `scenario` name).
    #[arg(long, value_name = "SUMMARY_JSON")]
    baseline: Vec<PathBuf>,
    #[command(flatten)]
    flags: ScenarioFlags,
}

/// An assertions file: one `[check]` table, as in a scenario.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AssertionsFile {
    check: CheckSection,
}

/// Assertions with the locator that places their errors.
struct Parsed {
    assertions: Vec<Assertion>,
    loc: Locator,
}

pub fn check(args: CheckArgs) -> Result<ExitCode, Failure> {
    if args.scenarios.is_empty() && args.summary.is_empty() {
        return Err(Failure::input(anyhow!(
            "nothing to check\n  hint: servesim check SCENARIO.toml..., or --summary summary.json --assertions FILE"
        )));
    }
    let shared = args.assertions.as_deref().map(assertions_file).transpose()?;
    if !args.summary.is_empty() && shared.is_none() {
        return Err(Failure::input(anyhow!(
            "--summary needs --assertions FILE (a TOML file with a [check] table)\n  hint: or check the scenario \
             itself: servesim check SCENARIO.toml"
        )));
    }
    let baselines =
        args.baseline.iter().map(|p| Ok((p.clone(), read_summary(p)?))).collect::<Result<Vec<_>, Failure>>()?;
    // Every input is read and every assertion parsed before anything runs.
    let mut targets = Vec::new();
    for path in &args.scenarios {
        let scenario = args.flags.load(path)?;
        let text = scenario::read(path, "scenarios/").map_err(Failure::input)?;
        let loc = Locator::new(&text, path, args.flags.common.set_overrides()?).map_err(Failure::input)?;
        let own = check::parse(&scenario.file.check, "check", &loc).map_err(Failure::input)?;
        if own.is_empty() && shared.is_none() {
            return Err(Failure::input(anyhow!(
                "{}: no [check] table and no --assertions FILE: nothing to check\n  hint: add e.g. [check] \
                 ttft_p99 = \"<= 2s\" to the scenario (docs/guide/ci-check.md)",
                path.display()
            )));
        }
        targets.push((path.clone(), Source::Scenario(Box::new(scenario)), Some(Parsed { assertions: own, loc })));
    }
    for path in &args.summary {
        targets.push((path.clone(), Source::Summary(read_summary(path)?), None));
    }
    let names: Vec<String> = targets.iter().map(|(_, source, _)| source.name()).collect();
    if let Some((path, _)) =
        baselines.iter().find(|(_, b)| !names.iter().any(|n| Some(n.as_str()) == b["scenario"].as_str()))
    {
        return Err(Failure::input(anyhow!(
            "--baseline {}: its scenario matches none checked ({})\n  hint: a baseline is the summary.json of the same \
             scenario, from an earlier run",
            path.display(),
            names.join(", ")
        )));
    }
    let mut failed: Vec<String> = Vec::new();
    let mut total = 0;
    for (path, source, own) in targets {
        let summary = source.summary()?;
        let name = summary["scenario"].as_str().unwrap_or_default().to_string();
        let baseline = baselines.iter().find(|(_, b)| b["scenario"].as_str() == Some(name.as_str())).map(|(_, b)| b);
        let mut outcomes = Vec::new();
        for parsed in own.iter().chain(&shared) {
            outcomes
                .extend(check::evaluate(&parsed.assertions, &summary, baseline, &parsed.loc).map_err(Failure::input)?);
        }
        let failing: Vec<&Outcome> = outcomes.iter().filter(|o| !o.pass).collect();
        total += outcomes.len();
        failed.extend(failing.iter().map(|o| format!("{name}: {}", check::failure_line(o))));
        if !args.flags.common.quiet || !failing.is_empty() {
            let seed = summary["seed"].as_u64().map(|s| format!(" (seed {s})")).unwrap_or_default();
            say!("{name}{seed}: {}", path.display());
            say!("{}", check::table(&outcomes));
        }
    }
    match failed.is_empty() {
        true => {
            if !args.flags.common.quiet {
                say!("all {total} assertions pass");
            }
            Ok(ExitCode::SUCCESS)
        }
        false => {
            Err(Failure::failed(anyhow!("{} of {total} assertions failed:\n  {}", failed.len(), failed.join("\n  "))))
        }
    }
}

/// What one row of targets checks: a scenario to run, or a saved summary.
enum Source {
    Scenario(Box<scenario::Scenario>),
    Summary(Value),
}

impl Source {
    fn name(&self) -> String {
        match self {
            Source::Scenario(s) => s.name.clone(),
            Source::Summary(v) => v["scenario"].as_str().unwrap_or_default().to_string(),
        }
    }

    /// The summary as JSON: a run in memory, or the file as read.
    fn summary(self) -> Result<Value, Failure> {
        match self {
            Source::Scenario(s) => {
                let recorded = servesim::sim::run(&s);
                serde_json::to_value(&recorded.summary).map_err(Failure::failed)
            }
            Source::Summary(v) => Ok(v),
        }
    }
}

fn assertions_file(path: &Path) -> Result<Parsed, Failure> {
    let text = scenario::read(path, "your repository").map_err(Failure::input)?;
    let loc = Locator::new(&text, path, &[]).map_err(Failure::input)?;
    let file: AssertionsFile = loc.effective(&text, |e| e).map_err(Failure::input)?;
    let assertions = check::parse(&file.check, "check", &loc).map_err(Failure::input)?;
    Ok(Parsed { assertions, loc })
}

fn read_summary(path: &Path) -> Result<Value, Failure> {
    let text = servesim::input::read_text(path, servesim::input::TEXT_MAX_BYTES, "summary files")
        .map_err(|e| Failure::input(anyhow!("{}: cannot read the summary: {e}", path.display())))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        Failure::input(anyhow!(
            "{}:{}:{}: not a summary.json: {e}\n  hint: pass the summary.json of a report folder",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    if !value["scenario"].is_string() {
        return Err(Failure::input(anyhow!(
            "{}: not a summary.json (no `scenario` name)\n  hint: pass the summary.json of a report folder",
            path.display()
        )));
    }
    Ok(value)
}
