//! Maps key paths to where they were written: a line and column in the
//! file, or the `--set` override that supplied them; and applies overrides.
//!
//! Overrides are applied with `toml_edit` on the parsed document, so a value
//! written as `--set batching.max_wait=10ms` needs no TOML quoting: text that
//! does not parse as a TOML value is taken as a string.

use super::error::{line_col, Origin, ScenarioError};
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
            // `servers."count"` names the same key as `servers.count`.
            let key: Vec<&str> = key.split('.').map(|p| p.trim().trim_matches('"')).collect();
            parsed.push((key.join("."), raw.clone()));
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
        // An override of the key, of a table holding it, or of a key inside it.
        let related = |k: &String| k == key || key.starts_with(&format!("{k}.")) || k.starts_with(&format!("{key}."));
        if let Some((_, raw)) = self.overrides.iter().rev().find(|(k, _)| related(k)) {
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

    /// The file as written, then (if any) with the overrides applied; each
    /// pass's errors point at their source. `adjust` may reword them.
    /// Generic over the file format, so other file kinds (e.g. weight
    /// distribution scenarios) get the same located errors and hints.
    pub fn effective<T: serde::de::DeserializeOwned>(
        &self,
        text: &str,
        adjust: impl Fn(ScenarioError) -> ScenarioError,
    ) -> Result<T, ScenarioError> {
        let as_written = self.deserialize(text, false).map_err(&adjust)?;
        if self.overrides.is_empty() {
            return Ok(as_written);
        }
        let edited = self.apply_overrides(text)?;
        self.deserialize(&edited, true).map_err(adjust)
    }

    /// Deserializes `text`; `edited` says it is the copy with overrides
    /// applied, so errors are placed at the override rather than a line.
    fn deserialize<T: serde::de::DeserializeOwned>(&self, text: &str, edited: bool) -> Result<T, ScenarioError> {
        // Syntax first, so a broken file is not reported as a type error.
        let (message, span, hint) = match toml_edit::ImDocument::parse(text) {
            Err(e) => {
                let hint = if e.message().contains("duplicate key") {
                    "each key may appear once per table; remove one of them".to_string()
                } else {
                    "check quotes, brackets and `key = value` on this line; durations and names are quoted strings, e.g. max_wait = \"10ms\"".to_string()
                };
                (format!("invalid TOML: {}", e.message().trim()), e.span(), hint)
            }
            Ok(_) => match toml::from_str(text) {
                Ok(file) => return Ok(file),
                Err(e) => {
                    let message = plain_types(e.message().trim());
                    let plan_key = ["strategy", "weights", "origin", "nodes", "topology"]
                        .iter()
                        .any(|k| message.contains(&format!("unknown field `{k}`")));
                    let hint = match did_you_mean(&message) {
                        _ if plan_key => "this looks like a weight-distribution plan: run it with \
                                          `servesim distribute`"
                            .into(),
                        Some(name) => {
                            format!("did you mean `{name}`? `servesim schema` prints every accepted key and value")
                        }
                        None if message.contains("unknown field") => {
                            "check the spelling; `servesim schema` prints every accepted key".into()
                        }
                        None if message.contains("expected a string") => {
                            "text values are quoted; durations carry a unit, e.g. \"250ms\" or \"2m\"".into()
                        }
                        None if message.contains("invalid length") => {
                            "this array takes a fixed number of elements; `servesim schema` gives each one's size"
                                .into()
                        }
                        None => "see `servesim schema` for the expected types and the README for examples".into(),
                    };
                    (message, e.span(), hint)
                }
            },
        };
        let key = span.as_ref().map(|s| key_at(text, s.start)).unwrap_or_default();
        let origin =
            if edited { self.origin(&key) } else { Origin::File { line: span.map(|s| line_col(text, s.start)) } };
        Err(ScenarioError { file: self.file.clone(), origin, key, message, hint: Some(hint) })
    }

    /// The file's text with every override applied.
    pub fn apply_overrides(&self, text: &str) -> Result<String, ScenarioError> {
        let mut doc = toml_edit::DocumentMut::from_str(text).map_err(|e| self.error("", e.to_string(), ""))?;
        for (key, raw) in &self.overrides {
            let value_text = raw.split_once('=').map_or("", |(_, v)| v.trim());
            let value = toml_edit::Value::from_str(value_text).unwrap_or_else(|_| value_text.into());
            let parts: Vec<&str> = key.split('.').collect();
            if parts.iter().any(|p| p.is_empty()) {
                return Err(self.error(
                    key,
                    format!("expected a dotted key path such as `servers.count`, got `{key}` (an empty part)"),
                    "write --set KEY.PATH=VALUE, e.g. --set servers.count=2",
                ));
            }
            let (last, tables) = parts.split_last().unwrap_or((&"", &[]));
            if last.contains('[') {
                return Err(self.error(
                    key,
                    "expected a key, not an array element, at the end of the path",
                    "--set sets a key inside a table of an array, e.g. regions[0].pools[1].replicas=6; edit the file to change a list of values",
                ));
            }
            // Tables may be written `[a]` or inline `a = { ... }`, and an
            // entry of an array of tables as `a[i]` (`[[a]]` or `a = [{ ... }]`,
            // counted from 0 as in error messages): walk all of them.
            let mut table: &mut dyn toml_edit::TableLike = doc.as_table_mut();
            for part in tables {
                let (name, index) = match part.split_once('[') {
                    Some((name, rest)) => match rest.strip_suffix(']').and_then(|i| i.parse::<usize>().ok()) {
                        Some(i) => (name, Some(i)),
                        None => {
                            return Err(self.error(
                                key,
                                format!("expected `name[index]` with an index from 0, got `{part}`"),
                                "e.g. --set regions[0].pools[1].replicas=6",
                            ))
                        }
                    },
                    None => (*part, None),
                };
                if index.is_none() && table.get(name).is_none() {
                    let mut t = toml_edit::Table::new();
                    t.set_implicit(true);
                    table.insert(name, toml_edit::Item::Table(t));
                }
                let item = table.get_mut(name);
                let next = match (item, index) {
                    (Some(item), None) => item.as_table_like_mut(),
                    (Some(toml_edit::Item::ArrayOfTables(a)), Some(i)) => {
                        let len = a.len();
                        match a.get_mut(i) {
                            Some(t) => Some(t as &mut dyn toml_edit::TableLike),
                            None => return Err(self.past_end(key, name, i, len)),
                        }
                    }
                    (Some(toml_edit::Item::Value(toml_edit::Value::Array(a))), Some(i)) => {
                        let len = a.len();
                        match a.get_mut(i) {
                            Some(v) => v.as_inline_table_mut().map(|t| t as &mut dyn toml_edit::TableLike),
                            None => return Err(self.past_end(key, name, i, len)),
                        }
                    }
                    (None, Some(i)) => return Err(self.past_end(key, name, i, 0)),
                    // Inserted just above when missing.
                    (Some(_), Some(_)) | (None, None) => None,
                };
                table = match next {
                    Some(t) => t,
                    None => {
                        return Err(self.error(
                            key,
                            format!("`{part}` is not a table"),
                            "set a leaf key, e.g. servers.count=2",
                        ))
                    }
                };
            }
            table.insert(last, toml_edit::Item::Value(value));
        }
        Ok(doc.to_string())
    }

    /// `--set` named entry `index` of an array of tables holding `len`.
    fn past_end(&self, key: &str, name: &str, index: usize, len: usize) -> ScenarioError {
        self.error(
            key,
            format!("`{name}` has {len} entries (from 0), so `{name}[{index}]` is not one of them"),
            "count the file's `[[...]]` entries from 0; --set cannot add one",
        )
    }
}

