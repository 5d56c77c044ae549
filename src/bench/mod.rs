//! Measured serving benchmarks in aiconfigurator's "silicon" CSV format,
//! and what servesim makes of each row.
//!
//! Why this format: NVIDIA's aiconfigurator publishes measured runs of
//! vLLM, SGLang and TensorRT-LLM in it (one row per run), and a planner's
//! own benchmark sweep is easy to write the same way. Each row is one
//! closed-loop benchmark: `batch_size` clients, each sending its next
//! request of `isl` prompt tokens and `osl` output tokens the moment its
//! previous answer completes; the row reports the mean TTFT and TPOT.
//!
//! Columns read (others, e.g. `silicon_data_source` and the `prefill_*` /
//! `decode_*` disaggregation fields, are ignored; extra columns are fine):
//!
//! | column | meaning |
//! |---|---|
//! | `id` | run identifier (rows are reported by it) |
//! | `backend`, `backend_version` | engine: `vllm`, `sglang`, `trtllm`, and its version |
//! | `model_path` | Hugging Face model id, e.g. `Qwen/Qwen3-32B` |
//! | `system` | GPU, e.g. `h100_sxm` (profile `h100-sxm`) |
//! | `precision` | empty = bf16; `fp8`, `fp4`, `int4` = weights in that format |
//! | `mode` | `agg` (prefill and decode on the same workers) or `disagg` |
//! | `isl`, `osl` | prompt and output tokens of every request |
//! | `batch_size` | concurrent clients (closed loop, zero think time) |
//! | `tp_size`, `pp_size`, `attention_dp_size`, `moe_tp_size`, `moe_ep_size` | parallelism of one instance (`pp`, `attention_dp`, `moe_*`: empty or 0 = 1, as aiconfigurator writes an unused dimension) |
//! | `silicon_ttft_ms`, `silicon_tpot_ms` | measured mean TTFT and TPOT, milliseconds |
//!
//! A row maps to servesim's profiles by name:
//! - the GPU profile is `system` with `_` as `-`, or without its `-sxm`
//!   form factor when only that profile exists (`h200_sxm` is `h200`);
//! - the model profile is the last part of `model_path`, lower-cased,
//!   without `-instruct`, with `-<precision>` appended unless the name
//!   already ends with it (`Qwen/Qwen3-32B` at `fp8` is `qwen3-32b-fp8`);
//!   or the model's own profile when there is none with the suffix and its
//!   weights already are in that precision (`openai/gpt-oss-120b` at `fp4`
//!   is `gpt-oss-120b`, whose experts are fp4);
//! - expert parallelism (`moe_ep_size` > 1, with `moe_tp_size x
//!   moe_ep_size = tp_size`) becomes `engine.moe_ep`; a dense model's
//!   `moe_*` columns are ignored.
//!
//! A row servesim cannot express is kept with the reason
//! ([`Expressed::Not`]); nothing is dropped silently. That includes a row
//! whose values cannot be read (a disaggregated run leaves `batch_size` and
//! `tp_size` empty): the file is still replayed, and the row is listed with
//! the column and what was expected. A file without the format's columns,
//! or not CSV, is an error.
//!
//! A measured run request by request (a trace with each request's measured
//! latencies, [`crate::workload::measured`]) is replayed by [`replay`].

pub mod fidelity;
pub mod fit;
pub mod replay;

use crate::model::profile::ModelProfile;
use std::path::Path;

/// One measured run.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    /// 1-based line in the file (the header is line 1).
    pub line: usize,
    pub id: String,
    pub backend: String,
    pub backend_version: String,
    pub model_path: String,
    pub system: String,
    /// "" for bf16.
    pub precision: String,
    pub mode: String,
    pub isl: u32,
    pub osl: u32,
    pub clients: u32,
    pub tp: u32,
    pub pp: u32,
    pub attention_dp: u32,
    pub moe_tp: u32,
    pub moe_ep: u32,
    pub ttft_ms: f64,
    pub tpot_ms: f64,
    /// The first value of the row that could not be read (column, what was
    /// expected, what was there); its numbers are then 0 and the row is
    /// not expressed.
    pub unreadable: Option<String>,
}

/// A file that cannot be read as benchmarks (located).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct BenchError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

