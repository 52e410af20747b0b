//! Snapshot loading speed: parses a generated 100,000-user snapshot a few times and prints the
//! time per parse. Run with `cargo bench --bench snapshot`. The budget is well under 300 ms.

use seatkeeper::live::{
    parse_snapshot, AccountStatus, AccountType, Activity, Event, EventAction, Group, LiveState,
    User,
};
use std::collections::BTreeMap;
use std::time::Instant;

fn generate(users: usize) -> String {
    let t = |s: &str| s.parse().expect("timestamp");
    let taken_at = t("2026-11-25T08:00:00Z");
    let mut state = LiveState {
        format_version: 1,
        site: "acme.atlassian.net".into(),
        org_id: Some("3b7c1d2e-4f5a-6b7c-8d9e-0f1a2b3c4d5e".into()),
        taken_at,
        users: Vec::with_capacity(users),
        groups: Vec::new(),
        events: Vec::new(),
        licenses: BTreeMap::new(),
        events_read: None,
    };
    let mut jira = Vec::new();
    let mut confluence = Vec::new();
    for i in 0..users {
        let id = format!("5b10ac8d82e05b22{i:08x}");
        let mut last_active = Activity::new();
        if i % 3 != 0 {
            last_active.insert("jira-software".to_string(), t("2026-10-01T09:00:00Z"));
            jira.push(id.clone());
        }
        if i % 2 == 0 {
            last_active.insert("confluence".to_string(), t("2026-09-01T09:00:00Z"));
            confluence.push(id.clone());
        }
        if i % 50 == 0 {
            state.events.push(Event {
                time: t("2026-11-24T10:00:00Z"),
                action: EventAction::UserLoggedIn,
                account_id: id.clone(),
                product: None,
                group_id: None,
            });
        }
        state.users.push(User {
            account_id: id,
            email: Some(format!("user{i}@acme.com")),
            name: format!("User {i}"),
            account_type: if i % 100 == 0 {
                AccountType::App
            } else {
                AccountType::Atlassian
            },
            status: AccountStatus::Active,
            added_to_org: Some(t("2024-02-01T00:00:00Z")),
            last_active,
        });
    }
    for (n, members) in [
        ("jira-software-users-acme", jira),
        ("confluence-users-acme", confluence),
    ] {
        state.groups.push(Group {
            id: format!("id-{n}"),
            name: n.into(),
            members,
            synced: false,
        });
    }
    serde_json::to_string_pretty(&state).expect("serialize")
}

fn main() {
    let text = generate(100_000);
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let state = parse_snapshot("bench.json", &text).expect("valid snapshot");
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(state.users.len(), 100_000);
        best = best.min(ms);
    }
    let mib = text.len() as f64 / (1024.0 * 1024.0);
    #[allow(clippy::print_stdout)]
    {
        println!("parse_snapshot: 100000 users, {mib:.1} MiB: best of 5 {best:.1} ms");
    }
}
