//! End-to-end tests of the `seatkeeper` binary on the `examples/acme` policy and snapshot, with
//! time pinned by `--at` and the environment cleared.

#![allow(clippy::unwrap_used)]

use crate::support::{copy_dir, root, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const AT: &str = "2026-11-25T08:00:00Z";

fn seatkeeper(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seatkeeper"))
        .args(args)
        .current_dir(root())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("run seatkeeper")
}

/// A copy of examples/acme outside any git repository, so rendered plans carry no commit id.
fn acme_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples/acme"), dir.path());
    dir
}

fn acme_plan(extra: &[&str]) -> Output {
    let acme = acme_copy();
    let policy = acme.path().to_str().unwrap();
    let mut args = vec![
        "plan",
        "--policy",
        policy,
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
fn validate_reports_revision_2_mistakes_with_their_place_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("seatkeeper.yaml"),
        "version: 1\nsite: acme.atlassian.net\norg: o-1\nproducts:\n  jira-software:\n    groups: [jira-software-users-acme]\n    inactivity: 3m\n    restore_on_login: yes\n  confluense:\n    groups: [confluence-users-acme]\n    eligible_groups: [staff, staff]\nusers:\n  - email: alice@acme.com\n    products: [confluence]\n    requested: 2999-01-01\n",
    )
    .unwrap();
    let bad = seatkeeper(&["validate", "--policy", dir.path().to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(bad.stdout.is_empty());
    let stderr = text(&bad.stderr);
    for expected in [
        "error[bad-duration]: ",
        "seatkeeper.yaml:7:17: `products.jira-software.inactivity`: `3m` is ambiguous: 3 months or 3 minutes?\n  hint: write `90d` for 3 months",
        "error[wrong-type]: ",
        "seatkeeper.yaml:8:23: `products.jira-software.restore_on_login` must be a boolean, found a string\n  hint: `yes` is text, not a boolean: write `true`, without quotes",
        "error[misspelled-product]: ",
        "seatkeeper.yaml:9:3: `confluense` is not an Atlassian product key",
        "hint: did you mean `confluence`? rename `confluense` to `confluence` here",
        "error[duplicate-eligible-group]: ",
        "seatkeeper.yaml:11:30: group `staff` is named twice",
        "error[requested-in-future]: ",
        "seatkeeper.yaml:15:16: `requested` (2999-01-01) is after today",
    ] {
        assert!(stderr.contains(expected), "{expected}\n---\n{stderr}");
    }
    // The users who name `confluence` are counted in the declaration's error, not one each.
    assert!(!stderr.contains("unknown-product"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn requested_dates_are_checked_against_the_later_of_today_and_at() {
    // A `requested` date after both the real today and `--at` is a typo.
    let acme = acme_copy();
    let team = acme.path().join("teams/engineering.yaml");
    let yaml = std::fs::read_to_string(&team).unwrap();
    assert!(yaml.contains("requested: 2026-11-20"));
    std::fs::write(
        &team,
        yaml.replace("requested: 2026-11-20", "requested: 2099-01-20"),
    )
    .unwrap();
    let plan = |policy: &str, at: &str| {
        seatkeeper(&[
            "plan",
            "--policy",
            policy,
            "--snapshot",
            "examples/acme/snapshot.json",
            "--at",
            at,
        ])
    };
    let future = acme.path().to_str().unwrap();
    let before = plan(future, "2099-01-19");
    assert_eq!(before.status.code(), Some(1));
    let stderr = text(&before.stderr);
    assert!(
        stderr.contains("teams/engineering.yaml:26:16: `requested` (2099-01-20) is after today (2099-01-19)\n  hint: write the day the user asked for access, no later than 2099-01-19"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let on_the_day = plan(future, "2099-01-20");
    assert_eq!(
        on_the_day.status.code(),
        Some(0),
        "{}",
        text(&on_the_day.stderr)
    );
    // Replaying a past day accepts dates written since: acme asks on 2026-11-20.
    let replay = plan("examples/acme", "2026-11-19");
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay.stderr));
}

#[test]
fn without_a_safety_block_the_default_rails_block_mass_removals() {
    let acme = acme_copy();
    let main = acme.path().join("seatkeeper.yaml");
    let yaml = std::fs::read_to_string(&main).unwrap();
    let (without_safety, _) = yaml.split_once("\nsafety:").unwrap();
    std::fs::write(&main, format!("{without_safety}\n")).unwrap();
    let policy = acme.path().to_str().unwrap();

    let validate = seatkeeper(&["validate", "--policy", policy]);
    assert_eq!(
        validate.status.code(),
        Some(0),
        "{}",
        text(&validate.stderr)
    );
    assert!(
        text(&validate.stdout).contains("safety defaults apply: max_removals 10% of a product's holders (at least 1), max_additions 100"),
        "{}",
        text(&validate.stdout)
    );

    let out = seatkeeper(&[
        "plan",
        "--policy",
        policy,
        "--snapshot",
        "examples/acme/snapshot.json",
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: seatkeeper::plan::Plan = serde_json::from_slice(&out.stdout).unwrap();
    let held_back = |product: &str| {
        plan.blocked
            .iter()
            .filter(|b| {
                b.action.product == product && b.rail == seatkeeper::plan::Rail::MaxRemovals
            })
            .count()
    };
    // jira-software: 7 of 25 holders would go, more than 10% (2): all held back.
    assert_eq!(held_back("jira-software"), 8, "{:#?}", plan.blocked);
    assert!(held_back("confluence") > 0, "{:#?}", plan.blocked);
    // jira-servicedesk: 1 of 10 holders is within 10%.
    assert_eq!(held_back("jira-servicedesk"), 0);
    assert!(plan
        .actions
        .iter()
        .any(|a| a.product == "jira-servicedesk" && a.email.as_deref() == Some("ben@acme.com")));
    // The plan says which defaults applied, in JSON and in its header.
    assert_eq!(plan.safety_defaults, ["max_removals", "max_additions"]);
    let text_plan = seatkeeper(&[
        "plan",
        "--policy",
        policy,
        "--snapshot",
        "examples/acme/snapshot.json",
        "--at",
        AT,
    ]);
    assert!(
        text(&text_plan.stdout).contains(
            "no `safety:` rails written for max_removals and max_additions: defaults apply"
        ),
        "{}",
        text(&text_plan.stdout)
    );
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
fn plan_from_renders_a_saved_plan_as_planning_would_without_reading_anything_else() {
    let acme = acme_copy();
    let plan_acme = |extra: &[&str]| {
        let mut args = vec!["plan", "--policy", acme.path().to_str().unwrap()];
        args.extend_from_slice(&["--snapshot", "examples/acme/snapshot.json", "--at", AT]);
        args.extend_from_slice(extra);
        seatkeeper(&args)
    };
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("plan.json");
    let saved_arg = saved.to_str().unwrap();
    let made = plan_acme(&["--out", saved_arg, "--color", "never"]);
    assert_eq!(made.status.code(), Some(0), "{}", text(&made.stderr));
    // Every format renders the saved plan exactly as the planning run renders it, from a folder
    // holding no policy, with no snapshot and no credentials.
    let elsewhere = tempfile::tempdir().unwrap();
    for format in ["text", "markdown", "json"] {
        let direct = plan_acme(&["--format", format, "--color", "never"]);
        let from = Command::new(env!("CARGO_BIN_EXE_seatkeeper"))
            .args(["plan", "--from", saved_arg, "--format", format])
            .args(["--color", "never"])
            .current_dir(elsewhere.path())
            .env_clear()
            .output()
            .unwrap();
        assert_eq!(from.status.code(), Some(0), "{}", text(&from.stderr));
        assert!(
            from.stdout == direct.stdout,
            "--format {format} differs:\n{}",
            text(&from.stdout)
        );
        assert!(from.stderr.is_empty(), "{}", text(&from.stderr));
    }
    let changes = seatkeeper(&["plan", "--from", saved_arg, "--detailed-exitcode"]);
    assert_eq!(changes.status.code(), Some(2), "{}", text(&changes.stderr));

    // It renders, it does not plan: the planning inputs are refused alongside it (usage, 1).
    for extra in [
        &["--snapshot", "examples/acme/snapshot.json"][..],
        &["--policy", "examples/acme"],
        &["--at", AT],
        &["--out", "other.json"],
    ] {
        let mut args = vec!["plan", "--from", saved_arg];
        args.extend_from_slice(extra);
        let out = seatkeeper(&args);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        assert!(
            text(&out.stderr).contains("cannot be used with"),
            "{}",
            text(&out.stderr)
        );
    }
    // What is not a saved plan is located, as `apply` locates it.
    std::fs::write(
        &saved,
        "{\n  \"format_version\": 1,\n  \"actions\": [oops]\n}\n",
    )
    .unwrap();
    let out = seatkeeper(&["plan", "--from", saved_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("plan.json:3:")
            && text(&out.stderr).contains("not a seatkeeper plan"),
        "{}",
        text(&out.stderr)
    );
    let missing = seatkeeper(&["plan", "--from", "/nonexistent/plan.json"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("cannot read plan /nonexistent/plan.json"));
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
fn a_broken_policy_is_reported_alone_even_when_the_snapshot_is_broken_too() {
    // The snapshot is read next to the policy; the policy's problems still come first and alone.
    let dir = acme_copy();
    let main = dir.path().join("seatkeeper.yaml");
    let yaml = std::fs::read_to_string(&main).unwrap();
    std::fs::write(
        &main,
        yaml.replacen("version: 1", "version: 1\nbogus_key: 1", 1),
    )
    .unwrap();
    let snapshot = dir.path().join("broken.json");
    std::fs::write(&snapshot, "{ \"format_version\": 1, \"site\": ").unwrap();
    let policy_dir = dir.path().to_str().unwrap();
    let snapshot_path = snapshot.to_str().unwrap();
    let both = seatkeeper(&["plan", "--policy", policy_dir, "--snapshot", snapshot_path]);
    assert_eq!(both.status.code(), Some(1));
    let err = text(&both.stderr);
    assert!(
        err.contains("seatkeeper.yaml") && err.contains("bogus_key"),
        "{err}"
    );
    assert!(!err.contains("broken.json"), "{err}");

    // With the policy fixed, the snapshot's problem is reported with its file and line.
    std::fs::write(&main, yaml).unwrap();
    let snap = seatkeeper(&["plan", "--policy", policy_dir, "--snapshot", snapshot_path]);
    assert_eq!(snap.status.code(), Some(1));
    let err = text(&snap.stderr);
    assert!(err.contains("broken.json:1"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn audit_verify_accepts_the_example_log_and_names_the_first_tampered_line() {
    let log = Path::new("examples/acme/audit/seatkeeper.jsonl");
    let ok = seatkeeper(&["audit", "verify", log.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("12 records, hash chain intact"));

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

/// Commits everything in `dir` (a new repository) and returns the commit id.
fn commit_all(repo: &git2::Repository, message: &str) -> String {
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("Policy Owner", "owner@acme.com").unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .unwrap()
        .to_string()
}

#[test]
fn ref_reads_the_policy_at_a_revision_and_plans_record_the_commit() {
    let acme = acme_copy();
    let policy = acme.path().to_str().unwrap();
    let repo = git2::Repository::init(acme.path()).unwrap();
    let first = commit_all(&repo, "acme policy");
    // Break the work tree: --ref HEAD still reads the committed policy.
    std::fs::write(acme.path().join("seatkeeper.yaml"), "version: [").unwrap();
    let broken = seatkeeper(&["validate", "--policy", policy]);
    assert_eq!(broken.status.code(), Some(1));
    let at_head = seatkeeper(&["validate", "--policy", policy, "--ref", "HEAD"]);
    assert_eq!(at_head.status.code(), Some(0), "{}", text(&at_head.stderr));

    let out = seatkeeper(&[
        "plan",
        "--policy",
        policy,
        "--ref",
        "HEAD",
        "--snapshot",
        "examples/acme/snapshot.json",
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: seatkeeper::plan::Plan = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan.policy_commit.as_deref(), Some(first.as_str()));
    assert!(!plan.policy_dirty);

    let missing = seatkeeper(&["validate", "--policy", policy, "--ref", "release-2027"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("revision `release-2027`"),
        "{}",
        text(&missing.stderr)
    );

    let not_git = tempfile::tempdir().unwrap();
    let outside = seatkeeper(&[
        "validate",
        "--policy",
        not_git.path().to_str().unwrap(),
        "--ref",
        "HEAD",
    ]);
    assert_eq!(outside.status.code(), Some(1));
    assert!(text(&outside.stderr).contains("not inside a git repository"));
}

#[test]
fn a_dirty_work_tree_is_marked_in_the_plan() {
    let acme = acme_copy();
    let policy = acme.path().to_str().unwrap();
    let repo = git2::Repository::init(acme.path()).unwrap();
    commit_all(&repo, "acme policy");
    std::fs::write(acme.path().join("teams/new.yaml"), "users: []\n").unwrap();
    let out = seatkeeper(&[
        "plan",
        "--policy",
        policy,
        "--snapshot",
        "examples/acme/snapshot.json",
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: seatkeeper::plan::Plan = serde_json::from_slice(&out.stdout).unwrap();
    assert!(plan.policy_dirty && plan.policy_commit.is_some());
}

#[test]
fn diff_shows_access_changes_and_the_plan_delta_of_a_pull_request() {
    let acme = acme_copy();
    let policy = acme.path().to_str().unwrap();
    let repo = git2::Repository::init(acme.path()).unwrap();
    commit_all(&repo, "acme policy");
    // The PR: quinn gets Jira too, rosa leaves the product team, Confluence reclaims sooner.
    let product = acme.path().join("teams/product.yaml");
    let text_before = std::fs::read_to_string(&product).unwrap();
    let changed = text_before
        .replace(
            "  - email: quinn@acme.com\n    products: [confluence]",
            "  - email: quinn@acme.com\n    products: [confluence, jira-software]",
        )
        .replace("  - email: rosa@acme.com\n    products: [confluence]\n", "");
    assert_ne!(changed, text_before);
    std::fs::write(&product, changed).unwrap();
    commit_all(&repo, "quinn joins Jira, rosa leaves");

    let args = [
        "diff",
        "--policy",
        policy,
        "--base",
        "HEAD~1",
        "--head",
        "HEAD",
        "--snapshot",
        "examples/acme/snapshot.json",
        "--at",
        AT,
        "--detailed-exitcode",
    ];
    let out = seatkeeper(&args);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("+ quinn@acme.com"), "{stdout}");
    assert!(stdout.contains("- rosa@acme.com"), "{stdout}");
    assert!(stdout.contains("Plan delta"), "{stdout}");
    assert!(
        stdout.contains("- rosa@acme.com confluence-users-acme (not-eligible"),
        "{stdout}"
    );
    assert!(stdout.contains("-    products: [confluence]"), "{stdout}");

    let mut md_args = args.to_vec();
    md_args.extend(["--format", "markdown"]);
    let md = text(&seatkeeper(&md_args).stdout);
    assert!(md.starts_with("### seatkeeper diff"), "{md}");

    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let json = seatkeeper(&json_args);
    assert_eq!(json.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["has_changes"], true);
    assert_eq!(
        json["policy"]["granted"]["jira-software"][0],
        "quinn@acme.com"
    );
    assert_eq!(json["policy"]["revoked"]["confluence"][0], "rosa@acme.com");
    assert!(json["plan"]["introduced"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["email"] == "rosa@acme.com" && a["kind"] == "remove"));

    // Colour on request: additions green, removals red; never on a pipe by default.
    let mut color_args = args.to_vec();
    color_args.extend(["--color", "always"]);
    let colored = text(&seatkeeper(&color_args).stdout);
    assert!(colored.contains("\u{1b}[32m+ quinn@acme.com"), "{colored}");
    assert!(colored.contains("\u{1b}[31m- rosa@acme.com"), "{colored}");
    assert!(!stdout.contains('\u{1b}'));

    let same = seatkeeper(&[
        "diff",
        "--policy",
        policy,
        "--base",
        "HEAD",
        "--head",
        "HEAD",
        "--detailed-exitcode",
    ]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same.stderr));
    assert!(text(&same.stdout).contains("No access changes."));

    // The work tree as head, with uncommitted changes, says so.
    std::fs::write(
        acme.path().join("teams/new.yaml"),
        "users:\n  - email: zed@acme.com\n",
    )
    .unwrap();
    let dirty = seatkeeper(&["diff", "--policy", policy, "--base", "HEAD"]);
    assert_eq!(dirty.status.code(), Some(0), "{}", text(&dirty.stderr));
    let dirty = text(&dirty.stdout);
    assert!(
        dirty.contains("HEAD..work tree (uncommitted changes)") && dirty.contains("+ zed@acme.com"),
        "{dirty}"
    );

    // A head that does not validate is named as such.
    std::fs::write(acme.path().join("seatkeeper.yaml"), "version: 1\n").unwrap();
    let broken = seatkeeper(&["diff", "--policy", policy, "--base", "HEAD"]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        text(&broken.stderr).contains("head policy (work tree) does not load"),
        "{}",
        text(&broken.stderr)
    );
}

#[test]
fn policy_self_tests_pass_on_the_example_and_fail_readably() {
    let acme = acme_copy();
    let policy = acme.path().to_str().unwrap();
    let args = [
        "test",
        "--policy",
        policy,
        "--snapshot",
        "examples/acme/snapshot.json",
        "--at",
        AT,
    ];
    let ok = seatkeeper(&args);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}{}",
        text(&ok.stdout),
        text(&ok.stderr)
    );
    assert!(
        text(&ok.stdout).contains("6 passed, 0 failed."),
        "{}",
        text(&ok.stdout)
    );
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let json = seatkeeper(&json_args);
    assert_eq!(json.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["passed"], 6);
    assert_eq!(json["failed"], 0);
    assert_eq!(json["tests"].as_array().unwrap().len(), 6);
    assert!(json["tests"][0]["place"]
        .as_str()
        .unwrap()
        .starts_with("tests/access.yaml"));

    std::fs::write(
        acme.path().join("tests/extra.yaml"),
        "tests:\n  - name: goran keeps Jira\n    user: goran@acme.com\n    holds: [jira-software]\n  - name: typo\n    user: alice@acme.com\n    holds: [jira]\n",
    )
    .unwrap();
    let bad = seatkeeper(&args);
    assert_eq!(bad.status.code(), Some(1));
    let stdout = text(&bad.stdout);
    assert!(
        stdout.contains("FAIL  goran keeps Jira  (tests/extra.yaml: tests[0])"),
        "{stdout}"
    );
    assert!(
        stdout.contains("goran@acme.com should hold jira-software but will not: dormant"),
        "{stdout}"
    );
    assert!(stdout.contains("unknown product `jira`"), "{stdout}");
    assert!(text(&bad.stderr).contains("2 policy self-tests failed"));

    std::fs::write(acme.path().join("tests/extra.yaml"), "tests:\n  - nme: x\n").unwrap();
    let malformed = seatkeeper(&args);
    assert_eq!(malformed.status.code(), Some(1));
    assert!(
        text(&malformed.stderr).contains("tests/extra.yaml:2:"),
        "{}",
        text(&malformed.stderr)
    );
}

#[test]
fn a_bad_plan_file_is_refused_before_credentials_or_network() {
    let dir = tempfile::tempdir().unwrap();
    let missing = seatkeeper(&[
        "apply",
        "/nonexistent/plan.json",
        "--policy",
        "examples/acme",
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("cannot read plan /nonexistent/plan.json"),
        "{}",
        text(&missing.stderr)
    );

    let broken = dir.path().join("plan.json");
    std::fs::write(
        &broken,
        "{\n  \"format_version\": 1,\n  \"actions\": [oops]\n}\n",
    )
    .unwrap();
    let out = seatkeeper(&[
        "apply",
        broken.to_str().unwrap(),
        "--policy",
        "examples/acme",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("plan.json:3:") && stderr.contains("not a seatkeeper plan"),
        "{stderr}"
    );
    assert!(!stderr.contains("credentials"), "{stderr}");

    // A plan for another site is refused (exit 3).
    let plan = acme_plan(&["--format", "json"]);
    let other = String::from_utf8(plan.stdout)
        .unwrap()
        .replace("acme.atlassian.net", "globex.atlassian.net");
    std::fs::write(&broken, other).unwrap();
    let out = seatkeeper(&[
        "apply",
        broken.to_str().unwrap(),
        "--policy",
        "examples/acme",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("globex.atlassian.net"));
}

#[test]
fn report_renders_every_format_and_audit_verify_finds_the_policy_log() {
    let acme = acme_copy();
    let policy = acme.path().to_str().unwrap();
    let base = [
        "report",
        "--policy",
        policy,
        "--snapshot",
        "examples/acme/snapshot.json",
        "--at",
        AT,
    ];
    for (format, needle) in [
        ("markdown", "jira-software"),
        ("csv", "product,account_id,email"),
        ("json", "\"format_version\""),
        ("html", "<svg"),
    ] {
        let mut args = base.to_vec();
        args.extend(["--format", format]);
        let out = seatkeeper(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            text(&out.stderr)
        );
        assert!(text(&out.stdout).contains(needle), "{format}");
    }
    // The product's own last use shows beside the evidence that decided, and requests from
    // people the policy does not grant are listed with the line that would.
    let mut md = base.to_vec();
    md.extend(["--format", "markdown"]);
    let md = text(&seatkeeper(&md).stdout);
    assert!(
        md.contains("| 2024-03-01 (added to org); never used | 0 | reclaim |"),
        "{md}"
    );
    assert!(
        md.contains("- rosa@acme.com asked on 2026-11-23: `- { email: rosa@acme.com, products: [confluence, jira-software] }`, replacing teams/product.yaml:9:5"),
        "{md}"
    );
    let mut csv = base.to_vec();
    csv.extend(["--format", "csv"]);
    let csv = text(&seatkeeper(&csv).stdout);
    assert!(
        csv.lines().any(|l| l.starts_with("confluence,")
            && l.contains("pavel@")
            && l.ends_with(",2025-02-11")),
        "{csv}"
    );
    let mut since = base.to_vec();
    since.extend(["--since", "no-such-revision"]);
    let out = seatkeeper(&since);
    assert_eq!(out.status.code(), Some(1));

    let verify = seatkeeper(&["audit", "verify", "--policy", policy]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
    assert!(text(&verify.stdout).contains("12 records, hash chain intact"));
}

#[test]
fn detailed_exitcode_is_3_when_a_mass_change_rail_holds_actions_back() {
    let acme = acme_copy();
    let main = acme.path().join("seatkeeper.yaml");
    let text_before = std::fs::read_to_string(&main).unwrap();
    std::fs::write(
        &main,
        text_before.replace("max_removals: 35%", "max_removals: 2"),
    )
    .unwrap();
    let policy = acme.path().to_str().unwrap();
    let args = [
        "plan",
        "--policy",
        policy,
        "--snapshot",
        "examples/acme/snapshot.json",
        "--at",
        AT,
    ];
    let mut detailed = args.to_vec();
    detailed.push("--detailed-exitcode");
    let out = seatkeeper(&detailed);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("max-removals"));
    let mut lifted = detailed.clone();
    lifted.push("--allow-mass-removal");
    assert_eq!(seatkeeper(&lifted).status.code(), Some(2));
    assert_eq!(
        seatkeeper(&args).status.code(),
        Some(0),
        "without --detailed-exitcode a plan is a success"
    );
}

#[test]
fn a_fifo_in_place_of_a_policy_or_snapshot_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("seatkeeper.yaml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo is not available here; skipped");
        return;
    }
    let started = std::time::Instant::now();
    let out = seatkeeper(&["validate", "--policy", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("not a regular file"),
        "{}",
        text(&out.stderr)
    );
    let snap = seatkeeper(&[
        "plan",
        "--policy",
        "examples/acme",
        "--snapshot",
        fifo.to_str().unwrap(),
    ]);
    assert_eq!(snap.status.code(), Some(1), "{}", text(&snap.stderr));
    assert!(
        text(&snap.stderr).contains("not a regular file"),
        "{}",
        text(&snap.stderr)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn an_audit_folder_symlinked_out_of_the_policy_folder_is_refused() {
    let acme = acme_copy();
    let outside = tempfile::tempdir().unwrap();
    let audit = acme.path().join("audit");
    std::fs::rename(&audit, outside.path().join("audit")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("audit"), &audit).unwrap();
    let policy = acme.path().to_str().unwrap();
    for args in [
        vec![
            "plan",
            "--policy",
            policy,
            "--snapshot",
            "examples/acme/snapshot.json",
        ],
        vec!["audit", "verify", "--policy", policy],
        vec!["apply", "--force-unlock", "--policy", policy],
    ] {
        let out = seatkeeper(&args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("leads outside the policy folder"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn usage_errors_exit_1_never_the_changes_code() {
    for args in [
        vec!["plan", "--detailed-exitcode", "--snapshto", "x"],
        vec!["no-such-command"],
        vec!["plan", "--format", "yaml"],
        vec!["apply", "--parallelism", "0"],
    ] {
        let out = seatkeeper(&args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!text(&out.stderr).is_empty(), "{args:?}");
    }
    for args in [vec!["--help"], vec!["--version"], vec!["plan", "--help"]] {
        let out = seatkeeper(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!text(&out.stdout).is_empty(), "{args:?}");
    }
}

#[test]
fn a_stale_snapshot_is_planned_with_a_warning() {
    let out = seatkeeper(&[
        "plan",
        "--policy",
        "examples/acme",
        "--snapshot",
        "examples/acme/snapshot.json",
        "--at",
        "2026-12-07T08:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("warning: the snapshot examples/acme/snapshot.json was taken at 2026-11-25T08:00:00Z, 12 days before the time planned for")
            && stderr.contains("--at 2026-11-25T08:00:00Z"),
        "{stderr}"
    );
    let pinned = acme_plan(&[]);
    assert!(!text(&pinned.stderr).contains("warning: the snapshot"));
}

/// Policy lines that name nothing in the org are warned about with a stable code, their line
/// and a hint, in validate (with live state), plan and explain.
#[test]
fn policy_lines_that_match_nothing_in_the_org_are_warned_about_everywhere() {
    let acme = acme_copy();
    let dir = acme.path();
    let edit = |file: &str, from: &str, to: &str| {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file}: {from}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    // A typo in a real person's entry, an address nobody has, a group the org lacks, another
    // site.
    edit(
        "teams/engineering.yaml",
        "email: bruno@acme.com",
        "email: bruno@acme.cmo",
    );
    edit(
        "teams/engineering.yaml",
        "users:\n",
        "users:\n  - email: heidi.kim@acme.tset\n",
    );
    edit(
        "seatkeeper.yaml",
        "  - group: site-admins",
        "  - group: site-admin",
    );
    edit(
        "seatkeeper.yaml",
        "site: acme.atlassian.net",
        "site: acme-test.atlassian.net",
    );
    let policy = dir.to_str().unwrap();
    let snapshot = "examples/acme/snapshot.json";

    let validate = seatkeeper(&[
        "validate",
        "--policy",
        policy,
        "--snapshot",
        snapshot,
        "--at",
        AT,
    ]);
    assert_eq!(
        validate.status.code(),
        Some(0),
        "{}",
        text(&validate.stderr)
    );
    let stderr = text(&validate.stderr);
    for expected in [
        "warning[site-mismatch]: the policy manages acme-test.atlassian.net, but the live state was read from acme.atlassian.net",
        "warning[unknown-group]: seatkeeper.yaml:",
        "keep: group `site-admin` does not exist in the org",
        "hint: did you mean `site-admins`?",
        "warning[unmatched-user]: teams/engineering.yaml:3:5: safe-user entry heidi.kim@acme.tset matches no account",
        "safe-user entry bruno@acme.cmo matches no account of the org",
        "hint: closest emails in the org: bruno@acme.com",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in\n{stderr}");
    }
    assert!(text(&validate.stdout).contains("4 warnings about the org"));
    // Without live state, validate cannot know.
    let plain = seatkeeper(&["validate", "--policy", policy, "--at", AT]);
    assert!(!text(&plain.stderr).contains("unmatched-user"));

    let plan = seatkeeper(&[
        "plan",
        "--policy",
        policy,
        "--snapshot",
        snapshot,
        "--at",
        AT,
        "--format",
        "json",
    ]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let codes: Vec<&str> = plan["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    for code in ["site-mismatch", "unknown-group", "unmatched-user"] {
        assert!(codes.contains(&code), "{codes:?}");
    }
    let bruno = plan["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["message"].as_str().unwrap().contains("bruno@acme.cmo"))
        .unwrap();
    assert_eq!(bruno["location"]["file"], "teams/engineering.yaml");
    assert_eq!(bruno["hint"], "closest emails in the org: bruno@acme.com");

    let explain = seatkeeper(&[
        "explain",
        "bruno@acme.com",
        "--policy",
        policy,
        "--snapshot",
        snapshot,
        "--at",
        AT,
    ]);
    assert_eq!(explain.status.code(), Some(0), "{}", text(&explain.stderr));
    assert!(text(&explain.stderr).contains("warning[unmatched-user]"));
}

/// `validate --format json`: one object with the verdict and every diagnostic, valid or not;
/// `--color` works on validate like on every command.
#[test]
fn validate_speaks_json_and_colour() {
    let acme = acme_copy();
    let policy = acme.path().to_str().unwrap();
    let ok = seatkeeper(&["validate", "--policy", policy, "--format", "json"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["products"], 3);
    assert_eq!(v["errors"], 0);

    let live = seatkeeper(&[
        "validate",
        "--policy",
        policy,
        "--snapshot",
        "examples/acme/snapshot.json",
        "--at",
        AT,
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&live.stdout).unwrap();
    assert_eq!(v["org_checked"], true);
    assert_eq!(v["org_warnings"].as_array().unwrap().len(), 0, "{v}");

    let main = acme.path().join("seatkeeper.yaml");
    let text_before = std::fs::read_to_string(&main).unwrap();
    std::fs::write(
        &main,
        text_before.replace("inactivity: 90d", "inactivty: 90d"),
    )
    .unwrap();
    let bad = seatkeeper(&["validate", "--policy", policy, "--format", "json"]);
    assert_eq!(bad.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(v["valid"], false);
    let d = &v["diagnostics"][0];
    assert_eq!(d["severity"], "error");
    assert_eq!(d["code"], "unknown-key");
    assert!(d["location"]["file"]
        .as_str()
        .unwrap()
        .ends_with("seatkeeper.yaml"));
    assert!(d["hint"].as_str().unwrap().contains("inactivity"));
    std::fs::write(&main, text_before).unwrap();

    let colored = seatkeeper(&["validate", "--policy", policy, "--color", "always"]);
    assert!(text(&colored.stdout).contains("\u{1b}[32mvalid\u{1b}[0m"));
    let plain = seatkeeper(&["--color", "never", "validate", "--policy", policy]);
    assert!(!text(&plain.stdout).contains('\u{1b}'));
}

// --------------------------------------------------------------------------- README commands

/// One `$ command` of a `console` block, with the output shown under it.
struct Shown {
    line: usize,
    command: String,
    expected: Vec<String>,
    exit: i32,
}

/// The `$` commands of every ```console block of a markdown file, with their shown output
/// (`...` on a line of its own stands for any number of lines) and, from a trailing
/// `# exit N` comment, their exit code (0 otherwise).
fn console_commands(markdown: &str) -> Vec<Shown> {
    let mut out: Vec<Shown> = Vec::new();
    let mut in_console = false;
    for (i, line) in markdown.lines().enumerate() {
        if line.starts_with("```") {
            in_console = !in_console && line.trim() == "```console";
            continue;
        }
        if !in_console {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            let exit = command
                .rsplit_once("# exit ")
                .and_then(|(_, n)| n.trim().parse().ok())
                .unwrap_or(0);
            out.push(Shown {
                line: i + 1,
                command: command.to_string(),
                expected: Vec::new(),
                exit,
            });
        } else if let Some(last) = out.last_mut() {
            last.expected.push(line.trim_end().to_string());
        }
    }
    out
}

/// Whether `actual` shows `expected`: line by line, `...` matching any run of lines.
fn shows(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first == "..." => {
            (0..=actual.len()).any(|skip| shows(rest, &actual[skip..]))
        }
        Some((first, rest)) => actual
            .split_first()
            .is_some_and(|(line, more)| line.trim_end() == first && shows(rest, more)),
    }
}

#[test]
fn readme_commands_print_what_the_readme_shows() {
    // The README and every doc: their `console` blocks all run.
    let mut files = vec![root().join("README.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let commands: Vec<(String, Shown)> = files
        .iter()
        .flat_map(|f| {
            let name = f.strip_prefix(root()).unwrap().display().to_string();
            console_commands(&std::fs::read_to_string(f).unwrap())
                .into_iter()
                .map(move |c| (name.clone(), c))
        })
        .collect();
    assert!(commands.len() >= 10, "{} console commands", commands.len());
    // A scratch folder with a copy of examples/, and `seatkeeper` on PATH.
    let scratch = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples"), &scratch.path().join("examples"));
    let bin = scratch.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_seatkeeper"), bin.join("seatkeeper")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut failures = Vec::new();
    for (file, shown) in &commands {
        let out = Command::new("bash")
            .args(["-c", &shown.command])
            .current_dir(scratch.path())
            .env_clear()
            .env("PATH", &path)
            .env("HOME", scratch.path())
            .output()
            .unwrap();
        let mut all = text(&out.stdout);
        all.push_str(&text(&out.stderr));
        let lines: Vec<&str> = all.lines().collect();
        if out.status.code() != Some(shown.exit) || !shows(&shown.expected, &lines) {
            failures.push(format!(
                "{file}:{}: $ {}\nexit {:?} (shown: {})\n--- printed ---\n{all}--- shown ---\n{}\n",
                shown.line,
                shown.command,
                out.status.code(),
                shown.exit,
                shown.expected.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn elided_output_matching_is_strict_where_it_shows_lines() {
    let exp = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(shows(&exp(&["a", "...", "d"]), &["a", "b", "c", "d"]));
    assert!(shows(&exp(&["..."]), &[]));
    assert!(!shows(&exp(&["a", "d"]), &["a", "b", "d"]));
    assert!(!shows(&exp(&["...", "x"]), &["a", "b"]));
    assert!(!shows(&exp(&["a"]), &["a", "b"]));
}

/// A forecast from a snapshot counts from the snapshot's time, so it reads the same any day.
#[test]
fn a_relative_at_counts_from_the_snapshot() {
    let out = seatkeeper(&[
        "plan",
        "--policy",
        "examples/acme",
        "--snapshot",
        "examples/acme/snapshot.json",
        "--at",
        "+30d",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["generated_at"], "2026-12-25T08:00:00Z");
    assert!(
        !text(&out.stderr).contains("taken at"),
        "{}",
        text(&out.stderr)
    );
}

/// The pure core (`src/domain/`) imports no runtime, network, web server, git or file system
/// crate: inputs come in as values. An import that breaks the fence fails here, naming it.
#[test]
fn the_core_imports_no_io() {
    const FORBIDDEN: &[&str] = &[
        "tokio",
        "reqwest",
        "axum",
        "hyper",
        "git2",
        "std::fs",
        "std::net",
        "std::env",
        "std::process",
        "crate::atlassian",
        "crate::sandbox",
        "crate::cli",
        "crate::apply",
        "crate::files",
        "crate::gitinfo",
        "crate::audit_log",
        "crate::render",
        "crate::report",
        "crate::ops",
    ];
    fn visit(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    visit(&root().join("src/domain"), &mut files);
    assert!(files.len() > 20, "{} files in the core", files.len());
    let mut breaches = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for name in FORBIDDEN {
                let hit = code.match_indices(name).any(|(at, _)| {
                    let before = code[..at].chars().next_back();
                    let after = code[at + name.len()..].chars().next();
                    !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                        && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
                });
                if hit {
                    breaches.push(format!(
                        "{}:{}: {}",
                        file.strip_prefix(root()).unwrap().display(),
                        i + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        breaches.is_empty(),
        "the core must not do I/O:\n{}",
        breaches.join("\n")
    );
}

/// Self-test files are read by the same YAML reader as the policy: a mistake is located, with
/// a code and a hint.
#[test]
fn a_broken_self_test_file_is_located_like_a_policy_mistake() {
    let acme = acme_copy();
    std::fs::write(
        acme.path().join("tests/typo.yaml"),
        "tests:\n  - name: alice keeps Jira\n    user: alice@acme.com\n    hold: [jira-software]\n",
    )
    .unwrap();
    let out = seatkeeper(&[
        "test",
        "--policy",
        acme.path().to_str().unwrap(),
        "--snapshot",
        "examples/acme/snapshot.json",
        "--at",
        AT,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "error[unknown-key]: tests/typo.yaml:4:5: unknown key `hold` (did you mean `holds`?)"
        ),
        "{stderr}"
    );
}
