//! The planner: a pure function of (policy, live state, ledger, now) to a [`Plan`].
//!
//! Layout:
//! - `index` builds, once per plan, the lookups every decision needs: users by account id
//!   (packed ids in a compact string table), membership bitmaps of the groups the policy names,
//!   safe-user entries per user, activity, events and ledger facts per user. Planning is
//!   linear in the size of the org and never scans users or groups per user.
//! - `evaluate` implements DESIGN §4's decision table for one (user, product), without
//!   allocating. [`plan`] and [`explain`] both call it, so they never disagree.
//! - `rails` applies what needs the whole product: `drift: report`, the safety rails and the
//!   seat budget.
//! - `hash` holds the fast hasher and string table the index uses.
//! - [`synth`] generates large realistic orgs for benchmarks, tests and the sandbox.
//!
//! The planner reads no clock, environment or file, and no output depends on hash-map order or
//! on the order of users, groups, members or events in the snapshot: every list in the plan is
//! sorted.
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

mod evaluate;
mod hash;
mod index;
mod rails;
pub mod synth;
#[cfg(test)]
mod tests;

use crate::ledger::Ledger;
use crate::live::LiveState;
use crate::plan::{
    Action, ActionKind, Blocked, Decision, Explanation, Notice, NoticeKind, Observation, Outcome,
    Plan, Rule, Seats, PLAN_FORMAT_VERSION,
};
use crate::policy::{Drift, Policy};
use chrono::{DateTime, Utc};
use evaluate::{evaluate, Dormancy, Eval, Verdict};
use index::{prefix, Index, ProductIx, Slot, UserIx};
use rails::{Addition, Removal};
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
/// is turned into a `drift` notice instead of being planned. We read "reverting" as every action
/// that is not a reclaim, i.e. every removal whose rule is not `inactive` (not eligible,
/// expired, account closed) and every addition. Reclaims of idle seats are seatkeeper's own
/// schedule, not a reaction to drift, so they still run.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let ix = Index::new(input.policy, input.live, input.ledger, input.now);
    build(&ix, input)
}

/// Explains every product decision for one user, named by email (case-insensitive) or account
/// id. `None` when the live state has no such user. The decisions agree with [`plan`] for the
/// same input, rails included.
pub fn explain(input: &PlanInput<'_>, user: &str) -> Option<Explanation> {
    let ix = Index::new(input.policy, input.live, input.ledger, input.now);
    let u = ix.find_user(user)?;
    let plan = build(&ix, input);
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
    let ix = Index::new(input.policy, input.live, input.ledger, input.now);
    let plan = build(&ix, input);
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
        account_id: ev.user.account_id.clone(),
        email: ev.user.email.clone(),
        rule,
        reason,
        evidence: ev.evidence(),
    }
}

fn notice(ev: &Eval<'_>, product: &str, kind: NoticeKind, detail: String) -> Notice {
    let at = match (kind, ev.verdict) {
        (NoticeKind::ReclaimSoon, _) => ev.reclaim_at,
        (_, Verdict::Dormant(Dormancy::Reclaimed(t) | Dormancy::Inactive(t))) => Some(t),
        _ => None,
    };
    Notice {
        kind,
        product: product.to_string(),
        account_id: ev.user.account_id.clone(),
        email: ev.user.email.clone(),
        detail,
        at,
    }
}

