//! SLO assertions for CI (`servesim check`): parse `[check]` tables, then
//! evaluate them against a run's `summary.json`, optionally beside a
//! baseline summary.
//!
//! Why two phases: the syntax of an assertion (`"<= 2s"`) is checked before
//! anything runs, so a typo costs no simulation; the metric's name is
//! checked against the summary itself, so every number a summary holds can
//! be asserted on (by its JSON path) without a list here going stale. The
//! friendly names (`ttft_p99`, `goodput_fraction`, ...) are aliases of such
//! paths. Every error is a located [`ScenarioError`] (file, line:column,
//! key, what was expected, a hint): exit code 2 at the CLI edge.

// A check error is fatal and happens at most once per invocation; it is
// the scenario's located error type, carried inline as there.
#![allow(clippy::result_large_err)]

use crate::scenario::schema::{CheckSection, CheckValue};
use crate::scenario::{Locator, ScenarioError};
use serde_json::Value;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Le,
    Lt,
    Ge,
    Gt,
    Eq,
    Ne,
}

impl Op {
    /// Longest first, so `<=` is not read as `<`.
    const ALL: [(&'static str, Op); 6] =
        [("<=", Op::Le), (">=", Op::Ge), ("==", Op::Eq), ("!=", Op::Ne), ("<", Op::Lt), (">", Op::Gt)];

    pub fn symbol(self) -> &'static str {
        Op::ALL.iter().find(|(_, op)| *op == self).map_or("?", |(s, _)| s)
    }

    fn holds(self, ordering: Option<std::cmp::Ordering>) -> bool {
        use std::cmp::Ordering::*;
        matches!(
            (self, ordering),
            (Op::Le, Some(Less | Equal))
                | (Op::Lt, Some(Less))
                | (Op::Ge, Some(Greater | Equal))
                | (Op::Gt, Some(Greater))
                | (Op::Eq, Some(Equal))
                | (Op::Ne, Some(Less | Greater))
        )
    }
}

/// What a metric is compared with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    Number(f64),
    /// A duration, in seconds: only for metrics in seconds (`..._s`).
    Seconds(f64),
    Bool(bool),
}

/// One parsed assertion: `metric op target`, and the key it was written at.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    /// The dotted key under the table (`check.ttft_p99`), for errors.
    pub key: String,
    /// The metric as written: an alias or a `summary.json` path.
    pub metric: String,
    pub op: Op,
    pub target: Target,
    /// The target as written (`2s`, `99%`).
    pub written: String,
}

/// Parses every entry of a `[check]` table; `table` is its key (`check`).
pub fn parse(section: &CheckSection, table: &str, loc: &Locator) -> Result<Vec<Assertion>, ScenarioError> {
    let mut leaves = Vec::new();
    flatten(section, "", &mut leaves);
    let mut out = Vec::new();
    for (metric, leaf) in leaves {
        let key = format!("{table}.{metric}");
        let (op, written) = match leaf {
            Leaf::Flag(b) => (Op::Eq, b.to_string()),
            Leaf::Text(text) => split_op(text).ok_or_else(|| {
                loc.error(
                    &key,
                    format!("expected `<op> <value>`, got {text:?}"),
                    format!("e.g. {metric} = \"<= 2s\"; {HINT}"),
                )
            })?,
            Leaf::Number(n) => {
                return Err(loc.error(&key, format!("expected a comparison, got the bare number {n}"), HINT));
            }
        };
        let target = target(&written).ok_or_else(|| {
            let expected = "a number, a duration, a percentage or true/false";
            loc.error(&key, format!("expected {expected} after `{}`, got {written:?}", op.symbol()), HINT)
        })?;
        if matches!(target, Target::Bool(_)) && !matches!(op, Op::Eq | Op::Ne) {
            let message = format!("`{}` orders numbers; true/false compare with == or !=", op.symbol());
            return Err(loc.error(&key, message, HINT));
        }
        out.push(Assertion { key, metric, op, target, written });
    }
    Ok(out)
}

const HINT: &str = "assertions read `metric = \"<op> <value>\"` with <=, <, >=, >, == or != and a number (0.99), \
                    a percentage (99%), a duration (2s, 150ms) or true/false; see docs/guide/ci-check.md";

