//! One request to the camera: its URL (an mDNS name resolved when needed), the Digest
//! answer to a 401 (retried once), and a JSON answer read whole within its budget and
//! size cap; a failure becomes an [`OscError`] naming the budget that ran out.

use super::{Camera, MAX_JSON_BYTES};
use crate::camera::answers;
use crate::camera::errors::OscError;
use crate::formats::digest::Challenge;
use crate::formats::osc::Credentials;
use crate::sync::Locked;
use serde_json::Value;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const JSON_CONTENT_TYPE: &str = "application/json;charset=utf-8";

impl Camera {
    /// One request, answering a Digest challenge: a first 401 (or a stale nonce) is retried
    /// once with the new challenge; a second 401 means the id or password is wrong.
    pub(super) fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        answer: Answer,
        what: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, OscError> {
        let url = format!("http://{}{}", self.destination()?, path);
        // A JSON answer must arrive whole in time, however slowly it drips; a stream
        // (the preview, a file) is bounded per read instead.
        let global = match answer {
            Answer::Whole => Some(self.timeouts.camera_answer),
            Answer::Stream => None,
        };

        for attempt in 0..2 {
            let authorization = self.authorization(method, path);
            let result = if method == "GET" {
                self.prepared(self.agent.get(&url), &authorization, global)
                    .call()
            } else {
                let post = self
                    .agent
                    .post(&url)
                    .header("Content-Type", JSON_CONTENT_TYPE);
                let post = self.prepared(post, &authorization, global);
                match body {
                    Some(body) => post.send(body),
                    None => post.send_empty(),
                }
            };
            let resp = result.map_err(|e| self.transport_error(e, what))?;
            if resp.status() != 401 {
                return Ok(resp);
            }
            let Some(Credentials { id, .. }) = &self.addr.credentials else {
                return Err(OscError::AuthRequired {
                    camera: self.addr.host_port(),
                });
            };
            let challenge = header(&resp, "www-authenticate")
                .as_deref()
                .and_then(Challenge::parse);
            let Some(challenge) = challenge else {
                return Err(OscError::Unreadable {
                    camera: self.addr.host_port(),
                    detail: "HTTP 401 without a usable Digest MD5 challenge".into(),
                });
            };
            if !challenge.qop_auth {
                return Err(OscError::Unreadable {
                    camera: self.addr.host_port(),
                    detail: "its login challenge lacks qop=auth, which every THETA sends; \
                             answering the old form would hand out material for guessing the \
                             password offline, so oscstream does not log in"
                        .into(),
                });
            }
            *self.challenge.locked() = Some(challenge);
            self.nonce_count.store(0, Ordering::SeqCst);
            if attempt == 1 {
                return Err(OscError::WrongCredentials {
                    camera: self.addr.host_port(),
                    id: id.clone(),
                    set_in: self.addr.set_in.clone(),
                });
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// A request with our login (when there is one) and its whole-answer budget.
    fn prepared<B>(
        &self,
        req: ureq::RequestBuilder<B>,
        authorization: &Option<String>,
        global: Option<Duration>,
    ) -> ureq::RequestBuilder<B> {
        let req = match authorization {
            Some(a) => req.header("Authorization", a),
            None => req,
        };
        req.config().timeout_global(global).build()
    }

    fn authorization(&self, method: &str, uri: &str) -> Option<String> {
        let Credentials { id, password } = self.addr.credentials.as_ref()?;
        let challenge = self.challenge.locked();
        let challenge = challenge.as_ref()?;
        let nc = self.nonce_count.fetch_add(1, Ordering::SeqCst) + 1;
        let cnonce = cnonce(nc);
        Some(challenge.authorization(id, password, method, uri, nc as u32, &cnonce))
    }

    /// Where requests go: `host:port`, or for an mDNS name the address it resolves to
    /// now (asked again after a failure).
    fn destination(&self) -> Result<String, OscError> {
        let Some(mdns) = self.addr.mdns else {
            return Ok(self.addr.host_port());
        };
        let mut resolved = self.resolved.locked();
        if let Some(addr) = *resolved {
            return Ok(addr.to_string());
        }
        let wait = self.timeouts.camera_connect;
        let Some((ip, port)) = crate::camera::mdns::resolve(mdns.target, &self.addr.host, wait)
        else {
            return Err(OscError::Unreachable {
                camera: self.addr.host_port(),
                detail: format!("no answer to an mDNS query for {}", self.addr.host),
                set_in: self.addr.set_in.clone(),
            });
        };
        let port = if mdns.port_given {
            self.addr.port
        } else {
            port.unwrap_or(self.addr.port)
        };
        let addr = SocketAddr::from((ip, port));
        *resolved = Some(addr);
        let mut last = self.last_resolved.locked();
        if let Some(old) = last.replace(addr).filter(|old| *old != addr) {
            crate::log::notice(format_args!(
                "{} moved from {old} to {addr}",
                self.addr.host
            ));
        }
        Ok(addr.to_string())
    }

    fn transport_error(&self, e: ureq::Error, what: &str) -> OscError {
        // The camera may have a new address: resolve its name again next time.
        *self.resolved.locked() = None;
        OscError::Unreachable {
            camera: self.addr.host_port(),
            detail: self.failure_detail(&e, what),
            set_in: self.addr.set_in.clone(),
        }
    }

    /// What went wrong, in words; a timeout names the budget that ran out.
    fn failure_detail(&self, e: &ureq::Error, what: &str) -> String {
        let t = &self.timeouts;
        let within = |d: Duration, budget: &str| format!("within the {} {budget} budget", secs(d));
        match e {
            ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
                format!("no connection {}", within(t.camera_connect, "connect"))
            }
            ureq::Error::Timeout(ureq::Timeout::Global) => format!(
                "no whole answer to {what} {}",
                within(t.camera_answer, "answer")
            ),
            ureq::Error::Timeout(_) => {
                format!("no answer to {what} {}", within(t.camera_read, "read"))
            }
            ureq::Error::ConnectionFailed => "connection failed".to_string(),
            ureq::Error::HostNotFound => "host not found".to_string(),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                format!("no answer to {what} {}", within(t.camera_read, "read"))
            }
            ureq::Error::Io(io) => io.to_string(),
            other => other.to_string(),
        }
    }

    /// A JSON request and its whole answer, in the camera's one lane: the camera answers
    /// one request at a time, so a queue here costs nothing and bounds what is in flight.
    pub(super) fn json_call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        what: &str,
    ) -> Result<Value, OscError> {
        let _turn = self
            .lane
            .enter(self.timeouts.camera_answer)
            .ok_or_else(|| OscError::Busy {
                camera: self.addr.host_port(),
            })?;
        let resp = self.request(method, path, body, Answer::Whole, what)?;
        self.json_answer(what, resp)
    }

