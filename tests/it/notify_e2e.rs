//! Notifications end to end (issue 15): the real `seatkeeper` binary against a sandbox org and a
//! real SMTP server (aiosmtpd on loopback, see `notify_support`).
//!
//! - `notify_e2e::sixty_days_...`: sixty simulated days of `plan --at DAY --out PLAN`, then
//!   `notify PLAN --at DAY+1min`, then `apply PLAN --at DAY+5min`, with people who keep working,
//!   people who leave and people who go idle long enough to be announced and then come back. One
//!   day the SMTP server cannot be reached. At the end, the mail the server received and the
//!   audit log are checked against what `notify:` promises: one `reclaim-soon` email per reclaim,
//!   accepted at least `notice` before it, one `reclaimed` email after it, no other mail, no
//!   Message-ID twice, and the log verifies.
//! - `notify_e2e::a_notify_killed_mid_batch_...`: SIGKILL in the middle of a batch, while the
//!   server holds its answer to a message it has saved; after `apply --force-unlock`, the rerun
//!   sends that message again with the same Message-ID: one distinct Message-ID per person, and
//!   one raw duplicate, the message in doubt.
//! - `notify_e2e::a_returner_announced_again_...`: the `not-notified` rail counts only an email
//!   about the current idle stretch.
//! - the CLI basics: `--dry-run`, a rerun, SMTP credentials kept out of every output, and a
//!   policy without `notify:`.
//!
//! Time is an input: the sandbox clock and `--at` are stepped, nothing sleeps for simulated time.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use crate::notify_support::{smtp_tests_enabled, SmtpOptions, SmtpServer};
use crate::support::text;
use chrono::{DateTime, TimeDelta, Utc};
use seatkeeper::ledger::{AuditKind, AuditRecord, AuditResult, MessageKey};
use seatkeeper::live::{AccountStatus, AccountType, Activity, Group, LiveState, User};
use seatkeeper::plan::{ActionKind, NoticeKind, Plan, Rail, Rule};
use seatkeeper::sandbox::{self, OrgSource, RunningSandbox, SandboxConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

type Time = DateTime<Utc>;

const SITE: &str = "notify.atlassian.net";
const ORG_ID: &str = "6a2f0b8d-3c4e-4f60-9a1b-2c3d4e5f6a7b";
const SVC_EMAIL: &str = "svc-seatkeeper@notify.test";
const TOKEN: &str = "notify-token-4c1d9e";
const ADMIN_KEY: &str = "notify-admin-key-8b2a";
const FROM: &str = "Seat Keeper <seats@notify.test>";

const JSW: &str = "jira-software";
const CONF: &str = "confluence";
const JSW_GROUP: &str = "jira-software-users-nt";
const CONF_GROUP: &str = "confluence-users-nt";
const ADMINS: &str = "site-admins";
const NOTICE_DAYS: i64 = 14;

fn group_of(product: &str) -> &'static str {
    if product == JSW {
        JSW_GROUP
    } else {
        CONF_GROUP
    }
}

fn group_id(name: &str) -> String {
    let n = [JSW_GROUP, CONF_GROUP, ADMINS]
        .iter()
        .position(|g| *g == name)
        .unwrap();
    format!("6a2f0000-0000-4000-8000-00000000000{n}")
}

fn account(i: usize) -> String {
    format!("712020:6a{i:06}-0000-4000-8000-0071f1ed0000")
}

fn start_of_day(t: Time) -> Time {
    t.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc()
}

// ---------------------------------------------------------------------------------------------
// A tiny deterministic PRNG (xorshift64*), as in the reclaim simulation.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo) as u64) as i64
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

// ---------------------------------------------------------------------------------------------
// The org and the policy.

/// One person of the org: who they are and which products they hold.
struct Member {
    email: String,
    products: Vec<&'static str>,
    /// Last activity per product.
    last: BTreeMap<&'static str, Time>,
}

/// Builds an org of `members` plus the service account (an admin in no product group).
fn org(now: Time, members: &[Member]) -> LiveState {
    let mut users = vec![User {
        account_id: account(0),
        email: Some(SVC_EMAIL.into()),
        name: "Seat Keeper".into(),
        account_type: AccountType::Atlassian,
        status: AccountStatus::Active,
        added_to_org: Some(now - TimeDelta::days(900)),
        last_active: Activity::new(),
    }];
    let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::from([
        (JSW_GROUP, Vec::new()),
        (CONF_GROUP, Vec::new()),
        (ADMINS, vec![account(0)]),
    ]);
    for (i, m) in members.iter().enumerate() {
        let id = account(i + 1);
        let mut activity = Activity::new();
        for (p, t) in &m.last {
            activity.insert(*p, *t);
        }
        users.push(User {
            account_id: id.clone(),
            email: Some(m.email.clone()),
            name: format!("Person {}", i + 1),
            account_type: AccountType::Atlassian,
            status: AccountStatus::Active,
            added_to_org: Some(now - TimeDelta::days(400)),
            last_active: activity,
        });
        for p in &m.products {
            groups.get_mut(group_of(p)).unwrap().push(id.clone());
        }
    }
    LiveState {
        format_version: 1,
        site: SITE.into(),
        org_id: Some(ORG_ID.into()),
        taken_at: now,
        users,
        groups: groups
            .into_iter()
            .map(|(name, members)| Group {
                id: group_id(name),
                name: name.to_string(),
                members,
                synced: false,
            })
            .collect(),
        events: Vec::new(),
        licenses: BTreeMap::new(),
        events_read: None,
    }
}

/// The policy: Jira 30 days, Confluence 45 days, both with 14 days' notice; every member a safe
/// user of both. `notify` is the `notify:` block (indented by the caller), if any.
fn policy_yaml(members: &[Member], notify: Option<&str>) -> String {
    let mut y = format!(
        "version: 1\nsite: {SITE}\norg: {ORG_ID}\n\nproducts:\n  \
         {JSW}:\n    groups: [{JSW_GROUP}]\n    inactivity: 30d\n    notice: {NOTICE_DAYS}d\n  \
         {CONF}:\n    groups: [{CONF_GROUP}]\n    inactivity: 45d\n    notice: {NOTICE_DAYS}d\n\n\
         users:\n"
    );
    for m in members {
        writeln!(y, "  - email: {}\n    products: [{JSW}, {CONF}]", m.email).unwrap();
    }
    write!(
        y,
        "\nkeep:\n  - email: {SVC_EMAIL}\n  - group: {ADMINS}\n\n\
         audit_log: audit/seatkeeper.jsonl\n\n\
         safety:\n  max_removals: 50%\n  max_additions: 50\n"
    )
    .unwrap();
    if let Some(n) = notify {
        write!(y, "\nnotify:\n{n}").unwrap();
    }
    y
}

