//! Credentials and where they are sent. [`Secret`] wraps every token and key so that `Debug` and
//! `Display` print `***`; [`Credentials::resolve`] turns the environment-like values the CLI
//! collected ([`CredentialSource`]) into the base URLs and auth of the site and admin APIs, and
//! refuses plain `http://` to anything but a loopback host. [`Credentials::resolve_for_discovery`]
//! takes the admin API key alone, before any org id is known, to list the orgs it manages.

use reqwest::Url;
use std::fmt;

/// A credential value. `Debug` and `Display` print `***`; only [`Secret::expose`] reveals it,
/// and only the code that builds an `Authorization` header calls that.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The raw values the CLI read from the environment (`ATLASSIAN_EMAIL`, `ATLASSIAN_API_TOKEN`,
/// `ATLASSIAN_ADMIN_API_KEY`, `SEATKEEPER_API_BASE`). Empty strings count as unset.
#[derive(Debug, Clone, Default)]
pub struct CredentialSource {
    /// `ATLASSIAN_EMAIL`: the account email for site APIs (Basic auth).
    pub email: Option<String>,
    /// `ATLASSIAN_API_TOKEN`: the API token for site APIs (Basic auth).
    pub api_token: Option<Secret>,
    /// `ATLASSIAN_ADMIN_API_KEY`: the org admin API key (Bearer).
    pub admin_api_key: Option<Secret>,
    /// `SEATKEEPER_API_BASE`: send both APIs to this base URL (a sandbox).
    pub api_base: Option<String>,
}

/// Site (Jira) credentials: HTTP Basic with email and API token.
#[derive(Debug, Clone)]
pub struct SiteAuth {
    /// The account email.
    pub email: String,
    /// The API token.
    pub token: Secret,
}

/// Org admin credentials: a Bearer API key, for one organization once its id is known.
#[derive(Debug, Clone)]
pub struct AdminAuth {
    /// The organization id (from the policy's `org:`). `None` only in credentials from
    /// [`Credentials::resolve_for_discovery`], which can list the key's orgs and nothing else.
    pub org_id: Option<String>,
    /// The admin API key.
    pub key: Secret,
}

impl CredentialSource {
    /// A redactor for every credential here, in every encoding it travels in.
    pub fn redactor(&self) -> crate::redact::Redactor {
        self.redactor_with(std::iter::empty())
    }

    /// [`CredentialSource::redactor`], hiding the `other` secrets too (SMTP credentials, a
    /// webhook URL).
    pub fn redactor_with<'a>(
        &'a self,
        other: impl Iterator<Item = &'a str>,
    ) -> crate::redact::Redactor {
        let token = self.api_token.as_ref().map(|t| {
            let token = t.expose();
            // A token copied with its newline is sent trimmed: redact both forms.
            (token.trim(), self.email.as_deref().map(str::trim))
        });
        let key = self
            .admin_api_key
            .as_ref()
            .map(|k| (k.expose().trim(), None));
        let other = other.map(|secret| (secret, None));
        crate::redact::Redactor::new(token.into_iter().chain(key).chain(other))
    }
}

/// Resolved credentials and endpoints. `Debug` never shows a secret.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// Base URL of the site APIs (`https://acme.atlassian.net`).
    pub site_base: Url,
    /// Base URL of the admin APIs (`https://api.atlassian.com`).
    pub admin_base: Url,
    /// Site credentials, when email and token are set.
    pub site: Option<SiteAuth>,
    /// Admin credentials, when the key is set and the policy names an org (or, from
    /// [`Credentials::resolve_for_discovery`], the key alone).
    pub admin: Option<AdminAuth>,
    /// Whether both bases come from `SEATKEEPER_API_BASE` (a sandbox or a proxy), for messages.
    pub via_api_base: bool,
}

