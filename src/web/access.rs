//! Who may use the relay: the names it answers to (against DNS rebinding), HTTP Basic
//! auth on every route (`--auth`, with a lock-out after repeated wrong passwords), a
//! read-only switch (`--read-only`), and which web pages may change the camera
//! (same origin, or `--allow-origin`). `routes` applies it before any route runs.

use crate::formats::digest::{constant_time_eq, md5_hex};
use crate::web::http::{Request, Response, Status};
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
    /// Recent failed logins per client address (state, not configuration).
    pub failures: LoginFailures,
}

/// Recent failed logins per client address, shared by every clone of an [`Access`].
#[derive(Clone, Default)]
pub struct LoginFailures(Arc<Mutex<HashMap<IpAddr, Failures>>>);

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
            .finish()
    }
}

impl Access {
    /// A request under a name the relay does not answer to: a DNS rebinding page (a
    /// site whose name now points at this computer) reading the camera. `None` to go on.
    pub fn refuse_host(&self, req: &Request) -> Option<Response> {
        if self.allow_hosts.iter().any(|h| h == "*") {
            return None;
        }
        // An HTTP/1.0 request may come without Host; the server refuses HTTP/1.1 ones.
        let host = req.header("host")?;
        let name = host_name(host);
        let known = name.parse::<IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || machine_names().contains(&name)
            || self
                .allow_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&name));
        (!known).then(|| {
            Response::error(
                Status::MISDIRECTED,
                format!(
                    "This relay does not answer to the name {name}. If that is a name of this computer, start the relay with --allow-host {name}."
                ),
            )
        })
    }

    /// 429 for a client locked out after too many wrong passwords, 401 without the right
    /// ones; `None` to go on.
    pub fn refuse_login(&self, req: &Request) -> Option<Response> {
        self.basic_auth.as_ref()?;
        let ip = req.peer.ip();
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

    fn lock_failures(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Failures>> {
        self.failures.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count_failure(&self, ip: IpAddr, now: Instant) {
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
        let refuse = || {
            Some(Response::error(
                Status::FORBIDDEN,
                "A web page from another site may not change the camera. To allow one, start the relay with --allow-origin ORIGIN.",
            ))
        };
        if req
            .header("sec-fetch-site")
            .is_some_and(|s| s.eq_ignore_ascii_case("cross-site"))
            && req
                .header("origin")
                .is_none_or(|o| !self.is_allowed_origin(o))
        {
            return refuse();
        }
        let origin = req.header("origin")?;
        let own = req.header("host").map(|h| format!("http://{h}"));
        if own
            .as_deref()
            .is_some_and(|own| origin.eq_ignore_ascii_case(own))
            || self.is_allowed_origin(origin)
        {
            return None;
        }
        refuse()
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
}