/// One `[check]` entry that is not a table.
enum Leaf<'a> {
    Flag(bool),
    Number(f64),
    Text(&'a str),
}

/// Every leaf of `section` as (dotted metric, value), in key order.
fn flatten<'a>(section: &'a CheckSection, prefix: &str, out: &mut Vec<(String, Leaf<'a>)>) {
    for (name, value) in section {
        let metric = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        match value {
            CheckValue::Table(inner) => flatten(inner, &metric, out),
            CheckValue::Flag(b) => out.push((metric, Leaf::Flag(*b))),
            CheckValue::Number(n) => out.push((metric, Leaf::Number(*n))),
            CheckValue::Assertion(text) => out.push((metric, Leaf::Text(text))),
        }
    }
}

fn split_op(text: &str) -> Option<(Op, String)> {
    let t = text.trim();
    let (symbol, op) = Op::ALL.iter().find(|(s, _)| t.starts_with(s))?;
    let rest = t[symbol.len()..].trim();
    (!rest.is_empty()).then(|| (*op, rest.to_string()))
}

fn target(written: &str) -> Option<Target> {
    match written {
        "true" => return Some(Target::Bool(true)),
        "false" => return Some(Target::Bool(false)),
        _ => {}
    }
    let finite = |v: f64| v.is_finite().then_some(v);
    if let Ok(v) = written.parse::<f64>() {
        return finite(v).map(Target::Number);
    }
    if let Some(percent) = written.strip_suffix('%') {
        return percent.trim().parse::<f64>().ok().and_then(finite).map(|v| Target::Number(v / 100.0));
    }
    crate::time::parse_duration(written).ok().map(|d| Target::Seconds(d.as_secs_f64()))
}

/// Friendly names and the `summary.json` paths they stand for.
pub fn aliases() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = [
        ("goodput_fraction", "llm.goodput_fraction"),
        ("goodput_per_s", "llm.goodput_per_s"),
        ("slo_met", "llm.slo_met"),
        ("usd_per_million_output_tokens", "llm.cost.usd_per_million_output_tokens"),
        ("usd_per_million_input_tokens", "llm.cost.usd_per_million_input_tokens"),
        ("cost_usd", "llm.cost.usd"),
        ("gpu_busy_fraction", "llm.gpu_busy_fraction"),
        ("kv_peak_utilization", "llm.memory.kv_peak_utilization"),
        ("preemptions", "llm.preemptions"),
        ("throughput_per_s", "throughput.completed_per_s"),
        ("offered_per_s", "throughput.offered_per_s"),
        ("utilization", "servers.utilization_mean"),
        ("all_hold", "invariants.all_hold"),
    ]
    .into_iter()
    .map(|(a, p)| (a.to_string(), p.to_string()))
    .collect();
    let latencies = [
        ("ttft", "llm.ttft"),
        ("tpot", "llm.tpot"),
        ("tbt", "llm.tbt"),
        ("e2e", "latency.end_to_end"),
        ("queue_wait", "latency.queue_wait"),
    ];
    for (short, path) in latencies {
        for stat in ["mean", "p50", "p90", "p99", "p999", "max"] {
            out.push((format!("{short}_{stat}"), format!("{path}.{stat}_s")));
        }
    }
    out
}

/// One evaluated assertion, ready for the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub metric: String,
    /// The `summary.json` path the metric resolved to.
    pub path: String,
    pub op: Op,
    pub target: String,
    pub actual: String,
    /// Empty without a baseline, or when the baseline lacks the metric.
    pub baseline: String,
    pub delta: String,
    pub pass: bool,
}