/// The dotted key whose value sits at byte `offset`, from the nearest
/// `[table]` header above it and the `key =` on its line (comments skipped).
fn key_at(text: &str, offset: usize) -> String {
    let dotted = |k: &str| k.split('.').map(|p| p.trim().trim_matches('"')).collect::<Vec<_>>().join(".");
    let mut table = String::new();
    let mut key = String::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if pos > offset {
            break;
        }
        if let Some(header) = trimmed.strip_prefix('[') {
            // `[a.b]` or `[[a.b]]`, perhaps followed by a comment.
            table = dotted(header.trim_start_matches('[').split(']').next().unwrap_or_default());
            key.clear();
        } else if let Some((k, _)) = trimmed.split_once('=').filter(|_| !trimmed.starts_with('#')) {
            key = dotted(k);
        }
        pos += line.len();
    }
    match (table.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

/// serde's Rust type names (`u32`, `struct RunSection`) in user words.
fn plain_types(message: &str) -> String {
    let mut m = message
        .replace("expected u32", "expected an integer from 0 to 4294967295")
        .replace("expected u64", "expected an integer >= 0")
        .replace("expected f64", "expected a number")
        .replace("expected a sequence", "expected an array")
        .replace("expected path string", "expected a quoted file path");
    if let Some(at) = m.find("expected struct ") {
        let rest = &m[at + "expected struct ".len()..];
        let end = m.len() - rest.len() + rest.find(|c: char| !c.is_alphanumeric()).unwrap_or(rest.len());
        m.replace_range(at..end, "expected a table");
    }
    m
}

/// The accepted name closest to a misspelled field or variant, if close.
fn did_you_mean(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("unknown field `").or_else(|| message.split_once("unknown variant `"))?;
    let (typo, rest) = rest.split_once('`')?;
    let (_, expected) = rest.split_once("expected")?;
    let distance = |b: &str| {
        // Levenshtein distance, one row at a time.
        let mut row: Vec<usize> = (0..=b.chars().count()).collect();
        for (i, ca) in typo.chars().enumerate() {
            let mut diag = row[0];
            row[0] = i + 1;
            for (j, cb) in b.chars().enumerate() {
                let next = (diag + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
                diag = row[j + 1];
                row[j + 1] = next;
            }
        }
        row[row.len() - 1]
    };
    let (best, name) = expected.split('`').skip(1).step_by(2).map(|name| (distance(name), name)).min()?;
    (best <= typo.len().max(name.len()) / 3 + 1).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::schema::ScenarioFile;

    #[test]
    fn finds_keys_and_positions() {
        let text = "seed = 3\n[servers]\ncount = 0\n";
        let loc = Locator::new(text, Path::new("x.toml"), &[]).unwrap();
        assert_eq!(loc.origin("servers.count"), Origin::File { line: Some((3, 9)) });
        assert_eq!(key_at(text, 20), "servers.count");
        let commented = "# a = b\n[servers]  # the GPUs\ncount = 0\n";
        assert_eq!(key_at(commented, commented.len() - 2), "servers.count");
    }

    #[test]
    fn type_errors_in_user_words() {
        let text = "[servers]\ncuont = \"two\"\n";
        let e =
            Locator::new(text, Path::new("x.toml"), &[]).unwrap().deserialize::<ScenarioFile>(text, false).unwrap_err();
        assert_eq!((e.key.as_str(), e.origin), ("servers.cuont", Origin::File { line: Some((2, 1)) }));
        assert!(e.hint.unwrap().starts_with("did you mean `count`?"));
        assert_eq!(
            plain_types("invalid type: string \"x\", expected struct RunSection"),
            "invalid type: string \"x\", expected a table"
        );
        assert_eq!(
            did_you_mean("unknown variant `poison`, expected one of `poisson`, `gamma`").as_deref(),
            Some("poisson")
        );
        assert_eq!(did_you_mean("unknown field `zzz`, expected one of `count`, `queue`"), None);
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
