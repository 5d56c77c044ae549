//! A shard's part of a sweep on disk, and the merge of all parts.
//!
//! A shard folder holds `shard.json` (what it is: the sweep's identity, the
//! shard `i/n`, its slice of the points, the full [`Spec`]) and `runs.csv`
//! (the [`Measured`] numbers of each of its runs, floats in Rust's shortest
//! round-trip form, so they read back bit for bit). The identity is a hash
//! of the spec and of the resolved base scenario (the file with every
//! `--set` applied), so shards of different scenarios, overrides, seeds or
//! grids never merge. The merge checks everything before it returns — same
//! sweep, shards `1..=n` each exactly once, every run present in order —
//! so a caller writes either the whole report or nothing.

use super::axis;
use super::table::{Measured, COLUMNS};
use super::{Spec, MAX_REPLICATIONS};
use crate::engine::rng::fnv1a;
use crate::plan::shard::{self, Shard};
use crate::plan::Refusal;
use crate::scenario::Scenario;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The manifest of a shard folder.
pub const MANIFEST: &str = "shard.json";
/// The runs of a shard folder.
pub const RUNS: &str = "runs.csv";

const KIND: &str = "servesim sweep shard";

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    /// Always "servesim sweep shard".
    kind: String,
    /// The sweep's identity: FNV-1a of the spec and the resolved scenario.
    sweep: String,
    /// `i/n`.
    shard: String,
    /// The grid points this shard ran, `[first, end)`.
    points: [usize; 2],
    spec: Spec,
}

/// The identity of a sweep: the same for every shard of one sweep command,
/// different as soon as the scenario, an override, the seed or the grid is.
pub fn identity(spec: &Spec, base: &Scenario) -> String {
    let text = serde_json::json!({ "spec": spec, "scenario": base.file }).to_string();
    format!("{:016x}", fnv1a(text.as_bytes()))
}

/// The files of shard `shard`'s folder: its manifest and its runs (`runs`,
/// point-major, for the grid points `points`).
pub fn files(
    spec: &Spec,
    identity: &str,
    shard: Shard,
    points: Range<usize>,
    runs: &[Measured],
) -> [(&'static str, Vec<u8>); 2] {
    let manifest = Manifest {
        kind: KIND.into(),
        sweep: identity.into(),
        shard: shard.to_string(),
        points: [points.start, points.end],
        spec: spec.clone(),
    };
    let mut json = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    json.push('\n');
    let mut csv = String::from("point,replication,rejected,e2e_p99_s");
    for (name, _, _) in COLUMNS {
        let _ = write!(csv, ",{name}");
    }
    let per_point = spec.runs_per_point();
    for (k, m) in runs.iter().enumerate() {
        let _ = write!(csv, "\n{},{},{},{}", points.start + k / per_point, k % per_point, m.rejected, m.e2e_p99_s);
        for value in m.columns {
            let _ = write!(csv, ",{value}");
        }
    }
    csv.push('\n');
    [(MANIFEST, json.into_bytes()), (RUNS, csv.into_bytes())]
}

/// One shard folder, read and checked on its own.
struct Part {
    dir: PathBuf,
    shard: Shard,
    manifest: Manifest,
}

fn at(dir: &Path, file: &str) -> String {
    dir.join(file).display().to_string()
}

fn read(path: &Path, limit: u64) -> Result<String, Refusal> {
    crate::input::read_text(path, limit, "shard files").map_err(|e| {
        Refusal::new(
            format!("{}: cannot read: {e}", path.display()),
            format!("give the folders `servesim sweep --shard I/N` wrote (each holds {MANIFEST} and {RUNS})"),
        )
    })
}

fn read_part(dir: &Path) -> Result<Part, Refusal> {
    let path = dir.join(MANIFEST);
    let text = read(&path, crate::input::TEXT_MAX_BYTES)?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
        Refusal::new(
            format!("{}:{}:{}: not a sweep shard manifest: {e}", path.display(), e.line(), e.column()),
            "the file is written by `servesim sweep --shard I/N`; run that shard again",
        )
    })?;
    let bad = |key: &str, why: String| {
        Refusal::new(
            format!("{}: `{key}`: {why}", path.display()),
            "the file is written by `servesim sweep --shard I/N`; run that shard again",
        )
    };
    if manifest.kind != KIND {
        return Err(bad("kind", format!("expected \"{KIND}\", got \"{}\"", manifest.kind)));
    }
    let shard = Shard::parse(&manifest.shard).map_err(|e| bad("shard", e.message))?;
    let spec = &manifest.spec;
    if spec.axes.is_empty() || spec.axes.iter().any(|a| a.values.is_empty()) {
        return Err(bad("spec.axes", "expected at least one key, each with at least one value".into()));
    }
    let points = axis::grid_size(&spec.axes).map_err(|e| bad("spec.axes", e.message))?;
    if spec.replications.is_some_and(|n| !(2..=MAX_REPLICATIONS).contains(&n)) {
        return Err(bad("spec.replications", format!("expected 2 to {MAX_REPLICATIONS}")));
    }
    let range = shard.range(points);
    if manifest.points != [range.start, range.end] {
        return Err(bad(
            "points",
            format!(
                "shard {shard} of {points} points runs [{}, {}), got {:?}",
                range.start, range.end, manifest.points
            ),
        ));
    }
    Ok(Part { dir: dir.to_path_buf(), shard, manifest })
}

