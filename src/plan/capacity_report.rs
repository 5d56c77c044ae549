//! What `servesim plan` writes: the winner (cheapest configuration meeting
//! every SLO), the runners-up (every other configuration's answer, by
//! cost), the Pareto frontier of cost vs the binding SLO's p99, and every
//! evaluated point — each with the `servesim run` command that reproduces
//! it (replication 0's seed; replication i's seed is listed in
//! `plan.json`) — as `plan.md`, `plan.csv`, `plan.json` and `report.html`.
//!
//! The frontier is drawn over the points that met every SLO, on the metric
//! that binds the winner: moving right along it buys a lower p99 with more
//! money. A point is on it when no cheaper (or equally cheap) point has a
//! p99 as low.

use super::capacity::{point_overrides, replication_seeds, Outcome, Point, Search, SloEstimate};
use super::space::Space;
use crate::report::html::{self, Verdict};
use serde::Serialize;
use std::fmt::Write;

/// One point, as reported.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    /// The configuration's `key=value` pairs.
    pub config: String,
    #[serde(flatten)]
    pub point: Point,
    pub command: String,
}

/// One configuration's search, as reported.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SearchRow {
    pub config: String,
    pub outcome: Outcome,
    pub points: Vec<Row>,
}

/// A frontier point: cost and the binding metric's p99 (mean over replications).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FrontierPoint {
    pub config: String,
    pub replicas: u32,
    pub usd_per_hour: f64,
    pub p99_s: f64,
}

/// The whole answer: `plan.json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlanReport {
    pub scenario: String,
    pub seed: u64,
    pub replication_seeds: Vec<u64>,
    pub confidence: f64,
    pub margin: f64,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub winner: Option<Row>,
    /// The other configurations' answers, cheapest first.
    pub runners_up: Vec<Row>,
    /// The metric the frontier's p99 is of (the winner's binding SLO).
    pub frontier_metric: Option<String>,
    pub frontier: Vec<FrontierPoint>,
    pub searches: Vec<SearchRow>,
}

/// Quotes `arg` for a POSIX shell when it holds anything but plain characters.
fn shell(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_.,/:=+@".contains(c)) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// The command that reproduces replication 0 of `point`.
fn command(space: &Space, point: &Point) -> String {
    let seed = replication_seeds(space.base.seed, 1)[0];
    let source = &space.source;
    let mut cmd = format!("servesim run {}", shell(&source.path.display().to_string()));
    for set in source.overrides_with(&point_overrides(&space.configs[point.config], point.replicas)) {
        let _ = write!(cmd, " --set {}", shell(&set));
    }
    if let Some(dir) = &source.profiles {
        let _ = write!(cmd, " --profiles {}", shell(&dir.display().to_string()));
    }
    let _ = write!(cmd, " --seed {seed}");
    cmd
}

fn row(space: &Space, p: &Point) -> Row {
    Row { config: space.configs[p.config].label(), point: p.clone(), command: command(space, p) }
}

/// Assembles the report of `searches` over `space`.
pub fn report(space: &Space, searches: &[Search]) -> PlanReport {
    let mut answers: Vec<&Point> = searches.iter().filter_map(Search::answer).collect();
    answers.sort_by(|a, b| a.usd_per_hour.total_cmp(&b.usd_per_hour).then(a.config.cmp(&b.config)));
    let winner = answers.first().map(|p| row(space, p));
    let runners_up = answers.iter().skip(1).map(|p| row(space, p)).collect();
    let frontier_metric = answers.first().map(|p| p.binding().metric.clone());
    let frontier = match &frontier_metric {
        Some(metric) => frontier(space, searches, metric),
        None => Vec::new(),
    };
    PlanReport {
        scenario: space.base.name.clone(),
        seed: space.base.seed,
        replication_seeds: replication_seeds(space.base.seed, space.replications),
        confidence: space.confidence,
        margin: space.margin,
        min_replicas: space.min_replicas,
        max_replicas: space.max_replicas,
        winner,
        runners_up,
        frontier_metric,
        frontier,
        searches: searches
            .iter()
            .map(|s| SearchRow {
                config: space.configs[s.config].label(),
                outcome: s.outcome.clone(),
                points: s.points.iter().map(|p| row(space, p)).collect(),
            })
            .collect(),
    }
}

fn metric_of<'a>(p: &'a Point, metric: &str) -> Option<&'a SloEstimate> {
    p.slo.iter().find(|e| e.metric == metric)
}

