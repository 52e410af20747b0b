//! The CI templates in `examples/ci/` are checked and run, not just shipped.
//!
//! 1. Every `seatkeeper ...` command in a `run:` (GitHub Actions) or `script:` (GitLab CI) step
//!    is extracted with a small shell lexer and parsed with the real CLI definition
//!    (`seatkeeper::cli::Cli`), so a renamed flag or subcommand fails here.
//! 2. The structure the README promises is checked: a `policy` matrix, the approval
//!    environment, the concurrency group / resource group, secrets only from CI secrets.
//! 3. Each job is then run as its CI system would run it, against the sandbox over real
//!    sockets: a bare `origin` repository holds `examples/acme` as `sites/acme` on `main` and a
//!    pull-request commit; every job clones it, the job's scripts run in bash with the
//!    environment the template sets (expressions and CI variables substituted), artifacts are
//!    passed between jobs like the CI system does, and the git commands that commit the audit
//!    log back run with the real `git` against `origin`. `seatkeeper` on `PATH` is the built
//!    binary behind a shim that records each call and its exit code and pins the clock (`--at`
//!    the snapshot's time, like the sandbox). That shim is not on `PATH`: the templates install
//!    it themselves, from a local copy of a seatkeeper release (the archive and its
//!    `SHA256SUMS`, served by the `curl` shim) or from the CI cache, which the runner keeps
//!    between jobs like GitHub's `actions/cache` and GitLab's `cache:`; `cargo install` (the
//!    fallback when a version has no release binary) "builds" the same shim. `gh` and the
//!    GitHub/GitLab API calls of `curl` only record the call: they are listed as skipped. Nothing
//!    reaches the network. Only the `sites/acme` leg of each matrix runs; the other legs run the
//!    same commands.
//! 4. Every job's requests to Atlassian are counted (the sandbox's request stats), and the
//!    test `template_jobs_from_a_cold_and_a_warm_cache` prints how long a job takes with an
//!    empty and with a filled cache.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::print_stderr, clippy::expect_used)]

use crate::support::copy_dir;
use clap::Parser;
use seatkeeper::cli::Cli;
use seatkeeper::live::LiveState;
use seatkeeper::sandbox::{self, OrgSource, RunningSandbox, SandboxConfig};
use serde_yaml::{Mapping, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const TOKEN: &str = "ci-token-3f9a1c0b";
const ADMIN_KEY: &str = "ci-admin-key-7d2e4b19";
const EMAIL: &str = "svc-seatkeeper@acme.com";
/// The matrix leg the test runs.
const LEG: &str = "sites/acme";

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ci_dir() -> PathBuf {
    manifest().join("examples/ci")
}

fn load_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn github_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(ci_dir().join("github"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

fn release_workflow() -> PathBuf {
    manifest().join(".github/workflows/release.yml")
}

fn gitlab_file() -> PathBuf {
    ci_dir().join("gitlab/.gitlab-ci.yml")
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn map(v: &Value) -> Mapping {
    v.as_mapping().cloned().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// A small shell lexer: enough for the templates (quotes, $VAR, ${VAR...}, $((..)), $(, operators,
// redirections, comments, line continuations).

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Op(String),
}

fn lex(script: &str, var: &dyn Fn(&str) -> String) -> Vec<Tok> {
    let text = script.replace("\\\n", " ");
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut i = 0;
    let flush = |word: &mut String, in_word: &mut bool, toks: &mut Vec<Tok>| {
        if *in_word {
            toks.push(Tok::Word(std::mem::take(word)));
            *in_word = false;
        }
    };
    let expand = |chars: &[char], i: &mut usize, out: &mut String| {
        // chars[*i] == '$'
        let next = chars.get(*i + 1).copied();
        match next {
            Some('{') => {
                let start = *i + 2;
                let mut j = start;
                let mut depth = 1;
                while j < chars.len() && depth > 0 {
                    match chars[j] {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    j += 1;
                }
                let inner: String = chars[start..j - 1].iter().collect();
                let name: String = inner
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                out.push_str(&var(&name));
                *i = j;
            }
            Some('(') if chars.get(*i + 2) == Some(&'(') => {
                let mut j = *i + 3;
                while j + 1 < chars.len() && !(chars[j] == ')' && chars[j + 1] == ')') {
                    j += 1;
                }
                out.push('0');
                *i = j + 2;
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let mut j = *i + 1;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let name: String = chars[*i + 1..j].iter().collect();
                out.push_str(&var(&name));
                *i = j;
            }
            Some('?') => {
                out.push('0');
                *i += 2;
            }
            _ => {
                out.push('$');
                *i += 1;
            }
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                flush(&mut word, &mut in_word, &mut toks);
                toks.push(Tok::Op("\n".into()));
                i += 1;
            }
            ' ' | '\t' => {
                flush(&mut word, &mut in_word, &mut toks);
                i += 1;
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ';' | '&' | '|' | '(' | ')' | '<' | '>' => {
                if c == '>' && in_word && word.chars().all(|d| d.is_ascii_digit()) {
                    // `2>`: the digits belong to the redirection.
                    word.clear();
                    in_word = false;
                }
                flush(&mut word, &mut in_word, &mut toks);
                let mut op = c.to_string();
                if let Some(&d) = chars.get(i + 1) {
                    if (d == c && c != '(' && c != ')') || (c == '>' && d == '&') {
                        op.push(d);
                    }
                }
                i += op.len();
                toks.push(Tok::Op(op));
            }
            '$' if chars.get(i + 1) == Some(&'(') && chars.get(i + 2) != Some(&'(') => {
                flush(&mut word, &mut in_word, &mut toks);
                toks.push(Tok::Op("$(".into()));
                i += 2;
            }
            '$' => {
                in_word = true;
                expand(&chars, &mut i, &mut word);
            }
            '\'' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    word.push(chars[i]);
                    i += 1;
                }
                i += 1;
            }
            '"' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    match chars[i] {
                        '\\' if matches!(chars.get(i + 1), Some('"' | '\\' | '$' | '`')) => {
                            word.push(chars[i + 1]);
                            i += 2;
                        }
                        '$' => expand(&chars, &mut i, &mut word),
                        ch => {
                            word.push(ch);
                            i += 1;
                        }
                    }
                }
                i += 1;
            }
            '\\' => {
                in_word = true;
                if let Some(&d) = chars.get(i + 1) {
                    word.push(d);
                }
                i += 2;
            }
            _ => {
                in_word = true;
                word.push(c);
                i += 1;
            }
        }
    }
    flush(&mut word, &mut in_word, &mut toks);
    toks
}

/// Every simple command (its words) whose first word is `program`.
fn commands_of(script: &str, program: &str, var: &dyn Fn(&str) -> String) -> Vec<Vec<String>> {
    const KEYWORDS: [&str; 10] = [
        "if", "then", "do", "else", "elif", "while", "until", "!", "{", "time",
    ];
    let toks = lex(script, var);
    let mut out = Vec::new();
    let mut at_start = true;
    let mut current: Option<Vec<String>> = None;
    let mut skip_next = false;
    for tok in toks {
        match tok {
            Tok::Op(op) => {
                if matches!(op.as_str(), ">" | ">>" | "<" | ">&") {
                    skip_next = true;
                    continue;
                }
                if let Some(cmd) = current.take() {
                    out.push(cmd);
                }
                at_start = true;
            }
            Tok::Word(w) => {
                if skip_next {
                    skip_next = false;
                    continue;
                }
                if let Some(cmd) = current.as_mut() {
                    cmd.push(w);
                } else if at_start {
                    if KEYWORDS.contains(&w.as_str()) {
                        continue;
                    }
                    at_start = false;
                    if w == program {
                        current = Some(vec![w]);
                    }
                }
            }
        }
    }
    if let Some(cmd) = current.take() {
        out.push(cmd);
    }
    out
}

/// Whether the emulated CI runs are switched off (`SEATKEEPER_SKIP_CI_EMULATION=1`): `.ci/run`
/// runs them in a step of their own, after the fast tests.
fn emulation_skipped() -> bool {
    let skip = std::env::var("SEATKEEPER_SKIP_CI_EMULATION").as_deref() == Ok("1");
    if skip {
        eprintln!("SEATKEEPER_SKIP_CI_EMULATION=1: skipping an emulated CI run");
    }
    skip
}

#[test]
fn the_lexer_finds_commands_and_expands_variables() {
    let vars = |n: &str| match n {
        "POLICY" => "sites/acme".to_string(),
        other => format!("<{other}>"),
    };
    let script = "rc=0\nseatkeeper plan --policy \"$POLICY\" --out \"$OUT/p.json\" > \"$OUT/p.md\" || rc=$?\n\
                  echo \"run \\`seatkeeper plan\\` again\" # seatkeeper comment\n\
                  x=$(seatkeeper validate --policy ${POLICY//\\//-}) ; case \"$rc\" in 0|2) ;; esac\n\
                  git -c a=b \\\n  commit -m 'seatkeeper: $POLICY'";
    let cmds = commands_of(script, "seatkeeper", &vars);
    assert_eq!(
        cmds,
        vec![
            vec![
                "seatkeeper",
                "plan",
                "--policy",
                "sites/acme",
                "--out",
                "<OUT>/p.json"
            ],
            vec!["seatkeeper", "validate", "--policy", "sites/acme"],
        ]
    );
    let git = commands_of(script, "git", &vars);
    assert_eq!(
        git,
        vec![vec![
            "git",
            "-c",
            "a=b",
            "commit",
            "-m",
            "seatkeeper: $POLICY"
        ]]
    );
}

// ---------------------------------------------------------------------------------------------
// Templates as jobs: the scripts, the environment and the structure.

/// One CI job as the test sees it.
#[derive(Debug, Clone)]
struct Job {
    file: String,
    name: String,
    /// Scripts in order (GitHub: one per `run:` step; GitLab: one per `script:` entry).
    scripts: Vec<String>,
    /// The environment the template sets, with expressions/variables as written.
    env: BTreeMap<String, String>,
    /// The matrix's `policy`/`POLICY` values.
    matrix: Vec<String>,
}

fn github_jobs(path: &Path) -> Vec<(Job, Value)> {
    let wf = load_yaml(path);
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in map(&wf["env"]) {
        env.insert(s(&k).into(), s(&v).into());
    }
    let mut jobs = Vec::new();
    for (name, job) in map(&wf["jobs"]) {
        let mut job_env = env.clone();
        for (k, v) in map(&job["env"]) {
            job_env.insert(s(&k).into(), s(&v).into());
        }
        let mut scripts = Vec::new();
        // A job that calls a reusable workflow (`uses:`) has no steps of its own.
        for step in job["steps"].as_sequence().into_iter().flatten() {
            if let Some(run) = step["run"].as_str() {
                scripts.push(run.to_string());
            }
            for (k, v) in map(&step["env"]) {
                job_env.insert(s(&k).into(), s(&v).into());
            }
        }
        let matrix = match &job["strategy"]["matrix"]["policy"] {
            Value::Sequence(m) => m.iter().map(|v| s(v).to_string()).collect(),
            Value::String(e) if e == MATRIX_FROM_SETUP => github_policies(),
            Value::String(e) => panic!(
                "{}: the test does not know the matrix `{e}`",
                path.display()
            ),
            _ => Vec::new(),
        };
        jobs.push((
            Job {
                file: path.file_name().unwrap().to_string_lossy().into(),
                name: s(&name).into(),
                scripts,
                env: job_env,
                matrix,
            },
            job,
        ));
    }
    jobs
}

/// The reusable workflow every GitHub workflow calls first: the policy folders, the version and
/// the cached binary.
const SETUP_WORKFLOW: &str = "seatkeeper-setup.yml";
/// How a GitHub job's matrix reads the policy folders from the setup job.
const MATRIX_FROM_SETUP: &str = "${{ fromJSON(needs.setup.outputs.policies) }}";

/// The policy folders of the GitHub workflows: the one list, in the setup workflow.
fn github_policies() -> Vec<String> {
    let setup = load_yaml(&ci_dir().join("github").join(SETUP_WORKFLOW));
    let list = s(&setup["env"]["SEATKEEPER_POLICIES"]);
    serde_json::from_str(list).unwrap_or_else(|e| panic!("SEATKEEPER_POLICIES `{list}`: {e}"))
}

/// A scalar of a template as the CI system reads it (`true` and `3` are strings there too).
fn scalar(v: &Value) -> String {
    match v {
        Value::String(text) => text.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// GitLab's `extends`: hashes merge deeply, everything else is replaced.
fn deep_merge(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let merged = match b.get(k) {
                    Some(bv) => deep_merge(bv, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Mapping(out)
        }
        _ => over.clone(),
    }
}

fn gitlab_resolve(doc: &Value, name: &str) -> Value {
    let job = &doc[name];
    let mut resolved = Value::Mapping(Mapping::new());
    let parents: Vec<String> = match &job["extends"] {
        Value::String(p) => vec![p.clone()],
        Value::Sequence(ps) => ps.iter().map(|p| s(p).to_string()).collect(),
        _ => Vec::new(),
    };
    for parent in parents {
        resolved = deep_merge(&resolved, &gitlab_resolve(doc, &parent));
    }
    let mut own = job.clone();
    if let Some(m) = own.as_mapping_mut() {
        m.remove("extends");
    }
    deep_merge(&resolved, &own)
}

fn script_entries(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|seq| seq.iter().map(|e| s(e).to_string()).collect())
        .unwrap_or_default()
}

fn gitlab_jobs() -> Vec<(Job, Value)> {
    let doc = load_yaml(&gitlab_file());
    let mut globals: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in map(&doc["variables"]) {
        globals.insert(s(&k).into(), s(&v).into());
    }
    let mut jobs = Vec::new();
    for (name, _) in map(&doc) {
        let name = s(&name).to_string();
        if name.starts_with('.')
            || ["stages", "variables", "default", "include"].contains(&name.as_str())
        {
            continue;
        }
        let job = gitlab_resolve(&doc, &name);
        let mut env = globals.clone();
        for (k, v) in map(&job["variables"]) {
            env.insert(s(&k).into(), s(&v).into());
        }
        let mut scripts = script_entries(&job["before_script"]);
        scripts.extend(script_entries(&job["script"]));
        let matrix = job["parallel"]["matrix"][0]["POLICY"]
            .as_sequence()
            .map(|m| m.iter().map(|v| s(v).to_string()).collect())
            .unwrap_or_default();
        jobs.push((
            Job {
                file: ".gitlab-ci.yml".into(),
                name,
                scripts,
                env,
                matrix,
            },
            job,
        ));
    }
    jobs
}

/// A variable lookup for static checks: the job's environment, then placeholders.
fn static_vars(job: &Job) -> impl Fn(&str) -> String + '_ {
    move |name: &str| match name {
        "POLICY" => LEG.to_string(),
        "RUNNER_TEMP" => "/tmp/runner".to_string(),
        "LIVE" => "/tmp/live.json".to_string(),
        "OUT" => format!(".seatkeeper/{LEG}"),
        _ => match job.env.get(name) {
            Some(v) if !v.contains("${{") && !v.contains('$') => v.clone(),
            _ => format!("{name}-value"),
        },
    }
}

/// Every `seatkeeper` command of a job, in order.
fn seatkeeper_commands(job: &Job) -> Vec<Vec<String>> {
    let vars = static_vars(job);
    job.scripts
        .iter()
        .flat_map(|script| commands_of(script, "seatkeeper", &vars))
        .collect()
}

fn subcommand(args: &[String]) -> String {
    match args.get(1).map(String::as_str) {
        Some("audit") => format!("audit {}", args.get(2).cloned().unwrap_or_default()),
        Some(sub) => sub.to_string(),
        None => String::new(),
    }
}

/// Parses a command with the real CLI; `seatkeeper --version` (the install check) is fine too.
fn parse(args: &[String]) -> Result<(), clap::Error> {
    match Cli::try_parse_from(args) {
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayVersion => Ok(()),
        other => other.map(drop),
    }
}

fn all_jobs() -> Vec<(Job, Value)> {
    let mut jobs: Vec<(Job, Value)> = github_files().iter().flat_map(|f| github_jobs(f)).collect();
    jobs.extend(gitlab_jobs());
    jobs
}

#[test]
fn every_seatkeeper_command_in_the_templates_parses_with_the_real_cli() {
    let mut seen = std::collections::BTreeSet::new();
    let mut count = 0;
    for (job, _) in all_jobs() {
        for args in seatkeeper_commands(&job) {
            count += 1;
            if let Err(e) = parse(&args) {
                panic!(
                    "{} job `{}`: `{}` does not parse:\n{e}",
                    job.file,
                    job.name,
                    args.join(" ")
                );
            }
            seen.insert(subcommand(&args));
        }
    }
    assert!(count >= 20, "only {count} seatkeeper commands found");
    for sub in [
        "validate",
        "export",
        "test",
        "diff",
        "plan",
        "apply",
        "audit verify",
    ] {
        assert!(
            seen.contains(sub),
            "no template runs `seatkeeper {sub}`: {seen:?}"
        );
    }
}

#[test]
fn the_templates_have_a_policy_matrix_approval_concurrency_and_secrets_only_from_ci() {
    let mut applies = 0;
    for file in github_files() {
        let wf = load_yaml(&file);
        assert_eq!(
            s(&wf["defaults"]["run"]["shell"]),
            "bash",
            "{}",
            file.display()
        );
        for (job, raw) in github_jobs(&file) {
            let uses_seatkeeper = !seatkeeper_commands(&job).is_empty();
            if uses_seatkeeper {
                assert!(
                    job.matrix.contains(&LEG.to_string()) && job.matrix.len() > 1,
                    "{} {}: a matrix over policy folders",
                    job.file,
                    job.name
                );
                assert_eq!(job.env["POLICY"], "${{ matrix.policy }}");
                for secret in [
                    "ATLASSIAN_EMAIL",
                    "ATLASSIAN_API_TOKEN",
                    "ATLASSIAN_ADMIN_API_KEY",
                ] {
                    assert_eq!(
                        job.env[secret],
                        format!("${{{{ secrets.{secret} }}}}"),
                        "{} {}: credentials only from CI secrets",
                        job.file,
                        job.name
                    );
                }
            }
            let applies_here = seatkeeper_commands(&job).iter().any(|a| a[1] == "apply");
            if applies_here {
                applies += 1;
                assert_eq!(s(&raw["environment"]), "atlassian-production");
                assert_eq!(
                    s(&raw["concurrency"]["group"]),
                    "seatkeeper-apply-${{ matrix.policy }}"
                );
                assert_eq!(raw["concurrency"]["cancel-in-progress"], Value::Bool(false));
                assert_eq!(s(&raw["permissions"]["contents"]), "write");
            }
            // Expressions never go straight into scripts (script injection): only via env.
            for script in &job.scripts {
                assert!(
                    !script.contains("${{"),
                    "{} {}: {script}",
                    job.file,
                    job.name
                );
            }
        }
    }
    assert_eq!(applies, 2, "main and drift workflows each apply");

    let mut gl_applies = 0;
    for (job, raw) in gitlab_jobs() {
        assert!(job.matrix.contains(&LEG.to_string()) && job.matrix.len() > 1);
        if seatkeeper_commands(&job).iter().any(|a| a[1] == "apply") {
            gl_applies += 1;
            assert_eq!(s(&raw["environment"]["name"]), "atlassian-production");
            assert_eq!(s(&raw["resource_group"]), "seatkeeper-apply-$POLICY");
            for rule in raw["rules"].as_sequence().unwrap() {
                assert_eq!(s(&rule["when"]), "manual", "{}: {rule:?}", job.name);
            }
        }
    }
    assert_eq!(gl_applies, 2);
    let text = std::fs::read_to_string(gitlab_file()).unwrap();
    assert!(
        !text.contains("ATLASSIAN_API_TOKEN:"),
        "no credentials in the GitLab file"
    );
}

/// The step of a GitHub job that `uses:` this action (any version).
fn uses_step<'a>(job: &'a Value, action: &str) -> Option<&'a Value> {
    job["steps"]
        .as_sequence()?
        .iter()
        .find(|step| s(&step["uses"]).split('@').next() == Some(action))
}

