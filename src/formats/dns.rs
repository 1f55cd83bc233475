//! DNS messages as mDNS and DNS-SD use them (RFC 1035, 6762, 6763): the queries the
//! relay sends, the answers the simulated camera sends, and a reader for both. Built
//! and read by hand: a malformed or hostile packet is `None`, never a panic (generated
//! hostile packets are part of the tests).

use std::net::Ipv4Addr;

/// The DNS-SD service of OSC cameras.
pub const OSC_SERVICE: &str = "_osc._tcp.local";

pub const TYPE_A: u16 = 1;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_SRV: u16 = 33;
const CLASS_IN: u16 = 1;
/// In a question: please answer by unicast (RFC 6762 §5.4).
const UNICAST_RESPONSE: u16 = 0x8000;
/// Longest name we build or accept (RFC 1035).
const MAX_NAME: usize = 255;
/// Compression pointers followed in one name at most: a loop ends here.
const MAX_JUMPS: usize = 16;

/// A resource record we understand; others are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Ptr {
        name: String,
        target: String,
    },
    Srv {
        name: String,
        port: u16,
        target: String,
    },
    A {
        name: String,
        addr: Ipv4Addr,
    },
}

/// A DNS message as far as we read it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub id: u16,
    pub response: bool,
    pub questions: Vec<(String, u16)>,
    pub records: Vec<Record>,
}

/// A query for `questions` (name, type), asking for unicast answers.
pub fn build_query(id: u16, questions: &[(&str, u16)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0, 0]); // a standard query
    out.extend_from_slice(&(questions.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    for (name, qtype) in questions {
        write_name(&mut out, name);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&(CLASS_IN | UNICAST_RESPONSE).to_be_bytes());
    }
    out
}

/// A response carrying `records` as answers (what the simulated camera sends).
pub fn build_response(id: u16, records: &[Record]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x84, 0]); // response, authoritative
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(records.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    for record in records {
        let (name, rtype) = match record {
            Record::Ptr { name, .. } => (name, TYPE_PTR),
            Record::Srv { name, .. } => (name, TYPE_SRV),
            Record::A { name, .. } => (name, TYPE_A),
        };
        write_name(&mut out, name);
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&120u32.to_be_bytes());
        let mut data = Vec::new();
        match record {
            Record::Ptr { target, .. } => write_name(&mut data, target),
            Record::Srv { port, target, .. } => {
                data.extend_from_slice(&[0, 0, 0, 0]); // priority, weight
                data.extend_from_slice(&port.to_be_bytes());
                write_name(&mut data, target);
            }
            Record::A { addr, .. } => data.extend_from_slice(&addr.octets()),
        }
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    out
}

fn write_name(out: &mut Vec<u8>, name: &str) {
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let label = &label.as_bytes()[..label.len().min(63)];
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
}

/// Reads a message; `None` when it is not one (any malformation, anywhere).
pub fn parse(bytes: &[u8]) -> Option<Message> {
    let u16_at = |at: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
    };
    let id = u16_at(0)?;
    let response = bytes.get(2)? & 0x80 != 0;
    let counts = [u16_at(4)?, u16_at(6)?, u16_at(8)?, u16_at(10)?];
    let mut at = 12;
    let mut message = Message {
        id,
        response,
        ..Message::default()
    };
    for _ in 0..counts[0] {
        let (name, next) = read_name(bytes, at)?;
        message.questions.push((name, u16_at(next)?));
        at = next + 4;
    }
    let records: usize = counts[1..].iter().map(|&c| usize::from(c)).sum();
    for _ in 0..records {
        let (name, next) = read_name(bytes, at)?;
        let rtype = u16_at(next)?;
        let length = usize::from(u16_at(next + 8)?);
        let data = next + 10;
        let end = data.checked_add(length)?;
        if end > bytes.len() {
            return None;
        }
        let record = match rtype {
            TYPE_PTR => Some(Record::Ptr {
                name,
                target: read_name(bytes, data)?.0,
            }),
            TYPE_SRV if length >= 7 => Some(Record::Srv {
                name,
                port: u16_at(data + 4)?,
                target: read_name(bytes, data + 6)?.0,
            }),
            TYPE_A if length == 4 => Some(Record::A {
                name,
                addr: Ipv4Addr::new(
                    bytes[data],
                    bytes[data + 1],
                    bytes[data + 2],
                    bytes[data + 3],
                ),
            }),
            _ => None,
        };
        message.records.extend(record);
        at = end;
    }
    Some(message)
}