/// Evaluates `assertions` against `summary` (a parsed `summary.json`),
/// with the same metric read from `baseline` when given.
pub fn evaluate(
    assertions: &[Assertion],
    summary: &Value,
    baseline: Option<&Value>,
    loc: &Locator,
) -> Result<Vec<Outcome>, ScenarioError> {
    let aliases = aliases();
    assertions
        .iter()
        .map(|a| {
            let path = aliases.iter().find(|(alias, _)| alias == &a.metric).map_or(a.metric.as_str(), |(_, p)| p);
            let Some(actual) = lookup(summary, path).filter(|v| v.is_number() || v.is_boolean()) else {
                return Err(unknown(a, path, summary, &aliases, loc));
            };
            let seconds = path.ends_with("_s");
            let pass = match (a.target, actual) {
                (Target::Bool(want), Value::Bool(got)) => a.op.holds(Some(got.cmp(&want))),
                (Target::Number(want), Value::Number(got)) => a.op.holds(got.as_f64().and_then(|g| g.partial_cmp(&want))),
                (Target::Seconds(want), Value::Number(got)) if seconds => {
                    a.op.holds(got.as_f64().and_then(|g| g.partial_cmp(&want)))
                }
                (Target::Seconds(_), Value::Number(_)) => {
                    return Err(loc.error(
                        &a.key,
                        format!("`{}` ({path}) is not a time, so it cannot compare with the duration {}", a.metric, a.written),
                        "durations compare with metrics in seconds (paths ending in _s, e.g. ttft_p99); write a plain number",
                    ))
                }
                (_, got) => {
                    return Err(loc.error(
                        &a.key,
                        format!("`{}` ({path}) is {}, so it cannot compare with {}", a.metric, kind(got), a.written),
                        "compare true/false metrics with `== true`, numbers with a number",
                    ))
                }
            };
            let before = baseline.and_then(|b| lookup(b, path));
            let delta = match (actual.as_f64(), before.and_then(Value::as_f64)) {
                (Some(now), Some(then)) => signed(shown(now - then, seconds)),
                _ => match before {
                    Some(then) if then != actual => "changed".into(),
                    _ => String::new(),
                },
            };
            Ok(Outcome {
                metric: a.metric.clone(),
                path: path.to_string(),
                op: a.op,
                target: a.written.clone(),
                actual: value_text(actual, seconds),
                baseline: before.map(|b| value_text(b, seconds)).unwrap_or_default(),
                delta,
                pass,
            })
        })
        .collect()
}

fn lookup<'v>(summary: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(summary, |v, part| v.get(part))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "true/false",
        _ => "a number",
    }
}

/// The error for a metric the summary does not hold, with close names.
fn unknown(a: &Assertion, path: &str, summary: &Value, aliases: &[(String, String)], loc: &Locator) -> ScenarioError {
    let mut paths = Vec::new();
    leaves(summary, "", &mut paths);
    let mut names: Vec<&str> =
        aliases.iter().map(|(a, _)| a.as_str()).chain(paths.iter().map(String::as_str)).collect();
    names.sort_by_key(|n| (distance(&a.metric, n), n.to_string()));
    let close: Vec<&str> =
        names.into_iter().filter(|n| distance(&a.metric, n) <= a.metric.len().max(6) / 2).take(5).collect();
    let message = match lookup(summary, path) {
        Some(Value::Object(_)) => format!("`{path}` is a table of metrics, not one metric"),
        Some(_) => format!("`{path}` is not a number or true/false"),
        None if path != a.metric => format!("`{}` ({path}) is not in this summary", a.metric),
        None => format!("unknown metric `{}`", a.metric),
    };
    let hint = match close.is_empty() {
        true => "name a friendly metric (ttft_p99, tpot_p99, goodput_fraction, usd_per_million_output_tokens) or a \
                 summary.json path (invariants.all_hold); LLM metrics need a [replica] scenario"
            .to_string(),
        false => format!("close names: {}", close.join(", ")),
    };
    loc.error(&a.key, message, hint)
}

/// Dotted paths of every number and boolean in `v`.
fn leaves(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, inner) in map {
                leaves(inner, &if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, out);
            }
        }
        Value::Number(_) | Value::Bool(_) => out.push(prefix.to_string()),
        _ => {}
    }
}

/// Levenshtein distance, O(|a| x |b|); names are short.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

fn value_text(v: &Value, seconds: bool) -> String {
    match v.as_f64() {
        Some(x) => shown(x, seconds),
        None => v.to_string(),
    }
}