fn notify_block(smtp: &str, rate: &str) -> String {
    format!(
        "  email:\n    smtp: {smtp}\n    from: \"{FROM}\"\n  before_reclaim: true\n  \
         after_reclaim: true\n  rate: {rate}\n"
    )
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------------
// The sandbox, the binary and the files.

struct Sim {
    runtime: tokio::runtime::Runtime,
    sandbox: Option<RunningSandbox>,
    client: reqwest::Client,
    base: String,
    dir: tempfile::TempDir,
    /// Extra environment for every run (SMTP credentials).
    env: Vec<(String, String)>,
}

impl Sim {
    fn start(state: LiveState) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut config = SandboxConfig {
            now: Some(state.taken_at),
            ..SandboxConfig::default()
        };
        config.credentials.email = SVC_EMAIL.into();
        config.credentials.api_token = TOKEN.into();
        config.credentials.admin_api_key = ADMIN_KEY.into();
        let org = sandbox::load_org(&OrgSource::Snapshot(Box::new(state)), &config).unwrap();
        let sandbox = runtime.block_on(sandbox::serve(config, org)).unwrap();
        let base = sandbox.base_url();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("audit")).unwrap();
        Sim {
            runtime,
            sandbox: Some(sandbox),
            client: reqwest::Client::new(),
            base,
            dir,
            env: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn dir_arg(&self) -> String {
        self.dir.path().to_str().unwrap().to_string()
    }

    fn audit_log(&self) -> PathBuf {
        self.path("audit/seatkeeper.jsonl")
    }

    fn records(&self) -> Vec<AuditRecord> {
        if self.audit_log().exists() {
            seatkeeper::audit_log::read_records(&self.audit_log()).unwrap()
        } else {
            Vec::new()
        }
    }

    fn write_policy(&self, yaml: &str) {
        std::fs::write(self.path("seatkeeper.yaml"), yaml).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_seatkeeper"));
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SEATKEEPER_API_BASE", &self.base)
            .env("ATLASSIAN_EMAIL", SVC_EMAIL)
            .env("ATLASSIAN_API_TOKEN", TOKEN)
            .env("ATLASSIAN_ADMIN_API_KEY", ADMIN_KEY)
            .env("SEATKEEPER_ACTOR", "notify-e2e");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn plan(&self, at: Time, out: &Path) -> Plan {
        let out_arg = out.to_str().unwrap();
        let run = self.run(&[
            "plan",
            "--policy",
            &self.dir_arg(),
            "--at",
            &at.to_rfc3339(),
            "--format",
            "json",
            "--out",
            out_arg,
            "--color",
            "never",
        ]);
        ok(&run, &format!("plan --at {at}"));
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
    }

    fn notify(&self, plan: &Path, at: Time, extra: &[&str]) -> Output {
        let mut args = vec![
            "notify".to_string(),
            plan.to_str().unwrap().to_string(),
            "--policy".into(),
            self.dir_arg(),
            "--at".into(),
            at.to_rfc3339(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&args)
    }

    fn apply(&self, plan: &Path, at: Time) -> Output {
        self.run(&[
            "apply",
            plan.to_str().unwrap(),
            "--policy",
            &self.dir_arg(),
            "--at",
            &at.to_rfc3339(),
            "--auto-approve",
            "--color",
            "never",
        ])
    }

    fn verify_audit(&self) {
        let out = self.run(&["audit", "verify", self.audit_log().to_str().unwrap()]);
        ok(&out, "audit verify");
    }

    fn post_all(&self, requests: &[(&str, serde_json::Value)]) {
        self.runtime.block_on(async {
            for (path, body) in requests {
                let resp = self
                    .client
                    .post(format!("{}{path}", self.base))
                    .json(body)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap();
                assert!(
                    status == 200 || status == 201,
                    "{path} {body}: {status} {text}"
                );
            }
        });
    }

    fn set_clock(&self, at: Time) {
        self.post_all(&[(
            "/__sandbox/clock",
            serde_json::json!({ "set": at.to_rfc3339() }),
        )]);
    }

    fn state(&self) -> LiveState {
        self.runtime.block_on(async {
            let resp = self
                .client
                .get(format!("{}/__sandbox/state", self.base))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200);
            serde_json::from_str(&resp.text().await.unwrap()).unwrap()
        })
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(s) = self.sandbox.take() {
            self.runtime.block_on(s.shutdown());
        }
    }
}

fn ok(out: &Output, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A message the SMTP server received: (To, Subject, Message-ID without brackets, body).
#[derive(Debug, Clone)]
struct Delivered {
    to: String,
    subject: String,
    message_id: String,
    body: String,
}

fn delivered(server: &SmtpServer) -> Vec<Delivered> {
    server
        .messages()
        .iter()
        .map(|m| {
            let h = |name: &str| {
                m["headers"][name]
                    .as_str()
                    .unwrap_or_else(|| panic!("no {name} header in {m}"))
                    .to_string()
            };
            let to = h("To");
            // `Name <addr>` or `addr`.
            let to = match to.rsplit_once('<') {
                Some((_, rest)) => rest.trim_end_matches('>').to_string(),
                None => to,
            };
            Delivered {
                to,
                subject: h("Subject"),
                message_id: h("Message-ID")
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string(),
                body: m["body"].as_str().unwrap_or_default().to_string(),
            }
        })
        .collect()
}

/// How many messages the server has accepted so far.
fn delivered_count(server: &SmtpServer) -> usize {
    server.messages().len()
}

fn key_of(r: &AuditRecord) -> MessageKey {
    MessageKey {
        kind: r.rule.clone(),
        account_id: r.account_id.clone(),
        product: r.product.clone(),
        date: r.reclaim_on.unwrap(),
    }
}

fn message_id(key: &MessageKey) -> String {
    seatkeeper::messages::message_id(key, SITE)
}

fn is_reclaim(r: &AuditRecord) -> bool {
    r.kind == AuditKind::Remove && r.result == AuditResult::Ok && r.rule == Rule::Inactive.as_str()
}

fn notified(records: &[AuditRecord], result: AuditResult) -> Vec<&AuditRecord> {
    records
        .iter()
        .filter(|r| r.kind == AuditKind::Notified && r.result == result && !r.account_id.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Sixty days.

const SIM_DAYS: i64 = 60;
const SIM_START: &str = "2027-03-01T06:00:00Z";
/// The day `notify:` is added to the policy: seatkeeper ran without it until then, so reclaims
/// announced earlier were never emailed (and some are due that very day).
const NOTIFY_FROM: i64 = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Persona {
    /// Works in what they hold most days.
    Steady,
    /// Stops working on day `from` and never comes back.
    Leaver,
    /// Away `[from, to)`: long enough to be announced in Jira, back before the reclaim.
    Returner,
}

struct SimPerson {
    persona: Persona,
    from: i64,
    to: i64,
}

impl SimPerson {
    fn works(&self, day: i64) -> bool {
        match self.persona {
            Persona::Steady => true,
            Persona::Leaver => day < self.from,
            Persona::Returner => day < self.from || day >= self.to,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    plans_with_notices: usize,
    emails_sent_by_notify: usize,
    not_notified_blocks: usize,
    reclaims: usize,
    returners_told: usize,
    /// Reclaims due on the day `notify:` was turned on, announced then by email.
    announced_again: usize,
    /// Reclaims before `notify:`, told by a `reclaimed` email when it was turned on.
    reclaimed_told_late: usize,
    reclaimed_after_outage: usize,
    /// Reclaim-soon emails sent too late for the announced date (`notify:` turned on late, the
    /// outage), which name the later day the reclaim waits for.
    named_a_later_date: usize,
    same_day_reruns: usize,
}

#[test]
fn sixty_days_of_plan_notify_apply_tell_everyone_once() {
    if !smtp_tests_enabled("notify_e2e::sixty_days") {
        return;
    }
    let wall = Instant::now();
    let start: Time = SIM_START.parse().unwrap();
    let day_time = |d: i64| start + TimeDelta::days(d);
    let mut rng = Rng(0x0e15_0015_2027_0301);

    // --- The org: 52 people. Steady workers, leavers who stop on some day (some were idle
    // already before the first run, a few long enough to be announced by it, with the first
    // run's 7 days), and returners away 20-26 days (announced in Jira at 16
    // days' idleness, back before the 30-day reclaim; Confluence's 45 days never comes).
    let mut members = Vec::new();
    let mut people = Vec::new();
    for i in 0..52 {
        let persona = match i % 13 {
            0..=5 => Persona::Steady,
            6..=9 => Persona::Leaver,
            _ => Persona::Returner,
        };
        let (from, to) = match persona {
            Persona::Steady => (0, 0),
            // The first leaver's Jira reclaim falls due on the day `notify:` is turned on.
            Persona::Leaver if i == 6 => (-NOTIFY_FROM, SIM_DAYS + 1),
            Persona::Leaver => (rng.range(-26, 22), SIM_DAYS + 1),
            Persona::Returner => {
                let from = rng.range(0, 25);
                (from, from + rng.range(20, 27))
            }
        };
        let mut products = vec![JSW];
        if rng.chance(0.6) {
            products.push(CONF);
        }
        // Before the first run: the last activity of the day before, or, for a leaver already
        // gone, of the day they left.
        let mut last = BTreeMap::new();
        for &p in &products {
            let ago = if from < 0 { -from } else { rng.range(1, 3) };
            last.insert(
                p,
                start - TimeDelta::days(ago) - TimeDelta::minutes(rng.range(60, 600)),
            );
        }
        members.push(Member {
            email: format!("person{i:02}@notify.test"),
            products,
            last,
        });
        people.push(SimPerson { persona, from, to });
    }
    let server = SmtpServer::start(&SmtpOptions::default());
    let good_notify = notify_block(&server.url("smtp"), "1000/s");
    let good_policy = policy_yaml(&members, Some(&good_notify));
    let sim = Sim::start(org(start, &members));
    sim.write_policy(&policy_yaml(&members, None));
    let by_account: BTreeMap<String, usize> =
        (0..members.len()).map(|i| (account(i + 1), i)).collect();
    // (account, product) → every time the test made them active, the initial one included.
    let mut activity: BTreeMap<(String, &str), Vec<Time>> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        for (p, t) in &m.last {
            activity.insert((account(i + 1), p), vec![*t]);
        }
    }
    let mut counters = Counters::default();
    // Day → (account, product) the day's plan held back with rail `not-notified`.
    let mut not_notified: BTreeMap<i64, BTreeSet<(String, String)>> = BTreeMap::new();
    let mut outage: Option<(i64, Vec<MessageKey>)> = None;
    let mut announced_again: Vec<MessageKey> = Vec::new();
    let enabled_at = day_time(NOTIFY_FROM) + TimeDelta::minutes(1);
    let plan_path = sim.path("plan.json");
    let mut spawn_time = Duration::ZERO;

    for day in 0..SIM_DAYS {
        let now = day_time(day);
        sim.set_clock(now);
        if day == NOTIFY_FROM {
            sim.write_policy(&good_policy);
        }

        // --- What people did since yesterday's run: work in the products they still hold.
        let state = sim.state();
        let holds = |id: &str, p: &str| {
            state
                .groups
                .iter()
                .any(|g| g.name == group_of(p) && g.members.iter().any(|m| m == id))
        };
        let mut requests = Vec::new();
        for (i, person) in people.iter().enumerate() {
            let id = account(i + 1);
            if day == 0 || !person.works(day) {
                continue;
            }
            for &p in &members[i].products {
                if holds(&id, p) && rng.chance(0.6) {
                    let t = now - TimeDelta::minutes(rng.range(60, 23 * 60));
                    activity.entry((id.clone(), p)).or_default().push(t);
                    requests.push((
                        "/__sandbox/activity",
                        serde_json::json!({"account_id": id, "product": p, "time": t.to_rfc3339()}),
                    ));
                }
            }
        }
        sim.post_all(&requests);

        // --- The plan.
        let spawned = Instant::now();
        let mut plan = sim.plan(now, &plan_path);
        let records = sim.records();
        let sent: BTreeSet<String> = notified(&records, AuditResult::Ok)
            .iter()
            .map(|r| message_id(&key_of(r)))
            .collect();
        let unsent_soon: Vec<MessageKey> = plan
            .notices
            .iter()
            .filter(|n| n.kind == NoticeKind::ReclaimSoon)
            .map(|n| MessageKey {
                kind: "reclaim-soon".into(),
                account_id: n.account_id.clone(),
                product: n.product.clone(),
                date: n.at.unwrap(),
            })
            .filter(|k| !sent.contains(&message_id(k)))
            .collect();
        if !plan.notices.is_empty() {
            counters.plans_with_notices += 1;
        }
        // The SMTP server cannot be reached for a day: the first day after the first week on
        // which new reclaim-soon emails are due (the policy points at a closed port).
        // One of them a leaver's, so that a reclaim waits for it.
        let leaver_due = unsent_soon
            .iter()
            .any(|k| people[by_account[&k.account_id]].persona == Persona::Leaver);
        // And a day with a few reclaims, whose `reclaimed` emails cannot go out either (each
        // failed email costs its retries, about 3 s, so not many).
        let reclaims_due = plan
            .actions
            .iter()
            .filter(|a| a.kind == ActionKind::Remove && a.rule == Rule::Inactive)
            .count();
        let down = outage.is_none()
            && day > NOTIFY_FROM
            && leaver_due
            && (1..=2).contains(&reclaims_due)
            && unsent_soon.len() <= 2;
        if down {
            let bad = notify_block(&format!("smtp://127.0.0.1:{}", closed_port()), "1000/s");
            sim.write_policy(&policy_yaml(&members, Some(&bad)));
            plan = sim.plan(now, &plan_path);
            outage = Some((day, unsent_soon.clone()));
        }
        let blocked: BTreeSet<(String, String)> = plan
            .blocked
            .iter()
            .filter(|b| b.rail == Rail::NotNotified)
            .map(|b| (b.action.account_id.clone(), b.action.product.clone()))
            .collect();
        counters.not_notified_blocks += blocked.len();
        if day == NOTIFY_FROM {
            // Due today and never emailed: announced again, by email, `notice` from now.
            let again = now + TimeDelta::days(NOTICE_DAYS);
            for (a, p) in &blocked {
                assert!(
                    unsent_soon
                        .iter()
                        .all(|k| !(&k.account_id == a && &k.product == p)),
                    "day {day}: {a} {p} is blocked, not a notice"
                );
                let key = MessageKey {
                    kind: "reclaim-soon".into(),
                    account_id: a.clone(),
                    product: p.clone(),
                    date: again,
                };
                announced_again.push(key);
            }
            counters.announced_again = announced_again.len();
        }
        not_notified.insert(day, blocked);

        // --- notify, a minute later (once the policy has `notify:`).
        if day >= NOTIFY_FROM {
            let before = delivered_count(&server);
            let out = sim.notify(&plan_path, now + TimeDelta::minutes(1), &[]);
            let records = sim.records();
            let new_lines: Vec<&AuditRecord> = records
                .iter()
                .filter(|r| r.time == now + TimeDelta::minutes(1))
                .filter(|r| r.kind == AuditKind::Notified)
                .collect();
            let due: Vec<&MessageKey> = unsent_soon
                .iter()
                .chain(announced_again.iter().filter(|_| day == NOTIFY_FROM))
                .collect();
            if down {
                assert_eq!(
                    out.status.code(),
                    Some(5),
                    "day {day}: notify with the SMTP server down exits 5\n{}{}",
                    text(&out.stdout),
                    text(&out.stderr)
                );
                let said = text(&out.stderr);
                assert!(
                    said.contains("their reclaims wait (rail `not-notified`)"),
                    "day {day}: {said}"
                );
                let failed: BTreeSet<MessageKey> = new_lines
                    .iter()
                    .filter(|r| r.result == AuditResult::Failed)
                    .map(|r| key_of(r))
                    .collect();
                for k in &due {
                    assert!(
                        failed.contains(k),
                        "day {day}: the audit log records the email {k:?} as failed: {failed:?}"
                    );
                }
                assert!(
                    !new_lines.iter().any(|r| r.result == AuditResult::Ok),
                    "day {day}: nothing was accepted while the server was down"
                );
                assert_eq!(delivered_count(&server), before);
            } else {
                ok(&out, &format!("day {day}: notify"));
                for k in &due {
                    assert!(
                        new_lines
                            .iter()
                            .any(|r| r.result == AuditResult::Ok && key_of(r) == **k),
                        "day {day}: the due email {k:?} was sent"
                    );
                }
            }
            let sent_today = delivered_count(&server) - before;
            counters.emails_sent_by_notify += sent_today;
            if sent_today > 0 && !down {
                // A CI job rerun the same morning sends and records nothing.
                let log = std::fs::read(sim.audit_log()).unwrap();
                let again = sim.notify(&plan_path, now + TimeDelta::minutes(2), &[]);
                ok(&again, &format!("day {day}: notify again"));
                assert!(text(&again.stdout).contains("0 email(s) sent, 0 failed"));
                assert_eq!(std::fs::read(sim.audit_log()).unwrap(), log, "day {day}");
                assert_eq!(delivered_count(&server), before + sent_today, "day {day}");
                counters.same_day_reruns += 1;
            }
        } else {
            assert!(!sim.records().iter().any(|r| r.kind.is_message()));
        }

        // --- apply, a few minutes later.
        let applied_at = now + TimeDelta::minutes(5);
        if plan.has_changes() {
            sim.set_clock(applied_at);
            let out = sim.apply(&plan_path, applied_at);
            let reclaims_today = sim
                .records()
                .iter()
                .filter(|r| r.time == applied_at && is_reclaim(r))
                .count();
            if down && reclaims_today > 0 {
                // Its `reclaimed` emails cannot go out either: every change is applied, and the
                // emails are sent by the next run.
                assert_eq!(
                    out.status.code(),
                    Some(5),
                    "day {day}: apply with the SMTP server down\n{}{}",
                    text(&out.stdout),
                    text(&out.stderr)
                );
                let said = text(&out.stderr);
                assert!(
                    said.contains(
                        "were not accepted; they are recorded as failed and sent again by the \
                         next `seatkeeper apply` or `seatkeeper notify`"
                    ),
                    "day {day}: {said}"
                );
            } else {
                ok(&out, &format!("day {day}: apply"));
            }
        }
        spawn_time += spawned.elapsed();
        if down {
            sim.write_policy(&good_policy);
        }
    }

    // --- The end: what the server received, and what the audit log says.
    sim.verify_audit();
    let records = sim.records();
    let mail = delivered(&server);
    let last_day = day_time(SIM_DAYS - 1);

    // No Message-ID was delivered twice.
    let mut ids = BTreeMap::new();
    for m in &mail {
        *ids.entry(m.message_id.clone()).or_insert(0) += 1;
    }
    let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "Message-IDs delivered twice: {twice:?}");

    // Every message delivered is exactly one `notified ok` line, to the person the line names,
    // about the date it names; and every such line is a message the server has.
    let ok_lines = notified(&records, AuditResult::Ok);
    assert_eq!(ok_lines.len(), mail.len(), "one accepted line per message");
    let by_id: BTreeMap<&str, &Delivered> =
        mail.iter().map(|m| (m.message_id.as_str(), m)).collect();
    for r in &ok_lines {
        let key = key_of(r);
        let m = by_id
            .get(message_id(&key).as_str())
            .unwrap_or_else(|| panic!("no delivered message for {key:?}"));
        let who = &members[by_account[&r.account_id]];
        assert_eq!(m.to, who.email, "{key:?}");
        // A reclaimed email names the day of the reclaim; a reclaim-soon email the announced
        // date, or, sent too late for it, the day `notice` after it was sent.
        let named = match key.kind.as_str() {
            "reclaim-soon" => key
                .date
                .max(start_of_day(r.time) + TimeDelta::days(NOTICE_DAYS)),
            _ => key.date,
        };
        let date = named.format("%Y-%m-%d").to_string();
        assert!(
            m.subject.contains(&date) && m.body.contains(&date),
            "{key:?}: the message names {date}: {m:?}"
        );
        match key.kind.as_str() {
            "reclaim-soon" => assert!(m.subject.contains("will be reclaimed"), "{m:?}"),
            "reclaimed" => assert!(!m.subject.contains("will be reclaimed"), "{m:?}"),
            other => panic!("unexpected message kind {other}"),
        }
    }

    // Per reclaim: one reclaim-soon email since the person's last activity, accepted at least
    // `notice` days before it, and one reclaimed email about its day, sent after it.
    let reclaims: Vec<&AuditRecord> = records.iter().filter(|r| is_reclaim(r)).collect();
    counters.reclaims = reclaims.len();
    let mut explained: BTreeSet<String> = BTreeSet::new();
    for r in &reclaims {
        let product: &str = if r.product == JSW { JSW } else { CONF };
        let after: Vec<&&AuditRecord> = ok_lines
            .iter()
            .filter(|l| l.rule == "reclaimed" && l.account_id == r.account_id)
            .filter(|l| l.product == r.product && l.reclaim_on == Some(start_of_day(r.time)))
            .collect();
        if r.time < enabled_at {
            // Before `notify:`: no email came first, and a `reclaimed` email went out when it was
            // turned on only for the reclaims of the 7 days before.
            let recent = r.time >= enabled_at - TimeDelta::days(7);
            assert_eq!(after.len(), usize::from(recent), "{r:?}: {after:?}");
            if recent {
                assert_eq!(after[0].time, enabled_at, "{r:?}");
                explained.insert(message_id(&key_of(after[0])));
                counters.reclaimed_told_late += 1;
            }
            continue;
        }
        let last_active = activity[&(r.account_id.clone(), product)]
            .iter()
            .copied()
            .filter(|t| *t < r.time)
            .max()
            .unwrap();
        let soon: Vec<&&AuditRecord> = ok_lines
            .iter()
            .filter(|l| l.rule == "reclaim-soon" && l.account_id == r.account_id)
            .filter(|l| l.product == r.product && l.time > last_active && l.time < r.time)
            .collect();
        assert_eq!(
            soon.len(),
            1,
            "{} {}: one reclaim-soon email before the reclaim at {}: {soon:?}",
            r.account_id,
            r.product,
            r.time
        );
        let accepted = soon[0].time;
        assert!(
            start_of_day(accepted) + TimeDelta::days(NOTICE_DAYS) <= r.time,
            "{} {}: the reclaim at {} came less than {NOTICE_DAYS} days after the email of {accepted}",
            r.account_id,
            r.product,
            r.time
        );
        explained.insert(message_id(&key_of(soon[0])));
        // The date the email named is the day of the reclaim (or the day before: a date late in
        // the day is reclaimed by the next morning's run), also when the email went out too late
        // for the announced date and the rail held the reclaim back.
        let subject = &by_id[message_id(&key_of(soon[0])).as_str()].subject;
        let named = subject.rsplit(' ').next().unwrap();
        let named: Time = format!("{named}T00:00:00Z").parse().unwrap();
        let reclaim_day = start_of_day(r.time);
        assert!(
            named <= reclaim_day && reclaim_day <= named + TimeDelta::days(1),
            "{} {}: told {subject:?}, reclaimed on {reclaim_day}",
            r.account_id,
            r.product
        );
        if named > start_of_day(soon[0].reclaim_on.unwrap()) {
            counters.named_a_later_date += 1;
        }
        assert_eq!(
            after.len(),
            1,
            "{} {}: one reclaimed email",
            r.account_id,
            r.product
        );
        assert!(after[0].time >= r.time);
        explained.insert(message_id(&key_of(after[0])));
    }
    // Every other email is a reclaim-soon to someone who then came back to work, or whose
    // reclaim the simulation did not reach.
    for r in &ok_lines {
        let key = key_of(r);
        if explained.contains(&message_id(&key)) {
            continue;
        }
        assert_eq!(key.kind, "reclaim-soon", "an unexplained email: {r:?}");
        let product: &str = if r.product == JSW { JSW } else { CONF };
        let came_back = activity[&(r.account_id.clone(), product)]
            .iter()
            .any(|t| *t > r.time);
        let not_yet = key
            .date
            .max(start_of_day(r.time) + TimeDelta::days(NOTICE_DAYS))
            > last_day;
        assert!(
            came_back || not_yet,
            "{key:?}: announced, never reclaimed, never back"
        );
        if came_back {
            counters.returners_told += 1;
            assert_eq!(
                people[by_account[&r.account_id]].persona,
                Persona::Returner,
                "{key:?}"
            );
        }
    }
    // At most one reclaim-soon email per idle stretch (between two activities) of a person in a
    // product: a later plan repeating the notice, or a date that moves, sends nothing new.
    for r in ok_lines.iter().filter(|l| l.rule == "reclaim-soon") {
        let product: &str = if r.product == JSW { JSW } else { CONF };
        let times = &activity[&(r.account_id.clone(), product)];
        let before = times.iter().filter(|t| **t < r.time).max();
        let after = times.iter().filter(|t| **t > r.time).min();
        let same_stretch = ok_lines
            .iter()
            .filter(|l| l.rule == "reclaim-soon" && l.account_id == r.account_id)
            .filter(|l| l.product == r.product)
            .filter(|l| before.is_none_or(|b| l.time > *b) && after.is_none_or(|a| l.time < *a))
            .count();
        assert_eq!(same_stretch, 1, "{:?}", key_of(r));
    }

    // A reclaim due when `notify:` was turned on waited for its email: `notice` days.
    for k in &announced_again {
        let reclaim = reclaims
            .iter()
            .find(|r| r.account_id == k.account_id && r.product == k.product)
            .unwrap_or_else(|| panic!("{k:?} was reclaimed"));
        assert_eq!(start_of_day(reclaim.time), start_of_day(k.date), "{k:?}");
    }

    // People who kept working got nothing.
    for (i, p) in people.iter().enumerate() {
        if p.persona == Persona::Steady {
            let email = &members[i].email;
            assert!(
                !mail.iter().any(|m| &m.to == email),
                "{email} kept working and got mail"
            );
        }
    }

    // The outage: its emails failed, went out the next day, and their reclaims waited for them.
    let (down_day, keys) = outage.expect("a day with the SMTP server down");
    let mut outage_reclaims = 0;
    // The reclaims of that day's apply: their `reclaimed` emails failed with it and went out
    // with the next day's notify.
    for r in reclaims
        .iter()
        .filter(|r| r.time == day_time(down_day) + TimeDelta::minutes(5))
    {
        let key = MessageKey {
            kind: "reclaimed".into(),
            account_id: r.account_id.clone(),
            product: r.product.clone(),
            date: start_of_day(r.time),
        };
        let lines: Vec<(AuditResult, Time)> = records
            .iter()
            .filter(|l| l.kind == AuditKind::Notified && MessageKey::of(l).as_ref() == Some(&key))
            .map(|l| (l.result, l.time))
            .collect();
        assert_eq!(
            lines,
            vec![
                (AuditResult::Failed, r.time),
                (
                    AuditResult::Ok,
                    day_time(down_day + 1) + TimeDelta::minutes(1)
                )
            ],
            "{key:?}"
        );
        counters.reclaimed_after_outage += 1;
    }
    for k in &keys {
        let lines: Vec<&AuditRecord> = records
            .iter()
            .filter(|r| r.kind == AuditKind::Notified && MessageKey::of(r).as_ref() == Some(k))
            .collect();
        assert_eq!(lines[0].result, AuditResult::Failed, "{k:?}");
        let accepted = lines
            .iter()
            .find(|r| r.result == AuditResult::Ok)
            .unwrap_or_else(|| panic!("{k:?} was never sent after the outage"));
        assert_eq!(
            accepted.time,
            day_time(down_day + 1) + TimeDelta::minutes(1),
            "{k:?}: sent by the next day's notify"
        );
        let reclaim = reclaims
            .iter()
            .find(|r| r.account_id == k.account_id && r.product == k.product && r.time > k.date);
        if let Some(reclaim) = reclaim {
            // The announced date came while the email was too recent: rail `not-notified`.
            let reclaim_day = (start_of_day(reclaim.time) - start_of_day(start)).num_days();
            let held: Vec<i64> = (0..reclaim_day)
                .filter(|d| not_notified[d].contains(&(k.account_id.clone(), k.product.clone())))
                .collect();
            assert!(
                day_time(*held.last().unwrap_or(&-1)) >= k.date,
                "{k:?}: reclaimed on day {reclaim_day}, held back by not-notified on {held:?}"
            );
            assert_eq!(reclaim_day, down_day + 1 + NOTICE_DAYS, "{k:?}");
            outage_reclaims += 1;
        }
    }

    eprintln!(
        "notify simulation: {SIM_DAYS} days, {} people, {} messages delivered, outage on day {down_day} ({} emails held)",
        members.len(),
        mail.len(),
        keys.len()
    );
    eprintln!("  {counters:?}");
    eprintln!(
        "  wall time {:.1} s ({:.1} s in seatkeeper runs)",
        wall.elapsed().as_secs_f64(),
        spawn_time.as_secs_f64()
    );
    assert!(counters.reclaims >= 10, "{counters:?}");
    assert!(counters.returners_told >= 2, "{counters:?}");
    assert!(counters.not_notified_blocks > 0, "{counters:?}");
    assert!(counters.announced_again > 0, "{counters:?}");
    assert!(counters.reclaimed_told_late > 0, "{counters:?}");
    assert!(
        outage_reclaims > 0,
        "an outage email's reclaim waited for it"
    );
    assert!(counters.reclaimed_after_outage > 0, "{counters:?}");
    assert!(counters.named_a_later_date > 0, "{counters:?}");
}

// ---------------------------------------------------------------------------------------------
// 2. A notify killed mid-batch, and rerun.

/// `n` people holding Jira, last active 20 days ago: each is announced (30 days' inactivity,
/// 14 days' notice) on the first plan.
fn idle_members(n: usize, start: Time) -> Vec<Member> {
    (0..n)
        .map(|i| Member {
            email: format!("idle{i:03}@notify.test"),
            products: vec![JSW],
            last: BTreeMap::from([(
                JSW,
                start - TimeDelta::days(20) - TimeDelta::minutes(i as i64),
            )]),
        })
        .collect()
}

fn soon_key(notice: &seatkeeper::plan::Notice) -> MessageKey {
    MessageKey {
        kind: "reclaim-soon".into(),
        account_id: notice.account_id.clone(),
        product: notice.product.clone(),
        date: notice.at.unwrap(),
    }
}

#[test]
fn a_notify_killed_mid_batch_is_rerun_and_everyone_gets_one_message_id() {
    if !smtp_tests_enabled("notify_e2e::a_notify_killed_mid_batch") {
        return;
    }
    const PEOPLE: usize = 80;
    let start: Time = "2027-05-03T06:00:00Z".parse().unwrap();
    /// The server saves this message, then holds its answer: the kill lands in between, so the
    /// message is delivered but the log only shows it in doubt.
    const STALL_AT: usize = PEOPLE / 3;
    let members = idle_members(PEOPLE, start);
    let server = SmtpServer::start(&SmtpOptions {
        slow_reply: Some((STALL_AT as u32, Duration::from_secs(3))),
        ..SmtpOptions::default()
    });
    let sim = Sim::start(org(start, &members));
    // 20 a second: the batch takes four seconds, long enough to be killed in.
    sim.write_policy(&policy_yaml(
        &members,
        Some(&notify_block(&server.url("smtp"), "20/s")),
    ));
    let plan_path = sim.path("plan.json");
    let plan = sim.plan(start, &plan_path);
    let keys: BTreeMap<String, MessageKey> = plan
        .notices
        .iter()
        .filter(|n| n.kind == NoticeKind::ReclaimSoon)
        .map(|n| (n.email.clone().unwrap(), soon_key(n)))
        .collect();
    assert_eq!(keys.len(), PEOPLE, "everyone is announced");

    let at = (start + TimeDelta::minutes(1)).to_rfc3339();
    let dir = sim.dir_arg();
    let args = [
        "notify",
        plan_path.to_str().unwrap(),
        "--policy",
        &dir,
        "--at",
        &at,
    ];
    let stderr = std::fs::File::create(sim.path("killed.stderr")).unwrap();
    let began = Instant::now();
    let mut child = sim
        .command(&args)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    // Wait until the server has some of the batch, then SIGKILL (`Child::kill`).
    loop {
        if delivered_count(&server) >= STALL_AT {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "notify ended before it was killed: {}",
            std::fs::read_to_string(sim.path("killed.stderr")).unwrap()
        );
        assert!(began.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = delivered_count(&server);
    assert_eq!(
        at_kill, STALL_AT,
        "killed while message {STALL_AT} waited for its answer"
    );

    // What the log shows in doubt: a `notifying` without its `notified`.
    let records = sim.records();
    let answered: BTreeSet<MessageKey> = records
        .iter()
        .filter(|r| r.kind == AuditKind::Notified)
        .map(key_of)
        .collect();
    let in_doubt: Vec<MessageKey> = records
        .iter()
        .filter(|r| r.kind == AuditKind::Notifying)
        .map(key_of)
        .filter(|k| !answered.contains(k))
        .collect();
    assert_eq!(
        in_doubt.len(),
        1,
        "the message being answered: {in_doubt:?}"
    );

    // The killed run left its lock: the rerun is refused until an operator clears it, as after
    // a killed apply.
    let refused = sim.notify(&plan_path, start + TimeDelta::minutes(2), &[]);
    let said = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(3), "{said}");
    assert!(
        said.contains("stale") && said.contains("--force-unlock"),
        "{said}"
    );
    ok(
        &sim.run(&["apply", "--force-unlock", "--policy", &dir]),
        "apply --force-unlock",
    );

    // The rerun, with the same plan.
    let rerun = sim.notify(&plan_path, start + TimeDelta::minutes(2), &[]);
    ok(&rerun, "notify after the kill");
    sim.verify_audit();

    let mail = delivered(&server);
    let mut per_person: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for m in &mail {
        per_person
            .entry(m.to.as_str())
            .or_default()
            .insert(m.message_id.as_str());
    }
    assert_eq!(per_person.len(), PEOPLE, "nobody was skipped");
    for (email, key) in &keys {
        let ids = &per_person[email.as_str()];
        assert_eq!(ids.len(), 1, "{email}: one distinct Message-ID: {ids:?}");
        assert!(ids.contains(message_id(key).as_str()), "{email}: {ids:?}");
    }
    let distinct: BTreeSet<&str> = mail.iter().map(|m| m.message_id.as_str()).collect();
    let duplicates = mail.len() - distinct.len();
    // The message in doubt had reached the server: sent again, with the same Message-ID, it is
    // the one raw duplicate (and mail clients show it once).
    assert_eq!(duplicates, 1, "raw duplicates at the server");
    {
        let mut seen = BTreeSet::new();
        let dup = mail
            .iter()
            .find(|m| !seen.insert(m.message_id.as_str()))
            .unwrap();
        assert_eq!(
            in_doubt.iter().map(message_id).collect::<Vec<_>>(),
            vec![dup.message_id.clone()],
            "the only message the server saw twice is the one in doubt"
        );
    }
    // Exactly one accepted line per person in the log.
    let records = sim.records();
    for key in keys.values() {
        let accepted = records
            .iter()
            .filter(|r| r.kind == AuditKind::Notified && r.result == AuditResult::Ok)
            .filter(|r| key_of(r) == *key)
            .count();
        assert_eq!(accepted, 1, "{key:?}");
    }
    eprintln!(
        "notify kill: {PEOPLE} people, killed after {at_kill} delivered, {} in doubt, {} raw \
         duplicate(s) at the server, {} messages in all",
        in_doubt.len(),
        duplicates,
        mail.len()
    );
}

// ---------------------------------------------------------------------------------------------
// 3. The CLI basics.

const SMTP_USER: &str = "sk-mailer-7Qx2";
const SMTP_PASSWORD: &str = "pw-Vt93-never-shown";

fn all_text(dir: &Path, into: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all_text(&path, into);
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            into.push_str(&text);
        }
    }
}

#[test]
fn dry_run_rerun_secrets_and_a_policy_without_notify() {
    if !smtp_tests_enabled("notify_e2e::dry_run_rerun_secrets") {
        return;
    }
    let start: Time = "2027-06-07T06:00:00Z".parse().unwrap();
    let mut members = idle_members(4, start);
    members.push(Member {
        email: "busy@notify.test".into(),
        products: vec![JSW, CONF],
        last: BTreeMap::from([
            (JSW, start - TimeDelta::hours(5)),
            (CONF, start - TimeDelta::hours(4)),
        ]),
    });
    let server = SmtpServer::start(&SmtpOptions {
        auth: Some((SMTP_USER.into(), SMTP_PASSWORD.into())),
        ..SmtpOptions::default()
    });
    let mut sim = Sim::start(org(start, &members));
    sim.env = vec![
        ("SEATKEEPER_SMTP_USERNAME".into(), SMTP_USER.into()),
        ("SEATKEEPER_SMTP_PASSWORD".into(), SMTP_PASSWORD.into()),
    ];
    sim.write_policy(&policy_yaml(
        &members,
        Some(&notify_block(&server.url("smtp"), "1000/s")),
    ));
    let mut outputs = String::new();
    let mut keep = |out: &Output| {
        outputs.push_str(&text(&out.stdout));
        outputs.push_str(&text(&out.stderr));
    };
    let plan_path = sim.path("plan.json");
    let plan = sim.plan(start, &plan_path);
    let keys: Vec<MessageKey> = plan
        .notices
        .iter()
        .filter(|n| n.kind == NoticeKind::ReclaimSoon)
        .map(soon_key)
        .collect();
    assert_eq!(keys.len(), 4);
    let read_log = || std::fs::read(sim.audit_log()).ok();

    // --dry-run prints each message and records nothing.
    let before = read_log();
    let dry = sim.notify(&plan_path, start + TimeDelta::minutes(1), &["--dry-run"]);
    ok(&dry, "notify --dry-run");
    keep(&dry);
    let printed = text(&dry.stdout);
    for (i, m) in members.iter().take(4).enumerate() {
        let key = keys
            .iter()
            .find(|k| k.account_id == account(i + 1))
            .unwrap();
        let to = format!("To: Person {} <{}>", i + 1, m.email);
        assert!(printed.contains(&to), "{to}: {printed}");
        assert!(
            printed.contains(&format!("Message-ID: <{}>", message_id(key))),
            "{printed}"
        );
    }
    assert!(!printed.contains("busy@notify.test"), "{printed}");
    assert!(printed.contains("4 email(s) due"), "{printed}");
    assert_eq!(
        read_log(),
        before,
        "a dry run leaves the audit log as it was"
    );
    assert_eq!(delivered_count(&server), 0);

    // The real run: four messages, each over an authenticated session.
    let sent = sim.notify(&plan_path, start + TimeDelta::minutes(1), &[]);
    ok(&sent, "notify");
    keep(&sent);
    assert!(
        text(&sent.stdout).contains("4 email(s) sent, 0 failed"),
        "{}",
        text(&sent.stdout)
    );
    let messages = server.messages();
    assert_eq!(messages.len(), 4);
    for m in &messages {
        assert_eq!(m["authenticated"], true, "{m}");
        assert_eq!(m["login"], SMTP_USER, "{m}");
    }
    let ids: BTreeSet<String> = delivered(&server)
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    let expected: BTreeSet<String> = keys.iter().map(message_id).collect();
    assert_eq!(ids, expected);

    // A rerun sends nothing new and writes nothing.
    let log = read_log();
    let again = sim.notify(&plan_path, start + TimeDelta::minutes(2), &[]);
    ok(&again, "notify again");
    keep(&again);
    assert!(
        text(&again.stdout).contains("0 email(s) sent"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(delivered_count(&server), 4);
    assert_eq!(read_log(), log, "a rerun with nothing due records nothing");

    // The apply of the plan, which also looks for `reclaimed` emails (none are due).
    sim.set_clock(start + TimeDelta::minutes(5));
    let applied = sim.apply(&plan_path, start + TimeDelta::minutes(5));
    ok(&applied, "apply");
    keep(&applied);
    sim.verify_audit();

    // The credentials appear in no output and no file: not the plan, the audit log, the policy.
    let mut files = String::new();
    all_text(sim.dir.path(), &mut files);
    for secret in [SMTP_USER, SMTP_PASSWORD] {
        assert!(
            !outputs.contains(secret),
            "{secret} in the output:\n{outputs}"
        );
        assert!(!files.contains(secret), "{secret} in a file");
    }

    // A policy without `notify:`: exit 1, naming `notify:`, with a plan and without one.
    sim.write_policy(&policy_yaml(&members, None));
    let plan_path = sim.path("plan-plain.json");
    sim.plan(start + TimeDelta::minutes(10), &plan_path);
    let log = read_log();
    for args in [vec![plan_path.to_str().unwrap()], vec![]] {
        let mut all = vec!["notify", "--policy"];
        let dir = sim.dir_arg();
        all.push(&dir);
        all.extend(args);
        let out = sim.run(&all);
        assert_eq!(out.status.code(), Some(1), "{all:?}\n{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("`notify:`"),
            "{}",
            text(&out.stderr)
        );
    }
    assert_eq!(read_log(), log);
    assert_eq!(delivered_count(&server), 4);

    // `--at` is for a loopback sandbox only: against Atlassian Cloud it is refused, nothing sent.
    sim.write_policy(&policy_yaml(
        &members,
        Some(&notify_block(&server.url("smtp"), "1000/s")),
    ));
    let cloud = sim
        .command(&[
            "notify",
            plan_path.to_str().unwrap(),
            "--policy",
            &sim.dir_arg(),
            "--at",
            &start.to_rfc3339(),
        ])
        .env("SEATKEEPER_API_BASE", "https://api.atlassian.com")
        .output()
        .unwrap();
    assert_eq!(cloud.status.code(), Some(1), "{}", text(&cloud.stderr));
    assert!(
        text(&cloud.stderr).contains("--at on `notify` is only for rehearsals"),
        "{}",
        text(&cloud.stderr)
    );
    assert_eq!(read_log(), log);
    assert_eq!(delivered_count(&server), 4);
}

// ---------------------------------------------------------------------------------------------
// 4. A second announcement after the person came back.

/// Someone announced (and emailed) comes back to work, goes idle again and is announced again;
/// the second email fails for a day. The reclaim waits `notice` days from the second email: the
/// first one, about the earlier idle stretch, does not count for it.
#[test]
fn a_returner_announced_again_waits_for_the_new_email() {
    if !smtp_tests_enabled("notify_e2e::a_returner_announced_again") {
        return;
    }
    let start: Time = "2027-08-02T06:00:00Z".parse().unwrap();
    let day_time = |d: i64| start + TimeDelta::days(d);
    // Three colleagues who work every day keep `max_removals: 50%` from holding one reclaim.
    let mut members = vec![Member {
        email: "back@notify.test".into(),
        products: vec![JSW],
        last: BTreeMap::from([(JSW, start - TimeDelta::days(17))]),
    }];
    for i in 0..3 {
        members.push(Member {
            email: format!("colleague{i}@notify.test"),
            products: vec![JSW],
            last: BTreeMap::from([(JSW, start - TimeDelta::hours(3))]),
        });
    }
    let id = account(1);
    let server = SmtpServer::start(&SmtpOptions::default());
    let good = policy_yaml(&members, Some(&notify_block(&server.url("smtp"), "1000/s")));
    let down = policy_yaml(
        &members,
        Some(&notify_block(
            &format!("smtp://127.0.0.1:{}", closed_port()),
            "1000/s",
        )),
    );
    let sim = Sim::start(org(start, &members));
    let plan_path = sim.path("plan.json");
    let run_day = |day: i64, policy: &str, notify_code: i32| -> Plan {
        let now = day_time(day);
        sim.set_clock(now);
        let work: Vec<(&str, serde_json::Value)> = (2..=4)
            .map(|i| {
                let t = (now - TimeDelta::hours(3)).to_rfc3339();
                let body = serde_json::json!({"account_id": account(i), "product": JSW, "time": t});
                ("/__sandbox/activity", body)
            })
            .collect();
        sim.post_all(&work);
        sim.write_policy(policy);
        let plan = sim.plan(now, &plan_path);
        let out = sim.notify(&plan_path, now + TimeDelta::minutes(1), &[]);
        assert_eq!(
            out.status.code(),
            Some(notify_code),
            "day {day}: notify\n{}",
            text(&out.stderr)
        );
        if plan.has_changes() {
            sim.set_clock(now + TimeDelta::minutes(5));
            let out = sim.apply(&plan_path, now + TimeDelta::minutes(5));
            ok(&out, &format!("day {day}: apply"));
        }
        plan
    };
    let soon_sent = |sim: &Sim| -> Vec<Time> {
        notified(&sim.records(), AuditResult::Ok)
            .iter()
            .filter(|r| r.rule == "reclaim-soon")
            .map(|r| r.time)
            .collect()
    };
    // Day 0: announced and emailed.
    run_day(0, &good, 0);
    assert_eq!(soon_sent(&sim), vec![day_time(0) + TimeDelta::minutes(1)]);
    // Day 5: back at work; the announcement lapses.
    sim.set_clock(day_time(5));
    sim.post_all(&[(
        "/__sandbox/activity",
        serde_json::json!({"account_id": id, "product": JSW,
            "time": (day_time(5) - TimeDelta::hours(2)).to_rfc3339()}),
    )]);
    let soon = |plan: &Plan| {
        plan.notices
            .iter()
            .filter(|n| n.kind == NoticeKind::ReclaimSoon)
            .count()
    };
    let plan = run_day(5, &good, 0);
    assert_eq!(soon(&plan), 0, "{:?}", plan.notices);
    // Day 21: idle again for 16 days, announced again; the email cannot be sent today.
    let plan = run_day(21, &down, 5);
    assert_eq!(soon(&plan), 1, "{:?}", plan.notices);
    // Day 22: the email goes out.
    run_day(22, &good, 0);
    let second = day_time(22) + TimeDelta::minutes(1);
    assert_eq!(soon_sent(&sim).last(), Some(&second));
    // Day 35: the announced date has come, but the email is 13 days old: held back.
    let plan = run_day(35, &good, 0);
    assert!(
        !plan.actions.iter().any(|a| a.account_id == id),
        "day 35: the reclaim waits for 14 days after the email of day 22: {:?}",
        plan.actions
    );
    assert!(
        plan.blocked
            .iter()
            .any(|b| b.action.account_id == id && b.rail == Rail::NotNotified),
        "{:?}",
        plan.blocked
    );
    // Day 36: reclaimed, and told.
    run_day(36, &good, 0);
    let records = sim.records();
    let reclaims: Vec<&AuditRecord> = records.iter().filter(|r| is_reclaim(r)).collect();
    assert_eq!(reclaims.len(), 1);
    assert_eq!(reclaims[0].time, day_time(36) + TimeDelta::minutes(5));
    assert_eq!(
        delivered(&server).len(),
        3,
        "two reclaim-soon emails, one reclaimed"
    );
    sim.verify_audit();
}

/// A copy of `examples/acme` with `notify` (YAML under `notify:`) added, planned at the
/// walk-through's time into `plan.json`; `env` is the binary's whole environment besides PATH.
struct AcmeCopy {
    dir: tempfile::TempDir,
    env: Vec<(&'static str, String)>,
}

impl AcmeCopy {
    fn planned(notify: &str, env: Vec<(&'static str, String)>) -> AcmeCopy {
        let dir = tempfile::tempdir().unwrap();
        crate::support::copy_dir(&crate::support::root().join("examples/acme"), dir.path());
        let policy = dir.path().join("seatkeeper.yaml");
        let mut yaml = std::fs::read_to_string(&policy).unwrap();
        yaml.push_str("notify:\n");
        yaml.push_str(notify);
        std::fs::write(&policy, yaml).unwrap();
        let acme = AcmeCopy { dir, env };
        let at = "2026-11-25T08:00:00Z";
        let planned = acme.run(&[
            "plan",
            "--snapshot",
            "snapshot.json",
            "--at",
            at,
            "--out",
            "plan.json",
        ]);
        assert!(planned.status.success(), "{}", text(&planned.stderr));
        acme
    }

    fn run(&self, args: &[&str]) -> Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_seatkeeper"))
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap()
    }

    fn audit_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("audit/seatkeeper.jsonl")).unwrap()
    }
}

/// The chat digest through the CLI: `notify PLAN` posts the plan's summary once (a rerun of the
/// same plan posts nothing), records it in the audit log, and never prints the webhook URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_posts_the_plan_digest_to_chat_once() {
    use crate::notify_support::webhook::Receiver;
    let receiver = Receiver::start(Vec::new()).await;
    let secret_path = "/services/T000/B000/s3cretWebhookPart";
    let url = receiver.url(secret_path);
    let acme = AcmeCopy::planned(
        "  chat:\n    format: json\n",
        vec![("SEATKEEPER_CHAT_WEBHOOK_URL", url)],
    );
    let before = acme.audit_log();
    for round in 0..2 {
        let out = acme.run(&["notify", "plan.json"]);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "round {round}: {stdout}{stderr}");
        assert!(
            !stdout.contains("s3cret") && !stderr.contains("s3cret"),
            "{stdout}{stderr}"
        );
        if round == 0 {
            assert!(stdout.contains("digest posted to chat"), "{stdout}");
        }
    }
    let received = receiver.received();
    assert_eq!(received.len(), 1, "the digest of one plan is posted once");
    assert_eq!(received[0].path, secret_path);
    let body = &received[0].body;
    assert_eq!(body["title"], "seatkeeper: licences on acme.atlassian.net");
    assert_eq!(body["sections"][0]["heading"], "Plan");
    let log = acme.audit_log();
    let added: Vec<&str> = log[before.len()..].lines().collect();
    assert_eq!(added.len(), 2, "notifying and notified: {added:?}");
    assert!(added[1].contains("\"kind\":\"notified\"") && added[1].contains("\"rule\":\"digest\""));
    assert!(!log.contains("s3cret"));
}

/// A mail server that is down stops a batch after three emails in a row failed: the rest are
/// neither tried nor recorded (the next run sends them), instead of each costing its retries.
#[test]
fn a_dead_mail_server_stops_the_batch_after_three_failures() {
    let notify = format!(
        "  email:\n    smtp: smtp://127.0.0.1:{}\n    from: it@acme.com\n  rate: 1000/s\n",
        closed_port()
    );
    let acme = AcmeCopy::planned(&notify, Vec::new());
    let before = acme.audit_log();
    let out = acme.run(&["notify", "plan.json"]);
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{said}");
    assert!(
        said.contains("the mail server failed 3 emails in a row")
            && said.contains("5 of 8 emails not tried: they are sent by the next run, and"),
        "{said}"
    );
    let log = acme.audit_log();
    let added: Vec<&str> = log[before.len()..].lines().collect();
    let failed = added
        .iter()
        .filter(|l| l.contains("\"result\":\"failed\""))
        .count();
    assert_eq!((added.len(), failed), (6, 3), "{added:?}");
}