fn drift_notice(a: &Action) -> Notice {
    Notice {
        kind: NoticeKind::Drift,
        product: a.product.clone(),
        account_id: a.account_id.clone(),
        email: a.email.clone(),
        detail: format!(
            "drift: report: would {} {} {}: {}",
            a.kind.as_str(),
            if a.kind == ActionKind::Add {
                "to"
            } else {
                "from"
            },
            a.group,
            a.reason
        ),
        at: None,
    }
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

fn build(ix: &Index<'_>, input: &PlanInput<'_>) -> Plan {
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
        fingerprint: BTreeMap::new(),
        warnings: input.ledger.warnings.clone(),
    };
    plan.warnings.extend(ix.warnings.iter().cloned());

    // Evaluate user by user, every product at once: each user's data is read while it is in
    // cache, instead of once per product.
    let mut acc: Vec<Acc<'_>> = ix
        .products
        .iter()
        .map(|pc| Acc {
            removals: Vec::new(),
            adds: Vec::new(),
            before: pc.unknown_members.len(),
            no_evidence: Vec::new(),
        })
        .collect();
    for u in 0..ix.users.len() as UserIx {
        for (p, pc) in ix.products.iter().enumerate() {
            let Some(a) = acc.get_mut(p) else { continue };
            collect(ix, pc, p, u, a, &mut plan);
        }
    }

    let mut all_touched: Vec<Slot> = Vec::new();
    for (pc, a) in ix.products.iter().zip(acc) {
        let key = pc.product.key.as_str();
        let Acc {
            mut removals,
            mut adds,
            before,
            no_evidence,
        } = a;

        if !pc.unknown_members.is_empty() {
            plan.warnings.push(format!(
                "product {key}: {} member(s) of its groups are not in the live user list and are left alone: {}",
                pc.unknown_members.len(),
                examples(pc.unknown_members.clone())
            ));
        }
        if !no_evidence.is_empty() {
            plan.warnings.push(format!(
                "product {key}: {} holder(s) have no activity evidence at all and are never reclaimed: {}",
                no_evidence.len(),
                examples(no_evidence)
            ));
        }

        if pc.product.drift == Drift::Report {
            removals.retain(|r| {
                let reverting = r.actions.iter().any(|(_, a)| a.rule != Rule::Inactive);
                if reverting {
                    plan.notices
                        .extend(r.actions.iter().map(|(_, a)| drift_notice(a)));
                }
                !reverting
            });
            plan.notices
                .extend(adds.drain(..).map(|a| drift_notice(&a.action)));
        }

        rails::removal_rails(
            ix,
            pc,
            &mut removals,
            before,
            input.actor,
            input.allow_mass_removal,
        );
        let freed = removals.iter().filter(|r| r.block.is_none()).count();
        rails::addition_rails(ix, pc, &mut adds, before, before.saturating_sub(freed));
        let added = adds.iter().filter(|a| a.block.is_none()).count();
        plan.seats.insert(
            key.to_string(),
            Seats {
                before,
                after: before.saturating_sub(freed) + added,
                budget: pc.product.seats,
            },
        );

        let mut touched: Vec<Slot> = Vec::new();
        let mut emit = |slot: Slot, a: Action, block: Option<(crate::plan::Rail, String)>| {
            touched.push(slot);
            match block {
                None => plan.actions.push(a),
                Some((rail, rail_detail)) => plan.blocked.push(Blocked {
                    action: a,
                    rail,
                    rail_detail,
                }),
            }
        };
        for r in removals {
            for (slot, a) in r.actions {
                emit(slot, a, r.block.clone());
            }
        }
        for a in adds {
            emit(a.slot, a.action, a.block);
        }
        all_touched.extend(touched);
    }

    all_touched.sort_unstable();
    all_touched.dedup();
    if !all_touched.is_empty() {
        let by_id = ix.id_order();
        for s in all_touched {
            if let Some(g) = ix.groups.get(usize::from(s)) {
                plan.fingerprint
                    .insert(g.id.clone(), ix.fingerprint(s, &by_id));
            }
        }
    }
    sort_plan(ix, &mut plan);
    plan
}

/// What one product accumulates while users are evaluated.
struct Acc<'a> {
    removals: Vec<Removal>,
    adds: Vec<Addition>,
    before: usize,
    no_evidence: Vec<&'a str>,
}

