//! Webhook URL rules and SSRF protection, as MLflow's `_validate_webhook_url` and
//! `webhooks/ssrf.py` have them:
//!
//! - the scheme must be in `MLFLOW_WEBHOOK_ALLOWED_SCHEMES` (default `https` only);
//! - the URL must name a host;
//! - unless `MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS` is true, every address the host resolves to
//!   must be public (Python's `ip.is_global`, with IPv4-mapped, 6to4 and NAT64 addresses
//!   judged by the IPv4 address they carry). Checked when a webhook is saved, again before
//!   each delivery, and once more by the HTTP client's resolver, so the address connected
//!   to is the address checked (no DNS-rebinding gap).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// MLflow gives up resolving a webhook host after this long.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Python's `repr()` of a string (MLflow's messages quote values that way).
pub use ferroflow_search::python_repr as py_repr;

/// The pieces of a URL that MLflow's checks read, split the way `urllib.parse.urlparse`
/// splits them (scheme lowercased; hostname lowercased, without brackets or port).
#[derive(Debug, PartialEq)]
pub struct UrlParts {
    pub scheme: String,
    pub hostname: Option<String>,
}

pub fn split_url(url: &str) -> Result<UrlParts, String> {
    let mut scheme = String::new();
    let mut rest = url;
    if let Some(i) = url.find(':') {
        let candidate = &url[..i];
        let valid = candidate
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && candidate
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if valid {
            scheme = candidate.to_ascii_lowercase();
            rest = &url[i + 1..];
        }
    }
    let Some(after) = rest.strip_prefix("//") else {
        return Ok(UrlParts {
            scheme,
            hostname: None,
        });
    };
    let netloc = &after[..after.find(['/', '?', '#']).unwrap_or(after.len())];
    if netloc.contains('[') != netloc.contains(']') {
        return Err("ValueError('Invalid IPv6 URL')".to_string());
    }
    let host_port = netloc.rsplit_once('@').map(|(_, h)| h).unwrap_or(netloc);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let hostname = Some(host.to_ascii_lowercase()).filter(|h| !h.is_empty());
    Ok(UrlParts { scheme, hostname })
}

