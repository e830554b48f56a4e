//! Where the router under test listens, parsed from `--url`.
//!
//! Owns: [`Target`] and its parsing and display. Never: connects (see `conn`).

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

/// The default `--url`.
pub(crate) const DEFAULT_URL: &str = "rs://127.0.0.1:8080";

/// How to reach the router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// RawSocket over TCP.
    RawTcp {
        /// The resolved address.
        addr: SocketAddr,
    },
    /// RawSocket over a Unix domain socket.
    RawUnix {
        /// The socket path.
        path: PathBuf,
    },
    /// WebSocket over TCP.
    WebSocket {
        /// The resolved address.
        addr: SocketAddr,
        /// The `Host` header (`host:port` as written).
        host: String,
        /// The request path, `/` at least.
        path: String,
    },
}

/// Parses `rs://HOST:PORT`, `rs+unix:///PATH` or `ws://HOST:PORT[/PATH]`.
pub(crate) fn parse(url: &str) -> Result<Target, String> {
    if let Some(path) = url.strip_prefix("rs+unix://") {
        if !path.starts_with('/') {
            return Err(format!("invalid --url {url}: expected rs+unix:///absolute/path"));
        }
        return Ok(Target::RawUnix { path: PathBuf::from(path) });
    }
    if let Some(rest) = url.strip_prefix("rs://") {
        if rest.contains('/') {
            return Err(format!("invalid --url {url}: RawSocket URLs have no path"));
        }
        return Ok(Target::RawTcp { addr: resolve(url, rest)? });
    }
    if let Some(rest) = url.strip_prefix("ws://") {
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        return Ok(Target::WebSocket { addr: resolve(url, host)?, host: host.to_owned(), path: path.to_owned() });
    }
    Err(format!("invalid --url {url}: expected rs://HOST:PORT, rs+unix:///PATH or ws://HOST:PORT/PATH"))
}

fn resolve(url: &str, host_port: &str) -> Result<SocketAddr, String> {
    let (host, port) = host_port.rsplit_once(':').ok_or_else(|| format!("invalid --url {url}: missing :PORT"))?;
    let port: u16 = port.parse().map_err(|_| format!("invalid --url {url}: bad port '{port}'"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("invalid --url {url}: missing host"));
    }
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("invalid --url {url}: cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("invalid --url {url}: {host} has no address"))
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::RawTcp { addr } => write!(f, "rs://{addr}"),
            Target::RawUnix { path } => write!(f, "rs+unix://{}", path.display()),
            Target::WebSocket { addr, path, .. } => write!(f, "ws://{addr}{path}"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn rawsocket_tcp_url_resolves() {
        let t = parse("rs://127.0.0.1:8080").unwrap();
        assert_eq!(t, Target::RawTcp { addr: "127.0.0.1:8080".parse().unwrap() });
        assert_eq!(t.to_string(), "rs://127.0.0.1:8080");
        assert!(matches!(parse("rs://localhost:9").unwrap(), Target::RawTcp { .. }));
        assert!(matches!(parse("rs://[::1]:9").unwrap(), Target::RawTcp { addr } if addr.is_ipv6()));
    }

    #[test]
    fn unix_url_keeps_the_absolute_path() {
        assert_eq!(parse("rs+unix:///tmp/r.sock").unwrap(), Target::RawUnix { path: "/tmp/r.sock".into() });
        assert!(parse("rs+unix://tmp/r.sock").is_err());
    }

    #[test]
    fn websocket_url_has_host_header_and_path() {
        let t = parse("ws://127.0.0.1:8080/ws/x").unwrap();
        assert_eq!(
            t,
            Target::WebSocket {
                addr: "127.0.0.1:8080".parse().unwrap(),
                host: "127.0.0.1:8080".into(),
                path: "/ws/x".into()
            }
        );
        let Target::WebSocket { path, .. } = parse("ws://127.0.0.1:1").unwrap() else { panic!() };
        assert_eq!(path, "/");
    }

    #[test]
    fn bad_urls_are_explained() {
        for bad in ["http://x:1", "rs://127.0.0.1", "rs://127.0.0.1:http", "rs://:80", "rs://1.2.3.4:5/p", "ws://"] {
            let err = parse(bad).unwrap_err();
            assert!(err.starts_with("invalid --url"), "{bad}: {err}");
        }
    }
}
