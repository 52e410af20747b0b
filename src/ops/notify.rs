//! `notify`: sends what a plan announces that has not been sent yet (`reclaim-soon` emails),
//! the `reclaimed` emails of recent reclaims that were not told yet, and, with `digest`, a
//! summary to chat. `apply` sends the `reclaimed` emails and its own digest through
//! [`after_apply`].
//!
//! Delivered once: before each send, a `notifying` line goes to the audit log; after it, a
//! `notified` line with the server's answer. A message the log shows accepted is never sent
//! again; one that failed is sent again on the next run; one whose run was killed between the
//! two lines is sent again with the same Message-ID. The audit log's lock is held while
//! sending, so `notify` and `apply` never interleave their lines.

use super::inputs::{load_policy, PolicyRef, PolicySource};
use super::planning::{resolve_write_at, Planning, StateRequest};
use super::{failed, Clock, CommandError, Context, ErrorKind};
use crate::apply::lock::{host_name, lock_path, ApplyLock, Holder};
use crate::audit_log::AuditWriter;
use crate::ledger::{AuditKind, AuditRecord, AuditResult, Ledger, MessageKey, MessageState};
use crate::messages::{self, DueEmail};
use crate::notify::{Chat, Delivery, Mailer, Pacer, SmtpSettings};
use crate::plan::Plan;
use crate::policy::notify::{MessageKind, Notify};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use std::path::PathBuf;

/// Transient failures in a row after which a batch stops (see [`Sender::send_all`]).
const FAILURES_IN_A_ROW: usize = 3;

/// What to notify about.
#[derive(Debug, Clone)]
pub struct NotifyRequest {
    /// The policy: its `notify:` settings and audit log.
    pub policy: PolicyRef,
    /// A plan saved by `plan --out`; without it, `notify` plans now.
    pub plan: Option<PathBuf>,
    /// Live state (or a snapshot) when planning now.
    pub state: StateRequest,
    /// Print each message instead of sending it.
    pub dry_run: bool,
    /// Sandbox rehearsals only: the time of this run, for its plan and its audit lines.
    pub at: Option<String>,
}

/// What a `notify` run did.
#[derive(Debug)]
pub struct Notified {
    /// The emails that were due, and what became of each (`None` with `--dry-run`).
    pub emails: Vec<(DueEmail, Option<Delivery>)>,
    /// People a message was due to who have no email address.
    pub without_email: usize,
    /// The chat digest, when one was posted.
    pub digest: Option<Delivery>,
    /// The audit log the messages are recorded in.
    pub audit_log: PathBuf,
}

impl Notified {
    /// How many emails failed.
    pub fn failures(&self) -> usize {
        self.emails
            .iter()
            .filter(|(_, d)| matches!(d, Some(Delivery::Failed { .. })))
            .count()
    }
}

/// Sends the messages `request`'s plan calls for that the audit log does not show sent. Fails
/// (exit 5, partial) when a message was not accepted: it is sent again on the next run.
pub fn notify(request: &NotifyRequest, ctx: &mut Context) -> Result<Notified, CommandError> {
    let at = resolve_write_at("notify", request.at.as_deref(), ctx)?;
    let now = at.unwrap_or(ctx.clock.start());
    let clock = at.map_or(ctx.clock, Clock::Fixed);
    let source = load_policy(&request.policy, ctx.today(now), ctx.err)?;
    // No settings is refused before anything is read from Atlassian.
    settings_of(&source)?;
    let (source, plan) = match &request.plan {
        Some(path) => {
            let plan = super::apply::read_plan(path, &source)?;
            (source, plan)
        }
        None => {
            let state = StateRequest {
                at: request.at.clone().or_else(|| request.state.at.clone()),
                ..request.state.clone()
            };
            let planning = Planning::from_source(source, &state, ctx)?;
            let plan = planning.plan(false)?;
            (planning.source, plan)
        }
    };
    let settings = settings_of(&source)?.clone();
    let audit_log = source.audit_path()?;
    let records = read_records(&audit_log)?;
    let ledger = Ledger::from_records(&records);
    let mut due = Vec::new();
    let mut without_email = 0;
    if settings.before_reclaim {
        let (emails, skipped) =
            messages::reclaim_soon_emails(&plan, &source.policy, &ledger, &settings);
        due.extend(emails);
        without_email += skipped;
    }
    if settings.after_reclaim {
        let (emails, skipped) = reclaimed_due(&records, &ledger, &plan.site, &settings, now);
        due.extend(emails);
        without_email += skipped;
    }
    if request.dry_run {
        return Ok(Notified {
            emails: due.into_iter().map(|e| (e, None)).collect(),
            without_email,
            digest: None,
            audit_log,
        });
    }
    let sender = Sender::new(&settings, &source, &plan, clock, ctx)?;
    let emails = sender.send_all(due, ctx)?;
    let digest = settings
        .digest
        .then(|| {
            let sent: Vec<&DueEmail> = accepted(&emails).collect();
            let failed: Vec<(&DueEmail, String)> = refused(&emails).collect();
            sender.post_digest(
                &messages::plan_digest(&plan, &sent, &failed),
                plan.generated_at,
                &ledger,
                ctx,
            )
        })
        .transpose()?
        .flatten();
    let outcome = Notified {
        emails,
        without_email,
        digest,
        audit_log,
    };
    Ok(outcome)
}

