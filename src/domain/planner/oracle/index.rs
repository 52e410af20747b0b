//! Indexes over (policy, live state, ledger), built once per plan so that evaluating one
//! (user, product) pair is a handful of array reads and small hash lookups: no scans of users or
//! groups, and no allocation.
//!
//! Users are numbered by their position in the snapshot ([`UserIx`]); the groups the policy
//! names (grant groups, eligible groups, keep/ignore groups) get a *slot* ([`Slot`]) with a
//! dense membership bitmap. Events and ledger entries are folded into per-user facts keyed by
//! those numbers.

use super::hash::{hash_bytes, map_with_capacity, FxMap, FxSet, StrTable};
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
    /// Activity before this time is older than `inactivity` (`None`: nothing is).
    pub inactive_before: Option<Time>,
    /// Members of these live groups may hold the product: the policy-wide `eligible_groups`
    /// and the product's own, in that order.
    pub eligible: Vec<Slot>,
    /// Seats Atlassian licenses for the product, when the live state says.
    pub licensed: Option<u32>,
}

/// Account ids packed in byte order: `arena[off[r]..off[r + 1]]` is the id of rank `r` and a
/// newline; `rank[u]` is user `u`'s rank.
#[derive(Debug)]
pub(crate) struct IdOrder {
    rank: Vec<u32>,
    arena: Vec<u8>,
    off: Vec<u32>,
}

/// `Index::facts` bit: an `access_requested` event.
pub(crate) const FACT_ACCESS: u8 = 1;
/// `Index::facts` bit: a `user_added_to_group` event for a policy group.
pub(crate) const FACT_ADDED: u8 = 2;
/// `Index::facts` bit: a ledger membership.
pub(crate) const FACT_BEGAN: u8 = 4;
/// `Index::facts` bit: a ledger reclaim.
pub(crate) const FACT_RECLAIM: u8 = 8;
/// `Index::facts` bit: a failed ledger removal.
pub(crate) const FACT_FAILED: u8 = 16;
/// `Index::facts` bit: a ledger announcement of a reclaim.
pub(crate) const FACT_ANNOUNCED: u8 = 32;

/// Everything the evaluation of one (user, product) reads.
#[derive(Debug)]
pub(crate) struct Index<'a> {
    pub policy: &'a Policy,
    pub now: Time,
    /// `now`'s date: a `users:` entry whose `until` is before it has expired.
    pub today: chrono::NaiveDate,
    /// Users, unique by account id (the first occurrence wins).
    pub users: Vec<&'a User>,
    /// Account id → user, over `ids` (see [`Index::user_of`]).
    user_table: StrTable,
    /// Every user's account id and a newline, packed in user order: `ids[id_off[u]..id_off[u + 1]]`.
    ids: Vec<u8>,
    id_off: Vec<u32>,
    /// Every user's email, packed in user order (see [`UserRead`]).
    mails: String,
    mail_off: Vec<u32>,
    has_mail: Vec<bool>,
    /// Live groups named by the policy, one per slot.
    pub groups: Vec<&'a Group>,
    /// Slot → membership bitmap over users.
    member: Vec<Vec<bool>>,
    /// Slot → number of distinct members (unknown accounts included).
    pub member_count: Vec<usize>,
    /// Slot → the live member list is in byte order without repeats (as snapshots list it),
    /// so that its fingerprint needs no sort ([`Index::fingerprint_in_order`]).
    pub members_in_order: Vec<bool>,
    pub products: Vec<ProductCtx<'a>>,
    /// Per user: 1 + index of the first matching `ignore` entry, or 0.
    ignored: Vec<u32>,
    /// Per user: 1 + index of the first matching `keep` entry, or 0.
    kept: Vec<u32>,
    /// Safe-user entries per user, as offsets into `entry_ix` (CSR layout).
    entry_off: Vec<u32>,
    entry_ix: Vec<u32>,
    /// Slot → members that are not in the user list (sorted, unique).
    pub unknown: Vec<Vec<&'a str>>,
    /// Per policy entry: bit `p` set when the entry covers product `p` (products beyond 64 are
    /// checked by name).
    entry_mask: Vec<u64>,
    /// Per (user, product), row-major: last activity on the product.
    last_active: Vec<Option<Time>>,
    /// Per user: which of the sparse maps below hold anything for the user (`FACT_*` bits), so
    /// that most users need no hash lookup at all.
    facts: Vec<u8>,
    /// Per user: the latest login event.
    pub login: Vec<Option<Time>>,
    /// Latest `access_requested` per (user, product).
    pub access_product: FxMap<(UserIx, ProductIx), Time>,
    /// Latest `user_added_to_group` per (user, slot).
    pub added_event: FxMap<(UserIx, Slot), Time>,
    /// Ledger: when the membership (user, slot) began.
    pub ledger_began: FxMap<(UserIx, Slot), Time>,
    /// Ledger: the last reclaim of (user, product).
    pub ledger_reclaim: FxMap<(UserIx, ProductIx), Time>,
    /// Ledger: a removal of (user, slot) that failed, with nothing since.
    pub ledger_failed: FxMap<(UserIx, Slot), Time>,
    /// Ledger: the reclaim date announced for (user, product) since its last reclaim.
    pub ledger_announced: FxMap<(UserIx, ProductIx), Time>,
    /// The audit log holds no line: seatkeeper's first run against the org.
    pub first_run: bool,
    /// Problems found while indexing, in a deterministic order.
    pub warnings: Vec<crate::plan::Warning>,
}

