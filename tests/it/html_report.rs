//! `report.html`: one self-contained page per run that holds every number
//! of `summary.md`, and is listed in the report folder's manifest.

use crate::support::{root, servesim};

/// The numbers a reader sees in `text`: runs of digits, with a decimal part.
fn numbers(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for c in text.chars().chain([' ']) {
        if c.is_ascii_digit() || (c == '.' && !current.is_empty() && !current.contains('.')) {
            current.push(c);
        } else if !current.is_empty() {
            out.push(current.trim_end_matches('.').to_string());
            current.clear();
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn report_html_holds_every_number_of_summary_md() {
    for scenario in ["llama70b-h100-continuous", "single-gpu-batching", "multi-tenant-fairness"] {
        let dir = tempfile::tempdir().unwrap();
        let path = root().join("scenarios").join(format!("{scenario}.toml"));
        let out = servesim(&["run", &path.to_string_lossy(), "--out", "r", "-q"], dir.path());
        assert!(out.status.success(), "{scenario}: {out:?}");
        let read = |name: &str| std::fs::read_to_string(dir.path().join("r").join(name)).unwrap();
        let (md, html) = (read("summary.md"), read("report.html"));
        let missing: Vec<String> = numbers(&md).into_iter().filter(|n| !html.contains(n.as_str())).collect();
        assert!(missing.is_empty(), "{scenario}: numbers of summary.md missing from report.html: {missing:?}");
        assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"), "{scenario}");
        for external in ["<script", "<link", "@import", "url(", "src=", "href="] {
            assert!(!html.contains(external), "{scenario}: report.html holds `{external}`");
        }
        assert!(read(".servesim-report.json").contains("\"report.html\""), "{scenario}");
    }
}
