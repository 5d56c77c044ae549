//! `servesim schema`: the scenario format as JSON Schema, generated from the
//! same serde structs that parse it, so it cannot drift from the parser.

use super::Failure;
use servesim::scenario::schema::ScenarioFile;
use std::process::ExitCode;

pub fn schema() -> Result<ExitCode, Failure> {
    let schema = schemars::schema_for!(ScenarioFile);
    let text = serde_json::to_string_pretty(&schema).map_err(Failure::failed)?;
    say!("{text}");
    Ok(ExitCode::SUCCESS)
}
