//! Writing a validated [`Policy`] back as policy YAML: `seatkeeper.yaml` plus the included files
//! that hold the safe users. Loading the output with [`super::load`] gives the same policy apart
//! from locations (a test keeps it so).
//!
//! The users go to `users/users-0001.yaml`, `users/users-0002.yaml`, ... (in order, each kept
//! well under [`MAX_POLICY_FILE_BYTES`]), included with `include: [users/*.yaml]`; a policy
//! without users has no included file. Strings are written plain when that reads back as the
//! same string, double-quoted otherwise. Used by the process benchmark to turn a synthetic org
//! into a policy folder; `export --policy-out` keeps its own hand-written starting policy.

use super::source::{MAIN_FILE, MAX_POLICY_FILE_BYTES};
use super::{raw, Limit, Matcher, Policy, SafeUser, Selector, UserRef};
use crate::time::Duration;
use std::fmt::Write;

/// The folder the users files go to, relative to the policy root.
pub const USERS_DIR: &str = "users";

/// A users file is closed once it grows past this many bytes (well under the loader's limit).
pub const USERS_FILE_BYTES: usize = (MAX_POLICY_FILE_BYTES as usize) / 2;

/// The policy as files: `(path relative to the policy root, text)`, the main file first, then
/// the users files in include order.
pub fn to_yaml(policy: &Policy) -> Vec<(String, String)> {
    to_yaml_split(policy, USERS_FILE_BYTES)
}

/// [`to_yaml`] with users files closed once they pass `file_bytes` bytes.
pub fn to_yaml_split(policy: &Policy, file_bytes: usize) -> Vec<(String, String)> {
    let mut users_files: Vec<String> = Vec::new();
    let mut current = String::new();
    for u in &policy.users {
        if current.is_empty() {
            current.push_str("users:\n");
        }
        user_yaml(u, &mut current);
        if current.len() >= file_bytes {
            users_files.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        users_files.push(current);
    }
    let mut out = vec![(
        MAIN_FILE.to_string(),
        main_yaml(policy, !users_files.is_empty()),
    )];
    let width = users_files.len().to_string().len().max(4);
    for (i, text) in users_files.into_iter().enumerate() {
        out.push((format!("{USERS_DIR}/users-{:0width$}.yaml", i + 1), text));
    }
    out
}

fn main_yaml(policy: &Policy, has_users: bool) -> String {
    let mut s = String::new();
    s.push_str("version: 1\n");
    let _ = writeln!(s, "site: {}", scalar(&policy.site));
    if let Some(org) = &policy.org {
        let _ = writeln!(s, "org: {}", scalar(org));
    }
    s.push_str("\nproducts:\n");
    for p in &policy.products {
        let _ = writeln!(s, "  {}:", scalar(&p.key));
        let _ = writeln!(s, "    groups: {}", flow_list(&p.groups));
        if let Some(n) = p.seats {
            let _ = writeln!(s, "    seats: {n}");
        }
        if let Some(d) = p.inactivity {
            let _ = writeln!(s, "    inactivity: {}", duration(d));
        }
        if let Some(d) = p.notice {
            let _ = writeln!(s, "    notice: {}", duration(d));
        }
        let _ = writeln!(s, "    grace: {}", duration(p.grace));
        let drift = match p.drift {
            super::Drift::Revert => "revert",
            super::Drift::Report => "report",
        };
        let _ = writeln!(s, "    drift: {drift}");
    }
    if has_users {
        let _ = writeln!(s, "\ninclude: [{USERS_DIR}/*.yaml]");
    }
    if !policy.eligible_groups.is_empty() {
        let _ = writeln!(
            s,
            "\neligible_groups: {}",
            flow_list(&policy.eligible_groups)
        );
    }
    for (key, selectors) in [("keep", &policy.keep), ("ignore", &policy.ignore)] {
        if !selectors.is_empty() {
            let _ = writeln!(s, "\n{key}:");
            for sel in selectors {
                selector_yaml(sel, &mut s);
            }
        }
    }
    let _ = writeln!(s, "\naudit_log: {}", scalar(&policy.audit_log));
    let safety = &policy.safety;
    if safety.max_removals.is_some()
        || safety.max_additions.is_some()
        || safety.admin_groups.is_some()
    {
        s.push_str("\nsafety:\n");
        if let Some(l) = safety.max_removals {
            let _ = writeln!(s, "  max_removals: {}", limit(l));
        }
        if let Some(l) = safety.max_additions {
            let _ = writeln!(s, "  max_additions: {}", limit(l));
        }
        if let Some(groups) = &safety.admin_groups {
            let _ = writeln!(s, "  admin_groups: {}", flow_list(groups));
        }
    }
    s
}

fn user_yaml(u: &SafeUser, s: &mut String) {
    match &u.who {
        UserRef::Email(e) => {
            let _ = writeln!(s, "  - email: {}", scalar(e));
        }
        UserRef::AccountId(a) => {
            let _ = writeln!(s, "  - account_id: {}", scalar(a));
        }
    }
    if let Some(products) = &u.products {
        let _ = writeln!(s, "    products: {}", flow_list(products));
    }
    if let Some(d) = u.until {
        let _ = writeln!(s, "    until: {}", d.format("%Y-%m-%d"));
    }
    if let Some(d) = u.requested {
        let _ = writeln!(s, "    requested: {}", d.format("%Y-%m-%d"));
    }
}

fn selector_yaml(sel: &Selector, s: &mut String) {
    let _ = match &sel.matcher {
        Matcher::Email(e) => writeln!(s, "  - email: {}", scalar(e)),
        Matcher::AccountId(a) => writeln!(s, "  - account_id: {}", scalar(a)),
        Matcher::Group(g) => writeln!(s, "  - group: {}", scalar(g)),
        Matcher::AccountType(t) => writeln!(s, "  - account_type: {}", t.as_str()),
    };
}

fn limit(l: Limit) -> String {
    match l {
        Limit::Count(n) => n.to_string(),
        // `f64`'s Display is the shortest text that parses back to the same value.
        Limit::Percent(p) => scalar(&format!("{p}%")),
    }
}

/// A duration in the largest unit that divides it (so the number stays short), like `90d`.
fn duration(d: Duration) -> String {
    let s = d.as_seconds();
    for (unit, len) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3_600)] {
        if s % len == 0 {
            return format!("{}{unit}", s / len);
        }
    }
    // Policies only hold whole minutes (`Duration::parse` has no smaller unit).
    format!("{}m", s / 60)
}