/// Email `u` of emails packed as in [`UserRead`].
fn packed_email<'m>(mails: &'m str, off: &[u32], has: &[bool], u: usize) -> Option<&'m str> {
    if !*has.get(u)? {
        return None;
    }
    mails.get(*off.get(u)? as usize..*off.get(u + 1)? as usize)
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

/// The users of a live state as the index keeps them: unique by account id (the first entry
/// wins), ids packed, activity per product.
struct UserRead<'a> {
    users: Vec<&'a User>,
    /// Account id → user, over `ids`.
    table: StrTable,
    ids: Vec<u8>,
    id_off: Vec<u32>,
    /// Per (user, product), row-major.
    last_active: Vec<Option<Time>>,
    kinds: Vec<crate::live::AccountType>,
    /// Every user's email as given (not lowercased), packed in user order; see [`Index::email`].
    mails: String,
    /// `mails[mail_off[u]..mail_off[u + 1]]` is user `u`'s email, when `has_mail[u]`.
    mail_off: Vec<u32>,
    has_mail: Vec<bool>,
    /// Entries dropped because their account id came earlier.
    duplicates: usize,
}

impl<'a> UserRead<'a> {
    fn new(live: &'a LiveState, product_bits: &FxMap<&str, usize>, np: usize) -> Self {
        let count = live.users.len();
        let mut r = UserRead {
            users: Vec::with_capacity(count),
            table: StrTable::with_capacity(count),
            ids: Vec::with_capacity(count * 26),
            id_off: Vec::with_capacity(count + 1),
            last_active: Vec::with_capacity(count * np),
            kinds: Vec::with_capacity(count),
            mails: String::with_capacity(count * 24),
            mail_off: Vec::with_capacity(count + 1),
            has_mail: Vec::with_capacity(count),
            duplicates: 0,
        };
        for user in &live.users {
            let id = user.account_id.as_bytes();
            let h = hash_bytes(id);
            let (ids, id_off) = (&r.ids, &r.id_off);
            let seen = r.table.find(h, |u| {
                let from = id_off[u as usize] as usize;
                ids.get(from..from + id.len()) == Some(id)
                    && ids.get(from + id.len()) == Some(&b'\n')
            });
            if seen.is_some() {
                r.duplicates += 1;
                continue;
            }
            r.table.insert(h, r.users.len() as UserIx);
            r.id_off.push(r.ids.len() as u32);
            r.ids.extend_from_slice(id);
            r.ids.push(b'\n');
            r.users.push(user);
            r.kinds.push(user.account_type);
            r.mail_off.push(r.mails.len() as u32);
            r.mails.push_str(user.email.as_deref().unwrap_or_default());
            r.has_mail.push(user.email.is_some());
            let row = r.last_active.len();
            r.last_active.resize(row + np, None);
            for (key, &t) in user.last_active.iter() {
                if let Some(&p) = product_bits.get(key.as_str()) {
                    r.last_active[row + p] = Some(t);
                }
            }
        }
        r.id_off.push(r.ids.len() as u32);
        r.mail_off.push(r.mails.len() as u32);
        r
    }
}

