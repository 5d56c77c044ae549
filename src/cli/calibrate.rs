//! `servesim calibrate`: measure real steps over a grid of shapes, fit the
//! step-time model, write `profiles/calibrated/<name>.toml` (atomically,
//! checked by loading it back) and a report folder with the sweep as
//! measured (`sweep.json`), the points, the fit's errors and a
//! measured-vs-predicted plot. `--refit sweep.json` fits a saved sweep
//! again, with no device: device time is scarce, fitting is not.
//! `--benchmarks FILE.csv` fits the engine step model to measured serving
//! runs instead ([`servesim::bench::fit`]), and reports the fit the way
//! `servesim fidelity --benchmarks` reports a profile.

use super::backend::ExecutorFlags;
use super::flags::{ProfilesFlag, ReplayFlags};
use super::Failure;
use anyhow::anyhow;
use clap::Args;
use servesim::bench::{self, fidelity, fit};
use servesim::core::llm::StepShape;
use servesim::live::calibrate::{self, Point, Sweep};
use servesim::live::{self, Backend};
use servesim::model::profile::{CalibratedProfile, GpuProfile, ModelProfile, ProfileError};
use servesim::report::{self, plots};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// Executor to measure.
    #[arg(long, value_enum, required_unless_present_any = ["refit", "benchmarks"])]
    backend: Option<Backend>,
    /// Fit a saved sweep (a calibration report's sweep.json) again instead of measuring: no device needed.
    #[arg(long, value_name = "SWEEP_JSON", conflicts_with = "backend")]
    refit: Option<PathBuf>,
    /// Fit the engine step model to measured serving runs (aiconfigurator silicon CSV, as `servesim fidelity
    /// --benchmarks` reads): every engine with rows on --gpu gets its [engines.<kind>] table. No device needed.
    #[arg(long, value_name = "FILE.csv", conflicts_with_all = ["backend", "refit"])]
    benchmarks: Option<PathBuf>,
    /// With --benchmarks: the calibrated profile (in <profiles>/calibrated/) the fit starts from and keeps
    /// the other tables of. Default: <gpu>-engines when it exists, else a neutral start.
    #[arg(long, value_name = "NAME", requires = "benchmarks")]
    start: Option<String>,
    /// With --benchmarks: rounds of the fit at most (each simulates the file about 12 times).
    #[arg(long, value_name = "N", default_value_t = 8, requires = "benchmarks",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,
    #[command(flatten)]
    replay: ReplayFlags,
    /// The GPU profile (in <profiles>/gpus/) the calibration replaces datasheet values of.
    #[arg(long, value_name = "NAME", default_value = "h100-sxm")]
    gpu: String,
    /// Calibrated profile to write, e.g. profiles/calibrated/h100.toml.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Timed repeats per shape (the median is kept); at least 20.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(20..))]
    repeats: u32,
    /// Untimed warm-up runs per shape.
    #[arg(long, default_value_t = 3)]
    warmup: u32,
    /// Report folder. Default: reports/calibrate-<profile name>/.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    #[command(flatten)]
    exec: ExecutorFlags,
    #[command(flatten)]
    profiles: ProfilesFlag,
}

/// The first line of every profile `calibrate` writes: it replaces an
/// existing `--out` file only when the file starts with it.
const PROFILE_HEADER: &str = "# Measured step-time coefficients (servesim calibrate). Use with replica.calibrated.";

/// Refuses an existing `--out` that is not a profile `calibrate` wrote.
fn check_profile_out(path: &Path) -> Result<(), Failure> {
    use std::io::Read as _;
    let ours = || {
        let mut head = Vec::new();
        let read = std::fs::File::open(path).and_then(|f| f.take(PROFILE_HEADER.len() as u64).read_to_end(&mut head));
        read.is_ok() && head == PROFILE_HEADER.as_bytes()
    };
    match std::fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(meta) if meta.is_file() && ours() => Ok(()),
        Ok(_) => Err(Failure::input(anyhow!(
            "--out {} exists and is not a profile servesim calibrate wrote; it was left untouched              (hint: choose a new file name)",
            path.display()
        ))),
    }
}

/// Writes `profile` to `out` under [`PROFILE_HEADER`] (temp file and
/// rename), checks it loads back, and returns the text written.
fn write_profile(profile: &CalibratedProfile, out: &Path) -> Result<String, Failure> {
    let body = toml::to_string(profile).map_err(|e| Failure::failed(anyhow!("encoding the profile: {e}")))?;
    let text = format!("{PROFILE_HEADER}\n{body}");
    report::write_file_atomic(out, text.as_bytes())
        .map_err(|e| Failure::failed(anyhow!("writing {}: {e}", out.display())))?;
    CalibratedProfile::load(out).map_err(|e| Failure::failed(anyhow!("the written profile does not load: {e}")))?;
    Ok(text)
}

