//! `servesim profiles`: every GPU, model and calibrated profile a scenario
//! can name, where each comes from (built-in or a file that overrides it),
//! and the numbers a planner compares them by.

use super::flags::ProfilesFlag;
use super::Failure;
use clap::Args;
use servesim::model::profile::{CalibratedProfile, GpuProfile, ModelProfile, Profile, ProfileError};
use servesim::model::profile_lookup::{Origin, ProfileLookup, BUILT_IN};
use servesim::model::step;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ProfilesArgs {
    #[command(flatten)]
    profiles: ProfilesFlag,
}

pub fn profiles(args: ProfilesArgs) -> Result<ExitCode, Failure> {
    let lookup = args.profiles.lookup()?;
    let mut broken: Vec<ProfileError> = Vec::new();
    let gpus = rows::<GpuProfile>(&lookup, &mut broken, |g| {
        vec![
            format!("{:.0}", g.memory_bytes as f64 / 1e9),
            format!("{:.0}", g.bf16_flops_per_s / 1e12),
            format!("{:.2}", g.memory_bandwidth_bytes_per_s / 1e12),
            format!("{:.2}", g.price_per_gpu_hour_usd),
        ]
    });
    print_table("GPU profiles", &["name", "memory GB", "bf16 TFLOP/s", "HBM TB/s", "$/GPU-hour", "from"], &gpus);
    let models = rows::<ModelProfile>(&lookup, &mut broken, |m| {
        vec![
            format!("{:.2}", m.parameters as f64 / 1e9),
            m.layers.to_string(),
            m.hidden_size.to_string(),
            step::kv_bytes_per_token(m).to_string(),
        ]
    });
    print_table("Model profiles", &["name", "params B", "layers", "hidden", "KV bytes/token", "from"], &models);
    let calibrated = rows::<CalibratedProfile>(&lookup, &mut broken, |c| vec![c.gpu.clone(), calibrates(c)]);
    print_table("Calibrated profiles", &["name", "gpu", "calibrates", "from"], &calibrated);
    match broken.into_iter().next() {
        Some(e) => Err(Failure::input(anyhow::anyhow!("{e}\n  hint: fix or remove the profile file named above"))),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// One row per available profile of kind `P`: its name, `cells`, its origin.
/// A profile that does not load shows "invalid" and is kept in `broken`.
fn rows<P: Profile>(
    lookup: &ProfileLookup,
    broken: &mut Vec<ProfileError>,
    cells: impl Fn(&P) -> Vec<String>,
) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (name, origin) in lookup.entries::<P>() {
        let mut row = vec![name.clone()];
        match ProfileLookup::load::<P>(&name, &origin) {
            Ok(p) => row.extend(cells(&p)),
            Err(e) => {
                row.push("invalid (see the error below)".into());
                broken.push(e);
            }
        }
        row.push(match &origin {
            Origin::BuiltIn => origin.to_string(),
            Origin::File(path) => {
                let built_in = BUILT_IN.iter().find(|b| b.dir == P::DIR && b.name == name);
                match built_in.map(|b| std::fs::read_to_string(path).is_ok_and(|text| text == b.text)) {
                    Some(true) => format!("{origin} (same as built-in)"),
                    Some(false) => format!("{origin} (overrides built-in)"),
                    None => origin.to_string(),
                }
            }
        });
        out.push(row);
    }
    out
}

/// What a calibrated profile replaces: its measured values and engine tables.
fn calibrates(c: &CalibratedProfile) -> String {
    let mut what: Vec<String> = [
        ("step overhead", c.step_overhead.is_some()),
        ("HBM bandwidth", c.effective_memory_bandwidth_bytes_per_s.is_some()),
        ("FLOP/s", c.effective_flops_per_s.is_some()),
        ("NVLink bandwidth", c.effective_nvlink_bandwidth_bytes_per_s.is_some()),
        ("attention", c.effective_attention_bandwidth_bytes_per_s.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(name, _)| name.to_string())
    .collect();
    if !c.engines.is_empty() {
        what.push(format!("engines {}", c.engines.keys().cloned().collect::<Vec<_>>().join("/")));
    }
    what.join(", ")
}

/// A titled, column-aligned table; columns of numbers right-aligned.
fn print_table(title: &str, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..header.len())
        .map(|i| !rows.is_empty() && rows.iter().all(|r| r.get(i).is_some_and(|c| c.parse::<f64>().is_ok())))
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| match numeric[i] {
                true => format!("{c:>w$}", w = widths[i]),
                false => format!("{c:<w$}", w = widths[i]),
            })
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    say!("{title}");
    say!("  {}", line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>()));
    for row in rows {
        say!("  {}", line(row));
    }
    say!("");
}
