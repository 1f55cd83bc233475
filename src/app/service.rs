//! Running under a service manager: systemd's notify protocol and watchdog, and the
//! signals that stop the relay cleanly.
//!
//! The notify protocol needs no library: one datagram per message to the Unix socket
//! named in `$NOTIFY_SOCKET` (a leading `@` names an abstract socket). `READY=1` once the
//! relay listens, `STATUS=...` when the one-line summary changes, `WATCHDOG=1` every
//! half of `$WATCHDOG_USEC` while the relay is healthy, `STOPPING=1` on the way out. A
//! relay whose upstream thread is wedged stops pinging, so systemd restarts it.
//!
//! Signals: SIGTERM and SIGINT are blocked in every thread from the start of `main` and
//! taken with `sigwait` by the thread that stops the relay, so no work happens in a
//! signal handler. A second signal during the stop exits at once.

use crate::app::relay::Relay;
use crate::log;
use crate::sync::Locked;
use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often the supervisor looks at the relay (status line changes, watchdog).
const TICK: Duration = Duration::from_millis(100);

/// The sending end of `$NOTIFY_SOCKET`.
pub struct Notifier {
    socket: UnixDatagram,
    target: SocketAddr,
}

impl Notifier {
    /// The notifier systemd asked for, if any.
    pub fn from_env() -> Option<Notifier> {
        let path = std::env::var("NOTIFY_SOCKET").ok()?;
        match Notifier::new(&path) {
            Ok(n) => Some(n),
            Err(e) => {
                log::warning(format_args!(
                    "cannot use NOTIFY_SOCKET {path}: {e}; not telling systemd our state"
                ));
                None
            }
        }
    }

    /// A notifier for the socket at `path` (`@name` for an abstract socket).
    pub fn new(path: &str) -> io::Result<Notifier> {
        let target = match path.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(name.as_bytes())?
            }
            None => SocketAddr::from_pathname(path)?,
        };
        Ok(Notifier {
            socket: UnixDatagram::unbound()?,
            target,
        })
    }

    /// Sends one message; a manager that went away is not our problem to report.
    pub fn send(&self, message: &str) {
        let _ = self.socket.send_to_addr(message.as_bytes(), &self.target);
    }
}

/// The watchdog interval systemd asked for (`$WATCHDOG_USEC`, meant for this process
/// when `$WATCHDOG_PID` is unset or ours): pings go at half of it, as sd_notify(3) advises.
pub fn watchdog_from_env() -> Option<Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.trim() != std::process::id().to_string()
    {
        return None;
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec) / 2)
}

/// A thread that tells systemd the relay's state and pings its watchdog while healthy.
pub struct Supervisor {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Supervisor {
    /// Sends `READY=1` and starts watching `relay`; `ping_every` is the watchdog period.
    pub fn start(
        relay: Arc<Relay>,
        notifier: Notifier,
        ping_every: Option<Duration>,
    ) -> io::Result<Supervisor> {
        notifier.send("READY=1");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::Builder::new()
            .name("supervisor".into())
            .spawn(move || {
                let mut last_status = String::new();
                let mut next_ping = Instant::now();
                while !stopping.load(Ordering::SeqCst) {
                    let health = relay.report();
                    if health.summary != last_status {
                        // One line: a camera's message must not become systemd commands.
                        notifier.send(&format!("STATUS={}", log::escape(&health.summary)));
                        last_status = health.summary;
                    }
                    if let Some(every) = ping_every
                        && health.alive
                        && Instant::now() >= next_ping
                    {
                        notifier.send("WATCHDOG=1");
                        next_ping = Instant::now() + every;
                    }
                    thread::sleep(TICK);
                }
                notifier.send("STOPPING=1");
            })?;
        Ok(Supervisor {
            stop,
            thread: Some(thread),
        })
    }

    /// Sends `STOPPING=1` and ends the thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Blocks SIGTERM and SIGINT in this thread and every thread it starts afterwards, and
/// starts the one thread that takes them: call it first thing in `main`. Until `main`
/// says it can stop cleanly ([`stop_cleanly_on_signal`]), a signal ends the process at
/// once: nothing has started that would need putting back, and a start-up that waits
/// (a discovery, a slow file) must not outlive a stop.
pub fn block_stop_signals() {
    // SAFETY: sigset_t is plain data initialised by sigemptyset before use, and
    // pthread_sigmask only changes this thread's mask.
    unsafe {
        let set = stop_signals();
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let (tx, rx) = mpsc::channel();
    *SIGNALS.locked() = Some(rx);
    let spawned = thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let first = wait_signal();
            if !CLEAN_STOP.load(Ordering::SeqCst) {
                // SAFETY: _exit ends the process at once; nothing is running that needs ending.
                unsafe { libc::_exit(128 + first) }
            }
            let _ = tx.send(first);
            // A second signal asks to end now, whatever the clean stop is doing.
            let second = wait_signal();
            // SAFETY: as above: what a second Ctrl-C asks for.
            unsafe { libc::_exit(128 + second) }
        });
    if spawned.is_err() {
        // Without the thread, signals keep their default action: ending the process.
        // SAFETY: as above, on this thread's own mask.
        unsafe {
            let set = stop_signals();
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
    }
}

/// From now on a stop signal is handed to [`wait_for_stop_signal`] (even one that comes
/// before it is called) instead of ending the process at once.
pub fn stop_cleanly_on_signal() {
    CLEAN_STOP.store(true, Ordering::SeqCst);
}

/// Waits for SIGTERM or SIGINT; from then on a second one exits the process at once.
pub fn wait_for_stop_signal() -> i32 {
    stop_cleanly_on_signal();
    let rx = SIGNALS.locked().take();
    match rx.map(|rx| rx.recv()) {
        Some(Ok(signal)) => signal,
        // No signal thread (or it ended): wait here.
        _ => wait_signal(),
    }
}

/// The signal thread hands the first stop signal over here.
static SIGNALS: Mutex<Option<mpsc::Receiver<i32>>> = Mutex::new(None);
/// Whether `main` stops cleanly on a signal yet.
static CLEAN_STOP: AtomicBool = AtomicBool::new(false);

fn wait_signal() -> i32 {
    // SAFETY: as in block_stop_signals; sigwait writes the signal number into `signal`.
    unsafe {
        let set = stop_signals();
        let mut signal: libc::c_int = 0;
        while libc::sigwait(&set, &mut signal) != 0 {}
        signal
    }
}

/// SAFETY: callers use the set only with the signal functions that read it.
unsafe fn stop_signals() -> libc::sigset_t {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}
