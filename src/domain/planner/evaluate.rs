//! The decision for one (user, product): DESIGN §4's table, row by row. [`evaluate`] is the
//! only place the table is implemented; `plan` and `explain` both call it, so they cannot
//! disagree. It allocates nothing: words are produced later, and only for the pairs that end up
//! in the plan or in an explanation.

use super::index::{Index, ProductCtx, ProductIx, Slot, UserIx};
use crate::live::{AccountStatus, User};
use crate::plan::{Evidence, EvidenceSource, Rule};
use crate::policy::{SafeUser, Selector};
use crate::time::{start_of_day, whole_days};
use chrono::{DateTime, NaiveDate, Utc};
use std::fmt::{self, Write as _};

type Time = DateTime<Utc>;

/// The latest activity evidence: which fact and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ev {
    pub source: EvidenceSource,
    pub at: Option<Time>,
}

impl Ev {
    const NONE: Ev = Ev {
        source: EvidenceSource::None,
        at: None,
    };

    /// Takes `t` when it is later than what is held (the first source wins ties).
    fn offer(&mut self, source: EvidenceSource, t: Option<Time>) {
        if let Some(t) = t {
            if self.at.is_none_or(|cur| t > cur) {
                *self = Ev {
                    source,
                    at: Some(t),
                };
            }
        }
    }
}

/// Why a user may hold a product.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Eligibility<'a> {
    /// A current `users:` entry covers the product.
    Entry(&'a SafeUser),
    /// Member of an `eligible_groups` group.
    Group(Slot),
}

/// Why a user may not hold a product.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ineligible<'a> {
    /// The account is closed or deactivated (rule `account-closed`).
    Closed(AccountStatus),
    /// The only entries covering the product have expired (rule `expired`).
    Expired(&'a SafeUser),
    /// Nothing grants the product (rule `not-eligible`).
    NoGrant,
}

impl Ineligible<'_> {
    pub(crate) fn rule(self) -> Rule {
        match self {
            Ineligible::Closed(_) => Rule::AccountClosed,
            Ineligible::Expired(_) => Rule::Expired,
            Ineligible::NoGrant => Rule::NotEligible,
        }
    }
}

/// What demand justifies an addition.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Demand {
    /// A safe user without the product (rule `eligible`).
    Eligible,
    /// The entry's `requested` date (rule `requested`).
    Requested(NaiveDate),
    /// A login after the reclaim (rule `logged-in`).
    LoggedIn(Time),
    /// An access request after the reclaim (rule `logged-in`).
    AccessRequested(Time),
    /// Activity on the product after the reclaim (rule `eligible`).
    ActiveAfterReclaim(Time, Time),
}

/// Why an eligible non-member is not added.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dormancy {
    /// Reclaimed at this time, no demand since.
    Reclaimed(Time),
    /// The evidence is already older than `inactivity`: the seat would be reclaimed at once.
    Inactive(Time),
}

