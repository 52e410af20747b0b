//! The planner: a pure function of (policy, live state, ledger, now) to a [`Plan`].
//!
//! It follows DESIGN §4:
//! - `index` builds, once per plan, the lookups every decision needs: users by account id,
//!   membership bitmaps of the groups the policy names, safe-user entries per user, activity
//!   per (user, product), and event and ledger facts keyed by user. Planning is linear in the
//!   size of the org and never scans users or groups per user.
//! - `evaluate` is §4's decision table for one (user, product). [`plan`] and [`explain`] both
//!   call it, so they never disagree.
//! - [`plan`] goes product by product: every user is evaluated into small records, then
//!   `drift: report`, the safety rails and the seat budget (`rails`) work on those records,
//!   and last the product's actions, notices and observations are written out in plan order.
//! - [`synth`] generates large realistic orgs for benchmarks, tests and the sandbox.
//!
//! The planner reads no clock, environment or file, and no output depends on hash-map order or
//! on the order of users, groups, members or events in the snapshot: every list in the plan is
//! sorted. The products are planned in two halves, the second on another thread when one can
//! be started ([`crate::par::join`]); the halves join up in product order, so the plan never
//! depends on scheduling.
//!
//! Readings of the contract worth knowing:
//! - `keep` means *never removed*: a kept member is kept whatever the rules say, and a kept
//!   non-member is added only if eligible (DESIGN §4's table), so `keep: account_type: app`
//!   does not hand every product to every app.
//! - Suspended accounts are not billed: they are never added, and not removed *for* being
//!   suspended (the ordinary rules still apply to them).
//! - A holder with no activity evidence at all is never reclaimed; the plan says so in a
//!   per-product warning (and `explain` in the reason).
//! - Removals are per user and atomic: when a rail blocks one of a user's removals for a
//!   product, all of them are blocked, since the seat is only freed when every group is left.
//! - `max_removals` counts accounts losing the product, against the product's current holders.

mod checks;
pub use checks::live_checks;
mod evaluate;
mod index;
mod rails;
pub mod synth;
#[cfg(test)]
mod tests;

use crate::ledger::Ledger;
use crate::live::{AccountStatus, LiveState};
use crate::par::join;
use crate::plan::{
    AccessRequest, Action, ActionKind, Announcement, Blocked, Decision, Explanation, Notice,
    NoticeKind, Observation, Outcome, Plan, Rule, Seats, Warning, PLAN_FORMAT_VERSION,
};
use crate::policy::{Drift, Policy};
use chrono::{DateTime, Utc};
use evaluate::{evaluate, write_dormant, Day, Dormancy, Eval, Ineligible, Verdict};
use index::{Index, ProductCtx, ProductIx, Slot, UserIx};
use rails::{member_slots, Addition, Block, Blocks, Removal};
use std::collections::BTreeMap;

/// Everything the planner reads. Nothing else influences the plan.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The validated policy.
    pub policy: &'a Policy,
    /// Live state.
    pub live: &'a LiveState,
    /// What earlier applies did.
    pub ledger: &'a Ledger,
    /// The time to plan for.
    pub now: DateTime<Utc>,
    /// The account id whose credentials run seatkeeper (the `self` rail), if known.
    pub actor: Option<&'a str>,
    /// The policy's git commit, if known.
    pub policy_commit: Option<&'a str>,
    /// `--allow-mass-removal`: lift the `max-removals` rail.
    pub allow_mass_removal: bool,
}

/// Plans. Deterministic: the same input gives the same plan.
///
/// `drift: report` (per product): every action that *reverts* a change made outside seatkeeper
/// is turned into a `drift` notice instead of being planned. The audit log tells which changes
/// seatkeeper made, so reverting actions are: removing someone the policy does not grant
/// (`not-eligible`) from a group seatkeeper did not add them to, and adding someone whom
/// seatkeeper had added and who was removed outside it. Everything else carries out the policy
/// or seatkeeper's own schedule and still runs: reclaims, expired `until`s, closed accounts,
/// new safe users, and seats given back on demand after a reclaim.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let (ix, checked) = index_and_check(input);
    build(&ix, input, checked)
}

