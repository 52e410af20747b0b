//! Every fixture under `tests/fixtures/`:
//!
//! - `policy/valid/<name>/` loads; its warnings are exactly those in `expected.txt` (none if absent).
//! - `policy/invalid/<name>/` fails with exactly the codes and `file:line` in `expected.txt`.
//! - `snapshot/valid/<name>.json` parses; `snapshot/invalid/<name>/snapshot.json` fails as its
//!   `expected.txt` says.
//!
//! `expected.txt` holds one `code file:line` per line; `#` starts a comment.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use seatkeeper::live::parse_snapshot;
use seatkeeper::policy::raw::{self, RawIncludeFile, RawPolicy};
use seatkeeper::policy::source::MemFiles;
use seatkeeper::policy::{self, render_diagnostics, Diagnostic, Location, Matcher, UserRef};
use std::path::{Path, PathBuf};

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

fn expected(dir: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(dir.join("expected.txt")) else {
        return Vec::new();
    };
    let mut out: Vec<String> = text
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    out.sort();
    out
}

fn actual(diags: &[Diagnostic]) -> Vec<String> {
    let mut out: Vec<String> = diags
        .iter()
        .map(|d| format!("{} {}:{}", d.code, d.location.file, d.location.line))
        .collect();
    out.sort();
    out
}

fn name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn valid_policies_load() {
    let dirs = fixtures("policy/valid");
    assert!(dirs.len() >= 4);
    for dir in dirs {
        match seatkeeper::files::load_policy_dir(&dir) {
            Ok(loaded) => assert_eq!(actual(&loaded.warnings), expected(&dir), "{}", name(&dir)),
            Err(diags) => panic!("{} should load, got:\n{diags:#?}", name(&dir)),
        }
    }
}

#[test]
fn invalid_policies_fail_with_the_expected_diagnostics() {
    let dirs = fixtures("policy/invalid");
    assert!(dirs.len() >= 25, "only {} invalid fixtures", dirs.len());
    let known: Vec<&str> = policy::validate::CODES.iter().map(|(c, _)| *c).collect();
    let mut codes_seen = std::collections::BTreeSet::new();
    let mut mismatches = Vec::new();
    for dir in dirs {
        let want = expected(&dir);
        assert!(
            !want.is_empty(),
            "{}: expected.txt is missing or empty",
            name(&dir)
        );
        let diags = match seatkeeper::files::load_policy_dir(&dir) {
            Ok(l) => panic!("{} should fail, but loaded: {:#?}", name(&dir), l.policy),
            Err(diags) => diags,
        };
        if actual(&diags) != want {
            mismatches.push(format!(
                "{}: want {want:?}, got {:?}\n{diags:#?}",
                name(&dir),
                actual(&diags)
            ));
        }
        for d in &diags {
            assert!(
                known.contains(&d.code),
                "{}: code {} is not in CODES",
                name(&dir),
                d.code
            );
            assert!(
                !d.message.is_empty() && d.hint.is_some(),
                "{}: {d:?} needs a hint",
                name(&dir)
            );
            if d.code != "missing-file" {
                assert!(
                    d.location.line >= 1 && d.location.column >= 1,
                    "{}: {d:?}",
                    name(&dir)
                );
            }
            codes_seen.insert(d.code);
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(
        codes_seen.len() >= 25,
        "fixtures cover only {} codes",
        codes_seen.len()
    );
}

#[test]
fn full_fixture_builds_the_expected_model() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy/valid/full");
    let loaded = seatkeeper::files::load_policy_dir(dir).unwrap();
    let p = &loaded.policy;
    assert_eq!(loaded.files, ["seatkeeper.yaml", "teams/platform.yaml"]);
    assert_eq!(
        p.org.as_deref(),
        Some("3b7c1d2e-4f5a-6b7c-8d9e-0f1a2b3c4d5e")
    );
    let keys: Vec<&str> = p.products.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        ["confluence", "jira-software"],
        "products are sorted by key"
    );
    let jira = p.product("jira-software").unwrap();
    assert_eq!(jira.seats, Some(250));
    assert_eq!(
        jira.inactivity.map(|d| d.to_string()).as_deref(),
        Some("90d")
    );
    assert_eq!(jira.grace.to_string(), "2d");
    assert_eq!(
        p.product("confluence").unwrap().grace,
        policy::DEFAULT_GRACE
    );
    assert_eq!(
        jira.location,
        Location {
            file: "seatkeeper.yaml".into(),
            line: 7,
            column: 3
        }
    );
    let who: Vec<String> = p.users.iter().map(|u| u.who.to_string()).collect();
    assert_eq!(
        who,
        [
            "alice@acme.com",
            "bob@contractor.io",
            "account 5b10ac8d82e05b22cc7d4ef5",
            "carol@acme.com"
        ]
    );
    assert_eq!(p.users[1].until.unwrap().to_string(), "2027-01-31");
    assert_eq!(&*p.users[2].location.file, "teams/platform.yaml");
    assert!(p.users[3].covers("confluence") && !p.users[1].covers("jira-software"));
    assert_eq!(p.keep.len(), 3);
    assert_eq!(p.keep[0].matcher, Matcher::Email("admin@acme.com".into()));
    assert_eq!(p.safety.max_removals, Some(policy::Limit::Percent(10.0)));
    assert_eq!(p.safety.max_additions, Some(policy::Limit::Count(100)));
    assert!(p.safety.is_admin_group("org-admins") && !p.safety.is_admin_group("jira-admins"));
    assert_eq!(p.audit_log, "audit/seatkeeper.jsonl");
}

