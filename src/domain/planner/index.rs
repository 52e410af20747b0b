//! Indexes over (policy, live state, ledger), built once per plan so that evaluating one
//! (user, product) pair is a handful of array reads and small hash lookups: no scans of users or
//! groups, and no allocation.
//!
//! Users are numbered by their position in the snapshot ([`UserIx`]); the groups the policy
//! names (grant groups, eligible groups, keep/ignore groups) get a *slot* ([`Slot`]) with a
//! dense membership bitmap. Events and ledger entries are folded into maps keyed by those
//! numbers.
//!
//! The maps hash with `rustc_hash`'s Fx hasher: the index hashes hundreds of thousands of short
//! account ids per plan, where std's SipHash would cost a good part of the planning time. Their
//! iteration order never reaches the plan: every list in it is sorted.

use crate::ledger::Ledger;
use crate::live::{EventAction, Group, LiveState, User};
use crate::plan::Warning;
use crate::policy::{Matcher, Policy, Product, SafeUser, Selector, UserRef};
use chrono::{DateTime, Utc};
use rustc_hash::{FxHashMap, FxHashSet};
use std::borrow::Cow;
use std::collections::hash_map::Entry;

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
    /// The product as the policy states it.
    pub product: &'a Product,
    /// Grant groups that exist in the live state, in policy order; additions go to the first.
    pub slots: Vec<Slot>,
    /// Members of the grant groups that the live state does not list as users (sorted, unique).
    pub unknown_members: Vec<&'a str>,
    /// Activity before this time is older than `inactivity` (`None`: nothing is).
    pub inactive_before: Option<Time>,
    /// Members of these live groups may hold the product: the policy-wide `eligible_groups`
    /// and the product's own, in that order.
    pub eligible: Vec<Slot>,
    /// Seats Atlassian licenses for the product, when the live state says.
    pub licensed: Option<u32>,
}

/// Everything the evaluation of one (user, product) reads.
#[derive(Debug)]
pub(crate) struct Index<'a> {
    /// The policy planned for.
    pub policy: &'a Policy,
    /// The time planned for.
    pub now: Time,
    /// `now`'s date: a `users:` entry whose `until` is before it has expired.
    pub today: chrono::NaiveDate,
    /// Users, unique by account id (the first occurrence wins).
    pub users: Vec<&'a User>,
    /// Account id → user.
    by_id: FxHashMap<&'a str, UserIx>,
    /// Live groups named by the policy, one per slot.
    pub groups: Vec<&'a Group>,
    /// Slot → membership bitmap over users.
    member: Vec<Vec<bool>>,
    /// Slot → number of distinct members (unknown accounts included).
    pub member_count: Vec<usize>,
    /// The policy's products, in policy order.
    pub products: Vec<ProductCtx<'a>>,
    /// Per user: the first matching `ignore` entry.
    ignored: Vec<Option<&'a Selector>>,
    /// Per user: the first matching `keep` entry.
    kept: Vec<Option<&'a Selector>>,
    /// Per user: the `users:` entries naming the user, as positions in `policy.users`, in
    /// policy order.
    entries: Vec<Vec<u32>>,
    /// Per (`users:` entry, product), row-major: whether the entry covers the product.
    covers: Vec<bool>,
    /// Per (user, product), row-major: last activity on the product.
    last_active: Vec<Option<Time>>,
    /// Per user: the latest login event.
    pub login: Vec<Option<Time>>,
    /// Latest `access_requested` per (user, product).
    access: FxHashMap<(UserIx, ProductIx), Time>,
    /// Latest `user_added_to_group` per (user, slot).
    added_event: FxHashMap<(UserIx, Slot), Time>,
    /// Ledger: when the membership (user, slot) began.
    ledger_began: FxHashMap<(UserIx, Slot), Time>,
    /// Ledger: the last reclaim of (user, product).
    ledger_reclaim: FxHashMap<(UserIx, ProductIx), Time>,
    /// Ledger: a removal of (user, slot) that failed, with nothing since.
    ledger_failed: FxHashMap<(UserIx, Slot), Time>,
    /// Ledger: the reclaim date announced for (user, product) since its last reclaim.
    ledger_announced: FxHashMap<(UserIx, ProductIx), Time>,
    /// When the `reclaim-soon` email about each (user, product) was accepted.
    reclaim_soon_sent: FxHashMap<(UserIx, ProductIx), Time>,
    /// The audit log holds no line: seatkeeper's first run against the org.
    pub first_run: bool,
    /// Problems found while indexing, in a deterministic order.
    pub warnings: Vec<Warning>,
}