/// The runs of `part`, checked row by row against its slice.
fn read_runs(part: &Part) -> Result<Vec<Measured>, Refusal> {
    let path = part.dir.join(RUNS);
    let text = read(&path, crate::input::TRACE_MAX_BYTES)?;
    let per_point = part.manifest.spec.runs_per_point();
    let [first, end] = part.manifest.points;
    let expected = (end - first) * per_point;
    let located = |line: usize, column: usize, why: String| {
        Refusal::new(
            format!("{}:{line}:{column}: {why}", path.display()),
            format!("{RUNS} is written by `servesim sweep --shard {}`; run that shard again", part.shard),
        )
    };
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let columns = 4 + COLUMNS.len();
    if header.split(',').count() != columns || !header.starts_with("point,replication,") {
        return Err(located(1, 1, format!("expected the header of {RUNS} ({columns} columns)")));
    }
    let mut runs = Vec::with_capacity(expected);
    for (k, line) in lines.enumerate() {
        let row = k + 2;
        if k >= expected {
            return Err(located(row, 1, format!("more rows than the {expected} runs of shard {}", part.shard)));
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != columns {
            return Err(located(row, 1, format!("expected {columns} fields, got {}", fields.len())));
        }
        let column = |i: usize| fields[..i].iter().map(|f| f.len() + 1).sum::<usize>() + 1;
        let want = [first + k / per_point, k % per_point];
        for (i, want) in want.into_iter().enumerate() {
            if fields[i].parse::<usize>() != Ok(want) {
                let name = ["point", "replication"][i];
                return Err(located(row, column(i), format!("expected {name} {want}, got `{}`", fields[i])));
            }
        }
        let rejected =
            fields[2].parse().map_err(|_| located(row, column(2), format!("expected a count, got `{}`", fields[2])))?;
        let mut numbers = [0.0; COLUMNS.len() + 1];
        for (i, slot) in numbers.iter_mut().enumerate() {
            let field = fields[3 + i];
            *slot =
                field.parse().map_err(|_| located(row, column(3 + i), format!("expected a number, got `{field}`")))?;
        }
        let mut columns_values = [0.0; COLUMNS.len()];
        columns_values.copy_from_slice(&numbers[1..]);
        runs.push(Measured { columns: columns_values, rejected, e2e_p99_s: numbers[0] });
    }
    if runs.len() != expected {
        return Err(located(
            runs.len() + 2,
            1,
            format!("{} runs, expected {expected} for shard {}", runs.len(), part.shard),
        ));
    }
    Ok(runs)
}

/// Reads the shard folders `dirs` and returns the sweep they belong to with
/// every run in point-major order, or why they do not make one whole sweep.
pub fn merge(dirs: &[PathBuf]) -> Result<(Spec, Vec<Measured>), Refusal> {
    let parts = dirs.iter().map(|d| read_part(d)).collect::<Result<Vec<_>, _>>()?;
    let Some(first) = parts.first() else {
        return Err(Refusal::new("no shard folders given", "e.g. servesim merge shards/*"));
    };
    for part in &parts[1..] {
        if part.manifest.sweep != first.manifest.sweep {
            let (a, b) = (&first.manifest, &part.manifest);
            return Err(Refusal::new(
                format!(
                    "{}: `sweep`: belongs to a different sweep ({} {}, seed {}) than {} ({} {}, seed {})",
                    at(&part.dir, MANIFEST),
                    b.spec.scenario,
                    b.sweep,
                    b.spec.seed,
                    at(&first.dir, MANIFEST),
                    a.spec.scenario,
                    a.sweep,
                    a.spec.seed
                ),
                "merge only the shards of one sweep command (same scenario, --set, --seed, --vary, \
                 --replications and --slo-p99)",
            ));
        }
    }
    let keyed: Vec<(Shard, &Part)> = parts.iter().map(|p| (p.shard, p)).collect();
    let ordered = shard::in_order(first.shard.count, &keyed, |p| p.dir.display().to_string())?;
    let mut runs = Vec::new();
    for part in ordered {
        runs.extend(read_runs(part)?);
    }
    Ok((first.manifest.spec.clone(), runs))
}
