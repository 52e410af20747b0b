//! Product-level rules applied after every (user, product) is evaluated: `drift: report`, the
//! safety rails (`self`, `synced-group`, `last-admin`, `max-removals`, `max-additions`) and the
//! seat budget.
//!
//! Removals are atomic per user: a seat is freed only when the user leaves every grant group,
//! so when a rail blocks one of a user's removals for a product, all of that user's removals
//! for the product are blocked with it (the user keeps the seat either way).

use super::index::{Index, ProductCtx, Slot};
use crate::plan::{Action, Rail};
use crate::policy::Limit;
use chrono::{DateTime, Utc};

/// All of one user's planned removals for one product.
#[derive(Debug)]
pub(crate) struct Removal {
    /// One action per grant group the user is in, with the slot it targets.
    pub actions: Vec<(Slot, Action)>,
    pub block: Option<(Rail, String)>,
}

/// One planned addition (to the product's first grant group).
#[derive(Debug)]
pub(crate) struct Addition {
    pub slot: Slot,
    pub action: Action,
    pub demand_at: Option<DateTime<Utc>>,
    pub block: Option<(Rail, String)>,
}

fn limit_words(limit: Limit, resolved: usize, base: usize) -> String {
    match limit {
        Limit::Count(_) => format!("{resolved}"),
        Limit::Percent(_) => format!("{limit} of {base} members = {resolved}"),
    }
}

/// Applies the removal rails in order: `self`, `synced-group`, `last-admin`, `max-removals`.
pub(crate) fn removal_rails(
    ix: &Index<'_>,
    pc: &ProductCtx<'_>,
    removals: &mut [Removal],
    before: usize,
    actor: Option<&str>,
    allow_mass_removal: bool,
) {
    for r in removals.iter_mut() {
        let Some((_, first)) = r.actions.first() else {
            continue;
        };
        if actor.is_some_and(|a| a == first.account_id) {
            r.block = Some((
                Rail::SelfAccount,
                "the account running seatkeeper is never removed".to_string(),
            ));
            continue;
        }
        if let Some((_, a)) = r
            .actions
            .iter()
            .find(|(s, _)| ix.groups.get(usize::from(*s)).is_some_and(|g| g.synced))
        {
            r.block = Some((
                Rail::SyncedGroup,
                format!(
                    "group {} is synced from an identity provider; change it there",
                    a.group
                ),
            ));
        }
    }

    // last-admin: never empty an admin group. Removals are visited in plan order, and the ones
    // that would remove the last remaining member are blocked.
    for &slot in &pc.slots {
        let Some(group) = ix.groups.get(usize::from(slot)) else {
            continue;
        };
        if !ix.policy.safety.is_admin_group(&group.name) {
            continue;
        }
        let mut order: Vec<usize> = removals
            .iter()
            .enumerate()
            .filter(|(_, r)| r.block.is_none() && r.actions.iter().any(|(s, _)| *s == slot))
            .map(|(i, _)| i)
            .collect();
        order.sort_by(|&a, &b| {
            let ka = removals[a].actions.first().map(|(_, x)| x.sort_key());
            let kb = removals[b].actions.first().map(|(_, x)| x.sort_key());
            ka.cmp(&kb)
        });
        let mut remaining = ix.member_count.get(usize::from(slot)).copied().unwrap_or(0);
        for i in order {
            if remaining <= 1 {
                removals[i].block = Some((
                    Rail::LastAdmin,
                    format!(
                        "the last member of admin group {} is never removed",
                        group.name
                    ),
                ));
            } else {
                remaining -= 1;
            }
        }
    }

    // max-removals: all or nothing per product, counted in accounts losing the product.
    if let Some(limit) = ix.policy.safety.max_removals {
        let planned = removals.iter().filter(|r| r.block.is_none()).count();
        let allowed = limit.resolve(before);
        if planned > allowed && !allow_mass_removal {
            let detail = format!(
                "{planned} accounts would lose {}, more than max_removals ({}); review and rerun with --allow-mass-removal",
                pc.product.key,
                limit_words(limit, allowed, before)
            );
            for r in removals.iter_mut().filter(|r| r.block.is_none()) {
                r.block = Some((Rail::MaxRemovals, detail.clone()));
            }
        }
    }
}

/// Applies the addition rails: `synced-group`, then the seat budget and `max-additions` in
/// demand order (earliest demand first, then email, then account id; unknown demand last).
/// `holders` is the number of accounts holding the product after the planned removals.
pub(crate) fn addition_rails(
    ix: &Index<'_>,
    pc: &ProductCtx<'_>,
    adds: &mut [Addition],
    before: usize,
    holders: usize,
) {
    for a in adds.iter_mut() {
        if ix.groups.get(usize::from(a.slot)).is_some_and(|g| g.synced) {
            a.block = Some((
                Rail::SyncedGroup,
                format!(
                    "group {} is synced from an identity provider; change it there",
                    a.action.group
                ),
            ));
        }
    }
    adds.sort_by(|a, b| {
        let da = (a.demand_at.is_none(), a.demand_at);
        let db = (b.demand_at.is_none(), b.demand_at);
        da.cmp(&db)
            .then_with(|| a.action.who().cmp(b.action.who()))
            .then_with(|| a.action.account_id.cmp(&b.action.account_id))
    });
    let seats = pc.product.seats.map(|b| b as usize);
    let free = seats.map(|b| b.saturating_sub(holders));
    let max_add = ix
        .policy
        .safety
        .max_additions
        .map(|l| (l, l.resolve(before)));
    let mut added = 0usize;
    for a in adds.iter_mut().filter(|a| a.block.is_none()) {
        if let (Some(free), Some(budget)) = (free, seats) {
            if added >= free {
                a.block = Some((
                    Rail::SeatBudget,
                    format!(
                        "seat budget {budget} of {} reached (first come, first served)",
                        pc.product.key
                    ),
                ));
                continue;
            }
        }
        if let Some((limit, allowed)) = max_add {
            if added >= allowed {
                a.block = Some((
                    Rail::MaxAdditions,
                    format!(
                        "more additions than max_additions ({}) for {}",
                        limit_words(limit, allowed, before),
                        pc.product.key
                    ),
                ));
                continue;
            }
        }
        added += 1;
    }
}
