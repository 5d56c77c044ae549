//! `servesim compare`: two or more scenarios, or one scenario under
//! several `--variant`s, side by side on the same seeded workload (see
//! `servesim::plan::compare`).

use super::{Failure, ScenarioFlags};
use anyhow::anyhow;
use clap::Args;
use servesim::plan::compare::{self, Item};
use servesim::plan::compare_report;
use servesim::report;
use servesim::scenario::Origin;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Scenario files (TOML): two or more, or one with --variant.
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
    /// One scenario under overrides, compared with the scenario as written,
    /// e.g. --variant chunked:batching.policy=chunked-prefill,batching.chunk_tokens=512 (repeatable).
    #[arg(long, value_name = "NAME:KEY=VALUE,...")]
    variant: Vec<String>,
    /// Independent replications of each item (confidence intervals from 2 on).
    #[arg(long, default_value_t = 1)]
    replications: u32,
    /// Compare even when the items' workloads (`[workload]`, `[[tenants]]`, `[run]`) differ.
    #[arg(long)]
    allow_different_workloads: bool,
    /// Output folder. Default: reports/<first item>-compare/.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    flags: ScenarioFlags,
}

/// `NAME:KEY=VALUE,...` as a name and its overrides.
fn parse_variant(raw: &str) -> Result<(String, Vec<String>), Failure> {
    let bad = |why: &str| {
        Failure::input(anyhow!(
            "--variant {raw}: {why}\n  hint: write NAME:KEY=VALUE,KEY=VALUE, e.g. --variant chunked:batching.policy=chunked-prefill"
        ))
    };
    let Some((name, sets)) = raw.split_once(':') else { return Err(bad("expected NAME: before the overrides")) };
    let name = name.trim();
    if name.is_empty() {
        return Err(bad("the variant has no name"));
    }
    let sets: Vec<String> = sets.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
    if sets.is_empty() {
        return Err(bad("no KEY=VALUE after the name"));
    }
    for set in &sets {
        let Some((key, _)) = set.split_once('=') else { return Err(bad(&format!("`{set}` is not KEY=VALUE"))) };
        super::flags::check_key("--variant", key)?;
    }
    Ok((name.to_string(), sets))
}

pub fn compare(args: CompareArgs) -> Result<ExitCode, Failure> {
    let mut items = Vec::new();
    for path in &args.scenarios {
        let s = args.flags.load(path)?;
        items.push(Item { name: s.name.clone(), scenario: s, sets: args.flags.common.set.clone() });
    }
    if !args.variant.is_empty() {
        if args.scenarios.len() > 1 {
            return Err(Failure::input(anyhow!(
                "--variant applies to one scenario, got {}\n  hint: compare several scenarios, or one scenario under variants",
                args.scenarios.len()
            )));
        }
        let source = args.flags.source(&args.scenarios[0])?;
        for raw in &args.variant {
            let (name, sets) = parse_variant(raw)?;
            let s = source.load(&sets).map_err(|mut e| {
                if let Origin::Override(text) = &e.origin {
                    if sets.contains(text) {
                        e.origin = Origin::Flag(format!("--variant {raw}"));
                    }
                }
                Failure::input(e)
            })?;
            let shown = args.flags.common.set.iter().cloned().chain(sets).collect();
            items.push(Item { name, scenario: s, sets: shown });
        }
    }
    for (i, item) in items.iter().enumerate() {
        if items[..i].iter().any(|earlier| earlier.name == item.name) {
            return Err(Failure::input(anyhow!(
                "two items are named `{}`: the table could not tell them apart\n  hint: give the scenarios distinct \
                 `name`s, or --set name=... on one run per scenario",
                item.name
            )));
        }
    }
    if items.len() < 2 {
        return Err(Failure::input(anyhow!(
            "nothing to compare: one scenario and no --variant\n  hint: give two or more scenarios, or add \
             --variant NAME:KEY=VALUE,... (e.g. --variant chunked:batching.policy=chunked-prefill)"
        )));
    }
    if args.replications == 0 {
        return Err(Failure::input(anyhow!("--replications: expected an integer >= 1, got 0")));
    }
    if !args.allow_different_workloads {
        for item in &items[1..] {
            if let Some(key) = compare::same_workload(&items[0].scenario, &item.scenario) {
                return Err(Failure::input(anyhow!(
                    "{} and {} differ in `{key}`: compare runs every item on the same seeded workload\n  hint: \
                     give both the same workload, or pass --allow-different-workloads to compare them anyway",
                    items[0].name,
                    item.name
                )));
            }
        }
    }
    let out = args.out.unwrap_or_else(|| PathBuf::from("reports").join(format!("{}-compare", items[0].name)));
    report::check_out(&out)?;
    let seeds = compare::seeds(items[0].scenario.seed, args.replications);
    let runs = compare::run(&items, &seeds);
    let table = compare::table(&items, &runs);
    let md = compare_report::to_markdown(&items, &seeds, &table);
    let json = compare_report::to_json(&compare_report::CompareReport {
        items: compare_report::info(&items),
        seeds: &seeds,
        table: &table,
    })
    .map_err(|e| Failure::failed(anyhow!("encoding compare.json: {e}")))?;
    let mut files = vec![
        ("compare.md", md.clone().into_bytes()),
        ("compare.csv", compare_report::to_csv(&table).into_bytes()),
        ("compare.json", json.into_bytes()),
    ];
    for (name, svg) in compare_report::plots(&items, &runs).map_err(Failure::failed)? {
        files.push((name, svg.into_bytes()));
    }
    let question = report::question_at(&items[0].scenario.path);
    files.push(("report.html", compare_report::to_html(&md, &question, &items, &runs, &files).into_bytes()));
    let dir = report::write_files(&out, &files)?;
    if !args.flags.common.quiet {
        print!("{md}");
        say!("report: {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}