#[test]
fn includes_expand_in_path_order() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy/valid/includes");
    let loaded = seatkeeper::files::load_policy_dir(dir).unwrap();
    assert_eq!(
        loaded.files,
        [
            "seatkeeper.yaml",
            "contractors/2026/q4.yaml",
            "teams/a-platform.yaml",
            "teams/b-sales.yaml"
        ]
    );
    let first = &loaded.policy.users[1];
    assert_eq!(first.who, UserRef::Email("temp@agency.example".into()));
    assert_eq!(loaded.policy.users.len(), 5);
    assert_eq!(loaded.policy.audit_log, "audit/seatkeeper.jsonl");
}

/// The serde raw types (for tools that only want the shape) agree with the located reader.
#[test]
fn serde_raw_types_agree_with_the_located_reader() {
    fn strip_policy(mut p: RawPolicy) -> RawPolicy {
        p.users.iter_mut().for_each(strip_user);
        for s in p.keep.iter_mut().chain(p.ignore.iter_mut()) {
            s.keys.clear();
            s.location = Location::default();
        }
        if let Some(products) = &mut p.products {
            products
                .value
                .0
                .iter_mut()
                .for_each(|(_, p)| p.location = Location::default());
        }
        p
    }
    fn strip_user(u: &mut raw::RawUser) {
        u.keys.clear();
        u.location = Location::default();
    }
    for dir in fixtures("policy/valid") {
        for file in yaml_files(&dir) {
            let text = std::fs::read_to_string(dir.join(&file)).unwrap();
            let root = raw::parse_yaml(&file, &text).unwrap();
            let mut diags = Vec::new();
            if file == "seatkeeper.yaml" {
                let located = strip_policy(raw::read_policy(&root, &mut diags));
                let serde: RawPolicy = seatkeeper::yaml::from_node(&root).unwrap();
                assert_eq!(located, serde, "{}/{file}", name(&dir));
            } else {
                let mut located = raw::read_include(&root, &mut diags);
                located.users.iter_mut().for_each(strip_user);
                let serde: RawIncludeFile = seatkeeper::yaml::from_node(&root).unwrap();
                assert_eq!(located, serde, "{}/{file}", name(&dir));
            }
            assert!(diags.is_empty(), "{diags:?}");
        }
    }
    // deny_unknown_fields holds in the serde types too.
    for fixture in ["unknown-key-typo", "unknown-key-top-level"] {
        let path = format!(
            "{}/tests/fixtures/policy/invalid/{fixture}/seatkeeper.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(path).unwrap();
        let err = seatkeeper::yaml::from_yaml::<RawPolicy>("seatkeeper.yaml", &text).unwrap_err();
        assert_eq!(err[0].code, "unknown-key", "{fixture}");
    }
}

/// Policy YAML files of a fixture folder, relative, `/`-separated.
pub fn yaml_files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                let rel = p.strip_prefix(root).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn multi_error_fixture_renders() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy/invalid/multi-error");
    let diags = seatkeeper::files::load_policy_dir(dir).unwrap_err();
    let mut out = Vec::new();
    render_diagnostics(&diags, &mut out).unwrap();
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

#[test]
fn valid_snapshots_parse() {
    let files = fixtures("snapshot/valid");
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        if let Err(d) = parse_snapshot(&name(&file), &text) {
            panic!("{} should parse:\n{d:#?}", name(&file));
        }
    }
}