/// What the table says for one (user, product).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Verdict<'a> {
    /// Matched by `ignore`: never touched, never reported.
    Ignored(&'a Selector),
    /// A member matched by `keep`.
    Kept(&'a Selector),
    /// An eligible member who keeps the seat.
    Hold,
    /// Remove from every grant group the user is in: not eligible.
    RemoveIneligible(Ineligible<'a>),
    /// Remove from every grant group the user is in: inactive since the evidence date.
    RemoveInactive(Time),
    /// Add to the first grant group.
    Add(Demand),
    /// Eligible, not a member, not added.
    Dormant(Dormancy),
    /// Not a member and not eligible.
    Absent(Ineligible<'a>),
    /// Not a member, eligible, but suspended: not billed, so not granted.
    AbsentSuspended,
}

/// The full evaluation of one (user, product).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Eval<'a> {
    pub user: &'a User,
    /// The user's position in the index.
    pub u: UserIx,
    pub product: ProductIx,
    /// Member of any grant group.
    pub member: bool,
    pub verdict: Verdict<'a>,
    pub eligibility: Option<Eligibility<'a>>,
    /// The safe-user entry behind the decision (the eligible one, else an expired one).
    pub entry: Option<&'a SafeUser>,
    /// The latest activity evidence.
    pub evidence: Ev,
    /// The product's own last-active time.
    pub last_active: Option<Time>,
    /// When the seat would be reclaimed if nothing changes (holders under an inactivity rule).
    pub reclaim_at: Option<Time>,
    /// `reclaim_at` is a date the ledger shows as announced.
    pub announced: bool,
    /// The reclaim falls within the product's `notice` window (or was announced): a
    /// `reclaim-soon` notice, which `apply` records as an announcement.
    pub reclaim_soon: bool,
    /// A re-grant outside seatkeeper after a reclaim: `apply` records an observation.
    pub observe: bool,
    /// The previous reclaim, if any.
    pub reclaimed: Option<Time>,
    /// A holder under an inactivity rule with no evidence at all: never reclaimed.
    pub no_evidence: bool,
    /// For additions: when the demand arose (seat budget order; `None` sorts last).
    pub demand_at: Option<Time>,
}

/// Whether the entry's `until` has passed on `today` (UTC): it expires at the end of that day.
pub(crate) fn expired(entry: &SafeUser, today: NaiveDate) -> bool {
    entry.until.is_some_and(|d| d < today)
}

fn eligibility<'a>(
    ix: &Index<'a>,
    u: UserIx,
    user: &User,
    p: ProductIx,
) -> Result<Eligibility<'a>, Ineligible<'a>> {
    if matches!(
        user.status,
        AccountStatus::Closed | AccountStatus::Deactivated
    ) {
        return Err(Ineligible::Closed(user.status));
    }
    let Some(pc) = ix.products.get(p) else {
        return Err(Ineligible::NoGrant);
    };
    let mut lapsed = None;
    for entry in ix.entries_for(u, p) {
        if !expired(entry, ix.today) {
            return Ok(Eligibility::Entry(entry));
        }
        lapsed.get_or_insert(entry);
    }
    for &s in &pc.eligible {
        if ix.is_member(s, u) {
            return Ok(Eligibility::Group(s));
        }
    }
    Err(lapsed.map_or(Ineligible::NoGrant, Ineligible::Expired))
}

/// A policy duration as a `TimeDelta`, saturating instead of panicking on absurd values
/// (`Duration::to_chrono` panics beyond chrono's range).
fn delta(d: crate::time::Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::try_seconds(d.as_seconds()).unwrap_or(chrono::TimeDelta::MAX)
}

/// Whether `t` is before `cutoff` (never when there is no cutoff): see
/// [`ProductCtx::inactive_before`](super::index::ProductCtx).
fn before(t: Time, cutoff: Option<Time>) -> bool {
    cutoff.is_some_and(|c| t < c)
}

/// Evaluates user `u` for product `p`. Pure, allocation-free, total (no panics).
pub(crate) fn evaluate<'a>(ix: &Index<'a>, p: ProductIx, u: UserIx) -> Option<Eval<'a>> {
    let pc = ix.products.get(p)?;
    let user: &'a User = ix.users.get(u as usize)?;
    let product = pc.product;
    let now = ix.now;

    let member = pc.slots.iter().any(|&s| ix.is_member(s, u));
    let mut ev = Eval {
        user,
        u,
        product: p,
        member,
        verdict: Verdict::Hold,
        eligibility: None,
        entry: None,
        evidence: Ev::NONE,
        last_active: None,
        reclaim_at: None,
        announced: false,
        reclaim_soon: false,
        observe: false,
        reclaimed: None,
        no_evidence: false,
        demand_at: None,
    };
    if let Some(sel) = ix.ignored(u) {
        ev.verdict = Verdict::Ignored(sel);
        return Some(ev);
    }
    let kept = ix.kept(u);
    let elig = eligibility(ix, u, user, p);
    match elig {
        Ok(e) => {
            ev.eligibility = Some(e);
            if let Eligibility::Entry(entry) = e {
                ev.entry = Some(entry);
            }
        }
        Err(Ineligible::Expired(entry)) => ev.entry = Some(entry),
        Err(_) => {}
    }
    // The common case first: not a member and not eligible. Nothing to weigh.
    if !member {
        if let Err(why) = elig {
            ev.verdict = Verdict::Absent(why);
            return Some(ev);
        }
    }
    ev.reclaimed = ix.reclaimed(u, p);

    // Evidence E(U,P), in tie-break order.
    let mut e = Ev::NONE;
    ev.last_active = ix.last_active(u, p);
    e.offer(EvidenceSource::LastActive, ev.last_active);
    // When the membership began: the latest start of any grant group the user is in.
    let mut began = pc
        .slots
        .iter()
        .filter(|&&s| ix.is_member(s, u))
        .filter_map(|&s| ix.membership_began(u, s))
        .max();
    e.offer(EvidenceSource::MembershipBegan, began);
    let requested = ev
        .entry
        .filter(|_| ev.eligibility.is_some())
        .and_then(|en| en.requested);
    e.offer(EvidenceSource::Requested, requested.map(start_of_day));
    // A login is an event of the account, not of a product: never activity evidence (it is
    // demand after a reclaim, below). An access request names its product.
    let login = ix.login[u as usize];
    let access = ix.access_request(u, p);
    e.offer(EvidenceSource::AccessRequest, access);
    if e.at.is_none() {
        e.offer(EvidenceSource::AddedToOrg, user.added_to_org);
    }
    ev.evidence = e;

    if member {
        if let Some(sel) = kept {
            ev.verdict = Verdict::Kept(sel);
            return Some(ev);
        }
        if let Err(why) = elig {
            ev.verdict = Verdict::RemoveIneligible(why);
            return Some(ev);
        }
        // A member whom the ledger shows as reclaimed, in a group with no ledger record of the
        // membership (no seatkeeper add, no observation): re-granted outside seatkeeper, since
        // the reclaim removed the user from every group they were in. That is demand; the
        // membership counts as beginning now (apply records the observation). A group whose
        // removal failed is what is left of the reclaim: no demand, and the reclaim goes on.
        if ev.reclaimed.is_some() && regranted(ix, pc.slots.as_slice(), u) {
            ev.observe = true;
            ev.evidence = Ev {
                source: EvidenceSource::MembershipBegan,
                at: Some(now),
            };
            began = Some(now);
        }
        // What is left of a reclaim whose removal failed in some group: the reclaim was
        // announced and began, so it goes on without a second announcement.
        if let (Some(r), Some(_)) = (ev.reclaimed, product.inactivity) {
            if leftover(ix, pc.slots.as_slice(), u) {
                ev.verdict = Verdict::RemoveInactive(ev.evidence.at.unwrap_or(r));
                return Some(ev);
            }
        }
        if let Some(window) = product.inactivity {
            match ev.evidence.at {
                None => ev.no_evidence = true,
                Some(at) => {
                    let s = schedule(ix, pc, u, p, at, began, window);
                    ev.reclaim_at = Some(s.on);
                    ev.announced = s.announced;
                    // Due once the date has come and the window has fully passed: an announced
                    // date can be the window's very end, when the evidence is still inside it.
                    let due = s.on <= now && s.window_end < now;
                    if due {
                        ev.verdict = Verdict::RemoveInactive(at);
                        return Some(ev);
                    }
                    ev.reclaim_soon = s.announced
                        || s.lead
                            .is_some_and(|lead| s.on.signed_duration_since(now) <= lead);
                }
            }
        }
        ev.verdict = Verdict::Hold;
        return Some(ev);
    }

    // Not a member.
    if let Err(why) = elig {
        ev.verdict = Verdict::Absent(why);
        return Some(ev);
    }
    // Suspended accounts are not billed; granting them a seat helps nobody, so they are never
    // added. (Members who are suspended are *not* removed for it: the ordinary rules apply.)
    if user.status == AccountStatus::Suspended {
        ev.verdict = Verdict::AbsentSuspended;
        return Some(ev);
    }
    let mut demand = match requested {
        Some(d) => (Some(start_of_day(d)), Demand::Requested(d)),
        None => (ev.evidence.at, Demand::Eligible),
    };
    // The latest sign of life on the product: the seat is not granted when it is older than
    // `inactivity` (it would be reclaimed at once).
    let mut latest = ev.evidence.at;
    let restoring_login = login.filter(|_| product.restore_on_login);
    if let Some(r) = ev.reclaimed {
        // Demand since the reclaim: the earliest of these wins (ties: the first listed), so that
        // the seat budget serves whoever asked first and more demand never moves a user back.
        let mut best: Option<(Time, Demand)> = None;
        let mut offer = |t: Time, d: Demand| {
            if best.is_none_or(|(b, _)| t < b) {
                best = Some((t, d));
            }
            latest = latest.max(Some(t));
        };
        if let Some(d) = requested.filter(|d| *d >= r.date_naive()) {
            offer(start_of_day(d), Demand::Requested(d));
        }
        if let Some(t) = restoring_login.filter(|t| *t > r) {
            offer(t, Demand::LoggedIn(t));
        }
        if let Some(t) = access.filter(|t| *t > r) {
            offer(t, Demand::AccessRequested(t));
        }
        if let Some(t) = ix.last_active(u, p).filter(|t| *t > r) {
            offer(t, Demand::ActiveAfterReclaim(t, r));
        }
        match best {
            Some((t, d)) => demand = (Some(t), d),
            // DESIGN §4: a kept user who is not a member is added if eligible, demand or not.
            None if kept.is_some() => {}
            None => {
                ev.verdict = Verdict::Dormant(Dormancy::Reclaimed(r));
                return Some(ev);
            }
        }
    }
    if let (Some(at), Some(sign)) = (ev.evidence.at, latest) {
        if before(sign, pc.inactive_before) && kept.is_none() {
            ev.verdict = Verdict::Dormant(Dormancy::Inactive(at));
            return Some(ev);
        }
    }
    ev.demand_at = demand.0;
    ev.verdict = Verdict::Add(demand.1);
    Some(ev)
}