/// After an apply: the `reclaimed` emails of its reclaims (and of earlier ones not told yet)
/// and, with `digest`, a summary of the run. Nothing happens without `notify:` settings.
pub fn after_apply(
    source: &PolicySource,
    plan: &Plan,
    clock: Clock,
    ctx: &mut Context,
) -> Result<Option<Notified>, CommandError> {
    let Some(settings) = source.policy.notify.clone() else {
        return Ok(None);
    };
    let audit_log = source.audit_path()?;
    let now = clock.now();
    let records = read_records(&audit_log)?;
    let ledger = Ledger::from_records(&records);
    let (due, without_email) = if settings.after_reclaim {
        reclaimed_due(&records, &ledger, &plan.site, &settings, now)
    } else {
        (Vec::new(), 0)
    };
    if due.is_empty() && !settings.digest {
        return Ok(None);
    }
    let sender = Sender::new(&settings, source, plan, clock, ctx)?;
    let emails = sender.send_all(due, ctx)?;
    let digest = if settings.digest {
        let sent: Vec<&DueEmail> = accepted(&emails).collect();
        let failed_emails: Vec<(&DueEmail, String)> = refused(&emails).collect();
        // The plan's changes as the audit log has them, across every run of this plan.
        let plan_id = plan.id();
        let of_plan = |result| {
            records
                .iter()
                .filter(|r| r.plan_id == plan_id && !r.kind.is_message() && r.result == result)
                .filter(|r| r.kind != AuditKind::Announced)
                .count()
        };
        let (done, failed) = (of_plan(AuditResult::Ok), of_plan(AuditResult::Failed));
        let digest = messages::apply_digest(plan, done, failed, &sent, &failed_emails);
        sender.post_digest(&digest, now, &ledger, ctx)?
    } else {
        None
    };
    Ok(Some(Notified {
        emails,
        without_email,
        digest,
        audit_log,
    }))
}

/// The policy's `notify:` settings, or why there are none.
fn settings_of(source: &PolicySource) -> Result<&Notify, CommandError> {
    source.policy.notify.as_ref().ok_or_else(|| {
        failed("the policy has no `notify:` settings, so there is nothing to send").hint(
            "add `notify:` with `email: { smtp: ..., from: ... }` to seatkeeper.yaml (see the \
             README, \"Telling people\")",
        )
    })
}

fn read_records(audit_log: &std::path::Path) -> Result<Vec<AuditRecord>, CommandError> {
    if !audit_log.exists() {
        return Ok(Vec::new());
    }
    Ok(crate::audit_log::read_records(audit_log)?)
}

/// The `reclaimed` emails due for the reclaims of the last [`messages::RECLAIMED_EMAIL_DAYS`].
fn reclaimed_due(
    records: &[AuditRecord],
    ledger: &Ledger,
    site: &str,
    settings: &Notify,
    now: DateTime<Utc>,
) -> (Vec<DueEmail>, usize) {
    let since = now - chrono::TimeDelta::days(messages::RECLAIMED_EMAIL_DAYS);
    let reclaims = messages::reclaims_since(records, since);
    messages::reclaimed_emails(&reclaims, site, ledger, settings)
}

