//! Bad tenant and front-door definitions are refused before any run, with
//! the file:line:col (or the `--set`) that wrote them, the key, what was
//! expected, and a hint — never a panic: weight 0, a negative burst, an
//! unknown priority class, duplicate tenant names, a tier missing from the
//! shedding order, front-door keys without tenants.

use servesim::scenario;
use std::path::PathBuf;

fn shipped() -> (PathBuf, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/multi-tenant-fairness.toml");
    let text = std::fs::read_to_string(&path).expect("the shipped fairness scenario");
    (path, text)
}

/// 1-based line of the first line of the shipped file starting with `prefix`.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines().position(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}")) + 1
}

/// The error for the shipped file with the first `from` replaced by `to`.
fn refused(from: &str, to: &str, expected: &[&str]) -> String {
    let (path, text) = shipped();
    assert!(text.contains(from), "{from}");
    let err = scenario::from_text(&text.replacen(from, to, 1), &path, &[]).expect_err(to).to_string();
    assert!(err.contains("hint:"), "{to}: no hint in {err}");
    for part in expected {
        assert!(err.contains(part), "{to}: `{part}` missing from: {err}");
    }
    err
}

#[test]
fn a_weight_of_zero_is_refused_at_its_line() {
    let (_, text) = shipped();
    let line = line_of(&text, "weight = 3.0");
    refused(
        "weight = 3.0",
        "weight = 0.0",
        &[&format!("multi-tenant-fairness.toml:{line}:10: `tenants[0].weight`"), "expected a weight > 0, got 0"],
    );
}

#[test]
fn a_negative_burst_is_refused_at_its_line() {
    let (_, text) = shipped();
    let line = line_of(&text, "limits = { requests_per_s = 30.0");
    refused(
        "request_burst = 60",
        "request_burst = -5",
        &[
            &format!("multi-tenant-fairness.toml:{line}:"),
            "`tenants[0].limits.request_burst`",
            "expected a burst >= 1 request, got -5",
        ],
    );
}

#[test]
fn an_unknown_priority_class_lists_the_known_ones() {
    let (_, text) = shipped();
    let line = line_of(&text, "priority = \"realtime\"");
    refused(
        "priority = \"realtime\"",
        "priority = \"realtme\"",
        &[
            &format!("multi-tenant-fairness.toml:{line}:"),
            "unknown variant `realtme`",
            "`realtime`, `streaming`, `batch`",
            "did you mean `realtime`?",
        ],
    );
}

#[test]
fn duplicate_tenant_names_are_refused_at_the_second() {
    let (_, text) = shipped();
    let line = line_of(&text, "name = \"globex\"");
    refused(
        "name = \"globex\"",
        "name = \"acme\"",
        &[&format!("multi-tenant-fairness.toml:{line}:8: `tenants[1].name`"), "duplicate tenant name `acme`", "unique"],
    );
}

#[test]
fn tiers_and_front_door_keys_are_checked() {
    refused("tier = \"pro\"", "tier = \"gold\"", &["`tenants[1].tier`", "tier `gold` is not in gateway.shed_order"]);
    refused("rate_per_s = 6.0", "rate_per_s = -6.0", &["`tenants[0].rate_per_s`", "expected a rate > 0"]);
    refused("max_attempts = 3", "max_attempts = 0", &["`clients.max_attempts`", "expected an integer >= 1, got 0"]);
    // Overrides name themselves.
    let (path, text) = shipped();
    let err = scenario::from_text(&text, &path, &["gateway.kv_high=1.5".into()]).expect_err("kv_high").to_string();
    assert!(err.contains("(from --set gateway.kv_high=1.5)") && err.contains("expected a fraction in [0, 1)"), "{err}");
    // Front-door keys without tenants.
    let plain = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/llama70b-h100-continuous.toml");
    let err = scenario::load(&plain, &["gateway.max_queue=10".into()]).expect_err("gateway").to_string();
    assert!(err.contains("`gateway`") && err.contains("only a multi-tenant front door"), "{err}");
}

/// The shipped fairness scenario with the shipped safety pipeline's table.
fn with_safety() -> (PathBuf, String) {
    let (path, text) = shipped();
    let safety =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/safety-pipeline.toml"))
            .expect("the shipped safety scenario");
    (path, format!("{text}\n{}", &safety[safety.find("[safety]").expect("a [safety] table")..]))
}

#[test]
fn a_fallback_pool_that_would_skip_the_safety_checks_is_refused() {
    let (path, text) = with_safety();
    let text = text
        .replace("[gateway]\n", "[gateway]\nfallback = { gpu = \"a100-80gb\", model = \"llama-3-8b\", count = 1 }\n");
    let err = scenario::from_text(&text, &path, &[]).expect_err("fallback + safety").to_string();
    assert!(err.contains("`gateway.fallback`") && err.contains("skip its checks") && err.contains("hint:"), "{err}");
}

#[test]
fn a_tenant_safety_mix_needs_a_safety_pipeline_and_positive_weights() {
    let (_, text) = shipped();
    let line = line_of(&text, "name = \"hobby\"");
    let mixed = text.replacen("name = \"hobby\"\n", "name = \"hobby\"\nsafety_mix = { harmful = 1.0 }\n", 1);
    let err = scenario::from_text(&mixed, &shipped().0, &[]).expect_err("mix without safety").to_string();
    assert!(err.contains("`tenants[2].safety_mix`") && err.contains("only a safety pipeline"), "{err}");
    let (path, text) = with_safety();
    let zero = text.replacen("name = \"hobby\"\n", "name = \"hobby\"\nsafety_mix = { harmful = 0.0 }\n", 1);
    let err = scenario::from_text(&zero, &path, &[]).expect_err("zero mix").to_string();
    assert!(err.contains(&format!(":{}:", line + 1)) && err.contains("`tenants[2].safety_mix`"), "{err}");
    assert!(err.contains("positive total") && err.contains("hint:"), "{err}");
}
