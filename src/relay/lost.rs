//! `--on-camera-lost CMD`: when a camera has failed for `--lost-after` without a frame
//! in between, run CMD through `sh -c` (with `OSCSTREAM_CAMERA=host:port`), and again at
//! most once per `--lost-after` while it stays lost. Cycling the USB power of a V or Z1
//! that switched itself off turns it back on (`uhubctl` on a Pi).
//!
//! The command runs on its own thread: it is killed after [`HOOK_TIMEOUT`], and its exit
//! status and first line of output are logged.

use crate::log;
use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A command that has not finished by then is killed.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

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
    last_run: Option<Instant>,
}

impl LostWatch {
    pub fn new(hook: LostHook, camera: String) -> LostWatch {
        LostWatch {
            hook,
            camera,
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
            let (hook, camera) = (self.hook.clone(), self.camera.clone());
            let _ = thread::Builder::new()
                .name("on-camera-lost".into())
                .spawn(move || run(&hook, &camera));
        }
    }
}

fn run(hook: &LostHook, camera: &str) {
    log::warning(format_args!(
        "the camera at {camera} has been lost for {:?}: running --on-camera-lost",
        hook.after
    ));
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(&hook.command)
        .env("OSCSTREAM_CAMERA", camera)
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
            Ok(())
        });
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            log::error(format_args!("cannot run --on-camera-lost: {e}"));
            return;
        }
    };
    let deadline = Instant::now() + HOOK_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let mut output = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.by_ref().take(4096).read_to_string(&mut output);
    }
    if output.trim().is_empty()
        && let Some(mut err) = child.stderr.take()
    {
        let _ = err.by_ref().take(4096).read_to_string(&mut output);
    }
    let first_line = output.lines().next().unwrap_or("").trim();
    match status {
        Some(status) if status.success() => log::notice(format_args!(
            "--on-camera-lost finished ({status}): {first_line}"
        )),
        Some(status) => log::warning(format_args!(
            "--on-camera-lost failed ({status}): {first_line}"
        )),
        None => log::warning(format_args!(
            "--on-camera-lost did not finish in {HOOK_TIMEOUT:?} and was killed"
        )),
    }
}