/// When a holder's seat is reclaimed, and whether that date was announced.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    /// The reclaim date.
    on: Time,
    /// When the window ends: the evidence plus `inactivity`, and past `grace`.
    window_end: Time,
    /// `on` is the date the ledger shows as announced.
    announced: bool,
    /// How long before the reclaim it must be announced (`None`: no announcement is needed).
    lead: Option<chrono::TimeDelta>,
}

/// DESIGN §4, "every inactivity reclaim is announced first". The window ends (`natural`) when
/// the evidence plus `inactivity` has passed and the membership is past `grace`. An announced
/// date at or after that end holds, even when evidence has since disappeared; otherwise the
/// reclaim is no earlier than `now` plus the product's `notice` (on the first run against an
/// org, at least 7 days), so a plan never reclaims what it has not announced that long before.
fn schedule(
    ix: &Index<'_>,
    pc: &ProductCtx<'_>,
    u: UserIx,
    p: ProductIx,
    at: Time,
    began: Option<Time>,
    window: crate::time::Duration,
) -> Schedule {
    let far = |t: Time, d: chrono::TimeDelta| t.checked_add_signed(d).unwrap_or(Time::MAX_UTC);
    let mut natural = far(at, delta(window));
    if let Some(b) = began {
        natural = natural.max(far(b, delta(pc.product.grace)));
    }
    if let Some(d) = ix.announced(u, p).filter(|d| *d >= natural) {
        return Schedule {
            on: d,
            window_end: natural,
            announced: true,
            lead: None,
        };
    }
    let notice = pc.product.notice.map(delta);
    let lead = if ix.first_run {
        Some(
            notice
                .unwrap_or_default()
                .max(chrono::TimeDelta::days(FIRST_RUN_NOTICE_DAYS)),
        )
    } else {
        notice.filter(|n| *n > chrono::TimeDelta::zero())
    };
    Schedule {
        on: lead.map_or(natural, |l| natural.max(far(ix.now, l))),
        window_end: natural,
        announced: false,
        lead,
    }
}

