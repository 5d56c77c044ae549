//! Hardware and model profiles: TOML data files, not code.
//!
//! Why data: a capacity planner adds a GPU or a model by dropping a file
//! into `profiles/gpus/` or `profiles/models/` — no recompile — and a
//! measured profile (`profiles/calibrated/`, written by the GPU backend)
//! replaces datasheet guesses without touching either. The file stem is the
//! profile's name (`profiles/gpus/h100-sxm.toml` is `h100-sxm`).
//!
//! Loading is strict, so a typo cannot silently become a default: unknown
//! keys are rejected (`deny_unknown_fields`), then values are checked for
//! meaning (positive bandwidths and memory, efficiencies in (0, 1], heads
//! divisible by KV heads). Every error names the file, `line:col`, the key
//! and what was expected. Combination checks (tensor-parallel degree, a model
//! that does not fit) live in [`super::step`] and use the same error type.

use super::coefficients::EngineCoefficients;
use super::moe::Moe;
use super::precision::{Dtype, Precision};
use super::window::SlidingWindow;
use crate::time::SimDuration;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A bad profile or a replica that cannot be built from profiles. All fatal.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    #[error("{}: cannot read the {kind} profile: {message}", file.display())]
    Read { kind: &'static str, file: PathBuf, message: String },
    /// A syntax, type or value error at a place in a profile file.
    #[error("{}{}: `{key}`: {message}", file.display(), at(*line))]
    Value { file: PathBuf, line: Option<(usize, usize)>, key: String, message: String },
    /// No source has the name; `available` lists each source searched
    /// (a folder, or the built-in profiles) with the names it holds.
    #[error("no {kind} profile named `{name}`; available: {}; add {}/{name}.toml to define one",
        listing(available), add_to.display())]
    NotFound { kind: &'static str, name: String, available: Vec<(String, Vec<String>)>, add_to: PathBuf },
    /// A replica's settings (tensor-parallel degree, reserve, calibration)
    /// do not fit its profiles; `key` is the setting or profile key at fault.
    #[error("`{key}`: {message}")]
    Replica { key: String, message: String },
}

/// "a, b (in profiles/gpus); a, b, c (built in)", or "none".
fn listing(available: &[(String, Vec<String>)]) -> String {
    let shown: Vec<String> = available
        .iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(source, names)| format!("{} ({source})", names.join(", ")))
        .collect();
    if shown.is_empty() {
        "none".into()
    } else {
        shown.join("; ")
    }
}

fn at(line: Option<(usize, usize)>) -> String {
    line.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default()
}

impl ProfileError {
    /// The key at fault (empty for unreadable or missing files).
    pub fn key(&self) -> &str {
        match self {
            ProfileError::Value { key, .. } | ProfileError::Replica { key, .. } => key,
            ProfileError::Read { .. } | ProfileError::NotFound { .. } => "",
        }
    }
}

/// One GPU, from its datasheet plus assumed efficiencies. Rates are peaks;
/// the step model multiplies them by the efficiencies unless a
/// [`CalibratedProfile`] supplies measured effective values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuProfile {
    /// The file stem; not written in the file.
    #[serde(skip)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The GPU architecture (`hopper`, `ampere`): an engine calibration
    /// measured on one GPU prices the others of its architecture
    /// ([`CalibratedProfile::transferred`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    pub memory_bytes: u64,
    pub memory_bandwidth_bytes_per_s: f64,
    /// Dense (no sparsity) bf16 tensor-core peak.
    pub bf16_flops_per_s: f64,
    /// Dense fp8 tensor-core peak, on GPUs that have fp8 tensor cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp8_flops_per_s: Option<f64>,
    /// Dense fp4 tensor-core peak, on GPUs that have fp4 tensor cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp4_flops_per_s: Option<f64>,
    /// Achievable fraction of the memory-bandwidth peak, in (0, 1].
    pub memory_bandwidth_efficiency: f64,
    /// Achievable fraction of the FLOP/s peak, in (0, 1].
    pub flops_efficiency: f64,
    /// Per-iteration cost outside the roofline (scheduling, launches, sampling).
    pub step_overhead: SimDuration,
    pub price_per_gpu_hour_usd: f64,
    /// Intra-node GPU-to-GPU bandwidth, one direction.
    pub nvlink_bandwidth_bytes_per_s: f64,
    /// Achievable fraction of the NVLink peak for all-reduce, in (0, 1].
    pub nvlink_efficiency: f64,
    /// Fixed cost of one all-reduce (small-message latency).
    pub nvlink_latency: SimDuration,
    /// Host <-> GPU bandwidth, one direction (KV swap).
    pub pcie_bandwidth_bytes_per_s: f64,
}

