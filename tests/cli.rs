//! End-to-end tests of the `seatkeeper` binary on the `examples/acme` policy and snapshot, with
//! time pinned by `--at` and the environment cleared.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const AT: &str = "2026-11-25T08:00:00Z";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn seatkeeper(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seatkeeper"))
        .args(args)
        .current_dir(root())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("run seatkeeper")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn acme_plan(extra: &[&str]) -> Output {
    let mut args = vec![
        "plan",
        "--policy",
        "examples/acme",
        "--snapshot",
        "examples/acme/snapshot.json",
        "--at",
        AT,
    ];
    args.extend_from_slice(extra);
    seatkeeper(&args)
}

#[test]
fn validate_accepts_the_example_and_rejects_a_broken_policy_with_its_location() {
    let ok = seatkeeper(&["validate", "--policy", "examples/acme"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("valid (3 products, 40 safe users)"));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("seatkeeper.yaml"),
        "version: 1\nsite: acme.atlassian.net\nproducts:\n  jira-software:\n    groups: [g]\n    inactivty: 90d\n",
    )
    .unwrap();
    let bad = seatkeeper(&["validate", "--policy", dir.path().to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = text(&bad.stderr);
    assert!(stderr.contains("seatkeeper.yaml:6:5"), "{stderr}");
    assert!(stderr.contains("unknown-key"), "{stderr}");
    assert!(bad.stdout.is_empty());
}

#[test]
fn plan_text_matches_the_snapshot() {
    let out = acme_plan(&["--color", "never"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!("acme_plan_text", text(&out.stdout));
}

#[test]
fn plan_markdown_matches_the_snapshot() {
    let out = acme_plan(&["--format", "markdown"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!("acme_plan_markdown", text(&out.stdout));
}

#[test]
fn plan_json_is_the_documented_contract_and_validates_against_the_schema() {
    let out = acme_plan(&["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schema/plan.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["generated_at"], AT);
    let plan: seatkeeper::plan::Plan = serde_json::from_value(json).unwrap();
    assert!(plan
        .actions
        .iter()
        .any(|a| a.rule == seatkeeper::plan::Rule::Inactive));
    assert!(plan.fingerprint.values().all(|f| f.starts_with("sha256:")));
}

#[test]
fn detailed_exitcode_is_2_with_changes_and_out_saves_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("plan.json");
    let out = acme_plan(&["--detailed-exitcode", "--out", saved.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let plan: seatkeeper::plan::Plan =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert!(plan.has_changes());
}

#[test]
fn explain_names_rule_evidence_and_policy_entry() {
    let out = seatkeeper(&[
        "explain",
        "alice@acme.com",
        "--policy",
        "examples/acme",
        "--snapshot",
        "examples/acme/snapshot.json",
        "--at",
        AT,
        "--color",
        "never",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!("acme_explain_alice", text(&out.stdout));

    let unknown = seatkeeper(&[
        "explain",
        "nobody@acme.com",
        "--policy",
        "examples/acme",
        "--snapshot",
        "examples/acme/snapshot.json",
    ]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("nobody@acme.com"));
}

#[test]
fn bad_at_and_missing_snapshot_are_errors_not_panics() {
    let out = seatkeeper(&[
        "plan",
        "--policy",
        "examples/acme",
        "--snapshot",
        "examples/acme/snapshot.json",
        "--at",
        "next tuesday",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--at"), "{}", text(&out.stderr));
    let missing = seatkeeper(&[
        "plan",
        "--policy",
        "examples/acme",
        "--snapshot",
        "/nonexistent.json",
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("/nonexistent.json"));
    assert!(!text(&missing.stderr).contains("panicked"));
}

#[test]
fn audit_verify_accepts_the_example_log_and_names_the_first_tampered_line() {
    let log = Path::new("examples/acme/audit/seatkeeper.jsonl");
    let ok = seatkeeper(&["audit", "verify", log.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("6 records, hash chain intact"));

    let dir = tempfile::tempdir().unwrap();
    let tampered = dir.path().join("log.jsonl");
    let original = std::fs::read_to_string(root().join(log)).unwrap();
    std::fs::write(
        &tampered,
        original.replacen("lena@acme.com", "mallory@acme.com", 2),
    )
    .unwrap();
    let bad = seatkeeper(&["audit", "verify", tampered.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("log.jsonl:6:"),
        "{}",
        text(&bad.stderr)
    );
}