/// Lowercases an email without allocating when it already is lowercase ASCII (as nearly every
/// email is).
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

/// What [`Index::membership`] finds out about one group.
struct Membership<'a> {
    bits: Vec<bool>,
    count: usize,
    unknown: Vec<&'a str>,
}

/// Takes `t` into `slot` when it is later than what is there.
fn latest(slot: &mut Option<Time>, t: Time) {
    if slot.is_none_or(|cur| t > cur) {
        *slot = Some(t);
    }
}

/// Takes `t` as the value of `k` when it is later than what is there.
fn latest_in<K: std::hash::Hash + Eq>(map: &mut FxHashMap<K, Time>, k: K, t: Time) {
    let cur = map.entry(k).or_insert(t);
    if t > *cur {
        *cur = t;
    }
}

impl<'a> Index<'a> {
    /// Indexes `policy`, `live` and `ledger` for planning at `now`.
    pub(crate) fn new(
        policy: &'a Policy,
        live: &'a LiveState,
        ledger: &'a Ledger,
        now: Time,
    ) -> Self {
        // Products by key (the first wins), for `last_active` keys, entries and events.
        let mut product_ix: FxHashMap<&str, ProductIx> = FxHashMap::default();
        for (p, product) in policy.products.iter().enumerate() {
            product_ix.entry(product.key.as_str()).or_insert(p);
        }
        let np = policy.products.len();

        // Users, unique by account id: the first entry wins.
        let mut users: Vec<&'a User> = Vec::with_capacity(live.users.len());
        let mut by_id: FxHashMap<&'a str, UserIx> = FxHashMap::default();
        by_id.reserve(live.users.len());
        for user in &live.users {
            if let Entry::Vacant(v) = by_id.entry(user.account_id.as_str()) {
                v.insert(users.len() as UserIx);
                users.push(user);
            }
        }
        let n = users.len();
        let mut warnings: Vec<Warning> = Vec::new();
        let duplicates = live.users.len() - n;
        if duplicates > 0 {
            warnings.push(Warning::new(
                "duplicate-accounts",
                format!(
                    "live state lists {duplicates} account id(s) more than once; the first entry of each is used"
                ),
            ));
        }
        let mut last_active = vec![None; n * np];
        for (u, user) in users.iter().enumerate() {
            for (key, &t) in user.last_active.iter() {
                if let Some(&p) = product_ix.get(key.as_str()) {
                    last_active[u * np + p] = Some(t);
                }
            }
        }

        // Live groups by name: on duplicate names the smallest id wins, so input order never
        // matters.
        let mut live_by_name: FxHashMap<&str, &Group> = FxHashMap::default();
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

        // Slots for every group the policy names.
        let mut groups: Vec<&'a Group> = Vec::new();
        let mut slot_by_name: FxHashMap<&str, Slot> = FxHashMap::default();
        let mut slot_for = |name: &str, what: &str, warnings: &mut Vec<Warning>| -> Option<Slot> {
            if let Some(&s) = slot_by_name.get(name) {
                return Some(s);
            }
            // A group the org lacks is a `live_checks` warning, with its line.
            let g = live_by_name.get(name).copied()?;
            if groups.len() >= usize::from(Slot::MAX) {
                warnings.push(Warning::new(
                    "too-many-groups",
                    format!("{what}: too many groups; `{name}` is not considered"),
                ));
                return None;
            }
            let slot = groups.len() as Slot;
            groups.push(g);
            slot_by_name.insert(g.name.as_str(), slot);
            Some(slot)
        };

        let mut products = Vec::with_capacity(np);
        for p in &policy.products {
            let mut slots = Vec::with_capacity(p.groups.len());
            for name in &p.groups {
                if let Some(s) = slot_for(name, &format!("product {}", p.key), &mut warnings) {
                    if !slots.contains(&s) {
                        slots.push(s);
                    }
                }
            }
            // `now - t > window` is `t < now - window`: one comparison per user instead of a
            // date subtraction. When `now - window` is out of range, nothing is that old.
            let cutoff = |window: crate::time::Duration| {
                chrono::TimeDelta::try_seconds(window.as_seconds())
                    .and_then(|w| now.checked_sub_signed(w))
            };
            products.push(ProductCtx {
                product: p,
                slots,
                unknown_members: Vec::new(),
                inactive_before: p.inactivity.and_then(cutoff),
                eligible: Vec::new(),
                licensed: live.licenses.get(&p.key).map(|l| l.limit),
            });
        }
        let mut everywhere: Vec<Slot> = Vec::new();
        for name in &policy.eligible_groups {
            if let Some(s) = slot_for(name, "eligible_groups", &mut warnings) {
                if !everywhere.contains(&s) {
                    everywhere.push(s);
                }
            }
        }
        for pc in &mut products {
            let mut eligible = everywhere.clone();
            let what = format!("product {}: eligible_groups", pc.product.key);
            for name in &pc.product.eligible_groups {
                if let Some(s) = slot_for(name, &what, &mut warnings) {
                    if !eligible.contains(&s) {
                        eligible.push(s);
                    }
                }
            }
            pc.eligible = eligible;
        }
        for (selectors, what) in [(&policy.keep, "keep"), (&policy.ignore, "ignore")] {
            for sel in selectors {
                if let Matcher::Group(name) = &sel.matcher {
                    slot_for(
                        name,
                        &format!("{what} entry at {}", sel.location),
                        &mut warnings,
                    );
                }
            }
        }

        // The `users:` entries naming each email, and the users each keep/ignore email matches.
        // Policy emails are lowercase; a user's email is matched lowercased.
        let mut entries_by_email: FxHashMap<&str, Vec<u32>> = FxHashMap::default();
        for (i, entry) in policy.users.iter().enumerate() {
            if let UserRef::Email(email) = &entry.who {
                entries_by_email.entry(email).or_default().push(i as u32);
            }
        }
        let mut by_email: FxHashMap<&str, Vec<UserIx>> = FxHashMap::default();
        for sel in policy.keep.iter().chain(&policy.ignore) {
            if let Matcher::Email(email) = &sel.matcher {
                by_email.entry(email).or_default();
            }
        }
        // Safe-user entries per user, in policy order.
        let mut entries: Vec<Vec<u32>> = vec![Vec::new(); n];
        if !entries_by_email.is_empty() || !by_email.is_empty() {
            for (u, user) in users.iter().enumerate() {
                let Some(email) = user.email.as_deref() else {
                    continue;
                };
                let email = lower(email);
                if let Some(named) = entries_by_email.get(email.as_ref()) {
                    entries[u].clone_from(named);
                }
                if let Some(matched) = by_email.get_mut(email.as_ref()) {
                    matched.push(u as UserIx);
                }
            }
        }
        for (i, entry) in policy.users.iter().enumerate() {
            if let UserRef::AccountId(id) = &entry.who {
                if let Some(&u) = by_id.get(id.as_str()) {
                    let named = &mut entries[u as usize];
                    named.push(i as u32);
                    // A user named by email too: keep the entries in policy order.
                    named.sort_unstable();
                }
            }
        }
        // Which products each entry covers, its product keys resolved once.
        let mut covers = vec![false; policy.users.len() * np];
        for (row, entry) in covers.chunks_mut(np.max(1)).zip(&policy.users) {
            match &entry.products {
                None => row.fill(true),
                Some(keys) => {
                    for &p in keys.iter().filter_map(|k| product_ix.get(k.as_str())) {
                        row[p] = true;
                    }
                }
            }
        }

        let mut ix = Index {
            policy,
            now,
            today: now.date_naive(),
            users,
            by_id,
            groups,
            member: Vec::new(),
            member_count: Vec::new(),
            products,
            ignored: Vec::new(),
            kept: Vec::new(),
            entries,
            covers,
            last_active,
            login: vec![None; n],
            access: FxHashMap::default(),
            added_event: FxHashMap::default(),
            ledger_began: FxHashMap::default(),
            ledger_reclaim: FxHashMap::default(),
            ledger_failed: FxHashMap::default(),
            ledger_announced: FxHashMap::default(),
            reclaim_soon_sent: FxHashMap::default(),
            first_run: ledger.is_first_run(),
            warnings,
        };

        // Every slot's members as a bitmap, and the members the user list lacks.
        let mut unknown_in: Vec<Vec<&'a str>> = Vec::with_capacity(ix.groups.len());
        for g in &ix.groups {
            let m = ix.membership(g);
            ix.member_count.push(m.count + m.unknown.len());
            ix.member.push(m.bits);
            unknown_in.push(m.unknown);
        }
        for pc in &mut ix.products {
            let mut unknown: Vec<&'a str> = pc
                .slots
                .iter()
                .flat_map(|&s| unknown_in[usize::from(s)].iter().copied())
                .collect();
            unknown.sort_unstable();
            unknown.dedup();
            pc.unknown_members = unknown;
        }

        // keep / ignore: the first matching entry of each list.
        let matching = |sel: &Selector| -> Vec<UserIx> {
            match &sel.matcher {
                Matcher::Email(email) => by_email.get(email.as_str()).cloned().unwrap_or_default(),
                Matcher::AccountId(id) => ix.user_of(id).into_iter().collect(),
                Matcher::Group(name) => match slot_by_name.get(name.as_str()) {
                    Some(&s) => (0..n as UserIx).filter(|&u| ix.is_member(s, u)).collect(),
                    None => Vec::new(),
                },
                Matcher::AccountType(t) => (0..n as UserIx)
                    .filter(|&u| ix.users[u as usize].account_type == *t)
                    .collect(),
            }
        };
        let first_match = |selectors: &'a [Selector]| {
            let mut first: Vec<Option<&'a Selector>> = vec![None; n];
            for sel in selectors {
                for u in matching(sel) {
                    first[u as usize].get_or_insert(sel);
                }
            }
            first
        };
        let (kept, ignored) = (first_match(&policy.keep), first_match(&policy.ignore));
        ix.kept = kept;
        ix.ignored = ignored;