/// One transformer model (Llama-style: GQA attention, gated FFN).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelProfile {
    /// The file stem; not written in the file.
    #[serde(skip)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub parameters: u64,
    pub layers: u32,
    pub hidden_size: u32,
    pub attention_heads: u32,
    pub kv_heads: u32,
    pub head_dim: u32,
    pub intermediate_size: u32,
    pub vocab_size: u32,
    /// Bytes per weight, activation and KV-cache element (2 for bf16).
    pub dtype_bytes: u32,
    /// Formats per tensor class; when absent, `dtype_bytes` for all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<Precision>,
    /// Mixture-of-experts layers (every layer's MLP; `intermediate_size`
    /// is then unused by the engine step model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moe: Option<Moe>,
    /// Layers that attend to a window of recent positions only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<SlidingWindow>,
}

impl ModelProfile {
    /// Bytes of all weights: `parameters x dtype_bytes`, or, with
    /// `[precision]`, routed experts in their format and the rest in the
    /// weights' format.
    pub fn weight_bytes(&self) -> u64 {
        let Some(p) = self.precision else { return self.parameters.saturating_mul(u64::from(self.dtype_bytes)) };
        let experts = self
            .moe
            .map_or(0.0, |m| f64::from(self.layers) * f64::from(m.experts) * m.expert_parameters(self.hidden_size));
        let rest = (self.parameters as f64 - experts).max(0.0);
        (rest * p.weights.bytes() + experts * p.expert_weights().bytes()).ceil() as u64
    }

    /// `[precision]`, or `dtype_bytes`'s format for every class.
    pub fn precision_or_uniform(&self) -> Precision {
        self.precision.unwrap_or_else(|| Precision::uniform(self.dtype_bytes))
    }
}

impl GpuProfile {
    /// Dense tensor-core peak for GEMMs with weights in `dtype`: the
    /// format's own rate when the GPU has one, else bf16 (weight-only
    /// formats are dequantized into bf16 GEMMs; fp32 is priced as bf16).
    pub fn flops_per_s(&self, dtype: Dtype) -> f64 {
        match dtype {
            Dtype::Fp8 => self.fp8_flops_per_s,
            Dtype::Fp4 | Dtype::Mxfp4 | Dtype::Nvfp4 => self.fp4_flops_per_s,
            Dtype::Fp32 | Dtype::Bf16 | Dtype::Int4 => None,
        }
        .unwrap_or(self.bf16_flops_per_s)
    }
}

/// Measured coefficients for one GPU (`profiles/calibrated/<name>.toml`).
/// Each value present replaces the datasheet x efficiency value of the GPU
/// profile named by `gpu`; absent values keep the GPU profile's. The two
/// attention rates, both or neither, add the attention term of
/// [`super::step`]: KV bytes and attention FLOPs then run at their own
/// rates, and the memory and FLOP rates above apply to the linear layers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibratedProfile {
    /// The file stem; not written in the file.
    #[serde(skip)]
    pub name: String,
    /// The GPU profile this calibrates (checked when applied).
    pub gpu: String,
    /// How it was measured (tool, date, model, fit quality): provenance only.
    #[serde(default)]
    pub source: String,
    pub step_overhead: Option<SimDuration>,
    pub effective_memory_bandwidth_bytes_per_s: Option<f64>,
    pub effective_flops_per_s: Option<f64>,
    pub effective_nvlink_bandwidth_bytes_per_s: Option<f64>,
    /// Rate at which attention reads and writes the KV cache.
    pub effective_attention_bandwidth_bytes_per_s: Option<f64>,
    /// Rate of the attention kernels' FLOPs.
    pub effective_attention_flops_per_s: Option<f64>,
    /// Engine step-model coefficients by engine kind (`[engines.vllm]`):
    /// a replica whose engine has a table here is priced by
    /// [`super::engine_step`] instead of the roofline.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub engines: BTreeMap<String, EngineCoefficients>,
}

/// A kind of profile file: where it lives and what its values must satisfy.
pub trait Profile: DeserializeOwned {
    /// In messages: "gpu", "model", "calibrated".
    const KIND: &'static str;
    /// Folder under the profiles root: "gpus", "models", "calibrated".
    const DIR: &'static str;
    /// Meaning checks; `Err((key, what was expected))`.
    fn check(&self) -> Result<(), (&'static str, String)>;
    /// Checks of nested tables whose keys are data (`engines.<kind>.…`);
    /// `Err((dotted key, what was expected))`.
    fn check_tables(&self) -> Result<(), (String, String)> {
        Ok(())
    }
    fn set_name(&mut self, name: String);
}

fn positive(key: &'static str, v: f64) -> Result<(), (&'static str, String)> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err((key, format!("expected a finite number > 0, got {v}")))
    }
}