/// The index, and the live state checked against the policy (`live_checks`) beside it: the
/// two are independent and take about as long as each other.
fn index_and_check<'a>(input: &PlanInput<'a>) -> (Index<'a>, Vec<Warning>) {
    join(
        || Index::new(input.policy, input.live, input.ledger, input.now),
        || checks::live_checks(input.policy, input.live),
    )
}

/// Explains every product decision for one user, named by email (case-insensitive) or account
/// id. `None` when the live state has no such user. The decisions agree with [`plan`] for the
/// same input, rails included.
pub fn explain(input: &PlanInput<'_>, user: &str) -> Option<Explanation> {
    let (ix, checked) = index_and_check(input);
    let u = ix.find_user(user)?;
    let plan = build(&ix, input, checked);
    let facts = PlanFacts::new(&plan);
    let account = *ix.users.get(u as usize)?;
    let products = (0..ix.products.len())
        .filter_map(|p| decide(&ix, &facts, p, u))
        .collect();
    Some(Explanation {
        account_id: account.account_id.clone(),
        email: account.email.clone(),
        name: account.name.clone(),
        status: account.status.as_str().to_string(),
        account_type: account.account_type.as_str().to_string(),
        products,
    })
}

/// Explains every user of the live state at once, in live-state order, building the plan only
/// once (calling [`explain`] per user would rebuild it per user). Each explanation equals what
/// [`explain`] gives for that user. Used by access reports.
pub fn explain_all(input: &PlanInput<'_>) -> Vec<Explanation> {
    plan_and_explain(input).1
}

/// [`plan`] and [`explain_all`] from one index and one plan build.
pub fn plan_and_explain(input: &PlanInput<'_>) -> (Plan, Vec<Explanation>) {
    let (ix, checked) = index_and_check(input);
    let plan = build(&ix, input, checked);
    let facts = PlanFacts::new(&plan);
    let explanations = (0..ix.users.len() as UserIx)
        .filter_map(|u| {
            let account = *ix.users.get(u as usize)?;
            Some(Explanation {
                account_id: account.account_id.clone(),
                email: account.email.clone(),
                name: account.name.clone(),
                status: account.status.as_str().to_string(),
                account_type: account.account_type.as_str().to_string(),
                products: (0..ix.products.len())
                    .filter_map(|p| decide(&ix, &facts, p, u))
                    .collect(),
            })
        })
        .collect();
    (plan, explanations)
}

/// Whether Atlassian bills the account for a product it holds: an active person's account.
/// Apps, customers and suspended, deactivated or closed accounts hold no billed seat.
pub fn is_billed(user: &crate::live::User) -> bool {
    user.status == AccountStatus::Active && user.account_type == crate::live::AccountType::Atlassian
}

