//! The simulated camera's DNS-SD responder: it answers `_osc._tcp.local` queries by
//! unicast with the instance's PTR, SRV (the HTTP port) and A record (127.0.0.1).

use super::{INSTANCE, SimCamera};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

/// Answers DNS-SD queries on `listen` for this camera: the `_osc._tcp.local` PTR, its
/// instance's SRV (the HTTP port) and its host's A record (127.0.0.1), by unicast.
pub(super) fn start_responder(
    listen: &str,
    http_port: u16,
    camera: Arc<SimCamera>,
) -> io::Result<(thread::JoinHandle<()>, SocketAddr)> {
    use crate::formats::dns::{self as mdns, Record};
    let socket = std::net::UdpSocket::bind(listen)?;
    let addr = socket.local_addr()?;
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    let service = mdns::OSC_SERVICE;
    let full = format!("{INSTANCE}.{service}");
    let host = format!("{INSTANCE}.local");
    let thread = thread::Builder::new()
        .name("sim-mdns".into())
        .spawn(move || {
            let mut buf = [0u8; 1500];
            while !camera.faults.killed.load(Ordering::SeqCst) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Some(query) = mdns::parse(&buf[..n]).filter(|m| !m.response) else {
                    continue;
                };
                let ptr = Record::Ptr {
                    name: service.into(),
                    target: full.clone(),
                };
                let srv = Record::Srv {
                    name: full.clone(),
                    port: http_port,
                    target: host.clone(),
                };
                let a = Record::A {
                    name: host.clone(),
                    addr: std::net::Ipv4Addr::LOCALHOST,
                };
                let mut answers = Vec::new();
                for (name, qtype) in &query.questions {
                    let name = name.to_ascii_lowercase();
                    match *qtype {
                        mdns::TYPE_PTR if name == service => {
                            answers.extend([ptr.clone(), srv.clone(), a.clone()])
                        }
                        mdns::TYPE_SRV if name == full.to_ascii_lowercase() => {
                            answers.extend([srv.clone(), a.clone()])
                        }
                        mdns::TYPE_A if name == host.to_ascii_lowercase() => {
                            answers.push(a.clone())
                        }
                        _ => {}
                    }
                }
                if !answers.is_empty() {
                    let _ = socket.send_to(&mdns::build_response(query.id, &answers), from);
                }
            }
        })?;
    Ok((thread, addr))
}
