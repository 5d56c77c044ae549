//! `docs/reference/summary-json.md` names every field of every shipped
//! scenario's `summary.json`, and no field that none of them has.
//!
//! The summaries are the committed insta snapshots: the snapshot tests
//! (`shipped_scenarios`, `distribute_scenarios`) prove that every shipped
//! scenario has one and that it is what the scenario produces today, so
//! this test reads them instead of running every scenario again. A field is named by the first cell of a
//! table row on the page; `{a,b}` in it stands for each of `a` and `b`,
//! `[]` for every element of an array.

use crate::support::{root, snapshots};
use std::collections::BTreeSet;

/// The page every field must be on.
const PAGE: &str = "docs/reference/summary-json.md";

/// Every key path with a value (not an object or array) in `value`.
fn leaf_paths(value: &serde_json::Value, path: String, out: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                leaf_paths(v, child, out);
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                leaf_paths(v, format!("{path}[]"), out);
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

/// `a.{b,c}.d` -> `a.b.d`, `a.c.d` (innermost-first, so groups may repeat).
fn expand(name: &str) -> Vec<String> {
    let Some(open) = name.find('{') else { return vec![name.to_string()] };
    let close = open + name[open..].find('}').unwrap_or_else(|| panic!("{PAGE}: unclosed brace in `{name}`"));
    name[open + 1..close]
        .split(',')
        .flat_map(|choice| expand(&format!("{}{}{}", &name[..open], choice.trim(), &name[close + 1..])))
        .collect()
}

/// The fields the page names: the first cell of each table row, if it is code.
fn documented() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join(PAGE)).expect("the reference page exists");
    text.lines()
        .filter_map(|line| line.strip_prefix("| `")?.split_once("` |").map(|(name, _)| name.to_string()))
        .flat_map(|name| expand(&name))
        .collect()
}

/// The key paths of every committed summary snapshot.
fn shipped() -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    let mut files = 0;
    for entry in std::fs::read_dir(snapshots()).expect("tests/snapshots exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_none_or(|x| x != "snap") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable snapshot");
        // An insta snapshot: a `---` header block, then the value.
        let body = text.splitn(3, "---\n").nth(2).unwrap_or_else(|| panic!("{}: no insta header", path.display()));
        let value: serde_json::Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
        leaf_paths(&value, String::new(), &mut paths);
        files += 1;
    }
    assert!(files >= 30, "expected every shipped scenario's snapshot, found {files}");
    paths
}

#[test]
fn every_summary_field_is_on_the_reference_page() {
    let (shipped, documented) = (shipped(), documented());
    let missing: Vec<_> = shipped.difference(&documented).collect();
    assert!(missing.is_empty(), "fields of a shipped summary.json missing from {PAGE}: {missing:#?}");
    let unknown: Vec<_> = documented.difference(&shipped).collect();
    assert!(unknown.is_empty(), "{PAGE} names fields no shipped summary.json has: {unknown:#?}");
}