fn csv(points: &[Point], fit: &calibrate::Fit) -> String {
    let mut out =
        format!("{},bytes,flops,measured_s,predicted_s,regime,kv_bytes,attention_flops\n", StepShape::CSV_HEADER);
    for p in points {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            p.shape.csv_fields(),
            p.bytes,
            p.flops,
            p.measured_s,
            fit.predict(p),
            if fit.memory_bound(p) { "memory" } else { "compute" },
            p.kv_bytes,
            p.attention_flops,
        ));
    }
    out
}

/// Measures the sweep on `backend`'s executor, printing each step.
fn measure(args: &CalibrateArgs, backend: Backend) -> Result<Sweep, Failure> {
    let mut exec = args.exec.open(backend, &args.profiles.lookup()?)?;
    let shapes = calibrate::grid(backend);
    say!(
        "calibrating {} on {}: {} shapes x ({} warm-up + {} timed, median)",
        exec.model().name,
        exec.device(),
        shapes.len(),
        args.warmup,
        args.repeats
    );
    let steps = calibrate::measure(exec.as_mut(), &shapes, (args.warmup, args.repeats), |s| {
        say!(
            "  prefill {:>5} (+{:>5} cached)  decode {:>3} seqs / {:>8} ctx  {:>10.3} ms",
            s.prefill_tokens,
            s.prefill_cached_tokens,
            s.decode_seqs,
            s.decode_context_tokens,
            s.measured_s * 1e3
        );
    })
    .map_err(Failure::failed)?;
    let copy = exec.copy_bandwidth().map_err(Failure::failed)?;
    let (device, layers) = (exec.device(), exec.model().layers);
    let (handoff, _) = live::driver::handoff(exec, shapes[0], args.repeats as usize).map_err(Failure::failed)?;
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let date =
        chrono::DateTime::from_timestamp(secs as i64, 0).map_or("?".into(), |d| d.format("%Y-%m-%d").to_string());
    Ok(Sweep {
        backend: backend.name().into(),
        device,
        model: args.exec.model_name(backend).into(),
        layers,
        date,
        warmup: args.warmup,
        repeats: args.repeats,
        copy_bandwidth_bytes_per_s: copy,
        handoff_s: handoff.as_secs_f64(),
        steps,
    })
}

