//! Which messages are due, and their words. Pure: a plan, the ledger and the `notify:` settings
//! in; [`Email`]s and a [`Digest`] out. Sending them, and recording that they were sent, is the
//! `notify` edge.
//!
//! Every email has a [`MessageKey`] (kind, person, product, date), and the audit log records
//! each key once it is accepted, so a message is delivered once however often `notify` and
//! `apply` run. Its Message-ID derives from the key: a message sent again after a run was
//! killed mid-send carries the same id, which mail systems show once.

use crate::ledger::{AuditKind, AuditRecord, AuditResult, Ledger, MessageKey, MessageState};
use crate::plan::{Evidence, EvidenceSource, NoticeKind, Plan, Rail, Rule};
use crate::policy::notify::{self, Field, MessageKind, Notify};
use crate::policy::Policy;
use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

/// One email to one person. The body is plain UTF-8 text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The recipient's address.
    pub to: String,
    /// The recipient's display name, if known.
    pub to_name: Option<String>,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
    /// The Message-ID without angle brackets (`left@right`): the same for every attempt of one
    /// message, so mail clients and the audit log can tell it is the same message.
    pub message_id: String,
}

/// An email that is due, with what it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct DueEmail {
    /// What it is about; recorded in the audit log once accepted.
    pub key: MessageKey,
    /// Its kind.
    pub kind: MessageKind,
    /// The message.
    pub email: Email,
    /// The audit log shows an attempt that was never answered: this is that message again.
    pub retry_of_in_doubt: bool,
}

/// What a person is told about, before the words are chosen.
struct About<'a> {
    kind: MessageKind,
    account_id: &'a str,
    email: Option<&'a str>,
    name: Option<&'a str>,
    product: &'a str,
    date: DateTime<Utc>,
    /// The date the words name: `date`, or, for a reclaim-soon email sent too late for it, the
    /// first day rail `not-notified` lets the reclaim run (`notice` after the email).
    told: DateTime<Utc>,
    evidence: Option<&'a Evidence>,
}

/// The `reclaim-soon` emails that `plan` calls for and the ledger does not show accepted: one
/// per (person, product, announced date). People without an email are skipped (and counted).
///
/// Besides the plan's `reclaim-soon` notices, a reclaim the `not-notified` rail holds back and
/// whose person was never emailed (announced before `notify` was set up) is announced again,
/// by email, for the plan's time plus the product's `notice`: the reclaim then waits for it.
pub fn reclaim_soon_emails(
    plan: &Plan,
    policy: &Policy,
    ledger: &Ledger,
    notify: &Notify,
) -> (Vec<DueEmail>, usize) {
    let notice = |product: &str| {
        let seconds = policy
            .products
            .iter()
            .find(|p| p.key == product)
            .and_then(|p| p.notice)
            .map_or(0, |n| n.as_seconds());
        chrono::TimeDelta::seconds(seconds)
    };
    // Sent today, an email lets its reclaim run `notice` from the start of today at the earliest.
    let earliest =
        |product: &str| crate::time::start_of_day(plan.generated_at.date_naive()) + notice(product);
    let notices = plan
        .notices
        .iter()
        .filter(|n| n.kind == NoticeKind::ReclaimSoon)
        .filter_map(|n| {
            let date = n.at?;
            Some(About {
                kind: MessageKind::ReclaimSoon,
                account_id: &n.account_id,
                email: n.email.as_deref(),
                name: n.name.as_deref(),
                product: &n.product,
                date,
                told: date.max(earliest(&n.product)),
                evidence: n.evidence.as_ref(),
            })
        });
    let announce_again = plan
        .blocked
        .iter()
        .filter(|b| b.rail == Rail::NotNotified)
        .map(|b| &b.action)
        .filter(|a| {
            // Never emailed since the evidence: an email from before it was about an earlier
            // idle stretch.
            ledger
                .reclaim_soon_sent(&a.account_id, &a.product)
                .is_none_or(|sent| a.evidence.at.is_some_and(|e| sent <= e))
        })
        .map(|a| {
            let date = plan.generated_at + notice(&a.product);
            About {
                kind: MessageKind::ReclaimSoon,
                account_id: &a.account_id,
                email: a.email.as_deref(),
                name: None,
                product: &a.product,
                date,
                told: date,
                evidence: Some(&a.evidence),
            }
        });
    due(notices.chain(announce_again), &plan.site, ledger, notify)
}

