//! `seatkeeper export`: bootstrap from live state. `--snapshot FILE` writes live state in the
//! snapshot format; `--policy-out DIR` writes a starting policy that declares the org exactly as
//! it is, so its plan against the same org is empty (like peribolos `--dump`). Both read what the
//! policy given with `--policy` manages (site, org, products and their groups).

use super::inputs::load_policy_source;
use super::live::Session;
use super::planning::resolve_at;
use super::{
    parse_parallelism, write_atomically, Env, Exit, PolicyArgs, Status, DEFAULT_PARALLELISM,
};
use crate::live::{AccountStatus, LiveIndex, LiveState};
use crate::policy::{Matcher, Policy, Selector};
use anyhow::Context;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `export` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Write live state to this snapshot file.
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Write a starting policy (seatkeeper.yaml and teams/exported.yaml) into this folder.
    #[arg(long)]
    policy_out: Option<PathBuf>,
    /// Read live state as of this time (events window end).
    #[arg(long)]
    at: Option<String>,
    /// At most this many requests in flight (1 to 64).
    #[arg(long, default_value_t = DEFAULT_PARALLELISM, value_parser = parse_parallelism)]
    parallelism: usize,
    #[command(flatten)]
    timeout: super::TimeoutArgs,
}

/// Runs `export`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Status> {
    let env = &env.until(args.timeout.timeout, super::DEFAULT_TIMEOUT)?;
    if args.snapshot.is_none() && args.policy_out.is_none() {
        return Err(Exit::new(
            Status::Error,
            "say what to export: --snapshot FILE and/or --policy-out DIR",
        )
        .into());
    }
    let now = resolve_at(args.at.as_deref(), env)?;
    let source = load_policy_source(&args.policy, env.policy_today(now), err)?;
    let session = Session::connect(env, &source.policy, args.parallelism)?;
    let live = session.read(&source.policy, now)?;
    if let Some(path) = &args.snapshot {
        let mut json = serde_json::to_vec_pretty(&live)?;
        json.push(b'\n');
        write_atomically(path, &json)
            .with_context(|| format!("cannot write snapshot {}", path.display()))?;
        writeln!(
            out,
            "Wrote {} ({} users, {} groups, {} events)",
            path.display(),
            live.users.len(),
            live.groups.len(),
            live.events.len()
        )?;
    }
    if let Some(dir) = &args.policy_out {
        let (main, team) = starting_policy(&source.policy, &live);
        write_policy(dir, &main, &team)?;
        writeln!(
            out,
            "Wrote a starting policy to {} (seatkeeper.yaml, teams/exported.yaml)",
            dir.display()
        )?;
        writeln!(out, "Its plan against this org is empty. Next: review the safe users, then add inactivity rules and budgets.")?;
    }
    Ok(Status::Success)
}

fn write_policy(dir: &Path, main: &str, team: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("teams"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    for (path, text) in [
        (dir.join("seatkeeper.yaml"), main),
        (dir.join("teams/exported.yaml"), team),
    ] {
        if path.exists() {
            return Err(Exit::new(
                Status::Error,
                format!(
                    "{} already exists: export into an empty folder",
                    path.display()
                ),
            )
            .into());
        }
        write_atomically(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
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

/// The text of `seatkeeper.yaml` and `teams/exported.yaml` declaring `live` as it is.
pub fn starting_policy(policy: &Policy, live: &LiveState) -> (String, String) {
    let index = LiveIndex::new(live);
    let ignored = |account: &str| {
        let Some(user) = index.users_by_id.get(account) else {
            return false;
        };
        policy.ignore.iter().any(|s| match &s.matcher {
            Matcher::Email(e) => user
                .email
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(e)),
            Matcher::AccountId(a) => &user.account_id == a,
            Matcher::AccountType(t) => user.account_type == *t,
            Matcher::Group(g) => index
                .groups_by_name
                .get(g.as_str())
                .is_some_and(|g| g.members.iter().any(|m| m == account)),
        })
    };
    // Account → products it holds now.
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
    let mut main = String::new();
    let _ = writeln!(
        main,
        "# Starting policy exported by `seatkeeper export --policy-out` from {} at {}.",
        live.site,
        live.taken_at.format("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(
        main,
        "# It declares the org as it is: its plan is empty. Review teams/exported.yaml,"
    );
    let _ = writeln!(main, "# then add inactivity rules, notices and budgets.");
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
    let mut closed: Vec<String> = Vec::new();
    let mut team =
        String::from("# Everyone who held a product when the policy was exported.\nusers:\n");
    let mut any_user = false;
    for (account, products) in &holds {
        if ignored(account) {
            continue;
        }
        let Some(user) = index.users_by_id.get(account) else {
            continue;
        };
        if matches!(
            user.status,
            AccountStatus::Closed | AccountStatus::Deactivated
        ) {
            closed.push(format!(
                "  - account_id: {}   # {} account {}, still holding a seat: review\n",
                q(account),
                user.status.as_str(),
                user.email.as_deref().unwrap_or("")
            ));
            continue;
        }
        any_user = true;
        match &user.email {
            Some(e) => {
                let _ = writeln!(team, "  - email: {}", q(&e.to_lowercase()));
            }
            None => {
                let _ = writeln!(team, "  - account_id: {}", q(account));
            }
        }
        if products.len() < policy.products.len() {
            let mut sorted = products.clone();
            sorted.sort_unstable();
            let _ = writeln!(team, "    products: [{}]", sorted.join(", "));
        }
    }
    if !any_user {
        team = "# Nobody held a product when the policy was exported.\nusers: []\n".into();
    }
    if !policy.keep.is_empty() || !closed.is_empty() {
        main.push_str("\nkeep:\n");
        for s in &policy.keep {
            main.push_str(&selector_yaml(s));
        }
        for c in &closed {
            main.push_str(c);
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
    (main, team)
}