/// A number as a person reads it: seconds as `ms` below one second, else
/// `s`; other numbers with up to six significant decimals.
fn shown(x: f64, seconds: bool) -> String {
    if seconds {
        return match x.abs() < 1.0 {
            true => format!("{:.3}ms", x * 1e3),
            false => format!("{x:.3}s"),
        };
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let text = format!("{x:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn signed(text: String) -> String {
    match text.starts_with('-') {
        true => text,
        false => format!("+{text}"),
    }
}

/// The pass/fail table, plain text with aligned columns.
pub fn table(outcomes: &[Outcome]) -> String {
    let header = ["metric", "op", "target", "actual", "baseline", "delta", "verdict"];
    let rows: Vec<[String; 7]> = outcomes
        .iter()
        .map(|o| {
            [
                o.metric.clone(),
                o.op.symbol().to_string(),
                o.target.clone(),
                o.actual.clone(),
                o.baseline.clone(),
                o.delta.clone(),
                if o.pass { "pass".into() } else { "FAIL".into() },
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 7]| {
        let padded: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    for row in &rows {
        out.push_str(&line(row.each_ref().map(String::as_str)));
    }
    out
}

/// "ttft_p99 <= 2s (actual 2.310s)" for a failed assertion.
pub fn failure_line(o: &Outcome) -> String {
    format!("{} {} {} (actual {})", o.metric, o.op.symbol(), o.target, o.actual)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parsed(text: &str) -> Result<Vec<Assertion>, ScenarioError> {
        #[derive(serde::Deserialize)]
        struct File {
            check: CheckSection,
        }
        let loc = Locator::new(text, Path::new("a.toml"), &[]).unwrap();
        let file: File = loc.effective(text, |e| e).unwrap();
        parse(&file.check, "check", &loc)
    }

    #[test]
    fn assertions_parse_with_units() {
        let a = parsed("[check]\nttft_p99 = \"<= 2s\"\ngoodput_fraction = \">= 99%\"\nllm.slo_met = true\n").unwrap();
        let by = |m: &str| a.iter().find(|x| x.metric == m).unwrap().clone();
        assert_eq!((by("ttft_p99").op, by("ttft_p99").target), (Op::Le, Target::Seconds(2.0)));
        assert_eq!(by("goodput_fraction").target, Target::Number(0.99));
        assert_eq!((by("llm.slo_met").op, by("llm.slo_met").target), (Op::Eq, Target::Bool(true)));
    }

    #[test]
    fn malformed_assertions_are_located() {
        let e = parsed("[check]\nttft_p99 = \"about 2s\"\n").unwrap_err();
        assert_eq!(
            e.to_string().lines().next().unwrap(),
            "a.toml:2:12: `check.ttft_p99`: expected `<op> <value>`, got \"about 2s\""
        );
        let e = parsed("[check]\n\ngoodput_fraction = 0.99\n").unwrap_err().to_string();
        assert!(e.starts_with("a.toml:3:20:") && e.contains("bare number"), "{e}");
        let e = parsed("[check]\nslo_met = \"< true\"\n").unwrap_err().to_string();
        assert!(e.contains("true/false compare with == or !="), "{e}");
    }

    #[test]
    fn metrics_resolve_and_compare() {
        let summary = serde_json::json!({"llm": {"ttft": {"p99_s": 0.5}, "goodput_fraction": 0.98, "slo_met": true}});
        let a = parsed("[check]\nttft_p99 = \"< 500ms\"\ngoodput_fraction = \">= 0.9\"\nslo_met = true\n").unwrap();
        let loc = Locator::new("", Path::new("a.toml"), &[]).unwrap();
        let out = evaluate(&a, &summary, Some(&summary), &loc).unwrap();
        let pass: Vec<(&str, bool)> = out.iter().map(|o| (o.metric.as_str(), o.pass)).collect();
        assert_eq!(pass, [("goodput_fraction", true), ("slo_met", true), ("ttft_p99", false)]);
        assert_eq!((out[2].actual.as_str(), out[2].delta.as_str()), ("500.000ms", "+0.000ms"));
        let a = parsed("[check]\nttft_p98 = \"< 1s\"\n").unwrap();
        let e = evaluate(&a, &summary, None, &loc).unwrap_err().to_string();
        assert!(e.contains("unknown metric `ttft_p98`") && e.contains("close names: ttft_p90, ttft_p99"), "{e}");
    }

    #[test]
    fn edit_distance() {
        assert_eq!(distance("ttft_p98", "ttft_p99"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
