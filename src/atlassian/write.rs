//! Membership writes and the re-reads `apply` needs: add and remove one account to or from one
//! group (admin v2 memberships when an admin key is configured, else Jira `group/user`), the
//! members of specific groups (for the stale-plan fingerprint), and the account behind the
//! credentials.
//!
//! Writes are idempotent by outcome: "already a member" and "not a member" are
//! [`Change::AlreadyDone`], so retrying a write whose first attempt may have reached the server
//! is safe. A synced group and a full license are typed errors and are never retried.

use super::client::{decode, Call, Client};
use super::error::{Api, ApiError};
use super::wire::{strings, AccountIdBody, GroupSearchRequest, Myself, UserSearchRequest};
use crate::plan::fingerprint_members;
use reqwest::Method;
use std::collections::{BTreeMap, BTreeSet};

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The membership changed.
    Done,
    /// It was already so: the account was (or was not) a member.
    AlreadyDone,
}

/// The code the spec's list gives a conflict (`ADMIN-UAM-409-2`, Resource Conflicts): what a
/// duplicate add answers, to be confirmed by a membership check.
pub const CONFLICT_CODE: &str = "ADMIN-UAM-409-2";
/// The code the spec's list gives a full license (`ADMIN-UAM-409-3`).
pub const LICENSE_CODE: &str = "ADMIN-UAM-409-3";

/// Add or remove, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
}

impl Client {
    /// Adds `account_id` to the group `group_id`.
    pub async fn add_member(&self, group_id: &str, account_id: &str) -> Result<Change, ApiError> {
        self.write(Op::Add, group_id, account_id).await
    }

    /// Removes `account_id` from the group `group_id`.
    pub async fn remove_member(
        &self,
        group_id: &str,
        account_id: &str,
    ) -> Result<Change, ApiError> {
        self.write(Op::Remove, group_id, account_id).await
    }

    async fn write(&self, op: Op, group_id: &str, account_id: &str) -> Result<Change, ApiError> {
        check_id("group id", group_id)?;
        check_id("account id", account_id)?;
        let call = if self.has_admin() {
            let org = self.admin_org()?;
            let dir = self.directory_of(&org, group_id).await?;
            let base = [
                "admin",
                "v2",
                "orgs",
                &org,
                "directories",
                &dir,
                "groups",
                group_id,
                "memberships",
            ];
            match op {
                Op::Add => Call::new(
                    Api::Admin,
                    Method::POST,
                    "POST /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/memberships",
                    &base,
                )
                .json(AccountIdBody {
                    account_id: account_id.to_string(),
                }),
                Op::Remove => {
                    let mut segs = base.to_vec();
                    segs.push(account_id);
                    Call::new(
                        Api::Admin,
                        Method::DELETE,
                        "DELETE /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/memberships/{accountId}",
                        &segs,
                    )
                }
            }
        } else {
            let segs = ["rest", "api", "3", "group", "user"];
            match op {
                Op::Add => Call::new(
                    Api::Site,
                    Method::POST,
                    "POST /rest/api/3/group/user",
                    &segs,
                )
                .query("groupId", group_id)
                .json(AccountIdBody {
                    account_id: account_id.to_string(),
                }),
                Op::Remove => Call::new(
                    Api::Site,
                    Method::DELETE,
                    "DELETE /rest/api/3/group/user",
                    &segs,
                )
                .query("groupId", group_id)
                .query("accountId", account_id),
            }
        };
        let started = std::time::Instant::now();
        let mut looked = 0u32;
        loop {
            let err = match self.call(&call).await {
                Ok(_) => return Ok(Change::Done),
                Err(err) => err,
            };
            if err.is_ambiguous() {
                // The answer was lost, not the write: look before writing again, so that a
                // write that landed is never sent twice.
                let wanted = op == Op::Add;
                match self.membership(group_id, account_id).await {
                    Ok(member) if member == wanted => return Ok(Change::Done),
                    Ok(_) if looked < self.config.retry.max_retries => {
                        self.back_off(looked).await;
                        looked += 1;
                        continue;
                    }
                    _ => {}
                }
                let err = match err {
                    ApiError::GaveUp { .. } => err,
                    _ if looked == 0 => err,
                    last => ApiError::GaveUp {
                        retries: looked,
                        elapsed: started.elapsed(),
                        last: Box::new(last),
                    },
                };
                return classify_write_error(op, group_id, err);
            }
            return match err {
                err if op == Op::Add && self.has_admin() && err.status() == Some(409) => {
                    self.add_conflict(group_id, account_id, err).await
                }
                err => classify_write_error(op, group_id, err),
            };
        }
    }

