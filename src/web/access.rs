//! Who may use the relay: the names it answers to (against DNS rebinding), HTTP Basic
//! auth on every route (`--auth`, with a lock-out after repeated wrong passwords), a
//! read-only switch (`--read-only`), and which web pages may change the camera
//! (same origin, or `--allow-origin`). `routes` applies it before any route runs.

use crate::formats::digest::{constant_time_eq, md5_hex};
use crate::http::{Request, Response, Status};
use crate::sync::Locked;
use crate::web::forwarded::{Forwarded, Node, ProxyHeaders};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A client that sent this many wrong passwords within [`FAILURE_WINDOW`] ...
pub const MAX_LOGIN_FAILURES: u32 = 10;
/// ... is answered 429 for this long, without its password being checked.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered for failed logins at most; a flood of addresses cannot grow it.
const MAX_TRACKED_ADDRESSES: usize = 4096;

/// Who may use the relay, and from which web pages and under which names.
#[derive(Clone, Default)]
pub struct Access {
    /// `--auth USER:PASS`: HTTP Basic auth on every route.
    pub basic_auth: Option<(String, String)>,
    /// `--read-only`: every POST route answers 403.
    pub read_only: bool,
    /// `--allow-origin ORIGIN`: CORS for that origin, which may also change the camera.
    pub allow_origin: Option<String>,
    /// `--allow-host NAME` (repeatable): host names the relay answers to beside IP
    /// literals, `localhost` and this computer's own names. `*` turns the check off.
    pub allow_hosts: Vec<String>,
    /// `--trust-proxy ADDR` (repeatable, an IP or CIDR): proxies whose forwarding
    /// headers are believed. From any other peer they are ignored.
    pub trust_proxy: Vec<Net>,
    /// `--proxy-headers`: the forwarding headers those proxies write; the other family
    /// is the client's and is never read.
    pub proxy_headers: ProxyHeaders,
    /// Recent failed logins per client address (state, not configuration).
    pub failures: LoginFailures,
}

/// An IP address or a network of them (`192.168.0.0/24`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    pub fn parse(s: &str) -> Result<Net, String> {
        let bad = || {
            format!("--trust-proxy takes an IP address or a network like 10.0.0.0/8 (got '{s}')")
        };
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let most = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => most,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= most)
                .ok_or_else(bad)?,
        };
        Ok(Net { addr, prefix })
    }

    /// Wider than a /24 (IPv4) or a /64 (IPv6): likely to hold clients as well as the
    /// proxy, and a client inside a trusted range is believed about itself.
    pub fn is_wide(&self) -> bool {
        self.prefix < if self.addr.is_ipv4() { 24 } else { 64 }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| -> (u128, u8) {
            match ip {
                IpAddr::V4(v4) => (u32::from(v4).into(), 32),
                IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => (u32::from(v4).into(), 32),
                    None => (u128::from(v6), 128),
                },
            }
        };
        let ((net, width), (ip, ip_width)) = (bits(self.addr), bits(ip));
        if width != ip_width {
            return false;
        }
        let keep = u32::from(self.prefix.min(width));
        let shift = u32::from(width) - keep;
        keep == 0 || (net >> shift) == (ip >> shift)
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A request as it was made: by which client, to which public scheme and host. Behind
/// a trusted proxy these come from its forwarding headers; else from the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The client's address, or what the proxy wrote for it (an obfuscated name).
    pub client: Node,
    pub scheme: String,
    pub host: Option<String>,
    /// Host names the trusted proxy forwarded, each checked like `Host`.
    pub forwarded_hosts: Vec<String>,
}

/// Recent failed logins per client, shared by every clone of an [`Access`].
#[derive(Clone, Default)]
pub struct LoginFailures(Arc<Mutex<HashMap<Node, Failures>>>);

#[derive(Debug, Clone, Copy)]
struct Failures {
    window_start: Instant,
    count: u32,
    locked_until: Option<Instant>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The viewer password is never printed.
        f.debug_struct("Access")
            .field("basic_auth", &self.basic_auth.as_ref().map(|(u, _)| u))
            .field("read_only", &self.read_only)
            .field("allow_origin", &self.allow_origin)
            .field("allow_hosts", &self.allow_hosts)
            .field("trust_proxy", &self.trust_proxy)
            .field("proxy_headers", &self.proxy_headers)
            .finish()
    }
}

impl Access {
    fn trusted(&self, ip: IpAddr) -> bool {
        self.trust_proxy.iter().any(|net| net.contains(ip))
    }

