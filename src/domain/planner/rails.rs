//! Product-level rules applied after every (user, product) is evaluated: `drift: report`, the
//! safety rails (`self`, `synced-group`, `last-admin`, `max-removals`, `max-additions`) and the
//! seat budget.
//!
//! Removals are atomic per user: a seat is freed only when the user leaves every grant group,
//! so when a rail blocks one of a user's removals for a product, all of that user's removals
//! for the product are blocked with it (the user keeps the seat either way).

use super::evaluate::Eval;
use super::index::{Index, ProductCtx, Slot, UserIx};
use crate::plan::Rail;
use crate::policy::Limit;

/// Why a rail holds a change back: the rail and an index into [`Blocks::details`], so that a
/// detail shared by thousands of changes (`max-removals`) is written once.
pub(crate) type Block = (Rail, u32);

/// The rail details of one product.
#[derive(Debug, Default)]
pub(crate) struct Blocks {
    pub details: Vec<String>,
}

impl Blocks {
    fn add(&mut self, rail: Rail, detail: String) -> Block {
        self.details.push(detail);
        (rail, self.details.len() as u32 - 1)
    }

    /// The `synced-group` rail for `group`, on removals and additions alike.
    fn synced(&mut self, group: &str) -> Block {
        self.add(
            Rail::SyncedGroup,
            format!("group {group} is synced from an identity provider; change it there"),
        )
    }

    /// The detail of a block.
    pub fn detail(&self, block: Block) -> &str {
        self.details
            .get(block.1 as usize)
            .map_or("", String::as_str)
    }
}

/// All of one user's planned removals for one product: one per grant group the user is in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Removal<'a> {
    pub block: Option<Block>,
    /// The evaluation behind it (its user is `ev.u`), kept for writing the action out:
    /// evaluating again then would read the user's scattered data a second time.
    pub ev: Eval<'a>,
}

/// One planned addition (to the product's first grant group).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Addition<'a> {
    pub slot: Slot,
    pub block: Option<Block>,
    /// The evaluation behind it (see [`Removal::ev`]); `ev.demand_at` orders the seat budget.
    pub ev: Eval<'a>,
}

/// The grant groups of `pc` that user `u` is in, in policy order.
pub(crate) fn member_slots<'x>(
    ix: &'x Index<'_>,
    pc: &'x ProductCtx<'_>,
    u: UserIx,
) -> impl Iterator<Item = Slot> + 'x {
    pc.slots
        .iter()
        .copied()
        .filter(move |&s| ix.is_member(s, u))
}

/// With `notify.before_reclaim`, a reclaim waits until the person's `reclaim-soon` email was
/// accepted at least the product's `notice` earlier: notice means notified, not only announced.
/// Why it waits, or `None` when it may go ahead.
fn not_notified(ix: &Index<'_>, pc: &ProductCtx<'_>, r: &Removal<'_>) -> Option<String> {
    ix.policy.notify.as_ref().filter(|n| n.before_reclaim)?;
    if !matches!(r.ev.verdict, super::evaluate::Verdict::RemoveInactive(_)) {
        return None;
    }
    // Someone without an address cannot be emailed: the announcement is all the notice there
    // is (`notify` counts them as not told).
    let who = r.ev.user.email.as_deref()?;
    let notice = pc.product.notice.map_or(0, |n| n.as_seconds());
    // Only an email accepted after the evidence counts: one from before it was about an earlier
    // idle stretch (the person came back since), not about this reclaim.
    let since = r.ev.evidence.at;
    let sent = ix
        .reclaim_soon_sent(r.ev.u, r.ev.product)
        .filter(|sent| since.is_none_or(|e| *sent > e));
    match sent {
        None => Some(format!(
            "no reclaim-soon email to {who} was accepted yet; `seatkeeper notify` sends it"
        )),
        Some(sent) => {
            // Counted in days, as the announcement is: an email accepted on day 0 lets the
            // reclaim run on day `notice`, at whatever hour the daily run comes.
            let ready =
                crate::time::start_of_day(sent.date_naive()) + chrono::TimeDelta::seconds(notice);
            (ready > ix.now).then(|| {
                format!(
                    "the reclaim-soon email to {who} was accepted on {}; the reclaim waits until {}",
                    super::evaluate::Day(sent),
                    super::evaluate::Day(ready)
                )
            })
        }
    }
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
    removals: &mut [Removal<'_>],
    blocks: &mut Blocks,
    before: usize,
    actor: Option<&str>,
    allow_mass_removal: bool,
) {
    for r in removals.iter_mut() {
        let Some(user) = ix.users.get(r.ev.u as usize) else {
            continue;
        };
        if actor.is_some_and(|a| a == user.account_id) {
            r.block = Some(blocks.add(
                Rail::SelfAccount,
                "the account running seatkeeper is never removed".to_string(),
            ));
            continue;
        }
        let synced = member_slots(ix, pc, r.ev.u)
            .filter_map(|s| ix.groups.get(usize::from(s)))
            .find(|g| g.synced);
        if let Some(g) = synced {
            r.block = Some(blocks.synced(&g.name));
            continue;
        }
        if let Some(detail) = not_notified(ix, pc, r) {
            r.block = Some(blocks.add(Rail::NotNotified, detail));
        }
    }

    // last-admin: never empty an admin group. Removals are visited in plan order (by the group
    // of their first action, then email, then account id), and the ones that would remove the
    // last remaining member are blocked.
    for &slot in &pc.slots {
        let Some(group) = ix.groups.get(usize::from(slot)) else {
            continue;
        };
        if !ix.policy.safety.is_admin_group(&group.name) {
            continue;
        }
        let key = |r: &Removal<'_>| {
            let first = member_slots(ix, pc, r.ev.u)
                .next()
                .and_then(|s| ix.groups.get(usize::from(s)))
                .map_or("", |g| g.name.as_str());
            let user = ix.users.get(r.ev.u as usize);
            let email = user.and_then(|u| u.email.as_deref()).unwrap_or("");
            let account = user.map_or("", |u| u.account_id.as_str());
            (first, email, account)
        };
        let mut order: Vec<usize> = removals
            .iter()
            .enumerate()
            .filter(|(_, r)| r.block.is_none() && ix.is_member(slot, r.ev.u))
            .map(|(i, _)| i)
            .collect();
        order.sort_by(|&a, &b| key(&removals[a]).cmp(&key(&removals[b])));
        let mut remaining = ix.member_count.get(usize::from(slot)).copied().unwrap_or(0);
        let mut last = None;
        for i in order {
            if remaining <= 1 {
                let block = *last.get_or_insert_with(|| {
                    blocks.add(
                        Rail::LastAdmin,
                        format!(
                            "the last member of admin group {} is never removed",
                            group.name
                        ),
                    )
                });
                removals[i].block = Some(block);
            } else {
                remaining -= 1;
            }
        }
    }

    // max-removals: all or nothing per product, counted in accounts losing the product.
    if let Some((limit, allowed)) = ix.policy.safety.max_removals_for(before) {
        let planned = removals.iter().filter(|r| r.block.is_none()).count();
        if planned > allowed && !allow_mass_removal {
            let block = blocks.add(
                Rail::MaxRemovals,
                format!(
                    "{planned} accounts would lose {}, more than max_removals ({}); review and rerun with --allow-mass-removal",
                    pc.product.key,
                    limit_words(limit, allowed, before)
                ),
            );
            for r in removals.iter_mut().filter(|r| r.block.is_none()) {
                r.block = Some(block);
            }
        }
    }
}

