//! The relay's own small files under `--state-dir` (a camera's original timers): read as
//! untrusted input, written so that nothing else can be made to take their place.
//!
//! Reading opens without following a symlink and without blocking (a FIFO must not hang
//! a camera thread), takes only a regular file, and reads at most a few KiB. Writing goes
//! to a temporary file created new (never one that is already there, never through a
//! symlink), then renamed over the old one, so a crash leaves the old file or the new one.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Most bytes of a state file: a handful of numbers.
pub const MAX_STATE_FILE_BYTES: u64 = 4 << 10;

/// The state file at `path`, or the sentence saying why it was not read (`Ok(None)`
/// when there is none).
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let shown = path.display();
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(format!(
                "{shown} is a symbolic link, which the relay never writes; it was not read"
            ));
        }
        Err(e) => return Err(format!("cannot read {shown}: {e}")),
    };
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file; it was not read"));
    }
    if meta.len() > MAX_STATE_FILE_BYTES {
        return Err(format!(
            "{shown} holds {} bytes, more than the {MAX_STATE_FILE_BYTES} the relay writes; it was not read",
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_STATE_FILE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    Ok(Some(bytes))
}

/// Writes `bytes` as the state file at `path`: to `path.tmp` created new (a file or
/// symlink left there is removed first, never followed), readable only by the relay's
/// user, then renamed into place.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temporary = path.with_extension("tmp");
    match std::fs::remove_file(&temporary) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut file: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

/// A sentence when other users could write in `dir` (and so replace the relay's
/// files there): group- or world-writable without the sticky bit.
pub fn shared_dir_warning(dir: &Path) -> Option<String> {
    let meta = std::fs::metadata(dir).ok()?;
    let mode = meta.permissions().mode();
    let shared = mode & 0o022 != 0 && mode & 0o1000 == 0;
    shared.then(|| {
        format!(
            "the state directory {} can be written by other users (mode {:o}): they could change what the relay puts back on the camera; run chmod 700 {}",
            dir.display(),
            mode & 0o7777,
            dir.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("oscstream-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn only_a_small_regular_file_is_read() {
        let dir = dir("read");
        let file = dir.join("timers-main.json");
        assert_eq!(read(&file), Ok(None));
        std::fs::write(&file, b"{}").unwrap();
        assert_eq!(read(&file), Ok(Some(b"{}".to_vec())));
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &file).unwrap();
        assert!(read(&file).is_err(), "a symlink is not followed");
        std::fs::remove_file(&file).unwrap();
        std::fs::write(&file, vec![b' '; 5000]).unwrap();
        assert!(read(&file).unwrap_err().contains("5000 bytes"));
        std::fs::remove_file(&file).unwrap();
        let fifo = std::ffi::CString::new(file.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo reads the one path it is given.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert!(read(&file).unwrap_err().contains("not a regular file"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_symlinked_temporary_file_is_replaced_not_followed() {
        let dir = dir("write");
        let victim = dir.join("victim");
        std::fs::write(&victim, b"keep me").unwrap();
        let file = dir.join("timers-main.json");
        std::os::unix::fs::symlink(&victim, file.with_extension("tmp")).unwrap();
        write(&file, b"{\"offDelay\":600}").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        assert_eq!(std::fs::read(&file).unwrap(), b"{\"offDelay\":600}");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