    /// Who made `req`, to which scheme and host (see [`Seen`]).
    pub fn seen(&self, req: &Request) -> Seen {
        let direct = Seen {
            client: Node::Ip(req.peer.ip()),
            scheme: "http".into(),
            host: req.header("host").map(str::to_string),
            forwarded_hosts: Vec::new(),
        };
        if !self.trusted(req.peer.ip()) {
            return direct;
        }
        let forwarded = Forwarded::of(&req.headers, self.proxy_headers);
        // Walking from the right, past our own proxies only: the first node they did not
        // add is the client as the first of them saw it (anything to its left the client
        // could have written). A node that is no address stops the walk: it is the
        // client, as far as anyone can know.
        let client = forwarded
            .chain
            .iter()
            .rev()
            .find(|node| !matches!(node, Node::Ip(ip) if self.trusted(*ip)))
            .or(forwarded.chain.first())
            .cloned()
            .unwrap_or(direct.client);
        Seen {
            client,
            scheme: forwarded.scheme.unwrap_or(direct.scheme),
            host: forwarded.hosts.last().cloned().or(direct.host),
            forwarded_hosts: forwarded.hosts,
        }
    }

    /// A request under a name the relay does not answer to: a DNS rebinding page (a
    /// site whose name now points at this computer) reading the camera. `None` to go on.
    pub fn refuse_host(&self, req: &Request) -> Option<Response> {
        if self.allow_hosts.iter().any(|h| h == "*") {
            return None;
        }
        // Host and every name a proxy forwarded must each be one the relay answers to: a
        // forwarded name the client wrote itself can narrow what Host allows, never widen it.
        // (An HTTP/1.0 request may come without Host; the server refuses HTTP/1.1 ones.)
        let seen = self.seen(req);
        let names = req.header("host").into_iter().map(host_name);
        let name = names
            .chain(seen.forwarded_hosts.iter().map(|h| host_name(h)))
            .find(|name| !self.answers_to(name))?;
        Some(Response::error(
            Status::MISDIRECTED,
            format!(
                "This relay does not answer to the name {name}. If that is a name of this computer, start the relay with --allow-host {name}."
            ),
        ))
    }