/// Plans product by product ([`plan_product`]). The products are taken in key order, in two
/// halves, the second on another thread; every list of the plan sorts by product key first, so
/// the products' lists join up in plan order. Warnings, seats and access requests follow the
/// policy's order of products.
fn build(ix: &Index<'_>, input: &PlanInput<'_>, checked: Vec<Warning>) -> Plan {
    let mut plan = Plan {
        format_version: PLAN_FORMAT_VERSION,
        site: input.policy.site.clone(),
        policy_commit: input.policy_commit.map(str::to_string),
        policy_dirty: false,
        generated_at: input.now,
        actions: Vec::new(),
        blocked: Vec::new(),
        notices: Vec::new(),
        observed: Vec::new(),
        seats: BTreeMap::new(),
        announce: Vec::new(),
        requests: Vec::new(),
        events: input.live.events_read.clone(),
        safety_defaults: input
            .policy
            .safety
            .defaulted
            .iter()
            .map(|r| r.to_string())
            .collect(),
        first_run: ix.first_run,
        policy_dir: None,
        fingerprint: BTreeMap::new(),
        warnings: input
            .ledger
            .warnings
            .iter()
            .map(|w| {
                Warning::new("audit-log", w.clone())
                    .hint("run `seatkeeper audit verify` to see what is wrong with the log")
            })
            .collect(),
    };
    plan.warnings.extend(ix.warnings.iter().cloned());

    // The products in key order, in two halves: the second on another thread.
    let mut by_key: Vec<ProductIx> = (0..ix.products.len()).collect();
    by_key.sort_by_key(|&p| ix.products.get(p).map(|pc| pc.product.key.as_str()));
    let (first, second) = by_key.split_at(by_key.len() / 2);
    let plan_products = |products: &[ProductIx]| -> Vec<ProductPart> {
        products
            .iter()
            .filter_map(|&p| plan_product(ix, input, p))
            .collect()
    };
    let (mut parts, rest) = join(|| plan_products(first), || plan_products(second));
    plan.warnings.extend(checked);
    parts.extend(rest);

    // Each list grows once, to its final size: growing by doubling would hold the biggest lists
    // twice at the peak.
    plan.actions
        .reserve_exact(parts.iter().map(|part| part.actions.len()).sum());
    plan.blocked
        .reserve_exact(parts.iter().map(|part| part.blocked.len()).sum());
    plan.notices
        .reserve_exact(parts.iter().map(|part| part.notices.len()).sum());
    plan.observed
        .reserve_exact(parts.iter().map(|part| part.observed.len()).sum());
    plan.announce
        .reserve_exact(parts.iter().map(|part| part.announce.len()).sum());
    for part in &mut parts {
        plan.actions.append(&mut part.actions);
        plan.blocked.append(&mut part.blocked);
        plan.notices.append(&mut part.notices);
        plan.observed.append(&mut part.observed);
        plan.announce.append(&mut part.announce);
        plan.fingerprint.extend(part.fingerprint.drain(..));
    }
    parts.sort_by_key(|part| part.p);
    for part in parts {
        let Some(pc) = ix.products.get(part.p) else {
            continue;
        };
        plan.warnings.extend(part.warnings);
        plan.seats.insert(pc.product.key.clone(), part.seats);
        plan.requests.extend(part.requests);
    }
    plan
}

/// One product's part of the plan, each list in plan order.
struct ProductPart {
    p: ProductIx,
    actions: Vec<Action>,
    blocked: Vec<Blocked>,
    notices: Vec<Notice>,
    observed: Vec<Observation>,
    announce: Vec<Announcement>,
    requests: Vec<AccessRequest>,
    warnings: Vec<Warning>,
    seats: Seats,
    /// Group id → fingerprint, for the groups the product's actions touch.
    fingerprint: Vec<(String, String)>,
}

