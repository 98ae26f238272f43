//! The reprs of the native transports, as asyncio's transports build them.

use std::os::fd::RawFd;

/// `<Class [closed|closing] fd=N ...>`: the part all transports share;
/// `tail` is what follows `fd=N`.
fn build(class: &str, closed: bool, closing: bool, fd: RawFd, tail: Vec<String>) -> String {
    let mut info = vec![class.to_string()];
    if closed {
        info.push("closed".into());
    } else if closing {
        info.push("closing".into());
    }
    info.push(format!("fd={fd}"));
    info.extend(tail);
    format!("<{}>", info.join(" "))
}

fn polling(on: bool) -> &'static str {
    if on {
        "polling"
    } else {
        "idle"
    }
}

/// The selector transports' repr (stream and datagram sockets);
/// `registrations` is `(reading, writing, bufsize)`, None once the
/// transport or the loop is closed.
pub(crate) fn socket_repr(
    class: &str,
    closed: bool,
    closing: bool,
    fd: RawFd,
    registrations: Option<(bool, bool, usize)>,
) -> String {
    let tail = match registrations {
        Some((reading, writing, size)) => vec![
            format!("read={}", polling(reading)),
            format!("write=<{}, bufsize={size}>", polling(writing)),
        ],
        None => Vec::new(),
    };
    build(class, closed, closing, fd, tail)
}

/// asyncio's pipe repr; `polling` is None once the loop is closed.
pub(crate) fn pipe_repr(
    class: &str,
    closed: bool,
    closing: bool,
    fd: RawFd,
    polling_now: Option<bool>,
    bufsize: Option<usize>,
) -> String {
    let tail = match (closed, polling_now) {
        (true, _) => vec!["closed".into()],
        (false, None) => vec!["open".into()],
        (false, Some(on)) => std::iter::once(polling(on).to_string())
            .chain(bufsize.map(|size| format!("bufsize={size}")))
            .collect(),
    };
    build(class, closed, closing, fd, tail)
}
