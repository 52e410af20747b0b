//! History from the audit log: seats over time per product, and the changes since a cutoff.
//!
//! # Seats over time: walking the log backwards
//!
//! The only exact seat count is the current one: the union of the members of the product's
//! grant groups in the live state (the plan's `seats.before`). The audit log records every
//! membership seatkeeper changed, but nothing about earlier states, so the history is
//! reconstructed by starting from the live memberships and undoing the log, newest line first:
//! before a successful `add` or `observed` line the account was not in that group; before a
//! successful `remove` line it was. After each batch of lines with the same time, the number of
//! accounts in at least one grant group is the seat count up to that time.
//!
//! Walking backwards anchors the chart at the true current count. Changes made outside
//! seatkeeper that it never observed (a manual removal, say) are not in the log, so the
//! reconstructed past can differ from what Atlassian billed; the chart is "the current seats,
//! minus what seatkeeper did since". Failed lines and lines after the report time are skipped.
//!
//! The series starts one day before the first logged change (or at the `--since` cutoff when
//! that is earlier; 30 days before now when nothing is logged) and ends at the report time.
//! Each [`SeatPoint`] holds from its time until the next point.

use super::{Change, Changes, SeatPoint, Since};
use crate::diff::policy_diff;
use crate::ledger::{AuditKind, AuditRecord, AuditResult};
use crate::live::LiveState;
use crate::policy::Policy;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Seats over time for the product granted by `groups` (see the module docs for the method).
pub fn seat_history(
    groups: &[String],
    live: &LiveState,
    records: &[AuditRecord],
    now: DateTime<Utc>,
    cutoff: Option<DateTime<Utc>>,
) -> Vec<SeatPoint> {
    let names: HashSet<&str> = groups.iter().map(String::as_str).collect();
    // Group id → name for the product's groups, so log lines match by id first.
    let by_id: HashMap<&str, &str> = live
        .groups
        .iter()
        .filter(|g| names.contains(g.name.as_str()))
        .map(|g| (g.id.as_str(), g.name.as_str()))
        .collect();
    let group_of = |r: &AuditRecord| -> Option<String> {
        match by_id.get(r.group_id.as_str()) {
            Some(name) => Some((*name).to_string()),
            None if names.contains(r.group.as_str()) => Some(r.group.clone()),
            None => None,
        }
    };

    // Current memberships: account → grant groups it is in.
    let mut state: HashMap<String, BTreeSet<String>> = HashMap::new();
    for g in live
        .groups
        .iter()
        .filter(|g| names.contains(g.name.as_str()))
    {
        for m in &g.members {
            state.entry(m.clone()).or_default().insert(g.name.clone());
        }
    }
    // Seats as Atlassian bills them, like the plan's: accounts that are not billed now (apps,
    // customers, suspended or closed accounts) are left out; accounts the live state does not
    // list count, as the planner counts them.
    let not_billed: HashSet<&str> = live
        .users
        .iter()
        .filter(|u| !crate::planner::is_billed(u))
        .map(|u| u.account_id.as_str())
        .collect();
    let seats = |state: &HashMap<String, BTreeSet<String>>| {
        state
            .iter()
            .filter(|(account, groups)| {
                !groups.is_empty() && !not_billed.contains(account.as_str())
            })
            .count()
    };

    let mut lines: Vec<(usize, &AuditRecord, String)> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.result == AuditResult::Ok && r.time <= now && r.kind != AuditKind::Announced
        })
        .filter_map(|(i, r)| group_of(r).map(|g| (i, r, g)))
        .collect();
    lines.sort_by_key(|(i, r, _)| (r.time, *i));

    let current = seats(&state);
    let mut points_rev: Vec<SeatPoint> = Vec::new();
    let mut rest = lines.as_slice();
    while let Some((_, last, _)) = rest.last() {
        let t = last.time;
        let split = rest
            .iter()
            .rposition(|(_, r, _)| r.time != t)
            .map_or(0, |i| i + 1);
        let (earlier, batch) = rest.split_at(split);
        points_rev.push(SeatPoint {
            at: t,
            seats: seats(&state),
        });
        for (_, r, group) in batch.iter().rev() {
            match r.kind {
                AuditKind::Add | AuditKind::Observed => {
                    if let Some(gs) = state.get_mut(&r.account_id) {
                        gs.remove(group);
                    }
                }
                AuditKind::Remove | AuditKind::ObservedRemoval => {
                    state
                        .entry(r.account_id.clone())
                        .or_default()
                        .insert(group.clone());
                }
                AuditKind::Announced | AuditKind::Notifying | AuditKind::Notified => {}
            }
        }
        rest = earlier;
    }
    let first_change = lines.first().map(|(_, r, _)| r.time);
    let before =
        |t: DateTime<Utc>, days: i64| t.checked_sub_signed(Duration::days(days)).unwrap_or(t);
    let mut start = first_change.map_or(before(now, 30), |t| before(t, 1));
    if let Some(c) = cutoff.filter(|c| *c < start) {
        start = c;
    }
    let mut points = vec![SeatPoint {
        at: start,
        seats: seats(&state),
    }];
    for p in points_rev.into_iter().rev() {
        if points.last().is_some_and(|last| last.seats == p.seats) {
            continue;
        }
        points.push(p);
    }
    if points.last().is_some_and(|last| last.at < now) {
        points.push(SeatPoint {
            at: now,
            seats: current,
        });
    }
    points
}