/// DESIGN §4 for product `p`: every user is evaluated against the table into small records;
/// `drift: report` holds back what would revert changes made outside seatkeeper; the rails and
/// the seat budget decide what may run; and the product's part of the plan is written out.
/// Removals and additions carry their evaluation to the writing; `reclaim-soon` and `drift`
/// notices are evaluated again, and words are only ever formatted for what reaches the plan.
fn plan_product(ix: &Index<'_>, input: &PlanInput<'_>, p: ProductIx) -> Option<ProductPart> {
    let pc = ix.products.get(p)?;
    let key = pc.product.key.as_str();
    let mut records = Records::default();
    for u in 0..ix.users.len() as UserIx {
        collect(ix, p, u, &mut records);
    }
    let Records {
        mut removals,
        mut adds,
        mut notices,
        observed,
        requests,
        before,
        billed,
        no_evidence,
    } = records;
    // Members the live state does not list are billed, as far as anyone can tell.
    let unknown = pc.unknown_members.len();
    let (before, billed) = (before + unknown, billed + unknown);

    let mut warnings = Vec::new();
    if unknown > 0 {
        warnings.push(Warning::new(
            "unknown-members",
            format!(
                "product {key}: {unknown} member(s) of its groups are not in the live user list and are left alone: {}",
                examples(pc.unknown_members.clone())
            ),
        ));
    }
    if !no_evidence.is_empty() {
        warnings.push(Warning::new(
            "no-evidence",
            format!(
                "product {key}: {} holder(s) have no activity evidence at all and are never reclaimed: {}",
                no_evidence.len(),
                examples(no_evidence)
            ),
        ));
    }

    if pc.product.drift == Drift::Report {
        removals.retain(|r| {
            let reverts = r.ev.reverts_outside_change(ix);
            if reverts {
                notices.extend(member_slots(ix, pc, r.ev.u).map(|s| PendingNotice {
                    u: r.ev.u,
                    about: About::Drift(s, ActionKind::Remove),
                }));
            }
            !reverts
        });
        adds.retain(|a| {
            let reverts = a.ev.reverts_outside_change(ix);
            if reverts {
                notices.push(PendingNotice {
                    u: a.ev.u,
                    about: About::Drift(a.slot, ActionKind::Add),
                });
            }
            !reverts
        });
    }

    let mut blocks = Blocks::default();
    rails::removal_rails(
        ix,
        pc,
        &mut removals,
        &mut blocks,
        before,
        input.actor,
        input.allow_mass_removal,
    );
    // Seats follow billing: only active accounts count, before and after.
    let freed = removals
        .iter()
        .filter(|r| r.block.is_none() && is_billed(r.ev.user))
        .count();
    rails::addition_rails(
        ix,
        pc,
        &mut adds,
        &mut blocks,
        before,
        billed.saturating_sub(freed),
    );
    let added = adds
        .iter()
        .filter(|a| a.block.is_none() && is_billed(a.ev.user))
        .count();

    let mut part = ProductPart {
        p,
        actions: Vec::new(),
        blocked: Vec::new(),
        notices: Vec::new(),
        observed: Vec::new(),
        announce: Vec::new(),
        requests: write_requests(ix, key, p, &requests),
        warnings,
        seats: Seats {
            before: billed,
            after: billed.saturating_sub(freed) + added,
            not_billed: before.saturating_sub(billed),
            budget: pc.product.seats,
            licensed: pc.licensed,
        },
        fingerprint: Vec::new(),
    };
    write_changes(ix, pc, &removals, &adds, &blocks, &mut part);
    write_observed(ix, pc, &observed, &mut part);
    write_notices(ix, p, &notices, &mut part);
    part.fingerprint = fingerprints(ix, pc, &removals, &adds);
    Some(part)
}

/// What the evaluation of one product gathers: small records naming users, so that nothing
/// is formatted or allocated per user before the rails and the sort.
#[derive(Default)]
struct Records<'a> {
    removals: Vec<Removal<'a>>,
    adds: Vec<Addition<'a>>,
    notices: Vec<PendingNotice>,
    /// Holders re-granted outside seatkeeper after a reclaim.
    observed: Vec<UserIx>,
    /// Access requests from users the policy does not let hold the product.
    requests: Vec<(UserIx, Rule)>,
    /// Members of any grant group.
    before: usize,
    /// Of those, the ones Atlassian bills (active accounts).
    billed: usize,
    no_evidence: Vec<&'a str>,
}

/// A notice before it is written out: whose, and what about.
#[derive(Debug, Clone, Copy)]
struct PendingNotice {
    u: UserIx,
    about: About,
}

/// What a pending notice is about; it carries what its words need.
#[derive(Debug, Clone, Copy)]
enum About {
    /// The seat will be reclaimed within the `notice` window (words from a new evaluation).
    ReclaimSoon,
    /// Eligible, not added, and why: all the words need (no second evaluation).
    Dormant(Dormancy),
    /// `drift: report` holds back this action on this group.
    Drift(Slot, ActionKind),
}

