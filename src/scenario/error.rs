//! Errors about a scenario, each pointing at a place a user can fix.
//!
//! Every error names the file, the line and column (or the `--set` override
//! that introduced the value), the key path, what was expected, and a hint.
//! They are all fatal to the run and map to exit code 2 at the CLI edge.

use std::fmt;
use std::path::PathBuf;

/// Where a bad value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A position in the file (1-based line and column), if known.
    File { line: Option<(usize, usize)> },
    /// A command-line `--set key=value`.
    Override(String),
    /// Another command-line flag that supplied the value, as typed
    /// (`--vary workload.rate_per_s=50`): sweeps apply their values as
    /// overrides, but the user wrote them elsewhere.
    Flag(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: PathBuf,
    pub origin: Origin,
    /// Dotted key path (`servers.count`), empty for whole-file errors.
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

impl std::error::Error for ScenarioError {}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        match &self.origin {
            Origin::File { line: Some((l, c)) } => write!(f, ":{l}:{c}")?,
            Origin::File { line: None } => {}
            Origin::Override(text) => write!(f, " (from --set {text})")?,
            Origin::Flag(text) => write!(f, " (from {text})")?,
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)?;
        } else {
            write!(f, ": `{}`: {}", self.key, self.message)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl ScenarioError {
    /// Re-attributes an error placed at the override `key=value` (for some
    /// value in `values`) to the flag that supplied it; `flag` writes that
    /// flag for one value, e.g. `--vary key=value`. Other errors pass through.
    pub fn from_flag(mut self, key: &str, values: &[String], flag: impl Fn(&str) -> String) -> Self {
        if let Origin::Override(raw) = &self.origin {
            if let Some(value) = values.iter().find(|v| *raw == format!("{key}={v}")) {
                self.origin = Origin::Flag(flag(value));
            }
        }
        self
    }
}

/// 1-based (line, column) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_location_key_and_hint() {
        let e = ScenarioError {
            file: "s.toml".into(),
            origin: Origin::File { line: Some((3, 9)) },
            key: "servers.count".into(),
            message: "expected an integer >= 1, got 0".into(),
            hint: Some("a station needs at least one GPU".into()),
        };
        assert_eq!(
            e.to_string(),
            "s.toml:3:9: `servers.count`: expected an integer >= 1, got 0\n  hint: a station needs at least one GPU"
        );
        assert_eq!(line_col("a\nbc\nd", 4), (2, 3));
        let swept = ScenarioError { origin: Origin::Override("servers.count=0".into()), ..e };
        let values = ["1".to_string(), "0".to_string()];
        let e = swept.from_flag("servers.count", &values, |v| format!("--vary servers.count={v}"));
        assert_eq!(e.origin, Origin::Flag("--vary servers.count=0".into()));
        assert!(e.to_string().starts_with("s.toml (from --vary servers.count=0): `servers.count`"), "{e}");
    }
}
