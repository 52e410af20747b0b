//! `seatkeeper init DIR --site SITE`: bootstrap from credentials alone. The admin API says which
//! products the org has on which site and which groups grant them (role assignments); the live
//! read says who holds them. The starting policy declares the org as it is, and is checked by
//! planning it before this command returns.

use super::{parse_parallelism, Env, Status, DEFAULT_PARALLELISM};
use crate::atlassian::discover::Discovery;
use crate::atlassian::Credentials;
use crate::live::AccountStatus;
use crate::ops::export::{starting_policy, write_policy};
use crate::ops::inputs::load_policy_at;
use crate::ops::planning::make_plan;
use crate::ops::session::Session;
use crate::ops::{failed, CommandError, Context};
use crate::plan::ActionKind;
use crate::policy::source::MemFiles;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

/// `init` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder to write the policy into: new, or empty.
    dir: PathBuf,
    /// The site the policy manages, like acme.atlassian.net.
    #[arg(long)]
    site: String,
    /// The org id (default: the org of ATLASSIAN_ADMIN_API_KEY, when it has one org).
    #[arg(long)]
    org: Option<String>,
    /// The cloud id of the site, when the org has products on several sites.
    #[arg(long, value_name = "ID")]
    cloud_id: Option<String>,
    /// Read live state as of this time (events window end).
    #[arg(long)]
    at: Option<String>,
    /// At most this many requests in flight (1 to 64).
    #[arg(long, default_value_t = DEFAULT_PARALLELISM, value_parser = parse_parallelism)]
    parallelism: usize,
    #[command(flatten)]
    timeout: super::TimeoutArgs,
}

/// Runs `init`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CommandError> {
    if env.credentials.admin_api_key.is_none() {
        return Err(failed(
            "init needs ATLASSIAN_ADMIN_API_KEY: only the org admin API says which groups grant \
             which product (create a key in admin.atlassian.com > Settings > API keys)",
        ));
    }
    if args.dir.is_dir() && std::fs::read_dir(&args.dir)?.next().is_some() {
        return Err(failed(format!(
            "{} already exists and is not empty: init writes a new policy folder",
            args.dir.display()
        )));
    }
    let ctx = &mut env.context(args.timeout.timeout, super::DEFAULT_TIMEOUT, err)?;
    let now = ctx.resolve_at(args.at.as_deref())?;
    let org = match &args.org {
        Some(org) => org.clone(),
        None => discover_org(ctx, args.parallelism)?,
    };
    let session = Session::connect_to(ctx, &args.site, Some(&org), args.parallelism)?;
    let discovery = session
        .within("discovering products", session.client.discover_products())?
        .map_err(|e| failed(format!("discovering products failed: {e}")))?;
    let cloud = pick_site(&discovery, args.cloud_id.as_deref())?;
    for (key, group) in &discovery.unmanaged {
        writeln!(
            ctx.err,
            "note: group {group} grants `{key}`, a product seatkeeper does not manage"
        )?;
    }

    let seed = seed_policy(&args.site, &org, &discovery, &cloud);
    let files = MemFiles::new().with("seatkeeper.yaml", seed.clone());
    let policy = crate::policy::load_at(&files, ctx.today(now))
        .map_err(|d| {
            anyhow::anyhow!(
                "internal error: the discovered policy does not load ({}):\n{seed}",
                d.first().map(|d| d.message.as_str()).unwrap_or_default()
            )
        })?
        .policy;
    let live = session.read(&policy, now)?;
    let starting = starting_policy(&policy, &live, "init");
    write_policy(&args.dir, &starting)?;

    // The promise: the plan of what was written declares the org as it is, apart from the
    // closed accounts left for review. Checked on the files as written.
    let source = load_policy_at(&args.dir, None, ctx.today(now), ctx.err)?;
    let plan = make_plan(&source, &live, None, now, false, ctx.err)?;
    let closed = |account: &str| {
        live.users.iter().any(|u| {
            u.account_id == account
                && matches!(u.status, AccountStatus::Closed | AccountStatus::Deactivated)
        })
    };
    let unexpected: Vec<String> = plan
        .actions
        .iter()
        .chain(plan.blocked.iter().map(|b| &b.action))
        .filter(|a| a.kind == ActionKind::Add || !closed(&a.account_id))
        .map(|a| format!("{} {} {}", a.kind.as_str(), a.who(), a.group))
        .collect();
    if !unexpected.is_empty() {
        let _ = std::fs::remove_dir_all(&args.dir);
        return Err(failed(format!(
            "internal error: the starting policy's plan is not empty ({}); nothing was written",
            unexpected.join("; ")
        )));
    }

    writeln!(
        out,
        "Wrote a starting policy for {} (org {org}) to {}:",
        args.site,
        args.dir.display()
    )?;
    for p in &policy.products {
        writeln!(out, "  {:<24} granted by {}", p.key, p.groups.join(", "))?;
    }
    let people = live.users.len();
    writeln!(
        out,
        "  {people} people read; safe users in {}",
        args.dir.join("teams/exported.yaml").display()
    )?;
    if starting.closed > 0 {
        writeln!(
            out,
            "Its plan removes {} closed {} still holding a seat, listed for review at the end of \
             teams/exported.yaml. Nothing else changes.",
            starting.closed,
            if starting.closed == 1 {
                "account"
            } else {
                "accounts"
            }
        )?;
    } else {
        writeln!(out, "Its plan is empty: it declares the org as it is.")?;
    }
    writeln!(
        out,
        "Next: commit the folder, review the safe users, then add inactivity rules and budgets \
         (`seatkeeper plan --policy {}`).",
        args.dir.display()
    )?;
    Ok(Status::Success)
}