/// On the first run against an org, seats already past their window are announced this many
/// days ahead (or the product's `notice`, if longer) instead of being reclaimed at once.
pub(crate) const FIRST_RUN_NOTICE_DAYS: i64 = 7;

/// Whether every grant group user `u` is in is left over from a removal that failed.
fn leftover(ix: &Index<'_>, slots: &[Slot], u: UserIx) -> bool {
    let mut member_slots = slots.iter().filter(|&&s| ix.is_member(s, u)).peekable();
    member_slots.peek().is_some() && member_slots.all(|&s| ix.removal_failed(u, s))
}

/// Whether user `u` is in one of `slots` with no ledger record of that membership: neither
/// added or observed by seatkeeper, nor left over from a removal that failed.
fn regranted(ix: &Index<'_>, slots: &[Slot], u: UserIx) -> bool {
    slots
        .iter()
        .any(|&s| ix.is_member(s, u) && !ix.ledger_holds(u, s) && !ix.removal_failed(u, s))
}

impl<'a> Eval<'a> {
    /// Whether the planned action undoes a change to the product's grant groups that
    /// seatkeeper did not make, per the ledger: what `drift: report` holds back. That is the
    /// removal of someone the policy does not grant from a group seatkeeper did not add them
    /// to, or the addition of someone seatkeeper had added and who was removed outside it.
    /// Everything else follows the policy or seatkeeper's own schedule, and runs: reclaims,
    /// expired grants, closed accounts, new safe users, requests and returns after a reclaim.
    pub(crate) fn reverts_outside_change(&self, ix: &Index<'_>) -> bool {
        let Some(pc) = ix.products.get(self.product) else {
            return false;
        };
        let u = self.u;
        match self.verdict {
            Verdict::RemoveIneligible(Ineligible::NoGrant) => pc
                .slots
                .iter()
                .any(|&s| ix.is_member(s, u) && !ix.ledger_holds(u, s)),
            Verdict::Add(_) => pc
                .slots
                .iter()
                .any(|&s| !ix.is_member(s, u) && ix.ledger_holds(u, s)),
            _ => false,
        }
    }

