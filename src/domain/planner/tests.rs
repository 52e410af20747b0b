//! Table-driven tests of DESIGN §4: one case per decision-table row and per rail, plus the
//! exact words of reasons, seats, fingerprints, warnings and `explain`.

use super::*;
use crate::ledger::{AuditKind, AuditRecord, AuditResult};
use crate::live::{AccountStatus, AccountType, Activity, Event, EventAction, Group, License, User};
use crate::plan::{fingerprint_members, Rail};
use crate::policy::{Limit, Location, Matcher, Product, SafeUser, Safety, Selector, UserRef};
use crate::time::Duration;
use chrono::NaiveDate;

pub(crate) fn t(s: &str) -> DateTime<Utc> {
    if s.len() == 10 {
        crate::time::start_of_day(d(s))
    } else {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }
}

pub(crate) fn d(s: &str) -> NaiveDate {
    crate::time::parse_date(s).expect("date")
}

fn loc(line: u32) -> Location {
    Location {
        file: "seatkeeper.yaml".into(),
        line,
        column: 5,
    }
}

/// A small org: product `jira-software` granted by `jira-users` (first) and `jira-legacy`,
/// `inactivity: 90d`, `notice: 14d`, `grace: 1d`, planned at 2026-11-25T08:00:00Z.
pub(crate) struct Fx {
    pub policy: Policy,
    pub live: LiveState,
    pub records: Vec<AuditRecord>,
    pub now: DateTime<Utc>,
    pub actor: Option<String>,
    pub allow_mass_removal: bool,
    /// The audit log holds nothing: seatkeeper's first run against the org. Off by default:
    /// most cases are about later runs, so the ledger starts with one unrelated earlier line.
    pub first_run: bool,
}

const P: &str = "jira-software";

impl Fx {
    pub(crate) fn new() -> Self {
        let policy = Policy {
            site: "acme.atlassian.net".into(),
            org: None,
            products: vec![Product {
                key: P.into(),
                groups: vec!["jira-users".into(), "jira-legacy".into()],
                seats: None,
                inactivity: Some(Duration::days(90)),
                notice: Some(Duration::days(14)),
                grace: Duration::days(1),
                drift: Drift::Revert,
                eligible_groups: Vec::new(),
                restore_on_login: true,
                location: loc(3),
            }],
            users: Vec::new(),
            eligible_groups: Vec::new(),
            keep: Vec::new(),
            ignore: Vec::new(),
            audit_log: "audit/seatkeeper.jsonl".into(),
            safety: Safety::default(),
            notify: None,
        };
        let group = |id: &str, name: &str| Group {
            id: id.into(),
            name: name.into(),
            members: Vec::new(),
            synced: false,
        };
        let live = LiveState {
            format_version: 1,
            site: "acme.atlassian.net".into(),
            org_id: None,
            taken_at: t("2026-11-25T08:00:00Z"),
            users: Vec::new(),
            groups: vec![
                group("g-users", "jira-users"),
                group("g-legacy", "jira-legacy"),
                group("g-emp", "employees"),
                group("g-admins", "site-admins"),
            ],
            events: Vec::new(),
            licenses: BTreeMap::<String, License>::new(),
            events_read: None,
        };
        Fx {
            policy,
            live,
            records: Vec::new(),
            now: t("2026-11-25T08:00:00Z"),
            actor: None,
            allow_mass_removal: false,
            first_run: false,
        }
    }

    pub(crate) fn id(name: &str) -> String {
        format!("acc-{name}")
    }

    /// Adds an active Atlassian account `name@acme.com`, in the org since 2024-01-01.
    pub(crate) fn user(&mut self, name: &str) -> &mut User {
        self.live.users.push(User {
            account_id: Self::id(name),
            email: Some(format!("{name}@acme.com")),
            name: name.into(),
            account_type: AccountType::Atlassian,
            status: AccountStatus::Active,
            added_to_org: Some(t("2024-01-01")),
            last_active: Activity::new(),
        });
        self.live.users.last_mut().expect("just pushed")
    }

    fn find(&mut self, name: &str) -> &mut User {
        let id = Self::id(name);
        if !self.live.users.iter().any(|u| u.account_id == id) {
            self.user(name);
        }
        self.live
            .users
            .iter_mut()
            .find(|u| u.account_id == id)
            .expect("user")
    }

    pub(crate) fn member(&mut self, name: &str, group: &str) -> &mut Self {
        self.find(name);
        let g = self
            .live
            .groups
            .iter_mut()
            .find(|g| g.name == group)
            .expect("group");
        g.members.push(Self::id(name));
        self
    }

    pub(crate) fn active(&mut self, name: &str, date: &str) -> &mut Self {
        self.find(name).last_active.insert(P, t(date));
        self
    }

    /// A safe-user entry by email covering every product.
    pub(crate) fn safe(&mut self, name: &str) -> &mut SafeUser {
        let line = self.policy.users.len() as u32 + 20;
        self.policy.users.push(SafeUser {
            who: UserRef::Email(format!("{name}@acme.com")),
            products: None,
            until: None,
            requested: None,
            location: loc(line),
        });
        self.policy.users.last_mut().expect("just pushed")
    }

    /// A current, recently active, listed holder of the product.
    pub(crate) fn holder(&mut self, name: &str) -> &mut Self {
        self.member(name, "jira-users");
        self.active(name, "2026-11-20");
        self.safe(name);
        self
    }

    pub(crate) fn event(&mut self, name: &str, action: EventAction, time: &str) -> &mut Event {
        self.find(name);
        self.live.events.push(Event {
            time: t(time),
            action,
            account_id: Self::id(name),
            product: None,
            group_id: None,
        });
        self.live.events.last_mut().expect("just pushed")
    }

    pub(crate) fn record(
        &mut self,
        kind: AuditKind,
        name: &str,
        group_id: &str,
        rule: &str,
        time: &str,
    ) {
        let group = self
            .live
            .groups
            .iter()
            .find(|g| g.id == group_id)
            .map(|g| g.name.clone())
            .unwrap_or_default();
        self.records.push(AuditRecord {
            time: t(time),
            kind,
            product: P.into(),
            group,
            group_id: group_id.into(),
            account_id: Self::id(name),
            email: Some(format!("{name}@acme.com")),
            rule: rule.into(),
            reason: String::new(),
            result: AuditResult::Ok,
            plan_id: String::new(),
            policy_commit: None,
            actor: String::new(),
            error: None,
            reclaim_on: None,
            prev_hash: String::new(),
            hash: String::new(),
        });
    }

    /// The ledger shows an applied plan announced `name`'s reclaim for `on`, 14 days earlier.
    pub(crate) fn announced(&mut self, name: &str, on: &str) {
        self.find(name);
        self.record(AuditKind::Announced, name, "", "inactive", on);
        if let Some(r) = self.records.last_mut() {
            r.reclaim_on = Some(r.time);
            r.time -= chrono::TimeDelta::days(14);
        }
    }