#[test]
fn the_policy_folders_and_the_version_are_written_once_and_no_job_builds_seatkeeper() {
    let version = env!("CARGO_PKG_VERSION");
    // GitHub: the list of policy folders and the version are in the setup workflow, only.
    for file in github_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let once = file.file_name().unwrap() == SETUP_WORKFLOW;
        for needle in ["sites/acme-eu", "SEATKEEPER_VERSION:", "SEATKEEPER_REPO:"] {
            assert_eq!(
                text.matches(needle).count(),
                usize::from(once),
                "{}: `{needle}`",
                file.display()
            );
        }
    }
    let setup = load_yaml(&ci_dir().join("github").join(SETUP_WORKFLOW));
    assert_eq!(
        scalar(&setup["env"]["SEATKEEPER_VERSION"]),
        version,
        "the templates pin the version this repository releases"
    );
    assert_eq!(github_policies(), [LEG, "sites/acme-eu"]);
    let setup_job = &setup["jobs"]["setup"];
    let cache = uses_step(setup_job, "actions/cache").expect("the setup job fills the cache");
    let cache_path = s(&cache["with"]["path"]);
    assert_eq!(cache["with"]["lookup-only"], Value::Bool(true));
    let key_step = setup_job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|step| s(&step["id"]) == "key")
        .unwrap();
    assert!(
        s(&key_step["run"]).contains("key=seatkeeper-$SEATKEEPER_VERSION-"),
        "the cache key holds the version"
    );
    let install = setup_job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|step| s(&step["run"]).contains("releases/download"))
        .expect("an install step");
    assert_eq!(
        s(&install["if"]),
        format!("steps.{}.outputs.cache-hit != 'true'", s(&cache["id"])),
        "the install runs on a cache miss only"
    );
    let script = s(&install["run"]);
    let (download, build) = script.split_once("else").unwrap();
    assert!(download.contains("SHA256SUMS") && download.contains("sha256sum --check --strict"));
    assert!(build.contains("cargo install") && build.contains("--locked"));

    // Every job that runs seatkeeper takes its matrix and its binary from the setup job.
    for file in github_files() {
        if file.file_name().unwrap() == SETUP_WORKFLOW {
            continue;
        }
        let wf = load_yaml(&file);
        assert_eq!(
            s(&wf["jobs"]["setup"]["uses"]),
            format!("./.github/workflows/{SETUP_WORKFLOW}"),
            "{}",
            file.display()
        );
        for (job, raw) in github_jobs(&file) {
            let where_ = format!("{} {}", job.file, job.name);
            for script in &job.scripts {
                assert!(!script.contains("cargo install"), "{where_}: {script}");
            }
            if seatkeeper_commands(&job).is_empty() {
                continue;
            }
            let needs: Vec<String> = match &raw["needs"] {
                Value::String(n) => vec![n.clone()],
                other => other
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .map(|n| s(n).to_string())
                    .collect(),
            };
            assert!(needs.contains(&"setup".to_string()), "{where_}: {needs:?}");
            assert_eq!(
                s(&raw["strategy"]["matrix"]["policy"]),
                MATRIX_FROM_SETUP,
                "{where_}"
            );
            let restore = uses_step(&raw, "actions/cache/restore")
                .unwrap_or_else(|| panic!("{where_}: seatkeeper from the cache"));
            assert_eq!(s(&restore["with"]["path"]), cache_path, "{where_}");
            assert_eq!(
                s(&restore["with"]["key"]),
                "${{ needs.setup.outputs.cache-key }}",
                "{where_}"
            );
        }
    }

    // GitLab: the list and the version once; every job installs through `.seatkeeper`.
    let text = std::fs::read_to_string(gitlab_file()).unwrap();
    for needle in ["sites/acme-eu", "SEATKEEPER_VERSION:", "cargo install"] {
        assert_eq!(text.matches(needle).count(), 1, "{needle}");
    }
    let doc = load_yaml(&gitlab_file());
    assert_eq!(scalar(&doc["variables"]["SEATKEEPER_VERSION"]), version);
    for (job, raw) in gitlab_jobs() {
        let key = s(&raw["cache"]["key"]);
        assert!(key.contains("$SEATKEEPER_VERSION"), "{}: {key}", job.name);
        let install = &job.scripts[0];
        let (download, build) = install.split_once("elif").unwrap();
        assert!(
            download.contains("sha256sum --check --strict"),
            "{}",
            job.name
        );
        assert!(build.contains("cargo install"), "{}", job.name);
    }
}