fn fraction(key: &'static str, v: f64) -> Result<(), (&'static str, String)> {
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(())
    } else {
        Err((key, format!("expected an achievable fraction of peak in (0, 1], got {v}")))
    }
}

/// Largest model dimension (`hidden_size`, `head_dim`, `intermediate_size`)
/// a profile may name: the largest models use tens of thousands, and a
/// dimension near 2^32 overflows the step-time model's byte counts.
pub const MAX_MODEL_DIMENSION: u32 = 1 << 20;

/// Smallest GPU memory a profile may name: `memory_bytes` counts bytes, so
/// a value in gigabytes (`80`) or kilobytes is caught here.
pub const MIN_GPU_MEMORY_BYTES: u64 = 1 << 30;

fn at_least_one(key: &'static str, v: u64) -> Result<(), (&'static str, String)> {
    if v >= 1 {
        Ok(())
    } else {
        Err((key, "expected an integer >= 1, got 0".into()))
    }
}

impl Profile for GpuProfile {
    const KIND: &'static str = "gpu";
    const DIR: &'static str = "gpus";
    fn check(&self) -> Result<(), (&'static str, String)> {
        at_least_one("memory_bytes", self.memory_bytes)?;
        if self.memory_bytes < MIN_GPU_MEMORY_BYTES {
            return Err((
                "memory_bytes",
                format!(
                    "expected at least {MIN_GPU_MEMORY_BYTES} bytes (1 GiB), got {} bytes; memory_bytes counts \
                     bytes, e.g. 80000000000 for an 80 GB GPU",
                    self.memory_bytes
                ),
            ));
        }
        positive("memory_bandwidth_bytes_per_s", self.memory_bandwidth_bytes_per_s)?;
        positive("bf16_flops_per_s", self.bf16_flops_per_s)?;
        fraction("memory_bandwidth_efficiency", self.memory_bandwidth_efficiency)?;
        fraction("flops_efficiency", self.flops_efficiency)?;
        if !(self.price_per_gpu_hour_usd.is_finite() && self.price_per_gpu_hour_usd >= 0.0) {
            return Err((
                "price_per_gpu_hour_usd",
                format!("expected dollars >= 0, got {}", self.price_per_gpu_hour_usd),
            ));
        }
        positive("nvlink_bandwidth_bytes_per_s", self.nvlink_bandwidth_bytes_per_s)?;
        for (key, v) in [("fp8_flops_per_s", self.fp8_flops_per_s), ("fp4_flops_per_s", self.fp4_flops_per_s)] {
            v.map_or(Ok(()), |v| positive(key, v))?;
        }
        fraction("nvlink_efficiency", self.nvlink_efficiency)?;
        positive("pcie_bandwidth_bytes_per_s", self.pcie_bandwidth_bytes_per_s)
    }
    fn set_name(&mut self, name: String) {
        self.name = name;
    }
}

impl Profile for ModelProfile {
    const KIND: &'static str = "model";
    const DIR: &'static str = "models";
    fn check(&self) -> Result<(), (&'static str, String)> {
        at_least_one("parameters", self.parameters)?;
        for (key, v) in [
            ("layers", self.layers),
            ("hidden_size", self.hidden_size),
            ("attention_heads", self.attention_heads),
            ("kv_heads", self.kv_heads),
            ("head_dim", self.head_dim),
            ("intermediate_size", self.intermediate_size),
            ("vocab_size", self.vocab_size),
        ] {
            at_least_one(key, v.into())?;
        }
        for (key, v) in [
            ("hidden_size", self.hidden_size),
            ("head_dim", self.head_dim),
            ("intermediate_size", self.intermediate_size),
        ] {
            if v > MAX_MODEL_DIMENSION {
                return Err((
                    key,
                    format!(
                        "expected at most {MAX_MODEL_DIMENSION}, got {v}; the largest models use tens of \
                         thousands (Llama 3 405B: hidden_size 16384)"
                    ),
                ));
            }
        }
        if !self.attention_heads.is_multiple_of(self.kv_heads) {
            return Err((
                "kv_heads",
                format!(
                    "expected a divisor of attention_heads = {} (each KV head serves a whole group of query heads), got {}",
                    self.attention_heads, self.kv_heads
                ),
            ));
        }
        if ![1, 2, 4].contains(&self.dtype_bytes) {
            return Err(("dtype_bytes", format!("expected 1, 2 or 4 bytes per element, got {}", self.dtype_bytes)));
        }
        self.moe.map_or(Ok(()), |m| m.check())?;
        self.sliding_window.map_or(Ok(()), |w| w.check(self.layers))
    }
    fn set_name(&mut self, name: String) {
        self.name = name;
    }
}