fn flow_list(items: &[String]) -> String {
    let mut s = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&scalar(item));
    }
    s.push(']');
    s
}

/// `text` as a YAML scalar that reads back as the string `text`: plain when it is made of
/// safe characters and would not resolve to anything else (a number, a boolean, null),
/// double-quoted otherwise.
pub fn scalar(text: &str) -> String {
    let safe = text
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@+-/%".contains(&b))
        && matches!(raw::resolve_plain(text.to_string()), raw::NodeKind::Str(_));
    if safe {
        text.to_string()
    } else {
        quoted(text)
    }
}

/// A YAML double-quoted scalar; everything that is not printable is escaped.
fn quoted(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            '\r' => s.push_str("\\r"),
            c if printable(c) => s.push(c),
            c if (c as u32) <= 0xFFFF => {
                let _ = write!(s, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(s, "\\U{:08X}", c as u32);
            }
        }
    }
    s.push('"');
    s
}

/// YAML's printable characters, less the byte-order mark and NEL (a line break to YAML 1.1).
fn printable(c: char) -> bool {
    matches!(c,
        '\u{20}'..='\u{7E}'
        | '\u{A0}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FEFE}'
        | '\u{FF00}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::AccountType;
    use crate::planner::synth::synth_org;
    use crate::policy::source::MemFiles;
    use crate::policy::{Drift, Location, Product, Safety};
    use chrono::NaiveDate;

    /// The policy with every location cleared.
    fn unlocated(mut p: Policy) -> Policy {
        for product in &mut p.products {
            product.location = Location::default();
        }
        for u in &mut p.users {
            u.location = Location::default();
        }
        for s in p.keep.iter_mut().chain(p.ignore.iter_mut()) {
            s.location = Location::default();
        }
        p
    }

    fn files(out: &[(String, String)]) -> MemFiles {
        out.iter().fold(MemFiles::new(), |m, (path, text)| {
            m.with(path, text.as_str())
        })
    }

    fn round_trip(policy: &Policy, file_bytes: usize) -> Vec<(String, String)> {
        let out = to_yaml_split(policy, file_bytes);
        let loaded = match crate::policy::load(&files(&out)) {
            Ok(l) => l,
            Err(ds) => panic!("{ds:?}\n{}", out[0].1),
        };
        assert_eq!(
            unlocated(loaded.policy),
            unlocated(policy.clone()),
            "{}",
            out[0].1
        );
        let paths: Vec<&str> = out.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(loaded.files, paths);
        out
    }

    #[test]
    fn a_synthetic_org_round_trips() {
        let (policy, _) = synth_org(3_000, 11);
        assert!(policy.users.iter().any(|u| u.until.is_some()));
        assert!(policy.users.iter().any(|u| u.requested.is_some()));
        assert!(policy.users.iter().any(|u| u.products.is_none()));
        let out = round_trip(&policy, USERS_FILE_BYTES);
        assert_eq!(out.len(), 2, "one users file");
        assert!(out[0].1.contains("include: [users/*.yaml]"));
    }

    #[test]
    fn users_are_split_over_files_in_order() {
        let (policy, _) = synth_org(2_000, 3);
        let out = round_trip(&policy, 4_096);
        assert!(out.len() > 10, "{}", out.len());
        assert_eq!(out[1].0, "users/users-0001.yaml");
        for (path, text) in &out[1..] {
            assert!(text.len() < 4_096 + 200, "{path}: {}", text.len());
        }
    }

    #[test]
    fn odd_values_round_trip() {
        let (mut policy, _) = synth_org(50, 1);
        policy.org = None;
        let odd_groups = [
            "quote\"back\\slash",
            "12",
            "true",
            "null",
            "- dash",
            "#hash",
            "a: b",
            "tab\there",
            "ünïcödé ✓",
            "del\u{7f}nel\u{85}bom\u{feff}",
            "astral 𝄞",
            " padded ",
            "1e5",
            "0x1F",
            ".inf",
            "@at",
            "*star",
            "&amp",
            "!bang",
            "{brace}",
            "[bracket]",
            "'single'",
            "%percent",
        ];
        policy.products = vec![
            Product {
                key: "123".into(),
                groups: odd_groups.iter().map(|g| g.to_string()).collect(),
                seats: None,
                inactivity: None,
                notice: None,
                grace: Duration::seconds(90 * 60),
                drift: Drift::Report,
                eligible_groups: Vec::new(),
                restore_on_login: true,
                location: Location::default(),
            },
            Product {
                key: "jira-software".into(),
                groups: vec!["jira".into()],
                seats: Some(u32::MAX),
                inactivity: None,
                notice: Some(Duration::days(700_000_000 * 7)),
                grace: Duration::days(3),
                drift: Drift::Revert,
                eligible_groups: Vec::new(),
                restore_on_login: true,
                location: Location::default(),
            },
        ];
        policy.users = vec![
            SafeUser {
                who: UserRef::Email("o'brien+x@acme.com".into()),
                products: Some(vec![]),
                until: NaiveDate::from_ymd_opt(2027, 1, 31),
                requested: NaiveDate::from_ymd_opt(2026, 11, 20),
                location: Location::default(),
            },
            SafeUser {
                who: UserRef::AccountId("557058:f58131cb-b67d-43c7".into()),
                products: Some(vec!["123".into(), "jira-software".into()]),
                until: None,
                requested: None,
                location: Location::default(),
            },
        ];
        policy.eligible_groups = vec!["all staff".into(), "yes".into()];
        policy.keep = vec![
            Selector {
                matcher: Matcher::AccountType(AccountType::Atlassian),
                location: Location::default(),
            },
            Selector {
                matcher: Matcher::Email("admin@acme.com".into()),
                location: Location::default(),
            },
            Selector {
                matcher: Matcher::AccountId("5b10ac8d82e05b22cc7d4ef5".into()),
                location: Location::default(),
            },
            Selector {
                matcher: Matcher::Group("site admins: all".into()),
                location: Location::default(),
            },
        ];
        policy.ignore = vec![];
        policy.audit_log = "logs/audit log.jsonl".into();
        policy.safety = Safety {
            max_removals: Some(Limit::Percent(2.5)),
            max_additions: Some(Limit::Count(0)),
            admin_groups: Some(vec![]),
        };
        round_trip(&policy, USERS_FILE_BYTES);
        for limit in [Limit::Percent(100.0), Limit::Percent(0.1), Limit::Count(7)] {
            policy.safety.max_removals = Some(limit);
            policy.safety.admin_groups = None;
            round_trip(&policy, USERS_FILE_BYTES);
        }
    }

    #[test]
    fn no_users_no_include() {
        let (mut policy, _) = synth_org(20, 2);
        policy.users.clear();
        let out = round_trip(&policy, USERS_FILE_BYTES);
        assert_eq!(out.len(), 1);
        assert!(!out[0].1.contains("include"));
    }

    #[test]
    fn scalars() {
        assert_eq!(scalar("user1@acme.com"), "user1@acme.com");
        assert_eq!(scalar("10%"), "10%");
        assert_eq!(scalar("12"), "\"12\"");
        assert_eq!(scalar("true"), "\"true\"");
        assert_eq!(scalar(""), "\"\"");
        assert_eq!(duration(Duration::days(14)), "2w");
        assert_eq!(duration(Duration::days(90)), "90d");
        assert_eq!(duration(Duration::seconds(5_400)), "90m");
    }
}