/// A reclaim carried out, as the audit log and the plan tell it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reclaim {
    /// Account id.
    pub account_id: String,
    /// Email, when known.
    pub email: Option<String>,
    /// The person's name, when known.
    pub name: Option<String>,
    /// Product key.
    pub product: String,
    /// When the seat was reclaimed.
    pub at: DateTime<Utc>,
    /// The evidence it rested on, when the plan that did it is at hand.
    pub evidence: Option<Evidence>,
}

/// How far back an unsent `reclaimed` email is still sent: turning `after_reclaim` on does not
/// write to everyone reclaimed since the audit log began.
pub const RECLAIMED_EMAIL_DAYS: i64 = 7;

/// The successful reclaims (`inactive` removals) in `records` since `since`, one per (person,
/// product, day), in log order.
pub fn reclaims_since(records: &[AuditRecord], since: DateTime<Utc>) -> Vec<Reclaim> {
    let mut out: Vec<Reclaim> = Vec::new();
    for r in records {
        let reclaim = r.kind == AuditKind::Remove
            && r.result == AuditResult::Ok
            && r.rule == Rule::Inactive.as_str()
            && r.time >= since;
        let day = crate::time::start_of_day(r.time.date_naive());
        if !reclaim
            || out
                .iter()
                .any(|o| o.account_id == r.account_id && o.product == r.product && o.at == day)
        {
            continue;
        }
        out.push(Reclaim {
            account_id: r.account_id.clone(),
            email: r.email.clone(),
            name: None,
            product: r.product.clone(),
            at: day,
            evidence: None,
        });
    }
    out
}

/// The `reclaimed` emails the ledger does not show accepted: one per (person, product, day of
/// the reclaim).
pub fn reclaimed_emails(
    reclaims: &[Reclaim],
    site: &str,
    ledger: &Ledger,
    notify: &Notify,
) -> (Vec<DueEmail>, usize) {
    let about = reclaims.iter().map(|r| About {
        kind: MessageKind::Reclaimed,
        account_id: &r.account_id,
        email: r.email.as_deref(),
        name: r.name.as_deref(),
        product: &r.product,
        date: r.at,
        told: r.at,
        evidence: r.evidence.as_ref(),
    });
    due(about, site, ledger, notify)
}

fn due<'a>(
    about: impl Iterator<Item = About<'a>>,
    site: &str,
    ledger: &Ledger,
    notify: &Notify,
) -> (Vec<DueEmail>, usize) {
    let mut out: Vec<DueEmail> = Vec::new();
    let mut without_email = 0;
    for a in about {
        let key = MessageKey {
            kind: a.kind.as_str().to_string(),
            account_id: a.account_id.to_string(),
            product: a.product.to_string(),
            date: a.date,
        };
        let state = ledger.message(&key);
        if matches!(state, Some(MessageState::Sent(_))) || out.iter().any(|e| e.key == key) {
            continue;
        }
        let Some(to) = a.email.filter(|e| notify::mailbox_address(e).is_some()) else {
            without_email += 1;
            continue;
        };
        let (subject, body) = words(&a, to, site, notify);
        out.push(DueEmail {
            email: Email {
                message_id: message_id(&key, site),
                to: to.to_string(),
                to_name: a.name.map(str::to_string),
                subject,
                body,
            },
            kind: a.kind,
            retry_of_in_doubt: matches!(state, Some(MessageState::InDoubt(_))),
            key,
        });
    }
    out.sort_by(|a, b| (&a.email.to, &a.key).cmp(&(&b.email.to, &b.key)));
    (out, without_email)
}

/// The template of the message's kind, filled in.
fn words(a: &About<'_>, to: &str, site: &str, notify: &Notify) -> (String, String) {
    let product = notify::product_name(a.product);
    let reply_to = notify
        .email
        .as_ref()
        .map_or_else(String::new, |e| e.reply_address().to_string());
    notify.templates.get(a.kind).render(|field| match field {
        // Without a name, the address's local part: "Hello alice,".
        Field::Name => a
            .name
            .unwrap_or_else(|| to.split('@').next().unwrap_or(to))
            .to_string(),
        Field::Email => to.to_string(),
        Field::Product => product.clone(),
        Field::ProductKey => a.product.to_string(),
        Field::Date => a.told.format("%Y-%m-%d").to_string(),
        Field::Evidence => evidence_words(a.evidence, &product),
        Field::Site => site.to_string(),
        Field::RequestLink => notify::request_link(site, a.product),
        Field::ReplyTo => reply_to.clone(),
    })
}