#[test]
fn invalid_snapshots_fail_with_the_expected_diagnostics() {
    let dirs = fixtures("snapshot/invalid");
    assert!(dirs.len() >= 8);
    for dir in dirs {
        let text = std::fs::read_to_string(dir.join("snapshot.json")).unwrap();
        let diags = parse_snapshot("snapshot.json", &text).expect_err(&name(&dir));
        assert_eq!(
            actual(&diags),
            expected(&dir),
            "{}:\n{diags:#?}",
            name(&dir)
        );
        for d in &diags {
            assert!(seatkeeper::live::snapshot::CODES.contains(&d.code), "{d:?}");
        }
    }
}

mod no_panics {
    use super::*;
    use proptest::prelude::*;

    fn full() -> String {
        let p = format!(
            "{}/tests/fixtures/policy/valid/full/seatkeeper.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(p).unwrap()
    }

    /// What a load of mangled text must give: a policy, or at least one error, every
    /// diagnostic with a code, a message and a place in a file that was read (line 0 only for a
    /// whole-file problem), and a located error never pointing past the file's last line.
    fn well_formed(
        result: Result<policy::Loaded, Vec<Diagnostic>>,
        files: &[(&str, &str)],
    ) -> Result<(), TestCaseError> {
        let diagnostics = match result {
            Ok(loaded) => loaded.warnings,
            Err(diagnostics) => {
                prop_assert!(
                    diagnostics
                        .iter()
                        .any(|d| d.severity == policy::Severity::Error),
                    "a failed load names an error: {diagnostics:?}"
                );
                diagnostics
            }
        };
        for d in &diagnostics {
            prop_assert!(!d.code.is_empty() && !d.message.trim().is_empty(), "{d:?}");
            let Some((_, text)) = files.iter().find(|(name, _)| *name == &*d.location.file) else {
                return Err(TestCaseError::fail(format!(
                    "diagnostic in an unread file: {d:?}"
                )));
            };
            let lines = text.lines().count().max(1) as u32 + 1;
            prop_assert!(d.location.line <= lines, "line past the end: {d:?}");
        }
        Ok(())
    }

    fn load_one(text: &str) -> Result<(), TestCaseError> {
        well_formed(
            policy::load(&MemFiles::new().with("seatkeeper.yaml", text.to_string())),
            &[("seatkeeper.yaml", text)],
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)))]

        /// Cut, spliced and garbled policies give diagnostics, never a panic.
        #[test]
        fn mangled_policies(cut in 0usize..2000, at in 0usize..2000, junk in "[ -~\n\t:\\[\\]{}&*!|>'\"%@#é😀\u{feff}-]{0,12}") {
            let text = full();
            let cut = cut.min(text.len());
            let at = at.min(cut);
            let (a, b) = text.split_at(at);
            let mangled = format!("{}{junk}{}", a, &b[..cut - at]);
            let files = MemFiles::new()
                .with("seatkeeper.yaml", mangled.clone())
                .with("teams/platform.yaml", mangled.clone());
            well_formed(
                policy::load(&files),
                &[("seatkeeper.yaml", &mangled), ("teams/platform.yaml", &mangled)],
            )?;
        }

        /// Any text in any value position.
        #[test]
        fn odd_values(values in proptest::collection::vec("\\PC{0,12}", 16)) {
            let template = "version: @\nsite: @\norg: @\nproducts:\n  @:\n    groups: [@]\n    seats: @\n    inactivity: @\n    notice: @\n    grace: @\n    drift: @\nusers:\n  - email: @\n    until: @\n    requested: @\n    products: [@]\nsafety:\n  max_removals: @\n";
            let mut text = String::new();
            let mut values = values.iter();
            for part in template.split('@') {
                text.push_str(part);
                if let Some(v) = values.next() {
                    text.push_str(&format!("{v:?}"));
                }
            }
            load_one(&text.replace('"', ""))?;
            load_one(&text)?;
        }

        /// Any text as YAML.
        #[test]
        fn any_text(text in "\\PC{0,80}") {
            load_one(&text)?;
        }

        /// Text made of YAML's punctuation.
        #[test]
        fn yaml_punctuation(text in "[\\[\\]{}:,&*!|>'\"\n \t#?%@`a1-]{0,60}") {
            load_one(&text)?;
        }

        /// Any bytes as a snapshot.
        #[test]
        fn mangled_snapshots(text in "[ -~\n]{0,200}") {
            // Random text is never a valid snapshot: it must say why, located in the file.
            match parse_snapshot("s.json", &text) {
                Ok(state) => prop_assert!(false, "accepted {text:?} as {state:?}"),
                Err(diagnostics) => {
                    prop_assert!(!diagnostics.is_empty());
                    for d in &diagnostics {
                        prop_assert_eq!(&*d.location.file, "s.json");
                        prop_assert!(!d.message.trim().is_empty());
                    }
                }
            }
        }
    }
}