/// The Pareto frontier of cost vs `metric`'s p99 over the points meeting every SLO.
fn frontier(space: &Space, searches: &[Search], metric: &str) -> Vec<FrontierPoint> {
    let mut meeting: Vec<(&Point, f64)> = searches
        .iter()
        .flat_map(|s| &s.points)
        .filter(|p| p.meets)
        .filter_map(|p| metric_of(p, metric).map(|e| (p, e.mean_s)))
        .collect();
    meeting.sort_by(|a, b| a.0.usd_per_hour.total_cmp(&b.0.usd_per_hour).then(a.1.total_cmp(&b.1)));
    let mut out: Vec<FrontierPoint> = Vec::new();
    for (p, p99) in meeting {
        if out.last().is_none_or(|last| p99 < last.p99_s) {
            out.push(FrontierPoint {
                config: space.configs[p.config].label(),
                replicas: p.replicas,
                usd_per_hour: p.usd_per_hour,
                p99_s: p99,
            });
        }
    }
    out
}

/// `plan.json`: pretty JSON with a final newline.
pub fn to_json(r: &PlanReport) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(r).map(|mut s| {
        s.push('\n');
        s
    })
}

/// `plan.csv`: one row per evaluated point, full precision.
pub fn to_csv(r: &PlanReport) -> String {
    let metrics: Vec<String> = r
        .searches
        .iter()
        .flat_map(|s| &s.points)
        .next()
        .map(|p| p.point.slo.iter().map(|e| e.metric.clone()).collect())
        .unwrap_or_default();
    let mut out = String::from("config,replicas,gpus,usd_per_hour,meets,unanswered,usd_per_million_output_tokens");
    for m in &metrics {
        let _ = write!(out, ",{m}_mean_s,{m}_upper_s,{m}_target_s,{m}_headroom");
    }
    out.push_str(",command\n");
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for row in r.searches.iter().flat_map(|s| &s.points) {
        let p = &row.point;
        let _ = write!(
            out,
            "{},{},{},{},{},{},{}",
            quote(&row.config),
            p.replicas,
            p.gpus,
            p.usd_per_hour,
            p.meets,
            p.unanswered,
            p.usd_per_million_output_tokens
        );
        for e in &p.slo {
            let _ = write!(out, ",{},{},{},{}", e.mean_s, e.upper_s, e.target_s, e.headroom);
        }
        let _ = writeln!(out, ",{}", quote(&row.command));
    }
    out
}

fn ms(s: f64) -> String {
    format!("{:.1}", s * 1e3)
}

