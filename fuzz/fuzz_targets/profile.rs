//! Arbitrary text as a profile file: the first byte picks the kind (GPU,
//! model, calibrated), the rest is the file. A profile that loads is then
//! built into a replica's step model with a shipped partner profile and
//! priced for one mixed step, as a scenario would use it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use servesim::core::llm::StepShape;
use servesim::model::profile::{self, CalibratedProfile, GpuProfile, ModelProfile};
use servesim::model::step::StepModel;
use std::path::Path;
use std::sync::OnceLock;

const PROFILES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../profiles");

/// The shipped partners: an H100 and Llama 3 8B.
fn partners() -> &'static (GpuProfile, ModelProfile) {
    static PARTNERS: OnceLock<(GpuProfile, ModelProfile)> = OnceLock::new();
    PARTNERS.get_or_init(|| {
        let root = Path::new(PROFILES);
        (
            profile::find(root, "h100-sxm").expect("shipped gpu profile"),
            profile::find(root, "llama-3-8b").expect("shipped model profile"),
        )
    })
}

fn price(step: Result<StepModel, profile::ProfileError>) {
    let shape = StepShape {
        prefill_tokens: 512,
        prefill_seqs: 1,
        prefill_attended: 512 * 513 / 2,
        prefill_cached_tokens: 0,
        decode_seqs: 8,
        decode_context_tokens: 8 * 1024,
    };
    match step {
        Ok(step) => drop(step.cost(&shape)),
        Err(e) => drop(e.to_string()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let (gpu, model) = partners();
    match kind % 3 {
        0 => match profile::parse::<GpuProfile>(text, Path::new("gpus/fuzzed.toml")) {
            Ok(g) => price(StepModel::new(&g, model, 1, None)),
            Err(e) => drop(e.to_string()),
        },
        1 => match profile::parse::<ModelProfile>(text, Path::new("models/fuzzed.toml")) {
            Ok(m) => price(StepModel::new(gpu, &m, 1, None)),
            Err(e) => drop(e.to_string()),
        },
        _ => match profile::parse::<CalibratedProfile>(text, Path::new("calibrated/fuzzed.toml")) {
            Ok(mut c) => {
                c.gpu = gpu.name.clone();
                price(StepModel::new(gpu, model, 1, Some(&c)))
            }
            Err(e) => drop(e.to_string()),
        },
    }
});