        // Events.
        let product_of = |key: &str| product_ix.get(key).copied();
        let slot_by_id: FxHashMap<&str, Slot> = ix
            .groups
            .iter()
            .enumerate()
            .map(|(s, g)| (g.id.as_str(), s as Slot))
            .collect();
        for e in &live.events {
            let Some(u) = ix.user_of(&e.account_id) else {
                continue;
            };
            match e.action {
                EventAction::UserLoggedIn => latest(&mut ix.login[u as usize], e.time),
                // A request counts for the product it names; one naming none asks for nothing
                // in particular (DESIGN §4: evidence is per product).
                EventAction::AccessRequested => {
                    if let Some(p) = e.product.as_deref().and_then(product_of) {
                        latest_in(&mut ix.access, (u, p), e.time);
                    }
                }
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
            if let (Some(u), Some(&s)) = (ix.user_of(acct), slot_by_id.get(gid)) {
                latest_in(&mut ix.ledger_began, (u, s), t);
            }
        }
        for (acct, product, t) in ledger.reclaims() {
            if let (Some(u), Some(p)) = (ix.user_of(acct), product_of(product)) {
                latest_in(&mut ix.ledger_reclaim, (u, p), t);
            }
        }
        for (acct, product, t) in ledger.announcements() {
            if let (Some(u), Some(p)) = (ix.user_of(acct), product_of(product)) {
                latest_in(&mut ix.ledger_announced, (u, p), t);
            }
        }
        for (acct, product, t) in ledger.reclaim_soon_emails() {
            if let (Some(u), Some(p)) = (ix.user_of(acct), product_of(product)) {
                latest_in(&mut ix.reclaim_soon_sent, (u, p), t);
            }
        }
        for (acct, gid, t) in ledger.failed_removals() {
            if let (Some(u), Some(&s)) = (ix.user_of(acct), slot_by_id.get(gid)) {
                latest_in(&mut ix.ledger_failed, (u, s), t);
            }
        }
        ix
    }

