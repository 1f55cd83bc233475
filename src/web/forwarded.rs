//! What a proxy's forwarding headers say, parsed into types: the chain of nodes a request
//! passed (client first), the public scheme and the public host names.
//!
//! Only one family is read, the one the deployment says its proxy writes
//! ([`ProxyHeaders`]): `X-Forwarded-For/-Proto/-Host` (nginx recipes, Caddy, HAProxy's
//! `option forwardfor`) or RFC 7239 `Forwarded`. The other family is whatever the client
//! wrote, passed on by a proxy that does not touch it, and is never looked at. Every line
//! of a header counts, in order (RFC 9110 §5.3: lines of a list header are one list), so
//! a proxy that appends its own line after the client's is read right. Nothing here
//! decides whom to believe: `access` walks the chain from the right.

use std::net::IpAddr;

/// Which forwarding headers the trusted proxy writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyHeaders {
    /// `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host`.
    #[default]
    XForwarded,
    /// RFC 7239 `Forwarded: for=...;proto=...;host=...`.
    Forwarded,
}

impl ProxyHeaders {
    pub fn parse(s: &str) -> Result<ProxyHeaders, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "x-forwarded" | "x-forwarded-for" => Ok(ProxyHeaders::XForwarded),
            "forwarded" => Ok(ProxyHeaders::Forwarded),
            _ => Err(format!(
                "--proxy-headers takes x-forwarded (X-Forwarded-For/-Proto/-Host) or forwarded (RFC 7239), not '{s}'"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProxyHeaders::XForwarded => "x-forwarded",
            ProxyHeaders::Forwarded => "forwarded",
        }
    }
}

/// One node of the chain: an address, or what stands for one (`unknown`, an obfuscated
/// identifier like `_hidden`, or anything that does not parse).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Node {
    Ip(IpAddr),
    Named(String),
}

/// The longest identifier kept for a node that is not an address.
const MAX_NAME_CHARS: usize = 64;

impl Node {
    fn of(text: &str) -> Node {
        match address(text) {
            Some(ip) => Node::Ip(ip),
            None => Node::Named(text.chars().take(MAX_NAME_CHARS).collect()),
        }
    }
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Node::Ip(ip) => ip.fmt(f),
            Node::Named(name) => write!(f, "{name:?}"),
        }
    }
}

/// What the forwarding headers of one family say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forwarded {
    /// The client, then each proxy, left to right.
    pub chain: Vec<Node>,
    /// The public scheme the last proxy names (`http` or `https`).
    pub scheme: Option<String>,
    /// Every public host name given, left to right (the last is the proxy's own).
    pub hosts: Vec<String>,
}

/// Every line of header `name` joined into one list, in order.
fn combined<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| split_outside_quotes(v, ','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect()
}

/// `text` split at `separator`, except inside a quoted string.
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// An RFC 7230 quoted-string's content, or the token as it is.
fn unquoted(value: &str) -> String {
    let value = value.trim();
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut escaped = false;
            for c in inner.chars() {
                if !escaped && c == '\\' {
                    escaped = true;
                } else {
                    out.push(c);
                    escaped = false;
                }
            }
            out
        }
        None => value.to_string(),
    }
}

fn is_scheme(s: &str) -> bool {
    s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https")
}

impl Forwarded {
    /// What `headers` say in the `family` the proxy writes.
    pub fn of(headers: &[(String, String)], family: ProxyHeaders) -> Forwarded {
        match family {
            ProxyHeaders::XForwarded => Forwarded {
                chain: combined(headers, "x-forwarded-for")
                    .into_iter()
                    .map(|n| Node::of(&unquoted(n)))
                    .collect(),
                scheme: combined(headers, "x-forwarded-proto")
                    .last()
                    .filter(|s| is_scheme(s))
                    .map(|s| s.to_ascii_lowercase()),
                hosts: combined(headers, "x-forwarded-host")
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
            },
            ProxyHeaders::Forwarded => Self::rfc7239(headers),
        }
    }

