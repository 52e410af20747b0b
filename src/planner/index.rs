//! Indexes over (policy, live state, ledger), built once per plan so that evaluating one
//! (user, product) pair is a handful of array reads and small hash lookups: no scans of users or
//! groups, and no allocation.
//!
//! Users are numbered by their position in the snapshot ([`UserIx`]); the groups the policy
//! names (grant groups, eligible groups, keep/ignore groups) get a *slot* ([`Slot`]) with a
//! dense membership bitmap. Events and ledger entries are folded into per-user facts keyed by
//! those numbers.

use super::hash::{map_with_capacity, FxMap, FxSet};
use crate::ledger::Ledger;
use crate::live::{EventAction, Group, LiveState, User};
use crate::policy::{Matcher, Policy, Product, SafeUser, Selector};
use chrono::{DateTime, Utc};
use std::borrow::Cow;

/// A user's position in [`Index::users`].
pub(crate) type UserIx = u32;
/// A policy-named live group's position in [`Index::groups`].
pub(crate) type Slot = u16;
/// A product's position in `policy.products`.
pub(crate) type ProductIx = usize;

type Time = DateTime<Utc>;

/// One managed product with its grant groups resolved.
#[derive(Debug)]
pub(crate) struct ProductCtx<'a> {
    pub product: &'a Product,
    /// Grant groups that exist in the live state, in policy order; additions go to the first.
    pub slots: Vec<Slot>,
    /// Members of the grant groups that the live state does not list as users (sorted, unique).
    pub unknown_members: Vec<&'a str>,
}

/// Everything the evaluation of one (user, product) reads.
#[derive(Debug)]
pub(crate) struct Index<'a> {
    pub policy: &'a Policy,
    pub now: Time,
    /// Users, unique by account id (the first occurrence wins).
    pub users: Vec<&'a User>,
    pub user_ix: FxMap<&'a str, UserIx>,
    /// Live groups named by the policy, one per slot.
    pub groups: Vec<&'a Group>,
    /// Slot → membership bitmap over users.
    member: Vec<Vec<bool>>,
    /// Slot → number of distinct members (unknown accounts included).
    pub member_count: Vec<usize>,
    pub products: Vec<ProductCtx<'a>>,
    pub eligible_slots: Vec<Slot>,
    /// Per user: 1 + index of the first matching `ignore` entry, or 0.
    ignored: Vec<u32>,
    /// Per user: 1 + index of the first matching `keep` entry, or 0.
    kept: Vec<u32>,
    /// Safe-user entries per user, as offsets into `entry_ix` (CSR layout).
    entry_off: Vec<u32>,
    entry_ix: Vec<u32>,
    /// Per user: the latest login event.
    pub login: Vec<Option<Time>>,
    /// Latest `access_requested` without a product, per user.
    pub access_any: FxMap<UserIx, Time>,
    /// Latest `access_requested` per (user, product).
    pub access_product: FxMap<(UserIx, ProductIx), Time>,
    /// Latest `user_added_to_group` per (user, slot).
    pub added_event: FxMap<(UserIx, Slot), Time>,
    /// Ledger: when the membership (user, slot) began.
    pub ledger_began: FxMap<(UserIx, Slot), Time>,
    /// Ledger: the last reclaim of (user, product).
    pub ledger_reclaim: FxMap<(UserIx, ProductIx), Time>,
    /// Ledger: the last observation of (user, product).
    pub ledger_observed: FxMap<(UserIx, ProductIx), Time>,
    /// Problems found while indexing, in a deterministic order.
    pub warnings: Vec<String>,
}

/// Lowercases an email without allocating when it already is lowercase ASCII.
fn lower(email: &str) -> Cow<'_, str> {
    if email
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
    {
        Cow::Borrowed(email)
    } else {
        Cow::Owned(email.to_lowercase())
    }
}

