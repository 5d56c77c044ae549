//! Fidelity against measured benchmarks: simulate every row of a benchmark
//! file and report the error, per row and per group.
//!
//! Why through scenarios: each row becomes the scenario a user would write
//! for that run (`[engine] kind`, `[workload.clients]` with `batch_size`
//! clients and fixed `isl`/`osl`, the row's GPU, model and tp, and the
//! calibrated profile), loaded and run by the same code as `servesim run`,
//! so the number reported is the simulator's, not a side model's. Rows are
//! independent and run in parallel; results are collected in file order,
//! so the output is byte-identical whatever the thread count.
//!
//! How the runs were made ([`Replay`]): like the tool that measured the
//! rows. aiconfigurator's benchmark script runs aiperf in concurrency mode
//! with `20 x concurrency` requests after `2 x concurrency` warm-up
//! requests; aiperf starts the measured phase once the warm-up's requests
//! are answered, every client at once (`_wait_for_phase_completion` in
//! ai-dynamo/aiperf's `aiperf/timing/credit_issuing_strategy.py`). The
//! engine serves with the limits
//! aiconfigurator's generator writes into a benchmark configuration
//! ([`generated_limits`]). All three are flags of `servesim fidelity` for
//! files measured another way.

use super::{BenchRow, Expressed};
use crate::model::engine_step::Parallelism;
use crate::model::profile::{CalibratedProfile, GpuProfile};
use crate::model::step::StepModel;
use crate::scenario::{self, Serving};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// How the measured runs were produced (module doc): the benchmark tool's
/// run length and the engine limits of the configuration it served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replay {
    /// Measured requests each client sends.
    pub requests_per_client: u32,
    /// Unmeasured warm-up requests each client sends first.
    pub warmup_per_client: u32,
    /// The engine limits aiconfigurator's benchmark configurations set
    /// ([`generated_limits`]); false: the engines' shipped defaults.
    pub generated_limits: bool,
}

impl Default for Replay {
    /// aiconfigurator's benchmark script (`bench_run.sh.j2` in
    /// ai-dynamo/aiconfigurator's generator templates): `aiperf profile
    /// --concurrency N --num-requests 20N --warmup-request-count 2N`, against
    /// an engine configured by its generator's rules.
    fn default() -> Replay {
        Replay { requests_per_client: 20, warmup_per_client: 2, generated_limits: true }
    }
}

/// `[engine]` lines for the limits aiconfigurator's generator sets when it
/// writes a benchmark configuration for `clients` concurrent requests of
/// `isl` prompt tokens (`generator/rule_plugin/benchmark/{vllm,trtllm}.rule`):
/// `max_batch_size = clients` and `max_num_tokens = max_batch_size + isl +
/// 1500` (TensorRT-LLM: rounded up to its 32-token blocks). The step's
/// token budget is what decides how many prompts of a burst share a step.
/// SGLang's rule (`max_prefill_tokens = isl + 1500` with
/// `enable_mixed_chunk`) has no counterpart in servesim's SGLang policy,
/// which keeps the engine's defaults.
pub fn generated_limits(engine: &str, clients: u32, isl: u32) -> String {
    let tokens = u64::from(clients) + u64::from(isl) + 1500;
    let tokens = match engine {
        "vllm" => tokens,
        "trtllm" => tokens.div_ceil(32) * 32,
        _ => return String::new(),
    };
    format!("max_num_seqs = {clients}\nmax_num_batched_tokens = {tokens}\n")
}

/// What the simulator predicts for one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub ttft_ms: f64,
    pub tpot_ms: f64,
}

/// One row and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct RowOutcome {
    pub row: BenchRow,
    /// The row's report group ([`BenchRow::group`]).
    pub group: String,
    /// The prediction, or why the row is not expressed / failed to load.
    pub predicted: Result<Prediction, String>,
}

impl RowOutcome {
    /// Signed relative errors `(predicted - measured) / measured` of TTFT and TPOT.
    pub fn errors(&self) -> Option<(f64, f64)> {
        self.predicted.as_ref().ok().map(|p| relative_errors(&self.row, p))
    }
}

