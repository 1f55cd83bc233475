//! Writing answers: whole responses within the write timeout, and a writer for streams
//! that gives up on a client taking nothing for too long.

use super::{Body, Response, STREAM_SEND_BUFFER_BYTES};
use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Finishes `head` for a body of known length and writes both in one vectored write,
/// straight from the body's buffer.
fn write_whole(
    stream: &mut TcpStream,
    mut head: String,
    body: &[u8],
    head_only: bool,
    keep_alive: bool,
) -> io::Result<bool> {
    head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let body = if head_only { &[][..] } else { body };
    crate::formats::mjpeg::write_all_vectored(
        stream,
        &mut [io::IoSlice::new(head.as_bytes()), io::IoSlice::new(body)],
    )?;
    Ok(keep_alive)
}

/// Writes the response; `Ok(true)` when the connection can serve another request.
pub(super) fn write_response(
    stream: &mut TcpStream,
    head_only: bool,
    response: Response,
    keep_alive: bool,
) -> io::Result<bool> {
    let sets_connection = response.has_header("connection");
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status.code(),
        response.status.reason()
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match response.body {
        Body::Bytes(body) => write_whole(stream, head, &body, head_only, keep_alive),
        Body::Shared(body) => write_whole(stream, head, &body, head_only, keep_alive),
        Body::Stream(body) => {
            if !sets_connection {
                head.push_str("Connection: close\r\n");
            }
            head.push_str("\r\n");
            bound_send_buffer(stream, STREAM_SEND_BUFFER_BYTES);
            stream.write_all(head.as_bytes())?;
            if !head_only {
                body(stream)?;
            }
            stream.flush()?;
            Ok(false)
        }
    }
}

/// Sets the socket's send buffer to `bytes`; a failure only leaves the kernel's default.
fn bound_send_buffer(stream: &TcpStream, bytes: usize) {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: the fd is open for the life of `stream`, and the option value is a c_int
    // passed with its exact size, as setsockopt(2) requires for SO_SNDBUF.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// A writer that must finish by a deadline, however the writes are split: a client
/// that reads a byte now and then cannot hold a stream forever, as it could with only a
/// timeout per write call.
///
/// The stream's write timeout must already be `within` (callers set it once per
/// connection): the first write call then needs no change of it, and a part taken in
/// one call (the common case, per viewer per frame) costs no extra system call. Only
/// later calls of a split part shorten the timeout to what is left; dropping the
/// writer puts `within` back.
pub struct DeadlineWriter<'a> {
    stream: &'a mut TcpStream,
    within: Duration,
    deadline: Instant,
    calls: u32,
}

impl<'a> DeadlineWriter<'a> {
    pub fn new(stream: &'a mut TcpStream, within: Duration) -> Self {
        DeadlineWriter {
            stream,
            within,
            deadline: Instant::now() + within,
            calls: 0,
        }
    }

    fn arm(&mut self) -> io::Result<()> {
        self.calls += 1;
        if self.calls == 1 {
            return Ok(());
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not take the part in time",
            ));
        }
        self.stream.set_write_timeout(Some(left))
    }
}

impl Drop for DeadlineWriter<'_> {
    fn drop(&mut self) {
        if self.calls > 1 {
            let _ = self.stream.set_write_timeout(Some(self.within));
        }
    }
}

impl Write for DeadlineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        self.stream.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.arm()?;
        self.stream.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
