//! Who may use the relay: HTTP Basic auth on every route (`--auth`), a read-only switch
//! (`--read-only`) and the web origins allowed to use it (`--allow-origin`). It decides
//! from a request's headers alone; `routes` applies it before any route runs.

use crate::digest::{constant_time_eq, md5_hex};
use crate::http::Request;

/// Who may use the relay, and from which web pages.
#[derive(Clone, Default)]
pub struct Access {
    /// `--auth USER:PASS`: HTTP Basic auth on every route.
    pub basic_auth: Option<(String, String)>,
    /// `--read-only`: every POST route answers 403.
    pub read_only: bool,
    /// `--allow-origin ORIGIN`: CORS for that origin.
    pub allow_origin: Option<String>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The viewer password is never printed.
        f.debug_struct("Access")
            .field("basic_auth", &self.basic_auth.as_ref().map(|(u, _)| u))
            .field("read_only", &self.read_only)
            .field("allow_origin", &self.allow_origin)
            .finish()
    }
}

impl Access {
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
}