    /// Whether `account_id` is in the group `group_id` now, in one request: the admin users
    /// search filtered to both with an admin key, else Jira's `user/groups` of the account.
    /// Asked after a write whose answer was lost, before writing again or logging a failure.
    pub async fn membership(&self, group_id: &str, account_id: &str) -> Result<bool, ApiError> {
        check_id("group id", group_id)?;
        check_id("account id", account_id)?;
        if self.has_admin() {
            return self.is_member(group_id, account_id).await;
        }
        let call = Call::new(
            Api::Site,
            Method::GET,
            "GET /rest/api/3/user/groups",
            &["rest", "api", "3", "user", "groups"],
        )
        .query("accountId", account_id);
        let groups: Vec<super::wire::JiraGroup> = self.get_json(&call).await?;
        Ok(groups
            .iter()
            .any(|g| g.group_id.as_deref() == Some(group_id)))
    }

    /// A 409 on an admin add. The spec documents it for "already in the group" and for a full
    /// license, and its code list gives `ADMIN-UAM-409-3` to the license and
    /// `ADMIN-UAM-409-2` (Resource Conflicts) to conflicts. A 409-2 is "already done" only when
    /// one membership check (a users search filtered to the account and the group) finds the
    /// account in the group; any other code, or no membership, is an [`ApiError::Conflict`].
    async fn add_conflict(
        &self,
        group_id: &str,
        account_id: &str,
        err: ApiError,
    ) -> Result<Change, ApiError> {
        let (code, message) = match err.root() {
            ApiError::Status { code, message, .. } => (code.clone(), message.clone()),
            _ => return Err(err),
        };
        let conflict = |why: String| ApiError::Conflict {
            group_id: group_id.to_string(),
            code: code.clone(),
            message: format!("{message}; {why}"),
        };
        match code.as_deref() {
            Some(c) if c.eq_ignore_ascii_case(LICENSE_CODE) => {
                classify_write_error(Op::Add, group_id, err)
            }
            Some(c) if c.eq_ignore_ascii_case(CONFLICT_CODE) => {
                if self.is_member(group_id, account_id).await? {
                    Ok(Change::AlreadyDone)
                } else {
                    Err(conflict(format!(
                        "a membership check finds {account_id} is not in the group, so the \
                         conflict is not an earlier add"
                    )))
                }
            }
            other => Err(conflict(format!(
                "the code {} is not one the spec gives a duplicate add or a full license \
                 ({CONFLICT_CODE}, {LICENSE_CODE}), so adding {account_id} is not known to be \
                 done",
                other.map_or_else(|| "(none)".to_string(), |c| format!("`{c}`"))
            ))),
        }
    }

    /// Whether `account_id` is in the group: one users search filtered to both.
    async fn is_member(&self, group_id: &str, account_id: &str) -> Result<bool, ApiError> {
        let org = self.admin_org()?;
        let users = self
            .admin_users(
                &org,
                UserSearchRequest {
                    account_ids: strings(&[account_id]),
                    group_ids: strings(&[group_id]),
                    ..UserSearchRequest::default()
                },
                &[],
            )
            .await?;
        Ok(users.iter().any(|u| u.account_id == account_id))
    }

    fn admin_org(&self) -> Result<String, ApiError> {
        self.admin_org_id("admin membership writes")
            .map(str::to_string)
    }