/// The emails a policy names (lowercase, interned), with each safe-user entry's email and the
/// products it covers as a bitmask.
struct PolicyEmails<'a> {
    emails: Vec<&'a str>,
    /// Email → its number, over `emails`.
    table: StrTable,
    /// Per `users:` entry: its email's number, or `u32::MAX` for an account id.
    entry_email: Vec<u32>,
    /// Per `users:` entry: bit `p` set when it covers product `p` (below 64).
    entry_mask: Vec<u64>,
}

impl<'a> PolicyEmails<'a> {
    fn new(policy: &'a Policy, product_bits: &FxMap<&str, usize>) -> Self {
        let mut emails: Vec<&'a str> = Vec::new();
        let mut table =
            StrTable::with_capacity(policy.users.len() + policy.keep.len() + policy.ignore.len());
        let mut intern = |email: &'a str| -> u32 {
            let h = hash_bytes(email.as_bytes());
            match table.find(h, |i| emails[i as usize] == email) {
                Some(i) => i,
                None => {
                    let i = emails.len() as u32;
                    table.insert(h, i);
                    emails.push(email);
                    i
                }
            }
        };
        let mut entry_email: Vec<u32> = Vec::with_capacity(policy.users.len());
        let mut entry_mask: Vec<u64> = Vec::with_capacity(policy.users.len());
        for e in &policy.users {
            entry_email.push(match &e.who {
                crate::policy::UserRef::Email(email) => intern(email),
                crate::policy::UserRef::AccountId(_) => u32::MAX,
            });
            entry_mask.push(match &e.products {
                None => u64::MAX,
                Some(ps) => ps
                    .iter()
                    .filter_map(|p| product_bits.get(p.as_str()))
                    .filter(|&&i| i < 64)
                    .fold(0u64, |m, &i| m | (1u64 << i)),
            });
        }
        for sel in policy.keep.iter().chain(&policy.ignore) {
            if let Matcher::Email(email) = &sel.matcher {
                intern(email);
            }
        }
        PolicyEmails {
            emails,
            table,
            entry_email,
            entry_mask,
        }
    }
}

/// What [`Index::membership`] finds out about one group.
struct Membership<'a> {
    bits: Vec<bool>,
    count: usize,
    unknown: Vec<&'a str>,
    in_order: bool,
}