/// Why credentials could not be resolved. Raised before any request is made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("no Atlassian credentials: set ATLASSIAN_EMAIL and ATLASSIAN_API_TOKEN (site API), or ATLASSIAN_ADMIN_API_KEY with `org:` in the policy (admin API)")]
    Missing,
    #[error("no admin API key: set ATLASSIAN_ADMIN_API_KEY to an organization admin API key (Atlassian Administration > Settings > API keys) to look up the orgs it manages")]
    MissingAdminKey,
    #[error("ATLASSIAN_API_TOKEN is set but ATLASSIAN_EMAIL is not: site API tokens are used together with the email of their account")]
    MissingEmail,
    #[error("ATLASSIAN_EMAIL is set but ATLASSIAN_API_TOKEN is not: create a token at https://id.atlassian.com/manage-profile/security/api-tokens")]
    MissingToken,
    #[error("`{value}` is not a valid {what} URL: {reason}")]
    InvalidUrl {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("refusing to send the site API token to `{site}`: the policy's `site` must be an Atlassian Cloud site (`*.atlassian.net` or `*.jira.com`); point SEATKEEPER_API_BASE at a sandbox to use another host")]
    UntrustedSite { site: String },
    #[error("refusing to send credentials over plain http:// to `{host}`: use https://, or http:// only to a loopback host (127.0.0.1, ::1, localhost)")]
    InsecureUrl { host: String },
}

/// The admin API host used when `SEATKEEPER_API_BASE` is unset.
pub const DEFAULT_ADMIN_BASE: &str = "https://api.atlassian.com";

impl Credentials {
    /// Resolves the credentials for `site` (like `acme.atlassian.net`) and the policy's `org`.
    ///
    /// With `api_base` set both APIs go there; otherwise Jira goes to `https://<site>` and the
    /// admin API to `https://api.atlassian.com`. An admin key without an org id is ignored (the
    /// admin API needs the org id in every path).
    pub fn resolve(
        site: &str,
        org: Option<&str>,
        source: CredentialSource,
    ) -> Result<Self, CredentialsError> {
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let email = nonempty(source.email);
        let token = source.api_token.filter(|s| !s.expose().trim().is_empty());
        let key = source
            .admin_api_key
            .filter(|s| !s.expose().trim().is_empty());
        let base = nonempty(source.api_base);

        let site_auth = match (email, token) {
            (Some(email), Some(token)) => Some(SiteAuth {
                email: email.trim().to_string(),
                token,
            }),
            (None, Some(_)) => return Err(CredentialsError::MissingEmail),
            (Some(_), None) => return Err(CredentialsError::MissingToken),
            (None, None) => None,
        };
        let admin_auth = match (key, org.map(str::trim).filter(|o| !o.is_empty())) {
            (Some(key), Some(org_id)) => Some(AdminAuth {
                org_id: Some(org_id.to_string()),
                key,
            }),
            _ => None,
        };
        if site_auth.is_none() && admin_auth.is_none() {
            return Err(CredentialsError::Missing);
        }

        let via_api_base = base.is_some();
        let (site_base, admin_base) = match base {
            Some(base) => {
                let url = parse_base("SEATKEEPER_API_BASE", &base)?;
                (url.clone(), url)
            }
            None => {
                // The policy names the site, and a pull request can change the policy: never
                // send the token to a host that is not Atlassian Cloud.
                let host = site.trim();
                let host = host.split_once("://").map_or(host, |(_, rest)| rest);
                let host = host.trim_end_matches('/');
                let trusted = [".atlassian.net", ".jira.com"].iter().any(|suffix| {
                    host.ends_with(suffix)
                        && host.len() > suffix.len()
                        && !host.contains(['/', '@', ':'])
                });
                if site_auth.is_some() && !trusted {
                    return Err(CredentialsError::UntrustedSite {
                        site: site.to_string(),
                    });
                }
                let site_url = if site.contains("://") {
                    site.to_string()
                } else {
                    format!("https://{}", site.trim())
                };
                (
                    parse_base("site", &site_url)?,
                    parse_base("admin API", DEFAULT_ADMIN_BASE)?,
                )
            }
        };
        Ok(Self {
            site_base,
            admin_base,
            site: site_auth,
            admin: admin_auth,
            via_api_base,
        })
    }