    /// The directory of a group (admin writes address the group inside its directory): learned
    /// from earlier group listings; else the org's only directory seen in user listings; else one
    /// group search; else `-` (all directories the key can manage).
    async fn directory_of(&self, org: &str, group_id: &str) -> Result<String, ApiError> {
        if let Some(d) = self.cached_directory(group_id) {
            return Ok(d);
        }
        if let Some(d) = self.single_directory() {
            return Ok(d);
        }
        // One look-up at a time: writes waiting here find the answer in the cache.
        let _guard = self.directory_lookup.lock().await;
        if let Some(d) = self.cached_directory(group_id) {
            return Ok(d);
        }
        if self
            .group_search_unsupported
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Ok("-".to_string());
        }
        let filter = GroupSearchRequest {
            group_ids: strings(&[group_id]),
            ..GroupSearchRequest::default()
        };
        self.admin_group_search(org, filter).await?;
        Ok(self
            .cached_directory(group_id)
            .unwrap_or_else(|| "-".to_string()))
    }

    fn cached_directory(&self, group_id: &str) -> Option<String> {
        let dirs = self.directories.lock().unwrap_or_else(|e| e.into_inner());
        dirs.get(group_id).cloned()
    }

    /// The members of each group in `group_ids` (sorted account ids), read the same way
    /// [`Client::read_live`] reads them so that fingerprints compare. With an admin key this is
    /// one user listing filtered to the groups (it also tells the writes the org's directory);
    /// else `group/member` pages per group, concurrently.
    pub async fn group_members(
        &self,
        group_ids: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
        for g in group_ids {
            check_id("group id", g)?;
        }
        let ids: BTreeSet<&str> = group_ids.iter().map(String::as_str).collect();
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut out: BTreeMap<String, BTreeSet<String>> = ids
            .iter()
            .map(|g| (g.to_string(), BTreeSet::new()))
            .collect();
        if self.has_admin() {
            let org = self.admin_org()?;
            let ids: Vec<&str> = ids.iter().copied().collect();
            // One filtered listing per 10 groups (`groupIds` takes at most 10), side by side;
            // an unknown group id is a 404.
            let listings = ids.chunks(super::read::ADMIN_FILTER_MAX).map(|chunk| {
                let filter = UserSearchRequest {
                    group_ids: strings(chunk),
                    ..UserSearchRequest::default()
                };
                self.admin_users(&org, filter, &["groups"])
            });
            let users = futures_util::future::try_join_all(listings).await?;
            for u in users.into_iter().flatten() {
                for g in u.groups.unwrap_or_default() {
                    if let Some(set) = out.get_mut(&g.id) {
                        set.insert(u.account_id.clone());
                    }
                }
            }
        } else {
            let lists = futures_util::future::try_join_all(ids.iter().map(|g| async move {
                Ok::<_, ApiError>((*g, self.jira_group_members(g).await?))
            }))
            .await?;
            for (g, members) in lists {
                if let Some(set) = out.get_mut(g) {
                    set.extend(members.into_iter().map(|u| u.account_id));
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|(g, m)| (g, m.into_iter().collect()))
            .collect())
    }

    /// The fingerprint of each group's members ([`fingerprint_members`]), for the stale-plan
    /// check of `apply`.
    pub async fn fetch_groups_fingerprint(
        &self,
        group_ids: &[String],
    ) -> Result<BTreeMap<String, String>, ApiError> {
        Ok(self
            .group_members(group_ids)
            .await?
            .into_iter()
            .map(|(g, m)| (g, fingerprint_members(m.iter().map(String::as_str))))
            .collect())
    }

    /// The account id behind the site credentials (`GET /rest/api/3/myself`), for the planner's
    /// `self` rail; `None` when only an admin key is configured (it is not a user).
    pub async fn myself(&self) -> Result<Option<String>, ApiError> {
        if !self.has_site() {
            return Ok(None);
        }
        let call = Call::new(
            Api::Site,
            Method::GET,
            "GET /rest/api/3/myself",
            &["rest", "api", "3", "myself"],
        );
        let reply = self.call(&call).await?;
        let me: Myself = decode(call.endpoint, &reply.body)?;
        Ok(Some(me.account_id))
    }
}