// ---------------------------------------------------------------------------------------------
// The project's own release workflow and image.

fn step_named<'a>(job: &'a Value, name: &str) -> &'a Value {
    job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|step| s(&step["name"]) == name)
        .unwrap_or_else(|| panic!("no step `{name}`"))
}

#[test]
fn the_release_workflow_builds_every_platform_with_checksums_on_version_tags() {
    let wf = load_yaml(&release_workflow());
    // Version tags only: no branch, no pull request.
    let on = map(&wf["on"]);
    assert_eq!(on.len(), 1, "{on:?}");
    let tags: Vec<&str> = wf["on"]["push"]["tags"]
        .as_sequence()
        .expect("on: push: tags")
        .iter()
        .map(s)
        .collect();
    assert_eq!(tags, ["v[0-9]+.[0-9]+.[0-9]+*"]);
    assert!(wf["on"]["push"]["branches"].is_null());
    // A tag that does not name Cargo.toml's version fails before anything is built.
    let check = s(&step_named(&wf["jobs"]["version"], "Compare the tag with Cargo.toml")["run"]);
    assert!(check.contains(r#"[ "$TAG" != "v$version" ]"#), "{check}");
    let build = &wf["jobs"]["build"];
    assert_eq!(s(&build["needs"]), "version");

    // The platforms.
    let include = build["strategy"]["matrix"]["include"]
        .as_sequence()
        .unwrap();
    let legs: Vec<(String, String)> = include
        .iter()
        .map(|leg| (s(&leg["target"]).to_string(), s(&leg["os"]).to_string()))
        .collect();
    for (prefix, os) in [
        ("x86_64-unknown-linux-", "ubuntu-"),
        ("aarch64-unknown-linux-", "ubuntu-"),
        ("x86_64-apple-darwin", "macos-"),
        ("aarch64-apple-darwin", "macos-"),
        ("x86_64-pc-windows-", "windows-"),
    ] {
        let (target, runner) = legs
            .iter()
            .find(|(t, _)| t.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}* build: {legs:?}"));
        assert!(runner.starts_with(os), "{target} on {runner}");
        if prefix.contains("linux") {
            assert!(
                target.ends_with("-musl") || target.ends_with("-gnu"),
                "{target}"
            );
        }
    }
    assert_eq!(s(&build["env"]["TARGET"]), "${{ matrix.target }}");
    let cargo = s(&step_named(build, "Build")["run"]);
    assert!(
        cargo.contains(r#"cargo build --locked --profile dist --target "$TARGET""#),
        "{cargo}"
    );
    let manifest_text = std::fs::read_to_string(manifest().join("Cargo.toml")).unwrap();
    let dist = manifest_text
        .split("[profile.dist]")
        .nth(1)
        .expect("Cargo.toml: [profile.dist]");
    assert!(dist.contains("inherits = \"release\"") && dist.contains("strip = true"));

    // Checksums: taken next to each archive, checked again and gathered before publishing.
    let package = s(&step_named(build, "Package")["run"]);
    assert!(
        package.contains("sha256sum") && package.contains(".sha256"),
        "{package}"
    );
    let upload = uses_step(build, "actions/upload-artifact").unwrap();
    assert_eq!(s(&upload["with"]["path"]), "dist/");
    let release = &wf["jobs"]["release"];
    let needs: Vec<&str> = release["needs"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    assert!(needs.contains(&"build"), "{needs:?}");
    let sums = s(&step_named(release, "Checksums")["run"]);
    assert!(sums.contains("sha256sum --check --strict") && sums.contains("> SHA256SUMS"));
    let publish = s(&step_named(release, "Publish")["run"]);
    assert!(
        publish.contains(r#"gh release create "$TAG" --verify-tag"#) && publish.contains("dist/*"),
        "{publish}"
    );
    // Write access for the publishing job only.
    assert_eq!(s(&wf["permissions"]["contents"]), "read");
    assert_eq!(s(&release["permissions"]["contents"]), "write");
    for (name, job) in map(&wf["jobs"]) {
        if s(&name) != "release" {
            assert!(job["permissions"].is_null(), "{}", s(&name));
        }
    }
    // Expressions reach scripts through env only.
    for (_, job) in map(&wf["jobs"]) {
        for step in job["steps"].as_sequence().unwrap() {
            assert!(!s(&step["run"]).contains("${{"), "{step:?}");
        }
    }
}

/// The Dockerfile's instructions per stage: (INSTRUCTION, arguments), continuations joined.
fn dockerfile_stages() -> Vec<Vec<(String, String)>> {
    let text = std::fs::read_to_string(manifest().join("Dockerfile")).unwrap();
    let mut stages: Vec<Vec<(String, String)>> = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let full = std::mem::take(&mut current);
        let (instruction, args) = full.split_once(' ').unwrap_or((&full, ""));
        let instruction = instruction.to_uppercase();
        if instruction == "FROM" {
            stages.push(Vec::new());
        }
        stages
            .last_mut()
            .expect("FROM first")
            .push((instruction, args.trim().to_string()));
    }
    stages
}

#[test]
fn the_dockerfile_builds_a_small_non_root_image_in_two_stages() {
    let stages = dockerfile_stages();
    assert_eq!(stages.len(), 2, "a build stage and a run stage");
    let arg = |stage: &[(String, String)], instruction: &str| -> Vec<String> {
        stage
            .iter()
            .filter(|(i, _)| i == instruction)
            .map(|(_, a)| a.clone())
            .collect()
    };
    let (build, run) = (&stages[0], &stages[1]);
    let from = &arg(build, "FROM")[0];
    assert!(
        from.starts_with("rust:") && from.ends_with(" AS build"),
        "{from}"
    );
    let cargo = arg(build, "RUN").join("\n");
    assert!(
        cargo.contains("cargo build --locked --profile dist"),
        "{cargo}"
    );
    let base = &arg(run, "FROM")[0];
    assert!(
        base.starts_with("gcr.io/distroless/static") || base.contains("-slim"),
        "a small base: {base}"
    );
    // The run stage holds the binary the build stage made, and nothing else of it.
    let copies = arg(run, "COPY");
    assert_eq!(copies.len(), 1, "{copies:?}");
    let (source, _) = copies[0]
        .strip_prefix("--from=build ")
        .expect("COPY --from=build")
        .split_once(' ')
        .unwrap();
    assert!(
        cargo.contains(source),
        "{source} is where the build put seatkeeper"
    );
    // Not root.
    let user = arg(run, "USER");
    assert_eq!(user.len(), 1, "{user:?}");
    let uid = user[0].split(':').next().unwrap();
    assert!(uid != "root" && uid != "0", "{user:?}");
    let entrypoint = arg(run, "ENTRYPOINT");
    assert_eq!(entrypoint, [r#"["seatkeeper"]"#]);

    // The build context keeps what the build reads: the files the binary includes.
    let ignore = std::fs::read_to_string(manifest().join(".dockerignore")).unwrap();
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_start_matches('/'))
        .collect();
    for needed in ["target", ".git"] {
        assert!(
            patterns.contains(&needed),
            "{needed} stays out of the build context"
        );
    }
    let mut read = vec![
        "Cargo.toml".to_string(),
        "Cargo.lock".into(),
        "src/main.rs".into(),
        "benches/plan.rs".into(),
    ];
    let mut folders = vec![manifest().join("src")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for piece in text.split("include_str!(\"").skip(1) {
                let relative = piece.split('"').next().unwrap();
                let mut full = path.parent().unwrap().to_path_buf();
                for part in Path::new(relative).components() {
                    match part {
                        std::path::Component::ParentDir => {
                            full.pop();
                        }
                        other => full.push(other),
                    }
                }
                let inside = full.strip_prefix(manifest()).unwrap();
                read.push(inside.to_string_lossy().into_owned());
            }
        }
    }
    assert!(
        read.iter().any(|r| r.starts_with("tests/openapi/")),
        "{read:?}"
    );
    for file in &read {
        assert!(manifest().join(file).exists(), "{file}");
        for pattern in &patterns {
            assert!(
                !(file == pattern || file.starts_with(&format!("{pattern}/"))),
                ".dockerignore `{pattern}` leaves {file} out of the build"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running the jobs against the sandbox.

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write_executable(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The "release binary": the built seatkeeper behind a shim that records the call and pins the
/// clock of planning commands (not of `plan --from`, which plans nothing).
const SEATKEEPER_SHIM: &str = r#"#!/bin/bash
args=("$@")
case "$1" in
  plan|test|diff|export) [[ " $* " == *" --from "* ]] || args+=(--at "$SK_TEST_AT") ;;
esac
"$SK_TEST_REAL" "${args[@]}"
rc=$?
( IFS=$'\x1f'; printf 'seatkeeper\t%s\t%s\n' "$rc" "$*" ) >> "$SK_TEST_LOG"
if [ "$1" = apply ] && [ -n "$SK_TEST_AFTER_APPLY" ]; then bash "$SK_TEST_AFTER_APPLY"; fi
exit $rc
"#;

const SKIP_SHIM: &str = r#"#!/bin/bash
( IFS=$'\x1f'; printf '%s\tskipped\t%s\n' "$(basename "$0")" "$*" ) >> "$SK_TEST_LOG"
exit 0
"#;

/// `curl`: release downloads come from the local release folder (404 when a file is not there,
/// as `curl -f` reports it); every other call (the GitHub and GitLab APIs) is only recorded.
const CURL_SHIM: &str = r#"#!/bin/bash
all=("$@")
out="" url=""
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out="$2"; shift ;;
    http://* | https://*) url="$1" ;;
  esac
  shift
done
record() { ( IFS=$'\x1f'; printf 'curl\t%s\t%s\n' "$1" "${all[*]}" ) >> "$SK_TEST_LOG"; }
case "$url" in
  */releases/download/*)
    file="$SK_TEST_RELEASES/${url#*/releases/download/}"
    if [ -f "$file" ]; then
      if [ -n "$out" ]; then cp "$file" "$out"; else cat "$file"; fi
      record served
      exit 0
    fi
    record missing
    echo "curl: (22) The requested URL returned error: 404" >&2
    exit 22 ;;
esac
record skipped
echo '[]'
"#;

/// `cargo install --root DIR`: the "build" puts the test's seatkeeper in DIR/bin at once.
const CARGO_SHIM: &str = r#"#!/bin/bash
all=("$@")
root=""
while [ $# -gt 0 ]; do
  case "$1" in --root) root="$2"; shift ;; esac
  shift
done
if [ "${all[0]}" = install ] && [ -n "$root" ]; then
  mkdir -p "$root/bin" && cp "$SK_TEST_BUILT" "$root/bin/seatkeeper"
  result=emulated
else
  result=skipped
fi
( IFS=$'\x1f'; printf 'cargo\t%s\t%s\n' "$result" "${all[*]}" ) >> "$SK_TEST_LOG"
"#;

/// One recorded call of a shimmed program.
#[derive(Debug, Clone)]
struct Call {
    program: String,
    /// The exit code, or `skipped`.
    result: String,
    args: Vec<String>,
}

impl Call {
    fn code(&self) -> i32 {
        self.result.parse().unwrap_or(-1)
    }
    fn line(&self) -> String {
        format!("{} {}", self.program, self.args.join(" "))
    }
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    sandbox: Option<RunningSandbox>,
    base: String,
    root: tempfile::TempDir,
    at: String,
    /// Artifacts by name (GitHub) or by job (GitLab).
    artifacts: HashMap<String, PathBuf>,
    runs: usize,
    skipped: Vec<String>,
    /// A script the shim runs after `seatkeeper apply` (someone pushes to main meanwhile).
    after_apply: Option<PathBuf>,
    /// Outputs of the jobs run so far, per workflow file: `needs.JOB.outputs.NAME` (GitHub).
    outputs: HashMap<String, HashMap<String, String>>,
}

/// How a job ended.
#[derive(Debug)]
struct JobResult {
    /// `None` when every step passed; else the failing step and its exit code.
    failed: Option<(String, i32)>,
    output: String,
    calls: Vec<Call>,
    workspace: PathBuf,
    /// Each step's wall time (GitHub: one per step; GitLab: cache restore, script, cache save).
    steps: Vec<(String, Duration)>,
    /// The whole job's wall time, checkout and artifacts included.
    elapsed: Duration,
    /// Requests the job made to Atlassian (the sandbox's request counter).
    requests: u64,
    /// Whether the CI cache held seatkeeper when the job started (`None`: no cache step).
    cache_hit: Option<bool>,
}

impl JobResult {
    fn seatkeeper(&self, sub: &str) -> Vec<&Call> {
        self.calls
            .iter()
            .filter(|c| {
                c.program == "seatkeeper" && c.args.first().map(String::as_str) == Some(sub)
            })
            .collect()
    }
    /// The calls of `program` with this result (`served`, `skipped`, an exit code...).
    fn calls_of(&self, program: &str, result: &str) -> Vec<&Call> {
        self.calls
            .iter()
            .filter(|c| c.program == program && c.result == result)
            .collect()
    }
    fn step_time(&self, label: &str) -> Option<Duration> {
        self.steps.iter().find(|(l, _)| l == label).map(|(_, d)| *d)
    }
    fn assert_ok(&self, what: &str) {
        assert!(
            self.failed.is_none(),
            "{what} failed: {:?}\n{}",
            self.failed,
            self.output
        );
    }
}

impl Harness {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let state: LiveState =
            seatkeeper::files::load_snapshot(&manifest().join("examples/acme/snapshot.json"))
                .unwrap();
        let at = state
            .taken_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut config = SandboxConfig {
            now: Some(state.taken_at),
            ..SandboxConfig::default()
        };
        config.credentials.email = EMAIL.into();
        config.credentials.api_token = TOKEN.into();
        config.credentials.admin_api_key = ADMIN_KEY.into();
        let org = sandbox::load_org(&OrgSource::Snapshot(Box::new(state)), &config).unwrap();
        let sandbox = runtime.block_on(sandbox::serve(config, org)).unwrap();
        let base = sandbox.base_url();
        let root = tempfile::tempdir().unwrap();
        // On PATH: the programs that would reach the network. seatkeeper is not: the templates
        // install it (tools/ holds it for the harness's own checks).
        let shims = root.path().join("shims");
        for (name, body) in [
            ("gh", SKIP_SHIM),
            ("curl", CURL_SHIM),
            ("cargo", CARGO_SHIM),
            ("apt-get", SKIP_SHIM),
        ] {
            write_executable(&shims.join(name), body);
        }
        write_executable(&root.path().join("tools/seatkeeper"), SEATKEEPER_SHIM);
        let harness = Self {
            runtime,
            sandbox: Some(sandbox),
            base,
            root,
            at,
            artifacts: HashMap::new(),
            runs: 0,
            skipped: Vec::new(),
            after_apply: None,
            outputs: HashMap::new(),
        };
        harness.seed_origin();
        harness.publish_release();
        harness
    }

    /// The seatkeeper the harness runs itself, and the one the release archive holds.
    fn tool(&self) -> PathBuf {
        self.root.path().join("tools/seatkeeper")
    }

    /// Where the local copy of the releases lives: `v{version}/{asset}`, as under
    /// `https://github.com/OWNER/seatkeeper/releases/download/`.
    fn releases(&self) -> PathBuf {
        self.root.path().join("releases")
    }

    /// The release asset of this machine's architecture, as the install scripts name it.
    fn asset_name() -> String {
        let version = env!("CARGO_PKG_VERSION");
        format!(
            "seatkeeper-{version}-{}-unknown-linux-musl",
            std::env::consts::ARCH
        )
    }

    /// Publishes this version's release locally with the release workflow's own "Package" and
    /// "Checksums" steps (`.github/workflows/release.yml`), the test's seatkeeper standing in for
    /// the built binary: the templates install what a release publishes.
    fn publish_release(&self) {
        let workflow = load_yaml(&release_workflow());
        let target = format!("{}-unknown-linux-musl", std::env::consts::ARCH);
        let ctx: HashMap<String, String> = [
            ("needs.version.outputs.version", env!("CARGO_PKG_VERSION")),
            ("matrix.target", target.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let build = &workflow["jobs"]["build"];
        let name = Self::eval_github(s(&build["env"]["NAME"]), &ctx);
        assert_eq!(
            name,
            Self::asset_name(),
            "the templates download what is published"
        );
        // The build job's checkout after `cargo build`.
        let checkout = self.root.path().join("release-build");
        let built = checkout.join("target").join(&target).join("dist");
        std::fs::create_dir_all(&built).unwrap();
        std::fs::copy(self.tool(), built.join("seatkeeper")).unwrap();
        std::fs::copy(manifest().join("README.md"), checkout.join("README.md")).unwrap();
        let run = |job: &Value, step_name: &str| {
            let step = job["steps"]
                .as_sequence()
                .unwrap()
                .iter()
                .find(|step| s(&step["name"]) == step_name)
                .unwrap_or_else(|| panic!("release.yml: no step {step_name}"));
            let dir = checkout.join(s(&step["working-directory"]));
            let out = Command::new("bash")
                .args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
                .arg(s(&step["run"]))
                .current_dir(&dir)
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("TARGET", &target)
                .env("NAME", &name)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "release.yml {step_name}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(build, "Package");
        // The release job gathers every build's dist/ into one dist/: here there is one build.
        run(&workflow["jobs"]["release"], "Checksums");
        let published = self
            .releases()
            .join(format!("v{}", env!("CARGO_PKG_VERSION")));
        copy_dir(&checkout.join("dist"), &published);
        let sums = std::fs::read_to_string(published.join("SHA256SUMS")).unwrap();
        assert!(sums.contains(&format!("  {name}.tar.gz\n")), "{sums}");
    }

    /// Requests the sandbox has answered so far.
    fn requests(&self) -> u64 {
        self.sandbox.as_ref().unwrap().stats()["total_requests"]
            .as_u64()
            .unwrap()
    }

    /// Empties the CI caches (GitHub's and GitLab's).
    fn clear_cache(&self) {
        let _ = std::fs::remove_dir_all(self.root.path().join("cache"));
    }

    fn origin(&self) -> PathBuf {
        self.root.path().join("origin.git")
    }

    /// `origin`: `main` with examples/acme as sites/acme, and a PR branch raising a budget.
    fn seed_origin(&self) {
        let root = self.root.path();
        git(root, &["init", "-q", "--bare", "-b", "main", "origin.git"]);
        let seed = root.join("seed");
        std::fs::create_dir_all(&seed).unwrap();
        git(&seed, &["init", "-q", "-b", "main"]);
        git(&seed, &["config", "user.name", "Policy Admin"]);
        git(&seed, &["config", "user.email", "admin@acme.com"]);
        copy_dir(&manifest().join("examples/acme"), &seed.join(LEG));
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "-m", "acme policy"]);
        git(
            &seed,
            &["remote", "add", "origin", self.origin().to_str().unwrap()],
        );
        git(&seed, &["push", "-q", "origin", "main"]);
        git(&seed, &["checkout", "-q", "-b", "raise-jira-budget"]);
        let file = seed.join(LEG).join("seatkeeper.yaml");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("seats: 40"));
        std::fs::write(&file, text.replacen("seats: 40", "seats: 45", 1)).unwrap();
        git(&seed, &["commit", "-q", "-am", "Jira Software: 45 seats"]);
        git(&seed, &["push", "-q", "origin", "raise-jira-budget"]);
    }

    fn seed(&self) -> PathBuf {
        self.root.path().join("seed")
    }

    fn rev(&self, rev: &str) -> String {
        git(&self.origin(), &["rev-parse", rev])
    }

    /// Merges the PR: main fast-forwards to the PR commit.
    fn merge_pr(&self) {
        git(
            &self.seed(),
            &["push", "-q", "origin", "raise-jira-budget:main"],
        );
    }

    fn new_dirs(&mut self, label: &str) -> (PathBuf, PathBuf, PathBuf) {
        self.runs += 1;
        let dir = self.root.path().join(format!("run{}-{label}", self.runs));
        let (work, temp, home) = (dir.join("work"), dir.join("temp"), dir.join("home"));
        for d in [&work, &temp, &home] {
            std::fs::create_dir_all(d).unwrap();
        }
        (work, temp, home)
    }

    fn clone_at(&self, work: &Path, rev: &str, detach: bool) {
        let parent = work.parent().unwrap();
        git(
            parent,
            &["clone", "-q", self.origin().to_str().unwrap(), "work"],
        );
        if detach {
            git(work, &["checkout", "-q", "--detach", rev]);
        } else {
            git(work, &["checkout", "-q", rev]);
        }
    }

    /// The environment every CI process gets: a clean one, the shims first on PATH, and the
    /// sandbox as Atlassian.
    fn base_command(&self, script: &Path, home: &Path, log: &Path) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg("--noprofile")
            .arg("--norc")
            .arg("-eo")
            .arg("pipefail")
            .arg(script);
        cmd.env_clear()
            .env("PATH", self.system_path())
            .env("HOME", home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("CI", "true")
            .env("SEATKEEPER_API_BASE", &self.base)
            .env("SK_TEST_REAL", env!("CARGO_BIN_EXE_seatkeeper"))
            .env("SK_TEST_LOG", log)
            .env("SK_TEST_AT", &self.at)
            .env("SK_TEST_RELEASES", self.releases())
            .env("SK_TEST_BUILT", self.tool());
        if let Some(hook) = &self.after_apply {
            cmd.env("SK_TEST_AFTER_APPLY", hook);
        }
        cmd
    }

    fn read_calls(&mut self, log: &Path) -> Vec<Call> {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let calls: Vec<Call> = text
            .lines()
            .map(|l| {
                let mut parts = l.splitn(3, '\t');
                let program = parts.next().unwrap().to_string();
                let result = parts.next().unwrap_or_default().to_string();
                let args = parts
                    .next()
                    .unwrap_or_default()
                    .split('\x1f')
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .collect();
                Call {
                    program,
                    result,
                    args,
                }
            })
            .collect();
        for c in &calls {
            if c.result == "skipped" || c.result == "emulated" {
                let line = [TOKEN, ADMIN_KEY, TOKEN_GL, GH_TOKEN]
                    .iter()
                    .fold(c.line(), |l, secret| l.replace(secret, "***"));
                let note = if c.result == "emulated" {
                    " (emulated: the build is the test's seatkeeper)"
                } else {
                    ""
                };
                self.skipped.push(format!("{line}{note}"));
            }
        }
        calls
    }

    // ----- GitHub Actions -----

    fn eval_github(expr_text: &str, ctx: &HashMap<String, String>) -> String {
        let mut out = String::new();
        let mut rest = expr_text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").unwrap() + start;
            let key = rest[start + 3..end].trim();
            let value = ctx
                .get(key)
                .unwrap_or_else(|| panic!("the test does not know the expression `{key}`"));
            out.push_str(value);
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// `if:` conditions the templates use: status functions and `a == 'b'` terms joined by `&&`.
    fn github_condition(cond: &str, ctx: &HashMap<String, String>, failed: bool) -> bool {
        let cond = cond.trim();
        let cond = cond
            .strip_prefix("${{")
            .and_then(|c| c.strip_suffix("}}"))
            .unwrap_or(cond)
            .trim();
        let mut status_ok = !failed;
        let mut rest = true;
        for term in cond.split("&&").map(str::trim) {
            match term {
                "always()" | "!cancelled()" => status_ok = true,
                "success()" => status_ok = !failed,
                "failure()" => status_ok = failed,
                _ => {
                    let (lhs, rhs, eq) = if let Some((l, r)) = term.split_once("==") {
                        (l, r, true)
                    } else if let Some((l, r)) = term.split_once("!=") {
                        (l, r, false)
                    } else {
                        panic!("the test does not know the condition `{term}`")
                    };
                    let value = ctx.get(lhs.trim()).cloned().unwrap_or_default();
                    let literal = rhs.trim().trim_matches('\'');
                    rest &= (value == literal) == eq;
                }
            }
        }
        status_ok && rest
    }

    fn run_github_job(
        &mut self,
        file: &str,
        job_name: &str,
        event: &GithubEvent,
    ) -> Option<JobResult> {
        let wf = load_yaml(&ci_dir().join("github").join(file));
        let job = wf["jobs"][job_name].clone();
        assert!(!job.is_null(), "{file}: no job {job_name}");
        if let Some(called) = job["uses"].as_str() {
            return Some(self.call_github_workflow(file, job_name, called, event));
        }
        let started = Instant::now();
        let requests_before = self.requests();
        let (work, temp, home) = self.new_dirs(job_name);
        let log = temp.parent().unwrap().join("calls.log");
        let summary = temp.parent().unwrap().join("summary.md");
        let path_file = temp.parent().unwrap().join("path.txt");
        std::fs::write(&path_file, "").unwrap();
        let mut ctx: HashMap<String, String> = self.outputs.get(file).cloned().unwrap_or_default();
        ctx.insert("runner.temp".into(), temp.display().to_string());
        ctx.insert("github.ref_name".into(), "main".into());
        ctx.insert("github.base_ref".into(), event.base_ref.clone());
        ctx.insert("github.event.pull_request.number".into(), "7".into());
        ctx.insert("github.token".into(), GH_TOKEN.into());
        ctx.insert("github.repository".into(), "acme/access-policy".into());
        ctx.insert("github.server_url".into(), "https://github.com".into());
        ctx.insert("github.run_id".into(), format!("{}", 1000 + self.runs));
        ctx.insert("github.actor".into(), "octocat".into());
        ctx.insert("secrets.ATLASSIAN_EMAIL".into(), EMAIL.into());
        ctx.insert("secrets.ATLASSIAN_API_TOKEN".into(), TOKEN.into());
        ctx.insert("secrets.ATLASSIAN_ADMIN_API_KEY".into(), ADMIN_KEY.into());
        // Notification secrets the emulated repository does not set: GitHub gives "".
        for unset in [
            "SEATKEEPER_SMTP_USERNAME",
            "SEATKEEPER_SMTP_PASSWORD",
            "SEATKEEPER_CHAT_WEBHOOK_URL",
        ] {
            ctx.insert(format!("secrets.{unset}"), String::new());
        }
        ctx.insert(
            "vars.SEATKEEPER_DRIFT_APPLY".into(),
            event.drift_apply.to_string(),
        );
        // The matrix: the list as written, or the setup job's output (which must have run).
        match &job["strategy"]["matrix"]["policy"] {
            Value::Null => {}
            Value::String(expr) => {
                assert_eq!(expr, MATRIX_FROM_SETUP, "{file} {job_name}");
                let list = ctx
                    .get("needs.setup.outputs.policies")
                    .unwrap_or_else(|| panic!("{file} {job_name}: run the setup job first"));
                let policies: Vec<String> = serde_json::from_str(list).unwrap();
                assert!(policies.contains(&LEG.to_string()), "{policies:?}");
                ctx.insert("matrix.policy".into(), LEG.into());
            }
            list => {
                assert!(list.as_sequence().unwrap().contains(&Value::from(LEG)));
                ctx.insert("matrix.policy".into(), LEG.into());
            }
        }

        if let Some(cond) = job["if"].as_str() {
            if !Self::github_condition(cond, &ctx, false) {
                return None;
            }
        }
        let mut env: Vec<(String, String)> = Vec::new();
        for level in [&wf["env"], &job["env"]] {
            for (k, v) in map(level) {
                env.push((s(&k).into(), Self::eval_github(s(&v), &ctx)));
            }
        }
        let mut failed: Option<(String, i32)> = None;
        let mut output = String::new();
        let mut steps: Vec<(String, Duration)> = Vec::new();
        let mut cache_hit = None;
        // `actions/cache` saves its path at the end of a successful job when it missed.
        let mut post_save: Vec<(PathBuf, PathBuf)> = Vec::new();
        for (index, step) in job["steps"].as_sequence().unwrap().iter().enumerate() {
            let label = step["name"]
                .as_str()
                .or(step["uses"].as_str())
                .unwrap_or("step")
                .to_string();
            let cond = step["if"].as_str().unwrap_or("success()");
            if !Self::github_condition(cond, &ctx, failed.is_some()) {
                continue;
            }
            let step_started = Instant::now();
            let with = |key: &str| Self::eval_github(&scalar(&step["with"][key]), &ctx);
            if let Some(uses) = step["uses"].as_str() {
                let action = uses.split('@').next().unwrap();
                match action {
                    "actions/checkout" => {
                        let rev = match step["with"]["ref"].as_str() {
                            Some(r) => Self::eval_github(r, &ctx),
                            None => event.checkout.clone(),
                        };
                        self.clone_at(&work, &rev, event.detached && step["with"]["ref"].is_null());
                    }
                    "actions/cache" | "actions/cache/restore" => {
                        let key = with("key");
                        assert!(!key.is_empty(), "{file} {job_name}: a cache key");
                        let path = match with("path").strip_prefix("~/") {
                            Some(rest) => home.join(rest),
                            None => PathBuf::from(with("path")),
                        };
                        let (lookup_only, must_hit) =
                            (with("lookup-only"), with("fail-on-cache-miss"));
                        let store = self.root.path().join("cache/github").join(&key);
                        let hit = store.is_dir();
                        cache_hit = Some(hit);
                        if hit && lookup_only != "true" {
                            copy_dir(&store, &path);
                        }
                        if let Some(id) = step["id"].as_str() {
                            ctx.insert(format!("steps.{id}.outputs.cache-hit"), hit.to_string());
                        }
                        output.push_str(&format!(
                            "--- {label}\ncache {} for key {key}\n",
                            if hit { "hit" } else { "miss" }
                        ));
                        if !hit && action == "actions/cache" {
                            post_save.push((path, store));
                        }
                        if !hit && must_hit == "true" && failed.is_none() {
                            failed = Some((label.clone(), 1));
                        }
                    }
                    "actions/upload-artifact" => {
                        let (name, path) = (with("name"), PathBuf::from(with("path")));
                        // A later run uploads its own artifact of the same name.
                        let store = self.root.path().join("artifacts").join(&name);
                        let _ = std::fs::remove_dir_all(&store);
                        if path.is_dir() {
                            copy_dir(&path, &store);
                        } else {
                            std::fs::create_dir_all(&store).unwrap();
                            std::fs::copy(&path, store.join(path.file_name().unwrap()))
                                .unwrap_or_else(|e| panic!("upload {}: {e}", path.display()));
                        }
                        self.artifacts.insert(name, store);
                    }
                    "actions/download-artifact" => {
                        let path = PathBuf::from(with("path"));
                        if let Some(pattern) = step["with"]["pattern"].as_str() {
                            let prefix = Self::eval_github(pattern, &ctx);
                            let prefix = prefix.trim_end_matches('*');
                            for (name, store) in &self.artifacts {
                                if name.starts_with(prefix) {
                                    copy_dir(store, &path.join(name));
                                }
                            }
                        } else {
                            let name = with("name");
                            let store = self
                                .artifacts
                                .get(&name)
                                .unwrap_or_else(|| panic!("no artifact named {name}"));
                            copy_dir(store, &path);
                        }
                    }
                    other => self.skipped.push(format!("uses: {other}")),
                }
                steps.push((label, step_started.elapsed()));
                continue;
            }
            let run = step["run"].as_str().unwrap();
            let script = temp.parent().unwrap().join(format!("step{index}.sh"));
            std::fs::write(&script, run).unwrap();
            let outputs = temp.parent().unwrap().join(format!("step{index}.out"));
            std::fs::write(&outputs, "").unwrap();
            let mut cmd = self.base_command(&script, &home, &log);
            // Folders added to $GITHUB_PATH by earlier steps come first, the latest first.
            let mut path: Vec<String> = std::fs::read_to_string(&path_file)
                .unwrap()
                .lines()
                .rev()
                .map(str::to_string)
                .collect();
            path.push(self.system_path());
            cmd.current_dir(&work)
                .env("PATH", path.join(":"))
                .env("RUNNER_TEMP", &temp)
                .env("RUNNER_OS", "Linux")
                .env("RUNNER_ARCH", "X64")
                .env("GITHUB_OUTPUT", &outputs)
                .env("GITHUB_PATH", &path_file)
                .env("GITHUB_STEP_SUMMARY", &summary)
                .env("GITHUB_WORKSPACE", &work)
                .env("GITHUB_RUN_ID", &ctx["github.run_id"])
                .env("GITHUB_ACTIONS", "true");
            for (k, v) in &env {
                cmd.env(k, v);
            }
            for (k, v) in map(&step["env"]) {
                cmd.env(s(&k), Self::eval_github(s(&v), &ctx));
            }
            let out = cmd.output().unwrap();
            output.push_str(&format!(
                "--- {label}\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
            if let Some(id) = step["id"].as_str() {
                for line in std::fs::read_to_string(&outputs).unwrap().lines() {
                    if let Some((k, v)) = line.split_once('=') {
                        ctx.insert(format!("steps.{id}.outputs.{k}"), v.to_string());
                    }
                }
            }
            if !out.status.success() && failed.is_none() {
                failed = Some((label.clone(), out.status.code().unwrap_or(-1)));
            }
            steps.push((label, step_started.elapsed()));
        }
        if failed.is_none() {
            for (path, store) in post_save {
                let save_started = Instant::now();
                if path.is_dir() {
                    copy_dir(&path, &store);
                }
                steps.push(("Post: save the cache".into(), save_started.elapsed()));
            }
        }
        // The job's outputs, for the jobs that need it.
        let known = self.outputs.entry(file.to_string()).or_default();
        for (k, v) in map(&job["outputs"]) {
            let value = Self::eval_github(s(&v), &ctx);
            known.insert(format!("jobs.{job_name}.outputs.{}", s(&k)), value.clone());
            known.insert(format!("needs.{job_name}.outputs.{}", s(&k)), value);
        }
        let calls = self.read_calls(&log);
        Some(JobResult {
            failed,
            output,
            calls,
            workspace: work,
            steps,
            elapsed: started.elapsed(),
            requests: self.requests() - requests_before,
            cache_hit,
        })
    }

    /// A job that calls a reusable workflow in the same folder (`uses: ./.github/workflows/F`):
    /// its jobs run in order, and its `workflow_call` outputs become the caller's
    /// `needs.JOB.outputs`. The result is its jobs' results in one.
    fn call_github_workflow(
        &mut self,
        file: &str,
        job_name: &str,
        called: &str,
        event: &GithubEvent,
    ) -> JobResult {
        let called_file = called
            .strip_prefix("./.github/workflows/")
            .unwrap_or_else(|| {
                panic!("{file} {job_name}: not a local reusable workflow: {called}")
            });
        let wf = load_yaml(&ci_dir().join("github").join(called_file));
        let call = &wf["on"]["workflow_call"];
        assert!(
            call.is_mapping(),
            "{called_file} is not a reusable workflow"
        );
        self.outputs.remove(called_file);
        let started = Instant::now();
        let mut whole: Option<JobResult> = None;
        for (name, _) in map(&wf["jobs"]) {
            let Some(result) = self.run_github_job(called_file, s(&name), event) else {
                continue;
            };
            whole = Some(match whole {
                None => result,
                Some(mut all) => {
                    all.failed = all.failed.or(result.failed);
                    all.output.push_str(&result.output);
                    all.calls.extend(result.calls);
                    all.steps.extend(result.steps);
                    all.requests += result.requests;
                    all.cache_hit = all.cache_hit.or(result.cache_hit);
                    all
                }
            });
        }
        let mut whole = whole.expect("the reusable workflow runs a job");
        whole.elapsed = started.elapsed();
        let ctx = self.outputs.get(called_file).cloned().unwrap_or_default();
        let known = self.outputs.entry(file.to_string()).or_default();
        for (k, v) in map(&call["outputs"]) {
            let value = Self::eval_github(s(&v["value"]), &ctx);
            known.insert(format!("needs.{job_name}.outputs.{}", s(&k)), value);
        }
        whole
    }

    /// PATH for a CI process before anything is installed: the shims, then the system's.
    fn system_path(&self) -> String {
        format!(
            "{}:{}",
            self.root.path().join("shims").display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    // ----- GitLab CI -----

    /// The first matching rule's `when`, or `None` when no rule matches.
    fn gitlab_rule(job: &Value, vars: &HashMap<String, String>) -> Option<String> {
        let value = |side: &str| {
            let side = side.trim();
            match side.strip_prefix('$') {
                Some(name) => vars.get(name).cloned().unwrap_or_default(),
                None => side.trim_matches('"').to_string(),
            }
        };
        for rule in job["rules"].as_sequence()? {
            let cond = s(&rule["if"]);
            let matches = cond.split("&&").all(|term| {
                let (l, r) = term.split_once("==").expect("== conditions only");
                value(l) == value(r)
            });
            if matches {
                return Some(rule["when"].as_str().unwrap_or("on_success").to_string());
            }
        }
        None
    }

    /// GitLab expands `$VAR` and `${VAR}` inside variable values.
    fn expand_gitlab(value: &str, vars: &HashMap<String, String>) -> String {
        let lookup = |name: &str| vars.get(name).cloned().unwrap_or_default();
        let chars: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '$' {
                let braced = chars.get(i + 1) == Some(&'{');
                let start = if braced { i + 2 } else { i + 1 };
                let mut j = start;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                out.push_str(&lookup(&chars[start..j].iter().collect::<String>()));
                i = if braced { j + 1 } else { j };
            } else {
                out.push(chars[i]);
                i += 1;
            }
        }
        out
    }

    fn run_gitlab_job(
        &mut self,
        name: &str,
        pipeline: &GitlabPipeline,
        expect_when: &str,
    ) -> JobResult {
        let doc = load_yaml(&gitlab_file());
        let job = gitlab_resolve(&doc, name);
        let mut vars: HashMap<String, String> = pipeline.vars.clone();
        vars.insert("POLICY".into(), LEG.into());
        assert_eq!(
            Self::gitlab_rule(&job, &vars).as_deref(),
            Some(expect_when),
            "{name}: the rules for this pipeline"
        );
        for (k, v) in map(&doc["variables"])
            .iter()
            .chain(map(&job["variables"]).iter())
        {
            let value = Self::expand_gitlab(s(v), &vars);
            vars.insert(s(k).into(), value);
        }
        // The one substitution: the audit log is pushed to the local origin, not to GitLab.
        if vars.contains_key("SEATKEEPER_PUSH_URL") {
            assert!(vars["SEATKEEPER_PUSH_URL"].contains(&format!(
                "{TOKEN_GL}@gitlab.example.com/acme/access-policy.git"
            )));
            vars.insert(
                "SEATKEEPER_PUSH_URL".into(),
                self.origin().display().to_string(),
            );
        }
        let started = Instant::now();
        let requests_before = self.requests();
        let (work, temp, home) = self.new_dirs(name);
        self.clone_at(&work, &pipeline.sha, true);
        // The cache: its key (variables expanded) names a folder holding the cached paths.
        let cache = job["cache"]["key"].as_str().map(|key| {
            let key = Self::expand_gitlab(key, &vars);
            assert!(!key.contains('/'), "a cache key cannot hold `/`: {key}");
            self.root.path().join("cache/gitlab").join(key)
        });
        let mut steps: Vec<(String, Duration)> = Vec::new();
        let cache_hit = cache.as_ref().map(|store| store.is_dir());
        if let Some(store) = cache.as_ref().filter(|store| store.is_dir()) {
            let restore_started = Instant::now();
            copy_dir(store, &work);
            steps.push(("restore the cache".into(), restore_started.elapsed()));
        }
        // Artifacts of the jobs it needs (or of every earlier job).
        let needs: Vec<String> = job["needs"]
            .as_sequence()
            .map(|n| n.iter().map(|v| s(v).to_string()).collect())
            .unwrap_or_default();
        for need in needs {
            if let Some(store) = self.artifacts.get(&need) {
                copy_dir(store, &work);
            }
        }
        let mut scripts = script_entries(&job["before_script"]);
        scripts.extend(script_entries(&job["script"]));
        let script = temp.parent().unwrap().join("script.sh");
        std::fs::write(&script, scripts.join("\n")).unwrap();
        let log = temp.parent().unwrap().join("calls.log");
        let mut cmd = self.base_command(&script, &home, &log);
        cmd.current_dir(&work).env("CI_PROJECT_DIR", &work);
        for (k, v) in &vars {
            cmd.env(k, v);
        }
        let script_started = Instant::now();
        let out = cmd.output().unwrap();
        steps.push(("script".into(), script_started.elapsed()));
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let code = out.status.code().unwrap_or(-1);
        let allowed: Vec<i64> = job["allow_failure"]["exit_codes"]
            .as_sequence()
            .map(|c| c.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        let failed = (code != 0 && !allowed.contains(&i64::from(code)))
            .then(|| ("script".to_string(), code));
        // The cache is saved when the job passes (`when: on_success`, the default).
        if let (Some(store), None) = (&cache, &failed) {
            let save_started = Instant::now();
            for path in job["cache"]["paths"].as_sequence().into_iter().flatten() {
                let from = work.join(s(path));
                if from.is_dir() {
                    copy_dir(&from, &store.join(s(path)));
                }
            }
            steps.push(("save the cache".into(), save_started.elapsed()));
        }
        // Artifacts: the listed paths, kept per job (when: always).
        let store = self
            .root
            .path()
            .join("artifacts")
            .join(format!("gl-{}-{name}", self.runs));
        for path in job["artifacts"]["paths"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            let from = work.join(s(path));
            if from.is_dir() {
                copy_dir(&from, &store.join(s(path)));
            }
        }
        self.artifacts.insert(name.to_string(), store);
        let mut calls = self.read_calls(&log);
        if code != 0 && allowed.contains(&i64::from(code)) {
            calls.push(Call {
                program: "job".into(),
                result: code.to_string(),
                args: vec!["allowed-failure".into()],
            });
        }
        JobResult {
            failed,
            output,
            calls,
            workspace: work,
            steps,
            elapsed: started.elapsed(),
            requests: self.requests() - requests_before,
            cache_hit,
        }
    }

    // ----- checks against the sandbox and origin -----

    /// Runs `script` in a fresh clone of origin's main with seatkeeper on PATH and the
    /// credentials set (the harness's own checks); returns the clone.
    fn check(&mut self, script: &str) -> PathBuf {
        let (work, temp, home) = self.new_dirs("check");
        self.clone_at(&work, "main", false);
        let file = temp.join("check.sh");
        std::fs::write(&file, script).unwrap();
        let log = temp.join("calls.log");
        let path = format!(
            "{}:{}",
            self.tool().parent().unwrap().display(),
            self.system_path()
        );
        let out = self
            .base_command(&file, &home, &log)
            .current_dir(&work)
            .env("PATH", path)
            .env("ATLASSIAN_EMAIL", EMAIL)
            .env("ATLASSIAN_API_TOKEN", TOKEN)
            .env("ATLASSIAN_ADMIN_API_KEY", ADMIN_KEY)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        work
    }

    /// (adds, removes) of a fresh plan of origin's main against the sandbox.
    fn pending_changes(&mut self) -> (usize, usize) {
        let work = self.check(&format!(
            "seatkeeper plan --policy {LEG} --format json > plan.json"
        ));
        let plan: seatkeeper::plan::Plan =
            serde_json::from_slice(&std::fs::read(work.join("plan.json")).unwrap()).unwrap();
        plan.counts()
    }

    /// The requests of one read of the org: one `seatkeeper export`.
    fn one_read(&mut self) -> u64 {
        let before = self.requests();
        self.check(&format!(
            "seatkeeper export --policy {LEG} --snapshot live.json"
        ));
        self.requests() - before
    }

    /// Someone adds (or removes) an account to (from) a Jira group by hand: drift.
    fn change_by_hand(&self, email: &str, add: bool) {
        let state = self.sandbox.as_ref().unwrap().snapshot();
        let group = state
            .groups
            .iter()
            .find(|g| g.name == "jira-software-users-acme")
            .unwrap();
        let user = state
            .users
            .iter()
            .find(|u| u.email.as_deref() == Some(email))
            .unwrap_or_else(|| panic!("no {email} in the sandbox"));
        let url = format!("{}/rest/api/3/group/user?groupId={}", self.base, group.id);
        let status = self.runtime.block_on(async {
            let client = reqwest::Client::new();
            let request = if add {
                client
                    .post(url)
                    .json(&serde_json::json!({ "accountId": user.account_id }))
            } else {
                client.delete(format!("{url}&accountId={}", user.account_id))
            };
            request
                .basic_auth(EMAIL, Some(TOKEN))
                .send()
                .await
                .unwrap()
                .status()
        });
        assert!(status.is_success(), "{status}");
    }

    /// The audit log on origin's main, and the message and author of main's head.
    fn origin_audit(&self) -> (usize, String, String) {
        let log = git(
            &self.origin(),
            &["show", &format!("main:{LEG}/audit/seatkeeper.jsonl")],
        );
        let message = git(&self.origin(), &["log", "-1", "--format=%s", "main"]);
        let author = git(&self.origin(), &["log", "-1", "--format=%an <%ae>", "main"]);
        (log.lines().count(), message, author)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(s) = self.sandbox.take() {
            self.runtime.block_on(s.shutdown());
        }
    }
}

const TOKEN_GL: &str = "glpat-test-token";
const GH_TOKEN: &str = "ghs_test_token";

struct GithubEvent {
    checkout: String,
    detached: bool,
    base_ref: String,
    /// The repository variable SEATKEEPER_DRIFT_APPLY.
    drift_apply: bool,
}

struct GitlabPipeline {
    sha: String,
    vars: HashMap<String, String>,
}

/// The `seatkeeper` calls of a run must be the template's commands, in the template's order
/// (the run may stop early or skip branches, so it is a prefix-preserving subsequence).
fn assert_same_sequence(job: &Job, result: &JobResult) {
    let template: Vec<String> = seatkeeper_commands(job)
        .iter()
        .map(|a| subcommand(a))
        .collect();
    let ran: Vec<String> = result
        .calls
        .iter()
        .filter(|c| c.program == "seatkeeper")
        .map(|c| {
            let mut a = vec!["seatkeeper".to_string()];
            a.extend(c.args.clone());
            subcommand(&a)
        })
        .collect();
    let mut it = template.iter();
    for sub in &ran {
        assert!(
            it.any(|t| t == sub),
            "{} {}: ran {ran:?}, the template has {template:?}",
            job.file,
            job.name
        );
    }
    // Every call really parses too (the shim adds only --at).
    for c in result.calls.iter().filter(|c| c.program == "seatkeeper") {
        let mut a = vec!["seatkeeper".to_string()];
        a.extend(c.args.clone());
        parse(&a).unwrap();
    }
}

fn github_job(file: &str, name: &str) -> Job {
    github_jobs(&ci_dir().join("github").join(file))
        .into_iter()
        .find(|(j, _)| j.name == name)
        .unwrap()
        .0
}

fn gitlab_job(name: &str) -> Job {
    gitlab_jobs()
        .into_iter()
        .find(|(j, _)| j.name == name)
        .unwrap()
        .0
}

fn codes(result: &JobResult, sub: &str) -> Vec<i32> {
    result.seatkeeper(sub).iter().map(|c| c.code()).collect()
}

#[test]
fn github_workflows_run_against_the_sandbox() {
    if emulation_skipped() {
        return;
    }
    let mut h = Harness::start();
    let pr_sha = h.rev("raise-jira-budget");

    // --- pull request ---
    let pr = GithubEvent {
        checkout: pr_sha.clone(),
        detached: true,
        base_ref: "main".into(),
        drift_apply: false,
    };
    let setup = h.run_github_job("seatkeeper-pr.yml", "setup", &pr).unwrap();
    setup.assert_ok("setup");
    assert_eq!(setup.cache_hit, Some(false), "a cold cache");
    assert_eq!(
        setup.calls_of("curl", "served").len(),
        2,
        "the release archive and its SHA256SUMS: {:?}",
        setup.calls
    );
    assert!(
        setup.calls_of("cargo", "emulated").is_empty(),
        "nothing is built"
    );
    let one_read = h.one_read();
    let plan = h.run_github_job("seatkeeper-pr.yml", "plan", &pr).unwrap();
    plan.assert_ok("PR plan");
    assert_eq!(
        plan.cache_hit,
        Some(true),
        "seatkeeper comes from the cache"
    );
    assert_same_sequence(&github_job("seatkeeper-pr.yml", "plan"), &plan);
    assert_eq!(
        plan.requests, one_read,
        "the PR job reads the org once: export, then test, diff and plan from its snapshot"
    );
    assert_eq!(
        plan.seatkeeper("plan").len(),
        2,
        "plan, then render the saved plan"
    );
    assert!(plan.seatkeeper("plan")[1]
        .args
        .contains(&"--from".to_string()));
    for sub in ["validate", "export", "test"] {
        assert_eq!(codes(&plan, sub), vec![0], "{sub}\n{}", plan.output);
    }
    assert!(matches!(codes(&plan, "diff")[..], [0 | 2]));
    assert!(
        matches!(codes(&plan, "plan")[..], [0 | 2, 0]),
        "{}",
        plan.output
    );
    let artifact = &h.artifacts["seatkeeper-pr-sites-acme"];
    let saved: seatkeeper::plan::Plan =
        serde_json::from_slice(&std::fs::read(artifact.join("plan.json")).unwrap()).unwrap();
    assert!(!saved.actions.is_empty());
    assert!(
        !artifact.join("live.json").exists(),
        "the org snapshot is not an artifact"
    );
    let comment = std::fs::read_to_string(artifact.join("comment.md")).unwrap();
    assert!(comment.contains("### seatkeeper diff"), "{comment}");
    assert!(comment.contains("1 budget change,"), "{comment}");
    assert!(
        comment.contains("### seatkeeper plan for acme.atlassian.net"),
        "{comment}"
    );

    let post = h
        .run_github_job("seatkeeper-pr.yml", "comment", &pr)
        .unwrap();
    post.assert_ok("PR comment");
    let gh: Vec<&Call> = post.calls.iter().filter(|c| c.program == "gh").collect();
    assert_eq!(gh.len(), 1, "edit-last is tried first: {gh:?}");
    assert_eq!(gh[0].args[..3], ["pr", "comment", "7"]);
    assert!(gh[0].args.contains(&"--edit-last".to_string()));
    let body_file = &gh[0].args[gh[0].args.iter().position(|a| a == "--body-file").unwrap() + 1];
    let body = std::fs::read_to_string(body_file).unwrap();
    assert!(body.contains("## seatkeeper: `sites/acme`") && body.len() < 65_536);

    // --- merge, then plan and apply on main ---
    h.merge_pr();
    let audit_before = h.origin_audit().0;
    let push = GithubEvent {
        checkout: "main".into(),
        detached: false,
        base_ref: String::new(),
        drift_apply: true,
    };
    let setup = h
        .run_github_job("seatkeeper-apply.yml", "setup", &push)
        .unwrap();
    setup.assert_ok("setup");
    assert_eq!(setup.cache_hit, Some(true), "the PR run filled the cache");
    assert!(
        setup.calls.is_empty(),
        "a warm cache downloads nothing: {:?}",
        setup.calls
    );
    let plan = h
        .run_github_job("seatkeeper-apply.yml", "plan", &push)
        .unwrap();
    plan.assert_ok("main plan");
    assert_same_sequence(&github_job("seatkeeper-apply.yml", "plan"), &plan);
    assert_eq!(
        codes(&plan, "plan"),
        vec![2, 0],
        "changes to apply, then the summary"
    );
    let apply = h
        .run_github_job("seatkeeper-apply.yml", "apply", &push)
        .unwrap();
    apply.assert_ok("main apply");
    assert_same_sequence(&github_job("seatkeeper-apply.yml", "apply"), &apply);
    assert_eq!(codes(&apply, "apply"), vec![0]);
    assert_eq!(codes(&apply, "audit"), vec![0], "audit verify passes");
    assert_eq!(h.pending_changes(), (0, 0), "nothing left to add or remove");
    let (lines, message, author) = h.origin_audit();
    assert!(lines > audit_before, "the audit log grew on origin");
    assert!(message.ends_with("[skip ci]"), "{message}");
    assert!(message.contains("sites/acme"), "{message}");
    assert!(author.starts_with("github-actions[bot]"), "{author}");
    let local = git(&apply.workspace, &["status", "--porcelain"]);
    assert!(
        local.is_empty(),
        "nothing else committed or left over: {local}"
    );
    let audit = git(
        &h.origin(),
        &["show", &format!("main:{LEG}/audit/seatkeeper.jsonl")],
    );
    assert!(audit.contains("\"actor\":\"octocat\""));

    // --- scheduled drift: a change made by hand is found, reported and reverted ---
    h.change_by_hand("guest@partner.example", true);
    h.run_github_job("seatkeeper-drift.yml", "setup", &push)
        .unwrap()
        .assert_ok("setup");
    let drift = h
        .run_github_job("seatkeeper-drift.yml", "drift", &push)
        .unwrap();
    drift.assert_ok("drift");
    assert_same_sequence(&github_job("seatkeeper-drift.yml", "drift"), &drift);
    assert_eq!(codes(&drift, "plan"), vec![2, 0]);
    let gh: Vec<String> = drift
        .calls
        .iter()
        .filter(|c| c.program == "gh")
        .map(|c| c.args[..2].join(" "))
        .collect();
    assert_eq!(gh, ["issue list", "issue create"], "an issue is opened");
    let opted_out = GithubEvent {
        drift_apply: false,
        checkout: "main".into(),
        detached: false,
        base_ref: String::new(),
    };
    assert!(
        h.run_github_job("seatkeeper-drift.yml", "apply", &opted_out)
            .is_none(),
        "with SEATKEEPER_DRIFT_APPLY=false the drift workflow only reports"
    );
    let apply = h
        .run_github_job("seatkeeper-drift.yml", "apply", &push)
        .unwrap();
    apply.assert_ok("drift apply");
    assert_eq!(codes(&apply, "apply"), vec![0]);
    assert_eq!(h.pending_changes(), (0, 0));
    let (after, message, _) = h.origin_audit();
    assert!(after > lines && message.ends_with("[skip ci]"));

    // A second drift run finds nothing: no issue is opened, and applying the empty plan
    // commits nothing.
    let drift = h
        .run_github_job("seatkeeper-drift.yml", "drift", &push)
        .unwrap();
    drift.assert_ok("quiet drift");
    assert_eq!(codes(&drift, "plan"), vec![0, 0]);
    assert_eq!(
        drift.calls.iter().filter(|c| c.program == "gh").count(),
        1,
        "only the lookup of an issue to close"
    );

    eprintln!("skipped (they talk to GitHub):");
    for s in &h.skipped {
        eprintln!("  {s}");
    }
}

#[test]
fn gitlab_pipelines_run_against_the_sandbox() {
    if emulation_skipped() {
        return;
    }
    let mut h = Harness::start();
    let base_sha = h.rev("main");
    let pr_sha = h.rev("raise-jira-budget");
    let common = |source: &str, sha: &str| {
        let mut vars: HashMap<String, String> = [
            ("CI_PIPELINE_SOURCE", source),
            ("CI_DEFAULT_BRANCH", "main"),
            ("CI_COMMIT_SHA", sha),
            ("CI_PIPELINE_ID", "4242"),
            ("CI_PROJECT_ID", "17"),
            ("CI_PROJECT_PATH", "acme/access-policy"),
            ("CI_SERVER_HOST", "gitlab.example.com"),
            ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
            ("GITLAB_USER_LOGIN", "approver"),
            ("SEATKEEPER_GITLAB_TOKEN", TOKEN_GL),
            ("ATLASSIAN_EMAIL", EMAIL),
            ("ATLASSIAN_API_TOKEN", TOKEN),
            ("ATLASSIAN_ADMIN_API_KEY", ADMIN_KEY),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if source != "merge_request_event" {
            vars.insert("CI_COMMIT_BRANCH".into(), "main".into());
        }
        vars
    };

    // --- merge request ---
    let mut mr = GitlabPipeline {
        sha: pr_sha.clone(),
        vars: common("merge_request_event", &pr_sha),
    };
    mr.vars.insert("CI_MERGE_REQUEST_IID".into(), "7".into());
    mr.vars
        .insert("CI_MERGE_REQUEST_DIFF_BASE_SHA".into(), base_sha.clone());
    mr.vars
        .insert("CI_MERGE_REQUEST_TARGET_BRANCH_NAME".into(), "main".into());
    let one_read = h.one_read();
    let job = h.run_gitlab_job("seatkeeper-mr", &mr, "on_success");
    job.assert_ok("MR job");
    assert_same_sequence(&gitlab_job("seatkeeper-mr"), &job);
    assert_eq!(job.cache_hit, Some(false), "a cold cache");
    assert_eq!(job.calls_of("curl", "served").len(), 2, "{:?}", job.calls);
    assert_eq!(
        job.requests, one_read,
        "the MR job reads the org once: export, then test, diff and plan from its snapshot"
    );
    for sub in ["validate", "export", "test"] {
        assert_eq!(codes(&job, sub), vec![0], "{sub}");
    }
    assert!(matches!(codes(&job, "plan")[..], [0 | 2, 0]));
    let curls = job.calls_of("curl", "skipped");
    assert_eq!(
        curls.len(),
        2,
        "look up the note, then create it: {curls:?}"
    );
    assert!(curls[1].args.contains(&"POST".to_string()));
    assert!(!job
        .workspace
        .join(".seatkeeper/sites/acme/live.json")
        .exists());
    let note =
        std::fs::read_to_string(job.workspace.join(".seatkeeper/sites/acme/note.md")).unwrap();
    assert!(note.starts_with("<!-- seatkeeper:sites/acme -->"));
    assert!(note.contains("### seatkeeper diff") && note.contains("### seatkeeper plan"));
    for pipeline in ["push", "schedule", "web"] {
        let p = GitlabPipeline {
            sha: base_sha.clone(),
            vars: common(pipeline, &base_sha),
        };
        let doc = load_yaml(&gitlab_file());
        assert_eq!(
            Harness::gitlab_rule(&gitlab_resolve(&doc, "seatkeeper-mr"), &p.vars),
            None,
            "no MR job in a {pipeline} pipeline"
        );
    }

    // --- merge, push pipeline: plan, then the manual apply ---
    h.merge_pr();
    let audit_before = h.origin_audit().0;
    let push = GitlabPipeline {
        sha: pr_sha.clone(),
        vars: common("push", &pr_sha),
    };
    let plan = h.run_gitlab_job("seatkeeper-plan", &push, "on_success");
    plan.assert_ok("plan");
    assert_eq!(plan.cache_hit, Some(true), "the MR job filled the cache");
    assert!(plan.calls_of("curl", "served").is_empty());
    assert_eq!(codes(&plan, "plan"), vec![2]);
    // While the apply runs, someone merges another change: the audit commit is rebased on it.
    let hook = h.root.path().join("merge-meanwhile.sh");
    std::fs::write(
        &hook,
        format!(
            "set -e\ncd '{}'\necho '# Access policy' > README.md\ngit add README.md\n\
             git commit -q -m 'README'\ngit push -q origin HEAD:main\n",
            h.seed().display()
        ),
    )
    .unwrap();
    h.after_apply = Some(hook);
    let apply = h.run_gitlab_job("seatkeeper-apply", &push, "manual");
    h.after_apply = None;
    apply.assert_ok("apply");
    let history = git(&h.origin(), &["log", "--format=%s", "main"]);
    assert!(
        history.starts_with("seatkeeper: audit log of sites/acme")
            && history.contains("\nREADME\n"),
        "{history}"
    );
    assert_same_sequence(&gitlab_job("seatkeeper-apply"), &apply);
    assert_eq!(codes(&apply, "apply"), vec![0]);
    assert_eq!(codes(&apply, "audit"), vec![0]);
    assert_eq!(h.pending_changes(), (0, 0));
    let (lines, message, author) = h.origin_audit();
    assert!(lines > audit_before);
    assert!(message.ends_with("[skip ci]"), "{message}");
    assert!(author.starts_with("seatkeeper bot"), "{author}");
    let audit = git(
        &h.origin(),
        &["show", &format!("main:{LEG}/audit/seatkeeper.jsonl")],
    );
    assert!(audit.contains("\"actor\":\"approver\""));

    // --- schedule: drift found (exit 2, allowed: a warning), the apply finds the plan stale
    // because the group changed again, a new pipeline converges ---
    h.change_by_hand("guest@partner.example", true);
    let main_sha = h.rev("main");
    let schedule = GitlabPipeline {
        sha: main_sha.clone(),
        vars: common("schedule", &main_sha),
    };
    let drift = h.run_gitlab_job("seatkeeper-drift", &schedule, "on_success");
    drift.assert_ok("drift (exit 2 is allowed)");
    assert_eq!(codes(&drift, "plan"), vec![2]);
    assert!(drift
        .calls
        .iter()
        .any(|c| c.program == "job" && c.result == "2"));
    // A member the admin directory shows (an `atlassian` account; apps are not in it) leaves.
    h.change_by_hand("it-ops@acme.com", false);
    let stale = h.run_gitlab_job("seatkeeper-drift-apply", &schedule, "manual");
    assert_eq!(codes(&stale, "apply"), vec![4], "{}", stale.output);
    assert_eq!(stale.failed.as_ref().map(|f| f.1), Some(4));
    assert!(
        stale
            .output
            .contains("Run the pipeline again to plan again"),
        "{}",
        stale.output
    );
    let drift = h.run_gitlab_job("seatkeeper-drift", &schedule, "on_success");
    assert_eq!(codes(&drift, "plan"), vec![2]);
    let apply = h.run_gitlab_job("seatkeeper-drift-apply", &schedule, "manual");
    apply.assert_ok("drift apply");
    assert_eq!(codes(&apply, "apply"), vec![0]);
    assert_eq!(h.pending_changes(), (0, 0));
    let (after, message, _) = h.origin_audit();
    assert!(after > lines && message.ends_with("[skip ci]"));

    eprintln!("skipped (they talk to GitLab):");
    for s in &h.skipped {
        eprintln!("  {s}");
    }
}

fn pr_event(h: &Harness) -> GithubEvent {
    GithubEvent {
        checkout: h.rev("raise-jira-budget"),
        detached: true,
        base_ref: "main".into(),
        drift_apply: false,
    }
}

fn mr_pipeline(h: &Harness) -> GitlabPipeline {
    let (base, pr) = (h.rev("main"), h.rev("raise-jira-budget"));
    let vars = [
        ("CI_PIPELINE_SOURCE", "merge_request_event"),
        ("CI_DEFAULT_BRANCH", "main"),
        ("CI_COMMIT_SHA", pr.as_str()),
        ("CI_PIPELINE_ID", "4242"),
        ("CI_PROJECT_ID", "17"),
        ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
        ("CI_MERGE_REQUEST_IID", "7"),
        ("CI_MERGE_REQUEST_DIFF_BASE_SHA", base.as_str()),
        ("SEATKEEPER_GITLAB_TOKEN", TOKEN_GL),
        ("ATLASSIAN_EMAIL", EMAIL),
        ("ATLASSIAN_API_TOKEN", TOKEN),
        ("ATLASSIAN_ADMIN_API_KEY", ADMIN_KEY),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    GitlabPipeline { sha: pr, vars }
}

fn secs(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// Issue 13, "CI in seconds": the PR jobs from an empty and from a filled cache. The figures
/// are printed, not asserted (examples/ci/README.md quotes them); what is asserted is what
/// makes them: a cold cache downloads the release once and checks it, a warm one downloads
/// nothing, and neither builds seatkeeper or reads the org more than once.
#[test]
fn template_jobs_from_a_cold_and_a_warm_cache() {
    if emulation_skipped() {
        return;
    }
    let mut h = Harness::start();
    let pr = pr_event(&h);
    let one_read = h.one_read();
    // What the PR job used to add: a live plan, reading the org a second time.
    let before = h.requests();
    h.check(&format!("seatkeeper plan --policy {LEG} > /dev/null"));
    let live_plan = h.requests() - before;
    let mut github = Vec::new();
    let mut gitlab = Vec::new();
    for cold in [true, false] {
        if cold {
            h.clear_cache();
        }
        let setup = h.run_github_job("seatkeeper-pr.yml", "setup", &pr).unwrap();
        setup.assert_ok("setup");
        let plan = h.run_github_job("seatkeeper-pr.yml", "plan", &pr).unwrap();
        plan.assert_ok("PR plan");
        assert_eq!(setup.cache_hit, Some(!cold));
        assert_eq!(plan.cache_hit, Some(true));
        let downloads = if cold { 2 } else { 0 };
        assert_eq!(setup.calls_of("curl", "served").len(), downloads);
        assert_eq!(
            setup.step_time("Install seatkeeper (cache miss)").is_some(),
            cold
        );
        assert_eq!(plan.requests, one_read);
        github.push((setup, plan));

        // (GitLab's cache is its own: still cold on the first round.)
        let mr = h.run_gitlab_job("seatkeeper-mr", &mr_pipeline(&h), "on_success");
        mr.assert_ok("MR job");
        assert_eq!(mr.cache_hit, Some(!cold));
        assert_eq!(mr.calls_of("curl", "served").len(), downloads);
        assert_eq!(mr.requests, one_read);
        gitlab.push(mr);
    }
    for job in github
        .iter()
        .flat_map(|(setup, plan)| [setup, plan])
        .chain(&gitlab)
    {
        assert!(
            job.calls_of("cargo", "emulated").is_empty(),
            "nothing is built"
        );
    }

    let step = |job: &JobResult, label: &str| job.step_time(label).map_or("-".into(), secs);
    let row = |what: &str, cold: String, warm: String| {
        eprintln!("  {what:<44} {cold:>9} {warm:>9}");
    };
    eprintln!(
        "\nA PR job from a cold and from a warm cache (emulated runner, sites/acme leg, \
         seatkeeper = this test build; downloads are local, so network time is not included):"
    );
    row("", "cold".into(), "warm".into());
    let (cold, warm) = (&github[0], &github[1]);
    row(
        "GitHub setup job",
        secs(cold.0.elapsed),
        secs(warm.0.elapsed),
    );
    row(
        "  look up the cache",
        step(&cold.0, "Look up seatkeeper in the cache"),
        step(&warm.0, "Look up seatkeeper in the cache"),
    );
    row(
        "  download, check and unpack the release",
        step(&cold.0, "Install seatkeeper (cache miss)"),
        step(&warm.0, "Install seatkeeper (cache miss)"),
    );
    row(
        "  save the cache",
        step(&cold.0, "Post: save the cache"),
        step(&warm.0, "Post: save the cache"),
    );
    row(
        "GitHub plan job",
        secs(cold.1.elapsed),
        secs(warm.1.elapsed),
    );
    row(
        "  restore seatkeeper from the cache",
        step(&cold.1, "seatkeeper from the cache"),
        step(&warm.1, "seatkeeper from the cache"),
    );
    let seatkeeper_steps = |job: &JobResult| {
        let total: Duration = job
            .steps
            .iter()
            .filter(|(l, _)| {
                [
                    "Validate",
                    "Read the live org once",
                    "Policy self-tests",
                    "Diff and plan",
                ]
                .contains(&l.as_str())
            })
            .map(|(_, d)| *d)
            .sum();
        secs(total)
    };
    row(
        "  validate, export, test, diff, plan",
        seatkeeper_steps(&cold.1),
        seatkeeper_steps(&warm.1),
    );
    row(
        "GitLab MR job",
        secs(gitlab[0].elapsed),
        secs(gitlab[1].elapsed),
    );
    row(
        "  restore the cache",
        step(&gitlab[0], "restore the cache"),
        step(&gitlab[1], "restore the cache"),
    );
    row(
        "  script (install on a miss, then seatkeeper)",
        step(&gitlab[0], "script"),
        step(&gitlab[1], "script"),
    );
    row(
        "  save the cache",
        step(&gitlab[0], "save the cache"),
        step(&gitlab[1], "save the cache"),
    );
    row(
        "release files downloaded (GitHub, GitLab)",
        format!(
            "{}, {}",
            cold.0.calls_of("curl", "served").len(),
            gitlab[0].calls_of("curl", "served").len()
        ),
        format!(
            "{}, {}",
            warm.0.calls_of("curl", "served").len(),
            gitlab[1].calls_of("curl", "served").len()
        ),
    );
    row(
        "requests to Atlassian per PR job (1 read)",
        format!("{}", cold.1.requests),
        format!("{}", warm.1.requests),
    );
    eprintln!(
        "  (the PR job used to plan live after its export: {} requests, 2 reads)",
        one_read + live_plan
    );
}

/// A version without release binaries is built once from its tag and then cached; a release
/// archive that does not match its SHA256SUMS fails the install and is never cached.
#[test]
fn the_install_builds_a_version_without_binaries_and_refuses_a_tampered_release() {
    if emulation_skipped() {
        return;
    }
    let mut h = Harness::start();
    let pr = pr_event(&h);
    let version = env!("CARGO_PKG_VERSION");
    let release = h.releases().join(format!("v{version}"));
    let archive = release.join(format!("{}.tar.gz", Harness::asset_name()));
    let bytes = std::fs::read(&archive).unwrap();

    // No release binary: one build, from the pinned tag, with the lock file.
    std::fs::remove_file(&archive).unwrap();
    let setup = h.run_github_job("seatkeeper-pr.yml", "setup", &pr).unwrap();
    setup.assert_ok("setup without a release binary");
    assert_eq!(setup.calls_of("curl", "missing").len(), 1);
    let built = setup.calls_of("cargo", "emulated");
    assert_eq!(built.len(), 1, "{:?}", setup.calls);
    let args = built[0].args.join(" ");
    assert!(
        args.starts_with("install --git https://github.com/your-org/seatkeeper")
            && args.contains(&format!("--tag v{version} --locked --root ")),
        "{args}"
    );
    let plan = h.run_github_job("seatkeeper-pr.yml", "plan", &pr).unwrap();
    plan.assert_ok("PR plan with the built seatkeeper");
    let again = h.run_github_job("seatkeeper-pr.yml", "setup", &pr).unwrap();
    assert_eq!(again.cache_hit, Some(true), "built once per version");
    assert!(again.calls.is_empty());
    let mr = h.run_gitlab_job("seatkeeper-mr", &mr_pipeline(&h), "on_success");
    mr.assert_ok("MR job without a release binary");
    assert_eq!(mr.calls_of("cargo", "emulated").len(), 1);

    // A tampered archive: the checksum check fails the job and nothing reaches the cache.
    let mut tampered = bytes;
    tampered.extend_from_slice(b"tampered");
    std::fs::write(&archive, &tampered).unwrap();
    h.clear_cache();
    let setup = h.run_github_job("seatkeeper-pr.yml", "setup", &pr).unwrap();
    assert_eq!(
        setup.failed.as_ref().map(|f| f.0.as_str()),
        Some("Install seatkeeper (cache miss)"),
        "{}",
        setup.output
    );
    assert!(setup.output.contains("FAILED"), "{}", setup.output);
    assert!(
        setup.calls_of("cargo", "emulated").is_empty(),
        "no build instead"
    );
    let plan = h.run_github_job("seatkeeper-pr.yml", "plan", &pr).unwrap();
    assert_eq!(
        plan.failed.as_ref().map(|f| f.0.as_str()),
        Some("seatkeeper from the cache"),
        "nothing was cached"
    );
    assert!(plan.calls.iter().all(|c| c.program != "seatkeeper"));
    let mr = h.run_gitlab_job("seatkeeper-mr", &mr_pipeline(&h), "on_success");
    assert!(mr.failed.is_some(), "{}", mr.output);
    assert!(mr.output.contains("FAILED"), "{}", mr.output);
    assert!(mr.calls.iter().all(|c| c.program != "seatkeeper"));
    assert!(
        !h.root.path().join("cache/gitlab").exists(),
        "nothing was cached"
    );
}
