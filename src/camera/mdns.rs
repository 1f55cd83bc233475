//! Finding cameras by name: one-shot DNS-SD queries (RFC 6762 §5.1, 6763) over a plain
//! UDP socket. THETAs in client mode announce `THETAYN10010104._osc._tcp.local` on host
//! `THETAYN10010104.local`, with no TXT records.
//!
//! Queries go to the mDNS group 224.0.0.251:5353 from an ordinary port, so responders
//! answer by unicast, or to one responder's address (`--mdns ADDR:PORT`, which tests use:
//! loopback carries no multicast). Packets are built and read by [`crate::formats::dns`].

use crate::formats::dns::{OSC_SERVICE, Record, TYPE_A, TYPE_PTR, TYPE_SRV, build_query, parse};
use std::io::{ErrorKind, Read};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// The mDNS group and port.
pub const MDNS_GROUP: &str = "224.0.0.251:5353";

/// [`MDNS_GROUP`] as an address.
pub fn mdns_group() -> SocketAddr {
    SocketAddr::from(([224, 0, 0, 251], 5353))
}
/// The query is sent again after these times when nothing answered (RFC 6762 §5.2).
const RESEND_AFTER: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(2)];

/// Sends the questions to `target` and collects every record answered within `wait`.
pub fn ask(target: SocketAddr, questions: &[(&str, u16)], wait: Duration) -> Vec<Record> {
    ask_until(target, questions, wait, |_| false)
}

/// [`ask`], returning as soon as `enough` says the records answer the question.
///
/// Only answers that can be ours count: from the responder asked (`--mdns ADDR:PORT`),
/// or for the mDNS group from port 5353; carrying our random id, or id 0 (what
/// multicast responders send) from port 5353 only. Anyone else on the LAN could
/// otherwise redirect the relay to a camera of their own.
pub fn ask_until(
    target: SocketAddr,
    questions: &[(&str, u16)],
    wait: Duration,
    enough: impl Fn(&[Record]) -> bool,
) -> Vec<Record> {
    let Ok(socket) = UdpSocket::bind(("0.0.0.0", 0)) else {
        return Vec::new();
    };
    let id = random_id();
    let query = build_query(id, questions);
    let started = Instant::now();
    let deadline = started + wait;
    let mut resends = RESEND_AFTER.iter().map(|after| started + *after);
    let mut next_send = Some(started);
    let mut records = Vec::new();
    let mut buf = [0u8; 9000];
    loop {
        if next_send.is_some_and(|at| Instant::now() >= at) {
            if socket.send_to(&query, target).is_err() {
                return records;
            }
            next_send = resends.next();
        }
        let until = next_send.map_or(deadline, |at| at.min(deadline));
        let left = until.saturating_duration_since(Instant::now());
        if Instant::now() >= deadline || socket.set_read_timeout(Some(left.max(MIN_READ))).is_err()
        {
            return records;
        }
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                let Some(m) = parse(&buf[..n]).filter(|m| m.response) else {
                    continue;
                };
                if !answers_us(target, from, m.id, id) {
                    continue;
                }
                records.extend(m.records);
                if enough(&records) {
                    return records;
                }
                // Something answered: no need to ask again.
                next_send = None;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return records,
        }
    }
}

/// The shortest read wait (a zero timeout is refused by the socket).
const MIN_READ: Duration = Duration::from_millis(1);

/// Whether an answer from `from` with `answer_id` may be the answer to our query `id`
/// sent to `target`.
fn answers_us(target: SocketAddr, from: SocketAddr, answer_id: u16, id: u16) -> bool {
    let from_mdns_port = from.port() == 5353;
    let from_asked = if target.ip().is_multicast() {
        from_mdns_port
    } else {
        from == target
    };
    from_asked && (answer_id == id || (answer_id == 0 && from_mdns_port))
}

/// A query id nobody on the LAN can guess, from the system's randomness.
fn random_id() -> u16 {
    let mut bytes = [0u8; 2];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_ok() {
        return u16::from_ne_bytes(bytes);
    }
    // No /dev/urandom (a bare chroot): std's per-process random hash keys.
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish() as u16
}

/// A camera found by DNS-SD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// `THETAYN10010104`
    pub instance: String,
    /// `THETAYN10010104.local`
    pub host: String,
    pub addr: Option<Ipv4Addr>,
    pub port: Option<u16>,
}

/// Every OSC camera that answers within `wait`.
pub fn discover(target: SocketAddr, wait: Duration) -> Vec<Found> {
    let mut records = ask(target, &[(OSC_SERVICE, TYPE_PTR)], wait);
    let instances: Vec<String> = records
        .iter()
        .filter_map(|r| match r {
            Record::Ptr { name, target } if name.eq_ignore_ascii_case(OSC_SERVICE) => {
                Some(target.clone())
            }
            _ => None,
        })
        .collect();
    let mut found = Vec::new();
    for full in instances {
        if found.iter().any(|f: &Found| full.starts_with(&f.instance)) {
            continue;
        }
        let mut srv = find_srv(&records, &full);
        if srv.is_none() {
            records.extend(ask(target, &[(&full, TYPE_SRV)], wait / 2));
            srv = find_srv(&records, &full);
        }
        let instance = full.split('.').next().unwrap_or(&full).to_string();
        let host = srv
            .as_ref()
            .map_or_else(|| format!("{instance}.local"), |(_, h)| h.clone());
        let mut addr = find_a(&records, &host);
        if addr.is_none() {
            records.extend(ask(target, &[(&host, TYPE_A)], wait / 2));
            addr = find_a(&records, &host);
        }
        found.push(Found {
            instance,
            host,
            addr,
            port: srv.map(|(port, _)| port),
        });
    }
    found
}

