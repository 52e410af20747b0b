//! The fault soak (issue 12): a generated org of 3,000 users behind the sandbox's documented
//! fault mix, a policy whose plan has more than 2,000 actions, and `seatkeeper apply` killed with
//! SIGKILL at five random points of its writes, rerun after each kill until it exits 0. At the
//! end the audit log verifies and holds exactly one `ok` line per change, the sandbox saw no
//! membership written twice, and the org is what the plan meant it to be.
//!
//! The kill points come from a seeded RNG whose seed is printed; `SEATKEEPER_SOAK_SEED=N`
//! draws the same kill points again: each is a number of audit lines into a run plus a few
//! milliseconds. The faults follow their own fixed seed; how the requests of a run interleave
//! still varies with thread timing.

use super::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use seatkeeper::sandbox::{AdminLimits, FaultConfig};
use std::collections::{BTreeMap, BTreeSet, HashMap};

const USERS: usize = 3000;
const KILLS: usize = 5;
/// The fault mix the README documents for `--faults`.
const FAULTS: &str = "5xx=0.05,reset=0.01,slow-body=0.02,latency=20ms,jitter=10ms,seed=42";

impl TestEnv {
    /// A sandbox serving a generated org of `users` (fixed seed, clock pinned at [`AT`]) with
    /// `faults` and the admin API's budgets per second instead of per minute, and an empty
    /// policy folder.
    fn generated(users: usize, faults: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut config = SandboxConfig {
            now: Some(t(AT)),
            faults: FaultConfig::parse(faults).unwrap(),
            // 200 requests a second per admin path: writes are paced, and now and then a 429.
            admin_limits: Some(AdminLimits {
                events_per_path: 1000,
                events_per_user: 1000,
                last_active_per_org: 1000,
                other_per_path: 200,
                window: Duration::from_secs(1),
            }),
            ..SandboxConfig::default()
        };
        config.credentials.email = EMAIL.into();
        config.credentials.api_token = TOKEN.into();
        config.credentials.admin_api_key = ADMIN_KEY.into();
        let source = OrgSource::Generate { users, seed: 7 };
        let org = sandbox::load_org(&source, &config).unwrap();
        let sandbox = runtime.block_on(sandbox::serve(config, org)).unwrap();
        let base = sandbox.base_url();
        Self {
            runtime,
            sandbox: Some(sandbox),
            base,
            policy: tempfile::tempdir().unwrap(),
        }
    }

