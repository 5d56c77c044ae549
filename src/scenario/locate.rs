//! Maps key paths to where they were written: a line and column in the
//! file, or the `--set` override that supplied them; and applies overrides.
//!
//! Overrides are applied with `toml_edit` on the parsed document, so a value
//! written as `--set batching.max_wait=10ms` needs no TOML quoting: text that
//! does not parse as a TOML value is taken as a string.

use super::error::{line_col, Origin, ScenarioError};
use super::schema::ScenarioFile;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub struct Locator {
    file: PathBuf,
    text: String,
    /// `(key path, "key=value")` for each override, in command-line order.
    overrides: Vec<(String, String)>,
}

impl Locator {
    pub fn new(text: &str, file: &Path, overrides: &[String]) -> Result<Self, ScenarioError> {
        let mut parsed = Vec::new();
        for raw in overrides {
            let Some((key, _)) = raw.split_once('=') else {
                return Err(ScenarioError {
                    file: file.to_path_buf(),
                    origin: Origin::Override(raw.clone()),
                    key: raw.clone(),
                    message: "expected `key.path=value`".into(),
                    hint: Some("for example --set batching.max_batch=16".into()),
                });
            };
            parsed.push((key.trim().to_string(), raw.clone()));
        }
        Ok(Locator { file: file.to_path_buf(), text: text.to_string(), overrides: parsed })
    }

    /// An error about `key`, placed where its value came from.
    pub fn error(&self, key: &str, message: impl Into<String>, hint: impl Into<String>) -> ScenarioError {
        let hint: String = hint.into();
        ScenarioError {
            file: self.file.clone(),
            origin: self.origin(key),
            key: key.to_string(),
            message: message.into(),
            hint: (!hint.is_empty()).then_some(hint),
        }
    }

    fn origin(&self, key: &str) -> Origin {
        if let Some((_, raw)) = self.overrides.iter().rev().find(|(k, _)| k == key || key.starts_with(&format!("{k}."))) {
            return Origin::Override(raw.clone());
        }
        Origin::File { line: self.span_of(key).map(|offset| line_col(&self.text, offset)) }
    }

    /// Byte offset of `key`'s value (or of its nearest written ancestor).
    fn span_of(&self, key: &str) -> Option<usize> {
        let doc = toml_edit::ImDocument::parse(self.text.as_str()).ok()?;
        let mut item = doc.as_item();
        let mut best = None;
        for part in key.split('.') {
            let (name, index) = match part.split_once('[') {
                Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
                None => (part, None),
            };
            let Some(next) = item.get(name) else { break };
            item = next;
            if let Some(i) = index {
                let Some(elem) = item.get(i) else { break };
                item = elem;
            }
            best = item.span().map(|s| s.start).or(best);
        }
        best
    }

    /// Deserializes `text`; `overrides` is set when `text` is the edited copy.
    pub fn deserialize(&self, text: &str, overrides: Option<&[String]>) -> Result<ScenarioFile, ScenarioError> {
        toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_string();
            let key = e.span().map(|s| key_at(text, s.start)).unwrap_or_default();
            let hint = if message.contains("unknown field") {
                "check the spelling; `servesim schema` prints every accepted key"
            } else {
                "see `servesim schema` for the expected types and the README for examples"
            };
            match overrides {
                Some(_) => ScenarioError {
                    file: self.file.clone(),
                    origin: self.origin(&key),
                    key,
                    message,
                    hint: Some(hint.into()),
                },
                None => ScenarioError {
                    file: self.file.clone(),
                    origin: Origin::File { line: e.span().map(|s| line_col(text, s.start)) },
                    key,
                    message,
                    hint: Some(hint.into()),
                },
            }
        })
    }

    /// The file's text with every override applied.
    pub fn apply_overrides(&self, text: &str) -> Result<String, ScenarioError> {
        let mut doc = toml_edit::DocumentMut::from_str(text).map_err(|e| self.error("", e.to_string(), ""))?;
        for (key, raw) in &self.overrides {
            let value_text = raw.split_once('=').map_or("", |(_, v)| v.trim());
            let value = toml_edit::Value::from_str(value_text).unwrap_or_else(|_| value_text.into());
            let parts: Vec<&str> = key.split('.').map(str::trim).collect();
            if parts.iter().any(|p| p.is_empty() || p.contains('[')) {
                return Err(self.error(key, "expected a dotted key path such as `servers.count`", "array elements cannot be set with --set; edit the file"));
            }
            let (last, tables) = parts.split_last().unwrap_or((&"", &[]));
            let mut table = doc.as_table_mut();
            for part in tables {
                let entry = table.entry(part).or_insert_with(|| {
                    let mut t = toml_edit::Table::new();
                    t.set_implicit(true);
                    toml_edit::Item::Table(t)
                });
                table = match entry.as_table_mut() {
                    Some(t) => t,
                    None => return Err(self.error(key, format!("`{part}` is not a table"), "set a leaf key, e.g. servers.count=2")),
                };
            }
            table.insert(last, toml_edit::Item::Value(value));
        }
        Ok(doc.to_string())
    }
}

/// The dotted key whose value sits at byte `offset`, from the nearest
/// `[table]` header above it and the `key =` on its line.
fn key_at(text: &str, offset: usize) -> String {
    let mut table = String::new();
    let mut key = String::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if pos > offset {
            break;
        }
        if trimmed.starts_with('[') {
            table = trimmed.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            key.clear();
        } else if let Some((k, _)) = trimmed.split_once('=') {
            key = k.trim().trim_matches('"').to_string();
        }
        pos += line.len();
    }
    match (table.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_and_positions() {
        let text = "seed = 3\n[servers]\ncount = 0\n";
        let loc = Locator::new(text, Path::new("x.toml"), &[]).unwrap();
        assert_eq!(loc.origin("servers.count"), Origin::File { line: Some((3, 9)) });
        assert_eq!(key_at(text, 20), "servers.count");
    }

    #[test]
    fn overrides_win_and_accept_bare_strings() {
        let text = "[batching]\nmax_batch = 4\n";
        let sets = vec!["batching.max_wait=10ms".to_string(), "batching.max_batch=8".to_string()];
        let loc = Locator::new(text, Path::new("x.toml"), &sets).unwrap();
        let edited = loc.apply_overrides(text).unwrap();
        let file: ScenarioFile = toml::from_str(&edited).unwrap();
        assert_eq!(file.batching.max_batch, Some(8));
        assert_eq!(file.batching.max_wait.map(|d| d.0), Some(10_000_000));
        assert_eq!(loc.origin("batching.max_batch"), Origin::Override("batching.max_batch=8".into()));
    }
}