/// Mistakes too big (or too odd) to commit as fixture folders.
#[test]
fn generated_mistakes() {
    let codes = |dir: &Path| -> Vec<String> {
        actual(&seatkeeper::files::load_policy_dir(dir).expect_err("should fail"))
    };
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("seatkeeper.yaml");
    let huge = format!("# {}\n", "x".repeat(5 * 1024 * 1024));
    std::fs::write(&main, huge).unwrap();
    assert_eq!(codes(dir.path()), ["file-too-large seatkeeper.yaml:1"]);

    // A huge included file is refused too; the main file is still checked.
    std::fs::write(
        &main,
        "version: 1\nsite: a.b\nproducts: {confluence: {groups: [g]}}\ninclude: [t/*.yaml]\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("t")).unwrap();
    let users = "users:\n".to_string() + &"  - email: someone@acme.com\n".repeat(200_000);
    std::fs::write(dir.path().join("t/big.yaml"), users).unwrap();
    assert_eq!(codes(dir.path()), ["file-too-large t/big.yaml:1"]);

    let missing = dir.path().join("no-such-folder");
    assert_eq!(codes(&missing), ["missing-file seatkeeper.yaml:0"]);
}

/// Validation grows with the size of the policy, not its square: a long `groups:` list, a
/// mapping with many keys and many token-like strings (each once took minutes at this size).
/// The bound is generous (a debug build does each in well under a second per 10,000 entries);
/// only quadratic work misses it.
#[test]
fn validation_is_linear_in_long_lists_many_keys_and_many_secrets() {
    let n = 20_000;
    let head = "version: 1\nsite: a.atlassian.net\nproducts:\n  jira-software:\n";
    let long_list = format!(
        "{head}    groups: [{}]\n",
        (0..n)
            .map(|i| format!("g{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let many_keys = format!(
        "{head}    groups: [g]\nusers:\n  - email: a@b.com\n{}",
        (0..n).map(|i| format!("    k{i}: 1\n")).collect::<String>()
    );
    let many_secrets = format!(
        "{head}    groups: [g]\nusers:\n{}",
        (0..n)
            .map(|i| format!(
                "  - email: u{i}@b.com\n    note: ATATT3xFfGF0{i:020}abcdefghijklmnop\n"
            ))
            .collect::<String>()
    );
    for (what, text, expect_errors) in [
        ("a long groups list", long_list, false),
        ("a mapping with many keys", many_keys, true),
        ("many token-like strings", many_secrets, true),
    ] {
        let started = std::time::Instant::now();
        let result = policy::load(&MemFiles::new().with("seatkeeper.yaml", text));
        let took = started.elapsed();
        assert_eq!(result.is_err(), expect_errors, "{what}");
        if let Err(diags) = &result {
            let mut rendered = Vec::new();
            render_diagnostics(diags, &mut rendered).expect("rendered");
            let rendered = String::from_utf8_lossy(&rendered);
            assert!(
                !rendered.contains("ATATT3xFfGF0"),
                "{what}: a secret was printed"
            );
        }
        assert!(
            took < std::time::Duration::from_secs(30),
            "{what}: validation took {took:?}"
        );
    }
}