/// Rejects ids that would change the request's path or query before anything is sent.
fn check_id(what: &str, id: &str) -> Result<(), ApiError> {
    if id.trim().is_empty() {
        return Err(ApiError::InvalidInput(format!("the {what} is empty")));
    }
    if id.len() > 256
        || id
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '?' || c == '#')
    {
        return Err(ApiError::InvalidInput(format!(
            "the {what} `{}` is not a valid id",
            id.escape_debug()
        )));
    }
    Ok(())
}

/// Turns a failed write into its outcome: already done, a synced group, a full license, or the
/// error itself.
fn classify_write_error(op: Op, group_id: &str, err: ApiError) -> Result<Change, ApiError> {
    let (status, code, message) = match err.root() {
        ApiError::Status {
            status,
            code,
            message,
            ..
        } => (*status, code.clone(), message.clone()),
        ApiError::NotFound { message, .. } => (404, None, message.clone()),
        ApiError::Forbidden { message, .. } => (403, None, message.clone()),
        _ => return Err(err),
    };
    let text = message.to_ascii_lowercase();
    let code_is = |c: &str| code.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(c));
    let license = text.contains("license limit")
        || text.contains("user limit")
        || (text.contains("license") && text.contains("full"));
    if code_is(LICENSE_CODE) || license {
        return Err(ApiError::LicenseLimit {
            group_id: group_id.to_string(),
            message,
        });
    }
    let synced = [
        "synced",
        "identity provider",
        "external user management",
        "externally managed",
        "scim",
    ];
    if matches!(status, 400 | 403 | 409) && synced.iter().any(|s| text.contains(s)) {
        return Err(ApiError::SyncedGroup {
            group_id: group_id.to_string(),
            message,
        });
    }
    let done = match op {
        // Jira answers a duplicate add with a 400 that says so (admin 409s are resolved with a
        // membership check before they get here).
        Op::Add => matches!(status, 400) && text.contains("already"),
        Op::Remove => {
            matches!(status, 400 | 404 | 409)
                && [
                    "not a member",
                    "not member",
                    "is not in",
                    "no membership",
                    "membership not found",
                    "not in the group",
                    "not in group",
                ]
                .iter()
                .any(|s| text.contains(s))
        }
    };
    if done {
        Ok(Change::AlreadyDone)
    } else {
        Err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, code: Option<&str>, message: &str) -> ApiError {
        ApiError::Status {
            endpoint: "e".into(),
            status,
            code: code.map(str::to_string),
            message: message.into(),
            retry_after: None,
        }
    }

    #[test]
    fn write_outcomes() {
        let c = |op, e| classify_write_error(op, "g1", e);
        assert_eq!(
            c(
                Op::Add,
                status(400, None, "User is already a member of 'jira-users'")
            )
            .unwrap(),
            Change::AlreadyDone
        );
        assert_eq!(
            c(
                Op::Remove,
                ApiError::NotFound {
                    endpoint: "e".into(),
                    message: "user is not a member of the group".into()
                }
            )
            .unwrap(),
            Change::AlreadyDone
        );
        assert!(matches!(
            c(
                Op::Remove,
                ApiError::NotFound {
                    endpoint: "e".into(),
                    message: "Group not found".into()
                }
            ),
            Err(ApiError::NotFound { .. })
        ));
        assert!(matches!(
            c(
                Op::Add,
                status(
                    409,
                    Some("ADMIN-UAM-409-3"),
                    "Product License Limit Exceeded"
                )
            ),
            Err(ApiError::LicenseLimit { .. })
        ));
        assert!(matches!(
            c(
                Op::Add,
                status(
                    400,
                    None,
                    "Cannot edit group memberships, as external user management is enabled"
                )
            ),
            Err(ApiError::SyncedGroup { .. })
        ));
        assert!(matches!(
            c(Op::Add, status(500, None, "boom")),
            Err(ApiError::Status { status: 500, .. })
        ));
    }

    #[test]
    fn bad_ids_never_reach_the_network() {
        assert!(check_id("group id", "").is_err());
        assert!(check_id("group id", "a/../b").is_err());
        assert!(check_id("account id", "5b10ac8d82e05b22cc7d4ef5").is_ok());
        assert!(check_id("group id", "3571b9a7-348f-414a-9087-8e1ea03a7df8").is_ok());
    }
}
