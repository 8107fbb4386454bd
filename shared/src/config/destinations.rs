//! Which addresses a stream may be sent to (docs/interface/streams.md
//! "Destinations"): link-local and cloud-metadata addresses never; loopback,
//! unspecified and private ones only with `[security] private_destinations
//! = "allow"` (the default on the sqlite backend, not on aws). One table,
//! used when a config is read (address literals) and when a request
//! connects (every resolved address: `crate::outbound::destination`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use super::model::{ConfigFile, PrivateDestinations, StorageBackend};

/// How a range is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Whatever the setting.
    Always,
    /// Unless `private_destinations = "allow"`.
    UnlessAllowed,
}

struct Range {
    network: IpAddr,
    prefix: u8,
    kind: &'static str,
    refusal: Refusal,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8, kind: &'static str, refusal: Refusal) -> Range {
    Range {
        network: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        prefix,
        kind,
        refusal,
    }
}

const fn v6(segments: [u16; 8], prefix: u8, kind: &'static str, refusal: Refusal) -> Range {
    let [a, b, c, d, e, f, g, h] = segments;
    Range {
        network: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
        prefix,
        kind,
        refusal,
    }
}

use Refusal::*;

/// The ranges of docs/interface/streams.md "Destinations", plus IPv6
/// link-local (`fe80::/10`), refused for the same reason as 169.254/16.
const RANGES: &[Range] = &[
    v4(169, 254, 0, 0, 16, "link-local (cloud metadata)", Always),
    v6(
        [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254],
        128,
        "cloud metadata",
        Always,
    ),
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local", Always),
    v4(127, 0, 0, 0, 8, "loopback", UnlessAllowed),
    v4(0, 0, 0, 0, 8, "unspecified", UnlessAllowed),
    v4(10, 0, 0, 0, 8, "private", UnlessAllowed),
    v4(172, 16, 0, 0, 12, "private", UnlessAllowed),
    v4(192, 168, 0, 0, 16, "private", UnlessAllowed),
    v4(
        100,
        64,
        0,
        0,
        10,
        "shared (carrier-grade NAT)",
        UnlessAllowed,
    ),
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback", UnlessAllowed),
    v6([0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified", UnlessAllowed),
    v6(
        [0xfc00, 0, 0, 0, 0, 0, 0, 0],
        7,
        "unique-local (private)",
        UnlessAllowed,
    ),
];

fn contains(range: &Range, ip: IpAddr) -> bool {
    match (range.network, ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(range.prefix))
                .unwrap_or(0);
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(range.prefix))
                .unwrap_or(0);
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

/// An IPv6 address carrying an IPv4 one counts as that IPv4 address:
/// IPv4-mapped `::ffff:a.b.c.d`, and the NAT64 prefix `64:ff9b::/96`,
/// through which a NAT64 gateway reaches the IPv4 address.
pub fn effective(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let [a, b, c, d, e, f, g, h] = v6.segments();
            if [a, b, c, d, e, f] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [g1, g2] = g.to_be_bytes();
                let [h1, h2] = h.to_be_bytes();
                return IpAddr::V4(Ipv4Addr::new(g1, g2, h1, h2));
            }
            ip
        }
        IpAddr::V4(_) => ip,
    }
}

/// How every refusal's message starts (logs and dead letters say it).
pub const REFUSED: &str = "destination refused";

/// A destination address a stream may not use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Refused {
    pub host: String,
    pub address: IpAddr,
    pub kind: &'static str,
    pub refusal: Refusal,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let address = self.address.to_string();
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        if host.parse::<IpAddr>().is_ok() {
            write!(f, "{REFUSED}: {address} is a {} address", self.kind)?;
        } else {
            write!(
                f,
                "{REFUSED}: {host} resolves to {address}, a {} address",
                self.kind
            )?;
        }
        match self.refusal {
            Always => f.write_str(", which streams may never reach"),
            UnlessAllowed => {
                f.write_str("; allowed only with [security] private_destinations = \"allow\"")
            }
        }
    }
}

/// [`PrivateDestinations::check_url`] for a URL as written in a config
/// (unparsable URLs are reported by the URL check itself).
pub fn check_configured(policy: PrivateDestinations, url: &str) -> Result<(), Refused> {
    match Url::parse(url) {
        Ok(url) => policy.check_url(&url),
        Err(_) => Ok(()),
    }
}