fn accepted(emails: &[(DueEmail, Option<Delivery>)]) -> impl Iterator<Item = &DueEmail> {
    emails
        .iter()
        .filter(|(_, d)| d.as_ref().is_some_and(Delivery::is_accepted))
        .map(|(e, _)| e)
}

fn refused(emails: &[(DueEmail, Option<Delivery>)]) -> impl Iterator<Item = (&DueEmail, String)> {
    emails.iter().filter_map(|(e, d)| match d {
        Some(Delivery::Failed { error, .. }) => Some((e, error.clone())),
        _ => None,
    })
}

/// Sends messages and records each in the audit log.
struct Sender {
    mailer: Option<Mailer>,
    chat: Option<Chat>,
    audit_log: PathBuf,
    clock: Clock,
    plan_id: String,
    policy_commit: Option<String>,
    actor: String,
    runtime: tokio::runtime::Runtime,
}

impl Sender {
    /// Checks the settings and the secrets before anything is sent.
    fn new(
        settings: &Notify,
        source: &PolicySource,
        plan: &Plan,
        clock: Clock,
        ctx: &Context,
    ) -> Result<Self, CommandError> {
        let mailer = settings
            .email
            .as_ref()
            .map(|email| {
                let mut smtp = SmtpSettings::new(&email.smtp, &email.from);
                smtp.reply_to = email.reply_to.clone();
                smtp.username = ctx.notify.smtp_username.clone();
                smtp.password = ctx.notify.smtp_password.clone();
                let rate = settings.rate;
                let interval =
                    std::time::Duration::from_secs(u64::from(rate.seconds)) / rate.messages;
                Mailer::new(&smtp)
                    .map(|m| m.with_pacer(Pacer::every(interval)))
                    .map_err(|e| failed(format!("notify.email: {e}")))
            })
            .transpose()?;
        let chat = match (settings.digest, settings.chat) {
            (true, Some(format)) => {
                let url = ctx.notify.chat_webhook.clone().ok_or_else(|| {
                    failed(
                        "notify.digest posts to chat, but SEATKEEPER_CHAT_WEBHOOK_URL is not set",
                    )
                    .hint("set it to the incoming-webhook URL, or set `digest: false`")
                })?;
                Some(Chat::new(url, format).map_err(|e| failed(format!("notify.chat: {e}")))?)
            }
            _ => None,
        };
        Ok(Sender {
            mailer,
            chat,
            audit_log: source.audit_path()?,
            clock,
            plan_id: plan.id(),
            policy_commit: plan.policy_commit.clone(),
            actor: ctx.actor.clone().unwrap_or_else(|| "unknown".into()),
            runtime: super::session::runtime()?,
        })
    }

