//! HTTP Digest authentication (RFC 7616, MD5, `qop=auth`) as THETA cameras speak it,
//! from both sides: the client answers a `WWW-Authenticate` challenge, the simulated
//! camera checks an `Authorization` header.
//!
//! Only what cameras use is here: MD5 and `qop=auth` (or no qop at all). Parsing takes
//! arbitrary bytes from the network and never panics.

use md5::{Digest, Md5};
use std::collections::HashMap;

/// Longest realm, nonce or opaque value taken from a challenge; a THETA's nonce is 32
/// hex digits, and anything much longer is a camera trying to make us echo its junk.
pub const MAX_CHALLENGE_VALUE: usize = 256;

/// A `WWW-Authenticate: Digest ...` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// Whether the server offered `qop=auth`.
    pub qop_auth: bool,
    pub stale: bool,
}

impl Challenge {
    /// Parses a `WWW-Authenticate` value; `None` when it is not a usable Digest MD5 challenge.
    pub fn parse(header: &str) -> Option<Challenge> {
        let params = parse_params(strip_scheme(header)?);
        if params
            .get("algorithm")
            .is_some_and(|alg| !alg.eq_ignore_ascii_case("MD5"))
        {
            return None;
        }
        let too_long = ["realm", "nonce", "opaque"].iter().any(|k| {
            params
                .get(*k)
                .is_some_and(|v| v.len() > MAX_CHALLENGE_VALUE)
        });
        if too_long {
            return None;
        }
        Some(Challenge {
            realm: params.get("realm")?.clone(),
            nonce: params.get("nonce")?.clone(),
            opaque: params.get("opaque").cloned(),
            qop_auth: params
                .get("qop")
                .is_some_and(|q| q.split(',').any(|v| v.trim().eq_ignore_ascii_case("auth"))),
            stale: params
                .get("stale")
                .is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The header value of the challenge, as a camera sends it.
    pub fn header_value(&self) -> String {
        let mut v = format!(
            "Digest realm=\"{}\", qop=\"auth\", nonce=\"{}\", algorithm=MD5",
            self.realm, self.nonce
        );
        if let Some(o) = &self.opaque {
            v.push_str(&format!(", opaque=\"{o}\""));
        }
        if self.stale {
            v.push_str(", stale=true");
        }
        v
    }

    /// The `Authorization` header value answering this challenge for one request.
    pub fn authorization(
        &self,
        user: &str,
        password: &str,
        method: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
    ) -> String {
        let nc = format!("{nc:08x}");
        let response = response(
            &ha1(user, &self.realm, password),
            &self.nonce,
            self.qop_auth.then_some((nc.as_str(), cnonce)),
            method,
            uri,
        );
        let mut v = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", algorithm=MD5, response=\"{response}\"",
            quoted(user),
            quoted(&self.realm),
            quoted(&self.nonce),
            quoted(uri)
        );
        if self.qop_auth {
            v.push_str(&format!(
                ", qop=auth, nc={nc}, cnonce=\"{}\"",
                quoted(cnonce)
            ));
        }
        if let Some(o) = &self.opaque {
            v.push_str(&format!(", opaque=\"{}\"", quoted(o)));
        }
        v
    }
}

/// An `Authorization: Digest ...` header as a server receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
}

impl Authorization {
    pub fn parse(header: &str) -> Option<Authorization> {
        let p = parse_params(strip_scheme(header)?);
        Some(Authorization {
            username: p.get("username")?.clone(),
            realm: p.get("realm")?.clone(),
            nonce: p.get("nonce")?.clone(),
            uri: p.get("uri")?.clone(),
            response: p.get("response")?.clone(),
            qop: p.get("qop").cloned(),
            nc: p.get("nc").cloned(),
            cnonce: p.get("cnonce").cloned(),
        })
    }

