//! `--on-camera-lost CMD`: when a camera has failed for `--lost-after` without a frame
//! in between, run CMD through `sh -c` (with `OSCSTREAM_CAMERA=host:port`), and again at
//! most once per `--lost-after` while it stays lost. Cycling the USB power of a V or Z1
//! that switched itself off turns it back on (`uhubctl` on a Pi).
//!
//! The command runs on its own thread: it is killed after its time (`Timeouts::hook`), and its exit
//! status and first line of output are logged.

use crate::log;
use crate::timeouts::Timeouts;
use std::io::{self, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// What to run when a camera is lost, and after how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostHook {
    pub command: String,
    pub after: Duration,
}

/// Decides when the hook runs for one camera.
pub struct LostWatch {
    hook: LostHook,
    camera: String,
    /// How long the command may run, and its output take to close after it exited.
    limits: (Duration, Duration),
    last_run: Option<Instant>,
}

impl LostWatch {
    pub fn new(hook: LostHook, camera: String, timeouts: &Timeouts) -> LostWatch {
        LostWatch {
            hook,
            camera,
            limits: (timeouts.hook, timeouts.hook_output),
            last_run: None,
        }
    }

    /// How long a camera must fail before the hook runs.
    pub fn after(&self) -> Duration {
        self.hook.after
    }

    /// Called often; runs the hook when the camera has failed since `failing_since` for
    /// long enough and the hook did not run within the last `after`.
    pub fn check(&mut self, failing_since: Option<Instant>) {
        let Some(since) = failing_since else {
            return;
        };
        let lost_long_enough = since.elapsed() >= self.hook.after;
        let not_too_often = self.last_run.is_none_or(|t| t.elapsed() >= self.hook.after);
        if lost_long_enough && not_too_often {
            self.last_run = Some(Instant::now());
            let (hook, camera, limits) = (self.hook.clone(), self.camera.clone(), self.limits);
            let _ = thread::Builder::new()
                .name("on-camera-lost".into())
                .spawn(move || run(&hook, &camera, limits));
        }
    }
}

/// Most bytes of a hook's output kept for the log (its first line is logged).
const OUTPUT_KEPT_BYTES: u64 = 4096;
/// Most characters of the hook's first line that reach the log.
const MAX_OUTPUT_SHOWN_CHARS: usize = 200;

/// `sh -c CMD` for the hook: `OSCSTREAM_CAMERA` set, the relay's secrets not passed
/// on, its output piped, in a process group of its own, signals unblocked.
fn hook_command(hook: &LostHook, camera: &str) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(&hook.command)
        .env("OSCSTREAM_CAMERA", camera)
        // The relay's own secrets are not the hook's business.
        .env_remove("OSCSTREAM_PWD")
        .env_remove("OSCSTREAM_AUTH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: between fork and exec only async-signal-safe calls: the relay blocks
    // SIGTERM/SIGINT in every thread, and the command must not inherit that mask.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            // A group of its own, so that a timeout ends everything it started.
            libc::setpgid(0, 0);
            Ok(())
        });
    }
    command
}

/// Reads `pipe` to its end on a thread of its own, keeping its first few KiB.
fn keep_start_of(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let spawned = thread::Builder::new()
        .name("hook-output".into())
        .spawn(move || {
            let mut start = Vec::new();
            let _ = pipe
                .by_ref()
                .take(OUTPUT_KEPT_BYTES)
                .read_to_end(&mut start);
            let _ = io::copy(&mut pipe, &mut io::sink());
            let _ = tx.send(String::from_utf8_lossy(&start).into_owned());
        });
    if spawned.is_err() {
        log::warning(format_args!("cannot read the output of --on-camera-lost"));
    }
    rx
}

fn run(hook: &LostHook, camera: &str, (time, output_wait): (Duration, Duration)) {
    log::warning(format_args!(
        "the camera at {camera} has been lost for {:?}: running --on-camera-lost",
        hook.after
    ));
    let mut command = hook_command(hook, camera);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            log::error(format_args!("cannot run --on-camera-lost: {e}"));
            return;
        }
    };
    // Read while it runs: a hook that prints more than a pipe holds must not block.
    let stdout = child.stdout.take().map(keep_start_of);
    let stderr = child.stderr.take().map(keep_start_of);
    let deadline = Instant::now() + time;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            _ => {
                // SAFETY: a plain kill(2) of the hook's own process group.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let collected = |reader: Option<mpsc::Receiver<String>>| {
        reader
            .and_then(|r| r.recv_timeout(output_wait).ok())
            .unwrap_or_default()
    };
    let mut output = collected(stdout);
    if output.trim().is_empty() {
        output = collected(stderr);
    }
    let first_line: String = output
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .chars()
        .take(MAX_OUTPUT_SHOWN_CHARS)
        .collect();
    match status {
        Some(status) if status.success() => log::notice(format_args!(
            "--on-camera-lost finished ({status}): {first_line}"
        )),
        Some(status) => log::warning(format_args!(
            "--on-camera-lost failed ({status}): {first_line}"
        )),
        None => log::warning(format_args!(
            "--on-camera-lost did not finish in {time:?} and was killed"
        )),
    }
}