    fn record(&self, kind: AuditKind, key: &MessageKey, email: Option<&str>) -> AuditRecord {
        AuditRecord {
            time: self.clock.now(),
            kind,
            product: key.product.clone(),
            group: String::new(),
            group_id: String::new(),
            account_id: key.account_id.clone(),
            email: email.map(str::to_string),
            rule: key.kind.clone(),
            reason: String::new(),
            result: AuditResult::Ok,
            plan_id: self.plan_id.clone(),
            policy_commit: self.policy_commit.clone(),
            actor: self.actor.clone(),
            error: None,
            reclaim_on: Some(key.date),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    /// The `notified` line of a message: accepted with the server's reply, or failed with why.
    fn answered(&self, key: &MessageKey, to: Option<&str>, delivery: &Delivery) -> AuditRecord {
        let mut line = self.record(AuditKind::Notified, key, to);
        match delivery {
            Delivery::Accepted { reply } => line.reason = format!("accepted: {reply}"),
            Delivery::Failed { permanent, error } => {
                line.result = AuditResult::Failed;
                line.reason = if *permanent {
                    "refused"
                } else {
                    "not delivered"
                }
                .into();
                line.error = Some(error.clone());
            }
        }
        line
    }

    /// Under the audit log's lock: a `notifying` line, the send, a `notified` line, for each.
    fn lock(&self) -> Result<(ApplyLock, AuditWriter), CommandError> {
        let holder = Holder {
            pid: std::process::id(),
            host: host_name(),
            actor: self.actor.clone(),
            plan_id: format!("{} (notify)", self.plan_id),
            since: Utc::now(),
        };
        let lock = ApplyLock::acquire(&lock_path(&self.audit_log), &holder)
            .map_err(|e| CommandError::new(ErrorKind::Refused, e.to_string()))?;
        if let Some(dir) = self.audit_log.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Ok((lock, AuditWriter::open(&self.audit_log)?))
    }

    fn send_all(
        &self,
        due: Vec<DueEmail>,
        ctx: &mut Context,
    ) -> Result<Vec<(DueEmail, Option<Delivery>)>, CommandError> {
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let Some(mailer) = &self.mailer else {
            return Err(failed("emails are due, but `notify.email` is not set"));
        };
        let (_lock, mut audit) = self.lock()?;
        let total = due.len();
        let mut out = Vec::with_capacity(total);
        // Transient failures in a row: a server that is down costs each email its retries, so
        // the batch stops after a few; the rest are neither tried nor recorded, and the next run
        // sends them.
        let mut failing = 0;
        for email in due {
            if failing == FAILURES_IN_A_ROW {
                let last = refused(&out).last().map(|(_, why)| why).unwrap_or_default();
                return Err(CommandError::new(
                    ErrorKind::Partial,
                    format!(
                        "the mail server failed {FAILURES_IN_A_ROW} emails in a row (the last: \
                         {last}); stopped with {} of {total} emails not tried: they are sent by \
                         the next run, and their reclaims wait (rail `not-notified`)",
                        total - out.len()
                    ),
                ));
            }
            if ctx
                .deadline
                .is_some_and(|d| std::time::Instant::now() >= d.at)
            {
                let left = out.len();
                return Err(CommandError::new(
                    ErrorKind::Partial,
                    format!(
                        "stopped at the time limit after {left} email(s); the rest are sent by \
                         the next run"
                    ),
                ));
            }
            let to = Some(email.email.to.as_str());
            audit.append(&self.record(AuditKind::Notifying, &email.key, to))?;
            let delivery = self.runtime.block_on(mailer.send(&email.email));
            audit.append(&self.answered(&email.key, to, &delivery))?;
            // The email is the announcement: recorded as one, its date holds for every later
            // plan, as when `apply` records the plan's announcements.
            if delivery.is_accepted() && email.kind == MessageKind::ReclaimSoon {
                let mut announced = self.record(AuditKind::Announced, &email.key, to);
                announced.rule = crate::plan::Rule::Inactive.as_str().into();
                announced.reason = format!("announced by email to {}", email.email.to);
                audit.append(&announced)?;
            }
            let _ = writeln!(
                ctx.err,
                "{} {} ({}, {}): {}",
                if delivery.is_accepted() {
                    "sent"
                } else {
                    "FAILED"
                },
                email.email.to,
                email.key.product,
                email.kind,
                match &delivery {
                    Delivery::Accepted { reply } => reply.as_str(),
                    Delivery::Failed { error, .. } => error.as_str(),
                }
            );
            failing = match &delivery {
                Delivery::Failed {
                    permanent: false, ..
                } => failing + 1,
                _ => 0,
            };
            out.push((email, Some(delivery)));
        }
        Ok(out)
    }

    /// Posts `digest` once per `date` (the plan's time, or the apply's), recorded like an email.
    fn post_digest(
        &self,
        digest: &messages::Digest,
        date: DateTime<Utc>,
        ledger: &Ledger,
        ctx: &mut Context,
    ) -> Result<Option<Delivery>, CommandError> {
        let Some(chat) = &self.chat else {
            return Ok(None);
        };
        let key = MessageKey {
            kind: "digest".into(),
            account_id: String::new(),
            product: String::new(),
            date,
        };
        if matches!(ledger.message(&key), Some(MessageState::Sent(_))) {
            return Ok(None);
        }
        let (_lock, mut audit) = self.lock()?;
        audit.append(&self.record(AuditKind::Notifying, &key, None))?;
        let delivery = self.runtime.block_on(chat.post(digest));
        audit.append(&self.answered(&key, None, &delivery))?;
        let _ = writeln!(
            ctx.err,
            "digest to {} chat at {}: {}",
            chat.format().name(),
            chat.host(),
            if delivery.is_accepted() {
                "posted"
            } else {
                "FAILED"
            }
        );
        Ok(Some(delivery))
    }
}
