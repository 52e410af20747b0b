//! Live plan and apply, end to end: the `seatkeeper` binary against the sandbox over real
//! sockets, on a copy of `examples/acme`. Covers convergence, stale plans, a kill in the middle
//! of an apply, the apply lock, credentials and secrets.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use crate::support::{copy_dir, text};
use seatkeeper::live::LiveState;
use seatkeeper::sandbox::{self, OrgSource, RunningSandbox, SandboxConfig};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "e2e-token-5f1c2b9a7d";
const ADMIN_KEY: &str = "e2e-admin-key-8c3e1f0d44";
const EMAIL: &str = "svc-seatkeeper@acme.com";

struct TestEnv {
    runtime: tokio::runtime::Runtime,
    sandbox: Option<RunningSandbox>,
    base: String,
    policy: tempfile::TempDir,
}

fn acme_snapshot() -> LiveState {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/acme/snapshot.json");
    seatkeeper::files::load_snapshot(&path).unwrap()
}

impl TestEnv {
    fn start(latency: Duration) -> Self {
        Self::start_with(acme_snapshot(), latency)
    }

    fn start_with(state: LiveState, latency: Duration) -> Self {
        Self::start_with_org(state, latency, |_| {})
    }

    /// Starts the sandbox on `state`, with `adjust` applied to the org before it serves.
    fn start_with_org(
        state: LiveState,
        latency: Duration,
        adjust: impl FnOnce(&mut seatkeeper::sandbox::Org),
    ) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut config = SandboxConfig {
            now: Some(state.taken_at),
            latency,
            ..SandboxConfig::default()
        };
        config.credentials.email = EMAIL.into();
        config.credentials.api_token = TOKEN.into();
        config.credentials.admin_api_key = ADMIN_KEY.into();
        let mut org = sandbox::load_org(&OrgSource::Snapshot(Box::new(state)), &config).unwrap();
        adjust(&mut org);
        let sandbox = runtime.block_on(sandbox::serve(config, org)).unwrap();
        let base = sandbox.base_url();
        let policy = tempfile::tempdir().unwrap();
        copy_dir(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/acme"),
            policy.path(),
        );
        Self {
            runtime,
            sandbox: Some(sandbox),
            base,
            policy,
        }
    }

    fn dir(&self) -> &str {
        self.policy.path().to_str().unwrap()
    }

    fn audit_log(&self) -> PathBuf {
        self.policy.path().join("audit/seatkeeper.jsonl")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_seatkeeper"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SEATKEEPER_API_BASE", &self.base)
            .env("ATLASSIAN_EMAIL", EMAIL)
            .env("ATLASSIAN_API_TOKEN", TOKEN)
            .env("ATLASSIAN_ADMIN_API_KEY", ADMIN_KEY)
            .env("SEATKEEPER_ACTOR", "e2e-test");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn stats(&self) -> serde_json::Value {
        self.sandbox.as_ref().unwrap().stats()
    }

    fn state(&self) -> LiveState {
        self.sandbox.as_ref().unwrap().snapshot()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some(s) = self.sandbox.take() {
            self.runtime.block_on(s.shutdown());
        }
    }
}

const AT: &str = "2026-11-25T08:00:00Z";