/// A saved sweep; bad input names the file and where it went wrong.
fn load_sweep(path: &Path) -> Result<Sweep, Failure> {
    let text = servesim::input::read_text(path, servesim::input::TEXT_MAX_BYTES, "saved sweeps")
        .map_err(|e| Failure::input(anyhow!("--refit {}: cannot read it: {e}", path.display())))?;
    let sweep: Sweep = serde_json::from_str(&text).map_err(|e| {
        Failure::input(anyhow!(
            "{}:{}:{}: not a calibration sweep: {e} (hint: pass the sweep.json of a `servesim calibrate` report)",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    if sweep.steps.is_empty() {
        return Err(Failure::input(anyhow!("{}: `steps`: expected at least one measured step", path.display())));
    }
    if let Some((i, step)) =
        sweep.steps.iter().enumerate().find(|(_, s)| !(s.measured_s.is_finite() && s.measured_s > 0.0))
    {
        return Err(Failure::input(anyhow!(
            "{}: `steps[{i}].measured_s`: expected a step time > 0 seconds, got {}\n  hint: a step takes time; \
             re-measure with `servesim calibrate --backend cpu` or `--backend cuda`, or remove the step",
            path.display(),
            step.measured_s
        )));
    }
    Ok(sweep)
}

pub fn calibrate(args: CalibrateArgs) -> Result<ExitCode, Failure> {
    if args.out.extension().is_none_or(|e| e != "toml") {
        return Err(Failure::input(anyhow!("--out {}: expected a .toml file path", args.out.display())));
    }
    if let (None, Some(backend @ (Backend::Cpu | Backend::Cuda))) = (&args.refit, args.backend) {
        ExecutorFlags::check(backend)?;
    }
    check_profile_out(&args.out)?;
    let stem = args.out.file_stem().map_or("profile".into(), |s| s.to_string_lossy().into_owned());
    let dir = args.report.clone().unwrap_or_else(|| PathBuf::from("reports").join(format!("calibrate-{stem}")));
    report::check_out(&dir)?;
    let profiles = args.profiles.lookup()?;
    let gpu: GpuProfile = profiles.find(&args.gpu).map_err(Failure::input)?;
    if let Some(file) = &args.benchmarks {
        return benchmarks(file, &args, &gpu.name, &dir);
    }
    let sweep = match (&args.refit, args.backend) {
        (Some(path), _) => load_sweep(path)?,
        (None, Some(backend @ (Backend::Cpu | Backend::Cuda))) => measure(&args, backend)?,
        (None, _) => {
            return Err(Failure::input(anyhow!("calibrate measures real steps: use --backend cpu or --backend cuda")))
        }
    };
    let model: ModelProfile = profiles.find(&sweep.model).map_err(Failure::input)?;
    let points = sweep.points(&gpu, &model).map_err(Failure::input)?;
    let (copy, handoff) = (sweep.copy_bandwidth_bytes_per_s, sweep.handoff_s);
    // A saved sweep that cannot be fitted is bad input; a fresh one is a failed measurement.
    let fit = calibrate::fit(&points).map_err(|e| match args.refit {
        Some(_) => Failure::input(e),
        None => Failure::failed(e),
    })?;
    let ((mem_mape, mem_n), (comp_mape, comp_n)) = calibrate::regime_mape(&fit, &points);
    let bound = |fitted: bool| if fitted { "" } else { " (bound: no point in this regime)" };
    let (linear, form) = match fit.attention {
        None => ("", "one term: whole step"),
        Some(_) => (" linear-layer", "two terms: linear layers + attention"),
    };
    let attention = fit.attention.map_or(String::new(), |a| {
        format!(
            "attention: bandwidth {:.3e} B/s = {:.3} of the copy bandwidth below = {:.3} of {} peak{}, \
             compute {:.3e} FLOP/s = {:.3} of peak{}\n",
            a.bandwidth_bytes_per_s,
            a.bandwidth_bytes_per_s / copy,
            a.bandwidth_bytes_per_s / gpu.memory_bandwidth_bytes_per_s,
            gpu.name,
            bound(a.memory_fitted),
            a.flops_per_s,
            a.flops_per_s / gpu.bf16_flops_per_s,
            bound(a.compute_fitted),
        )
    });
    let summary = format!(
        "fit ({form}): overhead {:.1} us (+ live-path hand-off {:.1} us in the profile),{linear} bandwidth {:.3e} B/s = {:.3} of {} peak{},{linear} compute {:.3e} FLOP/s = {:.3} of peak{}\n\
         {attention}\
         MAPE: memory-bound {:.2}% over {mem_n} points, compute-bound {:.2}% over {comp_n} points, all {:.2}%\n\
         copy bandwidth (read + write, measured on the device) {:.3e} B/s; fitted{linear} bandwidth = {:.3} of it; \
         best memory-bound step moved {:.3} of it (bytes / measured time)\n",
        fit.overhead_s * 1e6,
        handoff * 1e6,
        fit.linear.bandwidth_bytes_per_s,
        fit.linear.bandwidth_bytes_per_s / gpu.memory_bandwidth_bytes_per_s,
        gpu.name,
        bound(fit.linear.memory_fitted),
        fit.linear.flops_per_s,
        fit.linear.flops_per_s / gpu.bf16_flops_per_s,
        bound(fit.linear.compute_fitted),
        mem_mape * 100.0,
        comp_mape * 100.0,
        calibrate::mape(&fit, &points.iter().collect::<Vec<_>>()) * 100.0,
        copy,
        fit.linear.bandwidth_bytes_per_s / copy,
        points.iter().filter(|p| fit.memory_bound(p)).map(|p| p.bytes / p.measured_s).fold(0.0, f64::max) / copy,
    );
    print!("{summary}");
    let refit = args.refit.as_ref().map_or(String::new(), |p| format!("; refitted from {}", p.display()));
    let source = format!(
        "servesim calibrate --backend {} on {}, model {} ({} layers, tp 1), {}, {} shapes x median of {}; fit {form}; \
         MAPE memory {:.2}% compute {:.2}%{refit}",
        sweep.backend,
        sweep.device,
        sweep.model,
        sweep.layers,
        sweep.date,
        points.len(),
        sweep.repeats,
        mem_mape * 100.0,
        comp_mape * 100.0
    );
    let with_handoff = calibrate::Fit { overhead_s: fit.overhead_s + handoff, ..fit };
    let profile = calibrate::profile(&with_handoff, &gpu.name, source);
    let text = write_profile(&profile, &args.out)?;
    say!("profile: {}", args.out.display());

    let mut order: Vec<&Point> = points.iter().collect();
    order.sort_by(|a, b| a.measured_s.total_cmp(&b.measured_s));
    let measured: Vec<(f64, f64)> = order.iter().enumerate().map(|(i, p)| (i as f64, p.measured_s * 1e3)).collect();
    let predicted: Vec<(f64, f64)> = order.iter().enumerate().map(|(i, p)| (i as f64, fit.predict(p) * 1e3)).collect();
    let svg = plots::xy_svg(
        &format!("{} ({} layers) on {}: measured vs predicted step time", sweep.model, sweep.layers, sweep.device),
        "shape (sorted by measured time)",
        "step time (ms)",
        &[
            plots::TimeSeries { label: "measured", points: &measured },
            plots::TimeSeries { label: "predicted", points: &predicted },
        ],
    )
    .map_err(Failure::failed)?;
    let md = format!("# Calibration: {}\n\n```\n{summary}```\n\nProfile:\n\n```toml\n{text}```\n", stem);
    let sweep_json =
        serde_json::to_string_pretty(&sweep).map_err(|e| Failure::failed(anyhow!("encoding the sweep: {e}")))?;
    let files = vec![
        ("sweep.json", sweep_json.into_bytes()),
        ("points.csv", csv(&points, &fit).into_bytes()),
        ("calibration.md", md.into_bytes()),
        ("measured_vs_predicted.svg", svg.into_bytes()),
    ];
    let dir = report::write_files(&dir, &files)?;
    say!("report: {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// `--benchmarks`: fit every engine's table to the measured rows on `gpu`.
fn benchmarks(file: &Path, args: &CalibrateArgs, gpu: &str, dir: &Path) -> Result<ExitCode, Failure> {
    let rows = bench::read(file).map_err(Failure::input)?;
    let folder = args.profiles.folder();
    let default = format!("{gpu}-engines");
    let start = match &args.start {
        Some(name) => servesim::model::profile::find::<CalibratedProfile>(folder, name).map_err(Failure::input)?,
        None => match servesim::model::profile::find::<CalibratedProfile>(folder, &default) {
            Err(ProfileError::NotFound { .. }) => CalibratedProfile { gpu: gpu.to_string(), ..Default::default() },
            found => found.map_err(Failure::input)?,
        },
    };
    if start.gpu != gpu {
        return Err(Failure::input(anyhow!(
            "--start {}: a profile for gpu `{}`, not `{gpu}`\n  hint: start from a profile of the GPU being fitted",
            start.name,
            start.gpu
        )));
    }
    let run = args.replay.replay();
    say!(
        "fitting the engine step model on {gpu} to {} ({} rows), {} rounds at most",
        file.display(),
        rows.len(),
        args.rounds
    );
    let fitted = fit::fit(&rows, folder, &start, run, args.rounds, |round, r| {
        let each: Vec<String> = r.objective.iter().map(|(e, o)| format!("{e} {:.4}", o)).collect();
        say!("  round {round}: mean |TPOT error| + {} |TTFT error|: {}", fit::TTFT_WEIGHT, each.join(", "));
    })
    .map_err(Failure::input)?;
    let fitted_rows: Vec<&fidelity::RowOutcome> = fitted.outcomes.iter().filter(|o| o.predicted.is_ok()).collect();
    let per_engine: Vec<String> = fitted
        .profile
        .engines
        .keys()
        .filter_map(|e| {
            let a = fidelity::Accuracy::of(fitted_rows.iter().copied().filter(|o| &o.row.backend == e));
            (a.rows > 0)
                .then(|| format!("{e} {:.1}/{:.1}% ({} rows)", a.tpot_mape * 100.0, a.ttft_mape * 100.0, a.rows))
        })
        .collect();
    let name = file.file_name().map_or("benchmarks".into(), |n| n.to_string_lossy().into_owned());
    let mut profile = fitted.profile;
    profile.source = format!(
        "servesim calibrate --benchmarks {name} on {gpu}: {} simulated rows, rounds {}; TPOT/TTFT MAPE {}",
        fitted_rows.len(),
        fitted.rounds.len(),
        per_engine.join(", ")
    );
    let text = write_profile(&profile, &args.out)?;
    let stem = args.out.file_stem().map_or(String::new(), |s| s.to_string_lossy().into_owned());
    let md = fidelity::markdown(&fitted.outcomes, &file.display().to_string(), Some(&stem));
    let all = fidelity::Accuracy::of(&fitted.outcomes);
    say!(
        "fitted: TPOT MAPE {:.1}%, TTFT MAPE {:.1}% over {} rows ({})",
        all.tpot_mape * 100.0,
        all.ttft_mape * 100.0,
        all.rows,
        per_engine.join(", ")
    );
    let groups = md.lines().skip_while(|l| !l.starts_with("| group")).take_while(|l| l.starts_with('|'));
    for line in groups {
        say!("{line}");
    }
    say!("profile: {}", args.out.display());
    let files = vec![
        ("fidelity.md", md.into_bytes()),
        ("fidelity.csv", fidelity::csv(&fitted.outcomes).into_bytes()),
        ("profile.toml", text.into_bytes()),
    ];
    let dir = report::write_files(dir, &files)?;
    say!("report: {}", dir.display());
    Ok(ExitCode::SUCCESS)
}