    /// Admin credentials from the API key alone, before the org id is known: enough to list
    /// the orgs the key manages ([`crate::atlassian::Client::org_ids`]) and nothing else (every other admin path names the org, and
    /// says so when it is missing). The site credentials of `source` are not used. The admin API is `SEATKEEPER_API_BASE` when set, else
    /// `https://api.atlassian.com`, with the same refusal of plain `http://` to a remote host.
    pub fn resolve_for_discovery(source: CredentialSource) -> Result<Self, CredentialsError> {
        let key = source
            .admin_api_key
            .filter(|s| !s.expose().trim().is_empty())
            .ok_or(CredentialsError::MissingAdminKey)?;
        let base = source.api_base.filter(|b| !b.trim().is_empty());
        let via_api_base = base.is_some();
        let admin_base = match base {
            Some(base) => parse_base("SEATKEEPER_API_BASE", &base)?,
            None => parse_base("admin API", DEFAULT_ADMIN_BASE)?,
        };
        Ok(Self {
            // No site is known; with no site credentials nothing is ever sent there.
            site_base: admin_base.clone(),
            admin_base,
            site: None,
            admin: Some(AdminAuth { org_id: None, key }),
            via_api_base,
        })
    }
}

/// Parses a base URL and checks it is safe to send credentials to.
pub fn parse_base(what: &'static str, value: &str) -> Result<Url, CredentialsError> {
    let invalid = |reason: &str| CredentialsError::InvalidUrl {
        what,
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let url = Url::parse(value.trim()).map_err(|e| invalid(&e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        // Never echo the URL back: it carries a credential.
        return Err(CredentialsError::InvalidUrl {
            what,
            value: "<redacted>".to_string(),
            reason: "credentials must not be written into the URL; use the environment variables"
                .to_string(),
        });
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a base URL has no query or fragment"));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("the URL has no host"))?;
    match url.scheme() {
        "https" => {}
        "http" => {
            if !is_loopback_host(host) {
                return Err(CredentialsError::InsecureUrl {
                    host: host.to_string(),
                });
            }
        }
        other => return Err(invalid(&format!("unsupported scheme `{other}`"))),
    }
    Ok(url)
}

/// Whether `SEATKEEPER_API_BASE` (`base`) points at this machine (`127.0.0.0/8`, `::1`,
/// `localhost`): a local sandbox, not Atlassian Cloud. `None` (unset: Atlassian Cloud), a URL
/// that does not parse, or any other host is not.
pub fn is_loopback_base(base: Option<&str>) -> bool {
    base.and_then(|b| Url::parse(b.trim()).ok())
        .and_then(|u| u.host_str().map(is_loopback_host))
        .unwrap_or(false)
}

/// Whether `host` (as in a URL, IPv6 in brackets) is the local machine: 127.0.0.0/8, `::1`
/// and `localhost`. Traffic to it never leaves the machine, the one place plain-text transport
/// (`http://`, `smtp://` without STARTTLS) is allowed.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(email: &str, token: &str, key: &str, base: &str) -> CredentialSource {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        CredentialSource {
            email: opt(email),
            api_token: opt(token).map(Secret::new),
            admin_api_key: opt(key).map(Secret::new),
            api_base: opt(base),
        }
    }

    #[test]
    fn secret_never_formats() {
        let s = Secret::new("hunter2-token");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        let c = Credentials::resolve(
            "acme.atlassian.net",
            Some("org-1"),
            src("a@acme.com", "hunter2-token", "admin-key-XYZ", ""),
        )
        .unwrap();
        let dbg = format!("{c:?} {:?}", src("a", "hunter2-token", "admin-key-XYZ", ""));
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(!dbg.contains("admin-key-XYZ"), "{dbg}");
    }

    #[test]
    fn default_bases() {
        let c = Credentials::resolve("acme.atlassian.net", Some("o"), src("a@b.c", "t", "k", ""))
            .unwrap();
        assert_eq!(c.site_base.as_str(), "https://acme.atlassian.net/");
        assert_eq!(c.admin_base.as_str(), "https://api.atlassian.com/");
        assert_eq!(c.admin.unwrap().org_id.as_deref(), Some("o"));
    }

    #[test]
    fn the_token_only_goes_to_atlassian_cloud_sites() {
        for site in [
            "acme.atlassian.net",
            "https://acme.atlassian.net/",
            "legacy.jira.com",
        ] {
            assert!(
                Credentials::resolve(site, None, src("a@b.c", "t", "", "")).is_ok(),
                "{site}"
            );
        }
        for site in [
            "attacker.example",
            "atlassian.net",
            "acme.atlassian.net.evil.io",
            "x@evil.io/.atlassian.net",
        ] {
            let err = Credentials::resolve(site, None, src("a@b.c", "t", "", "")).unwrap_err();
            assert!(
                matches!(err, CredentialsError::UntrustedSite { .. }),
                "{site}: {err}"
            );
        }
    }

    #[test]
    fn api_base_overrides_both() {
        let c = Credentials::resolve(
            "acme.atlassian.net",
            None,
            src("a@b.c", "t", "", "http://127.0.0.1:8080"),
        )
        .unwrap();
        assert_eq!(c.site_base, c.admin_base);
        assert_eq!(c.site_base.as_str(), "http://127.0.0.1:8080/");
        assert!(c.admin.is_none());
        for ok in [
            "http://localhost:1",
            "http://[::1]:9",
            "http://LOCALHOST",
            "https://example.com",
        ] {
            assert!(
                Credentials::resolve("s", None, src("a", "t", "", ok)).is_ok(),
                "{ok}"
            );
        }
    }

    #[test]
    fn loopback_bases_are_local_sandboxes() {
        for local in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://[::1]:9000/",
            "http://localhost:1",
            "https://LOCALHOST",
        ] {
            assert!(is_loopback_base(Some(local)), "{local}");
        }
        for remote in [
            None,
            Some("https://api.atlassian.com"),
            Some("https://localhost.evil.com"),
            Some("http://0.0.0.0:8080"),
            Some("http://10.0.0.1"),
            Some("not a url"),
            Some(""),
        ] {
            assert!(!is_loopback_base(remote), "{remote:?}");
        }
    }

    #[test]
    fn refuses_plain_http_to_remote_hosts() {
        for bad in [
            "http://example.com",
            "http://10.0.0.1:80",
            "http://localhost.evil.com",
        ] {
            let err = Credentials::resolve("s", None, src("a", "t", "", bad)).unwrap_err();
            assert!(
                matches!(err, CredentialsError::InsecureUrl { .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("refusing"), "{err}");
        }
        let err = Credentials::resolve("http://acme.atlassian.net", None, src("a", "t", "", ""))
            .unwrap_err();
        assert!(
            matches!(err, CredentialsError::InsecureUrl { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn url_with_userinfo_is_refused_without_echo() {
        let err = Credentials::resolve("s", None, src("a", "t", "", "https://u:pw-secret@h.io"))
            .unwrap_err();
        assert!(!err.to_string().contains("pw-secret"), "{err}");
    }

    #[test]
    fn missing_pieces_are_named() {
        assert_eq!(
            Credentials::resolve("s", None, src("", "", "", "")).unwrap_err(),
            CredentialsError::Missing
        );
        assert_eq!(
            Credentials::resolve("s", None, src("", "t", "", "")).unwrap_err(),
            CredentialsError::MissingEmail
        );
        assert_eq!(
            Credentials::resolve("s", None, src("a", "", "", "")).unwrap_err(),
            CredentialsError::MissingToken
        );
        // An admin key without an org id is not usable on its own.
        assert_eq!(
            Credentials::resolve("s", None, src("", "", "k", "")).unwrap_err(),
            CredentialsError::Missing
        );
        assert!(Credentials::resolve("s", Some("org"), src("", "", "k", "")).is_ok());
    }

    #[test]
    fn discovery_needs_only_the_admin_key() {
        let c = Credentials::resolve_for_discovery(src("a@b.c", "t", "k", "")).unwrap();
        assert_eq!(c.admin_base.as_str(), "https://api.atlassian.com/");
        assert!(c.site.is_none(), "site credentials are not used");
        let admin = c.admin.expect("admin");
        assert_eq!((admin.key.expose(), admin.org_id), ("k", None));
        let local =
            Credentials::resolve_for_discovery(src("", "", "k", "http://127.0.0.1:9")).unwrap();
        assert_eq!(local.admin_base.as_str(), "http://127.0.0.1:9/");
        for missing in [src("a@b.c", "t", "", ""), src("", "", "  ", "")] {
            assert_eq!(
                Credentials::resolve_for_discovery(missing).unwrap_err(),
                CredentialsError::MissingAdminKey
            );
        }
        let err =
            Credentials::resolve_for_discovery(src("", "", "k", "http://example.com")).unwrap_err();
        assert!(
            matches!(err, CredentialsError::InsecureUrl { .. }),
            "{err:?}"
        );
    }
}