/// Applies the addition rails: `synced-group`, then the licence, the seat budget and
/// `max-additions` in demand order (earliest demand first, then email, then account id;
/// unknown demand last). `holders` is the number of billable accounts holding the product after
/// the planned removals.
pub(crate) fn addition_rails(
    ix: &Index<'_>,
    pc: &ProductCtx<'_>,
    adds: &mut [Addition<'_>],
    blocks: &mut Blocks,
    before: usize,
    holders: usize,
) {
    for a in adds.iter_mut() {
        if let Some(g) = ix.groups.get(usize::from(a.slot)).filter(|g| g.synced) {
            a.block = Some(blocks.synced(&g.name));
        }
    }
    let who = |a: &Addition<'_>| {
        let user = ix.users.get(a.ev.u as usize);
        let account = user.map_or("", |u| u.account_id.as_str());
        (
            user.and_then(|u| u.email.as_deref()).unwrap_or(account),
            account,
        )
    };
    adds.sort_by(|a, b| {
        let da = (a.ev.demand_at.is_none(), a.ev.demand_at);
        let db = (b.ev.demand_at.is_none(), b.ev.demand_at);
        da.cmp(&db).then_with(|| who(a).cmp(&who(b)))
    });
    let seats = pc.product.seats.map(|b| b as usize);
    let free = seats.map(|b| b.saturating_sub(holders));
    let licensed = pc.licensed.map(|l| l as usize);
    let licence_free = licensed.map(|l| l.saturating_sub(holders));
    let mut licence_block = None;
    let max_add = ix.policy.safety.max_additions_for(before);
    // Additions made, and seats they take: an app's or customer's grant takes no billed seat.
    let (mut added, mut taken) = (0usize, 0usize);
    let (mut budget_block, mut max_block) = (None, None);
    for a in adds.iter_mut().filter(|a| a.block.is_none()) {
        let billed = super::is_billed(a.ev.user);
        // Atlassian refuses a grant beyond the licence: predicted here, not found out by apply.
        if let (Some(free), Some(limit), true) = (licence_free, licensed, billed) {
            if taken >= free {
                a.block = Some(*licence_block.get_or_insert_with(|| {
                    blocks.add(
                        Rail::LicenceLimit,
                        format!(
                            "the {} licence has {limit} seats and the plan leaves none free (first come, first served)",
                            pc.product.key
                        ),
                    )
                }));
                continue;
            }
        }
        if let (Some(free), Some(budget), true) = (free, seats, billed) {
            if taken >= free {
                a.block = Some(*budget_block.get_or_insert_with(|| {
                    blocks.add(
                        Rail::SeatBudget,
                        format!(
                            "seat budget {budget} of {} reached (first come, first served)",
                            pc.product.key
                        ),
                    )
                }));
                continue;
            }
        }
        if let Some((limit, allowed)) = max_add {
            if added >= allowed {
                a.block = Some(*max_block.get_or_insert_with(|| {
                    blocks.add(
                        Rail::MaxAdditions,
                        format!(
                            "more additions than max_additions ({}) for {}",
                            limit_words(limit, allowed, before),
                            pc.product.key
                        ),
                    )
                }));
                continue;
            }
        }
        added += 1;
        taken += usize::from(billed);
    }
}