    /// The rule behind the verdict, when one applies.
    pub(crate) fn rule(&self) -> Option<Rule> {
        match self.verdict {
            Verdict::Ignored(_) | Verdict::AbsentSuspended | Verdict::Dormant(_) => None,
            Verdict::Kept(_) => Some(Rule::Kept),
            Verdict::Hold => Some(Rule::Eligible),
            Verdict::RemoveIneligible(why) | Verdict::Absent(why) => Some(why.rule()),
            Verdict::RemoveInactive(_) => Some(Rule::Inactive),
            Verdict::Add(d) => Some(match d {
                Demand::Eligible | Demand::ActiveAfterReclaim(..) => Rule::Eligible,
                Demand::Requested(_) => Rule::Requested,
                Demand::LoggedIn(_) | Demand::AccessRequested(_) => Rule::LoggedIn,
            }),
        }
    }

    /// The evidence as the plan shows it, with the product's own last-active time beside it.
    pub(crate) fn evidence(&self) -> Evidence {
        Evidence {
            last_active: self.last_active,
            ..self.deciding_evidence()
        }
    }

    fn deciding_evidence(&self) -> Evidence {
        let entry = self.entry.map(|e| e.location.clone());
        match self.verdict {
            Verdict::RemoveIneligible(why) | Verdict::Absent(why) => Evidence {
                source: EvidenceSource::Policy,
                at: match why {
                    Ineligible::Expired(e) => e.until.and_then(|d| d.succ_opt()).map(start_of_day),
                    _ => None,
                },
                entry,
                last_active: None,
            },
            Verdict::Add(Demand::Requested(d)) => Evidence {
                source: EvidenceSource::Requested,
                at: Some(start_of_day(d)),
                entry,
                last_active: None,
            },
            Verdict::Add(Demand::LoggedIn(t)) => Evidence {
                source: EvidenceSource::Login,
                at: Some(t),
                entry,
                last_active: None,
            },
            Verdict::Add(Demand::AccessRequested(t)) => Evidence {
                source: EvidenceSource::AccessRequest,
                at: Some(t),
                entry,
                last_active: None,
            },
            Verdict::Add(Demand::ActiveAfterReclaim(t, _)) => Evidence {
                source: EvidenceSource::LastActive,
                at: Some(t),
                entry,
                last_active: None,
            },
            _ => Evidence {
                source: self.evidence.source,
                at: self.evidence.at,
                entry,
                last_active: None,
            },
        }
    }

    /// Why, in words.
    pub(crate) fn reason(&self, ix: &Index<'_>) -> String {
        let mut out = String::with_capacity(64);
        self.write_reason(ix, &mut out);
        out
    }

