//! Secrets kept off the command line: the first line of a small file of the user's,
//! refused when it is missing, empty, readable by every user, or not a regular file.
//! The flags and the config file both read secrets here; the sentences name the file
//! and the flag, never the secret.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Most bytes read from a secret file: a password or a `USER:PASSWORD` line is short,
/// and a secret "file" that is a device or a huge file must not be read whole.
pub const MAX_SECRET_FILE_BYTES: u64 = 4 << 10;

/// The first line of the secret file at `path`, or the sentence saying why not.
/// `file_flag` and `what` name where it was asked for and what it holds.
pub fn read_secret_file(path: &Path, file_flag: &str, what: &str) -> Result<String, String> {
    let shown = path.display();
    let cannot = |e: std::io::Error| {
        format!(
            "cannot read {what} from {shown} ({file_flag}): {}",
            io_reason(&e)
        )
    };
    // Non-blocking, so that opening a FIFO cannot hang the start before signals work.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(format!(
            "{shown} ({file_flag}) is not a regular file: put {what} in a file of its own"
        ));
    }
    let mode = meta.permissions().mode();
    if mode & 0o004 != 0 {
        return Err(format!(
            "{shown} ({file_flag}) is readable by every user on this computer (mode {:o}): run chmod 600 {shown}",
            mode & 0o777
        ));
    }
    if meta.len() > MAX_SECRET_FILE_BYTES {
        return Err(format!(
            "{shown} ({file_flag}) holds {} bytes, more than the {MAX_SECRET_FILE_BYTES} a file for {what} may",
            meta.len()
        ));
    }
    let text = read_at_most(file, MAX_SECRET_FILE_BYTES).map_err(cannot)?;
    let first = text.lines().next().unwrap_or_default();
    if first.is_empty() {
        return Err(format!(
            "{shown} ({file_flag}) is empty: its first line must hold {what}"
        ));
    }
    Ok(first.to_string())
}

fn read_at_most(file: File, max: u64) -> std::io::Result<String> {
    let mut text = String::new();
    file.take(max).read_to_string(&mut text)?;
    Ok(text)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::InvalidData => "it is not text".into(),
        _ => e.to_string(),
    }
}