fn relative_errors(row: &BenchRow, p: &Prediction) -> (f64, f64) {
    (p.ttft_ms / row.ttft_ms - 1.0, p.tpot_ms / row.tpot_ms - 1.0)
}

/// The scenario a row stands for (module doc). `calibrated` names a profile
/// under `profiles/calibrated/`.
pub fn scenario_text(
    row: &BenchRow,
    (gpu, model, engine): (&str, &str, &str),
    profiles: &Path,
    calibrated: Option<&str>,
    run: Replay,
) -> String {
    let calibrated = calibrated.map(|c| format!("calibrated = \"{c}\"\n")).unwrap_or_default();
    let mut engine_keys = if row.moe_ep > 1 { format!("moe_ep = {}\n", row.moe_ep) } else { String::new() };
    // The engine's release where the row names one (a build label such as
    // "nightly-dev" is left out: the engine's default release applies).
    if let Some((major, Some(minor))) = scenario::release_number(&row.backend_version) {
        engine_keys.push_str(&format!("version = \"{major}.{minor}\"\n"));
    }
    if run.generated_limits {
        engine_keys.push_str(&generated_limits(engine, row.clients, row.isl));
    }
    format!(
        "name = \"bench-line-{line}\"\nseed = 1\n\n[workload]\nclients = {{ concurrency = {clients}, requests_per_client = \
         {per_client}, warmup_requests = {warmup} }}\nprompt_tokens = {{ fixed = {isl} }}\noutput_tokens = {{ fixed = {osl} }}\n\n\
         [replica]\ngpu = \"{gpu}\"\nmodel = \"{model}\"\ntp = {tp}\nprofiles = \"{profiles}\"\n{calibrated}\n[engine]\n\
         kind = \"{engine}\"\n{engine_keys}",
        line = row.line,
        clients = row.clients,
        per_client = run.requests_per_client,
        warmup = u64::from(run.warmup_per_client) * u64::from(row.clients),
        isl = row.isl,
        osl = row.osl,
        tp = row.tp,
        profiles = profiles.display().to_string().replace('\\', "\\\\"),
    )
}