    /// Waits until the sandbox answers no API request: a killed apply's requests have landed
    /// or were dropped with their connections.
    fn wait_until_quiet(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.stats()["in_flight"] != 0 {
            assert!(
                Instant::now() < deadline,
                "requests stay in flight: {}",
                self.stats()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A policy for the generated org whose plan changes most seats: the active people, in account
/// order, may hold Jira Software two in three, Confluence one in two, Jira Service Management
/// one in five. Holders outside that lose the seat, the others gain it (within the licences).
fn write_policy(env: &TestEnv, state: &LiveState) {
    use seatkeeper::live::{AccountStatus, AccountType};
    use seatkeeper::sandbox::generate::{
        CONFLUENCE_GROUP, JSM_GROUP, JSW_CONTRACTORS_GROUP, JSW_GROUP,
    };
    let mut people: Vec<&str> = state
        .users
        .iter()
        .filter(|u| u.account_type == AccountType::Atlassian && u.status == AccountStatus::Active)
        .map(|u| u.account_id.as_str())
        .collect();
    people.sort_unstable();
    let mut yaml = format!(
        "version: 1\nsite: {}\norg: {}\nproducts:\n  \
         jira-software:\n    groups: [{JSW_GROUP}, {JSW_CONTRACTORS_GROUP}]\n  \
         confluence:\n    groups: [{CONFLUENCE_GROUP}]\n  \
         jira-servicedesk:\n    groups: [{JSM_GROUP}]\n\
         keep:\n  - email: {EMAIL}\n  - group: site-admins\n  - account_type: app\n\
         ignore:\n  - account_type: customer\n\
         safety:\n  max_removals: 100%\n  max_additions: 10000\n\
         users:\n",
        state.site,
        state.org_id.as_deref().unwrap()
    );
    for (k, id) in people.iter().enumerate() {
        let products: Vec<&str> = [
            (k % 3 != 0, "jira-software"),
            (k % 2 == 0, "confluence"),
            (k % 5 == 0, "jira-servicedesk"),
        ]
        .into_iter()
        .filter_map(|(holds, p)| holds.then_some(p))
        .collect();
        if !products.is_empty() {
            yaml.push_str(&format!(
                "  - account_id: \"{id}\"\n    products: [{}]\n",
                products.join(", ")
            ));
        }
    }
    std::fs::write(env.policy.path().join("seatkeeper.yaml"), yaml).unwrap();
}

fn line_count(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

/// Membership by group id, as sets.
fn memberships(state: &LiveState) -> BTreeMap<String, BTreeSet<String>> {
    state
        .groups
        .iter()
        .map(|g| (g.id.clone(), g.members.iter().cloned().collect()))
        .collect()
}

#[test]
fn fault_soak_five_kills_during_a_3000_user_apply_converge_with_one_line_per_change() {
    let started = Instant::now();
    let seed: u64 = std::env::var("SEATKEEPER_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("fault soak: seed {seed} (SEATKEEPER_SOAK_SEED={seed} draws the same kill points)");
    let mut rng = SmallRng::seed_from_u64(seed);

    let env = TestEnv::generated(USERS, FAULTS);
    let initial = env.state();
    assert_eq!(initial.users.len(), USERS);
    write_policy(&env, &initial);
    let plan_path = save_plan(&env, "plan.json");
    let plan: seatkeeper::plan::Plan =
        serde_json::from_str(&std::fs::read_to_string(&plan_path).unwrap()).unwrap();
    let total = plan.actions.len();
    let (adds, removes) = plan.counts();
    assert!(total > 2000, "the plan has {total} actions");
    eprintln!("fault soak: plan of {total} actions ({adds} add, {removes} remove)");

    let audit = env.audit_log();
    let apply_args = [
        "apply",
        plan_path.to_str().unwrap(),
        "--policy",
        env.dir(),
        "--color",
        "never",
    ];
    let mut runs = 0;
    for kill in 0..KILLS {
        // Somewhere in the next share of what is left, so that every kill lands mid-write.
        let logged = line_count(&audit);
        let left = total.saturating_sub(logged).max(KILLS);
        let target = logged + rng.gen_range(1..=left / (KILLS - kill + 1));
        let linger = Duration::from_millis(rng.gen_range(0..40));
        let mut child = env
            .command(&apply_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        runs += 1;
        let deadline = Instant::now() + Duration::from_secs(60);
        while line_count(&audit) < target {
            assert!(
                child.try_wait().unwrap().is_none(),
                "kill {kill}: the apply ended before {target} audit lines"
            );
            assert!(Instant::now() < deadline, "kill {kill}: no progress");
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(linger);
        child.kill().unwrap();
        child.wait().unwrap();
        eprintln!(
            "fault soak: kill {} at {} audit lines (+{} ms), {:.1}s in",
            kill + 1,
            line_count(&audit),
            linger.as_millis(),
            started.elapsed().as_secs_f64()
        );
        env.wait_until_quiet();
        let unlock = env.run(&["apply", "--force-unlock", "--policy", env.dir()]);
        assert_eq!(unlock.status.code(), Some(0), "{}", text(&unlock.stderr));
    }
    // Rerun until done: an injected 500 on a write fails that action (exit 5), the next run
    // retries it.
    loop {
        runs += 1;
        let out = env.run(&apply_args);
        match out.status.code() {
            Some(0) => break,
            Some(5) if runs < KILLS + 6 => {}
            code => panic!(
                "apply exited {code:?}:\n{}{}",
                text(&out.stdout),
                text(&out.stderr)
            ),
        }
    }

    // The audit log verifies and holds exactly one successful line per action of the plan.
    let verify = env.run(&["audit", "verify", audit.to_str().unwrap()]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
    let mut lines: HashMap<(String, String, String), usize> = HashMap::new();
    let mut failed = 0;
    let mut observed = 0;
    // Additions that met a full licence, and removals that failed, by product.
    let mut full: HashMap<String, usize> = HashMap::new();
    let mut failed_removals: HashMap<String, usize> = HashMap::new();
    for line in std::fs::read_to_string(&audit).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let kind = match s("kind").as_str() {
            "add" | "remove" if v["result"] == "failed" => {
                if s("error").contains("licen") {
                    *full.entry(s("product")).or_default() += 1;
                } else if s("kind") == "remove" {
                    *failed_removals.entry(s("product")).or_default() += 1;
                }
                failed += 1;
                continue;
            }
            "add" | "remove" => s("kind"),
            "observed" => {
                observed += 1;
                "add".to_string()
            }
            "observed-removal" => {
                observed += 1;
                "remove".to_string()
            }
            _ => continue,
        };
        assert_eq!(v["result"], "ok", "{line}");
        *lines
            .entry((kind, s("group_id"), s("account_id")))
            .or_default() += 1;
    }
    // Additions wait for the seats that removals free: one meets a full licence only when a
    // removal of its product failed (an injected 500) and kept its seat.
    for (product, n) in &full {
        assert!(
            *n <= failed_removals.get(product).copied().unwrap_or(0),
            "{n} additions of {product} met a full licence; removals failed: {failed_removals:?}"
        );
    }
    let wanted: HashMap<(String, String, String), usize> = plan
        .actions
        .iter()
        .map(|a| {
            let kind = match a.kind {
                seatkeeper::plan::ActionKind::Add => "add",
                seatkeeper::plan::ActionKind::Remove => "remove",
            };
            (
                (kind.to_string(), a.group_id.clone(), a.account_id.clone()),
                1,
            )
        })
        .collect();
    let wrong: Vec<_> = lines
        .iter()
        .filter(|(k, n)| wanted.get(*k) != Some(*n))
        .chain(wanted.iter().filter(|(k, _)| !lines.contains_key(*k)))
        .take(10)
        .collect();
    assert!(
        wrong.is_empty() && lines.len() == total,
        "{} changes logged for {total} actions; first mismatches: {wrong:?}",
        lines.len()
    );

    // The sandbox saw every change once and no membership written twice.
    let stats = env.stats();
    assert_eq!(stats["duplicate_writes"], 0, "{stats}");
    assert_eq!(stats["membership_writes"]["repeated"], 0, "{stats}");
    assert_eq!(stats["writes_applied"], total, "{stats}");

    // The org is what the plan meant, and a fresh plan has nothing left to do.
    let mut expected = memberships(&initial);
    for a in &plan.actions {
        let members = expected.get_mut(&a.group_id).unwrap();
        match a.kind {
            seatkeeper::plan::ActionKind::Add => assert!(members.insert(a.account_id.clone())),
            seatkeeper::plan::ActionKind::Remove => assert!(members.remove(&a.account_id)),
        }
    }
    assert!(
        memberships(&env.state()) == expected,
        "the org is not the plan's target"
    );
    assert_eq!(changes(&env), (0, 0), "a fresh plan is empty");
    let dir = env.policy.path().join("audit");
    for leftover in ["seatkeeper.jsonl.lock", "seatkeeper.jsonl.inflight.json"] {
        assert!(!dir.join(leftover).exists(), "{leftover} is left behind");
    }
    eprintln!(
        "fault soak: {total} actions, {KILLS} kills, {runs} applies, {failed} failed attempts \
         logged, {observed} observed, faults {}, 429s {}; {:.1}s",
        stats["faults"],
        stats["rate_limited"],
        started.elapsed().as_secs_f64()
    );
}