/// The address of `name` (`THETAYN10010104.local`, or the bare instance name) and the
/// port its OSC service announces, if it does.
pub fn resolve(target: SocketAddr, name: &str, wait: Duration) -> Option<(Ipv4Addr, Option<u16>)> {
    let instance = name.trim_end_matches('.').trim_end_matches(".local");
    let service = format!("{instance}.{OSC_SERVICE}");
    let host = format!("{instance}.local");
    // Done as soon as the address and the announced port are both in.
    let enough = |records: &[Record]| {
        let srv = find_srv(records, &service);
        let srv_host = srv.as_ref().map(|(_, h)| h.as_str()).unwrap_or(&host);
        srv.is_some() && find_a(records, srv_host).is_some()
    };
    let records = ask_until(
        target,
        &[(&host, TYPE_A), (&service, TYPE_SRV)],
        wait,
        enough,
    );
    let port = find_srv(&records, &service).map(|(port, _)| port);
    let srv_host = find_srv(&records, &service).map(|(_, h)| h);
    let addr = find_a(&records, srv_host.as_deref().unwrap_or(&host))
        .or_else(|| find_a(&records, &host))?;
    Some((addr, port))
}

fn find_srv(records: &[Record], name: &str) -> Option<(u16, String)> {
    records.iter().find_map(|r| match r {
        Record::Srv {
            name: n,
            port,
            target,
        } if n.eq_ignore_ascii_case(name) => Some((*port, target.clone())),
        _ => None,
    })
}

fn find_a(records: &[Record], name: &str) -> Option<Ipv4Addr> {
    records.iter().find_map(|r| match r {
        Record::A { name: n, addr } if n.eq_ignore_ascii_case(name) => Some(*addr),
        _ => None,
    })
}

/// Whether `host` is a name to resolve by mDNS: `*.local`, or a bare THETA instance name.
pub fn is_mdns_name(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    host.to_ascii_lowercase().ends_with(".local")
        || (host.starts_with("THETA") && !host.contains('.') && !host.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::dns::build_response;

    fn theta_records(addr: Ipv4Addr, port: u16) -> Vec<Record> {
        vec![
            Record::Srv {
                name: format!("THETAYN10010104.{OSC_SERVICE}"),
                port,
                target: "THETAYN10010104.local".into(),
            },
            Record::A {
                name: "THETAYN10010104.local".into(),
                addr,
            },
        ]
    }

    #[test]
    fn a_spoofed_answer_is_ignored_and_the_real_one_returns_at_once() {
        let responder = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = responder.local_addr().unwrap();
        let spoofer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let asking = std::thread::spawn(move || {
            let t = Instant::now();
            let found = resolve(target, "THETAYN10010104.local", Duration::from_secs(3));
            (found, t.elapsed())
        });
        let mut buf = [0u8; 1500];
        let (n, querier) = responder.recv_from(&mut buf).unwrap();
        let query = parse(&buf[..n]).unwrap();
        // From another port, with id 0 and with the query's own id: neither is the camera.
        let fake = theta_records(Ipv4Addr::new(10, 6, 6, 6), 8080);
        spoofer.send_to(&build_response(0, &fake), querier).unwrap();
        spoofer
            .send_to(&build_response(query.id, &fake), querier)
            .unwrap();
        // The responder asked, with id 0: not from port 5353, so not a multicast answer.
        responder
            .send_to(&build_response(0, &fake), querier)
            .unwrap();
        let real = theta_records(Ipv4Addr::new(192, 168, 0, 101), 80);
        responder
            .send_to(&build_response(query.id, &real), querier)
            .unwrap();
        let (found, took) = asking.join().unwrap();
        assert_eq!(found, Some((Ipv4Addr::new(192, 168, 0, 101), Some(80))));
        assert!(took < Duration::from_millis(500), "{took:?}");
    }

    #[test]
    fn query_ids_differ() {
        let ids: std::collections::HashSet<u16> = (0..8).map(|_| random_id()).collect();
        assert!(ids.len() > 4, "{ids:?}");
    }

    #[test]
    fn theta_names_go_to_mdns() {
        assert!(is_mdns_name("THETAYN10010104.local"));
        assert!(is_mdns_name("THETAYN10010104"));
        assert!(is_mdns_name("theta-front.local."));
        assert!(!is_mdns_name("192.168.1.1"));
        assert!(!is_mdns_name("camera.example.org"));
    }
}
