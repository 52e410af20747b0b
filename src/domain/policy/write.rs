//! Writing a validated [`Policy`] back as policy YAML: `seatkeeper.yaml` plus the included files
//! that hold the safe users. Loading the output with [`super::load`] gives the same policy apart
//! from locations (a test keeps it so).
//!
//! The users go to `users/users-0001.yaml`, `users/users-0002.yaml`, ... (in order, each kept
//! well under [`MAX_POLICY_FILE_BYTES`]), included with `include: [users/*.yaml]`; a policy
//! without users has no included file. Strings are written plain when that reads back as the
//! same string, double-quoted otherwise. Used by the process benchmark to turn a synthetic org
//! into a policy folder; `export --policy-out` keeps its own hand-written starting policy but
//! writes its `safety:` block with [`safety_yaml`].

use super::source::{MAIN_FILE, MAX_POLICY_FILE_BYTES};
use super::validate::MIN_INACTIVITY;
use super::{raw, Limit, Matcher, Policy, SafeUser, Safety, Selector, UserRef};
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
            // A window under the minimum is written as meant (`3d!`).
            let confirm = if d < MIN_INACTIVITY { "!" } else { "" };
            let _ = writeln!(s, "    inactivity: {}{confirm}", duration(d, false));
        }
        if let Some(d) = p.notice {
            let _ = writeln!(s, "    notice: {}", duration(d, false));
        }
        let _ = writeln!(s, "    grace: {}", duration(p.grace, true));
        let drift = match p.drift {
            super::Drift::Revert => "revert",
            super::Drift::Report => "report",
        };
        let _ = writeln!(s, "    drift: {drift}");
        if !p.eligible_groups.is_empty() {
            let _ = writeln!(s, "    eligible_groups: {}", flow_list(&p.eligible_groups));
        }
        if !p.restore_on_login {
            s.push_str("    restore_on_login: false\n");
        }
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
    s.push_str(&safety_yaml(&policy.safety));
    s
}

/// The `safety:` block, always with both rails written out: the policy's, or the default for a
/// rail it has none of (a policy built in code). A rail that took its default is written as the
/// default's value, which then reads back as written: `10%` rounds down, without the default's
/// floor of 1.
pub fn safety_yaml(safety: &Safety) -> String {
    let mut s = String::from("\nsafety:\n");
    let removals = safety.max_removals.unwrap_or(Safety::DEFAULT_MAX_REMOVALS);
    let additions = safety
        .max_additions
        .unwrap_or(Safety::DEFAULT_MAX_ADDITIONS);
    let _ = writeln!(s, "  max_removals: {}", limit(removals));
    let _ = writeln!(s, "  max_additions: {}", limit(additions));
    if let Some(groups) = &safety.admin_groups {
        let _ = writeln!(s, "  admin_groups: {}", flow_list(groups));
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
/// Policies hold whole days (and `grace` whole hours): a policy built in code with a finer
/// duration is written rounded up to the next unit it may use.
fn duration(d: Duration, hours: bool) -> String {
    let s = d.as_seconds();
    for (unit, len) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3_600)] {
        if s % len == 0 && (hours || unit != "h") {
            return format!("{}{unit}", s / len);
        }
    }
    let len = if hours { 3_600 } else { 86_400 };
    let unit = if hours { "h" } else { "d" };
    format!("{}{unit}", s.div_euclid(len) + 1)
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

    /// The policy as written: both rails explicit, so none reads back as defaulted.
    fn as_written(mut p: Policy) -> Policy {
        let s = &mut p.safety;
        s.max_removals = s.max_removals.or(Some(Safety::DEFAULT_MAX_REMOVALS));
        s.max_additions = s.max_additions.or(Some(Safety::DEFAULT_MAX_ADDITIONS));
        s.defaulted.clear();
        p
    }

    fn round_trip(policy: &Policy, file_bytes: usize) -> Vec<(String, String)> {
        let out = to_yaml_split(policy, file_bytes);
        let loaded = match crate::policy::load(&files(&out)) {
            Ok(l) => l,
            Err(ds) => panic!("{ds:?}\n{}", out[0].1),
        };
        assert_eq!(
            unlocated(loaded.policy),
            unlocated(as_written(policy.clone())),
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
                grace: Duration::seconds(5 * 3_600),
                drift: Drift::Report,
                eligible_groups: vec!["all staff".into(), "12".into()],
                restore_on_login: false,
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
                eligible_groups: vec![],
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
            defaulted: vec![],
        };
        round_trip(&policy, USERS_FILE_BYTES);
        for limit in [Limit::Percent(100.0), Limit::Percent(0.1), Limit::Count(7)] {
            policy.safety.max_removals = Some(limit);
            policy.safety.admin_groups = None;
            round_trip(&policy, USERS_FILE_BYTES);
        }
    }

    #[test]
    fn the_safety_block_is_always_written_with_both_rails() {
        let text = "version: 1\nsite: a.b\nproducts:\n  confluence:\n    groups: [c]\n";
        let loaded = crate::policy::load(&MemFiles::new().with(MAIN_FILE, text)).unwrap();
        assert_eq!(
            loaded.policy.safety.defaulted,
            ["max_removals", "max_additions"]
        );
        let out = round_trip(&loaded.policy, USERS_FILE_BYTES);
        assert!(
            out[0]
                .1
                .ends_with("\nsafety:\n  max_removals: 10%\n  max_additions: 100\n"),
            "{}",
            out[0].1
        );
        // A policy built in code without rails gets the defaults written out.
        let (mut policy, _) = synth_org(20, 2);
        policy.safety = Safety::default();
        let out = round_trip(&policy, USERS_FILE_BYTES);
        assert!(out[0].1.contains("  max_additions: 100\n"), "{}", out[0].1);
    }

    #[test]
    fn short_windows_and_per_product_settings_round_trip() {
        let (mut policy, _) = synth_org(20, 2);
        policy.products[0].inactivity = Some(Duration::days(3));
        policy.products[0].eligible_groups = vec!["contractors".into()];
        policy.products[1].restore_on_login = false;
        let out = round_trip(&policy, USERS_FILE_BYTES);
        assert!(out[0].1.contains("    inactivity: 3d!\n"), "{}", out[0].1);
        assert!(out[0].1.contains("    eligible_groups: [contractors]\n"));
        assert!(out[0].1.contains("    restore_on_login: false\n"));
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
        assert_eq!(duration(Duration::days(14), false), "2w");
        assert_eq!(duration(Duration::days(90), false), "90d");
        assert_eq!(duration(Duration::seconds(7_200), true), "2h");
        assert_eq!(duration(Duration::seconds(7_200), false), "1d");
        assert_eq!(duration(Duration::seconds(5_400), true), "2h");
    }
}