impl<'a> Index<'a> {
    pub(crate) fn new(
        policy: &'a Policy,
        live: &'a LiveState,
        ledger: &'a Ledger,
        now: Time,
    ) -> Self {
        // The product index, for `last_active` keys, entries and events.
        let product_bits: FxMap<&str, usize> = policy
            .products
            .iter()
            .enumerate()
            .rev()
            .map(|(i, p)| (p.key.as_str(), i))
            .collect();
        let np = policy.products.len();

        // The policy's emails on a second thread while this one reads the users.
        let (read, named) = crate::par::join(
            || UserRead::new(live, &product_bits, np),
            || PolicyEmails::new(policy, &product_bits),
        );
        let UserRead {
            users,
            table: user_table,
            ids,
            id_off,
            last_active,
            kinds,
            mails,
            mail_off,
            has_mail,
            duplicates,
        } = read;
        let PolicyEmails {
            emails,
            table: email_table,
            entry_email,
            entry_mask,
        } = named;
        // (email, user) pairs: the users whose email the policy names, half on each thread.
        let pairs_in = |from: usize, to: usize| {
            let mut pairs: Vec<(u32, UserIx)> = Vec::new();
            for u in from..to {
                let Some(email) = packed_email(&mails, &mail_off, &has_mail, u) else {
                    continue;
                };
                let email = lower(email);
                let h = hash_bytes(email.as_bytes());
                if let Some(i) = email_table.find(h, |i| emails[i as usize] == email.as_ref()) {
                    pairs.push((i, u as UserIx));
                }
            }
            pairs
        };
        let mut email_pairs: Vec<(u32, UserIx)> = Vec::new();
        if !emails.is_empty() {
            let half = users.len() / 2;
            let (first, second) =
                crate::par::join(|| pairs_in(0, half), || pairs_in(half, users.len()));
            email_pairs = first;
            email_pairs.extend(second);
        }
        // Users per policy email (CSR, in user order). The pairs come in user order, so a
        // counting sort by email keeps that order within each email.
        let mut email_off = vec![0u32; emails.len() + 1];
        for &(e, _) in &email_pairs {
            email_off[e as usize + 1] += 1;
        }
        for e in 0..emails.len() {
            email_off[e + 1] += email_off[e];
        }
        let mut email_user: Vec<UserIx> = vec![0; email_pairs.len()];
        let mut next = email_off.clone();
        for &(e, u) in &email_pairs {
            if let Some(at) = next.get_mut(e as usize) {
                if let Some(dst) = email_user.get_mut(*at as usize) {
                    *dst = u;
                }
                *at += 1;
            }
        }
        let users_of_email = |e: u32| -> &[UserIx] {
            let from = email_off.get(e as usize).copied().unwrap_or(0) as usize;
            let to = email_off.get(e as usize + 1).copied().unwrap_or(0) as usize;
            email_user.get(from..to).unwrap_or(&[])
        };
        let mut warnings: Vec<crate::plan::Warning> = Vec::new();
        if duplicates > 0 {
            warnings.push(crate::plan::Warning::new(
                "duplicate-accounts",
                format!(
                    "live state lists {duplicates} account id(s) more than once; the first entry of each is used"
                ),
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
            today: now.date_naive(),
            users,
            user_table,
            ids,
            id_off,
            mails,
            mail_off,
            has_mail,
            groups: Vec::new(),
            member: Vec::new(),
            member_count: Vec::new(),
            members_in_order: Vec::new(),
            products: Vec::new(),
            ignored: vec![0; n],
            kept: vec![0; n],
            entry_off: Vec::new(),
            entry_ix: Vec::new(),
            unknown: Vec::new(),
            entry_mask: Vec::new(),
            last_active,
            facts: vec![0; n],
            login: vec![None; n],
            access_product: FxMap::default(),
            added_event: FxMap::default(),
            ledger_began: FxMap::default(),
            ledger_reclaim: FxMap::default(),
            ledger_failed: FxMap::default(),
            ledger_announced: FxMap::default(),
            first_run: ledger.is_first_run(),
            warnings,
        };
        let mut slot_by_name: FxMap<&str, Slot> = FxMap::default();

        // Slots for every group the policy names.
        let mut slot_for = |ix: &mut Index<'a>, name: &str, what: &str| -> Option<Slot> {
            if let Some(&s) = slot_by_name.get(name) {
                return Some(s);
            }
            // A group the org lacks is a `live_checks` warning, with its line.
            let g = live_by_name.get(name).copied()?;
            if ix.groups.len() >= usize::from(Slot::MAX) {
                ix.warnings.push(crate::plan::Warning::new(
                    "too-many-groups",
                    format!("{what}: too many groups; `{name}` is not considered"),
                ));
                return None;
            }
            let slot = ix.groups.len() as Slot;
            ix.groups.push(g);
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

            // `now - t > window` is `t < now - window`: one comparison per user instead of a
            // date subtraction. When `now - window` is out of range, nothing is that old.
            let cutoff = |window: crate::time::Duration| {
                chrono::TimeDelta::try_seconds(window.as_seconds())
                    .and_then(|w| now.checked_sub_signed(w))
            };
            ix.products.push(ProductCtx {
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
            if let Some(s) = slot_for(&mut ix, name, "eligible_groups") {
                if !everywhere.contains(&s) {
                    everywhere.push(s);
                }
            }
        }
        for (p, product) in policy.products.iter().enumerate() {
            let mut eligible = everywhere.clone();
            let what = format!("product {}: eligible_groups", product.key);
            for name in &product.eligible_groups {
                if let Some(s) = slot_for(&mut ix, name, &what) {
                    if !eligible.contains(&s) {
                        eligible.push(s);
                    }
                }
            }
            if let Some(pc) = ix.products.get_mut(p) {
                pc.eligible = eligible;
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
        // Every slot's members as a bitmap, next to the safe-user entries of every user.
        let entries = || {
            // Safe-user entries per user (CSR).
            let mut pairs: Vec<(UserIx, u32)> = Vec::new();
            for (i, e) in policy.users.iter().enumerate() {
                match &e.who {
                    crate::policy::UserRef::Email(_) => {
                        let email = entry_email.get(i).copied().unwrap_or(u32::MAX);
                        pairs.extend(users_of_email(email).iter().map(|&u| (u, i as u32)));
                    }
                    crate::policy::UserRef::AccountId(id) => {
                        pairs.extend(ix.user_of(id).map(|u| (u, i as u32)));
                    }
                }
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
            (
                entry_off,
                pairs.into_iter().map(|(_, e)| e).collect::<Vec<u32>>(),
            )
        };
        let (membership, (entry_off, entry_ix)) = crate::par::join(
            || {
                ix.groups
                    .iter()
                    .map(|g| ix.membership(g))
                    .collect::<Vec<_>>()
            },
            entries,
        );
        for m in membership {
            ix.member_count.push(m.count + m.unknown.len());
            ix.member.push(m.bits);
            ix.unknown.push(m.unknown);
            ix.members_in_order.push(m.in_order);
        }
        ix.entry_off = entry_off;
        ix.entry_ix = entry_ix;
        for pc in &mut ix.products {
            let mut unknown: Vec<&'a str> = pc
                .slots
                .iter()
                .flat_map(|&s| ix.unknown[usize::from(s)].iter().copied())
                .collect();
            unknown.sort_unstable();
            unknown.dedup();
            pc.unknown_members = unknown;
        }

        // Users a policy email names (no allocation: a slice).
        let by_email = |e: &str| -> &[UserIx] {
            email_table
                .find(hash_bytes(e.as_bytes()), |i| emails[i as usize] == e)
                .map_or(&[], users_of_email)
        };

        // keep / ignore: iterate entries last to first so that the first match wins.
        for (selectors, groups, is_keep) in [
            (&policy.keep, &keep_groups, true),
            (&policy.ignore, &ignore_groups, false),
        ] {
            for (i, sel) in selectors.iter().enumerate().rev() {
                let tag = i as u32 + 1;
                let hits: Vec<UserIx> = match &sel.matcher {
                    Matcher::Email(e) => by_email(e).to_vec(),
                    Matcher::AccountId(id) => ix.user_of(id).into_iter().collect(),
                    Matcher::Group(_) => match groups.iter().find(|(gi, _)| *gi == i) {
                        Some(&(_, s)) => ix.member[usize::from(s)]
                            .iter()
                            .enumerate()
                            .filter(|(_, &b)| b)
                            .map(|(u, _)| u as UserIx)
                            .collect(),
                        None => Vec::new(),
                    },
                    Matcher::AccountType(t) => kinds
                        .iter()
                        .enumerate()
                        .filter(|(_, k)| **k == *t)
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

        ix.entry_mask = entry_mask;

        // Events.
        let product_ix = |key: &str| product_bits.get(key).copied();
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
            let Some(u) = ix.user_of(&e.account_id) else {
                continue;
            };
            match e.action {
                EventAction::UserLoggedIn => latest(&mut ix.login[u as usize], e.time),
                // A request counts for the product it names; one naming none asks for nothing
                // in particular (DESIGN §4: evidence is per product).
                EventAction::AccessRequested => {
                    if let Some(p) = e.product.as_deref().and_then(product_ix) {
                        ix.facts[u as usize] |= FACT_ACCESS;
                        latest_in(&mut ix.access_product, (u, p), e.time);
                    }
                }
                EventAction::UserAddedToGroup => {
                    if let Some(&s) = e.group_id.as_deref().and_then(|g| slot_by_id.get(g)) {
                        ix.facts[u as usize] |= FACT_ADDED;
                        latest_in(&mut ix.added_event, (u, s), e.time);
                    }
                }
                EventAction::UserRemovedFromGroup => {}
            }
        }

        // Ledger.
        for (acct, gid, t) in ledger.memberships() {
            if let (Some(u), Some(&s)) = (ix.user_of(acct), slot_by_id.get(gid)) {
                ix.facts[u as usize] |= FACT_BEGAN;
                latest_in(&mut ix.ledger_began, (u, s), t);
            }
        }
        for (acct, product, t) in ledger.reclaims() {
            if let (Some(u), Some(p)) = (ix.user_of(acct), product_ix(product)) {
                ix.facts[u as usize] |= FACT_RECLAIM;
                latest_in(&mut ix.ledger_reclaim, (u, p), t);
            }
        }
        for (acct, product, t) in ledger.announcements() {
            if let (Some(u), Some(p)) = (ix.user_of(acct), product_ix(product)) {
                ix.facts[u as usize] |= FACT_ANNOUNCED;
                latest_in(&mut ix.ledger_announced, (u, p), t);
            }
        }
        for (acct, gid, t) in ledger.failed_removals() {
            if let (Some(u), Some(&s)) = (ix.user_of(acct), slot_by_id.get(gid)) {
                ix.facts[u as usize] |= FACT_FAILED;
                latest_in(&mut ix.ledger_failed, (u, s), t);
            }
        }
        ix
    }

    /// The members of `g` as a bitmap over users, how many there are, the members that are not
    /// in the user list (sorted, unique), and whether the list is in byte order without repeats.
    fn membership(&self, g: &'a Group) -> Membership<'a> {
        let mut bits = vec![false; self.users.len()];
        let mut count = 0usize;
        let mut unknown: FxSet<&'a str> = FxSet::default();
        // Checked on the way, while each id is in cache anyway.
        let mut in_order = true;
        let mut prev: &[u8] = &[];
        for (i, m) in g.members.iter().enumerate() {
            in_order &= i == 0 || prev < m.as_bytes();
            prev = m.as_bytes();
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
            in_order,
        }
    }

    /// The user with this account id.
    #[inline]
    pub(crate) fn user_of(&self, account_id: &str) -> Option<UserIx> {
        let id = account_id.as_bytes();
        self.user_table
            .find(hash_bytes(id), |u| self.id_bytes(u) == Some(id))
    }

    /// User `u`'s account id, read from the packed ids: records written in user order then read
    /// memory in order, instead of one scattered heap string per record.
    #[inline]
    pub(crate) fn account_id(&self, u: UserIx) -> &str {
        self.id_bytes(u)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
    }

    /// User `u`'s email as the live state gives it, read from the packed emails.
    #[inline]
    pub(crate) fn email(&self, u: UserIx) -> Option<&str> {
        packed_email(&self.mails, &self.mail_off, &self.has_mail, u as usize)
    }

    /// User `u`'s account id from the packed ids (without the newline).
    #[inline]
    fn id_bytes(&self, u: UserIx) -> Option<&[u8]> {
        let from = *self.id_off.get(u as usize)? as usize;
        let to = *self.id_off.get(u as usize + 1)? as usize;
        self.ids.get(from..to.saturating_sub(1))
    }

    /// The latest access request of user `u` for product `p`.
    pub(crate) fn access_request(&self, u: UserIx, p: ProductIx) -> Option<Time> {
        if self.has(u, FACT_ACCESS) {
            self.access_product.get(&(u, p)).copied()
        } else {
            None
        }
    }

    /// Whether the sparse maps hold any of the `FACT_*` facts in `mask` for user `u`.
    #[inline]
    pub(crate) fn has(&self, u: UserIx, mask: u8) -> bool {
        self.facts.get(u as usize).is_some_and(|f| f & mask != 0)
    }

    /// Whether the ledger holds user `u`'s membership of `slot`: seatkeeper added or observed it
    /// and has not removed it since.
    #[inline]
    pub(crate) fn ledger_holds(&self, u: UserIx, slot: Slot) -> bool {
        self.has(u, FACT_BEGAN) && self.ledger_began.contains_key(&(u, slot))
    }

    /// Whether the ledger's last word on user `u`'s membership of `slot` is a removal that
    /// failed.
    #[inline]
    pub(crate) fn removal_failed(&self, u: UserIx, slot: Slot) -> bool {
        self.has(u, FACT_FAILED) && self.ledger_failed.contains_key(&(u, slot))
    }

    /// Whether user `u` is a member of the group in `slot`.
    #[inline]
    pub(crate) fn is_member(&self, slot: Slot, u: UserIx) -> bool {
        self.member[usize::from(slot)][u as usize]
    }

    /// Whether policy entry `entry` (an index into `policy.users`) covers product `p`.
    #[inline]
    pub(crate) fn entry_covers(&self, entry: u32, p: ProductIx) -> bool {
        if p < 64 {
            self.entry_mask
                .get(entry as usize)
                .is_some_and(|m| m & (1u64 << p) != 0)
        } else {
            let key = self
                .products
                .get(p)
                .map_or("", |pc| pc.product.key.as_str());
            self.policy
                .users
                .get(entry as usize)
                .is_some_and(|e| e.covers(key))
        }
    }

    /// User `u`'s last activity on product `p`.
    #[inline]
    pub(crate) fn last_active(&self, u: UserIx, p: ProductIx) -> Option<Time> {
        let np = self.products.len();
        self.last_active.get(u as usize * np + p).copied().flatten()
    }

    /// The safe-user entries naming user `u` with their policy index, in policy order.
    pub(crate) fn entries_ix(&self, u: UserIx) -> impl Iterator<Item = (u32, &'a SafeUser)> + '_ {
        let from = self.entry_off[u as usize] as usize;
        let to = self.entry_off[u as usize + 1] as usize;
        let users = &self.policy.users;
        self.entry_ix[from..to]
            .iter()
            .filter_map(move |&e| users.get(e as usize).map(|s| (e, s)))
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

    /// The fingerprint of the group in `slot` when its live member list is already in byte order
    /// without repeats, as `export --snapshot` writes it: the list is hashed as it stands, with
    /// no sort. `None` when it is not in that order ([`Index::fingerprint`] then does the work).
    pub(crate) fn fingerprint_in_order(&self, slot: Slot) -> Option<String> {
        use sha2::{Digest, Sha256};
        if !self.members_in_order.get(usize::from(slot)).copied()? {
            return None;
        }
        let members = &self.groups.get(usize::from(slot))?.members;
        let mut buf: Vec<u8> = Vec::with_capacity(members.iter().map(|m| m.len() + 1).sum());
        for m in members {
            buf.extend_from_slice(m.as_bytes());
            buf.push(b'\n');
        }
        Some(format!("sha256:{}", hex::encode(Sha256::digest(&buf))))
    }

    /// The fingerprint of the group in `slot`, exactly as [`crate::plan::fingerprint_members`]
    /// computes it (SHA-256 of the sorted, unique member ids, each followed by a newline), but
    /// from the membership bitmap and the ids packed in sorted order ([`Index::id_order`])
    /// instead of sorting every group's member list.
    pub(crate) fn fingerprint(&self, slot: Slot, ord: &IdOrder) -> String {
        use sha2::{Digest, Sha256};
        let n = self.users.len();
        let mut ranked = vec![false; n];
        for (u, _) in self.member[usize::from(slot)]
            .iter()
            .enumerate()
            .filter(|(_, &b)| b)
        {
            if let Some(&r) = ord.rank.get(u) {
                ranked[r as usize] = true;
            }
        }
        let mut buf: Vec<u8> = Vec::with_capacity(self.member_count[usize::from(slot)] * 26);
        let mut unknown = self.unknown[usize::from(slot)].iter().peekable();
        for r in (0..n).filter(|&r| ranked[r]) {
            let (from, to) = (ord.off[r] as usize, ord.off[r + 1] as usize);
            let line = &ord.arena[from..to];
            let id = &line[..line.len().saturating_sub(1)];
            while let Some(x) = unknown.next_if(|x| x.as_bytes() < id) {
                buf.extend_from_slice(x.as_bytes());
                buf.push(b'\n');
            }
            buf.extend_from_slice(line);
        }
        for x in unknown {
            buf.extend_from_slice(x.as_bytes());
            buf.push(b'\n');
        }
        format!("sha256:{}", hex::encode(Sha256::digest(&buf)))
    }

    /// Every account id in byte order, packed, for [`Index::fingerprint`].
    pub(crate) fn id_order(&self) -> IdOrder {
        let n = self.users.len();
        let id = |u: UserIx| self.id_bytes(u).unwrap_or_default();
        let mut keys: Vec<(u128, UserIx)> = (0..n as UserIx).map(|u| (prefix(id(u)), u)).collect();
        keys.sort_unstable();
        let mut order: Vec<UserIx> = keys.iter().map(|&(_, u)| u).collect();
        // Ids sharing a 16-byte prefix: order those runs by the full id.
        let mut start = 0;
        while start < keys.len() {
            let mut end = start + 1;
            while end < keys.len() && keys[end].0 == keys[start].0 {
                end += 1;
            }
            if end - start > 1 {
                order[start..end].sort_unstable_by(|&a, &b| id(a).cmp(id(b)));
            }
            start = end;
        }
        let mut rank = vec![0u32; n];
        let mut off = Vec::with_capacity(n + 1);
        let mut arena = Vec::with_capacity(self.ids.len());
        for (r, &u) in order.iter().enumerate() {
            rank[u as usize] = r as u32;
            off.push(arena.len() as u32);
            arena.extend_from_slice(id(u));
            arena.push(b'\n');
        }
        off.push(arena.len() as u32);
        IdOrder { rank, arena, off }
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

/// The first 16 bytes of `s`, big-endian and zero-padded: comparing prefixes orders strings
/// like comparing the strings (ties need the full string).
pub(crate) fn prefix(s: impl AsRef<[u8]>) -> u128 {
    let s = s.as_ref();
    let mut buf = [0u8; 16];
    let n = s.len().min(16);
    buf[..n].copy_from_slice(&s[..n]);
    u128::from_be_bytes(buf)
}