/// The org of the admin API key, when it can see exactly one.
fn discover_org(ctx: &Context, parallelism: usize) -> Result<String, CommandError> {
    let creds = Credentials::resolve_for_discovery(ctx.credentials.clone())
        .map_err(|e| failed(e.to_string()))?;
    let mut session = Session::with_credentials(creds, parallelism)?;
    session.deadline = ctx.deadline;
    let orgs = session
        .within("listing the key's orgs", session.client.org_ids())?
        .map_err(|e| failed(format!("listing the key's orgs failed: {e}")))?;
    match orgs.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(failed(
            "the admin API key manages no org: check ATLASSIAN_ADMIN_API_KEY",
        )),
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|o| format!("{} ({})", o.id, o.name.as_deref().unwrap_or("unnamed")))
                .collect();
            Err(failed(format!(
                "the admin API key manages {} orgs: say which with --org ({})",
                many.len(),
                list.join(", ")
            )))
        }
    }
}

/// The cloud id whose products the policy manages: the one site, or the one `--cloud-id` names.
fn pick_site(discovery: &Discovery, wanted: Option<&str>) -> Result<String, CommandError> {
    let sites = discovery.sites();
    let describe = |cloud: &str| {
        let products: Vec<String> = discovery
            .products
            .iter()
            .filter(|p| p.cloud_id == cloud)
            .map(|p| format!("{} via {}", p.key, p.groups.join(", ")))
            .collect();
        format!("{cloud}: {}", products.join("; "))
    };
    let listed = || {
        sites
            .iter()
            .map(|s| describe(s))
            .collect::<Vec<_>>()
            .join("\n  ")
    };
    match (wanted, sites.as_slice()) {
        (Some(w), _) if sites.contains(&w) => Ok(w.to_string()),
        (Some(w), _) => Err(failed(format!(
            "no group grants a product on cloud id {w}; the org's sites are:\n  {}",
            listed()
        ))),
        (None, [one]) => Ok(one.to_string()),
        (None, []) => Err(failed(
            "no group of the org grants a product (no role assignment gives atlassian/user or \
             atlassian/admin): there is nothing to manage yet",
        )),
        (None, many) => Err(failed(format!(
            "the org has products on {} sites; a policy manages one. Say which with \
                 --cloud-id:\n  {}",
            many.len(),
            listed()
        ))),
    }
}

/// The smallest policy naming the discovered products of `cloud` and their groups: what the
/// live read needs to know what to read.
fn seed_policy(site: &str, org: &str, discovery: &Discovery, cloud: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut text = format!(
        "version: 1\nsite: {}\norg: {}\nproducts:\n",
        q(site),
        q(org)
    );
    for p in discovery.products.iter().filter(|p| p.cloud_id == cloud) {
        let groups: Vec<String> = p.groups.iter().map(|g| q(g)).collect();
        let _ = writeln!(text, "  {}:\n    groups: [{}]", p.key, groups.join(", "));
    }
    text
}
