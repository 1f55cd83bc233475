//! The relay's log: one line per event on stderr, with a level word
//! (`oscstream: warning: ...`). When stderr goes to journald (systemd sets
//! `$JOURNAL_STREAM` to its device and inode), each line starts with the sd-daemon
//! priority prefix (`<4>`) instead, so `journalctl -p warning` works.
//!
//! Every line is escaped on its way out: text that came from a camera (an error message,
//! a model name) cannot forge a second log line or send terminal escape sequences.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Notice,
    Info,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
            Level::Info => "info",
        }
    }

    /// syslog(3) priority, as sd-daemon(3) prefixes use.
    fn priority(self) -> u8 {
        match self {
            Level::Error => 3,
            Level::Warning => 4,
            Level::Notice => 5,
            Level::Info => 6,
        }
    }
}

pub fn error(message: impl std::fmt::Display) {
    write(Level::Error, &message.to_string());
}

pub fn warning(message: impl std::fmt::Display) {
    write(Level::Warning, &message.to_string());
}

pub fn notice(message: impl std::fmt::Display) {
    write(Level::Notice, &message.to_string());
}

pub fn info(message: impl std::fmt::Display) {
    write(Level::Info, &message.to_string());
}

/// Writes one line, whole, in one call (threads never interleave inside a line).
pub fn write(level: Level, message: &str) {
    let line = format_line(level, message, to_journal());
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// The line as written: prefix, level word, escaped message, newline.
pub fn format_line(level: Level, message: &str, journal: bool) -> String {
    let message = escape(message);
    if journal {
        format!("<{}>{}: {message}\n", level.priority(), level.word())
    } else {
        format!("oscstream: {}: {message}\n", level.word())
    }
}

/// Control characters (newlines, ESC, DEL...) become visible escapes like `\n` and `\x1b`;
/// a backslash is doubled so an escape can always be told from the text.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether stderr is the journal: `$JOURNAL_STREAM` names the device and inode of the
/// stream systemd connected, and stderr must still be that stream (not redirected since).
fn to_journal() -> bool {
    static JOURNAL: OnceLock<bool> = OnceLock::new();
    *JOURNAL.get_or_init(|| {
        let Some(wanted) = std::env::var_os("JOURNAL_STREAM") else {
            return false;
        };
        stderr_dev_inode()
            .is_some_and(|(dev, ino)| wanted.to_str() == Some(&format!("{dev}:{ino}")))
    })
}

fn stderr_dev_inode() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata("/proc/self/fd/2").ok()?;
    Some((meta.dev(), meta.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_text_cannot_forge_lines_or_send_escapes() {
        let line = format_line(
            Level::Warning,
            "refused (bad\n<3>error: FAKE\x1b[31m red\\)",
            false,
        );
        assert_eq!(
            line,
            "oscstream: warning: refused (bad\\n<3>error: FAKE\\x1b[31m red\\\\)\n"
        );
        assert_eq!(line.matches('\n').count(), 1);
    }

    #[test]
    fn journal_lines_carry_the_priority() {
        assert_eq!(format_line(Level::Error, "x", true), "<3>error: x\n");
        assert_eq!(format_line(Level::Info, "y", true), "<6>info: y\n");
    }
}