impl<'a> Index<'a> {
    pub(crate) fn new(
        policy: &'a Policy,
        live: &'a LiveState,
        ledger: &'a Ledger,
        now: Time,
    ) -> Self {
        let mut warnings = Vec::new();

        // Users, unique by account id.
        let mut users = Vec::with_capacity(live.users.len());
        let mut user_ix: FxMap<&str, UserIx> = map_with_capacity(live.users.len());
        let mut duplicates = 0usize;
        for u in &live.users {
            if user_ix.contains_key(u.account_id.as_str()) {
                duplicates += 1;
                continue;
            }
            user_ix.insert(u.account_id.as_str(), users.len() as UserIx);
            users.push(u);
        }
        if duplicates > 0 {
            warnings.push(format!(
                "live state lists {duplicates} account id(s) more than once; the first entry of each is used"
            ));
        }
        let n = users.len();

        // Live groups by name: on duplicate names the smallest id wins, so input order never
        // matters.
        let mut live_by_name: FxMap<&str, &Group> = map_with_capacity(live.groups.len());
        for g in &live.groups {
            live_by_name
                .entry(g.name.as_str())
                .and_modify(|cur| {
                    if g.id < cur.id {
                        *cur = g;
                    }
                })
                .or_insert(g);
        }

        let mut ix = Index {
            policy,
            now,
            users,
            user_ix,
            groups: Vec::new(),
            member: Vec::new(),
            member_count: Vec::new(),
            products: Vec::new(),
            eligible_slots: Vec::new(),
            ignored: vec![0; n],
            kept: vec![0; n],
            entry_off: Vec::new(),
            entry_ix: Vec::new(),
            login: vec![None; n],
            access_any: FxMap::default(),
            access_product: FxMap::default(),
            added_event: FxMap::default(),
            ledger_began: FxMap::default(),
            ledger_reclaim: FxMap::default(),
            ledger_observed: FxMap::default(),
            warnings,
        };
        let mut slot_by_name: FxMap<&str, Slot> = FxMap::default();
        let mut unknown_by_slot: Vec<Vec<&'a str>> = Vec::new();

        // Slots for every group the policy names.
        let mut slot_for = |ix: &mut Index<'a>, name: &str, what: &str| -> Option<Slot> {
            if let Some(&s) = slot_by_name.get(name) {
                return Some(s);
            }
            let Some(g) = live_by_name.get(name).copied() else {
                ix.warnings.push(format!(
                    "{what}: group `{name}` does not exist in the live state"
                ));
                return None;
            };
            if ix.groups.len() >= usize::from(Slot::MAX) {
                ix.warnings.push(format!(
                    "{what}: too many groups; `{name}` is not considered"
                ));
                return None;
            }
            let slot = ix.groups.len() as Slot;
            let mut bits = vec![false; ix.users.len()];
            let mut count = 0usize;
            let mut unknown: FxSet<&'a str> = FxSet::default();
            for m in &g.members {
                match ix.user_ix.get(m.as_str()) {
                    Some(&u) => {
                        let bit = &mut bits[u as usize];
                        if !*bit {
                            *bit = true;
                            count += 1;
                        }
                    }
                    None => {
                        unknown.insert(m.as_str());
                    }
                }
            }
            let mut unknown: Vec<&'a str> = unknown.into_iter().collect();
            unknown.sort_unstable();
            ix.member_count.push(count + unknown.len());
            ix.member.push(bits);
            ix.groups.push(g);
            unknown_by_slot.push(unknown);
            slot_by_name.insert(g.name.as_str(), slot);
            Some(slot)
        };

        for p in &policy.products {
            let mut slots = Vec::with_capacity(p.groups.len());
            for name in &p.groups {
                if let Some(s) = slot_for(&mut ix, name, &format!("product {}", p.key)) {
                    if !slots.contains(&s) {
                        slots.push(s);
                    }
                }
            }
            if slots.is_empty() {
                ix.warnings.push(format!(
                    "product {}: none of its groups exists in the live state; nothing is planned for it",
                    p.key
                ));
            }
            ix.products.push(ProductCtx {
                product: p,
                slots,
                unknown_members: Vec::new(),
            });
        }
        for name in &policy.eligible_groups {
            if let Some(s) = slot_for(&mut ix, name, "eligible_groups") {
                if !ix.eligible_slots.contains(&s) {
                    ix.eligible_slots.push(s);
                }
            }
        }
        let mut keep_groups = Vec::new();
        for (i, sel) in policy.keep.iter().enumerate() {
            if let Matcher::Group(name) = &sel.matcher {
                if let Some(s) = slot_for(&mut ix, name, &format!("keep entry at {}", sel.location))
                {
                    keep_groups.push((i, s));
                }
            }
        }
        let mut ignore_groups = Vec::new();
        for (i, sel) in policy.ignore.iter().enumerate() {
            if let Matcher::Group(name) = &sel.matcher {
                if let Some(s) =
                    slot_for(&mut ix, name, &format!("ignore entry at {}", sel.location))
                {
                    ignore_groups.push((i, s));
                }
            }
        }
        for pc in &mut ix.products {
            let mut unknown: Vec<&'a str> = pc
                .slots
                .iter()
                .flat_map(|&s| unknown_by_slot[usize::from(s)].iter().copied())
                .collect();
            unknown.sort_unstable();
            unknown.dedup();
            pc.unknown_members = unknown;
        }