    /// Whether the relay answers to host `name` (no port, lower case).
    fn answers_to(&self, name: &str) -> bool {
        name.parse::<IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || machine_names().iter().any(|m| m == name)
            || self
                .allow_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name))
    }

    /// 429 for a client locked out after too many wrong passwords, 401 without the right
    /// ones; `None` to go on.
    pub fn refuse_login(&self, req: &Request) -> Option<Response> {
        self.basic_auth.as_ref()?;
        let ip = self.seen(req).client;
        let now = Instant::now();
        let locked_until = self.lock_failures().get(&ip).and_then(|f| f.locked_until);
        if let Some(until) = locked_until
            && now < until
        {
            {
                let wait = (until - now).as_secs() + 1;
                return Some(
                    Response::error(
                        Status::TOO_MANY_REQUESTS,
                        format!("Too many wrong passwords from {ip}; try again in {wait} s."),
                    )
                    .with_header("Retry-After", wait.to_string()),
                );
            }
        }
        if self.admits(req) {
            return None;
        }
        if req.header("authorization").is_some() {
            self.count_failure(ip, now);
        }
        Some(
            Response::error(
                Status::UNAUTHORIZED,
                "This relay needs a user name and password.",
            )
            .with_header(
                "WWW-Authenticate",
                "Basic realm=\"oscstream\", charset=\"UTF-8\"",
            ),
        )
    }

    fn lock_failures(&self) -> std::sync::MutexGuard<'_, HashMap<Node, Failures>> {
        self.failures.0.locked()
    }

    fn count_failure(&self, ip: Node, now: Instant) {
        let mut failures = self.lock_failures();
        if failures.len() >= MAX_TRACKED_ADDRESSES {
            failures.retain(|_, f| {
                now < f.window_start + FAILURE_WINDOW || f.locked_until.is_some_and(|u| now < u)
            });
            if failures.len() >= MAX_TRACKED_ADDRESSES {
                failures.clear();
            }
        }
        let f = failures.entry(ip).or_insert(Failures {
            window_start: now,
            count: 0,
            locked_until: None,
        });
        if now >= f.window_start + FAILURE_WINDOW {
            *f = Failures {
                window_start: now,
                count: 0,
                locked_until: None,
            };
        }
        f.count += 1;
        if f.count >= MAX_LOGIN_FAILURES {
            f.locked_until = Some(now + FAILURE_WINDOW);
        }
    }

    /// A request that would change the camera, sent by a web page from another site
    /// (a form, or a `no-cors` fetch): 403. Requests without `Origin` (curl, scripts,
    /// home automation) and the relay's own page pass.
    pub fn refuse_cross_site(&self, req: &Request) -> Option<Response> {
        let seen = self.seen(req);
        let own = seen.host.as_ref().map(|h| format!("{}://{h}", seen.scheme));
        let refuse = |origin: Option<&str>| {
            // The relay's own page under another address: a proxy we were not told of.
            let same_name = origin
                .and_then(|o| o.split_once("://"))
                .zip(seen.host.as_deref())
                .is_some_and(|((_, o), h)| host_name(o) == host_name(h));
            let forwarded = req.header("x-forwarded-for").is_some()
                || req.header("x-forwarded-host").is_some()
                || req.header("forwarded").is_some();
            let sentence = if same_name || forwarded {
                format!(
                    "This page's address ({}) is not the relay's own ({}): behind a proxy? Start the relay with --trust-proxy PROXY_ADDR.",
                    origin.unwrap_or("unknown"),
                    own.as_deref().unwrap_or("unknown")
                )
            } else {
                "A web page from another site may not change the camera. To allow one, start the relay with --allow-origin ORIGIN.".to_string()
            };
            Some(Response::error(Status::FORBIDDEN, sentence))
        };
        if req
            .header("sec-fetch-site")
            .is_some_and(|s| s.eq_ignore_ascii_case("cross-site"))
            && req
                .header("origin")
                .is_none_or(|o| !self.is_allowed_origin(o))
        {
            return refuse(req.header("origin"));
        }
        let origin = req.header("origin")?;
        if own
            .as_deref()
            .is_some_and(|own| origin.eq_ignore_ascii_case(own))
            || self.is_allowed_origin(origin)
        {
            return None;
        }
        refuse(Some(origin))
    }

    fn is_allowed_origin(&self, origin: &str) -> bool {
        self.allow_origin
            .as_deref()
            .is_some_and(|allowed| origin.eq_ignore_ascii_case(allowed.trim_end_matches('/')))
    }

    /// Whether the request carries the right Basic credentials. The comparison takes
    /// the same time however much of the password is right.
    pub fn admits(&self, req: &Request) -> bool {
        let Some((user, pass)) = &self.basic_auth else {
            return true;
        };
        let given = req
            .header("authorization")
            .and_then(|h| {
                let (scheme, rest) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("basic").then_some(rest)
            })
            .and_then(|b64| base64_decode(b64.trim()))
            .unwrap_or_default();
        let expected = format!("{user}:{pass}");
        // Hashing first makes the compared lengths equal, so the length leaks nothing either.
        constant_time_eq(
            md5_hex(&String::from_utf8_lossy(&given)).as_bytes(),
            md5_hex(&expected).as_bytes(),
        )
    }
}

/// The name in a `Host` header: no port, no brackets around an IPv6 literal, lower
/// case, no trailing dot.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// This computer's own names: its host name, with and without domain, and `.local`.
fn machine_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let full = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap_or_default()
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let short = full.split('.').next().unwrap_or_default().to_string();
        let mut names = vec![full.clone(), short.clone(), format!("{short}.local")];
        names.retain(|n| !n.is_empty() && n != ".local");
        names.dedup();
        names
    })
}