/// Evaluates (user `u`, product `p`) and files the result as small records in `acc`.
fn collect<'a>(ix: &Index<'a>, p: ProductIx, u: UserIx, acc: &mut Records<'a>) {
    let Some(ev) = evaluate(ix, p, u) else {
        return;
    };
    if ev.member {
        acc.before += 1;
        if is_billed(ev.user) {
            acc.billed += 1;
        }
    }
    let pending = |about| PendingNotice { u, about };
    if let Verdict::Absent(why) | Verdict::RemoveIneligible(why) = ev.verdict {
        if matches!(why, Ineligible::NoGrant | Ineligible::Expired(_))
            && ix.access_request(u, p).is_some()
        {
            acc.requests.push((u, why.rule()));
        }
    }
    match ev.verdict {
        Verdict::RemoveIneligible(_) | Verdict::RemoveInactive(_) => {
            acc.removals.push(Removal { block: None, ev });
        }
        Verdict::Add(_) => {
            if let Some(&slot) = ix.products.get(p).and_then(|pc| pc.slots.first()) {
                acc.adds.push(Addition {
                    slot,
                    block: None,
                    ev,
                });
            }
        }
        Verdict::Dormant(d) => acc.notices.push(pending(About::Dormant(d))),
        Verdict::Hold => {
            if ev.reclaim_soon {
                acc.notices.push(pending(About::ReclaimSoon));
            }
            if ev.observe {
                acc.observed.push(u);
            }
            if ev.no_evidence {
                acc.no_evidence.push(
                    ev.user
                        .email
                        .as_deref()
                        .unwrap_or(ev.user.account_id.as_str()),
                );
            }
        }
        Verdict::Ignored(_) | Verdict::Kept(_) | Verdict::Absent(_) | Verdict::AbsentSuspended => {}
    }
}