        // Emails the policy names → users with that email (lowercase comparison).
        let mut policy_emails: FxMap<&'a str, Vec<UserIx>> = FxMap::default();
        for e in &policy.users {
            if let crate::policy::UserRef::Email(email) = &e.who {
                policy_emails.entry(email.as_str()).or_default();
            }
        }
        for sel in policy.keep.iter().chain(&policy.ignore) {
            if let Matcher::Email(email) = &sel.matcher {
                policy_emails.entry(email.as_str()).or_default();
            }
        }
        if !policy_emails.is_empty() {
            for (u, user) in ix.users.iter().enumerate() {
                if let Some(email) = &user.email {
                    if let Some(list) = policy_emails.get_mut(lower(email).as_ref()) {
                        list.push(u as UserIx);
                    }
                }
            }
        }
        let resolve =
            |ix: &Index<'a>, matcher_email: Option<&str>, id: Option<&str>| -> Vec<UserIx> {
                match (matcher_email, id) {
                    (Some(e), _) => policy_emails.get(e).cloned().unwrap_or_default(),
                    (None, Some(id)) => ix.user_ix.get(id).map(|&u| vec![u]).unwrap_or_default(),
                    (None, None) => Vec::new(),
                }
            };

        // Safe-user entries per user (CSR).
        let mut pairs: Vec<(UserIx, u32)> = Vec::new();
        for (i, e) in policy.users.iter().enumerate() {
            let found = match &e.who {
                crate::policy::UserRef::Email(email) => resolve(&ix, Some(email), None),
                crate::policy::UserRef::AccountId(id) => resolve(&ix, None, Some(id)),
            };
            pairs.extend(found.into_iter().map(|u| (u, i as u32)));
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut entry_off = vec![0u32; n + 1];
        for &(u, _) in &pairs {
            entry_off[u as usize + 1] += 1;
        }
        for i in 0..n {
            entry_off[i + 1] += entry_off[i];
        }
        ix.entry_ix = pairs.into_iter().map(|(_, e)| e).collect();
        ix.entry_off = entry_off;

        // keep / ignore: iterate entries last to first so that the first match wins.
        for (selectors, groups, is_keep) in [
            (&policy.keep, &keep_groups, true),
            (&policy.ignore, &ignore_groups, false),
        ] {
            for (i, sel) in selectors.iter().enumerate().rev() {
                let tag = i as u32 + 1;
                let hits: Vec<UserIx> = match &sel.matcher {
                    Matcher::Email(e) => resolve(&ix, Some(e), None),
                    Matcher::AccountId(id) => resolve(&ix, None, Some(id)),
                    Matcher::Group(_) => match groups.iter().find(|(gi, _)| *gi == i) {
                        Some(&(_, s)) => ix.member[usize::from(s)]
                            .iter()
                            .enumerate()
                            .filter(|(_, &b)| b)
                            .map(|(u, _)| u as UserIx)
                            .collect(),
                        None => Vec::new(),
                    },
                    Matcher::AccountType(t) => ix
                        .users
                        .iter()
                        .enumerate()
                        .filter(|(_, u)| u.account_type == *t)
                        .map(|(u, _)| u as UserIx)
                        .collect(),
                };
                let marks = if is_keep {
                    &mut ix.kept
                } else {
                    &mut ix.ignored
                };
                for u in hits {
                    marks[u as usize] = tag;
                }
            }
        }

        // Events.
        let product_ix = |key: &str| policy.products.iter().position(|p| p.key == key);
        let mut slot_by_id: FxMap<&str, Slot> = FxMap::default();
        for (s, g) in ix.groups.iter().enumerate() {
            slot_by_id.insert(g.id.as_str(), s as Slot);
        }
        fn latest(slot: &mut Option<Time>, t: Time) {
            if slot.is_none_or(|cur| t > cur) {
                *slot = Some(t);
            }
        }
        fn latest_in<K: std::hash::Hash + Eq>(map: &mut FxMap<K, Time>, k: K, t: Time) {
            map.entry(k)
                .and_modify(|cur| {
                    if t > *cur {
                        *cur = t;
                    }
                })
                .or_insert(t);
        }
        for e in &live.events {
            let Some(&u) = ix.user_ix.get(e.account_id.as_str()) else {
                continue;
            };
            match e.action {
                EventAction::UserLoggedIn => latest(&mut ix.login[u as usize], e.time),
                EventAction::AccessRequested => match e.product.as_deref() {
                    None => latest_in(&mut ix.access_any, u, e.time),
                    Some(p) => {
                        if let Some(p) = product_ix(p) {
                            latest_in(&mut ix.access_product, (u, p), e.time);
                        }
                    }
                },
                EventAction::UserAddedToGroup => {
                    if let Some(&s) = e.group_id.as_deref().and_then(|g| slot_by_id.get(g)) {
                        latest_in(&mut ix.added_event, (u, s), e.time);
                    }
                }
                EventAction::UserRemovedFromGroup => {}
            }
        }

        // Ledger.
        for (acct, gid, t) in ledger.memberships() {
            if let (Some(&u), Some(&s)) = (ix.user_ix.get(acct), slot_by_id.get(gid)) {
                latest_in(&mut ix.ledger_began, (u, s), t);
            }
        }
        for (acct, product, t) in ledger.reclaims() {
            if let (Some(&u), Some(p)) = (ix.user_ix.get(acct), product_ix(product)) {
                latest_in(&mut ix.ledger_reclaim, (u, p), t);
            }
        }
        for (acct, product, t) in ledger.observations() {
            if let (Some(&u), Some(p)) = (ix.user_ix.get(acct), product_ix(product)) {
                latest_in(&mut ix.ledger_observed, (u, p), t);
            }
        }
        ix
    }

    /// Whether user `u` is a member of the group in `slot`.
    #[inline]
    pub(crate) fn is_member(&self, slot: Slot, u: UserIx) -> bool {
        self.member[usize::from(slot)][u as usize]
    }

    /// The safe-user entries naming user `u`, in policy order.
    pub(crate) fn entries(&self, u: UserIx) -> impl Iterator<Item = &'a SafeUser> + '_ {
        let from = self.entry_off[u as usize] as usize;
        let to = self.entry_off[u as usize + 1] as usize;
        let users = &self.policy.users;
        self.entry_ix[from..to]
            .iter()
            .filter_map(move |&e| users.get(e as usize))
    }

    /// The first `keep` entry matching user `u`.
    pub(crate) fn kept(&self, u: UserIx) -> Option<&'a Selector> {
        let tag = self.kept[u as usize] as usize;
        tag.checked_sub(1).and_then(|i| self.policy.keep.get(i))
    }

    /// The first `ignore` entry matching user `u`.
    pub(crate) fn ignored(&self, u: UserIx) -> Option<&'a Selector> {
        let tag = self.ignored[u as usize] as usize;
        tag.checked_sub(1).and_then(|i| self.policy.ignore.get(i))
    }

    /// Finds a user by account id or (case-insensitive) email. Not for hot loops.
    pub(crate) fn find_user(&self, who: &str) -> Option<UserIx> {
        if let Some(&u) = self.user_ix.get(who) {
            return Some(u);
        }
        let wanted = who.to_lowercase();
        self.users
            .iter()
            .position(|u| {
                u.email
                    .as_deref()
                    .is_some_and(|e| lower(e) == wanted.as_str())
            })
            .map(|u| u as UserIx)
    }
}
