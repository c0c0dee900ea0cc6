//! Where egress may physically go. Host names are resolved by the host, and every address is checked
//! before a connection is made: loopback, private, link-local (cloud metadata), shared and other
//! non-public ranges are refused unless the operator allows a range. An allowed name that resolves to
//! such an address is refused too, so DNS cannot smuggle a plugin into the shop's network.

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// The operator's rules for destination addresses.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    /// Non-public ranges the operator allows anyway (e.g. `127.0.0.1/32` for tests and the demo).
    allowed: Vec<IpNet>,
    /// Static name → address overrides, consulted before DNS.
    hosts: HashMap<String, IpAddr>,
}

/// A refused destination address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressDenied {
    pub host: String,
    pub address: IpAddr,
    pub range: &'static str,
}

impl fmt::Display for AddressDenied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host == self.address.to_string() {
            write!(
                f,
                "address {} is {}, which the operator does not allow",
                self.address, self.range
            )
        } else {
            write!(
                f,
                "{} resolved to {} ({}), which the operator does not allow",
                self.host, self.address, self.range
            )
        }
    }
}

impl std::error::Error for AddressDenied {}

impl AddressPolicy {
    pub fn new(allowed: Vec<IpNet>, hosts: HashMap<String, IpAddr>) -> Self {
        AddressPolicy { allowed, hosts }
    }

    /// `Ok` if `address` may be connected to on behalf of a plugin.
    pub fn check(&self, host: &str, address: IpAddr) -> Result<(), AddressDenied> {
        let address = canonical(address);
        match non_public_range(address) {
            Some(range) if !self.allowed.iter().any(|net| net.contains(&address)) => {
                Err(AddressDenied {
                    host: host.to_string(),
                    address,
                    range,
                })
            }
            _ => Ok(()),
        }
    }

    /// Resolves `host` (static overrides first, then DNS) and keeps only allowed addresses; if none
    /// is allowed, the first refusal is the error.
    pub async fn resolve(
        &self,
        host: &str,
    ) -> Result<Vec<IpAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let found: Vec<IpAddr> = match self.hosts.get(&host.to_ascii_lowercase()) {
            Some(address) => vec![*address],
            None => tokio::net::lookup_host((host, 0))
                .await?
                .map(|a| a.ip())
                .collect(),
        };
        let mut first_denial = None;
        let allowed: Vec<IpAddr> = found
            .into_iter()
            .filter(|ip| match self.check(host, *ip) {
                Ok(()) => true,
                Err(denied) => {
                    first_denial.get_or_insert(denied);
                    false
                }
            })
            .collect();
        match (allowed.is_empty(), first_denial) {
            (true, Some(denied)) => Err(Box::new(denied)),
            (true, None) => Err(format!("{host} did not resolve to any address").into()),
            _ => Ok(allowed),
        }
    }
}

/// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// The kind of non-public range `address` is in, if any.
pub fn non_public_range(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => v4_range(v4),
        IpAddr::V6(v6) => v6_range(v6),
    }
}

fn v4_range(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("a private range")
    } else if ip.is_link_local() {
        Some("link-local, where cloud metadata services live")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared carrier-grade NAT space")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("multicast, broadcast or reserved")
    } else if ip.is_documentation() || (a == 198 && (b == 18 || b == 19)) || (a == 192 && b == 0) {
        Some("reserved for documentation, benchmarks or protocols")
    } else {
        None
    }
}

fn v6_range(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private range (unique local)")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        Some("reserved for documentation")
    } else {
        None
    }
}

/// reqwest's resolver for plugin egress: every new connection's addresses pass the policy.
pub struct PolicyResolver(pub Arc<AddressPolicy>);

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let addresses = policy.resolve(name.as_str()).await?;
            let addrs: Addrs = Box::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_public_ranges_are_refused_by_default() {
        let policy = AddressPolicy::default();
        for address in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(
                policy.check("h", ip(address)).is_err(),
                "{address} should be refused"
            );
        }
        for address in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(
                policy.check("h", ip(address)).is_ok(),
                "{address} should be allowed"
            );
        }
    }

    #[test]
    fn the_operator_can_allow_a_range() {
        let policy = AddressPolicy::new(vec!["127.0.0.1/32".parse().unwrap()], HashMap::new());
        assert!(policy.check("h", ip("127.0.0.1")).is_ok());
        assert!(policy.check("h", ip("127.0.0.2")).is_err());
        let err = policy.check("crm.test", ip("10.0.0.1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "crm.test resolved to 10.0.0.1 (a private range), which the operator does not allow"
        );
    }

    #[tokio::test]
    async fn static_hosts_are_resolved_and_checked() {
        let policy = AddressPolicy::new(
            vec![],
            HashMap::from([("crm.test".to_string(), ip("10.9.9.9"))]),
        );
        let err = policy.resolve("crm.test").await.unwrap_err();
        assert!(
            err.to_string().contains("crm.test resolved to 10.9.9.9"),
            "{err}"
        );
    }
}