const REQUIRED: [&str; 12] = [
    "id",
    "backend",
    "model_path",
    "system",
    "mode",
    "isl",
    "osl",
    "batch_size",
    "tp_size",
    "silicon_ttft_ms",
    "silicon_tpot_ms",
    "precision",
];

/// Reads every row of `path`. A missing column or a file that is not CSV
/// is an error naming the line; a value that cannot be read makes its row
/// [`BenchRow::unreadable`], not the file an error.
pub fn read(path: &Path) -> Result<Vec<BenchRow>, BenchError> {
    let file = path.display().to_string();
    let err = |line: Option<usize>, message: String| BenchError { file: file.clone(), line, message };
    let text = crate::input::read_text(path, crate::input::TEXT_MAX_BYTES, "benchmark files").map_err(|e| {
        match crate::input::NotUtf8::of(&e) {
            Some(at) => err(Some(at.line), at.to_string()),
            None => err(None, e.to_string()),
        }
    })?;
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| err(Some(1), e.to_string()))?.clone();
    let col = |name: &str| header.iter().position(|h| h == name);
    if let Some(missing) = REQUIRED.iter().find(|c| col(c).is_none()) {
        return Err(err(
            Some(1),
            format!(
                "missing column `{missing}`; expected aiconfigurator's silicon format (see `servesim fidelity --help`)"
            ),
        ));
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| err(Some(line), e.to_string()))?;
        let text = |name: &str| col(name).and_then(|c| record.get(c)).unwrap_or("").trim().to_string();
        let mut unreadable = None;
        // A count >= 1; `unused` (a dimension aiconfigurator leaves empty
        // or 0 when the run does not split that way) reads as 1.
        let mut count = |name: &str, unused: bool| -> u32 {
            let t = text(name);
            match t.parse::<f64>() {
                Ok(v) if v >= 1.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX) => v as u32,
                Ok(v) if unused && v == 0.0 => 1,
                Err(_) if unused && t.is_empty() => 1,
                _ => {
                    unreadable.get_or_insert(format!("column `{name}`: expected an integer >= 1, got `{t}`"));
                    0
                }
            }
        };
        let (isl, osl, clients, tp) =
            (count("isl", false), count("osl", false), count("batch_size", false), count("tp_size", false));
        let (pp, attention_dp, moe_tp, moe_ep) = (
            count("pp_size", true),
            count("attention_dp_size", true),
            count("moe_tp_size", true),
            count("moe_ep_size", true),
        );
        let mut millis = |name: &str| -> f64 {
            let t = text(name);
            t.parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0).unwrap_or_else(|| {
                unreadable.get_or_insert(format!("column `{name}`: expected milliseconds > 0, got `{t}`"));
                0.0
            })
        };
        let (ttft_ms, tpot_ms) = (millis("silicon_ttft_ms"), millis("silicon_tpot_ms"));
        rows.push(BenchRow {
            line,
            id: text("id"),
            backend: text("backend"),
            backend_version: text("backend_version"),
            model_path: text("model_path"),
            system: text("system"),
            precision: text("precision"),
            mode: text("mode"),
            isl,
            osl,
            clients,
            tp,
            pp,
            attention_dp,
            moe_tp,
            moe_ep,
            ttft_ms,
            tpot_ms,
            unreadable,
        });
    }
    Ok(rows)
}

/// GPUs of one NVLink node of the systems in the format (HGX H100 and
/// H200): the step model prices all-reduce over NVLink only.
const NODE_GPUS: u32 = 8;

/// Engines servesim models as policies.
pub const ENGINES: [&str; 3] = ["vllm", "sglang", "trtllm"];

/// How servesim expresses a row: its profiles and engine, or why not.
#[derive(Debug, Clone, PartialEq)]
pub enum Expressed {
    Yes { gpu: String, model: String, engine: String },
    Not(String),
}

impl BenchRow {
    /// The GPU profile name (`h100_sxm` -> `h100-sxm`).
    pub fn gpu_profile(&self) -> String {
        self.system.to_lowercase().replace('_', "-")
    }

    /// The model profile name (module doc).
    pub fn model_profile(&self) -> String {
        let name = self.model_path.rsplit('/').next().unwrap_or_default().to_lowercase().replace("-instruct", "");
        let precision = self.precision.to_lowercase();
        if precision.is_empty() || precision == "bf16" || name.ends_with(&format!("-{precision}")) {
            name
        } else {
            format!("{name}-{precision}")
        }
    }

