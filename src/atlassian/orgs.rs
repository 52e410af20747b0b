//! The organizations an admin API key manages (`GET /admin/v1/orgs`, getOrgs in Atlassian's
//! Organizations API): how seatkeeper learns the org id from the key alone, before a policy
//! names it ([`Credentials::resolve_for_discovery`](super::Credentials::resolve_for_discovery)).

use super::client::{Call, Client};
use super::error::{Api, ApiError};
use super::paging::CursorPager;
use super::wire::AdminOrg;
use reqwest::Method;

/// The endpoint, for pacing and messages.
const ORGS_ENDPOINT: &str = "GET /admin/v1/orgs";

/// An organization the admin API key manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgSummary {
    /// The org id (what a policy's `org:` names).
    pub id: String,
    /// Its name (`OrgModel.attributes.name`), when the answer gives one.
    pub name: Option<String>,
}

impl Client {
    /// The organizations the admin API key manages, in the order the API lists them
    /// (`GET /admin/v1/orgs`, every page: `links.next` is followed by its `cursor`). Needs the
    /// admin key only, not an org id. Paged and paced like the other admin reads: one cursor
    /// chain through the shared pager, the endpoint's `X-RateLimit-*` budget, 429s and
    /// transient failures retried. An org listed twice is kept once; an entry without an id
    /// fails the read, naming the endpoint.
    pub async fn org_ids(&self) -> Result<Vec<OrgSummary>, ApiError> {
        if self.creds.admin.is_none() {
            return Err(ApiError::MissingCredential {
                operation: "listing the orgs of an admin API key",
                needs: "ATLASSIAN_ADMIN_API_KEY",
            });
        }
        let mut pages = CursorPager::<AdminOrg, _>::new(self, |cursor| {
            let call = Call::new(
                Api::Admin,
                Method::GET,
                ORGS_ENDPOINT,
                &["admin", "v1", "orgs"],
            );
            match cursor {
                Some(c) => call.query("cursor", c),
                None => call,
            }
        });
        let mut out: Vec<OrgSummary> = Vec::new();
        while let Some(page) = pages.next_page().await? {
            for org in page {
                let id = org.id.trim();
                if id.is_empty() {
                    return Err(ApiError::Decode {
                        endpoint: ORGS_ENDPOINT.to_string(),
                        message: "an organization without an id".to_string(),
                    });
                }
                if out.iter().any(|o| o.id == id) {
                    continue;
                }
                out.push(OrgSummary {
                    id: id.to_string(),
                    name: org
                        .attributes
                        .and_then(|a| a.name)
                        .filter(|n| !n.trim().is_empty()),
                });
            }
        }
        Ok(out)
    }
}