impl PrivateDestinations {
    /// Whether a stream may connect to `address` (reached by the name `host`).
    pub fn check(self, host: &str, address: IpAddr) -> Result<(), Refused> {
        let ip = effective(address);
        let Some(range) = RANGES.iter().find(|r| contains(r, ip)) else {
            return Ok(());
        };
        if range.refusal == UnlessAllowed && self == PrivateDestinations::Allow {
            return Ok(());
        }
        Err(Refused {
            host: host.to_owned(),
            address,
            kind: range.kind,
            refusal: range.refusal,
        })
    }

    /// The addresses a host names without any lookup: an address literal,
    /// or `localhost` (RFC 6761: always loopback). Other names are checked
    /// once resolved.
    pub fn check_literal(self, host: &Host<&str>) -> Result<(), Refused> {
        let shown = host.to_string();
        match host {
            Host::Ipv4(ip) => self.check(&shown, IpAddr::V4(*ip)),
            Host::Ipv6(ip) => self.check(&shown, IpAddr::V6(*ip)),
            Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    self.check(&shown, IpAddr::V4(Ipv4Addr::LOCALHOST))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// [`Self::check_literal`] for a URL's host (a URL without one passes:
    /// it cannot be sent at all).
    pub fn check_url(self, url: &Url) -> Result<(), Refused> {
        url.host().map_or(Ok(()), |host| self.check_literal(&host))
    }
}

impl ConfigFile {
    /// `[security] private_destinations`, or the backend's default: `allow`
    /// on sqlite (one machine, receivers often on it), `deny` on aws.
    pub fn private_destinations(&self) -> PrivateDestinations {
        self.security
            .private_destinations
            .unwrap_or(match self.storage.backend {
                StorageBackend::Sqlite => PrivateDestinations::Allow,
                StorageBackend::Aws => PrivateDestinations::Deny,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PrivateDestinations::{Allow, Deny};

    fn check(policy: PrivateDestinations, ip: &str) -> Result<(), Refused> {
        policy.check("h", ip.parse().unwrap())
    }

    #[test]
    fn the_interface_table() {
        let always = [
            "169.254.169.254",
            "169.254.0.1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ];
        for ip in always {
            for policy in [Allow, Deny] {
                let e = check(policy, ip).unwrap_err();
                assert_eq!(e.refusal, Always, "{ip}");
            }
        }
        let private = [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
        ];
        for ip in private {
            assert!(check(Allow, ip).is_ok(), "{ip}");
            assert_eq!(check(Deny, ip).unwrap_err().refusal, UnlessAllowed, "{ip}");
        }
        let public = [
            "93.184.216.34",
            "172.32.0.1",
            "172.15.255.255",
            "100.128.0.1",
            "169.255.0.1",
            "8.8.8.8",
            "2606:2800:220:1::",
            "::ffff:8.8.8.8",
            "fec0::1",
        ];
        for ip in public {
            assert!(check(Deny, ip).is_ok(), "{ip}");
        }
        // Next to the metadata address: unique-local, so private, not always refused.
        assert_eq!(
            check(Deny, "fd00:ec2::253").unwrap_err().refusal,
            UnlessAllowed
        );
    }

    #[test]
    fn refusals_say_why_and_what_to_change() {
        let e = check(Deny, "10.0.0.7").unwrap_err().to_string();
        assert_eq!(
            e,
            "destination refused: h resolves to 10.0.0.7, a private address; allowed only with [security] private_destinations = \"allow\""
        );
        let e = check(Allow, "169.254.169.254").unwrap_err().to_string();
        assert!(
            e.ends_with("a link-local (cloud metadata) address, which streams may never reach"),
            "{e}"
        );
        let literal = Deny.check("[::1]", "::1".parse().unwrap()).unwrap_err();
        assert!(
            literal
                .to_string()
                .starts_with("destination refused: ::1 is a loopback address;")
        );
    }

    #[test]
    fn literals_and_localhost_need_no_lookup() {
        let url = |h: &str| Url::parse(&format!("https://{h}/x")).unwrap();
        assert!(Deny.check_url(&url("localhost")).is_err());
        assert!(Deny.check_url(&url("api.localhost.")).is_err());
        assert!(Allow.check_url(&url("localhost:8080")).is_ok());
        assert!(Deny.check_url(&url("[::1]:9")).is_err());
        assert!(Deny.check_url(&url("[::ffff:7f00:1]")).is_err());
        assert!(Allow.check_url(&url("169.254.169.254")).is_err());
        assert!(Deny.check_url(&url("example.com")).is_ok());
    }
}