/// A name at `at`, following compression pointers; the name and where the bytes after
/// it (in the original place) begin.
fn read_name(bytes: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut after = None;
    let mut jumps = 0;
    loop {
        let len = usize::from(*bytes.get(at)?);
        match len {
            0 => {
                return Some((name, after.unwrap_or(at + 1)));
            }
            l if l & 0xC0 == 0xC0 => {
                let target = ((l & 0x3F) << 8) | usize::from(*bytes.get(at + 1)?);
                after.get_or_insert(at + 2);
                jumps += 1;
                if jumps > MAX_JUMPS {
                    return None;
                }
                at = target;
            }
            l if l > 63 => return None,
            l => {
                let label = bytes.get(at + 1..at + 1 + l)?;
                if !name.is_empty() {
                    name.push('.');
                }
                name.push_str(&String::from_utf8_lossy(label));
                if name.len() > MAX_NAME {
                    return None;
                }
                at += 1 + l;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::mjpeg::tests::Rng;

    fn camera_answer() -> Vec<u8> {
        build_response(
            0,
            &[
                Record::Ptr {
                    name: OSC_SERVICE.into(),
                    target: format!("THETAYN10010104.{OSC_SERVICE}"),
                },
                Record::Srv {
                    name: format!("THETAYN10010104.{OSC_SERVICE}"),
                    port: 80,
                    target: "THETAYN10010104.local".into(),
                },
                Record::A {
                    name: "THETAYN10010104.local".into(),
                    addr: Ipv4Addr::new(192, 168, 0, 101),
                },
            ],
        )
    }

    #[test]
    fn a_built_answer_reads_back() {
        let m = parse(&camera_answer()).unwrap();
        assert!(m.response);
        assert_eq!(m.records.len(), 3);
        assert!(
            matches!(&m.records[1], Record::Srv { port: 80, target, .. } if target == "THETAYN10010104.local")
        );
        let q = parse(&build_query(7, &[(OSC_SERVICE, TYPE_PTR)])).unwrap();
        assert_eq!(q.questions, vec![(OSC_SERVICE.to_string(), TYPE_PTR)]);
    }

    #[test]
    fn compression_pointers_are_followed_and_loops_refused() {
        // A name "a" then a pointer back to offset 12 (the question name): legal.
        let mut packet = build_query(1, &[("x.local", TYPE_A)]);
        packet[7] = 1; // one answer
        packet.extend_from_slice(&[1, b'a', 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 10, 0, 0, 1]);
        let m = parse(&packet).unwrap();
        assert_eq!(
            m.records,
            vec![Record::A {
                name: "a.x.local".into(),
                addr: Ipv4Addr::new(10, 0, 0, 1)
            }]
        );
        // A pointer to itself.
        let mut looped = build_query(1, &[]);
        looped[5] = 1;
        looped.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
        assert_eq!(parse(&looped), None);
    }

    #[test]
    fn generated_hostile_packets_never_panic() {
        let mut rng = Rng(0x5DEECE66D);
        let good = camera_answer();
        for _ in 0..20_000 {
            let mut packet = match rng.next() % 3 {
                0 => (0..rng.next() % 600).map(|_| rng.next() as u8).collect(),
                _ => good.clone(),
            };
            if !packet.is_empty() {
                for _ in 0..1 + rng.next() % 8 {
                    let i = (rng.next() as usize) % packet.len();
                    packet[i] = match rng.next() % 4 {
                        0 => 0xC0,
                        1 => 0xFF,
                        2 => 0,
                        _ => rng.next() as u8,
                    };
                }
                if rng.next().is_multiple_of(4) {
                    packet.truncate((rng.next() as usize) % packet.len());
                }
            }
            let _ = parse(&packet);
        }
    }
}