/// What prices a row's steps: a calibrated profile found by name under
/// `profiles/calibrated/` (the scenario names it, as a user's would), or
/// one held in memory (a fit's candidate coefficients), installed in the
/// loaded scenario through the same [`StepModel::for_engine`] the loader
/// calls.
#[derive(Debug, Clone, Copy)]
pub enum Pricing<'a> {
    /// By name; None: `<gpu>-engines` when it exists, else the roofline.
    Named(Option<&'a str>),
    InMemory(&'a CalibratedProfile),
}

/// Simulates one row, or says why it cannot.
pub fn simulate(row: &BenchRow, profiles: &Path, pricing: Pricing, run: Replay) -> Result<Prediction, String> {
    let (gpu, model, engine) = match row.expressed(profiles) {
        Expressed::Yes { gpu, model, engine } => (gpu, model, engine),
        Expressed::Not(why) => return Err(why),
    };
    let path = profiles.join(format!("bench-line-{}.toml", row.line));
    let load = |text: &str| scenario::from_text(text, &path, &[]).map_err(|e| format!("scenario: {e}"));
    let s = match pricing {
        Pricing::Named(calibrated) => {
            let default = calibrated.is_none().then(|| default_engines(profiles, &gpu)).flatten();
            let calibrated = calibrated.or(default.as_deref());
            load(&scenario_text(row, (&gpu, &model, &engine), profiles, calibrated, run))?
        }
        Pricing::InMemory(profile) => {
            // Loaded unpriced and as one expert group (expert parallelism
            // is the step model's alone), then priced with the split.
            let unpriced = BenchRow { moe_ep: 1, ..row.clone() };
            let mut s = load(&scenario_text(&unpriced, (&gpu, &model, &engine), profiles, None, run))?;
            let Serving::Llm(pool) = &mut s.serving else { return Err("the scenario ran no LLM replica".into()) };
            let ep = row.moe_ep.max(1);
            let parallel = Parallelism { tp: row.tp, moe_tp: row.tp / ep, moe_ep: ep };
            let step = StepModel::for_engine(&pool.gpu, &pool.model, parallel, Some(profile), &engine)
                .map_err(|e| format!("calibrated: {e}"))?;
            pool.price_with(step);
            s
        }
    };
    let summary = crate::sim::run(&s).summary;
    let llm = summary.llm.as_ref().ok_or("the scenario ran no LLM replica")?;
    if llm.ttft.count == 0 || llm.tpot.count == 0 {
        return Err(format!("no request completed ({} offered)", summary.requests.offered));
    }
    Ok(Prediction { ttft_ms: llm.ttft.mean_s * 1e3, tpot_ms: llm.tpot.mean_s * 1e3 })
}

/// The calibrated profile that prices `gpu` by default: `<gpu>-engines`,
/// else the first (by name) `*-engines` profile under `profiles/calibrated/`
/// measured on a GPU of the same architecture, whose engine tables the
/// scenario loader carries over
/// ([`CalibratedProfile::transferred`]); None: the roofline.
fn default_engines(profiles: &Path, gpu: &str) -> Option<String> {
    let own = format!("{gpu}-engines");
    let dir = profiles.join("calibrated");
    if dir.join(format!("{own}.toml")).is_file() {
        return Some(own);
    }
    let architecture = GpuProfile::find(profiles, gpu).ok()?.architecture?;
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix("-engines.toml").map(|s| format!("{s}-engines")))
        .collect();
    names.sort();
    names.into_iter().find(|name| {
        CalibratedProfile::find(profiles, name)
            .ok()
            .flatten()
            .and_then(|c| GpuProfile::find(profiles, &c.gpu).ok())
            .is_some_and(|from| from.architecture.as_deref() == Some(architecture.as_str()))
    })
}

/// Every row, in parallel, results in file order.
/// `profiles` is made absolute first: each row's scenario names it.
pub fn run_all(rows: &[BenchRow], profiles: &Path, pricing: Pricing, run: Replay) -> Vec<RowOutcome> {
    let profiles = profiles.canonicalize().unwrap_or_else(|_| profiles.to_path_buf());
    rows.par_iter()
        .map(|row| RowOutcome {
            row: row.clone(),
            group: row.group(&profiles),
            predicted: simulate(row, &profiles, pricing, run).map_err(|why| why.replace('\n', "; ")),
        })
        .collect()
}

/// `fidelity.csv`: one line per row; unexpressed rows carry their reason.
pub fn csv(outcomes: &[RowOutcome]) -> String {
    let mut out = String::from(
        "line,id,group,clients,isl,osl,measured_ttft_ms,predicted_ttft_ms,ttft_error,measured_tpot_ms,predicted_tpot_ms,tpot_error,not_expressed\n",
    );
    for o in outcomes {
        let r = &o.row;
        let head = format!("{},{},{},{},{},{}", r.line, quote(&r.id), quote(&o.group), r.clients, r.isl, r.osl);
        match &o.predicted {
            Ok(p) => {
                let (et, ep) = relative_errors(r, p);
                writeln!(out, "{head},{},{:.4},{et:.5},{},{:.4},{ep:.5},", r.ttft_ms, p.ttft_ms, r.tpot_ms, p.tpot_ms)
            }
            Err(why) => writeln!(out, "{head},{},,,{},,,{}", r.ttft_ms, r.tpot_ms, quote(why)),
        }
        .expect("writing to a String");
    }
    out
}

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// MAPE and mean signed error of TTFT and TPOT over some rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Accuracy {
    pub rows: usize,
    pub ttft_mape: f64,
    pub ttft_bias: f64,
    pub tpot_mape: f64,
    pub tpot_bias: f64,
}