    /// The ledger shows `name` was reclaimed (removed for inactivity) at `time`.
    pub(crate) fn reclaimed(&mut self, name: &str, time: &str) {
        self.find(name);
        self.record(AuditKind::Add, name, "g-users", "eligible", "2025-01-01");
        self.record(AuditKind::Remove, name, "g-users", "inactive", time);
    }

    pub(crate) fn keep(&mut self, m: Matcher) {
        self.policy.keep.push(Selector {
            matcher: m,
            location: loc(60),
        });
    }

    pub(crate) fn ignore(&mut self, m: Matcher) {
        self.policy.ignore.push(Selector {
            matcher: m,
            location: loc(70),
        });
    }

    pub(crate) fn product(&mut self) -> &mut Product {
        &mut self.policy.products[0]
    }

    pub(crate) fn group(&mut self, name: &str) -> &mut Group {
        self.live
            .groups
            .iter_mut()
            .find(|g| g.name == name)
            .expect("group")
    }

    pub(crate) fn with_input<R>(&self, f: impl FnOnce(&PlanInput<'_>) -> R) -> R {
        let earlier_run = (!self.first_run).then(|| AuditRecord {
            time: t("2020-01-01"),
            kind: AuditKind::Add,
            product: P.into(),
            group: "other".into(),
            group_id: "g-other".into(),
            account_id: "acc-earlier-run".into(),
            email: None,
            rule: "eligible".into(),
            reason: String::new(),
            result: AuditResult::Ok,
            plan_id: String::new(),
            policy_commit: None,
            actor: String::new(),
            error: None,
            reclaim_on: None,
            prev_hash: String::new(),
            hash: String::new(),
        });
        let ledger = Ledger::from_records(earlier_run.iter().chain(&self.records));
        let input = PlanInput {
            policy: &self.policy,
            live: &self.live,
            ledger: &ledger,
            now: self.now,
            actor: self.actor.as_deref(),
            policy_commit: Some("abc123"),
            allow_mass_removal: self.allow_mass_removal,
        };
        f(&input)
    }

    pub(crate) fn plan(&self) -> Plan {
        self.with_input(plan)
    }
}

fn name_of(email: Option<&str>, account_id: &str) -> String {
    email
        .and_then(|e| e.split('@').next())
        .unwrap_or(account_id)
        .to_string()
}

fn actions(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .map(|a| {
            let who = name_of(a.email.as_deref(), &a.account_id);
            format!("{} {} {who} {}", a.kind.as_str(), a.group, a.rule)
        })
        .collect()
}

fn blocked(p: &Plan) -> Vec<String> {
    p.blocked
        .iter()
        .map(|b| {
            let a = &b.action;
            let who = name_of(a.email.as_deref(), &a.account_id);
            format!("{} {} {who} {}", a.kind.as_str(), a.group, b.rail)
        })
        .collect()
}

fn notices(p: &Plan) -> Vec<String> {
    p.notices
        .iter()
        .map(|n| {
            format!(
                "{} {}",
                n.kind.as_str(),
                name_of(n.email.as_deref(), &n.account_id)
            )
        })
        .collect()
}

fn observed(p: &Plan) -> Vec<String> {
    p.observed
        .iter()
        .map(|o| format!("{} {}", o.group, name_of(o.email.as_deref(), &o.account_id)))
        .collect()
}

struct Case {
    name: &'static str,
    setup: fn(&mut Fx),
    actions: &'static [&'static str],
    blocked: &'static [&'static str],
    notices: &'static [&'static str],
    observed: &'static [&'static str],
}

const NONE: &[&str] = &[];