/// Evaluates (user `u`, product `p`) and files the result: candidate actions into `acc`,
/// notices and observations straight into the plan.
fn collect<'a>(
    ix: &Index<'a>,
    pc: &index::ProductCtx<'a>,
    p: ProductIx,
    u: UserIx,
    acc: &mut Acc<'a>,
    plan: &mut Plan,
) {
    let key = pc.product.key.as_str();
    let add_slot = pc.slots.first().copied();
    let Some(ev) = evaluate(ix, p, u) else {
        return;
    };
    if ev.member {
        acc.before += 1;
    }
    match ev.verdict {
        Verdict::RemoveIneligible(_) | Verdict::RemoveInactive(_) => {
            let rule = ev.rule().unwrap_or(Rule::NotEligible);
            let reason = ev.reason(ix);
            let actions = pc
                .slots
                .iter()
                .filter(|&&s| ix.is_member(s, u))
                .map(|&s| {
                    (
                        s,
                        action(ix, &ev, ActionKind::Remove, s, rule, reason.clone()),
                    )
                })
                .collect();
            acc.removals.push(Removal {
                actions,
                block: None,
            });
        }
        Verdict::Add(_) => {
            if let Some(slot) = add_slot {
                let rule = ev.rule().unwrap_or(Rule::Eligible);
                acc.adds.push(Addition {
                    slot,
                    action: action(ix, &ev, ActionKind::Add, slot, rule, ev.reason(ix)),
                    demand_at: ev.demand_at,
                    block: None,
                });
            }
        }
        Verdict::Dormant(_) => {
            plan.notices
                .push(notice(&ev, key, NoticeKind::Dormant, ev.reason(ix)));
        }
        Verdict::Hold => {
            if ev.reclaim_soon {
                let when = ev.reclaim_at.map(|t| t.date_naive().to_string());
                let since = ev.evidence.at.map(|t| t.date_naive().to_string());
                let detail = format!(
                    "reclaim on {} unless active ({} {})",
                    when.unwrap_or_default(),
                    ev.evidence.source.describe(),
                    since.unwrap_or_default()
                );
                plan.notices
                    .push(notice(&ev, key, NoticeKind::ReclaimSoon, detail));
            }
            if ev.observe {
                for &s in pc.slots.iter().filter(|&&s| ix.is_member(s, u)) {
                    let Some(g) = ix.groups.get(usize::from(s)) else {
                        continue;
                    };
                    plan.observed.push(Observation {
                        product: key.to_string(),
                        group: g.name.clone(),
                        group_id: g.id.clone(),
                        account_id: ev.user.account_id.clone(),
                        email: ev.user.email.clone(),
                    });
                }
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

/// Reorders `items` by `order` (a permutation of their indices) without cloning them.
fn permute<T>(items: &mut Vec<T>, order: Vec<usize>) {
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(
        order
            .into_iter()
            .filter_map(|i| slots.get_mut(i).and_then(Option::take)),
    );
}

/// Interns strings into their rank in sorted order, so that sort keys compare integers first.
struct Ranks<'a>(hash::FxMap<&'a str, u32>);

impl<'a> Ranks<'a> {
    fn new(mut names: Vec<&'a str>) -> Self {
        names.sort_unstable();
        names.dedup();
        Ranks(
            names
                .into_iter()
                .enumerate()
                .map(|(i, n)| (n, i as u32))
                .collect(),
        )
    }

    /// The rank of `name`; names the index does not know sort last (by the string after).
    fn of(&self, name: &str) -> u32 {
        self.0.get(name).copied().unwrap_or(u32::MAX)
    }
}

fn action_key<'x>(
    products: &Ranks<'_>,
    groups: &Ranks<'_>,
    a: &'x Action,
) -> (u32, u32, ActionKind, u128, &'x str, &'x str) {
    let (p, g, kind, email, account) = a.sort_key();
    (
        products.of(p),
        groups.of(g),
        kind,
        prefix(email),
        email,
        account,
    )
}

/// Sorts every list of the plan deterministically. Equivalent to sorting actions and blocked
/// actions by [`Action::sort_key`] (then rail), notices by (product, kind, email, account id,
/// detail) and observations by (product, group, email, account id), but sorts small keys with
/// interned product and group ranks instead of moving whole records around.
fn sort_plan(ix: &Index<'_>, plan: &mut Plan) {
    let order = {
        let products = Ranks::new(ix.products.iter().map(|p| p.product.key.as_str()).collect());
        let groups = Ranks::new(ix.groups.iter().map(|g| g.name.as_str()).collect());

        let mut keys: Vec<_> = plan
            .actions
            .iter()
            .map(|a| action_key(&products, &groups, a))
            .zip(0usize..)
            .collect();
        keys.sort_unstable();
        let actions: Vec<usize> = keys.into_iter().map(|(_, i)| i).collect();

        let mut keys: Vec<_> = plan
            .blocked
            .iter()
            .map(|b| (action_key(&products, &groups, &b.action), b.rail))
            .zip(0usize..)
            .collect();
        keys.sort_unstable();
        let blocked: Vec<usize> = keys.into_iter().map(|(_, i)| i).collect();

        let mut keys: Vec<_> = plan
            .notices
            .iter()
            .map(|n| {
                let email = n.email.as_deref().unwrap_or("");
                (
                    products.of(&n.product),
                    n.kind,
                    prefix(email),
                    email,
                    n.account_id.as_str(),
                    n.detail.as_str(),
                )
            })
            .zip(0usize..)
            .collect();
        keys.sort_unstable();
        let notices: Vec<usize> = keys.into_iter().map(|(_, i)| i).collect();

        let mut keys: Vec<_> = plan
            .observed
            .iter()
            .map(|o| {
                let email = o.email.as_deref().unwrap_or("");
                (
                    products.of(&o.product),
                    groups.of(&o.group),
                    prefix(email),
                    email,
                    o.account_id.as_str(),
                )
            })
            .zip(0usize..)
            .collect();
        keys.sort_unstable();
        let observed: Vec<usize> = keys.into_iter().map(|(_, i)| i).collect();
        (actions, blocked, notices, observed)
    };
    permute(&mut plan.actions, order.0);
    permute(&mut plan.blocked, order.1);
    permute(&mut plan.notices, order.2);
    permute(&mut plan.observed, order.3);
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
        reclaim_at: if ev.member { ev.reclaim_at } else { None },
    })
}