/// The evidence in a person's words: "last used Jira Software on 2026-08-30".
pub fn evidence_words(evidence: Option<&Evidence>, product: &str) -> String {
    let day = |t: Option<DateTime<Utc>>| t.map(|t| t.format("%Y-%m-%d").to_string());
    let Some(e) = evidence else {
        return format!("{product} has not been used for a while");
    };
    match (e.source, day(e.at)) {
        (EvidenceSource::LastActive, Some(d)) => format!("last used {product} on {d}"),
        (EvidenceSource::MembershipBegan, Some(d)) => {
            format!("{product} has not been used since the seat was given on {d}")
        }
        (EvidenceSource::AddedToOrg, Some(d)) => {
            format!("{product} has not been used since the account was created on {d}")
        }
        (
            EvidenceSource::Login | EvidenceSource::AccessRequest | EvidenceSource::Requested,
            Some(d),
        ) => {
            format!("{product} has not been used since {d}")
        }
        _ => format!("{product} has not been used for a while"),
    }
}

/// The Message-ID of a message: derived from its key and the site, so every attempt of one
/// message carries the same id.
pub fn message_id(key: &MessageKey, site: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        key.kind.as_str(),
        key.account_id.as_str(),
        key.product.as_str(),
        &key.date.to_rfc3339(),
        site,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = hex::encode(&h.finalize()[..12]);
    format!("{digest}.seatkeeper@{site}")
}

/// A summary for admins, posted to chat: a title and sections such as "Reclaimed (12)".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Digest {
    /// The headline, like `seatkeeper: licences on acme.atlassian.net`.
    pub title: String,
    /// The sections, in order.
    pub sections: Vec<DigestSection>,
}

/// A titled group of lines with its count.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DigestSection {
    /// Like "Reclaims announced" or "Failed".
    pub heading: String,
    /// How many items the section stands for (may exceed `lines.len()` when only some are
    /// listed).
    pub count: usize,
    /// One line per item, plain text.
    pub lines: Vec<String>,
}

impl DigestSection {
    fn new(heading: &str, count: usize, lines: Vec<String>) -> Self {
        DigestSection {
            heading: heading.to_string(),
            count,
            lines,
        }
    }
}

/// The digest of a `notify` run: the plan in numbers, the emails sent and failed (with who),
/// and the access requests awaiting approval.
pub fn plan_digest(plan: &Plan, sent: &[&DueEmail], failed: &[(&DueEmail, String)]) -> Digest {
    let count = |kind| plan.actions.iter().filter(|a| a.kind == kind).count();
    let soon = plan
        .notices
        .iter()
        .filter(|n| n.kind == NoticeKind::ReclaimSoon)
        .count();
    let mut sections = vec![DigestSection::new(
        "Plan",
        plan.actions.len(),
        vec![
            format!("{} to add", count(crate::plan::ActionKind::Add)),
            format!("{} to remove", count(crate::plan::ActionKind::Remove)),
            format!("{} blocked by a rail", plan.blocked.len()),
            format!("{soon} seat(s) to be reclaimed soon"),
        ],
    )];
    sections.extend(email_sections(sent, failed));
    sections.extend(requests_section(plan));
    Digest {
        title: format!("seatkeeper: licences on {}", plan.site),
        sections,
    }
}

/// The digest of an apply: what it did and what failed, the reclaimed-seat emails, and the
/// access requests awaiting approval.
pub fn apply_digest(
    plan: &Plan,
    done: usize,
    failed: usize,
    sent: &[&DueEmail],
    failed_emails: &[(&DueEmail, String)],
) -> Digest {
    let mut lines = vec![format!("{done} change(s) done")];
    if failed > 0 {
        lines.push(format!("{failed} failed: run apply again to retry"));
    }
    let mut sections = vec![DigestSection::new("Applied", done + failed, lines)];
    sections.extend(email_sections(sent, failed_emails));
    sections.extend(requests_section(plan));
    Digest {
        title: format!("seatkeeper apply on {}", plan.site),
        sections,
    }
}