    /// The members of `g` as a bitmap over users, how many there are, and the members that are
    /// not in the user list (sorted, unique).
    fn membership(&self, g: &'a Group) -> Membership<'a> {
        let mut bits = vec![false; self.users.len()];
        let mut count = 0usize;
        let mut unknown: FxHashSet<&'a str> = FxHashSet::default();
        for m in &g.members {
            match self.user_of(m) {
                Some(u) => {
                    if let Some(bit) = bits.get_mut(u as usize) {
                        if !*bit {
                            *bit = true;
                            count += 1;
                        }
                    }
                }
                None => {
                    unknown.insert(m.as_str());
                }
            }
        }
        let mut unknown: Vec<&'a str> = unknown.into_iter().collect();
        unknown.sort_unstable();
        Membership {
            bits,
            count,
            unknown,
        }
    }

    /// The user with this account id.
    pub(crate) fn user_of(&self, account_id: &str) -> Option<UserIx> {
        self.by_id.get(account_id).copied()
    }

    /// User `u`'s account id (empty for no such user).
    pub(crate) fn account_id(&self, u: UserIx) -> &'a str {
        self.users
            .get(u as usize)
            .map_or("", |user| user.account_id.as_str())
    }

    /// The name of the group in `slot`.
    pub(crate) fn group_name(&self, slot: Slot) -> &'a str {
        self.groups
            .get(usize::from(slot))
            .map_or("", |g| g.name.as_str())
    }

    /// User `u`'s email as the live state gives it.
    pub(crate) fn email(&self, u: UserIx) -> Option<&'a str> {
        self.users.get(u as usize)?.email.as_deref()
    }

    /// The latest access request of user `u` for product `p`.
    pub(crate) fn access_request(&self, u: UserIx, p: ProductIx) -> Option<Time> {
        self.access.get(&(u, p)).copied()
    }

    /// When user `u`'s current membership of `slot` began, as far as the ledger and the
    /// group-addition events tell (the later of the two).
    pub(crate) fn membership_began(&self, u: UserIx, slot: Slot) -> Option<Time> {
        let ledger = self.ledger_began.get(&(u, slot)).copied();
        let event = self.added_event.get(&(u, slot)).copied();
        ledger.max(event)
    }

    /// Whether the ledger holds user `u`'s membership of `slot`: seatkeeper added or observed it
    /// and has not removed it since.
    pub(crate) fn ledger_holds(&self, u: UserIx, slot: Slot) -> bool {
        self.ledger_began.contains_key(&(u, slot))
    }

    /// Whether the ledger's last word on user `u`'s membership of `slot` is a removal that
    /// failed.
    pub(crate) fn removal_failed(&self, u: UserIx, slot: Slot) -> bool {
        self.ledger_failed.contains_key(&(u, slot))
    }

    /// When the ledger last shows user `u`'s seat of product `p` reclaimed.
    pub(crate) fn reclaimed(&self, u: UserIx, p: ProductIx) -> Option<Time> {
        self.ledger_reclaim.get(&(u, p)).copied()
    }

    /// The reclaim date the ledger shows announced for user `u`'s seat of product `p` since its
    /// last reclaim.
    pub(crate) fn announced(&self, u: UserIx, p: ProductIx) -> Option<Time> {
        self.ledger_announced.get(&(u, p)).copied()
    }

    /// When the `reclaim-soon` email to user `u` about product `p` was accepted, since the
    /// last reclaim.
    pub(crate) fn reclaim_soon_sent(&self, u: UserIx, p: ProductIx) -> Option<Time> {
        self.reclaim_soon_sent.get(&(u, p)).copied()
    }

    /// Whether user `u` is a member of the group in `slot`.
    #[inline]
    pub(crate) fn is_member(&self, slot: Slot, u: UserIx) -> bool {
        self.member[usize::from(slot)][u as usize]
    }

    /// User `u`'s last activity on product `p`.
    #[inline]
    pub(crate) fn last_active(&self, u: UserIx, p: ProductIx) -> Option<Time> {
        let np = self.products.len();
        self.last_active.get(u as usize * np + p).copied().flatten()
    }

    /// The safe-user entries naming user `u`, in policy order.
    pub(crate) fn entries(&self, u: UserIx) -> impl Iterator<Item = &'a SafeUser> + '_ {
        let users = &self.policy.users;
        self.entries[u as usize]
            .iter()
            .filter_map(move |&e| users.get(e as usize))
    }

    /// The safe-user entries naming user `u` that cover product `p`, in policy order.
    pub(crate) fn entries_for(
        &self,
        u: UserIx,
        p: ProductIx,
    ) -> impl Iterator<Item = &'a SafeUser> + '_ {
        let (users, np) = (&self.policy.users, self.products.len());
        self.entries[u as usize]
            .iter()
            .filter(move |&&e| self.covers.get(e as usize * np + p) == Some(&true))
            .filter_map(move |&e| users.get(e as usize))
    }

    /// The first `keep` entry matching user `u`.
    pub(crate) fn kept(&self, u: UserIx) -> Option<&'a Selector> {
        self.kept[u as usize]
    }

    /// The first `ignore` entry matching user `u`.
    pub(crate) fn ignored(&self, u: UserIx) -> Option<&'a Selector> {
        self.ignored[u as usize]
    }

    /// Finds a user by account id or (case-insensitive) email. Not for hot loops.
    pub(crate) fn find_user(&self, who: &str) -> Option<UserIx> {
        if let Some(u) = self.user_of(who) {
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
