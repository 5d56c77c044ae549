//! Scenario files: TOML in, a validated [`Scenario`] out.
//!
//! Loading is three passes, so every error can point at its source:
//! 1. parse and deserialize the file as written (syntax errors, unknown
//!    keys and wrong types carry the file's line and column);
//! 2. apply `--set key.path=value` overrides and deserialize again (errors
//!    now name the override);
//! 3. check meaning (`validate.rs`): ranges, cross-field rules, stability,
//!    the trace file — each error names its key, located in the file.

// A scenario error is fatal and happens at most once per run; carrying its
// location and hint inline (no boxing) keeps construction sites plain.
#![allow(clippy::result_large_err)]

mod error;
pub mod frontdoor;
mod llm;
mod locate;
pub mod safety;
pub mod schema;
mod validate;

pub use error::{Origin, ScenarioError};
pub use llm::{Disaggregated, LlmConfig, Slo};
pub use safety::SafetyModel;
pub use validate::{RunConfig, Scenario, Serving, ValidationConfig};

pub use locate::Locator;
use schema::ScenarioFile;
use std::path::Path;

/// Reads, overrides and validates the scenario at `path`.
pub fn load(path: &Path, overrides: &[String]) -> Result<Scenario, ScenarioError> {
    from_text(&read(path, "scenarios/")?, path, overrides)
}

/// The text of a scenario file, or an error saying where such files live.
pub fn read(path: &Path, shipped_in: &str) -> Result<String, ScenarioError> {
    crate::input::read_text(path, crate::input::TEXT_MAX_BYTES, "scenario files").map_err(|e| ScenarioError {
        file: path.to_path_buf(),
        origin: Origin::File { line: None },
        key: String::new(),
        message: format!("cannot read the scenario file: {e}"),
        hint: Some(format!("check the path; shipped scenarios live in {shipped_in}")),
    })
}

/// Like [`load`], for text already in memory (`path` names it in errors and
/// anchors relative trace paths).
pub fn from_text(text: &str, path: &Path, overrides: &[String]) -> Result<Scenario, ScenarioError> {
    let locator = Locator::new(text, path, overrides)?;
    let effective: ScenarioFile = locator.effective(text, |e| e)?;
    validate::resolve(effective, path, &locator)
}
