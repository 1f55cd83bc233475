//! Finding cameras by name: one-shot DNS-SD queries (RFC 6762 §5.1, 6763) over a plain
//! UDP socket. THETAs in client mode announce `THETAYN10010104._osc._tcp.local` on host
//! `THETAYN10010104.local`, with no TXT records.
//!
//! Queries go to the mDNS group 224.0.0.251:5353 from an ordinary port, so responders
//! answer by unicast, or to one responder's address (`--mdns ADDR:PORT`, which tests use:
//! loopback carries no multicast). Packets are built and read by [`crate::formats::dns`].

use crate::formats::dns::{OSC_SERVICE, Record, TYPE_A, TYPE_PTR, TYPE_SRV, build_query, parse};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// The mDNS group and port.
pub const MDNS_GROUP: &str = "224.0.0.251:5353";

/// [`MDNS_GROUP`] as an address.
pub fn mdns_group() -> SocketAddr {
    SocketAddr::from(([224, 0, 0, 251], 5353))
}
/// Sends the questions to `target` and collects every record answered within `wait`.
pub fn ask(target: SocketAddr, questions: &[(&str, u16)], wait: Duration) -> Vec<Record> {
    let Ok(socket) = UdpSocket::bind(("0.0.0.0", 0)) else {
        return Vec::new();
    };
    let id = (std::process::id() as u16) ^ (Instant::now().elapsed().subsec_nanos() as u16);
    if socket.send_to(&build_query(id, questions), target).is_err() {
        return Vec::new();
    }
    let deadline = Instant::now() + wait;
    let mut records = Vec::new();
    let mut buf = [0u8; 9000];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
            return records;
        }
        match socket.recv_from(&mut buf) {
            Ok((n, _)) => {
                // mDNS answers carry id 0 or ours; anything else is not for us.
                if let Some(m) =
                    parse(&buf[..n]).filter(|m| m.response && (m.id == id || m.id == 0))
                {
                    records.extend(m.records);
                }
            }
            Err(_) => return records,
        }
    }
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
    let records = ask(target, &[(&host, TYPE_A), (&service, TYPE_SRV)], wait);
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

    #[test]
    fn theta_names_go_to_mdns() {
        assert!(is_mdns_name("THETAYN10010104.local"));
        assert!(is_mdns_name("THETAYN10010104"));
        assert!(is_mdns_name("theta-front.local."));
        assert!(!is_mdns_name("192.168.1.1"));
        assert!(!is_mdns_name("camera.example.org"));
    }
}