/// The changes after `since.cutoff` (up to `now`): successful audit lines sorted by time, and
/// the policy diff from the `--since` revision's policy to `current` when there is one.
pub fn changes_since(
    records: &[AuditRecord],
    since: &Since,
    current: &Policy,
    now: DateTime<Utc>,
) -> Changes {
    let mut changes = Changes {
        since: since.cutoff,
        label: since.label.clone(),
        base_commit: since.commit.clone(),
        grants: Vec::new(),
        revocations: Vec::new(),
        reclaims: Vec::new(),
        policy: since
            .base_policy
            .as_ref()
            .map(|base| policy_diff(base, current, now.date_naive())),
    };
    for r in records
        .iter()
        .filter(|r| r.result == AuditResult::Ok && r.time > since.cutoff && r.time <= now)
    {
        let change = Change {
            time: r.time,
            kind: r.kind,
            product: r.product.clone(),
            group: r.group.clone(),
            account_id: r.account_id.clone(),
            email: r.email.clone(),
            rule: r.rule.clone(),
            reason: r.reason.clone(),
            actor: r.actor.clone(),
            policy_commit: r.policy_commit.clone(),
        };
        match r.kind {
            AuditKind::Add | AuditKind::Observed => changes.grants.push(change),
            AuditKind::Remove if r.rule == "inactive" => changes.reclaims.push(change),
            AuditKind::Remove | AuditKind::ObservedRemoval => changes.revocations.push(change),
            // Announcements and messages change no membership; the plan and report list
            // announcements as notices.
            AuditKind::Announced | AuditKind::Notifying | AuditKind::Notified => {}
        }
    }
    for list in [
        &mut changes.grants,
        &mut changes.revocations,
        &mut changes.reclaims,
    ] {
        list.sort_by(|a, b| {
            (a.time, &a.product, a.who(), &a.group).cmp(&(b.time, &b.product, b.who(), &b.group))
        });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn seats_are_walked_back_from_the_live_count() {
        let live = fixtures::live();
        let (records, _) = crate::report::parse_audit_records(fixtures::audit_log());
        let jira = seat_history(
            &["jira-software-users-acme".to_string()],
            &live,
            &records,
            fixtures::now(),
            None,
        );
        // Now 6 members; erin was added on 09-01 (so 5 before), frank removed on 08-01 (so 6
        // before that). The failed add of zed changes nothing.
        let view: Vec<(String, usize)> =
            jira.iter().map(|p| (p.at.to_rfc3339(), p.seats)).collect();
        assert_eq!(
            view,
            vec![
                ("2026-07-31T06:00:00+00:00".to_string(), 6),
                ("2026-08-01T06:00:00+00:00".to_string(), 5),
                ("2026-09-01T06:00:00+00:00".to_string(), 6),
                ("2026-11-25T08:00:00+00:00".to_string(), 6),
            ]
        );
        // A user in two grant groups holds one seat; removal from one group frees nothing.
        let mut live2 = live.clone();
        live2.groups.push(crate::live::Group {
            id: "g-legacy".into(),
            name: "jira-legacy".into(),
            members: vec!["5b10bob".into()],
            synced: false,
        });
        let (mut recs, _) = crate::report::parse_audit_records(fixtures::audit_log());
        recs.truncate(0);
        let mut r = records[0].clone();
        r.account_id = "5b10bob".into();
        r.group = "jira-legacy".into();
        r.group_id = "g-legacy".into();
        r.time = t("2026-11-01T00:00:00Z");
        recs.push(r);
        let both = seat_history(
            &[
                "jira-software-users-acme".to_string(),
                "jira-legacy".to_string(),
            ],
            &live2,
            &recs,
            fixtures::now(),
            Some(t("2026-01-01T00:00:00Z")),
        );
        assert_eq!(
            both.first().map(|p| (p.at, p.seats)),
            Some((t("2026-01-01T00:00:00Z"), 6))
        );
        assert!(both.iter().all(|p| p.seats == 6), "{both:?}");
    }

    #[test]
    fn an_empty_log_gives_a_flat_line() {
        let live = fixtures::live();
        let h = seat_history(
            &["confluence-users-acme".to_string()],
            &live,
            &[],
            fixtures::now(),
            None,
        );
        assert_eq!(h.len(), 2);
        // Five members, one of them not billed (a portal customer).
        assert!(h.iter().all(|p| p.seats == 4), "{h:?}");
    }

    #[test]
    fn changes_are_split_into_grants_revocations_and_reclaims() {
        let (records, _) = crate::report::parse_audit_records(fixtures::audit_log());
        let policy = fixtures::policy();
        let all = changes_since(
            &records,
            &Since::at(t("2026-01-01T00:00:00Z")),
            &policy,
            fixtures::now(),
        );
        let who = |l: &[Change]| l.iter().map(|c| c.who().to_string()).collect::<Vec<_>>();
        assert_eq!(
            who(&all.grants),
            ["erin@acme.com"],
            "failed lines do not count"
        );
        assert_eq!(who(&all.revocations), ["grace@acme.com"]);
        assert_eq!(who(&all.reclaims), ["frank@acme.com"]);
        assert!(all.policy.is_none());
        let later = changes_since(
            &records,
            &Since::at(t("2026-09-01T06:00:00Z")),
            &policy,
            fixtures::now(),
        );
        assert!(later.grants.is_empty(), "strictly after the cutoff");
        assert_eq!(later.revocations.len(), 1);
    }
}