    /// The model's own profile, without the precision suffix, when its
    /// weights (a mixture of experts: its experts) already are in the row's
    /// precision: gpt-oss-120b ships its experts in MXFP4, so
    /// `openai/gpt-oss-120b` at `fp4` is `gpt-oss-120b`.
    fn native_precision_profile(&self, profiles: &Path) -> Option<String> {
        let precision = self.precision.to_lowercase();
        let base = self.model_profile().strip_suffix(&format!("-{precision}"))?.to_string();
        let native = ModelProfile::find(profiles, &base).ok()?.precision_or_uniform().expert_weights();
        native.is_labelled(&precision).then_some(base)
    }

    /// The group a row is reported in: engine / model / precision / GPU /
    /// tp, with the profiles the row resolves to under `profiles`.
    pub fn group(&self, profiles: &Path) -> String {
        let precision = if self.precision.is_empty() { "bf16" } else { &self.precision };
        let (gpu, model) = self.resolved_profiles(profiles);
        format!("{} {model} {precision} {gpu} tp{}", self.backend, self.tp)
    }

    /// The GPU and model profile names the row resolves to: `h200_sxm` is
    /// `h200` when only that profile exists, and a model falls back to its
    /// native-precision profile.
    fn resolved_profiles(&self, profiles: &Path) -> (String, String) {
        let exists = |dir: &str, name: &str| profiles.join(dir).join(format!("{name}.toml")).is_file();
        let (mut gpu, mut model) = (self.gpu_profile(), self.model_profile());
        if let Some(base) = gpu.strip_suffix("-sxm").filter(|b| !exists("gpus", &gpu) && exists("gpus", b)) {
            gpu = base.to_string();
        }
        if !exists("models", &model) {
            model = self.native_precision_profile(profiles).unwrap_or(model);
        }
        (gpu, model)
    }

    /// Whether servesim can simulate this row with the profiles under
    /// `profiles`, and if not, why.
    pub fn expressed(&self, profiles: &Path) -> Expressed {
        let exists = |dir: &str, name: &str| profiles.join(dir).join(format!("{name}.toml")).is_file();
        let (gpu, model) = self.resolved_profiles(profiles);
        let not = |why: String| Expressed::Not(why);
        if self.mode != "agg" {
            return not(format!("mode `{}`: only aggregated serving (agg) is replayed", self.mode));
        }
        if let Some(why) = &self.unreadable {
            return not(why.clone());
        }
        if !ENGINES.contains(&self.backend.as_str()) {
            return not(format!("backend `{}`: servesim models {}", self.backend, ENGINES.join(", ")));
        }
        if self.pp > 1 {
            return not(format!("pp_size = {}: pipeline parallelism is not modeled", self.pp));
        }
        if self.tp > NODE_GPUS {
            return not(format!(
                "tp_size = {}: tensor parallelism beyond one {NODE_GPUS}-GPU NVLink node is not modeled",
                self.tp
            ));
        }
        if self.attention_dp > 1 {
            return not(format!(
                "attention_dp_size = {}: attention data parallelism is not modeled",
                self.attention_dp
            ));
        }
        if !exists("gpus", &gpu) {
            return not(format!("system `{}`: no GPU profile `{gpu}` (add profiles/gpus/{gpu}.toml)", self.system));
        }
        if !exists("models", &model) {
            return not(format!(
                "model `{}` precision `{}`: no model profile `{model}` (add profiles/models/{model}.toml)",
                self.model_path, self.precision
            ));
        }
        let expert_gpus = self.moe_tp.saturating_mul(self.moe_ep);
        if expert_gpus > self.tp {
            return not(format!(
                "moe_tp_size x moe_ep_size = {expert_gpus} GPUs for tp_size = {}: attention runs in {} data-parallel \
                 groups, which is not modeled",
                self.tp,
                expert_gpus.div_ceil(self.tp.max(1))
            ));
        }
        if self.moe_ep > 1 && expert_gpus != self.tp {
            return not(format!(
                "moe_tp_size = {} x moe_ep_size = {} is not tp_size = {}: servesim splits the experts of one \
                 instance over its tp GPUs (engine.moe_ep groups of tp / moe_ep)",
                self.moe_tp, self.moe_ep, self.tp
            ));
        }
        Expressed::Yes { gpu, model, engine: self.backend.clone() }
    }
}