    /// Writes the reason into `out` (one buffer, no temporaries).
    pub(crate) fn write_reason(&self, ix: &Index<'_>, out: &mut String) {
        let product = ix.products.get(self.product).map(|p| p.product);
        let key = product.map_or("", |p| p.key.as_str());
        let window = product.and_then(|p| p.inactivity);
        let _ = match self.verdict {
            Verdict::Ignored(sel) => write!(out, "ignored (ignore entry at {})", sel.location),
            Verdict::Kept(sel) => write!(out, "kept (keep entry at {})", sel.location),
            Verdict::Hold => {
                self.write_eligible(ix, out);
                if self.observe {
                    let since = self.reclaimed.map(Day);
                    write!(
                        out,
                        "; re-granted outside seatkeeper after the reclaim on {}, which counts as demand",
                        Maybe(since)
                    )
                } else if self.no_evidence {
                    write!(
                        out,
                        "; no activity evidence, so the seat is never reclaimed"
                    )
                } else {
                    let source = self.evidence.source.describe();
                    let r = match (self.evidence.at, self.reclaim_at) {
                        (Some(at), Some(r)) => {
                            let _ = write!(out, "; {source} {}", Day(at));
                            self.write_own_activity(key, out);
                            let announced = if self.announced { " (announced)" } else { "" };
                            write!(out, "; reclaim on {}{announced}", Day(r))
                        }
                        (Some(at), None) if window.is_some() => {
                            write!(out, "; {source} {}", Day(at))
                        }
                        _ => Ok(()),
                    };
                    r
                }
            }
            Verdict::RemoveIneligible(why) | Verdict::Absent(why) => match why {
                Ineligible::Closed(status) => write!(out, "account {}", status.as_str()),
                Ineligible::Expired(e) => write!(
                    out,
                    "grant expired on {} ({})",
                    Maybe(e.until.map(|d| Day(start_of_day(d)))),
                    e.location
                ),
                Ineligible::NoGrant => write!(
                    out,
                    "not eligible: no safe-user entry or eligible group grants {key}"
                ),
            },
            Verdict::RemoveInactive(since) => {
                let r = write_inactive(out, since, ix.now, window);
                self.write_own_activity(key, out);
                r
            }
            Verdict::Add(d) => match d {
                Demand::Eligible => {
                    self.write_eligible(ix, out);
                    Ok(())
                }
                Demand::Requested(d) => write!(out, "requested {}", Day(start_of_day(d))),
                Demand::LoggedIn(t) => write!(out, "logged in {}", Day(t)),
                Demand::AccessRequested(t) => write!(out, "requested access {}", Day(t)),
                Demand::ActiveAfterReclaim(t, r) => {
                    write!(out, "active {} after the reclaim on {}", Day(t), Day(r))
                }
            },
            Verdict::Dormant(d) => {
                write_dormant(out, d, ix.now, window);
                Ok(())
            }
            Verdict::AbsentSuspended => {
                write!(out, "account suspended: not billed, so not granted")
            }
        };
    }

    /// When the evidence that decided is not the product's own last-active time, writes that
    /// time beside it: "; last active on confluence 2025-02-11" or "; never active on confluence".
    pub(crate) fn write_own_activity(&self, key: &str, out: &mut String) {
        if self.evidence.source == EvidenceSource::LastActive {
            return;
        }
        match self.last_active {
            Some(t) => {
                let _ = write!(out, "; last active on {key} {}", Day(t));
            }
            None => {
                let _ = write!(out, "; never active on {key}");
            }
        }
    }

    fn write_eligible(&self, ix: &Index<'_>, out: &mut String) {
        let _ = match self.eligibility {
            Some(Eligibility::Entry(e)) => write!(out, "eligible (users entry at {})", e.location),
            Some(Eligibility::Group(s)) => write!(
                out,
                "eligible (member of {})",
                ix.groups
                    .get(usize::from(s))
                    .map_or("", |g| g.name.as_str())
            ),
            None => write!(out, "eligible"),
        };
    }
}

/// A time's UTC date as `YYYY-MM-DD`, as reasons and notices write it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Day(pub Time);

impl Day {
    /// Appends the date to `out`.
    pub(crate) fn push_to(self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.date_naive().fmt(f)
    }
}

/// Displays the value, or nothing.
struct Maybe<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for Maybe<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => Ok(()),
        }
    }
}

/// Writes why an eligible non-member is not added: "dormant: reclaimed 2026-08-01, …" or
/// "dormant: inactive since …". `window` is the product's `inactivity`.
pub(crate) fn write_dormant(
    out: &mut String,
    d: Dormancy,
    now: Time,
    window: Option<crate::time::Duration>,
) {
    out.push_str("dormant: ");
    match d {
        Dormancy::Reclaimed(r) => {
            out.push_str("reclaimed ");
            Day(r).push_to(out);
            out.push_str(", no request, login or activity since");
        }
        Dormancy::Inactive(since) => {
            let _ = write_inactive(out, since, now, window);
            out.push_str("; a `requested` date or a login restores the seat");
        }
    }
}

/// Writes "inactive since 2026-07-01 (147 days > 90d)".
fn write_inactive(
    out: &mut String,
    since: Time,
    now: Time,
    window: Option<crate::time::Duration>,
) -> fmt::Result {
    let days = whole_days(since, now);
    out.push_str("inactive since ");
    Day(since).push_to(out);
    match window {
        Some(w) => write!(out, " ({days} days > {w})"),
        None => write!(out, " ({days} days)"),
    }
}