impl Accuracy {
    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a RowOutcome>) -> Accuracy {
        let errors: Vec<(f64, f64)> = outcomes.into_iter().filter_map(RowOutcome::errors).collect();
        let n = errors.len().max(1) as f64;
        let sum = |f: &dyn Fn(&(f64, f64)) -> f64| errors.iter().map(f).sum::<f64>() / n;
        Accuracy {
            rows: errors.len(),
            ttft_mape: sum(&|e| e.0.abs()),
            ttft_bias: sum(&|e| e.0),
            tpot_mape: sum(&|e| e.1.abs()),
            tpot_bias: sum(&|e| e.1),
        }
    }
}

/// `fidelity.md`: overall and per-group accuracy, the worst rows, and every
/// row not expressed with its reason.
pub fn markdown(outcomes: &[RowOutcome], source: &str, calibrated: Option<&str>) -> String {
    let mut groups: BTreeMap<String, Vec<&RowOutcome>> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.predicted.is_ok()) {
        groups.entry(o.group.clone()).or_default().push(o);
    }
    let all = Accuracy::of(outcomes);
    let mut md = format!(
        "# Fidelity against measured benchmarks\n\nBenchmarks: `{source}`; step model: {}.\n\
         {} rows, {} simulated, {} not expressed.\n\n",
        calibrated.map_or(
            "calibrated profile `<gpu>-engines` where one exists, else the `-engines` profile of a GPU of the same \
             architecture (its engine tables through the row's GPU datasheet), else the roofline"
                .to_string(),
            |c| format!("calibrated profile `{c}`"),
        ),
        outcomes.len(),
        all.rows,
        outcomes.len() - all.rows
    );
    md.push_str(
        "| group (engine model precision GPU tp) | rows | TTFT MAPE | TTFT signed | TPOT MAPE | TPOT signed |\n",
    );
    md.push_str("|---|---|---|---|---|---|\n");
    let line = |name: &str, a: Accuracy| {
        if a.rows == 0 {
            return format!("| {name} | 0 | — | — | — | — |\n");
        }
        format!(
            "| {name} | {} | {:.1}% | {:+.1}% | {:.1}% | {:+.1}% |\n",
            a.rows,
            a.ttft_mape * 100.0,
            a.ttft_bias * 100.0,
            a.tpot_mape * 100.0,
            a.tpot_bias * 100.0
        )
    };
    for (name, rows) in &groups {
        md.push_str(&line(name, Accuracy::of(rows.iter().copied())));
    }
    md.push_str(&line("**all simulated rows**", all));
    let mut worst: Vec<(&RowOutcome, f64)> =
        outcomes.iter().filter_map(|o| o.errors().map(|(t, p)| (o, t.abs().max(p.abs())))).collect();
    worst.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.row.line.cmp(&b.0.row.line)));
    md.push_str("\n## Worst rows (largest of |TTFT error|, |TPOT error|)\n\n| line | group | clients | isl | osl | TTFT measured / predicted ms | TPOT measured / predicted ms |\n|---|---|---|---|---|---|---|\n");
    for (o, p) in worst.iter().take(10).filter_map(|(o, _)| o.predicted.as_ref().ok().map(|p| (o, p))) {
        let r = &o.row;
        writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.1} / {:.1} | {:.2} / {:.2} |",
            r.line, o.group, r.clients, r.isl, r.osl, r.ttft_ms, p.ttft_ms, r.tpot_ms, p.tpot_ms
        )
        .expect("writing to a String");
    }
    let not: Vec<&RowOutcome> = outcomes.iter().filter(|o| o.predicted.is_err()).collect();
    if !not.is_empty() {
        md.push_str("\n## Rows not expressed\n\n| line | id | reason |\n|---|---|---|\n");
        for o in not {
            let why = o.predicted.as_ref().err().map(String::as_str).unwrap_or_default();
            writeln!(md, "| {} | {} | {} |", o.row.line, o.row.id, why.replace('|', "\\|"))
                .expect("writing to a String");
        }
    }
    md
}