    /// Whether the response proves knowledge of `password` for this method.
    pub fn verify(&self, password: &str, method: &str) -> bool {
        let qop = match (&self.qop, &self.nc, &self.cnonce) {
            (Some(q), Some(nc), Some(cn)) if q == "auth" => Some((nc.as_str(), cn.as_str())),
            (None, _, _) => None,
            _ => return false,
        };
        let expected = response(
            &ha1(&self.username, &self.realm, password),
            &self.nonce,
            qop,
            method,
            &self.uri,
        );
        constant_time_eq(expected.as_bytes(), self.response.as_bytes())
    }
}

/// The inside of a quoted-string: `"` and `\` escaped, so a value from the camera
/// cannot end the string early and add parameters of its own.
fn quoted(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

fn ha1(user: &str, realm: &str, password: &str) -> String {
    md5_hex(&format!("{user}:{realm}:{password}"))
}

fn response(ha1: &str, nonce: &str, qop: Option<(&str, &str)>, method: &str, uri: &str) -> String {
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    match qop {
        Some((nc, cnonce)) => md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")),
        None => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// Lower-case hex MD5 of `text`.
pub fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares without an early exit, so timing does not reveal how much matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn strip_scheme(header: &str) -> Option<&str> {
    let header = header.trim_start();
    let (scheme, rest) = header.split_at_checked(6)?;
    scheme.eq_ignore_ascii_case("digest").then_some(rest)
}

/// Parses `name=value, name="quoted, value"` lists; names lower-cased, quotes and escapes removed.
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            name.push(c);
            chars.next();
        }
        if name.is_empty() && chars.peek().is_none() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => value.extend(chars.next()),
                        c => value.push(c),
                    }
                }
            }
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        } else if chars.peek().is_none() && name.trim().is_empty() {
            return out;
        }
        let name = name.trim().to_ascii_lowercase();
        if !name.is_empty() {
            out.insert(name, value.trim().to_string());
        }
        if chars.peek().is_none() {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_from_the_camera_cannot_break_out_of_their_quotes() {
        let c = Challenge::parse(
            r#"Digest realm="R\"x", nonce="n\\\", evil=\"1", qop="auth", opaque="o\"p""#,
        )
        .unwrap();
        assert_eq!(c.realm, "R\"x");
        let h = c.authorization("id\"", "pw", "GET", "/osc/info", 1, "cn");
        let back = Authorization::parse(&h).unwrap();
        assert_eq!(
            (
                back.username.as_str(),
                back.realm.as_str(),
                back.nonce.as_str()
            ),
            ("id\"", "R\"x", c.nonce.as_str())
        );
        let params = parse_params(strip_scheme(&h).unwrap());
        assert!(!params.contains_key("evil"), "{h}");
    }

    #[test]
    fn an_overlong_nonce_is_not_a_usable_challenge() {
        let long = "a".repeat(MAX_CHALLENGE_VALUE + 1);
        let header = format!(r#"Digest realm="r", nonce="{long}", qop="auth""#);
        assert_eq!(Challenge::parse(&header), None);
        let header = format!(r#"DIGEST realm="r", nonce="{}", qop="auth""#, &long[1..]);
        assert!(
            Challenge::parse(&header).is_some(),
            "any case of the scheme"
        );
    }

    #[test]
    fn rfc_2617_example_response_is_reproduced() {
        // RFC 2617 section 3.5: Mufasa / Circle Of Life.
        let c = Challenge::parse(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        let h = c.authorization(
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            1,
            "0a4f113b",
        );
        assert!(
            h.contains(r#"response="6629fae49393a05397450978507c4ef1""#),
            "{h}"
        );
        assert!(h.contains(r#"opaque="5ccc069c403ebaf9f0171e9517f40e41""#));
        let creds = Authorization::parse(&h).unwrap();
        assert!(creds.verify("Circle Of Life", "GET"));
        assert!(!creds.verify("circle of life", "GET"));
        assert!(!creds.verify("Circle Of Life", "POST"));
    }

    #[test]
    fn theta_challenge_parses() {
        let c = Challenge::parse(
            r#"Digest realm="RICOH THETA Z1", qop="auth", nonce="abc123", algorithm=MD5, stale=TRUE"#,
        )
        .unwrap();
        assert_eq!(c.realm, "RICOH THETA Z1");
        assert_eq!(c.nonce, "abc123");
        assert!(c.qop_auth && c.stale);
        assert_eq!(Challenge::parse(&c.header_value()).unwrap(), c);
    }

    #[test]
    fn non_digest_or_incomplete_challenges_are_refused() {
        assert_eq!(Challenge::parse(r#"Basic realm="x""#), None);
        assert_eq!(Challenge::parse(r#"Digest realm="x""#), None);
        assert_eq!(
            Challenge::parse(r#"Digest realm="x", nonce="n", algorithm=SHA-256"#),
            None
        );
        assert_eq!(Challenge::parse(""), None);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x1234_5678u32;
        let alphabet = b"Digest =,\"\\ realmnoce\xc3\xa9qopstale";
        for _ in 0..20_000 {
            let len = (seed % 60) as usize;
            let mut s = Vec::new();
            for _ in 0..len {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                s.push(alphabet[(seed >> 16) as usize % alphabet.len()]);
            }
            let s = String::from_utf8_lossy(&s);
            let _ = Challenge::parse(&s);
            let _ = Authorization::parse(&s);
        }
    }
}