/// Python 3.11's `ip.is_global` after unwrapping IPv4 carried inside IPv6 (MLflow's
/// `_is_public_ip`).
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Some(v4) => is_global_v4(v4),
            None => is_global_v6(v6),
        },
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    (u128::from(ip) & mask) == (u128::from(net) & mask)
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    const PRIVATE: [([u8; 4], u32); 15] = [
        ([0, 0, 0, 0], 8),
        ([10, 0, 0, 0], 8),
        ([127, 0, 0, 0], 8),
        ([169, 254, 0, 0], 16),
        ([172, 16, 0, 0], 12),
        ([192, 0, 0, 0], 29),
        ([192, 0, 0, 170], 31),
        ([192, 0, 2, 0], 24),
        ([192, 168, 0, 0], 16),
        ([198, 18, 0, 0], 15),
        ([198, 51, 100, 0], 24),
        ([203, 0, 113, 0], 24),
        ([240, 0, 0, 0], 4),
        ([255, 255, 255, 255], 32),
        // Shared address space (carrier-grade NAT): not private, not global either.
        ([100, 64, 0, 0], 10),
    ];
    !PRIVATE.iter().any(|(net, prefix)| in_v4(ip, *net, *prefix))
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let private: [(Ipv6Addr, u32); 10] = [
        (Ipv6Addr::LOCALHOST, 128),
        (Ipv6Addr::UNSPECIFIED, 128),
        (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96),
        (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),
        (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
        (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48),
        (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
        (Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28),
        (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
        (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
    ];
    !private.iter().any(|(net, prefix)| in_v6(ip, *net, *prefix))
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), 6to4 (`2002:AABB:CCDD::`)
/// or NAT64 (`64:ff9b::a.b.c.d`) address.
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    if in_v6(ip, Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96) {
        return Some(Ipv4Addr::from(bits as u32));
    }
    if in_v6(ip, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    if in_v6(ip, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        return Some(Ipv4Addr::from(bits as u32));
    }
    None
}

/// Every address of `hostname`, or MLflow's "Cannot resolve" message.
async fn resolve(hostname: &str) -> Result<Vec<SocketAddr>, String> {
    let cannot = |why: String| {
        format!(
            "Cannot resolve Webhook URL hostname {}: {why}",
            py_repr(hostname)
        )
    };
    match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((hostname, 0))).await {
        Err(_) => Err(format!(
            "Timed out resolving Webhook URL hostname {} after {} seconds",
            py_repr(hostname),
            RESOLVE_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => Err(cannot(e.to_string())),
        Ok(Ok(addrs)) => Ok(addrs.collect()),
    }
}

fn refuse_private(hostname: &str, addrs: &[SocketAddr]) -> Result<(), String> {
    match addrs.iter().find(|a| !is_public_ip(a.ip())) {
        Some(a) => Err(format!(
            "Webhook URL must not resolve to a non-public IP address. {} resolves to {}.",
            py_repr(hostname),
            a.ip()
        )),
        None => Ok(()),
    }
}

/// MLflow's `_validate_webhook_url`: the INVALID_PARAMETER_VALUE message when `url` may not
/// be used.
pub async fn validate_url(
    url: &str,
    allowed_schemes: &[String],
    allow_private_ips: bool,
) -> Result<(), String> {
    if url.trim().is_empty() {
        return Err(format!(
            "Webhook URL cannot be empty or just whitespace: {}",
            py_repr(url)
        ));
    }
    let parts = split_url(url).map_err(|e| format!("Invalid webhook URL {}: {e}", py_repr(url)))?;
    if !allowed_schemes.contains(&parts.scheme) {
        return Err(format!(
            "Invalid webhook URL scheme: {}. Allowed schemes are: {}.",
            py_repr(&parts.scheme),
            allowed_schemes.join(", ")
        ));
    }
    let Some(hostname) = parts.hostname else {
        return Err(format!(
            "Webhook URL must include a hostname: {}",
            py_repr(url)
        ));
    };
    // What the HTTP client will parse; refusing here keeps undeliverable URLs out.
    if let Err(e) = url::Url::parse(url) {
        return Err(format!("Invalid webhook URL {}: {e}", py_repr(url)));
    }
    if !allow_private_ips {
        let addrs = resolve(&hostname).await?;
        refuse_private(&hostname, &addrs)?;
    }
    Ok(())
}

/// Marks a delivery refused by the SSRF rules (never retried, like MLflow's
/// `SSRFProtectionError`).
#[derive(Debug)]
pub struct Blocked(pub String);

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Blocked {}

/// Whether `e` (or anything it wraps) is a [`Blocked`] refusal.
pub fn is_blocked(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<Blocked>().is_some() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// The delivery client's resolver: the addresses it hands to the connector are the ones it
/// checked.
pub struct GuardedResolver {
    pub allow_private_ips: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private_ips;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = match resolve(&host).await {
                Ok(a) => a,
                // With private targets allowed a lookup failure is an ordinary (retried)
                // connection error; otherwise MLflow fails before sending.
                Err(e) if allow => return Err(e.into()),
                Err(e) => {
                    return Err(Box::new(Blocked(e)) as Box<dyn std::error::Error + Send + Sync>)
                }
            };
            if !allow {
                refuse_private(&host, &addrs).map_err(|e| {
                    Box::new(Blocked(e)) as Box<dyn std::error::Error + Send + Sync>
                })?;
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Whether a redirect target may be followed: IP-literal hosts are checked here (the
/// resolver never sees them); names go through [`GuardedResolver`].
pub fn redirect_allowed(url: &url::Url, allow_private_ips: bool) -> Result<(), String> {
    if allow_private_ips {
        return Ok(());
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    if is_public_ip(ip) {
        Ok(())
    } else {
        Err(format!(
            "Webhook connection blocked: {ip} is not a public IP address."
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public_ip(s.parse().expect("ip"))
    }

    #[test]
    fn public_ips_follow_python_is_global() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2001:4860::1",
            "224.0.0.1",
            "192.0.0.9",
            "ff02::1",
            "fec0::1",
        ] {
            assert!(public(ip), "{ip} should be public");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "2002:a00::1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(!public(ip), "{ip} should not be public");
        }
        assert!(public("::ffff:8.8.8.8"));
        assert!(public("2002:808:808::1"));
    }

    #[test]
    fn urls_split_like_urlparse() {
        let p = split_url("HTTPS://user:pw@Example.COM:8443/x?y#z").expect("ok");
        assert_eq!(
            p,
            UrlParts {
                scheme: "https".into(),
                hostname: Some("example.com".into())
            }
        );
        assert_eq!(
            split_url("http://[::1]:80/x")
                .expect("ok")
                .hostname
                .as_deref(),
            Some("::1")
        );
        assert_eq!(split_url("http:///x").expect("ok").hostname, None);
        assert_eq!(split_url("http:x").expect("ok").hostname, None);
        assert_eq!(
            split_url("http://[::1/x"),
            Err("ValueError('Invalid IPv6 URL')".to_string())
        );
    }

    #[tokio::test]
    async fn validation_messages_match_mlflow() {
        let https = vec!["https".to_string()];
        let both = vec!["http".to_string(), "https".to_string()];
        let check = |r: Result<(), String>| r.err().unwrap_or_default();
        assert_eq!(
            check(validate_url(" ", &https, false).await),
            "Webhook URL cannot be empty or just whitespace: ' '"
        );
        assert_eq!(
            check(validate_url("ftp://127.0.0.1:9/hook", &both, true).await),
            "Invalid webhook URL scheme: 'ftp'. Allowed schemes are: http, https."
        );
        assert_eq!(
            check(validate_url("http://127.0.0.1/hook", &https, true).await),
            "Invalid webhook URL scheme: 'http'. Allowed schemes are: https."
        );
        assert_eq!(
            check(validate_url("http:///x", &both, true).await),
            "Webhook URL must include a hostname: 'http:///x'"
        );
        assert_eq!(
            check(validate_url("http://[::1/x", &both, true).await),
            "Invalid webhook URL 'http://[::1/x': ValueError('Invalid IPv6 URL')"
        );
        assert_eq!(
            check(validate_url("https://127.0.0.1:8080/hook", &https, false).await),
            "Webhook URL must not resolve to a non-public IP address. '127.0.0.1' resolves to 127.0.0.1."
        );
        assert!(
            check(validate_url("https://localhost/hook", &https, false).await)
                .contains("resolves to")
        );
        assert_eq!(
            validate_url("http://127.0.0.1:9/hook", &both, true).await,
            Ok(())
        );
    }

    #[test]
    fn repr_quotes_like_python() {
        assert_eq!(py_repr("abc"), "'abc'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a'\"b"), "'a\\'\"b'");
        assert_eq!(py_repr("x\ny"), "'x\\ny'");
    }
}
