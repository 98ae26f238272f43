//! The non-blocking socket system calls every native I/O path shares:
//! `EINTR` is retried, "would block" is `Ok(None)`, anything else is the
//! OS error (PyO3 turns it into the matching OSError subclass).

use std::io;
use std::os::fd::RawFd;

#[cfg(target_os = "linux")]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(target_os = "linux"))]
const SEND_FLAGS: libc::c_int = 0; // Python ignores SIGPIPE at start-up

/// EAGAIN/EWOULDBLOCK, compared as numbers: `ErrorKind` decodes the errno
/// through a long match (~50 instructions; a datagram batch ends on one).
fn would_block(err: &io::Error) -> bool {
    err.raw_os_error()
        .is_some_and(|code| code == libc::EAGAIN || code == libc::EWOULDBLOCK)
}

/// Runs one system call returning a byte count, retrying on EINTR.
fn retrying(mut call: impl FnMut() -> isize) -> io::Result<Option<usize>> {
    loop {
        if let Ok(n) = usize::try_from(call()) {
            return Ok(Some(n));
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return if would_block(&err) {
            Ok(None)
        } else {
            Err(err)
        };
    }
}

/// `recv(2)` into `buf`; `Ok(Some(0))` is end of stream.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: `buf` is valid for `buf.len()` writable bytes.
    retrying(|| unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) })
}

/// One `send(2)` of `data`: how much the kernel took.
pub fn send(fd: RawFd, data: &[u8]) -> io::Result<Option<usize>> {
    // SAFETY: `data` is valid for `data.len()` readable bytes.
    retrying(|| unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), SEND_FLAGS) })
}

/// `send(2)` until all of `data` is sent or the socket would block: how
/// much was sent.
pub fn send_all(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    let mut sent = 0;
    while sent < data.len() {
        match send(fd, &data[sent..])? {
            Some(n) => sent += n,
            None => break,
        }
    }
    Ok(sent)
}

/// `recvfrom(2)`: one datagram into `buf` (cut to its length), the
/// sender's address into `from` (its length set to what the kernel gave).
pub fn recvfrom(
    fd: RawFd,
    buf: &mut [u8],
    from: &mut libc::sockaddr_storage,
    from_len: &mut libc::socklen_t,
) -> io::Result<Option<usize>> {
    let capacity = libc::socklen_t::try_from(std::mem::size_of_val(from)).unwrap_or(0);
    retrying(|| {
        *from_len = capacity;
        // SAFETY: `buf` is valid for `buf.len()` writable bytes and `from`
        // for `capacity` writable bytes.
        unsafe {
            libc::recvfrom(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                std::ptr::from_mut(from).cast(),
                from_len,
            )
        }
    })
}

/// One `sendto(2)` of `data` to the first `to_len` bytes of `to`.
pub fn sendto(
    fd: RawFd,
    data: &[u8],
    to: &libc::sockaddr_storage,
    to_len: libc::socklen_t,
) -> io::Result<Option<usize>> {
    let capacity = libc::socklen_t::try_from(std::mem::size_of_val(to)).unwrap_or(0);
    let to_len = to_len.min(capacity);
    // SAFETY: `data` is valid for `data.len()` readable bytes and `to` for
    // `to_len` readable bytes.
    retrying(|| unsafe {
        libc::sendto(
            fd,
            data.as_ptr().cast(),
            data.len(),
            SEND_FLAGS,
            std::ptr::from_ref(to).cast(),
            to_len,
        )
    })
}

/// `shutdown(fd, SHUT_WR)`: the peer sees end of stream.
pub fn shutdown_write(fd: RawFd) -> io::Result<()> {
    // SAFETY: shutdown has no memory-safety preconditions.
    if unsafe { libc::shutdown(fd, libc::SHUT_WR) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `read(2)` into `buf` (pipes and character devices); `Ok(Some(0))` is
/// end of file.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: `buf` is valid for `buf.len()` writable bytes.
    retrying(|| unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

/// One `write(2)` of `data`: how much the kernel took.
pub fn write(fd: RawFd, data: &[u8]) -> io::Result<Option<usize>> {
    // SAFETY: `data` is valid for `data.len()` readable bytes.
    retrying(|| unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) })
}

/// `readv(2)` into `first`, then `second`: one receive of a connected
/// socket scattered over two buffers; `Ok(Some(0))` is end of stream.
pub fn recv_scattered(fd: RawFd, first: &mut [u8], second: &mut [u8]) -> io::Result<Option<usize>> {
    let iov = [
        libc::iovec {
            iov_base: first.as_mut_ptr().cast(),
            iov_len: first.len(),
        },
        libc::iovec {
            iov_base: second.as_mut_ptr().cast(),
            iov_len: second.len(),
        },
    ];
    // SAFETY: both iovecs describe live, writable slices of their lengths.
    retrying(|| unsafe { libc::readv(fd, iov.as_ptr(), 2) })
}
