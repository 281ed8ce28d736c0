//! A node's address as others dial it: `host:port`, where the host is a
//! name or an IP address (IPv6 in brackets: `[::1]:7001`).
//!
//! Contract: parsing checks the syntax only, so a cluster file naming
//! machines that are not up yet still loads; a name is resolved when it is
//! used (a node binds its own at start, links resolve their peer's at every
//! connection attempt, so a machine that comes back with another IP is
//! found again).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Address {
    text: String,
    port: u16,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{text:?} is not host:port ({why})")]
pub struct AddressError {
    text: String,
    why: &'static str,
}

impl Address {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host part: a name, or an IP address (without brackets).
    pub fn host(&self) -> &str {
        let host = &self.text[..self.text.len() - self.port.to_string().len() - 1];
        host.trim_start_matches('[').trim_end_matches(']')
    }

    /// The address now: a name is looked up (the first answer is taken).
    pub async fn resolve(&self) -> std::io::Result<SocketAddr> {
        tokio::net::lookup_host(self.as_str())
            .await?
            .next()
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{} resolves to no address", self.host()),
                )
            })
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, AddressError> {
        let bad = |why| AddressError {
            text: text.to_string(),
            why,
        };
        let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| bad("the port is not a number below 65536"))?;
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if let Some(inner) = host.strip_prefix('[') {
            let ip = inner
                .strip_suffix(']')
                .ok_or_else(|| bad("an unclosed ["))?;
            ip.parse::<std::net::Ipv6Addr>()
                .map_err(|_| bad("not an IPv6 address in the brackets"))?;
        } else if host.contains(':') {
            return Err(bad("an IPv6 address goes in brackets, as [::1]:7001"));
        } else if host.parse::<IpAddr>().is_err() {
            // A DNS name: letters, digits, hyphens, dots, underscores.
            let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
            if host.len() > 253 || !host.chars().all(name_char) {
                return Err(bad("the host is neither an IP address nor a DNS name"));
            }
        }
        Ok(Address {
            text: text.to_string(),
            port,
        })
    }
}

impl TryFrom<String> for Address {
    type Error = AddressError;
    fn try_from(text: String) -> Result<Self, AddressError> {
        text.parse()
    }
}

impl From<Address> for String {
    fn from(a: Address) -> String {
        a.text
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Self {
        Address {
            text: addr.to_string(),
            port: addr.port(),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// For blocking code (tests, tools): `std::net::TcpStream::connect(&address)`.
impl std::net::ToSocketAddrs for Address {
    type Iter = std::vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> std::io::Result<Self::Iter> {
        self.text.to_socket_addrs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_parse_and_nonsense_does_not() {
        for ok in [
            "127.0.0.1:7001",
            "localhost:7003",
            "db-1.example.org:1",
            "[::1]:7001",
        ] {
            let a: Address = ok.parse().unwrap();
            assert_eq!(a.to_string(), ok);
        }
        let a: Address = "[::1]:7001".parse().unwrap();
        assert_eq!((a.host(), a.port()), ("::1", 7001));
        let a: Address = "localhost:7003".parse().unwrap();
        assert_eq!((a.host(), a.port()), ("localhost", 7003));
        for bad in [
            "localhost",
            ":7001",
            "host:70000",
            "host:x",
            "::1:7001",
            "[::1:7001",
            "a b:1",
            "[x]:1",
        ] {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_name_resolves_when_used() {
        let a: Address = "localhost:7003".parse().unwrap();
        let addr = a.resolve().await.unwrap();
        assert!(addr.ip().is_loopback() && addr.port() == 7003, "{addr}");
        let nowhere: Address = "no-such-host.invalid:1".parse().unwrap();
        assert!(nowhere.resolve().await.is_err());
    }
}