impl Profile for CalibratedProfile {
    const KIND: &'static str = "calibrated";
    const DIR: &'static str = "calibrated";
    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.gpu.is_empty() {
            return Err(("gpu", "expected the name of the GPU profile this calibrates".into()));
        }
        for (key, v) in [
            ("effective_memory_bandwidth_bytes_per_s", self.effective_memory_bandwidth_bytes_per_s),
            ("effective_flops_per_s", self.effective_flops_per_s),
            ("effective_nvlink_bandwidth_bytes_per_s", self.effective_nvlink_bandwidth_bytes_per_s),
            ("effective_attention_bandwidth_bytes_per_s", self.effective_attention_bandwidth_bytes_per_s),
            ("effective_attention_flops_per_s", self.effective_attention_flops_per_s),
        ] {
            v.map_or(Ok(()), |v| positive(key, v))?;
        }
        let (bandwidth, flops) = ("effective_attention_bandwidth_bytes_per_s", "effective_attention_flops_per_s");
        let alone = match (self.effective_attention_bandwidth_bytes_per_s, self.effective_attention_flops_per_s) {
            (Some(_), None) => Some((bandwidth, flops)),
            (None, Some(_)) => Some((flops, bandwidth)),
            _ => None,
        };
        alone.map_or(Ok(()), |(key, other)| {
            Err((key, format!("expected together with `{other}` (the attention term needs both), or neither")))
        })
    }
    fn check_tables(&self) -> Result<(), (String, String)> {
        for (kind, c) in &self.engines {
            c.check().map_err(|(key, message)| (format!("engines.{kind}.{key}"), message))?;
        }
        Ok(())
    }
    fn set_name(&mut self, name: String) {
        self.name = name;
    }
}

impl GpuProfile {
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        load(path)
    }
    pub fn find(root: &Path, name: &str) -> Result<Self, ProfileError> {
        find(root, name)
    }
}

impl ModelProfile {
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        load(path)
    }
    pub fn find(root: &Path, name: &str) -> Result<Self, ProfileError> {
        find(root, name)
    }
}

impl CalibratedProfile {
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        load(path)
    }
    /// The calibration named `name` under `root/calibrated/`, if one exists.
    pub fn find(root: &Path, name: &str) -> Result<Option<Self>, ProfileError> {
        match find(root, name) {
            Err(ProfileError::NotFound { .. }) => Ok(None),
            other => other.map(Some),
        }
    }

    /// This calibration's engine tables for `to`, a GPU of the same
    /// architecture as `from` (the GPU it was measured on), or None. An
    /// engine table's GPU terms are inverse efficiencies against the
    /// datasheet peaks and its CPU terms are the host's, so they carry over
    /// through `to`'s datasheet rates; the roofline rates measured on
    /// `from` do not, and are dropped.
    pub fn transferred(&self, from: &GpuProfile, to: &GpuProfile) -> Option<CalibratedProfile> {
        let same = from.name == self.gpu && from.architecture.is_some() && from.architecture == to.architecture;
        same.then(|| CalibratedProfile {
            name: self.name.clone(),
            gpu: to.name.clone(),
            source: format!("{} (measured on {}, through the datasheet of {})", self.source, from.name, to.name),
            engines: self.engines.clone(),
            ..CalibratedProfile::default()
        })
    }
}

/// Reads, parses and checks one profile file; its name is the file stem.
pub fn load<P: Profile>(path: &Path) -> Result<P, ProfileError> {
    let text = crate::input::read_text(path, crate::input::TEXT_MAX_BYTES, "profile files")
        .map_err(|e| ProfileError::Read { kind: P::KIND, file: path.to_path_buf(), message: e.to_string() })?;
    parse(&text, path)
}

