//! The accept loop and each connection's thread: a bounded number of connections,
//! the oldest idle keep-alive evicted for a new one, requests read and answered in turn.

use super::read::read_request;
use super::write::write_response;
use super::{Handler, Limits, MAX_BODY_BYTES, Method, Response, Status};
use crate::sync::Locked;
use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// A running server; [`Server::stop`] (or dropping it) stops accepting.
pub struct Server {
    addr: SocketAddr,
    stopped: Arc<AtomicBool>,
    accept_thread: std::sync::Mutex<Option<thread::JoinHandle<()>>>,
}

impl Server {
    /// Binds `addr` and serves each connection on its own thread, within `limits`.
    pub fn start(
        addr: impl ToSocketAddrs,
        limits: Limits,
        handler: Arc<dyn Handler>,
    ) -> io::Result<Server> {
        Self::start_counted(addr, limits, Arc::default(), handler)
    }

    /// [`Server::start`], keeping the number of connections served now in `open`
    /// (for the handler's own reports).
    pub fn start_counted(
        addr: impl ToSocketAddrs,
        limits: Limits,
        open: Arc<AtomicUsize>,
        handler: Arc<dyn Handler>,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stopped = Arc::new(AtomicBool::new(false));
        let accept = AcceptLoop {
            listener,
            handler,
            stopped: stopped.clone(),
            open,
            waiting: Arc::default(),
            limits,
        };
        let accept_thread = thread::Builder::new()
            .name(format!("http-accept-{}", addr.port()))
            .spawn(move || accept.run())?;
        Ok(Server {
            addr,
            stopped,
            accept_thread: std::sync::Mutex::new(Some(accept_thread)),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the accept loop still runs.
    pub fn is_accepting(&self) -> bool {
        self.accept_thread
            .locked()
            .as_ref()
            .is_some_and(|h| !h.is_finished())
    }

    /// Stops accepting connections and closes the listening socket (the port is free
    /// when this returns); connections already open finish on their own.
    pub fn stop(&self) {
        let handle = self.accept_thread.locked().take();
        let Some(handle) = handle else { return };
        self.stopped.store(true, Ordering::SeqCst);
        // Wake the blocking accept so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let _ = handle.join();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

struct AcceptLoop {
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    stopped: Arc<AtomicBool>,
    /// Connections being served now.
    open: Arc<AtomicUsize>,
    waiting: Arc<Waiting>,
    limits: Limits,
}

/// Connections waiting for a request (their first, or the next on a kept-alive
/// connection), with when they began to wait: the ones to close when the cap is reached.
/// Viewers and requests being answered are never in it.
///
/// It holds raw descriptors, not duplicates (no extra system calls or descriptors per
/// request): a connection's thread leaves the registry, under its lock, before its
/// socket can close, and eviction shuts a socket down under the same lock, so a
/// descriptor here is always still that connection's.
#[derive(Default)]
struct Waiting {
    next_id: AtomicU64,
    connections: std::sync::Mutex<HashMap<u64, (Instant, RawFd)>>,
}

impl Waiting {
    /// Registers `stream` as waiting until the guard drops, which must be before the
    /// stream closes (also when unwinding: declare the guard after the stream).
    fn begin(&self, stream: &TcpStream) -> WaitingGuard<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, (Instant::now(), stream.as_raw_fd()));
        WaitingGuard { waiting: self, id }
    }

    /// Closes the connection that has waited longest; `false` when none waits.
    fn evict_oldest(&self) -> bool {
        let mut connections = self.lock();
        let oldest = connections
            .iter()
            .min_by_key(|(_, (since, _))| *since)
            .map(|(id, _)| *id);
        match oldest.and_then(|id| connections.remove(&id)) {
            Some((_, fd)) => {
                // Its thread's read returns at once and the thread ends. The lock is
                // still held, so the socket cannot have closed (see above).
                // SAFETY: shutdown takes no pointers; `fd` is an open socket.
                unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (Instant, RawFd)>> {
        self.connections.locked()
    }
}

/// A connection's place in [`Waiting`].
struct WaitingGuard<'a> {
    waiting: &'a Waiting,
    id: u64,
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.waiting.lock().remove(&self.id);
    }
}

/// Counts one open connection while alive.
struct OpenConnection(Arc<AtomicUsize>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl AcceptLoop {
    fn run(self) {
        for conn in self.listener.incoming() {
            if self.stopped.load(Ordering::SeqCst) {
                return;
            }
            let Ok(mut stream) = conn else {
                // Out of file descriptors and the like: back off instead of spinning.
                thread::sleep(Duration::from_millis(50));
                continue;
            };
            // At the cap, the connection that has waited longest without a complete
            // request makes room: idle sockets cannot crowd out viewers and requests.
            let max = self.limits.max_connections;
            if self.open.fetch_add(1, Ordering::SeqCst) >= max {
                if !self.waiting.evict_oldest() {
                    self.open.fetch_sub(1, Ordering::SeqCst);
                    refuse_busy(&mut stream);
                    continue;
                }
                // Let the evicted thread end first, so threads stay within the cap.
                let deadline = Instant::now() + self.limits.eviction_wait;
                while self.open.load(Ordering::SeqCst) > max && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(1));
                }
            }
            let open = OpenConnection(self.open.clone());
            let handler = self.handler.clone();
            let limits = self.limits;
            let waiting = self.waiting.clone();
            let spawned = thread::Builder::new()
                .name("http-conn".into())
                .spawn(move || {
                    let _open = open;
                    serve_connection(stream, &*handler, limits, &waiting)
                });
            if spawned.is_err() {
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Answers 503 without reading the request, from the accept thread: the answer is small
/// enough for the socket buffer, and the short timeout bounds the rest.
fn refuse_busy(stream: &mut TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = write_response(
        stream,
        false,
        Response::error(
            Status::SERVICE_UNAVAILABLE,
            "The server is busy; try again shortly.",
        ),
        false,
    );
    let _ = stream.shutdown(Shutdown::Both);
}

fn serve_connection(
    mut stream: TcpStream,
    handler: &dyn Handler,
    limits: Limits,
    waiting: &Waiting,
) {
    let Ok(peer) = stream.peer_addr() else { return };
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(1024);
    loop {
        let request = {
            let _waiting = waiting.begin(&stream);
            read_request(&mut stream, &mut buf, peer, limits.request_timeout)
        };
        let request = match request {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(reject) => {
                let _ = write_response(&mut stream, false, reject, false);
                close_gracefully(&mut stream);
                return;
            }
        };
        let keep_alive = request.keep_alive;
        let head_only = request.method == Method::Head;
        let response = handler.handle(request);
        match write_response(&mut stream, head_only, response, keep_alive) {
            Ok(true) => continue,
            _ => {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

/// Closes after an error answer without discarding it: closing a socket with unread
/// input sends a reset, which can destroy the answer before the client reads it. So stop
/// writing, then read and drop what the client is still sending, for a bounded time.
fn close_gracefully(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < MAX_BODY_BYTES && Instant::now() < deadline {
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}