    /// The JSON of an answer; an OSC error object or non-200 status becomes `Refused`.
    pub(super) fn json_answer(
        &self,
        what: &str,
        resp: ureq::http::Response<ureq::Body>,
    ) -> Result<Value, OscError> {
        let status = resp.status().as_u16();
        // Whole within the answer budget even where no global timeout applies (the
        // error answer to a preview request): each read is bounded, and so is their sum.
        let deadline = Instant::now() + self.timeouts.camera_answer;
        let mut body = resp.into_body().into_reader().take(MAX_JSON_BYTES + 1);
        let mut text = Vec::new();
        let mut chunk = [0u8; 8192];
        let read = loop {
            if Instant::now() > deadline {
                break Err(format!(
                    "no whole answer to {what} within the {} answer budget",
                    secs(self.timeouts.camera_answer)
                ));
            }
            match body.read(&mut chunk) {
                Ok(0) if text.len() as u64 > MAX_JSON_BYTES => {
                    break Err(format!(
                        "{what} answered with more than {} KiB",
                        MAX_JSON_BYTES >> 10
                    ));
                }
                Ok(0) => break Ok(()),
                Ok(n) => text.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let cause = e.get_ref().and_then(|x| x.downcast_ref::<ureq::Error>());
                    break Err(match cause {
                        Some(cause) => self.failure_detail(cause, what),
                        None => format!("its answer to {what} broke off ({e})"),
                    });
                }
            }
        };
        let value = read.and_then(|()| {
            serde_json::from_slice::<Value>(&text)
                .map_err(|_| format!("{what} did not answer with JSON"))
        });
        let value = match (status, value) {
            (200, Err(detail)) => {
                return Err(OscError::Unreadable {
                    camera: self.addr.host_port(),
                    detail,
                });
            }
            (200, Ok(v)) if v.get("error").is_none() => return Ok(v),
            (_, v) => v.ok(),
        };
        let (code, message) = answers::error_of(value.as_ref());
        Err(OscError::Refused {
            camera: self.addr.host_port(),
            command: what.to_string(),
            status,
            code: code.unwrap_or_else(|| "no OSC error code".into()),
            message: message.unwrap_or_else(|| "no message".into()),
        })
    }
}

/// What a request's answer is: JSON to read whole, or a stream to read as it comes.
#[derive(Clone, Copy)]
pub(super) enum Answer {
    Whole,
    Stream,
}

pub(super) fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn cnonce(nc: u64) -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    crate::formats::digest::md5_hex(&format!("{t}:{nc}:{:p}", &nc))[..16].to_string()
}

/// A budget as people say it: "3 s", "250 ms".
fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}