const CASES: &[Case] = &[
    Case {
        name: "kept member is kept even when not eligible and idle",
        setup: |f| {
            f.member("kim", "jira-users").active("kim", "2025-01-01");
            f.keep(Matcher::Email("kim@acme.com".into()));
        },
        actions: NONE,
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "kept by group and by account type",
        setup: |f| {
            f.member("adm", "jira-users").member("adm", "site-admins");
            f.member("bot", "jira-users");
            f.find("bot").account_type = AccountType::App;
            f.keep(Matcher::Group("site-admins".into()));
            f.keep(Matcher::AccountType(AccountType::App));
        },
        actions: NONE,
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "kept non-member is added only if eligible",
        setup: |f| {
            f.event("kim", EventAction::UserLoggedIn, "2026-11-24T10:00:00Z");
            f.safe("kim");
            f.event("kit", EventAction::UserLoggedIn, "2026-11-24T10:00:00Z");
            f.keep(Matcher::Email("kim@acme.com".into()));
            f.keep(Matcher::Email("kit@acme.com".into()));
        },
        actions: &["add jira-users kim eligible"],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "not eligible member is removed",
        setup: |f| {
            f.member("nel", "jira-users").active("nel", "2026-11-24");
            f.holder("ann");
        },
        actions: &["remove jira-users nel not-eligible"],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "entry for another product does not make eligible",
        setup: |f| {
            f.member("con", "jira-users").active("con", "2026-11-24");
            f.safe("con").products = Some(vec!["confluence".into()]);
        },
        actions: &["remove jira-users con not-eligible"],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "until is inclusive: expired the day after",
        setup: |f| {
            f.holder("exp");
            f.policy.users.last_mut().expect("entry").until = Some(d("2026-11-24"));
            f.holder("today");
            f.policy.users.last_mut().expect("entry").until = Some(d("2026-11-25"));
        },
        actions: &["remove jira-users exp expired"],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "closed and deactivated accounts are removed even when listed",
        setup: |f| {
            f.holder("gone");
            f.find("gone").status = AccountStatus::Closed;
            f.holder("deact");
            f.find("deact").status = AccountStatus::Deactivated;
        },
        actions: &[
            "remove jira-users deact account-closed",
            "remove jira-users gone account-closed",
        ],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "inactive with evidence is reclaimed on the announced date",
        setup: |f| {
            f.holder("idle");
            f.active("idle", "2026-07-01");
            f.announced("idle", "2026-11-25T08:00:00Z");
        },
        actions: &["remove jira-users idle inactive"],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "a login is not activity: an old last-active with a recent login is announced",
        setup: |f| {
            f.holder("back");
            f.active("back", "2026-07-01");
            f.event("back", EventAction::UserLoggedIn, "2026-11-01T09:00:00Z");
        },
        actions: NONE,
        blocked: NONE,
        notices: &["reclaim-soon back"],
        observed: NONE,
    },
    Case {
        name: "an announced reclaim is carried out whatever logins came since",
        setup: |f| {
            f.holder("back");
            f.active("back", "2026-07-01");
            f.announced("back", "2026-11-24T08:00:00Z");
            f.event("back", EventAction::UserLoggedIn, "2026-11-20T09:00:00Z");
        },
        actions: &["remove jira-users back inactive"],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "an announced date holds when later activity has moved the window past it",
        setup: |f| {
            f.holder("busy");
            f.active("busy", "2026-11-01");
            f.announced("busy", "2026-11-24T08:00:00Z");
        },
        actions: NONE,
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "first run: seats past their window are announced, not reclaimed",
        setup: |f| {
            f.first_run = true;
            f.product().notice = None;
            f.holder("idle");
            f.active("idle", "2026-07-01");
            f.member("nope", "jira-users");
        },
        actions: &["remove jira-users nope not-eligible"],
        blocked: NONE,
        notices: &["reclaim-soon idle"],
        observed: NONE,
    },
    Case {
        name: "added_to_org counts only when nothing else is known",
        setup: |f| {
            f.member("new", "jira-users");
            f.safe("new");
            f.find("new").added_to_org = Some(t("2026-01-01"));
            f.member("old", "jira-users");
            f.safe("old");
            f.find("old").added_to_org = Some(t("2026-11-20"));
            f.active("old", "2026-06-01");
            f.announced("new", "2026-11-25");
            f.announced("old", "2026-11-25");
        },
        actions: &[
            "remove jira-users new inactive",
            "remove jira-users old inactive",
        ],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "inactive but within grace is not reclaimed",
        setup: |f| {
            f.product().inactivity = Some(Duration::seconds(12 * 3600));
            f.product().notice = None;
            f.product().grace = Duration::days(2);
            for (name, when) in [
                ("fresh", "2026-11-24T06:00:00Z"),
                ("older", "2026-11-21T06:00:00Z"),
            ] {
                f.member(name, "jira-users");
                f.safe(name);
                f.event(name, EventAction::UserAddedToGroup, when).group_id =
                    Some("g-users".into());
            }
        },
        actions: &["remove jira-users older inactive"],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "no evidence at all: never reclaimed",
        setup: |f| {
            f.member("ghost", "jira-users");
            f.safe("ghost");
            f.find("ghost").added_to_org = None;
        },
        actions: NONE,
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "reclaim within notice gives a reclaim-soon notice",
        setup: |f| {
            f.holder("soon");
            f.active("soon", "2026-08-30");
            f.holder("later");
            f.active("later", "2026-10-01");
        },
        actions: NONE,
        blocked: NONE,
        notices: &["reclaim-soon soon"],
        observed: NONE,
    },
    Case {
        name: "dormant after a reclaim without demand",
        setup: |f| {
            f.safe("dor");
            f.active("dor", "2026-09-01");
            f.reclaimed("dor", "2026-10-01T08:00:00Z");
        },
        actions: NONE,
        blocked: NONE,
        notices: &["dormant dor"],
        observed: NONE,
    },
    Case {
        name: "eligible non-member whose evidence is already too old is dormant",
        setup: |f| {
            f.safe("stale");
            f.active("stale", "2026-05-01");
        },
        actions: NONE,
        blocked: NONE,
        notices: &["dormant stale"],
        observed: NONE,
    },
    Case {
        name: "demand after reclaim: requested",
        setup: |f| {
            f.safe("req").requested = Some(d("2026-11-20"));
            f.reclaimed("req", "2026-10-01T08:00:00Z");
        },
        actions: &["add jira-users req requested"],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "demand after reclaim: login event",
        setup: |f| {
            f.safe("log");
            f.reclaimed("log", "2026-10-01T08:00:00Z");
            f.event("log", EventAction::UserLoggedIn, "2026-11-24T10:00:00Z");
        },
        actions: &["add jira-users log logged-in"],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "demand after reclaim: access request",
        setup: |f| {
            f.safe("acc");
            f.reclaimed("acc", "2026-10-01T08:00:00Z");
            f.event("acc", EventAction::AccessRequested, "2026-11-23T10:00:00Z")
                .product = Some(P.into());
        },
        actions: &["add jira-users acc logged-in"],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "an access request for another product is no demand",
        setup: |f| {
            f.safe("acc");
            f.active("acc", "2026-09-01");
            f.reclaimed("acc", "2026-10-01T08:00:00Z");
            f.event("acc", EventAction::AccessRequested, "2026-11-23T10:00:00Z")
                .product = Some("confluence".into());
        },
        actions: NONE,
        blocked: NONE,
        notices: &["dormant acc"],
        observed: NONE,
    },
    Case {
        name: "demand after reclaim: later activity",
        setup: |f| {
            f.safe("act");
            f.reclaimed("act", "2026-10-01T08:00:00Z");
            f.active("act", "2026-11-10");
        },
        actions: &["add jira-users act eligible"],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "a login before the reclaim is no demand",
        setup: |f| {
            f.safe("pre");
            f.reclaimed("pre", "2026-10-01T08:00:00Z");
            f.event("pre", EventAction::UserLoggedIn, "2026-09-30T10:00:00Z");
        },
        actions: NONE,
        blocked: NONE,
        notices: &["dormant pre"],
        observed: NONE,
    },
    Case {
        name: "re-grant outside seatkeeper after a reclaim is observed and kept",
        setup: |f| {
            f.safe("reg");
            f.active("reg", "2026-06-01");
            f.reclaimed("reg", "2026-09-01T08:00:00Z");
            f.member("reg", "jira-users");
        },
        actions: NONE,
        blocked: NONE,
        notices: NONE,
        observed: &["jira-users reg"],
    },
    Case {
        name: "an observed re-grant counts from the observation",
        setup: |f| {
            f.safe("reg");
            f.active("reg", "2026-06-01");
            f.reclaimed("reg", "2026-06-01T08:00:00Z");
            f.record(
                AuditKind::Observed,
                "reg",
                "g-users",
                "drift",
                "2026-07-01T08:00:00Z",
            );
            f.member("reg", "jira-users");
            f.announced("reg", "2026-11-25");
        },
        actions: &["remove jira-users reg inactive"],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "removal from every grant group",
        setup: |f| {
            f.member("two", "jira-users").member("two", "jira-legacy");
        },
        actions: &[
            "remove jira-legacy two not-eligible",
            "remove jira-users two not-eligible",
        ],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "seat budget: first come first served, removals free seats",
        setup: |f| {
            f.product().seats = Some(3);
            f.holder("carol");
            f.member("frank", "jira-users");
            f.holder("gus");
            for (name, req) in [
                ("bob", "2026-11-20"),
                ("dave", "2026-11-10"),
                ("erin", "2026-11-15"),
            ] {
                f.safe(name).requested = Some(d(req));
                f.find(name);
            }
        },
        actions: &[
            "add jira-users dave requested",
            "remove jira-users frank not-eligible",
        ],
        blocked: &[
            "add jira-users bob seat-budget",
            "add jira-users erin seat-budget",
        ],
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "seat budget: the first demand after a reclaim holds the place in the queue",
        setup: |f| {
            f.product().seats = Some(1);
            // uma asked first (11-01) and logged in later; vic's only demand is 11-10.
            f.safe("uma").requested = Some(d("2026-11-01"));
            f.reclaimed("uma", "2026-10-01T08:00:00Z");
            f.event("uma", EventAction::UserLoggedIn, "2026-11-24T10:00:00Z");
            f.safe("vic");
            f.reclaimed("vic", "2026-10-01T08:00:00Z");
            f.event("vic", EventAction::UserLoggedIn, "2026-11-10T10:00:00Z");
        },
        actions: &["add jira-users uma requested"],
        blocked: &["add jira-users vic seat-budget"],
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "seat budget never blocks removals",
        setup: |f| {
            f.product().seats = Some(0);
            f.member("x", "jira-users");
        },
        actions: &["remove jira-users x not-eligible"],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "max-removals blocks all of a product's removals",
        setup: |f| {
            f.policy.safety.max_removals = Some(Limit::Count(1));
            f.member("r1", "jira-users");
            f.member("r2", "jira-users").member("r2", "jira-legacy");
            f.holder("ok");
            f.safe("new").requested = Some(d("2026-11-20"));
            f.find("new");
        },
        actions: &["add jira-users new requested"],
        blocked: &[
            "remove jira-legacy r2 max-removals",
            "remove jira-users r1 max-removals",
            "remove jira-users r2 max-removals",
        ],
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "max-removals as a percentage within the limit",
        setup: |f| {
            f.policy.safety.max_removals = Some(Limit::Percent(50.0));
            f.member("r1", "jira-users");
            f.holder("ok");
        },
        actions: &["remove jira-users r1 not-eligible"],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "allow_mass_removal lifts max-removals",
        setup: |f| {
            f.policy.safety.max_removals = Some(Limit::Count(1));
            f.allow_mass_removal = true;
            f.member("r1", "jira-users");
            f.member("r2", "jira-users");
        },
        actions: &[
            "remove jira-users r1 not-eligible",
            "remove jira-users r2 not-eligible",
        ],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "max-additions blocks additions beyond the limit in demand order",
        setup: |f| {
            f.policy.safety.max_additions = Some(Limit::Count(1));
            f.safe("late").requested = Some(d("2026-11-20"));
            f.safe("early").requested = Some(d("2026-11-10"));
            f.find("late");
            f.find("early");
        },
        actions: &["add jira-users early requested"],
        blocked: &["add jira-users late max-additions"],
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "self: the actor is never removed",
        setup: |f| {
            f.member("me", "jira-users");
            f.actor = Some(Fx::id("me"));
        },
        actions: NONE,
        blocked: &["remove jira-users me self"],
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "last-admin: the last member of an admin group stays",
        setup: |f| {
            f.policy.safety.admin_groups = Some(vec!["jira-users".into()]);
            f.member("a1", "jira-users");
            f.member("a2", "jira-users");
        },
        actions: &["remove jira-users a1 not-eligible"],
        blocked: &["remove jira-users a2 last-admin"],
        notices: NONE,
        observed: NONE,
    },
    Case {
        name:
            "synced-group: actions on synced groups are blocked, and a user's removals go together",
        setup: |f| {
            f.group("jira-users").synced = true;
            f.member("s1", "jira-users").member("s1", "jira-legacy");
            f.safe("s2").requested = Some(d("2026-11-20"));
            f.find("s2");
        },
        actions: NONE,
        blocked: &[
            "remove jira-legacy s1 synced-group",
            "add jira-users s2 synced-group",
            "remove jira-users s1 synced-group",
        ],
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "drift report: reverting actions become notices, reclaims still run",
        setup: |f| {
            f.product().drift = Drift::Report;
            f.member("nel", "jira-users");
            f.holder("idle");
            f.active("idle", "2026-07-01");
            f.announced("idle", "2026-11-25");
        },
        actions: &["remove jira-users idle inactive"],
        blocked: NONE,
        notices: &["drift nel"],
        observed: NONE,
    },
    Case {
        name: "drift report: policy changes still run, outside changes are reported",
        setup: |f| {
            f.product().drift = Drift::Report;
            // Policy-driven: a new safe user, a return after a reclaim, an expired grant, a
            // closed account, and someone seatkeeper added whose entry the policy dropped.
            f.safe("new").requested = Some(d("2026-11-20"));
            f.find("new");
            f.safe("back");
            f.reclaimed("back", "2026-10-01T08:00:00Z");
            f.event("back", EventAction::UserLoggedIn, "2026-11-24T10:00:00Z");
            f.holder("exp");
            f.policy.users.last_mut().expect("entry").until = Some(d("2026-11-01"));
            f.holder("gone");
            f.find("gone").status = AccountStatus::Closed;
            f.member("dropped", "jira-users");
            f.record(
                AuditKind::Add,
                "dropped",
                "g-users",
                "eligible",
                "2026-10-01",
            );
            // Outside seatkeeper: someone added by hand, and someone seatkeeper added whom an
            // admin removed by hand.
            f.member("hand", "jira-users").active("hand", "2026-11-24");
            f.holder("cut");
            f.record(AuditKind::Add, "cut", "g-users", "eligible", "2026-10-01");
            f.group("jira-users")
                .members
                .retain(|m| *m != Fx::id("cut"));
        },
        actions: &[
            "add jira-users back logged-in",
            "add jira-users new requested",
            "remove jira-users dropped not-eligible",
            "remove jira-users exp expired",
            "remove jira-users gone account-closed",
        ],
        blocked: NONE,
        notices: &["drift cut", "drift hand"],
        observed: NONE,
    },
    Case {
        name: "a re-grant into another grant group after a reclaim is observed and kept",
        setup: |f| {
            f.safe("other");
            f.active("other", "2026-06-01");
            f.reclaimed("other", "2026-09-01T08:00:00Z");
            f.member("other", "jira-legacy");
        },
        actions: NONE,
        blocked: NONE,
        notices: NONE,
        observed: &["jira-legacy other"],
    },
    Case {
        name: "a reclaim whose removal failed in one group goes on there; it is no re-grant",
        setup: |f| {
            f.safe("part");
            f.active("part", "2026-06-01");
            f.member("part", "jira-legacy");
            f.record(AuditKind::Add, "part", "g-legacy", "eligible", "2025-01-01");
            f.reclaimed("part", "2026-11-20T08:00:00Z");
            f.record(
                AuditKind::Remove,
                "part",
                "g-legacy",
                "inactive",
                "2026-11-20T08:00:01Z",
            );
            f.records.last_mut().expect("record").result = AuditResult::Failed;
        },
        actions: &["remove jira-legacy part inactive"],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "kept non-member is added when eligible, even when idle or reclaimed",
        setup: |f| {
            f.safe("kid");
            f.active("kid", "2025-01-10");
            f.keep(Matcher::Email("kid@acme.com".into()));
            f.safe("kre");
            f.active("kre", "2026-06-01");
            f.reclaimed("kre", "2026-09-01T08:00:00Z");
            f.keep(Matcher::Email("kre@acme.com".into()));
        },
        actions: &["add jira-users kid eligible", "add jira-users kre eligible"],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "ignore: by account type, email, account id and group; never touched or reported",
        setup: |f| {
            f.member("cust", "jira-users");
            f.find("cust").account_type = AccountType::Customer;
            f.member("ign", "jira-users");
            f.member("byid", "jira-users");
            f.member("grp", "jira-users").member("grp", "site-admins");
            f.safe("idle2");
            f.active("idle2", "2026-05-01");
            f.ignore(Matcher::AccountType(AccountType::Customer));
            f.ignore(Matcher::Email("ign@acme.com".into()));
            f.ignore(Matcher::AccountId(Fx::id("byid")));
            f.ignore(Matcher::Group("site-admins".into()));
            f.ignore(Matcher::Email("idle2@acme.com".into()));
        },
        actions: NONE,
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "eligible_groups: members are safe users",
        setup: |f| {
            f.policy.eligible_groups = vec!["employees".into()];
            f.member("emp", "jira-users")
                .member("emp", "employees")
                .active("emp", "2026-11-20");
            f.member("join", "employees");
            f.find("join").added_to_org = Some(t("2026-11-20"));
            f.member("out", "jira-users").active("out", "2026-11-20");
        },
        actions: &[
            "add jira-users join eligible",
            "remove jira-users out not-eligible",
        ],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "app and customer accounts are treated like anyone else",
        setup: |f| {
            f.member("bot", "jira-users").active("bot", "2026-11-24");
            f.find("bot").account_type = AccountType::App;
            f.member("cus", "jira-users").active("cus", "2026-11-24");
            f.find("cus").account_type = AccountType::Customer;
        },
        actions: &[
            "remove jira-users bot not-eligible",
            "remove jira-users cus not-eligible",
        ],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "suspended: kept when eligible and active, removed when not eligible, never added",
        setup: |f| {
            f.holder("sus");
            f.find("sus").status = AccountStatus::Suspended;
            f.member("sus2", "jira-users");
            f.find("sus2").status = AccountStatus::Suspended;
            f.safe("sus3").requested = Some(d("2026-11-20"));
            f.find("sus3").status = AccountStatus::Suspended;
        },
        actions: &["remove jira-users sus2 not-eligible"],
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
    Case {
        name: "email match is case-insensitive; entries by account id work",
        setup: |f| {
            f.member("Mixed", "jira-users")
                .active("Mixed", "2026-11-20");
            f.find("Mixed").email = Some("Mixed.Case@ACME.com".into());
            f.safe("x").who = UserRef::Email("mixed.case@acme.com".into());
            f.member("byid", "jira-users").active("byid", "2026-11-20");
            f.safe("y").who = UserRef::AccountId(Fx::id("byid"));
        },
        actions: NONE,
        blocked: NONE,
        notices: NONE,
        observed: NONE,
    },
];

#[test]
fn decision_table() {
    let mut failures = Vec::new();
    for case in CASES {
        let mut f = Fx::new();
        (case.setup)(&mut f);
        let p = f.plan();
        let got = (actions(&p), blocked(&p), notices(&p), observed(&p));
        let want = (
            case.actions
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
            case.blocked
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
            case.notices
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
            case.observed
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        );
        if got != want {
            failures.push(format!("{}:\n   got {got:?}\n  want {want:?}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn one_action(f: &Fx) -> Action {
    let p = f.plan();
    assert_eq!(p.actions.len(), 1, "{:?}", actions(&p));
    p.actions[0].clone()
}

#[test]
fn reasons_name_the_rule_and_the_evidence() {
    let mut f = Fx::new();
    f.holder("idle");
    f.active("idle", "2026-07-01");
    f.announced("idle", "2026-11-25");
    let a = one_action(&f);
    assert_eq!(a.reason, "inactive since 2026-07-01 (147 days > 90d)");
    assert_eq!(a.evidence.source, crate::plan::EvidenceSource::LastActive);
    assert_eq!(a.evidence.at, Some(t("2026-07-01")));
    assert_eq!(a.evidence.entry, Some(loc(20)));

    let mut f = Fx::new();
    f.safe("req").requested = Some(d("2026-11-20"));
    f.reclaimed("req", "2026-10-01T08:00:00Z");
    assert_eq!(one_action(&f).reason, "requested 2026-11-20");

    let mut f = Fx::new();
    f.safe("log");
    f.reclaimed("log", "2026-10-01T08:00:00Z");
    f.event("log", EventAction::UserLoggedIn, "2026-11-24T10:00:00Z");
    assert_eq!(one_action(&f).reason, "logged in 2026-11-24");

    let mut f = Fx::new();
    f.holder("exp");
    f.policy.users[0].until = Some(d("2026-11-01"));
    assert_eq!(
        one_action(&f).reason,
        "grant expired on 2026-11-01 (seatkeeper.yaml:20:5)"
    );

    let mut f = Fx::new();
    f.member("nel", "jira-users");
    assert_eq!(
        one_action(&f).reason,
        "not eligible: no safe-user entry or eligible group grants jira-software"
    );

    let mut f = Fx::new();
    f.holder("gone");
    f.find("gone").status = AccountStatus::Closed;
    assert_eq!(one_action(&f).reason, "account closed");
}

#[test]
fn seats_fingerprints_and_budget() {
    let mut f = Fx::new();
    f.product().seats = Some(10);
    f.holder("a");
    f.member("b", "jira-users").member("b", "jira-legacy");
    f.member("c", "jira-legacy");
    f.find("c").account_type = AccountType::Customer;
    f.ignore(Matcher::AccountType(AccountType::Customer));
    f.group("jira-users").members.push("not-a-user".into());
    f.safe("n").requested = Some(d("2026-11-20"));
    f.find("n");
    let p = f.plan();
    // a, b and the unknown member are billed; c, a customer account (ignored), is a member
    // Atlassian does not bill.
    assert_eq!(
        p.seats[P],
        Seats {
            before: 3,
            after: 3,
            not_billed: 1,
            licensed: None,
            budget: Some(10)
        }
    );
    for g in &f.live.groups[..2] {
        assert_eq!(
            p.fingerprint.get(&g.id),
            Some(&fingerprint_members(g.members.iter().map(String::as_str))),
            "{}",
            g.name
        );
    }
    assert!(!p.fingerprint.contains_key("g-emp"));
    assert!(
        p.warnings.iter().any(|w| w.message.contains("not-a-user")),
        "{:?}",
        p.warnings
    );
    assert_eq!(p.generated_at, f.now);
    assert_eq!(p.policy_commit.as_deref(), Some("abc123"));
}

#[test]
fn fingerprints_are_the_same_whether_members_come_in_id_order_or_not() {
    let (policy, live) = synth::synth_org(3_000, 7);
    let ledger = Ledger::empty();
    let plan_of = |live: &LiveState| {
        plan(&PlanInput {
            policy: &policy,
            live,
            ledger: &ledger,
            now: synth::synth_now(),
            actor: None,
            policy_commit: None,
            allow_mass_removal: false,
        })
    };
    // Snapshots list members in id order: hashed as they stand.
    let in_order = plan_of(&live);
    // Every grant group of the policy is fingerprinted.
    let grant_groups = policy
        .products
        .iter()
        .map(|p| p.groups.len())
        .sum::<usize>();
    assert!(
        in_order.fingerprint.len() >= grant_groups,
        "{:?}",
        in_order.fingerprint
    );
    for (id, fingerprint) in &in_order.fingerprint {
        let g = live.groups.iter().find(|g| &g.id == id).expect("group");
        assert_eq!(
            fingerprint,
            &fingerprint_members(g.members.iter().map(String::as_str))
        );
    }
    // Out of order, with a repeat: the planner puts them in order itself.
    let mut shuffled = live.clone();
    for g in &mut shuffled.groups {
        g.members.reverse();
        if let Some(first) = g.members.first().cloned() {
            g.members.push(first);
        }
    }
    assert_eq!(plan_of(&shuffled).fingerprint, in_order.fingerprint);
}

#[test]
fn warnings_for_missing_groups_and_missing_evidence() {
    let mut f = Fx::new();
    f.product().groups.insert(0, "ghost-group".into());
    f.policy.eligible_groups = vec!["nobody".into()];
    f.member("ghost", "jira-users");
    f.safe("ghost");
    f.find("ghost").added_to_org = None;
    f.safe("new").requested = Some(d("2026-11-20"));
    f.find("new");
    let p = f.plan();
    let all = p
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("ghost-group"), "{all}");
    assert!(all.contains("nobody"), "{all}");
    assert!(all.contains("no activity evidence"), "{all}");
    // Additions go to the first group that exists.
    assert_eq!(actions(&p), ["add jira-users new requested"]);
}

#[test]
fn reclaim_soon_notice_carries_the_date() {
    let mut f = Fx::new();
    f.holder("soon");
    f.active("soon", "2026-08-30");
    // The window ends on 2026-11-28, but nothing announced it yet: the reclaim is announced
    // now for `notice` (14 days) ahead, never for sooner.
    let p = f.plan();
    assert_eq!(p.notices.len(), 1);
    assert_eq!(p.notices[0].at, Some(t("2026-12-09T08:00:00Z")));
    assert!(
        p.notices[0].detail.contains("2026-12-09"),
        "{}",
        p.notices[0].detail
    );
    // An earlier applied plan announced the end of the window: that date holds.
    f.announced("soon", "2026-11-28");
    let p = f.plan();
    assert_eq!(p.notices.len(), 1);
    assert_eq!(p.notices[0].at, Some(t("2026-11-28")));
    assert!(
        p.notices[0].detail.contains("2026-11-28"),
        "{}",
        p.notices[0].detail
    );
}

#[test]
fn explain_agrees_with_plan() {
    let mut f = Fx::new();
    f.policy.products.push(Product {
        key: "confluence".into(),
        groups: vec!["employees".into()],
        seats: None,
        inactivity: None,
        notice: None,
        grace: Duration::days(1),
        drift: Drift::Revert,
        eligible_groups: Vec::new(),
        restore_on_login: true,
        location: loc(9),
    });
    f.holder("idle");
    f.active("idle", "2026-07-01");
    f.announced("idle", "2026-11-25");
    f.policy.users[0].products = Some(vec![P.into()]);
    f.member("me", "jira-users");
    f.actor = Some(Fx::id("me"));
    f.safe("req").requested = Some(d("2026-11-20"));
    f.find("req").email = Some("Req@Acme.com".into());
    f.policy.users[1].who = UserRef::Email("req@acme.com".into());

    let e = f
        .with_input(|i| explain(i, "IDLE@acme.com"))
        .expect("found");
    assert_eq!(e.products.len(), 2);
    let j = &e.products[0];
    assert_eq!(
        (j.product.as_str(), j.outcome, j.rule),
        (P, Outcome::Remove, Some(Rule::Inactive))
    );
    assert!(j.holds_now && !j.holds_after);
    assert_eq!(j.groups_now, ["jira-users"]);
    assert_eq!(j.reason, "inactive since 2026-07-01 (147 days > 90d)");
    assert_eq!(j.evidence.entry, Some(loc(20)));
    assert_eq!(j.reclaim_at, Some(t("2026-11-25")));
    let c = &e.products[1];
    assert_eq!(
        (c.outcome, c.rule),
        (Outcome::None, Some(Rule::NotEligible))
    );

    let e = f.with_input(|i| explain(i, &Fx::id("me"))).expect("found");
    assert_eq!(e.products[0].outcome, Outcome::Blocked(Rail::SelfAccount));
    assert!(e.products[0].holds_after);

    let e = f.with_input(|i| explain(i, "req@acme.com")).expect("found");
    assert_eq!(e.products[0].outcome, Outcome::Add);
    assert!(e.products[0].holds_after);
    assert_eq!(e.products[0].reason, "requested 2026-11-20");

    assert!(f.with_input(|i| explain(i, "nobody@acme.com")).is_none());

    // Every decision agrees with the plan's actions for that user.
    let p = f.plan();
    for u in &f.live.users {
        let e = f.with_input(|i| explain(i, &u.account_id)).expect("found");
        for dcs in &e.products {
            let acted = p
                .actions
                .iter()
                .any(|a| a.account_id == u.account_id && a.product == dcs.product);
            assert_eq!(
                acted,
                matches!(dcs.outcome, Outcome::Add | Outcome::Remove),
                "{} {}",
                u.account_id,
                dcs.product
            );
        }
    }
}

#[test]
fn explain_reports_dormant_ignored_and_kept() {
    let mut f = Fx::new();
    f.safe("dor");
    f.active("dor", "2026-09-01");
    f.reclaimed("dor", "2026-10-01T08:00:00Z");
    f.member("kim", "jira-users");
    f.keep(Matcher::Email("kim@acme.com".into()));
    f.member("ign", "jira-users");
    f.ignore(Matcher::Email("ign@acme.com".into()));
    let outcome = |who: &str| f.with_input(|i| explain(i, who)).expect("found").products[0].outcome;
    assert_eq!(outcome("dor@acme.com"), Outcome::Dormant);
    assert_eq!(outcome("kim@acme.com"), Outcome::Keep);
    assert_eq!(outcome("ign@acme.com"), Outcome::Ignored);
}

#[test]
fn plan_is_total_on_degenerate_input() {
    let mut f = Fx::new();
    f.policy.products[0].groups.clear();
    f.policy.products.push(Product {
        key: P.into(),
        groups: vec!["jira-users".into(), "jira-users".into()],
        seats: Some(0),
        inactivity: Some(Duration::seconds(0)),
        notice: Some(Duration::seconds(i64::MAX)),
        grace: Duration::seconds(0),
        drift: Drift::Revert,
        eligible_groups: Vec::new(),
        restore_on_login: true,
        location: loc(1),
    });
    f.policy.safety.max_removals = Some(Limit::Percent(f64::NAN));
    f.member("x", "jira-users").member("x", "jira-users");
    f.live.users.push(f.live.users[0].clone());
    f.live.groups.push(f.live.groups[0].clone());
    f.safe("x").until = Some(NaiveDate::MAX);
    f.find("x").last_active.insert(P, DateTime::<Utc>::MAX_UTC);
    f.event("x", EventAction::AccessRequested, "2026-11-01")
        .product = Some("nope".into());
    f.records
        .push(f.records.first().cloned().unwrap_or_else(|| AuditRecord {
            time: DateTime::<Utc>::MIN_UTC,
            kind: AuditKind::Remove,
            product: P.into(),
            group: "?".into(),
            group_id: "?".into(),
            account_id: "?".into(),
            email: None,
            rule: "inactive".into(),
            reason: String::new(),
            result: AuditResult::Ok,
            plan_id: String::new(),
            policy_commit: None,
            actor: String::new(),
            error: None,
            reclaim_on: None,
            prev_hash: String::new(),
            hash: String::new(),
        }));
    let p = f.plan();
    assert_eq!(p.format_version, crate::plan::PLAN_FORMAT_VERSION);
    let _ = f.with_input(|i| explain(i, "x@acme.com"));
}

#[test]
fn days_format_like_chrono() {
    use super::evaluate::Day;
    for s in [
        "2026-07-01T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T12:00:00Z",
    ] {
        let time = t(s);
        assert_eq!(Day(time).to_string(), time.date_naive().to_string());
    }
    for time in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
        assert_eq!(Day(time).to_string(), time.date_naive().to_string());
    }
}

#[test]
fn plans_round_trip_through_json() {
    let mut f = Fx::new();
    f.product().seats = Some(1);
    f.holder("a");
    f.member("b", "jira-users").member("b", "jira-legacy");
    f.safe("c").requested = Some(d("2026-11-20"));
    f.find("c");
    f.holder("soon");
    f.active("soon", "2026-08-30");
    f.safe("reg");
    f.active("reg", "2026-06-01");
    f.reclaimed("reg", "2026-09-01T08:00:00Z");
    f.member("reg", "jira-users");
    let p = f.plan();
    assert!(!p.actions.is_empty() && !p.blocked.is_empty());
    assert!(!p.notices.is_empty() && !p.observed.is_empty());
    let json = serde_json::to_string(&p).expect("serialize");
    let back: Plan = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(p, back);
    assert_eq!(p.id(), back.id());
}

#[test]
fn the_index_reads_ids_and_emails_back_as_the_live_state_gives_them() {
    let mut f = Fx::new();
    f.user("Ann").email = Some("Ann.Lee@Acme.com".into());
    f.user("nomail").email = None;
    f.user("empty").email = Some(String::new());
    f.user("ann-again").account_id = Fx::id("Ann"); // a duplicate id: the first entry wins
    f.user("zed");
    let ledger = Ledger::empty();
    let ix = Index::new(&f.policy, &f.live, &ledger, f.now);
    let seen: Vec<(&str, Option<&str>)> = (0..ix.users.len() as UserIx)
        .map(|u| (ix.account_id(u), ix.email(u)))
        .collect();
    assert_eq!(
        seen,
        [
            ("acc-Ann", Some("Ann.Lee@Acme.com")),
            ("acc-nomail", None),
            ("acc-empty", Some("")),
            ("acc-zed", Some("zed@acme.com")),
        ]
    );
    assert_eq!(ix.account_id(99), "");
    assert_eq!(ix.email(99), None);
}

#[test]
fn dates_in_reasons_are_written_as_chrono_writes_them() {
    use super::evaluate::Day;
    for time in [
        t("2026-11-25T08:00:00Z"),
        t("0001-01-01T00:00:00Z"),
        t("9999-12-31T23:59:59Z"),
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
    ] {
        let want = time.date_naive().to_string();
        let mut pushed = String::from("x");
        Day(time).push_to(&mut pushed);
        assert_eq!(pushed, format!("x{want}"));
        assert_eq!(Day(time).to_string(), want);
    }
}

#[test]
fn a_login_never_keeps_a_product_and_restores_only_where_restore_on_login_is_on() {
    let mut f = Fx::new();
    f.policy.products.push(Product {
        key: "confluence".into(),
        groups: vec!["employees".into()],
        seats: None,
        inactivity: Some(Duration::days(90)),
        notice: Some(Duration::days(14)),
        grace: Duration::days(1),
        drift: Drift::Revert,
        eligible_groups: Vec::new(),
        restore_on_login: false,
        location: loc(9),
    });
    // Active in Jira yesterday, idle in Confluence since February 2025, logged in today.
    f.holder("ana");
    f.member("ana", "employees");
    f.find("ana")
        .last_active
        .insert("confluence", t("2025-02-11"));
    f.event("ana", EventAction::UserLoggedIn, "2026-11-25T07:00:00Z");
    let p = f.plan();
    assert_eq!(notices(&p), ["reclaim-soon ana"]);
    assert_eq!(p.notices[0].product, "confluence");
    assert_eq!(
        p.notices[0].detail,
        "reclaim on 2026-12-09 unless active on confluence (last active 2025-02-11)"
    );
    // apply will record the announcement.
    assert_eq!(p.announce.len(), 1);
    assert_eq!(p.announce[0].reclaim_on, t("2026-12-09T08:00:00Z"));
    let e = f.with_input(|i| explain(i, "ana@acme.com")).expect("ana");
    let conf = e
        .products
        .iter()
        .find(|d| d.product == "confluence")
        .expect("confluence");
    assert_eq!(conf.evidence.last_active, Some(t("2025-02-11")));
    assert!(!conf.reclaim_announced);

    // After both seats were reclaimed, a login gives back Jira (restore_on_login defaults to
    // on) and not Confluence (off).
    let mut f = Fx::new();
    f.policy.products.push(f.policy.products[0].clone());
    f.policy.products[1].key = "confluence".into();
    f.policy.products[1].groups = vec!["employees".into()];
    f.policy.products[1].restore_on_login = false;
    f.safe("bo");
    f.active("bo", "2026-05-01");
    f.reclaimed("bo", "2026-08-01T08:00:00Z");
    f.records.push(f.records.last().cloned().expect("reclaim"));
    if let Some(r) = f.records.last_mut() {
        r.product = "confluence".into();
        r.group_id = "g-emp".into();
    }
    f.event("bo", EventAction::UserLoggedIn, "2026-11-20T09:00:00Z");
    let p = f.plan();
    assert_eq!(actions(&p), ["add jira-users bo logged-in"]);
    assert_eq!(notices(&p), ["dormant bo"]);
    assert_eq!(p.notices[0].product, "confluence");
}

#[test]
fn membership_evidence_shows_the_products_own_last_active_time() {
    let mut f = Fx::new();
    f.holder("cy");
    f.find("cy").last_active = Activity::new();
    f.record(AuditKind::Add, "cy", "g-users", "eligible", "2026-08-01");
    f.announced("cy", "2026-11-25");
    let a = one_action(&f);
    assert_eq!(
        a.reason,
        "inactive since 2026-08-01 (116 days > 90d); never active on jira-software"
    );
    assert_eq!(a.evidence.last_active, None);
}

#[test]
fn first_run_announces_at_least_seven_days_ahead_and_apply_records_it() {
    let mut f = Fx::new();
    f.first_run = true;
    f.product().notice = None;
    f.holder("idle");
    f.active("idle", "2026-07-01");
    let p = f.plan();
    assert!(p.first_run);
    assert!(p.actions.is_empty());
    assert_eq!(p.notices[0].at, Some(t("2026-12-02T08:00:00Z")));
    assert_eq!(p.announce.len(), 1);
    assert!(p.has_changes(), "the announcement is for apply to record");
    // Once recorded, the next run holds that date, and reclaims on it.
    f.first_run = false;
    f.announced("idle", "2026-12-02T08:00:00Z");
    let p = f.plan();
    assert!(p.actions.is_empty());
    assert!(p.announce.is_empty());
    assert_eq!(p.notices[0].at, Some(t("2026-12-02T08:00:00Z")));
    assert!(p.notices[0].detail.contains("(announced)"));
    f.now = t("2026-12-02T08:00:00Z");
    assert_eq!(actions(&f.plan()), ["remove jira-users idle inactive"]);
}

#[test]
fn seats_count_billable_holders_and_show_the_rest_apart() {
    let mut f = Fx::new();
    f.product().seats = Some(3);
    f.holder("a1");
    f.holder("a2");
    f.holder("sus");
    f.find("sus").status = AccountStatus::Suspended;
    f.holder("gone");
    f.find("gone").status = AccountStatus::Closed;
    f.safe("new").requested = Some(d("2026-11-20"));
    f.find("new");
    let p = f.plan();
    let seats = p.seats[P];
    // Two active holders are billed; the closed one is removed, the suspended one stays.
    assert_eq!((seats.before, seats.after, seats.not_billed), (2, 3, 2));
    assert_eq!(
        actions(&p),
        [
            "add jira-users new requested",
            "remove jira-users gone account-closed"
        ]
    );
}

#[test]
fn an_access_request_from_someone_the_policy_does_not_grant_awaits_approval() {
    let mut f = Fx::new();
    f.user("stranger");
    f.event(
        "stranger",
        EventAction::AccessRequested,
        "2026-11-23T10:00:00Z",
    )
    .product = Some(P.into());
    f.safe("conf").products = Some(vec!["confluence".into()]);
    f.event("conf", EventAction::AccessRequested, "2026-11-24T10:00:00Z")
        .product = Some(P.into());
    let p = f.plan();
    assert!(p.actions.is_empty());
    let lines: Vec<(&str, &str, Option<String>)> = p
        .requests
        .iter()
        .map(|r| {
            (
                r.email.as_deref().unwrap_or(""),
                r.policy_line.as_str(),
                r.replaces.as_ref().map(|l| l.to_string()),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (
                "conf@acme.com",
                "- { email: conf@acme.com, products: [confluence, jira-software] }",
                Some("seatkeeper.yaml:20:5".to_string())
            ),
            (
                "stranger@acme.com",
                "- { email: stranger@acme.com, products: [jira-software] }",
                None
            ),
        ]
    );
    assert_eq!(p.requests[1].requested_at, t("2026-11-23T10:00:00Z"));
}

#[test]
fn a_product_s_own_eligible_groups_grant_that_product_only() {
    let mut f = Fx::new();
    f.policy.products.push(Product {
        key: "confluence".into(),
        groups: vec!["site-admins".into()],
        seats: None,
        inactivity: None,
        notice: None,
        grace: Duration::days(1),
        drift: Drift::Revert,
        eligible_groups: Vec::new(),
        restore_on_login: true,
        location: loc(9),
    });
    // "Members of employees may hold Jira Software" is one line.
    f.product().eligible_groups = vec!["employees".into(), "ghost-safe-users".into()];
    f.member("dev", "employees");
    f.active("dev", "2026-11-20");
    f.member("dev", "site-admins");
    let p = f.plan();
    assert_eq!(actions(&p), ["add jira-users dev eligible"]);
    // Confluence is not granted by jira-software's eligible group: dev would be removed, but
    // is the last site admin.
    assert_eq!(blocked(&p), ["remove site-admins dev last-admin"]);
    assert!(
        p.warnings
            .iter()
            .any(|w| w.code == "unknown-group"
                && w.message == "product jira-software: eligible group `ghost-safe-users` does not exist in the org; nobody is eligible through it"),
        "{:?}",
        p.warnings
    );
}

#[test]
fn additions_beyond_the_licence_are_blocked_after_the_removals_free_seats() {
    let mut f = Fx::new();
    f.live.licenses.insert(P.to_string(), License { limit: 3 });
    f.holder("a1");
    f.holder("a2");
    f.member("gone", "jira-users");
    for name in ["n1", "n2", "n3"] {
        f.safe(name).requested = Some(d("2026-11-20"));
        f.find(name);
    }
    let p = f.plan();
    // 3 licensed and 3 billed now; the removal frees one: one of the three requests fits.
    assert_eq!(
        actions(&p),
        [
            "add jira-users n1 requested",
            "remove jira-users gone not-eligible"
        ]
    );
    assert_eq!(
        blocked(&p),
        [
            "add jira-users n2 licence-limit",
            "add jira-users n3 licence-limit"
        ]
    );
    assert_eq!(p.seats[P].licensed, Some(3));
    assert_eq!(p.seats[P].after, 3);
}

/// `notify.before_reclaim`: a reclaim waits for the person's `reclaim-soon` email, accepted at
/// least `notice` (14 days) before; an email is only counted since the last reclaim.
#[test]
fn a_reclaim_waits_until_its_email_was_accepted_a_notice_earlier() {
    let email_sent = |f: &mut Fx, name: &str, at: &str| {
        f.record(AuditKind::Notified, name, "", "reclaim-soon", at);
        if let Some(r) = f.records.last_mut() {
            r.reclaim_on = Some(t("2026-11-25T08:00:00Z"));
        }
    };
    let setup = |f: &mut Fx| {
        f.policy.notify = Some(crate::policy::notify::Notify {
            email: None,
            chat: None,
            before_reclaim: true,
            after_reclaim: false,
            digest: false,
            templates: Default::default(),
            rate: Default::default(),
        });
        for name in ["never", "late", "early"] {
            f.holder(name);
            f.active(name, "2026-07-01");
            f.announced(name, "2026-11-25T08:00:00Z");
        }
    };
    let mut f = Fx::new();
    setup(&mut f);
    email_sent(&mut f, "late", "2026-11-20T08:00:00Z");
    email_sent(&mut f, "early", "2026-11-11T08:00:00Z");
    let p = f.plan();
    assert_eq!(actions(&p), ["remove jira-users early inactive"]);
    assert_eq!(
        blocked(&p),
        [
            "remove jira-users late not-notified",
            "remove jira-users never not-notified"
        ]
    );
    let details: Vec<&str> = p.blocked.iter().map(|b| b.rail_detail.as_str()).collect();
    assert!(
        details[0].contains("accepted on 2026-11-20")
            && details[0].contains("waits until 2026-12-04"),
        "{details:?}"
    );
    assert!(
        details[1].contains("no reclaim-soon email to never@acme.com"),
        "{details:?}"
    );

    // Without `before_reclaim`, an announcement is enough, as before.
    let mut f = Fx::new();
    setup(&mut f);
    f.policy.notify = None;
    assert_eq!(actions(&f.plan()).len(), 3);

    // A failed send, or a message in doubt, is not a notification.
    let mut f = Fx::new();
    setup(&mut f);
    email_sent(&mut f, "early", "2026-11-01T08:00:00Z");
    f.records.last_mut().unwrap().result = AuditResult::Failed;
    f.record(
        AuditKind::Notifying,
        "late",
        "",
        "reclaim-soon",
        "2026-11-01T08:00:00Z",
    );
    f.records.last_mut().unwrap().reclaim_on = Some(t("2026-11-25T08:00:00Z"));
    assert_eq!(blocked(&f.plan()).len(), 3);
}
