//! `export`: bootstrap from live state: live state in the snapshot format, and a starting
//! policy that declares the org exactly as it is, so its plan against the same org is empty
//! (like peribolos `--dump`). Both read what the given policy manages (site, org, products and
//! their groups).

use super::inputs::load_policy;
use super::session::Session;
use super::{failed, CommandError, Context, PolicyRef};
use crate::live::{AccountStatus, LiveIndex, LiveState};
use crate::policy::{Matcher, Policy, Selector};
use anyhow::Context as _;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// The policy whose site, org and products to read.
    pub policy: PolicyRef,
    /// Write live state to this snapshot file.
    pub snapshot: Option<PathBuf>,
    /// Make a starting policy (for `--policy-out`).
    pub starting_policy: bool,
    /// Read live state as of this time (events window end).
    pub at: Option<String>,
    /// At most this many requests in flight.
    pub parallelism: usize,
}

/// Live state as read, and the starting policy made from it when asked.
pub struct Exported {
    /// Live state.
    pub live: LiveState,
    /// The starting policy.
    pub starting: Option<StartingPolicy>,
}

/// Reads live state, writes it to the snapshot file when asked, and makes the starting policy
/// when asked.
pub fn export(request: &ExportRequest, ctx: &mut Context) -> Result<Exported, CommandError> {
    if request.snapshot.is_none() && !request.starting_policy {
        return Err(failed(
            "say what to export: --snapshot FILE and/or --policy-out DIR",
        ));
    }
    let now = ctx.resolve_at(request.at.as_deref())?;
    let source = load_policy(&request.policy, ctx.today(now), ctx.err)?;
    let session = Session::connect(ctx, &source.policy, request.parallelism)?;
    let live = session.read(&source.policy, now)?;
    if let Some(path) = &request.snapshot {
        let mut json = serde_json::to_vec_pretty(&live)?;
        json.push(b'\n');
        crate::files::write_atomically(path, &json)
            .with_context(|| format!("cannot write snapshot {}", path.display()))?;
    }
    let starting = request
        .starting_policy
        .then(|| starting_policy(&source.policy, &live, "export --policy-out"));
    Ok(Exported { live, starting })
}

/// Writes a starting policy into `dir` all at once ([`crate::files::write_folder`]): an
/// existing, non-empty folder is refused, and a failure leaves nothing behind.
pub fn write_policy(dir: &Path, policy: &StartingPolicy) -> Result<(), CommandError> {
    let files: [(&str, &[u8]); 2] = [
        ("seatkeeper.yaml", policy.main.as_bytes()),
        ("teams/exported.yaml", policy.team.as_bytes()),
    ];
    crate::files::write_folder(dir, &files).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            failed(format!(
                "{} already exists and is not empty: write the starting policy into a new folder",
                dir.display()
            ))
        } else {
            anyhow::Error::new(e)
                .context(format!("cannot write the policy into {}", dir.display()))
                .into()
        }
    })
}