fn email_sections(sent: &[&DueEmail], failed: &[(&DueEmail, String)]) -> Vec<DigestSection> {
    let who = |e: &DueEmail| format!("{} ({}, {})", e.email.to, e.key.product, e.kind);
    let mut out = Vec::new();
    if !sent.is_empty() {
        out.push(DigestSection::new(
            "Emails sent",
            sent.len(),
            sent.iter().map(|e| who(e)).collect(),
        ));
    }
    if !failed.is_empty() {
        out.push(DigestSection::new(
            "Emails failed (sent again on the next run)",
            failed.len(),
            failed
                .iter()
                .map(|(e, why)| format!("{}: {why}", who(e)))
                .collect(),
        ));
    }
    out
}

fn requests_section(plan: &Plan) -> Option<DigestSection> {
    (!plan.requests.is_empty()).then(|| {
        DigestSection::new(
            "Access requests awaiting approval",
            plan.requests.len(),
            plan.requests
                .iter()
                .map(|r| {
                    format!(
                        "{} ({})",
                        r.email.as_deref().unwrap_or(&r.account_id),
                        r.product
                    )
                })
                .collect(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Notice;
    use crate::policy::notify::{Email as EmailSettings, Rate, Templates};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn settings() -> Notify {
        Notify {
            email: Some(EmailSettings {
                smtp: "smtp://mail.acme.com:587".into(),
                from: "Licences <it@acme.com>".into(),
                reply_to: None,
            }),
            chat: None,
            before_reclaim: true,
            after_reclaim: true,
            digest: false,
            templates: Templates::default(),
            rate: Rate::default(),
        }
    }

    fn policy() -> Policy {
        let files = crate::policy::source::MemFiles::new().with(
            crate::policy::MAIN_FILE,
            "version: 1\nsite: acme.atlassian.net\nproducts:\n  jira-software:\n    groups: [jira-users]\n",
        );
        crate::policy::load(&files).unwrap().policy
    }

    fn plan_with(notices: Vec<Notice>) -> Plan {
        let mut plan: Plan = serde_json::from_value(serde_json::json!({
            "format_version": 1, "site": "acme.atlassian.net", "generated_at": "2026-11-25T08:00:00Z",
            "actions": [], "blocked": [], "notices": [], "seats": {}, "fingerprint": {}
        }))
        .unwrap();
        plan.notices = notices;
        plan
    }

    fn soon(who: &str, product: &str, on: &str) -> Notice {
        Notice {
            kind: NoticeKind::ReclaimSoon,
            product: product.into(),
            account_id: format!("acc-{who}"),
            email: Some(format!("{who}@acme.com")),
            detail: String::new(),
            at: Some(t(on)),
            name: Some(who.to_uppercase()),
            evidence: Some(Evidence {
                source: EvidenceSource::LastActive,
                at: Some(t("2026-08-30T10:00:00Z")),
                entry: None,
                last_active: Some(t("2026-08-30T10:00:00Z")),
            }),
        }
    }

    fn record(kind: AuditKind, result: AuditResult, n: &Notice) -> AuditRecord {
        serde_json::from_value(serde_json::json!({
            "time": "2026-11-25T09:00:00Z", "kind": kind, "product": n.product, "group": "",
            "group_id": "", "account_id": n.account_id, "rule": "reclaim-soon", "result": result,
            "reclaim_on": n.at,
        }))
        .unwrap()
    }

    #[test]
    fn an_announced_reclaim_is_emailed_once_with_its_date_evidence_and_ways_back() {
        let ana = soon("ana", "jira-software", "2026-12-09T08:00:00Z");
        let plan = plan_with(vec![
            ana.clone(),
            soon("bo", "confluence", "2026-12-09T08:00:00Z"),
        ]);
        let (emails, skipped) =
            reclaim_soon_emails(&plan, &policy(), &Ledger::empty(), &settings());
        assert_eq!(skipped, 0);
        assert_eq!(emails.len(), 2);
        let e = &emails[0].email;
        assert_eq!(
            (e.to.as_str(), e.to_name.as_deref()),
            ("ana@acme.com", Some("ANA"))
        );
        assert_eq!(
            e.subject,
            "Your Jira Software seat will be reclaimed on 2026-12-09"
        );
        for words in [
            "Hello ANA,",
            "last used Jira Software on 2026-08-30",
            "https://acme.atlassian.net/jira",
            "reply to it@acme.com",
        ] {
            assert!(
                e.body.contains(words),
                "{words:?} missing from:\n{}",
                e.body
            );
        }
        assert!(emails[1]
            .email
            .body
            .contains("https://acme.atlassian.net/wiki"));

        // Accepted once: not due again. A failed or unanswered attempt is due again, with the
        // same Message-ID.
        let sent = Ledger::from_records(&[record(AuditKind::Notified, AuditResult::Ok, &ana)]);
        let (emails_after, _) = reclaim_soon_emails(&plan, &policy(), &sent, &settings());
        assert_eq!(emails_after.len(), 1);
        assert_eq!(emails_after[0].email.to, "bo@acme.com");
        let in_doubt = Ledger::from_records(&[record(AuditKind::Notifying, AuditResult::Ok, &ana)]);
        let (again, _) = reclaim_soon_emails(&plan, &policy(), &in_doubt, &settings());
        assert!(again[0].retry_of_in_doubt);
        assert_eq!(again[0].email.message_id, e.message_id);
        let failed =
            Ledger::from_records(&[record(AuditKind::Notified, AuditResult::Failed, &ana)]);
        assert_eq!(
            reclaim_soon_emails(&plan, &policy(), &failed, &settings())
                .0
                .len(),
            2
        );
        assert!(in_doubt.is_first_run(), "messages never end a first run");
    }

    #[test]
    fn people_without_an_email_are_counted_not_sent_to() {
        let mut n = soon("ana", "jira-software", "2026-12-09T08:00:00Z");
        n.email = None;
        let (emails, skipped) = reclaim_soon_emails(
            &plan_with(vec![n]),
            &policy(),
            &Ledger::empty(),
            &settings(),
        );
        assert!(emails.is_empty());
        assert_eq!(skipped, 1);
    }

    #[test]
    fn message_ids_differ_per_message_and_hold_per_key() {
        let key = |date: &str| MessageKey {
            kind: "reclaim-soon".into(),
            account_id: "a".into(),
            product: "confluence".into(),
            date: t(date),
        };
        let a = message_id(&key("2026-12-09T08:00:00Z"), "acme.atlassian.net");
        assert_eq!(
            a,
            message_id(&key("2026-12-09T08:00:00Z"), "acme.atlassian.net")
        );
        assert_ne!(
            a,
            message_id(&key("2026-12-10T08:00:00Z"), "acme.atlassian.net")
        );
        assert!(a.ends_with(".seatkeeper@acme.atlassian.net"), "{a}");
    }

    #[test]
    fn a_reclaim_is_told_once_and_only_recent_ones_are() {
        let remove = |who: &str, product: &str, at: &str, rule: &str| -> AuditRecord {
            serde_json::from_value(serde_json::json!({
                "time": at, "kind": "remove", "product": product, "group": "g", "group_id": "g1",
                "account_id": format!("acc-{who}"), "email": format!("{who}@acme.com"),
                "rule": rule, "result": "ok",
            }))
            .unwrap()
        };
        let records = vec![
            remove("old", "confluence", "2026-11-01T08:00:00Z", "inactive"),
            remove("ana", "jira-software", "2026-11-24T08:00:00Z", "inactive"),
            // The same reclaim through a second group, and a removal that is not a reclaim.
            remove("ana", "jira-software", "2026-11-24T08:00:05Z", "inactive"),
            remove(
                "bo",
                "jira-software",
                "2026-11-24T08:00:00Z",
                "not-eligible",
            ),
        ];
        let since = t("2026-11-25T08:00:00Z") - chrono::TimeDelta::days(RECLAIMED_EMAIL_DAYS);
        let reclaims = reclaims_since(&records, since);
        assert_eq!(reclaims.len(), 1);
        assert_eq!(
            (reclaims[0].account_id.as_str(), reclaims[0].at),
            ("acc-ana", t("2026-11-24T00:00:00Z"))
        );
        let (emails, _) = reclaimed_emails(
            &reclaims,
            "acme.atlassian.net",
            &Ledger::empty(),
            &settings(),
        );
        assert_eq!(emails.len(), 1);
        assert_eq!(
            emails[0].email.subject,
            "Your Jira Software seat was reclaimed on 2026-11-24"
        );
        assert!(
            emails[0]
                .email
                .body
                .contains("request access at https://acme.atlassian.net/jira"),
            "{}",
            emails[0].email.body
        );
        let mut sent: AuditRecord = records[1].clone();
        sent.kind = AuditKind::Notified;
        sent.rule = "reclaimed".into();
        sent.reclaim_on = Some(t("2026-11-24T00:00:00Z"));
        let ledger = Ledger::from_records(&[sent]);
        assert!(
            reclaimed_emails(&reclaims, "acme.atlassian.net", &ledger, &settings())
                .0
                .is_empty()
        );
    }
}