/// Group id → fingerprint of the live members, for every group the changes touch.
fn fingerprints(
    ix: &Index<'_>,
    pc: &ProductCtx<'_>,
    removals: &[Removal<'_>],
    adds: &[Addition<'_>],
) -> Vec<(String, String)> {
    let mut touched: Vec<Slot> = removals
        .iter()
        .flat_map(|r| member_slots(ix, pc, r.ev.u))
        .chain(adds.iter().map(|a| a.slot))
        .collect();
    touched.sort_unstable();
    touched.dedup();
    touched
        .iter()
        .filter_map(|&s| ix.groups.get(usize::from(s)))
        .map(|g| {
            let members = g.members.iter().map(String::as_str);
            (g.id.clone(), crate::plan::fingerprint_members(members))
        })
        .collect()
}

/// How the plan orders users: by email (accounts without one first), then account id.
fn user_key<'x>(ix: &'x Index<'_>, u: UserIx) -> (&'x str, &'x str) {
    (ix.email(u).unwrap_or(""), ix.account_id(u))
}

/// Writes a product's actions and blocked actions, each in plan order: by (group, kind,
/// email, account id).
fn write_changes(
    ix: &Index<'_>,
    pc: &ProductCtx<'_>,
    removals: &[Removal<'_>],
    adds: &[Addition<'_>],
    blocks: &Blocks,
    part: &mut ProductPart,
) {
    // One change per group: a removal leaves every grant group the user is in, an addition
    // joins one.
    let mut changes: Vec<(Slot, ActionKind, Option<Block>, &Eval<'_>)> = removals
        .iter()
        .flat_map(|r| member_slots(ix, pc, r.ev.u).map(|s| (s, ActionKind::Remove, r.block, &r.ev)))
        .chain(
            adds.iter()
                .map(|a| (a.slot, ActionKind::Add, a.block, &a.ev)),
        )
        .collect();
    changes.sort_by_key(|&(slot, kind, _, ev)| (ix.group_name(slot), kind, user_key(ix, ev.u)));
    for (slot, kind, block, ev) in changes {
        let fallback = match kind {
            ActionKind::Remove => Rule::NotEligible,
            ActionKind::Add => Rule::Eligible,
        };
        let rule = ev.rule().unwrap_or(fallback);
        let a = action(ix, ev, kind, slot, rule, ev.reason(ix));
        match block {
            None => part.actions.push(a),
            Some(b) => part.blocked.push(Blocked {
                action: a,
                rail: b.0,
                rail_detail: blocks.detail(b).to_string(),
            }),
        }
    }
}

/// Writes the observations of re-granted holders, one per grant group they are in, in plan
/// order: by (group, email, account id).
fn write_observed(
    ix: &Index<'_>,
    pc: &ProductCtx<'_>,
    observed: &[UserIx],
    part: &mut ProductPart,
) {
    let mut observed: Vec<(Slot, UserIx)> = observed
        .iter()
        .flat_map(|&u| member_slots(ix, pc, u).map(move |s| (s, u)))
        .collect();
    observed.sort_by_key(|&(s, u)| (ix.group_name(s), user_key(ix, u)));
    for (s, u) in observed {
        let Some(g) = ix.groups.get(usize::from(s)) else {
            continue;
        };
        part.observed.push(Observation {
            product: pc.product.key.clone(),
            group: g.name.clone(),
            group_id: g.id.clone(),
            account_id: ix.account_id(u).to_string(),
            email: ix.email(u).map(str::to_string),
        });
    }
}

/// Writes product `p`'s notices in plan order, by (kind, email, account id, detail), and the
/// announcements of its `reclaim-soon` notices by (email, account id).
fn write_notices(ix: &Index<'_>, p: ProductIx, pending: &[PendingNotice], part: &mut ProductPart) {
    let Some(pc) = ix.products.get(p) else {
        return;
    };
    let key = pc.product.key.as_str();
    let mut announce: Vec<Announcement> = Vec::new();
    let mut notices: Vec<Notice> = pending
        .iter()
        .filter_map(|&n| {
            let u = n.u;
            Some(match n.about {
                About::Dormant(why) => {
                    let mut detail = String::with_capacity(96);
                    write_dormant(&mut detail, why, ix.now, pc.product.inactivity);
                    let (Dormancy::Reclaimed(at) | Dormancy::Inactive(at)) = why;
                    notice(ix, u, key, NoticeKind::Dormant, detail, Some(at))
                }
                About::Drift(slot, kind) => {
                    let ev = evaluate(ix, p, u)?;
                    let group = ix.groups.get(usize::from(slot)).map_or("", |g| &g.name);
                    let detail = drift_detail(kind, group, &ev.reason(ix));
                    notice(ix, u, key, NoticeKind::Drift, detail, None)
                }
                About::ReclaimSoon => {
                    let ev = evaluate(ix, p, u)?;
                    let detail = reclaim_soon_detail(ix, &ev);
                    if let (false, Some(on)) = (ev.announced, ev.reclaim_at) {
                        announce.push(Announcement {
                            product: key.to_string(),
                            account_id: ix.account_id(u).to_string(),
                            email: ix.email(u).map(str::to_string),
                            reclaim_on: on,
                            detail: detail.clone(),
                        });
                    }
                    Notice {
                        name: Some(ev.user.name.clone()).filter(|n| !n.is_empty()),
                        evidence: Some(ev.evidence()),
                        ..notice(ix, u, key, NoticeKind::ReclaimSoon, detail, ev.reclaim_at)
                    }
                }
            })
        })
        .collect();
    // No two notices of a product share a key, so an unstable sort gives the same order, and it
    // sorts in place (a stable sort copies the notices aside).
    notices.sort_unstable_by(|a, b| notice_order(a).cmp(&notice_order(b)));
    part.notices = notices;
    announce.sort_by(|a, b| {
        (a.email.as_deref().unwrap_or(""), &a.account_id)
            .cmp(&(b.email.as_deref().unwrap_or(""), &b.account_id))
    });
    part.announce = announce;
}

/// How the plan orders a product's notices: by kind, email, account id and words.
fn notice_order(n: &Notice) -> (NoticeKind, &str, &str, &str) {
    let email = n.email.as_deref().unwrap_or("");
    (n.kind, email, n.account_id.as_str(), n.detail.as_str())
}

/// The product's access requests awaiting approval, by email then account id, each with the
/// `users:` entry that would grant it.
fn write_requests(
    ix: &Index<'_>,
    key: &str,
    p: ProductIx,
    requests: &[(UserIx, Rule)],
) -> Vec<AccessRequest> {
    let mut out: Vec<AccessRequest> = requests
        .iter()
        .filter_map(|&(u, rule)| {
            let requested_at = ix.access_request(u, p)?;
            let (policy_line, replaces) = granting_line(ix, u, key);
            Some(AccessRequest {
                product: key.to_string(),
                account_id: ix.account_id(u).to_string(),
                email: ix.email(u).map(str::to_string),
                requested_at,
                rule,
                policy_line,
                replaces,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (a.email.as_deref().unwrap_or(""), &a.account_id)
            .cmp(&(b.email.as_deref().unwrap_or(""), &b.account_id))
    });
    out
}

/// A `users:` entry, in YAML flow style, that grants product `key` to user `u`: the user's
/// first entry with the product added (and a lapsed `until` dropped), or a new entry.
fn granting_line(
    ix: &Index<'_>,
    u: UserIx,
    key: &str,
) -> (String, Option<crate::policy::Location>) {
    let who = match ix.email(u) {
        Some(email) => format!("email: {}", email.to_lowercase()),
        None => format!("account_id: {}", ix.account_id(u)),
    };
    let existing = ix.entries(u).next();
    let mut products: Vec<&str> = existing
        .and_then(|e| e.products.as_ref())
        .map(|ps| ps.iter().map(String::as_str).collect())
        .unwrap_or_default();
    if !products.contains(&key) {
        products.push(key);
    }
    let mut line = format!("- {{ {who}, products: [{}]", products.join(", "));
    if let Some(d) = existing.and_then(|e| e.requested) {
        line.push_str(&format!(", requested: {d}"));
    }
    line.push_str(" }");
    (line, existing.map(|e| e.location.clone()))
}

/// "reclaim on 2026-12-03 unless active on jira-software (last active 2026-09-04)", with
/// "(announced)" after the date when an applied plan announced it, and the product's own
/// last-active time when other evidence decided.
fn reclaim_soon_detail(ix: &Index<'_>, ev: &Eval<'_>) -> String {
    // One buffer and the planner's own date writer: tens of thousands of these per plan.
    let key = ix
        .products
        .get(ev.product)
        .map_or("", |p| p.product.key.as_str());
    let mut out = String::with_capacity(80);
    out.push_str("reclaim on ");
    if let Some(t) = ev.reclaim_at {
        Day(t).push_to(&mut out);
    }
    if ev.announced {
        out.push_str(" (announced)");
    }
    out.push_str(" unless active on ");
    out.push_str(key);
    out.push_str(" (");
    out.push_str(ev.evidence.source.describe());
    out.push(' ');
    if let Some(t) = ev.evidence.at {
        Day(t).push_to(&mut out);
    }
    ev.write_own_activity(key, &mut out);
    out.push(')');
    out
}

fn action(
    ix: &Index<'_>,
    ev: &Eval<'_>,
    kind: ActionKind,
    slot: Slot,
    rule: Rule,
    reason: String,
) -> Action {
    let group = ix.groups.get(usize::from(slot));
    Action {
        kind,
        product: ix
            .products
            .get(ev.product)
            .map(|p| p.product.key.clone())
            .unwrap_or_default(),
        group: group.map(|g| g.name.clone()).unwrap_or_default(),
        group_id: group.map(|g| g.id.clone()).unwrap_or_default(),
        account_id: ix.account_id(ev.u).to_string(),
        email: ix.email(ev.u).map(str::to_string),
        rule,
        reason,
        evidence: ev.evidence(),
    }
}

/// A notice about user `u`.
fn notice(
    ix: &Index<'_>,
    u: UserIx,
    product: &str,
    kind: NoticeKind,
    detail: String,
    at: Option<DateTime<Utc>>,
) -> Notice {
    Notice {
        kind,
        product: product.to_string(),
        account_id: ix.account_id(u).to_string(),
        email: ix.email(u).map(str::to_string),
        detail,
        at,
        name: None,
        evidence: None,
    }
}

/// The words of a `drift` notice: the action that `drift: report` holds back.
fn drift_detail(kind: ActionKind, group: &str, reason: &str) -> String {
    let to = if kind == ActionKind::Add {
        "to"
    } else {
        "from"
    };
    // The notice's kind already says `drift`; the words say what is held back and why.
    format!(
        "not applied (`drift: report`): would {} {to} {group}; {reason}",
        kind.as_str()
    )
}

/// How many example accounts a summary warning names.
const WARN_EXAMPLES: usize = 5;

fn examples(mut who: Vec<&str>) -> String {
    who.sort_unstable();
    let more = who.len().saturating_sub(WARN_EXAMPLES);
    let mut s = who
        .into_iter()
        .take(WARN_EXAMPLES)
        .collect::<Vec<_>>()
        .join(", ");
    if more > 0 {
        s.push_str(&format!(" and {more} more"));
    }
    s
}

/// What a plan does per (product, account id), looked up in O(1) by [`decide`].
struct PlanFacts<'p> {
    /// Pairs with an action.
    acted: std::collections::HashSet<(&'p str, &'p str)>,
    /// Pairs with a blocked action (the first in plan order).
    blocked: std::collections::HashMap<(&'p str, &'p str), &'p Blocked>,
    /// Pairs with a `drift` notice.
    reported: std::collections::HashSet<(&'p str, &'p str)>,
}

impl<'p> PlanFacts<'p> {
    fn new(plan: &'p Plan) -> Self {
        let mut blocked = std::collections::HashMap::new();
        for b in &plan.blocked {
            blocked
                .entry((b.action.product.as_str(), b.action.account_id.as_str()))
                .or_insert(b);
        }
        Self {
            acted: plan
                .actions
                .iter()
                .map(|a| (a.product.as_str(), a.account_id.as_str()))
                .collect(),
            blocked,
            reported: plan
                .notices
                .iter()
                .filter(|n| n.kind == NoticeKind::Drift)
                .map(|n| (n.product.as_str(), n.account_id.as_str()))
                .collect(),
        }
    }
}

/// The decision for one (user, product), reconciled with the plan's rails and drift mode.
fn decide(ix: &Index<'_>, facts: &PlanFacts<'_>, p: ProductIx, u: UserIx) -> Option<Decision> {
    let ev = evaluate(ix, p, u)?;
    let pc = ix.products.get(p)?;
    let key = pc.product.key.as_str();
    let acct = ev.user.account_id.as_str();
    let groups_now = pc
        .slots
        .iter()
        .filter(|&&s| ix.is_member(s, u))
        .filter_map(|&s| ix.groups.get(usize::from(s)).map(|g| g.name.clone()))
        .collect();
    let acted = facts.acted.contains(&(key, acct));
    let blocked = facts.blocked.get(&(key, acct)).copied();
    let reported = facts.reported.contains(&(key, acct));
    let mut reason = ev.reason(ix);
    let change = |done: Outcome, reason: &mut String| {
        if acted {
            done
        } else if let Some(b) = blocked {
            reason.push_str(&format!("; blocked by {}: {}", b.rail, b.rail_detail));
            Outcome::Blocked(b.rail)
        } else if reported {
            reason.push_str("; drift: report, so only reported");
            Outcome::Reported
        } else if done == Outcome::Remove {
            Outcome::Keep
        } else {
            reason.push_str("; no grant group exists in the live state");
            Outcome::None
        }
    };
    let outcome = match ev.verdict {
        Verdict::Ignored(_) => Outcome::Ignored,
        Verdict::Kept(_) | Verdict::Hold => Outcome::Keep,
        Verdict::Dormant(_) => Outcome::Dormant,
        Verdict::Absent(_) | Verdict::AbsentSuspended => Outcome::None,
        Verdict::RemoveIneligible(_) | Verdict::RemoveInactive(_) => {
            change(Outcome::Remove, &mut reason)
        }
        Verdict::Add(_) => change(Outcome::Add, &mut reason),
    };
    let holds_after = match outcome {
        Outcome::Remove => false,
        Outcome::Add => true,
        _ => ev.member,
    };
    Some(Decision {
        product: key.to_string(),
        groups_now,
        holds_now: ev.member,
        holds_after,
        outcome,
        rule: ev.rule(),
        reason,
        evidence: ev.evidence(),
        reclaim_announced: ev.member && ev.announced,
        reclaim_at: if ev.member { ev.reclaim_at } else { None },
    })
}