/// Plans with `--out`, returning the plan path.
fn save_plan(env: &TestEnv, name: &str) -> PathBuf {
    let path = env.policy.path().join(name);
    let out = env.run(&[
        "plan",
        "--policy",
        env.dir(),
        "--at",
        AT,
        "--out",
        path.to_str().unwrap(),
        "--color",
        "never",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    path
}

fn changes(env: &TestEnv) -> (usize, usize) {
    let out = env.run(&[
        "plan",
        "--policy",
        env.dir(),
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: seatkeeper::plan::Plan = serde_json::from_slice(&out.stdout).unwrap();
    plan.counts()
}

/// Every audit line of `plan_id` by (kind, group, account): each must appear exactly once.
fn audit_keys(env: &TestEnv) -> Vec<(String, String, String, String)> {
    let text = std::fs::read_to_string(env.audit_log()).unwrap();
    // The example's own history comes first; only the membership changes the tests' applies
    // wrote count.
    let seed = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/acme/audit/seatkeeper.jsonl"),
    )
    .unwrap();
    // A line being written while we read is incomplete: skip it.
    text.lines()
        .skip(seed.lines().count())
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        // Announcements of reclaim dates are ledger lines, not membership writes.
        .filter(|v| v["kind"] != "announced")
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (s("kind"), s("group_id"), s("account_id"), s("result"))
        })
        .collect()
}

#[test]
fn plan_apply_plan_converges_with_one_audit_line_per_action_and_no_duplicate_write() {
    let env = TestEnv::start(Duration::ZERO);
    let plan = save_plan(&env, "plan.json");
    let (adds, removes) = changes(&env);
    assert!(adds > 0 && removes > 0);

    let out = env.run(&["apply", plan.to_str().unwrap(), "--policy", env.dir()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        changes(&env),
        (0, 0),
        "a second plan has nothing left to add or remove"
    );

    let keys = audit_keys(&env);
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(keys.len(), unique.len(), "no audit line is duplicated");
    assert!(keys.iter().all(|k| k.3 == "ok"), "{keys:?}");
    let stats = env.stats();
    assert_eq!(stats["duplicate_writes"], 0, "{stats}");
    let verify = env.run(&["audit", "verify", env.audit_log().to_str().unwrap()]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));

    // Applying the same plan again writes nothing: everything is recorded.
    let again = env.run(&["apply", plan.to_str().unwrap(), "--policy", env.dir()]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(env.stats()["writes_applied"], stats["writes_applied"]);
    assert_eq!(audit_keys(&env).len(), keys.len());
}

#[test]
fn a_killed_run_whose_writes_all_landed_is_recorded_even_when_the_next_plan_is_empty() {
    let env = TestEnv::start(Duration::ZERO);
    let plan = save_plan(&env, "plan.json");
    let (adds, removes) = changes(&env);
    let before = std::fs::read_to_string(env.audit_log()).unwrap();
    let out = env.run(&["apply", plan.to_str().unwrap(), "--policy", env.dir()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // As if killed after its last write and before its audit lines: every write landed, the
    // log lost them, and the journal still names the plan.
    std::fs::write(env.audit_log(), &before).unwrap();
    let mut journal = env.audit_log().into_os_string();
    journal.push(".inflight.json");
    std::fs::copy(&plan, &journal).unwrap();
    assert!(audit_keys(&env).is_empty());

    let rerun = env.run(&["apply", "--policy", env.dir(), "--auto-approve"]);
    assert_eq!(rerun.status.code(), Some(0), "{}", text(&rerun.stderr));
    // The journal is recorded before the new plan is made, so that plan sees seatkeeper's own
    // additions as seatkeeper's (kofi's re-grant outside it is observed again, as the lost
    // log had it).
    let keys = audit_keys(&env);
    let writes: Vec<_> = keys.iter().filter(|k| k.0 != "observed").collect();
    assert_eq!(
        writes.len(),
        adds + removes,
        "every write is recorded: {keys:?}"
    );
    assert_eq!(keys.len() - writes.len(), 1, "{keys:?}");
    assert!(keys.iter().all(|k| k.3 == "ok"));
    assert!(!std::path::Path::new(&journal).exists());
    let verify = env.run(&["audit", "verify", env.audit_log().to_str().unwrap()]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
}

#[test]
fn a_change_made_by_hand_that_matches_the_plan_is_recorded_as_observed() {
    let env = TestEnv::start(Duration::ZERO);
    let path = save_plan(&env, "plan.json");
    let plan: seatkeeper::plan::Plan =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let add = plan
        .actions
        .iter()
        .find(|a| a.kind == seatkeeper::plan::ActionKind::Add)
        .unwrap();
    // An admin grants the same seat by hand before the plan is applied.
    let client = reqwest::blocking_free_client();
    let url = format!(
        "{}/rest/api/3/group/user?groupId={}",
        env.base, add.group_id
    );
    let status = env.runtime.block_on(async {
        client
            .post(url)
            .basic_auth(EMAIL, Some(TOKEN))
            .json(&serde_json::json!({ "accountId": add.account_id }))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status.as_u16(), 201);
    let out = env.run(&["apply", path.to_str().unwrap(), "--policy", env.dir()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines = new_audit_lines(&env);
    let about = |l: &&serde_json::Value| {
        l["account_id"] == add.account_id.as_str() && l["group_id"] == add.group_id.as_str()
    };
    let recorded: Vec<&serde_json::Value> = lines.iter().filter(about).collect();
    assert_eq!(recorded.len(), 1, "{recorded:#?}");
    assert_eq!(recorded[0]["kind"], "observed");
    assert!(
        recorded[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("already done outside seatkeeper"),
        "{recorded:#?}"
    );
    // Applying the plan again records nothing more.
    let again = env.run(&["apply", path.to_str().unwrap(), "--policy", env.dir()]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(new_audit_lines(&env).len(), lines.len());
}

#[test]
fn a_journal_whose_group_was_deleted_names_itself_and_the_way_out() {
    let env = TestEnv::start(Duration::ZERO);
    let path = save_plan(&env, "plan.json");
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    plan["fingerprint"]["a1f0c2d4-dead-4b5e-9c1a-acme000000ff"] = "sha256:00".into();
    let mut journal = env.audit_log().into_os_string();
    journal.push(".inflight.json");
    std::fs::write(&journal, serde_json::to_vec(&plan).unwrap()).unwrap();
    let out = env.run(&["apply", "--policy", env.dir(), "--auto-approve"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let journal = journal.to_string_lossy().to_string();
    assert!(
        stderr.contains(&format!("the journal {journal} of an interrupted apply"))
            && stderr.contains(&format!("mv {journal} {journal}.abandoned")),
        "{stderr}"
    );
    // Moved aside as the message says, the next apply goes on.
    std::fs::rename(&journal, format!("{journal}.abandoned")).unwrap();
    let out = env.run(&["apply", "--policy", env.dir(), "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn a_saved_plan_applies_from_anywhere_without_policy() {
    let env = TestEnv::start(Duration::ZERO);
    let plan = save_plan(&env, "plan.json");
    let elsewhere = tempfile::tempdir().unwrap();
    let out = env
        .command(&["apply", plan.to_str().unwrap()])
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!(
            "Audit log: {}",
            env.audit_log().canonicalize().unwrap().display()
        )),
        "{}",
        text(&out.stdout)
    );
    // Moved away, the folder the plan names is reported.
    let mut moved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    moved["policy_dir"] = "/nonexistent/policy".into();
    std::fs::write(&plan, serde_json::to_vec(&moved).unwrap()).unwrap();
    let out = env
        .command(&["apply", plan.to_str().unwrap()])
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("the plan was made from the policy folder /nonexistent/policy"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn credentials_pasted_with_a_trailing_newline_work() {
    let env = TestEnv::start(Duration::ZERO);
    let out = env
        .command(&["plan", "--policy", env.dir(), "--at", AT])
        .env("ATLASSIAN_API_TOKEN", format!("{TOKEN}\n"))
        .env("ATLASSIAN_ADMIN_API_KEY", format!(" {ADMIN_KEY}\r\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn a_plan_whose_groups_changed_is_stale_and_names_them() {
    let env = TestEnv::start(Duration::ZERO);
    let plan = save_plan(&env, "plan.json");
    // Someone adds a member to jira-software-users-acme by hand after the plan was made.
    let state = env.state();
    let group = state
        .groups
        .iter()
        .find(|g| g.name == "jira-software-users-acme")
        .unwrap();
    let outsider = state
        .users
        .iter()
        .find(|u| u.email.as_deref() == Some("guest@partner.example"))
        .unwrap();
    let client = reqwest::blocking_free_client();
    let url = format!("{}/rest/api/3/group/user?groupId={}", env.base, group.id);
    let status = env.runtime.block_on(async {
        client
            .post(url)
            .basic_auth(EMAIL, Some(TOKEN))
            .json(&serde_json::json!({ "accountId": outsider.account_id }))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status.as_u16(), 201);
    let out = env.run(&["apply", plan.to_str().unwrap(), "--policy", env.dir()]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("jira-software-users-acme"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        env.stats()["writes_applied"],
        1,
        "only the hand-made write happened"
    );
}

mod reqwest {
    pub use ::reqwest::*;
    /// A plain async client (the name says it is not the blocking one).
    pub fn blocking_free_client() -> Client {
        Client::new()
    }
}

/// Starts `apply PLAN` and kills it (SIGKILL) once `logged` of its actions are in the audit log.
fn kill_apply_after(env: &TestEnv, plan: &Path, parallelism: &str, logged: usize) {
    let mut child = env
        .command(&[
            "apply",
            plan.to_str().unwrap(),
            "--policy",
            env.dir(),
            "--parallelism",
            parallelism,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while audit_keys(env).len() < logged {
        assert!(Instant::now() < deadline, "the apply made no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_killed_apply_leaves_a_lock_and_the_rerun_converges_without_writing_twice() {
    let env = TestEnv::start(Duration::from_millis(150));
    let plan = save_plan(&env, "plan.json");
    // Kill it hard once some actions are written and logged.
    kill_apply_after(&env, &plan, "2", 3);
    let logged_before = audit_keys(&env).len();

    // The lock is left behind: a second apply is refused and names the dead holder.
    let refused = env.run(&["apply", plan.to_str().unwrap(), "--policy", env.dir()]);
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused.stderr));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("e2e-test")
            && stderr.contains("looks stale")
            && stderr.contains("--force-unlock"),
        "{stderr}"
    );
    let unlock = env.run(&["apply", "--force-unlock", "--policy", env.dir()]);
    assert_eq!(unlock.status.code(), Some(0), "{}", text(&unlock.stderr));

    let rerun = env.run(&["apply", plan.to_str().unwrap(), "--policy", env.dir()]);
    assert_eq!(
        rerun.status.code(),
        Some(0),
        "{}{}",
        text(&rerun.stdout),
        text(&rerun.stderr)
    );
    assert!(
        text(&rerun.stderr).contains("Resuming"),
        "{}",
        text(&rerun.stderr)
    );
    assert_eq!(changes(&env), (0, 0));
    let keys = audit_keys(&env);
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        keys.len(),
        unique.len(),
        "no audit line duplicated: {keys:?}"
    );
    assert!(keys.len() > logged_before);
    assert_eq!(
        env.stats()["duplicate_writes"],
        0,
        "no write executed twice"
    );
    let verify = env.run(&["audit", "verify", env.audit_log().to_str().unwrap()]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
}

#[test]
fn a_second_concurrent_apply_is_refused_while_the_first_holds_the_lock() {
    let env = TestEnv::start(Duration::from_millis(100));
    let plan = save_plan(&env, "plan.json");
    let mut first = env
        .command(&[
            "apply",
            plan.to_str().unwrap(),
            "--policy",
            env.dir(),
            "--parallelism",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = env.policy.path().join("audit/seatkeeper.jsonl.lock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lock.exists() {
        assert!(
            Instant::now() < deadline,
            "the first apply never took the lock"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = env.run(&["apply", plan.to_str().unwrap(), "--policy", env.dir()]);
    assert_eq!(second.status.code(), Some(3), "{}", text(&second.stderr));
    let stderr = text(&second.stderr);
    assert!(
        stderr.contains("another apply or notify is running")
            && stderr.contains(&format!("pid {}", first.id())),
        "{stderr}"
    );
    assert!(!stderr.contains("looks stale"), "{stderr}");
    assert_eq!(first.wait().unwrap().code(), Some(0));
    assert!(!lock.exists(), "the lock is released when the apply ends");
}

#[test]
fn wrong_credentials_fail_clearly_and_no_secret_is_ever_printed() {
    let env = TestEnv::start(Duration::ZERO);
    let out = env
        .command(&["plan", "--policy", env.dir()])
        .env("ATLASSIAN_API_TOKEN", "wrong-token-3b8e0c")
        .env("ATLASSIAN_ADMIN_API_KEY", "wrong-key-77aa19")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("401"), "{all}");
    assert!(
        !all.contains("wrong-token-3b8e0c") && !all.contains("wrong-key-77aa19"),
        "{all}"
    );

    // A full plan, apply and verify: the real credentials appear in no output and no file.
    let plan = save_plan(&env, "plan.json");
    let apply = env.run(&["apply", plan.to_str().unwrap(), "--policy", env.dir()]);
    let mut everything = format!("{}{}", text(&apply.stdout), text(&apply.stderr));
    everything.push_str(&std::fs::read_to_string(&plan).unwrap());
    everything.push_str(&std::fs::read_to_string(env.audit_log()).unwrap());
    for secret in [TOKEN, ADMIN_KEY] {
        assert!(!everything.contains(secret), "a secret leaked");
    }

    // Plain http:// to a non-loopback host is refused before any request.
    let insecure = env
        .command(&["plan", "--policy", env.dir()])
        .env("SEATKEEPER_API_BASE", "http://atlassian.example.com")
        .output()
        .unwrap();
    assert_eq!(insecure.status.code(), Some(1));
    assert!(text(&insecure.stderr).contains("refusing to send credentials over plain http://"));
}

#[test]
fn a_host_that_cannot_be_reached_is_named_within_10_seconds() {
    let env = TestEnv::start(Duration::ZERO);
    // A closed port: connections are refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = closed.local_addr().unwrap();
    drop(closed);
    // A port whose accept queue is full: connection attempts go unanswered, as to a host that
    // drops them.
    let silent = env.runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        socket.listen(0).unwrap()
    });
    let dropped = silent.local_addr().unwrap();
    let _queued: Vec<_> = (0..2)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&dropped, Duration::from_millis(300)).ok()
        })
        .collect();
    for (addr, why) in [(refused, "refused"), (dropped, "connect timeout")] {
        let started = Instant::now();
        let out = env
            .command(&["plan", "--policy", env.dir(), "--at", AT])
            .env("SEATKEEPER_API_BASE", format!("http://{addr}"))
            .output()
            .unwrap();
        let took = started.elapsed();
        let stderr = text(&out.stderr);
        eprintln!("{why}: {took:?}: {stderr}");
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("could not connect to {addr}"))
                && stderr.contains(why)
                && stderr.contains(&format!("check SEATKEEPER_API_BASE (http://{addr})")),
            "{stderr}"
        );
        assert!(took < Duration::from_secs(10), "{why}: {took:?}");
    }
}

#[test]
fn a_time_limit_stops_reads_and_apply_cleanly_and_a_rerun_finishes_without_writing_twice() {
    let env = TestEnv::start(Duration::from_millis(200));
    // A read stops at the limit (flag or environment), with exit 1.
    for (flag, var) in [(Some("1s"), None), (None, Some("1s"))] {
        let mut cmd = env.command(&["plan", "--policy", env.dir(), "--at", AT]);
        if let Some(flag) = flag {
            cmd.args(["--timeout", flag]);
        }
        if let Some(var) = var {
            cmd.env("SEATKEEPER_TIMEOUT", var);
        }
        let started = Instant::now();
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(
                "stopped at the time limit of 1s (--timeout or SEATKEEPER_TIMEOUT) while"
            ),
            "{}",
            text(&out.stderr)
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    // Apply: a limit that passes during the writes (each takes 200 ms, one at a time). The
    // reads before them take about as long as a plan's: limits from there up until one lands.
    let plan = save_plan(&env, "plan.json");
    let started = Instant::now();
    let (adds, removes) = changes(&env);
    let read = started.elapsed().as_secs() + 1;
    let total = adds + removes;
    let mut stopped = None;
    for extra in [2, 3, 5] {
        let limit = format!("{}s", read + extra);
        let out = env.run(&[
            "apply",
            plan.to_str().unwrap(),
            "--policy",
            env.dir(),
            "--parallelism",
            "1",
            "--timeout",
            &limit,
        ]);
        let stderr = text(&out.stderr);
        match out.status.code() {
            // The limit passed while reading: nothing was written; try a longer one.
            Some(1) if stderr.contains("before any write") || stderr.contains("nothing was") => {
                assert_eq!(env.stats()["writes_applied"], 0, "{stderr}");
            }
            Some(5) => {
                stopped = Some((limit, stderr));
                break;
            }
            code => panic!("apply --timeout {limit} exited {code:?}: {stderr}"),
        }
    }
    let (limit, stderr) = stopped.expect("a limit that stops the apply mid-write");
    let writes = |env: &TestEnv| {
        let keys = audit_keys(env);
        keys.into_iter()
            .filter(|k| k.0 == "add" || k.0 == "remove")
            .collect::<Vec<_>>()
    };
    let done = writes(&env).len();
    assert!(done > 0 && done < total, "{done} of {total}: {stderr}");
    assert!(
        stderr.contains(&format!(
            "stopped at the time limit of {limit} (--timeout or SEATKEEPER_TIMEOUT): {done} of \
             {total} actions are done and in the audit log (0 by earlier runs), {} not started",
            total - done
        )) && stderr.contains(&format!("Not started ({}):", total - done)),
        "{stderr}"
    );
    let verify = env.run(&["audit", "verify", env.audit_log().to_str().unwrap()]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
    let audit = env.policy.path().join("audit");
    for leftover in ["seatkeeper.jsonl.lock", "seatkeeper.jsonl.inflight.json"] {
        assert!(!audit.join(leftover).exists(), "{leftover} is left behind");
    }
    assert_eq!(env.stats()["writes_applied"], done);

    // The rerun without a limit does the rest, and nothing twice.
    let rerun = env.run(&["apply", plan.to_str().unwrap(), "--policy", env.dir()]);
    assert_eq!(rerun.status.code(), Some(0), "{}", text(&rerun.stderr));
    assert!(text(&rerun.stderr).contains(&format!(
        "Resuming: {done} actions were already applied by an earlier run."
    )));
    assert_eq!(changes(&env), (0, 0));
    let keys = writes(&env);
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((keys.len(), unique.len()), (total, total), "{keys:?}");
    assert!(keys.iter().all(|k| k.3 == "ok"), "{keys:?}");
    let stats = env.stats();
    assert_eq!(stats["writes_applied"], total, "{stats}");
    assert_eq!(stats["duplicate_writes"], 0, "{stats}");
    assert_eq!(stats["membership_writes"]["repeated"], 0, "{stats}");
}

#[test]
fn apply_without_a_plan_or_a_terminal_refuses_to_guess() {
    let env = TestEnv::start(Duration::ZERO);
    let out = env
        .command(&["apply", "--policy", env.dir(), "--at", AT])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--auto-approve"));
    assert_eq!(env.stats()["writes_applied"], 0);

    let auto = env.run(&[
        "apply",
        "--policy",
        env.dir(),
        "--at",
        AT,
        "--auto-approve",
        "--color",
        "never",
    ]);
    assert_eq!(
        auto.status.code(),
        Some(0),
        "{}{}",
        text(&auto.stdout),
        text(&auto.stderr)
    );
    assert!(text(&auto.stdout).contains("Plan: "));
    assert_eq!(changes(&env), (0, 0));
}

#[test]
fn live_reads_see_synced_groups_and_the_planner_blocks_them() {
    let env = TestEnv::start(Duration::ZERO);
    let out = env.run(&[
        "plan",
        "--policy",
        env.dir(),
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: seatkeeper::plan::Plan = serde_json::from_slice(&out.stdout).unwrap();
    let synced: Vec<_> = plan
        .blocked
        .iter()
        .filter(|b| b.rail == seatkeeper::plan::Rail::SyncedGroup)
        .collect();
    assert_eq!(synced.len(), 1, "{:?}", plan.blocked);
    assert_eq!(synced[0].action.group, "confluence-users-okta");
    assert!(plan
        .actions
        .iter()
        .all(|a| a.group != "confluence-users-okta"));
}

#[test]
fn export_writes_a_snapshot_and_a_starting_policy_whose_plan_only_removes_closed_accounts() {
    let env = TestEnv::start(Duration::ZERO);
    let out_dir = tempfile::tempdir().unwrap();
    let snapshot = out_dir.path().join("snapshot.json");
    let starting = out_dir.path().join("policy");
    let out = env.run(&[
        "export",
        "--policy",
        env.dir(),
        "--at",
        AT,
        "--snapshot",
        snapshot.to_str().unwrap(),
        "--policy-out",
        starting.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // The snapshot plans like the live org does.
    let from_file = env.run(&[
        "plan",
        "--policy",
        env.dir(),
        "--at",
        AT,
        "--snapshot",
        snapshot.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let live = env.run(&[
        "plan",
        "--policy",
        env.dir(),
        "--at",
        AT,
        "--format",
        "json",
    ]);
    let a: seatkeeper::plan::Plan = serde_json::from_slice(&from_file.stdout).unwrap();
    let b: seatkeeper::plan::Plan = serde_json::from_slice(&live.stdout).unwrap();
    assert_eq!(a.actions, b.actions);
    assert_eq!(a.fingerprint, b.fingerprint);

    let starting = starting.to_str().unwrap();
    let validate = env.run(&["validate", "--policy", starting]);
    assert_eq!(
        validate.status.code(),
        Some(0),
        "{}",
        text(&validate.stderr)
    );
    let plan = env.run(&[
        "plan",
        "--policy",
        starting,
        "--at",
        AT,
        "--format",
        "json",
        "--detailed-exitcode",
    ]);
    assert_eq!(
        plan.status.code(),
        Some(2),
        "{}{}",
        text(&plan.stdout),
        text(&plan.stderr)
    );
    let plan: seatkeeper::plan::Plan = serde_json::from_slice(&plan.stdout).unwrap();
    // Only the closed accounts that hold seats are removed: they are listed for review.
    let mut touched: Vec<String> = plan
        .actions
        .iter()
        .chain(plan.blocked.iter().map(|b| &b.action))
        .map(|a| format!("{} {}", a.kind.as_str(), a.who()))
        .collect();
    touched.sort();
    touched.dedup();
    assert_eq!(
        touched,
        ["remove formerstaff@acme.com", "remove nadia@acme.com"],
        "{:?}",
        plan.actions
    );

    // Exporting over an existing policy is refused, never overwritten.
    let again = env.run(&["export", "--policy", env.dir(), "--policy-out", starting]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already exists"));
}

#[test]
fn a_full_license_refuses_adds_and_apply_reports_it_without_crashing() {
    let mut state = acme_snapshot();
    // Confluence has 39 holders and the plan frees 6 seats: a limit of 30 leaves no room for
    // its additions even after the removals.
    state
        .licenses
        .insert("confluence".into(), seatkeeper::live::License { limit: 30 });
    let env = TestEnv::start_with(state, Duration::ZERO);
    let plan = save_plan(&env, "plan.json");
    let out = env.run(&["apply", plan.to_str().unwrap(), "--policy", env.dir()]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("FAILED") && stderr.to_lowercase().contains("license"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
    // Failed actions are in the audit log as failed; everything else converged.
    let keys = audit_keys(&env);
    assert!(keys.iter().any(|k| k.3 == "failed"), "{keys:?}");
    let (adds, removes) = changes(&env);
    assert_eq!(removes, 0);
    assert!(adds > 0, "the refused additions are still wanted");
}

#[test]
fn self_tests_report_and_diff_read_live_state_when_no_snapshot_is_given() {
    let env = TestEnv::start(Duration::ZERO);
    let test = env.run(&["test", "--policy", env.dir(), "--at", AT]);
    assert_eq!(
        test.status.code(),
        Some(0),
        "{}{}",
        text(&test.stdout),
        text(&test.stderr)
    );
    let report = env.run(&[
        "report",
        "--policy",
        env.dir(),
        "--at",
        AT,
        "--format",
        "csv",
    ]);
    assert_eq!(report.status.code(), Some(0), "{}", text(&report.stderr));
    assert!(text(&report.stdout).contains("alice@acme.com"));

    let repo = git2::Repository::init(env.policy.path()).unwrap();
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("Owner", "owner@acme.com").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "policy", &tree, &[])
        .unwrap();
    let product = env.policy.path().join("teams/product.yaml");
    let text_before = std::fs::read_to_string(&product).unwrap();
    std::fs::write(
        &product,
        text_before.replace("  - email: rosa@acme.com\n    products: [confluence]\n", ""),
    )
    .unwrap();
    let diff = env.run(&["diff", "--policy", env.dir(), "--base", "HEAD", "--at", AT]);
    assert_eq!(diff.status.code(), Some(0), "{}", text(&diff.stderr));
    let stdout = text(&diff.stdout);
    assert!(
        stdout.contains("Plan delta") && stdout.contains("- rosa@acme.com confluence-users-acme"),
        "{stdout}"
    );
}

#[test]
fn an_edited_plan_that_reaches_outside_the_policy_is_refused() {
    let env = TestEnv::start(Duration::ZERO);
    let path = save_plan(&env, "plan.json");
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let state = env.state();
    let admins = state
        .groups
        .iter()
        .find(|g| g.name == "site-admins")
        .unwrap();
    let mut sneaky = plan["actions"][0].clone();
    sneaky["kind"] = "add".into();
    sneaky["group"] = admins.name.clone().into();
    sneaky["group_id"] = admins.id.clone().into();
    plan["actions"].as_array_mut().unwrap().push(sneaky);
    std::fs::write(&path, serde_json::to_vec(&plan).unwrap()).unwrap();
    let out = env.run(&["apply", path.to_str().unwrap(), "--policy", env.dir()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("refusing the plan: the action `+ ")
            && text(&out.stderr).contains(" site-admins` does not match the policy"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(env.stats()["writes_applied"], 0);
}

/// A saved plan is verified, not trusted: each way of editing one to reach further than the
/// policy is refused with the action and the reason, before any write.
#[test]
fn an_edited_saved_plan_is_re_derived_and_refused() {
    let env = TestEnv::start(Duration::ZERO);
    let path = save_plan(&env, "plan.json");
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let state = env.state();
    let admins = state
        .groups
        .iter()
        .find(|g| g.name == "site-admins")
        .unwrap()
        .clone();
    let user = |email: &str| {
        state
            .users
            .iter()
            .find(|u| u.email.as_deref() == Some(email))
            .unwrap()
            .account_id
            .clone()
    };
    let add_index = original["actions"]
        .as_array()
        .unwrap()
        .iter()
        .position(|a| a["kind"] == "add")
        .unwrap();
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "an add that names a Confluence group but writes to site-admins",
            Box::new(move |plan: &mut serde_json::Value| {
                let id = admins.id.clone();
                let members = admins.members.clone();
                plan["actions"][add_index]["group_id"] = id.clone().into();
                plan["fingerprint"][id] =
                    seatkeeper::plan::fingerprint_members(members.iter().map(String::as_str))
                        .into();
            }),
            "is not the live id of",
        ),
        (
            "an add of someone the policy does not grant",
            Box::new({
                let stranger = user("newcomer@acme.com");
                move |plan: &mut serde_json::Value| {
                    let mut extra = plan["actions"][add_index].clone();
                    extra["account_id"] = stranger.clone().into();
                    extra["email"] = "newcomer@acme.com".into();
                    plan["actions"].as_array_mut().unwrap().push(extra);
                }
            }),
            "does not produce it",
        ),
        (
            "the same action twice",
            Box::new(move |plan: &mut serde_json::Value| {
                let again = plan["actions"][add_index].clone();
                plan["actions"].as_array_mut().unwrap().push(again);
            }),
            "appears twice in the plan",
        ),
    ];
    for (what, edit, why) in cases {
        let mut plan = original.clone();
        edit(&mut plan);
        std::fs::write(&path, serde_json::to_vec(&plan).unwrap()).unwrap();
        let out = env.run(&["apply", path.to_str().unwrap(), "--policy", env.dir()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert!(
            stderr.contains("refusing the plan: the action") && stderr.contains(why),
            "{what}: {stderr}"
        );
        assert_eq!(env.stats()["writes_applied"], 0, "{what}");
    }
    // The plan as it was made applies.
    std::fs::write(&path, serde_json::to_vec(&original).unwrap()).unwrap();
    let out = env.run(&["apply", path.to_str().unwrap(), "--policy", env.dir()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn after_a_kill_a_new_plan_still_records_every_write_the_killed_run_made() {
    let env = TestEnv::start(Duration::from_millis(150));
    let plan = save_plan(&env, "plan.json");
    kill_apply_after(&env, &plan, "4", 2);
    // Let the writes the killed run had in flight land: wait until the sandbox is answering
    // none (no fixed sleep, which a loaded machine can outrun).
    let deadline = Instant::now() + Duration::from_secs(30);
    while env.stats()["in_flight"] != 0 {
        assert!(Instant::now() < deadline, "requests stay in flight");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(env
        .policy
        .path()
        .join("audit/seatkeeper.jsonl.inflight.json")
        .exists());

    let unlock = env.run(&["apply", "--force-unlock", "--policy", env.dir()]);
    assert_eq!(unlock.status.code(), Some(0));
    // Not the same plan: plan again and apply, as a scheduled job would.
    let out = env.run(&[
        "apply",
        "--policy",
        env.dir(),
        "--at",
        AT,
        "--auto-approve",
        "--color",
        "never",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(changes(&env), (0, 0));

    // Every write the sandbox applied has exactly one ok add/remove line in the audit log.
    let writes = env.stats()["writes_applied"].as_u64().unwrap() as usize;
    let keys = audit_keys(&env);
    let lines = keys
        .iter()
        .filter(|k| (k.0 == "add" || k.0 == "remove") && k.3 == "ok")
        .count();
    assert_eq!(lines, writes, "{keys:?}");
    let mut unique: Vec<_> = keys.iter().map(|k| (&k.0, &k.1, &k.2)).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "no membership recorded twice");
    assert!(!env
        .policy
        .path()
        .join("audit/seatkeeper.jsonl.inflight.json")
        .exists());
    assert_eq!(env.stats()["duplicate_writes"], 0);
}

/// `export --snapshot` against the sandbox with `extra` arguments, as the snapshot it wrote.
fn export_snapshot(env: &TestEnv, extra: &[&str]) -> LiveState {
    let path = env.policy.path().join("exported.json");
    let mut args = vec![
        "export",
        "--policy",
        env.dir(),
        "--snapshot",
        path.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = env.run(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    seatkeeper::files::load_snapshot(&path).unwrap()
}

fn t(s: &str) -> chrono::DateTime<chrono::Utc> {
    s.parse().unwrap()
}

#[test]
fn a_live_read_for_a_past_time_reads_the_events_of_that_past_window() {
    // Logins of one account at several past times; the plan is made for 2025-04-01.
    let mut state = acme_snapshot();
    let who = state.users[1].account_id.clone();
    for time in [
        "2024-10-01T00:00:00Z", // 182 days before: older than the longest window (142 days)
        "2025-01-15T00:00:00Z", // 76 days before: inside it (a 30-day read missed it)
        "2025-03-31T12:00:00Z", // the day before
        "2025-04-02T00:00:00Z", // after the plan's time
    ] {
        state.events.push(seatkeeper::live::Event {
            time: t(time),
            action: seatkeeper::live::EventAction::UserLoggedIn,
            account_id: who.clone(),
            product: None,
            group_id: None,
        });
    }
    let env = TestEnv::start_with(state, Duration::ZERO);
    let read = export_snapshot(&env, &["--at", "2025-04-01T00:00:00Z"]);
    let times: Vec<String> = read.events.iter().map(|e| e.time.to_rfc3339()).collect();
    assert_eq!(
        times,
        ["2025-01-15T00:00:00+00:00", "2025-03-31T12:00:00+00:00"],
        "exactly the events of the window before --at"
    );
    // acme's longest window: confluence, 120d inactivity + 1d grace + 21d notice = 142 days.
    let wanted = t("2025-04-01T00:00:00Z") - chrono::TimeDelta::days(142);
    let events_read = read.events_read.unwrap();
    assert_eq!(events_read.wanted_from, wanted);
    assert_eq!(events_read.covered_from, Some(wanted));
    assert!(events_read.is_complete());
    assert_eq!(read.taken_at, t("2025-04-01T00:00:00Z"));
}

#[test]
fn an_org_without_guard_has_no_events_and_the_read_still_succeeds() {
    let env = TestEnv::start_with_org(acme_snapshot(), Duration::ZERO, |org| org.guard = false);
    let read = export_snapshot(&env, &["--at", AT]);
    assert!(read.events.is_empty());
    let events_read = read.events_read.unwrap();
    assert_eq!(events_read.covered_from, None);
    assert_eq!(
        events_read.wanted_from,
        t(AT) - chrono::TimeDelta::days(142)
    );
    let note = events_read.note.unwrap();
    assert!(
        note.contains("403") && note.contains("Atlassian Guard"),
        "{note}"
    );
    assert_eq!(
        env.stats()["responses_by_status"]["403"],
        1,
        "asked once: {}",
        env.stats()
    );
    // Planning goes on without events.
    let plan = env.run(&[
        "plan",
        "--policy",
        env.dir(),
        "--at",
        AT,
        "--color",
        "never",
    ]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stderr));
}

/// The audit lines this test's applies wrote (after the example's own history).
fn new_audit_lines(env: &TestEnv) -> Vec<serde_json::Value> {
    let seed = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/acme/audit/seatkeeper.jsonl"),
    )
    .unwrap();
    std::fs::read_to_string(env.audit_log())
        .unwrap()
        .lines()
        .skip(seed.lines().count())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn plan_at(env: &TestEnv, at: &str) -> seatkeeper::plan::Plan {
    let out = env.run(&[
        "plan",
        "--policy",
        env.dir(),
        "--at",
        at,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn apply_at_against_the_sandbox_plans_for_that_time_and_stamps_the_audit_lines_with_it() {
    let env = TestEnv::start(Duration::ZERO);
    let at = "2027-03-01T00:00:00Z";
    let planned = plan_at(&env, at);
    let (adds, removes) = planned.counts();
    assert!(adds + removes > 0);
    let out = env.run(&[
        "apply",
        "--policy",
        env.dir(),
        "--at",
        at,
        "--auto-approve",
        "--color",
        "never",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let lines = new_audit_lines(&env);
    let writes = lines
        .iter()
        .filter(|l| l["kind"] == "add" || l["kind"] == "remove")
        .count();
    assert_eq!(writes, adds + removes, "the plan made for --at was applied");
    assert!(
        lines.iter().all(|l| l["time"] == at),
        "every line at --at: {lines:#?}"
    );
    assert_eq!(plan_at(&env, at).counts(), (0, 0));
    let verify = env.run(&["audit", "verify", env.audit_log().to_str().unwrap()]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
}

#[test]
fn apply_plan_at_sets_only_the_audit_times_and_never_before_the_plan() {
    let env = TestEnv::start(Duration::ZERO);
    let plan = save_plan(&env, "plan.json");
    let (adds, removes) = changes(&env);
    let early = env.run(&[
        "apply",
        plan.to_str().unwrap(),
        "--policy",
        env.dir(),
        "--at",
        "2026-11-24T00:00:00Z",
    ]);
    assert_eq!(early.status.code(), Some(1), "{}", text(&early.stderr));
    assert!(
        text(&early.stderr).contains("before the plan was made (2026-11-25T08:00:00Z)"),
        "{}",
        text(&early.stderr)
    );
    assert_eq!(env.stats()["writes_applied"], 0);

    let later = "2026-12-01T09:30:00Z";
    let out = env.run(&[
        "apply",
        plan.to_str().unwrap(),
        "--policy",
        env.dir(),
        "--at",
        later,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let lines = new_audit_lines(&env);
    let writes = lines
        .iter()
        .filter(|l| l["kind"] == "add" || l["kind"] == "remove")
        .count();
    assert_eq!(writes, adds + removes, "exactly the saved plan's actions");
    assert!(lines.iter().all(|l| l["time"] == later), "{lines:#?}");
}

#[test]
fn apply_at_is_refused_with_no_request_unless_the_base_is_a_local_sandbox() {
    let env = TestEnv::start(Duration::ZERO);
    let plan = save_plan(&env, "plan.json");
    let before = env.stats()["requests"].clone();
    let audit_before = std::fs::read_to_string(env.audit_log()).unwrap();
    // Something listening where a non-loopback base (0.0.0.0 reaches this machine) points: it
    // must never see a connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let remote = format!("https://0.0.0.0:{port}");
    for base in [
        Some(remote.as_str()),
        Some("https://api.atlassian.com"),
        None,
    ] {
        for args in [
            vec!["apply", "--policy", env.dir(), "--at", AT, "--auto-approve"],
            vec![
                "apply",
                plan.to_str().unwrap(),
                "--policy",
                env.dir(),
                "--at",
                AT,
            ],
        ] {
            let mut cmd = env.command(&args);
            match base {
                Some(b) => cmd.env("SEATKEEPER_API_BASE", b),
                None => cmd.env_remove("SEATKEEPER_API_BASE"),
            };
            let out = cmd.output().unwrap();
            assert_eq!(out.status.code(), Some(1), "{base:?} {}", text(&out.stderr));
            let stderr = text(&out.stderr);
            assert!(
                stderr.contains("--at on `apply` is only for rehearsals against a local sandbox"),
                "{stderr}"
            );
            let target = match base {
                None => "Atlassian Cloud",
                Some(b) if b.contains("0.0.0.0") => "`0.0.0.0`",
                Some(_) => "`api.atlassian.com`",
            };
            assert!(stderr.contains(target), "{stderr}");
        }
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "no connection was attempted"
    );
    assert_eq!(
        env.stats()["requests"],
        before,
        "no request reached the sandbox"
    );
    assert_eq!(
        std::fs::read_to_string(env.audit_log()).unwrap(),
        audit_before
    );
}

/// `init` with only an admin API key: it finds the products and their granting groups, and
/// writes a policy sorted by email, with explicit products and a comment per person, whose plan
/// only removes the closed accounts that still hold seats.
#[test]
fn init_bootstraps_a_policy_from_credentials_alone() {
    let env = TestEnv::start(Duration::ZERO);
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("policy");
    let dir_arg = dir.to_str().unwrap();
    let init = |dir: &str, extra: &[&str]| {
        let mut args = vec!["init", dir, "--site", "acme.atlassian.net", "--at", AT];
        args.extend_from_slice(extra);
        env.command(&args)
            .env_remove("ATLASSIAN_EMAIL")
            .env_remove("ATLASSIAN_API_TOKEN")
            .output()
            .unwrap()
    };
    // The org is found from the key.
    let out = init(dir_arg, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let main = std::fs::read_to_string(dir.join("seatkeeper.yaml")).unwrap();
    let team = std::fs::read_to_string(dir.join("teams/exported.yaml")).unwrap();
    // The granting groups were found through role assignments.
    assert!(
        main.contains("jira-software:\n    groups: [\"jira-software-users-acme\"]"),
        "{main}"
    );
    assert!(main.contains("confluence-users-okta"), "{main}");
    assert!(main.contains("\nsafety:\n"), "{main}");
    // Sorted by email, every entry with its products and a comment saying who it is.
    let emails: Vec<&str> = team
        .lines()
        .filter_map(|l| l.strip_prefix("  - email: "))
        .collect();
    assert!(emails.len() > 30, "{team}");
    let mut sorted = emails.clone();
    sorted.sort();
    assert_eq!(emails, sorted);
    let entries = team.lines().filter(|l| l.starts_with("  - ")).count();
    let products = team
        .lines()
        .filter(|l| l.starts_with("    products: ["))
        .count();
    assert_eq!(entries, products, "{team}");
    assert!(
        team.contains("  # Alice Moreau · joined 2024-02-01 · last active: confluence 2026-11-23")
    );
    // Closed accounts holding seats are listed for review, not kept.
    assert!(
        team.contains("#   nadia@acme.com (closed account"),
        "{team}"
    );
    assert!(!team.contains("- email: \"nadia@acme.com\""));
    assert!(!main.contains("keep:"), "{main}");

    assert_eq!(
        env.run(&["validate", "--policy", dir_arg]).status.code(),
        Some(0)
    );
    let plan = env.run(&["plan", "--policy", dir_arg, "--at", AT, "--format", "json"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stderr));
    let plan: seatkeeper::plan::Plan = serde_json::from_slice(&plan.stdout).unwrap();
    let mut touched: Vec<String> = plan
        .actions
        .iter()
        .chain(plan.blocked.iter().map(|b| &b.action))
        .map(|a| format!("{} {}", a.kind.as_str(), a.who()))
        .collect();
    touched.sort();
    touched.dedup();
    assert_eq!(
        touched,
        ["remove formerstaff@acme.com", "remove nadia@acme.com"],
        "{:?}",
        plan.actions
    );

    // A folder that is not empty is refused; a failed init leaves nothing behind.
    let again = init(dir_arg, &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("not empty"),
        "{}",
        text(&again.stderr)
    );
    let other = parent.path().join("other");
    let org = acme_snapshot().org_id.unwrap();
    let failed = init(
        other.to_str().unwrap(),
        &["--org", &org, "--cloud-id", "nope"],
    );
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed.stderr));
    assert!(text(&failed.stderr).contains("no group grants a product on cloud id nope"));
    assert!(!other.exists());
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 1);
}

/// Every exit code the README's table documents, each reached the way it says, in one place:
/// CI branches on these.
#[test]
fn every_documented_exit_path() {
    let env = TestEnv::start(Duration::ZERO);
    let code = |out: &Output| out.status.code();
    let plan_args = |extra: &[&str]| {
        let mut args = vec!["plan", "--policy", env.dir(), "--at", AT];
        args.extend_from_slice(extra);
        env.run(&args)
    };

    // 0: success.
    assert_eq!(
        code(&env.run(&["validate", "--policy", env.dir()])),
        Some(0)
    );
    // 1: usage errors, bad input, and a network that is not there.
    let usage = env.run(&["plan", "--detailed-exitcode", "--snapshto", "x"]);
    assert_eq!(code(&usage), Some(1), "{}", text(&usage.stderr));
    let missing = env.run(&["validate", "--policy", "/nonexistent/policy"]);
    assert_eq!(code(&missing), Some(1));
    let unreachable = env
        .command(&["plan", "--policy", env.dir(), "--at", AT])
        .env("SEATKEEPER_API_BASE", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(code(&unreachable), Some(1), "{}", text(&unreachable.stderr));
    // 3: a rail held actions back and a human must look (acme's plan removes more than 10%
    // of confluence's holders without `--allow-mass-removal` when the rail is the default).
    let rails = env.policy.path().join("seatkeeper.yaml");
    let original = std::fs::read_to_string(&rails).unwrap();
    std::fs::write(
        &rails,
        original.replace("max_removals: 35%", "max_removals: 1"),
    )
    .unwrap();
    let held = plan_args(&["--detailed-exitcode"]);
    assert_eq!(code(&held), Some(3), "{}", text(&held.stdout));
    std::fs::write(&rails, &original).unwrap();
    // 2: changes present.
    assert_eq!(code(&plan_args(&["--detailed-exitcode"])), Some(2));
    // 3: apply refuses without a plan or a terminal to confirm on.
    let unconfirmed = env
        .command(&["apply", "--policy", env.dir(), "--at", AT])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&unconfirmed), Some(3), "{}", text(&unconfirmed.stderr));
    // 4: a saved plan whose groups changed since (someone adds a member by hand).
    let plan = save_plan(&env, "plan.json");
    let state = env.state();
    let group = state
        .groups
        .iter()
        .find(|g| g.name == "jira-software-users-acme")
        .unwrap();
    let outsider = state
        .users
        .iter()
        .find(|u| u.email.as_deref() == Some("guest@partner.example"))
        .unwrap();
    let url = format!("{}/rest/api/3/group/user?groupId={}", env.base, group.id);
    let added = env.runtime.block_on(async {
        reqwest::blocking_free_client()
            .post(url)
            .basic_auth(EMAIL, Some(TOKEN))
            .json(&serde_json::json!({ "accountId": outsider.account_id }))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(added.as_u16(), 201);
    let stale = env.run(&["apply", plan.to_str().unwrap()]);
    assert_eq!(code(&stale), Some(4), "{}", text(&stale.stderr));
    // 0: applied; then with --detailed-exitcode, nothing left to do.
    let applied = env.run(&["apply", "--policy", env.dir(), "--at", AT, "--auto-approve"]);
    assert_eq!(code(&applied), Some(0), "{}", text(&applied.stderr));
    assert_eq!(code(&plan_args(&["--detailed-exitcode"])), Some(0));

    // 5: partially applied (a full licence refuses the additions).
    let mut state = acme_snapshot();
    state
        .licenses
        .insert("confluence".into(), seatkeeper::live::License { limit: 30 });
    let full = TestEnv::start_with(state, Duration::ZERO);
    let plan = save_plan(&full, "plan.json");
    let partial = full.run(&["apply", plan.to_str().unwrap()]);
    assert_eq!(code(&partial), Some(5), "{}", text(&partial.stderr));
}

#[path = "apply_e2e/soak.rs"]
mod soak;