/// Parses and checks the text of one profile; `path` names it in errors
/// and its stem is the profile's name.
pub fn parse<P: Profile>(text: &str, path: &Path) -> Result<P, ProfileError> {
    let value_error = |offset: Option<usize>, key: String, message: String| ProfileError::Value {
        file: path.to_path_buf(),
        line: offset.map(|o| line_col(text, o)),
        key,
        message,
    };
    let mut profile: P = toml::from_str(text).map_err(|e| {
        // A missing field's span is the whole file: no line is better than 1:1.
        let offset = e.span().map(|s| s.start).filter(|_| !e.message().starts_with("missing field"));
        value_error(offset, key_of_error(text, e.message(), offset), e.message().trim().to_string())
    })?;
    profile.check().map_err(|(key, message)| value_error(span_of(text, key), key.to_string(), message))?;
    profile.check_tables().map_err(|(key, message)| value_error(span_of(text, &key), key, message))?;
    profile.set_name(path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
    Ok(profile)
}

/// Loads `root/<P::DIR>/<name>.toml`, or lists the names that exist.
pub fn find<P: Profile>(root: &Path, name: &str) -> Result<P, ProfileError> {
    let dir = root.join(P::DIR);
    let path = dir.join(format!("{name}.toml"));
    if !valid_name(name) || !path.is_file() {
        let available = vec![(format!("in {}", dir.display()), list(&dir))];
        return Err(ProfileError::NotFound { kind: P::KIND, name: name.to_string(), available, add_to: dir });
    }
    load(&path)
}

/// A profile name is a file stem: no path separators, no leading dot.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Sorted names of the `.toml` profiles in `dir` (empty if it is missing).
pub fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

/// 1-based (line, column) of byte `offset` in `text`. (Same arithmetic as
/// the scenario errors; profiles are flat files, so this is all they need.)
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, col)
}

/// Byte offset of `key`'s value (dotted for nested tables), if written.
fn span_of(text: &str, key: &str) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut item = doc.as_item();
    for part in key.split('.') {
        item = item.get(part)?;
    }
    item.span().map(|s| s.start)
}

/// The key a serde error is about: named in the message (`missing field`,
/// `unknown field`), or the `key =` on the line where the error points.
fn key_of_error(text: &str, message: &str, offset: Option<usize>) -> String {
    if let Some((_, rest)) = message.split_once("field `") {
        return rest.split('`').next().unwrap_or_default().to_string();
    }
    let Some(offset) = offset.filter(|&o| o <= text.len()) else { return String::new() };
    let line_start = text[..offset].rfind('\n').map_or(0, |nl| nl + 1);
    let line = text[line_start..].lines().next().unwrap_or_default();
    line.split_once('=').map(|(k, _)| k.trim().trim_matches('"').to_string()).unwrap_or_default()
}

/// One GPU's memory: weights + activation reserve + KV cache (+ what is
/// left over, less than one token's KV), and the pool's KV peak (filled in
/// by the run that measured it).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct GpuMemory {
    pub memory_bytes_per_gpu: u64,
    /// The model's weights / tp.
    pub weights_bytes_per_gpu: u64,
    /// `replica.activation_reserve` × memory.
    pub activation_reserve_bytes_per_gpu: u64,
    /// KV capacity in tokens × KV bytes per token on one GPU.
    pub kv_cache_bytes_per_gpu: u64,
    pub kv_blocks_per_replica: u64,
    /// Most KV blocks in use at once across the pool / all blocks, over the
    /// measured interval.
    pub kv_peak_utilization: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_serde_errors() {
        let text = "a = 1\nmemory_bytes = \"lots\"\n";
        assert_eq!(key_of_error(text, "invalid type: string", Some(21)), "memory_bytes");
        assert_eq!(key_of_error(text, "missing field `layers`", Some(0)), "layers");
        assert_eq!(key_of_error(text, "unknown field `memroy`, expected one of", None), "memroy");
        assert_eq!(line_col(text, 21), (2, 16));
        assert_eq!(span_of(text, "memory_bytes"), Some(21));
    }

    #[test]
    fn model_checks_name_the_key() {
        let mut m: ModelProfile = toml::from_str(
            "parameters = 1\nlayers = 1\nhidden_size = 8\nattention_heads = 6\nkv_heads = 4\nhead_dim = 2\n\
             intermediate_size = 8\nvocab_size = 10\ndtype_bytes = 2\n",
        )
        .unwrap();
        assert_eq!(m.check().unwrap_err().0, "kv_heads");
        m.kv_heads = 3;
        m.dtype_bytes = 3;
        assert_eq!(m.check().unwrap_err().0, "dtype_bytes");
        m.dtype_bytes = 2;
        m.layers = 0;
        assert_eq!(m.check().unwrap_err().0, "layers");
    }
}
