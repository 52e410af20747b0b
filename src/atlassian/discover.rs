//! Discovering what an org bills, for `seatkeeper init`: which products live on which site,
//! and which groups grant each of them. Only the admin API can say this: a group grants a
//! product when one of its role assignments gives a role with access (`atlassian/user`,
//! `atlassian/admin`) on the product's site ARI.

use super::read::same_product;
use super::wire::{grants_access, strings, GroupSearchRequest, SiteAri};
use super::{ApiError, Client};
use futures_util::future::try_join_all;
use std::collections::BTreeMap;

/// One product on one site, and the groups that grant it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredProduct {
    /// The product key as a policy names it (`jira-software`, `confluence`, ...).
    pub key: String,
    /// The cloud id of the product's site.
    pub cloud_id: String,
    /// Names of the groups that grant it, sorted case-insensitively.
    pub groups: Vec<String>,
}

/// What discovery found: the products per site, and what it could not place.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Every product found, by site then key.
    pub products: Vec<DiscoveredProduct>,
    /// Role assignments on product keys seatkeeper does not manage (`(key, group name)`).
    pub unmanaged: Vec<(String, String)>,
}

impl Discovery {
    /// The cloud ids that have at least one product, sorted.
    pub fn sites(&self) -> Vec<&str> {
        let mut sites: Vec<&str> = self.products.iter().map(|p| p.cloud_id.as_str()).collect();
        sites.sort_unstable();
        sites.dedup();
        sites
    }
}

/// The policy key of an admin `resourceOwner`, when it is one a policy can declare.
pub fn policy_product_key(owner: &str) -> Option<&'static str> {
    crate::policy::validate::ATLASSIAN_PRODUCT_KEYS
        .iter()
        .copied()
        .filter(|k| *k != "jira-service-desk")
        .find(|k| same_product(owner, k))
}

impl Client {
    /// Finds every group of the org that grants a product, and what it grants where: one group
    /// search filtered on the roles that give access, then each found group's role assignments,
    /// side by side. Needs the admin API key and the org id.
    pub async fn discover_products(&self) -> Result<Discovery, ApiError> {
        let org = self.org_id()?.to_string();
        let org = org.as_str();
        let filter = GroupSearchRequest {
            role_ids: strings(&["atlassian/user", "atlassian/admin"]),
            ..GroupSearchRequest::default()
        };
        let Some(groups) = self.admin_group_search(org, filter).await? else {
            return Err(ApiError::Decode {
                endpoint: "POST /admin/v2/orgs/{orgId}/directories/-/groups/search".into(),
                message: "the org's group search is not served (404): seatkeeper cannot tell \
                          which groups grant products"
                    .into(),
            });
        };
        let listings = groups.iter().map(|g| async move {
            let roles = self.group_role_assignments(org, &g.id).await?;
            Ok::<_, ApiError>((g.name.clone(), roles))
        });
        let mut by_product: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        let mut unmanaged = Vec::new();
        for (group, roles) in try_join_all(listings).await? {
            for a in roles {
                if !a.roles.iter().any(|r| grants_access(r)) {
                    continue;
                }
                let owner = a.resource_owner.as_deref().unwrap_or_default();
                let (Some(key), Some(resource)) = (policy_product_key(owner), &a.resource_id)
                else {
                    unmanaged.push((owner.to_string(), group.clone()));
                    continue;
                };
                let site = SiteAri::parse(resource).map_err(|m| ApiError::Decode {
                    endpoint: super::read::GROUP_ROLES_ENDPOINT.into(),
                    message: format!("group {group}: {m}"),
                })?;
                let names = by_product
                    .entry((site.cloud_id, key.to_string()))
                    .or_default();
                if !names.contains(&group) {
                    names.push(group.clone());
                }
            }
        }
        unmanaged.sort();
        unmanaged.dedup();
        let products = by_product
            .into_iter()
            .map(|((cloud_id, key), mut groups)| {
                groups.sort_by_key(|g| g.to_lowercase());
                DiscoveredProduct {
                    key,
                    cloud_id,
                    groups,
                }
            })
            .collect();
        Ok(Discovery {
            products,
            unmanaged,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_owners_map_to_policy_keys() {
        assert_eq!(policy_product_key("jira-software"), Some("jira-software"));
        assert_eq!(policy_product_key("Confluence"), Some("confluence"));
        assert_eq!(
            policy_product_key("jira-service-management"),
            Some("jira-servicedesk")
        );
        assert_eq!(policy_product_key("loom"), None);
        assert_eq!(policy_product_key(""), None);
    }
}