/// One line per SLO of a point: upper bound vs target, headroom.
fn slo_cells(p: &Point) -> String {
    p.slo
        .iter()
        .map(|e| format!("{} {} / {} ms ({:+.1}%)", e.metric, ms(e.upper_s), ms(e.target_s), e.headroom * 100.0))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `report.html`: `plan.md` on one page, under the answer and the
/// winner's SLOs (the binding one named) as verdicts.
pub fn to_html(r: &PlanReport, question: &str, replications: u32) -> String {
    let verdicts: Vec<Verdict> = match &r.winner {
        Some(w) => {
            let answer = Verdict {
                label: "answer".into(),
                pass: true,
                detail: format!(
                    "{} with {} replicas ({} GPUs), ${:.2}/hour",
                    w.config, w.point.replicas, w.point.gpus, w.point.usd_per_hour
                ),
            };
            let binding = &w.point.binding().metric;
            let slos = w.point.slo.iter().map(|e| Verdict {
                label: format!("SLO {}{}", e.metric, if &e.metric == binding { " (binding)" } else { "" }),
                pass: e.met,
                detail: format!(
                    "upper bound {} ms vs target {} ms, headroom {:.1}%",
                    ms(e.upper_s),
                    ms(e.target_s),
                    e.headroom * 100.0
                ),
            });
            std::iter::once(answer).chain(slos).collect()
        }
        None => vec![Verdict {
            label: "answer".into(),
            pass: false,
            detail: format!("no configuration meets every SLO with at most {} replicas", r.max_replicas),
        }],
    };
    html::study_page(&to_markdown(r, "", replications), question, &verdicts, &[])
}

/// `plan.md`: the answer for a person.
pub fn to_markdown(r: &PlanReport, question: &str, replications: u32) -> String {
    let mut o = format!("# {} capacity plan (seed {})\n\n", r.scenario, r.seed);
    for line in question.lines() {
        let _ = writeln!(o, "> {line}");
    }
    if !question.is_empty() {
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "Each point ran {replications} replications; an SLO is met when the upper end of its {:.0}% \
         Student-t interval of the p99 is within target x (1 - {}). Headroom is 1 - upper / target.\n",
        r.confidence * 100.0,
        r.margin
    );
    match &r.winner {
        Some(w) => {
            let b = w.point.binding();
            let _ = writeln!(
                o,
                "## Answer\n\n**{}** with **{} replicas** ({} GPUs), ${:.2}/hour (${:.3} per million output \
                 tokens).\n\nBinding SLO: `{}`, upper bound {} ms vs target {} ms, headroom {:.1}%.\n\n- {}\n\n\
                 Reproduce (replication 0):\n\n    {}\n",
                w.config,
                w.point.replicas,
                w.point.gpus,
                w.point.usd_per_hour,
                w.point.usd_per_million_output_tokens,
                b.metric,
                ms(b.upper_s),
                ms(b.target_s),
                b.headroom * 100.0,
                slo_cells(&w.point),
                w.command
            );
        }
        None => {
            let _ = writeln!(
                o,
                "## Answer\n\nNo configuration meets every SLO with at most {} replicas.\n",
                r.max_replicas
            );
        }
    }
    if !r.runners_up.is_empty() {
        let _ = writeln!(o, "## Runners-up\n\n| configuration | replicas | GPUs | $/hour | binding SLO | headroom |");
        let _ = writeln!(o, "|---|---:|---:|---:|---|---:|");
        for w in &r.runners_up {
            let b = w.point.binding();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {:.2} | {} | {:.1}% |",
                w.config,
                w.point.replicas,
                w.point.gpus,
                w.point.usd_per_hour,
                b.metric,
                b.headroom * 100.0
            );
        }
        o.push('\n');
    }
    if let Some(metric) = &r.frontier_metric {
        let _ = writeln!(
            o,
            "## Pareto frontier: cost vs `{metric}` (mean p99)\n\n| configuration | replicas | $/hour | p99 ms |"
        );
        let _ = writeln!(o, "|---|---:|---:|---:|");
        for f in &r.frontier {
            let _ = writeln!(o, "| {} | {} | {:.2} | {} |", f.config, f.replicas, f.usd_per_hour, ms(f.p99_s));
        }
        o.push('\n');
    }
    let _ = writeln!(o, "## Every search\n");
    for s in &r.searches {
        let outcome = match &s.outcome {
            Outcome::Found { replicas } => format!("smallest count meeting every SLO: {replicas}"),
            Outcome::Infeasible => format!("misses an SLO even with {} replicas", r.max_replicas),
            Outcome::Pruned { searched_to: None } => "pruned: even its fewest replicas cost more than the best".into(),
            Outcome::Pruned { searched_to: Some(n) } => {
                format!("pruned: misses an SLO with up to {n} replica(s), and more would cost more than the best")
            }
        };
        let _ = writeln!(o, "### {}: {outcome}\n", s.config);
        if s.points.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "| replicas | $/hour | meets | SLOs (upper bound / target) | command |\n|---:|---:|---|---|---|"
        );
        for row in &s.points {
            let p = &row.point;
            let _ = writeln!(
                o,
                "| {} | {:.2} | {} | {} | `{}` |",
                p.replicas,
                p.usd_per_hour,
                match (p.meets, p.unanswered) {
                    (true, _) => "yes".to_string(),
                    (false, 0) => "no".to_string(),
                    (false, n) => format!("no: {n} unanswered"),
                },
                slo_cells(p),
                row.command
            );
        }
        o.push('\n');
    }
    o
}
