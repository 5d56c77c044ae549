//! `report.html`: one self-contained page per run, sweep, plan and
//! comparison that holds every number of its Markdown report, and is
//! listed in the report folder's manifest.

use crate::support::{root, servesim, CHAT_PLAN};

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
        assert!(html.contains("<svg"), "{scenario}");
        self_contained_and_listed(scenario, &html, &read(".servesim-report.json"));
    }
}

/// A static page with nothing to fetch, listed in its folder's manifest.
fn self_contained_and_listed(what: &str, html: &str, manifest: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"), "{what}");
    for external in ["<script", "<link", "@import", "url(", "src=", "href="] {
        assert!(!html.contains(external), "{what}: report.html holds `{external}`");
    }
    assert!(manifest.contains("\"report.html\""), "{what}");
}

#[test]
fn study_pages_hold_every_number_of_their_markdown() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("chat.toml"), CHAT_PLAN).unwrap();
    let studies: [(&[&str], &str, &[&str]); 3] = [
        (&["sweep", "chat.toml", "--vary", "workload.rate_per_s=4,8", "--slo-p99", "30s"], "sweep.md", &["knee"]),
        (&["plan", "chat.toml"], "plan.md", &["answer", "(binding)"]),
        (&["compare", "chat.toml", "--variant", "big:batching.max_batch=64"], "compare.md", &["big: SLO ttft_p99"]),
    ];
    for (args, md_name, verdicts) in studies {
        let out = servesim(&[args, &["--out", args[0], "-q"]].concat(), dir.path());
        assert!(out.status.success(), "{args:?}: {out:?}");
        let read = |name: &str| std::fs::read_to_string(dir.path().join(args[0]).join(name)).unwrap();
        let (md, html) = (read(md_name), read("report.html"));
        let missing: Vec<String> = numbers(&md).into_iter().filter(|n| !html.contains(n.as_str())).collect();
        assert!(missing.is_empty(), "{md_name}: numbers missing from report.html: {missing:?}");
        assert!(html.contains("How many A100s serve Llama-3-8B chat"), "{md_name}: no question\n{html}");
        for v in verdicts {
            assert!(html.contains(v), "{md_name}: no verdict {v}\n{html}");
        }
        assert!(html.contains("<ul class=\"verdicts\">"), "{md_name}");
        self_contained_and_listed(args[0], &html, &read(".servesim-report.json"));
        for svg in std::fs::read_dir(dir.path().join(args[0])).unwrap() {
            let name = svg.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".svg") {
                assert!(
                    html.contains(&format!("<figcaption>{name}</figcaption>")),
                    "{md_name}: {name} not on the page"
                );
            }
        }
    }
}