/// Decodes standard base64 (as in a Basic auth header); `None` for anything malformed.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let text = text.trim_end_matches('=').as_bytes();
    if text.len() % 4 == 1 || text.len() > 4096 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_basic_credentials() {
        assert_eq!(base64_decode("dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert_eq!(base64_decode("not base64!"), None);
    }

    fn request(peer: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method: crate::http::Method::Post,
            path: "/api/picture".into(),
            query: None,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
            peer: peer.parse().unwrap(),
            keep_alive: false,
        }
    }

    #[test]
    fn networks_contain_their_addresses() {
        let lan = Net::parse("192.168.0.0/24").unwrap();
        assert!(lan.contains("192.168.0.77".parse().unwrap()));
        assert!(!lan.contains("192.168.1.1".parse().unwrap()));
        assert!(
            lan.contains("::ffff:192.168.0.9".parse().unwrap()),
            "IPv4-mapped"
        );
        assert!(Net::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(Net::parse("10.0.0.0/33").is_err());
        assert!(Net::parse("proxy").is_err());
    }

    fn client(access: &Access, peer: &str, headers: &[(&str, &str)]) -> Node {
        access.seen(&request(peer, headers)).client
    }

    fn ip(s: &str) -> Node {
        Node::Ip(s.parse().unwrap())
    }

    #[test]
    fn forwarding_headers_count_only_from_a_trusted_proxy() {
        let access = Access {
            trust_proxy: vec![Net::parse("10.0.0.1").unwrap()],
            ..Access::default()
        };
        let forged = [
            ("X-Forwarded-For", "6.6.6.6, 192.0.2.60"),
            ("Host", "relay"),
        ];
        assert_eq!(client(&access, "10.0.0.1:4000", &forged), ip("192.0.2.60"));
        assert_eq!(client(&access, "10.0.0.9:4000", &forged), ip("10.0.0.9"));
        // The client's own lines come first; the proxy's line, appended, is believed.
        let two_lines = [
            ("X-Forwarded-For", "10.9.0.7"),
            ("X-Forwarded-For", "127.0.0.8"),
        ];
        assert_eq!(
            client(&access, "10.0.0.1:4000", &two_lines),
            ip("127.0.0.8")
        );
        // A node that is no address stops the walk: it is the client as far as we know.
        let hidden = [("X-Forwarded-For", "forged, unknown")];
        assert_eq!(
            client(&access, "10.0.0.1:4000", &hidden),
            Node::Named("unknown".into())
        );
        // With the default family, a Forwarded header is the client's and is not read.
        let rfc_forged = [
            ("Forwarded", "for=6.6.6.6"),
            ("X-Forwarded-For", "192.0.2.60"),
        ];
        assert_eq!(
            client(&access, "10.0.0.1:4000", &rfc_forged),
            ip("192.0.2.60")
        );
    }

    #[test]
    fn a_proxy_that_writes_forwarded_is_read_from_forwarded_only() {
        let access = Access {
            trust_proxy: vec![Net::parse("10.0.0.0/30").unwrap()],
            proxy_headers: ProxyHeaders::Forwarded,
            ..Access::default()
        };
        let rfc = [
            ("X-Forwarded-For", "6.6.6.6"),
            (
                "Forwarded",
                "for=forged, for=\"[2001:db8::1]:4711\";proto=https;host=theta.home",
            ),
            ("Forwarded", "for=10.0.0.2"),
            ("Host", "relay"),
        ];
        let seen = access.seen(&request("10.0.0.1:4000", &rfc));
        assert_eq!(seen.client, ip("2001:db8::1"));
        assert_eq!(
            (seen.scheme.as_str(), seen.host.as_deref()),
            ("https", Some("theta.home"))
        );
        let obfuscated = [("Forwarded", "for=_hidden, for=_real")];
        assert_eq!(
            client(&access, "10.0.0.1:4000", &obfuscated),
            Node::Named("_real".into())
        );
    }

    #[test]
    fn a_forwarded_host_narrows_the_host_check_and_never_widens_it() {
        let access = Access {
            trust_proxy: vec![Net::parse("127.0.0.1").unwrap()],
            ..Access::default()
        };
        let rebinding = [("Host", "evil.example"), ("X-Forwarded-Host", "127.0.0.1")];
        assert!(
            access
                .refuse_host(&request("127.0.0.1:4000", &rebinding))
                .is_some()
        );
        let forged = [("Host", "127.0.0.1"), ("X-Forwarded-Host", "evil.example")];
        assert!(
            access
                .refuse_host(&request("127.0.0.1:4000", &forged))
                .is_some()
        );
        let fine = [
            ("Host", "127.0.0.1:5000"),
            ("X-Forwarded-Host", "localhost"),
        ];
        assert!(
            access
                .refuse_host(&request("127.0.0.1:4000", &fine))
                .is_none()
        );
    }

    #[test]
    fn wide_trusted_ranges_are_said() {
        assert!(Net::parse("127.0.0.0/8").unwrap().is_wide());
        assert!(!Net::parse("10.0.0.0/24").unwrap().is_wide());
        assert!(!Net::parse("127.0.0.1").unwrap().is_wide());
        assert!(Net::parse("fd00::/48").unwrap().is_wide());
    }

    #[test]
    fn the_own_page_behind_an_unknown_proxy_is_told_what_to_do() {
        let access = Access::default();
        let behind = request(
            "127.0.0.1:4000",
            &[
                ("Host", "theta.home"),
                ("Origin", "https://theta.home"),
                ("X-Forwarded-For", "192.0.2.60"),
            ],
        );
        let refused = access.refuse_cross_site(&behind).unwrap();
        let crate::http::Body::Bytes(body) = &refused.body else {
            panic!()
        };
        assert!(String::from_utf8_lossy(body).contains("--trust-proxy PROXY_ADDR"));
    }
}