/// A YAML double-quoted scalar.
fn q(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

fn selector_yaml(s: &Selector) -> String {
    match &s.matcher {
        Matcher::Email(e) => format!("  - email: {}\n", q(e)),
        Matcher::AccountId(a) => format!("  - account_id: {}\n", q(a)),
        Matcher::Group(g) => format!("  - group: {}\n", q(g)),
        Matcher::AccountType(t) => format!("  - account_type: {}\n", t.as_str()),
    }
}

/// The starting policy for `live`: the text of `seatkeeper.yaml` and `teams/exported.yaml`,
/// and how many closed accounts it leaves to be removed.
pub struct StartingPolicy {
    /// `seatkeeper.yaml`.
    pub main: String,
    /// `teams/exported.yaml`.
    pub team: String,
    /// Closed or deactivated accounts that hold a seat: the policy does not keep them, so its
    /// first plan removes them, for review.
    pub closed: usize,
}

/// One line of comment about a person: name, join date and last activity per product.
fn person_comment(user: &crate::live::User, products: &[&str]) -> String {
    let mut parts = Vec::new();
    let name = user.name.trim();
    if !name.is_empty() {
        parts.push(name.replace(['\n', '\r'], " "));
    }
    if let Some(joined) = user.added_to_org {
        parts.push(format!("joined {}", joined.format("%Y-%m-%d")));
    }
    let activity: Vec<String> = products
        .iter()
        .map(|p| match user.last_active.get(p) {
            Some(t) => format!("{p} {}", t.format("%Y-%m-%d")),
            None => format!("{p} never"),
        })
        .collect();
    parts.push(format!("last active: {}", activity.join(", ")));
    format!("  # {}\n", parts.join(" · "))
}

/// Declares `live` as it is under `policy`'s site, org and products: everyone who holds a
/// product becomes a safe user with exactly the products they hold, sorted by email, each with
/// a comment saying who they are and when they were last active. `command` names what wrote it.
pub fn starting_policy(policy: &Policy, live: &LiveState, command: &str) -> StartingPolicy {
    let index = LiveIndex::new(live);
    // Who `ignore:` matches, worked out once: a group entry adds its members (one pass per
    // group, not one scan per account).
    let mut ignored: HashSet<&str> = HashSet::new();
    for s in &policy.ignore {
        match &s.matcher {
            Matcher::Group(g) => {
                if let Some(group) = index.groups_by_name.get(g.as_str()) {
                    ignored.extend(group.members.iter().map(String::as_str));
                }
            }
            Matcher::Email(e) => {
                let e = e.to_lowercase();
                ignored.extend(
                    live.users
                        .iter()
                        .filter(|u| u.email.as_deref().is_some_and(|m| m.to_lowercase() == e))
                        .map(|u| u.account_id.as_str()),
                );
            }
            Matcher::AccountId(a) => {
                ignored.insert(a.as_str());
            }
            Matcher::AccountType(t) => ignored.extend(
                live.users
                    .iter()
                    .filter(|u| u.account_type == *t)
                    .map(|u| u.account_id.as_str()),
            ),
        }
    }
    let ignored = |account: &str| ignored.contains(account);
    // Account → products it holds now, in the policy's order.
    let mut holds: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for product in &policy.products {
        for group in product
            .groups
            .iter()
            .filter_map(|g| index.groups_by_name.get(g.as_str()))
        {
            for member in &group.members {
                let products = holds.entry(member.as_str()).or_default();
                if !products.contains(&product.key.as_str()) {
                    products.push(product.key.as_str());
                }
            }
        }
    }
    // Sorted by email (accounts without one last, by id), as a reviewer looks people up.
    let mut people: Vec<(&crate::live::User, Vec<&str>)> = holds
        .into_iter()
        .filter(|(account, _)| !ignored(account))
        .filter_map(|(account, products)| Some((*index.users_by_id.get(account)?, products)))
        .collect();
    people.sort_by_cached_key(|(u, _)| {
        (
            u.email.is_none(),
            u.email.as_deref().map(str::to_lowercase),
            u.account_id.clone(),
        )
    });

    let mut team = String::from(
        "# Everyone who held a product when the policy was exported, with the products they \
         held.\n# Each comment says who it is, when they joined and when they last used each \
         product.\nusers:\n",
    );
    let mut closed = String::new();
    let mut closed_count = 0;
    let mut any_user = false;
    for (user, mut products) in people {
        products.sort_unstable();
        if matches!(
            user.status,
            AccountStatus::Closed | AccountStatus::Deactivated
        ) {
            closed_count += 1;
            let _ = writeln!(
                closed,
                "#   {} ({} account {}) holds {}",
                user.email.as_deref().unwrap_or("(no email)"),
                user.status.as_str(),
                user.account_id,
                products.join(", ")
            );
            continue;
        }
        any_user = true;
        team.push_str(&person_comment(user, &products));
        match &user.email {
            Some(e) => {
                let _ = writeln!(team, "  - email: {}", q(&e.to_lowercase()));
            }
            None => {
                let _ = writeln!(team, "  - account_id: {}", q(&user.account_id));
            }
        }
        let _ = writeln!(team, "    products: [{}]", products.join(", "));
    }
    if !any_user {
        team = "# Nobody held a product when the policy was exported.\nusers: []\n".into();
    }
    if closed_count > 0 {
        let _ = write!(
            team,
            "\n# Closed or deactivated accounts that still hold a seat. They are not safe users, \
             so the\n# first plan removes them: review each removal, or list an account above \
             to keep it.\n{closed}"
        );
    }

    let mut main = String::new();
    let _ = writeln!(
        main,
        "# Starting policy written by `seatkeeper {command}` from {} at {}.",
        live.site,
        live.taken_at.format("%Y-%m-%d %H:%M UTC")
    );
    if closed_count > 0 {
        let _ = writeln!(
            main,
            "# It declares the org as it is: its plan only removes the {closed_count} closed \
             {}\n# listed at the end of teams/exported.yaml.",
            if closed_count == 1 {
                "account"
            } else {
                "accounts"
            }
        );
    } else {
        let _ = writeln!(main, "# It declares the org as it is: its plan is empty.");
    }
    let _ = writeln!(
        main,
        "# Review teams/exported.yaml, then add inactivity rules, notices and budgets."
    );
    let _ = writeln!(main, "version: 1\nsite: {}", q(&policy.site));
    if let Some(org) = &policy.org {
        let _ = writeln!(main, "org: {}", q(org));
    }
    main.push_str("\nproducts:\n");
    for p in &policy.products {
        let groups: Vec<String> = p.groups.iter().map(|g| q(g)).collect();
        let _ = writeln!(main, "  {}:\n    groups: [{}]", p.key, groups.join(", "));
    }
    main.push_str("\ninclude: [teams/*.yaml]\n");
    if !policy.keep.is_empty() {
        main.push_str("\nkeep:\n");
        for s in &policy.keep {
            main.push_str(&selector_yaml(s));
        }
    }
    if !policy.ignore.is_empty() {
        main.push_str("\nignore:\n");
        for s in &policy.ignore {
            main.push_str(&selector_yaml(s));
        }
    }
    let _ = writeln!(main, "\naudit_log: {}", q(&policy.audit_log));
    // The rails are always written out, defaults included, so the starting policy shows them.
    main.push_str(&crate::policy::write::safety_yaml(&policy.safety));
    StartingPolicy {
        main,
        team,
        closed: closed_count,
    }
}