    /// `Forwarded: for=192.0.2.60;proto=https;host=theta.home, for="[2001:db8::1]:4711"`
    fn rfc7239(headers: &[(String, String)]) -> Forwarded {
        let mut forwarded = Forwarded::default();
        for element in combined(headers, "forwarded") {
            for pair in split_outside_quotes(element, ';') {
                let Some((key, value)) = pair.split_once('=') else {
                    continue;
                };
                let value = unquoted(value);
                match key.trim().to_ascii_lowercase().as_str() {
                    "for" => forwarded.chain.push(Node::of(&value)),
                    // The last element's word counts: it is the proxy nearest us.
                    "proto" if is_scheme(&value) => {
                        forwarded.scheme = Some(value.to_ascii_lowercase())
                    }
                    "host" if !value.is_empty() => forwarded.hosts.push(value),
                    _ => {}
                }
            }
        }
        forwarded
    }
}

/// An address as forwarding headers write it: `192.0.2.60`, `192.0.2.60:4711`,
/// `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:4711`.
fn address(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        return port_ok.then(|| ip.parse().ok()).flatten();
    }
    let (ip, port) = s.rsplit_once(':')?;
    if port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[(&str, &str)]) -> Vec<(String, String)> {
        lines
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn ip(s: &str) -> Node {
        Node::Ip(s.parse().unwrap())
    }

    #[test]
    fn every_line_of_x_forwarded_for_counts_in_order() {
        // HAProxy's forwardfor appends its own line after the client's.
        let h = headers(&[
            ("X-Forwarded-For", "10.9.0.1, unknown"),
            ("Host", "relay"),
            ("x-forwarded-for", "127.0.0.8"),
        ]);
        let f = Forwarded::of(&h, ProxyHeaders::XForwarded);
        assert_eq!(
            f.chain,
            vec![
                ip("10.9.0.1"),
                Node::Named("unknown".into()),
                ip("127.0.0.8")
            ]
        );
    }

    #[test]
    fn forwarded_is_read_with_quotes_ports_ipv6_and_obfuscated_names() {
        let h = headers(&[
            (
                "Forwarded",
                r#"for="[2001:db8:cafe::17]:4711";proto=https;host="theta.home", for=192.0.2.43:80"#,
            ),
            (
                "Forwarded",
                r#"For=_hidden;by=_proxy, for="quoted\"name;x""#,
            ),
        ]);
        let f = Forwarded::of(&h, ProxyHeaders::Forwarded);
        assert_eq!(
            f.chain,
            vec![
                ip("2001:db8:cafe::17"),
                ip("192.0.2.43"),
                Node::Named("_hidden".into()),
                Node::Named("quoted\"name;x".into()),
            ]
        );
        assert_eq!(f.scheme.as_deref(), Some("https"));
        assert_eq!(f.hosts, vec!["theta.home".to_string()]);
    }

    #[test]
    fn only_the_family_the_proxy_writes_is_read() {
        let h = headers(&[
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded-Host", "127.0.0.1"),
            ("Forwarded", "for=192.0.2.60;host=theta.home"),
        ]);
        let rfc = Forwarded::of(&h, ProxyHeaders::Forwarded);
        assert_eq!(
            (rfc.chain, rfc.hosts),
            (vec![ip("192.0.2.60")], vec!["theta.home".into()])
        );
        let x = Forwarded::of(&h, ProxyHeaders::XForwarded);
        assert_eq!(
            (x.chain, x.hosts),
            (vec![ip("6.6.6.6")], vec!["127.0.0.1".into()])
        );
    }

    #[test]
    fn addresses_with_and_without_ports() {
        assert_eq!(address("192.0.2.60:4711"), "192.0.2.60".parse().ok());
        assert_eq!(address("[::1]"), "::1".parse().ok());
        assert_eq!(address("[::1]:80"), "::1".parse().ok());
        assert_eq!(address("::1"), "::1".parse().ok());
        assert_eq!(address("[::1]x"), None);
        assert_eq!(address("192.0.2.60:"), None);
        assert_eq!(address("_hidden"), None);
        assert_eq!(address("unknown"), None);
    }
}
