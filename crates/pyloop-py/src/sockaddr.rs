//! Socket addresses between the kernel's `sockaddr` and Python's form, for
//! the datagram transport's native `recvfrom(2)` and `sendto(2)`.
//!
//! `to_python` builds what the `socket` module's `recvfrom` returns for an
//! IPv4, IPv6 or Unix sender: `(host, port)`, `(host, port, flowinfo,
//! scope_id)` (the host from libc's `inet_ntop`, as CPython does, so no
//! `%scope` suffix), a path `str` decoded with the filesystem encoding, the
//! `bytes` of a Linux abstract name, or None when the sender has no address.
//!
//! `from_python` converts only the forms that need no name lookup and whose
//! conversion cannot fail in CPython either: numeric IP literals (checked
//! with libc's `inet_pton`, CPython's own shortcut) with in-range ints, and
//! `str`/`bytes` Unix paths that fit. Everything else (host names, `""`,
//! `"<broadcast>"`, `%scope` literals, out-of-range numbers, other types)
//! is None here, and the transport hands it to `sock.sendto`, which
//! resolves names and raises CPython's own errors.

use std::ffi::{c_char, c_int, c_void, CString};
use std::mem::{offset_of, size_of};
use std::net::Ipv4Addr;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyString, PyTuple};

extern "C" {
    // The libc functions CPython's socket module formats and parses numeric
    // addresses with (not in the `libc` crate for every target).
    fn inet_ntop(
        af: c_int,
        src: *const c_void,
        dst: *mut c_char,
        size: libc::socklen_t,
    ) -> *const c_char;
    fn inet_pton(af: c_int, src: *const c_char, dst: *mut c_void) -> c_int;
}

/// `INET6_ADDRSTRLEN`: the longest IPv6 text form, with its NUL.
const INET6_TEXT: usize = 46;
/// CPython refuses a larger IPv6 flow label (`flowinfo must be 0-1048575`).
const MAX_FLOWINFO: u32 = 0xf_ffff;

/// A socket address as the kernel reads and writes it.
#[derive(Clone, Copy)]
pub struct SockAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

fn storage_size() -> libc::socklen_t {
    libc::socklen_t::try_from(size_of::<libc::sockaddr_storage>()).unwrap_or(128)
}

fn len_of<T>() -> libc::socklen_t {
    libc::socklen_t::try_from(size_of::<T>()).unwrap_or(0)
}

impl SockAddr {
    /// Zeroed storage with room for any address: what `recvfrom` fills.
    pub fn for_recv() -> Self {
        Self {
            // SAFETY: sockaddr_storage is plain old data; all zeroes is valid.
            storage: unsafe { std::mem::zeroed() },
            len: storage_size(),
        }
    }

    /// Zeroed storage of family `family`, `len` bytes long.
    fn of_family(family: c_int, len: libc::socklen_t) -> Self {
        let mut addr = Self::for_recv();
        addr.storage.ss_family = libc::sa_family_t::try_from(family).unwrap_or(0);
        addr.len = len;
        addr
    }

    pub fn storage(&self) -> &libc::sockaddr_storage {
        &self.storage
    }

    /// For `recvfrom`: the storage, and its length to be updated.
    pub fn parts_mut(&mut self) -> (&mut libc::sockaddr_storage, &mut libc::socklen_t) {
        (&mut self.storage, &mut self.len)
    }

    pub fn len(&self) -> libc::socklen_t {
        self.len
    }

    fn family(&self) -> c_int {
        c_int::from(self.storage.ss_family)
    }

    /// The whole storage as bytes.
    fn raw(&self) -> &[u8] {
        // SAFETY: sockaddr_storage is plain old data, valid to read as bytes.
        unsafe {
            std::slice::from_raw_parts(
                std::ptr::from_ref(&self.storage).cast::<u8>(),
                size_of::<libc::sockaddr_storage>(),
            )
        }
    }

    /// The address's own bytes (the kernel may report a longer length
    /// than it could store: clamped).
    fn bytes(&self) -> &[u8] {
        let raw = self.raw();
        let len = usize::try_from(self.len).unwrap_or(0).min(raw.len());
        &raw[..len]
    }

    /// The same address (same length, same bytes).
    pub fn same(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }

    /// The storage viewed as the sockaddr type `T` of its family.
    fn view<T>(&self) -> &T {
        const { assert!(size_of::<T>() <= size_of::<libc::sockaddr_storage>()) };
        // SAFETY: sockaddr_storage is large and aligned enough for every
        // sockaddr type (checked above for size), and all of them are plain
        // old data for which any bytes are valid.
        unsafe { &*std::ptr::from_ref(&self.storage).cast::<T>() }
    }

    fn view_mut<T>(&mut self) -> &mut T {
        const { assert!(size_of::<T>() <= size_of::<libc::sockaddr_storage>()) };
        // SAFETY: as in `view`.
        unsafe { &mut *std::ptr::from_mut(&mut self.storage).cast::<T>() }
    }

    /// An address `recvfrom` gave that `from_python` would also have made
    /// from the Python form `to_python` returns for it: a reply to that
    /// very object can reuse it.
    pub fn round_trips(&self, socket_family: c_int) -> bool {
        match self.family() {
            libc::AF_INET => socket_family == libc::AF_INET,
            libc::AF_INET6 => {
                socket_family == libc::AF_INET6
                    && u32::from_be(self.view::<libc::sockaddr_in6>().sin6_flowinfo) <= MAX_FLOWINFO
            }
            _ => false,
        }
    }
}

/// The Python form of an address `recvfrom` gave, as `socket.recvfrom`
/// builds it.
pub fn to_python<'py>(py: Python<'py>, addr: &SockAddr) -> PyResult<Bound<'py, PyAny>> {
    if addr.len == 0 {
        // No address: a Unix sender that never bound one.
        return Ok(py.None().into_bound(py));
    }
    match addr.family() {
        libc::AF_INET => {
            let sin = addr.view::<libc::sockaddr_in>();
            let host = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)).to_string();
            Ok((host, u16::from_be(sin.sin_port))
                .into_pyobject(py)?
                .into_any())
        }
        libc::AF_INET6 => {
            let sin6 = addr.view::<libc::sockaddr_in6>();
            let host = ipv6_text(&sin6.sin6_addr)?;
            Ok((
                host,
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )
                .into_pyobject(py)?
                .into_any())
        }
        libc::AF_UNIX => unix_path_to_python(py, addr),
        family => {
            // What CPython gives for a family it does not know: the family
            // and the 14 bytes of `sa_data`.
            let data =
                &addr.raw()[offset_of!(libc::sockaddr, sa_data)..size_of::<libc::sockaddr>()];
            Ok((family, PyBytes::new(py, data))
                .into_pyobject(py)?
                .into_any())
        }
    }
}

fn ipv6_text(ip: &libc::in6_addr) -> PyResult<String> {
    let mut text = [0 as c_char; INET6_TEXT];
    let size = libc::socklen_t::try_from(text.len()).unwrap_or(0);
    // SAFETY: `ip` is a valid in6_addr and `text` has `size` writable bytes.
    let shown = unsafe {
        inet_ntop(
            libc::AF_INET6,
            std::ptr::from_ref(ip).cast(),
            text.as_mut_ptr(),
            size,
        )
    };
    if shown.is_null() {
        return Err(crate::errors::io_to_py(std::io::Error::last_os_error()));
    }
    // SAFETY: on success inet_ntop wrote a NUL-terminated string into `text`.
    let shown = unsafe { std::ffi::CStr::from_ptr(text.as_ptr()) };
    Ok(shown.to_string_lossy().into_owned())
}

fn unix_path_to_python<'py>(py: Python<'py>, addr: &SockAddr) -> PyResult<Bound<'py, PyAny>> {
    let start = offset_of!(libc::sockaddr_un, sun_path);
    let given = addr.bytes().get(start..).unwrap_or_default();
    if cfg!(target_os = "linux") && given.first() == Some(&0) {
        // A Linux abstract name: every byte counts, the leading NUL too.
        return Ok(PyBytes::new(py, given).into_any());
    }
    // A path: up to its NUL (the storage was zeroed, so there is one).
    let path = &addr.raw()[start..];
    let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
    let len = ffi::Py_ssize_t::try_from(end).unwrap_or(0);
    // SAFETY: `path` holds at least `len` readable bytes.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyUnicode_DecodeFSDefaultAndSize(path.as_ptr().cast(), len),
        )
    }
}

/// The kernel form of a Python address for a socket of `family`, when it
/// is one that needs no name lookup (see the module docs); None otherwise.
pub fn from_python(family: c_int, addr: &Bound<'_, PyAny>) -> Option<SockAddr> {
    match family {
        libc::AF_INET => inet_from_python(addr),
        libc::AF_INET6 => inet6_from_python(addr),
        libc::AF_UNIX => unix_from_python(addr),
        _ => None,
    }
}

/// A numeric host as CPython's shortcut takes it: ASCII, no NUL, parsed by
/// `inet_pton`. `""` and `"<broadcast>"` fail to parse, so they go to
/// CPython's special cases.
fn numeric_host(family: c_int, host: &Bound<'_, PyAny>, dst: *mut c_void) -> Option<()> {
    let host = host.downcast_exact::<PyString>().ok()?.to_str().ok()?;
    if !host.is_ascii() || (family == libc::AF_INET6 && host.contains('%')) {
        return None;
    }
    let host = CString::new(host).ok()?;
    // SAFETY: `host` is NUL-terminated; `dst` points at an in_addr (AF_INET)
    // or in6_addr (AF_INET6) as the caller's family says.
    (unsafe { inet_pton(family, host.as_ptr(), dst) } == 1).then_some(())
}

/// An exact int in `0..=max`, as CPython's range checks accept it.
fn small_int(value: &Bound<'_, PyAny>, max: u32) -> Option<u32> {
    let value: u32 = value.downcast_exact::<PyInt>().ok()?.extract().ok()?;
    (value <= max).then_some(value)
}

fn inet_from_python(addr: &Bound<'_, PyAny>) -> Option<SockAddr> {
    let tuple = addr.downcast_exact::<PyTuple>().ok()?;
    if tuple.len() != 2 {
        return None;
    }
    let port = small_int(&tuple.get_item(1).ok()?, u32::from(u16::MAX))?;
    let mut out = SockAddr::of_family(libc::AF_INET, len_of::<libc::sockaddr_in>());
    let sin = out.view_mut::<libc::sockaddr_in>();
    sin.sin_port = u16::try_from(port).ok()?.to_be();
    numeric_host(
        libc::AF_INET,
        &tuple.get_item(0).ok()?,
        std::ptr::from_mut(&mut sin.sin_addr).cast(),
    )?;
    Some(out)
}

fn inet6_from_python(addr: &Bound<'_, PyAny>) -> Option<SockAddr> {
    let tuple = addr.downcast_exact::<PyTuple>().ok()?;
    if !(2..=4).contains(&tuple.len()) {
        return None;
    }
    let port = small_int(&tuple.get_item(1).ok()?, u32::from(u16::MAX))?;
    let flowinfo = match tuple.get_item(2) {
        Ok(item) => small_int(&item, MAX_FLOWINFO)?,
        Err(_) => 0,
    };
    let scope_id = match tuple.get_item(3) {
        Ok(item) => small_int(&item, u32::MAX)?,
        Err(_) => 0,
    };
    let mut out = SockAddr::of_family(libc::AF_INET6, len_of::<libc::sockaddr_in6>());
    let sin6 = out.view_mut::<libc::sockaddr_in6>();
    sin6.sin6_port = u16::try_from(port).ok()?.to_be();
    sin6.sin6_flowinfo = flowinfo.to_be();
    sin6.sin6_scope_id = scope_id;
    numeric_host(
        libc::AF_INET6,
        &tuple.get_item(0).ok()?,
        std::ptr::from_mut(&mut sin6.sin6_addr).cast(),
    )?;
    Some(out)
}

fn unix_from_python(addr: &Bound<'_, PyAny>) -> Option<SockAddr> {
    let encoded;
    let path: &[u8] = if let Ok(text) = addr.downcast_exact::<PyString>() {
        // SAFETY: `text` is a str; the result is a new reference or NULL
        // with an exception set (dropped below: the caller falls back).
        let raw = unsafe { ffi::PyUnicode_EncodeFSDefault(text.as_ptr()) };
        // SAFETY: `raw` is an owned reference or NULL.
        encoded = unsafe { Bound::from_owned_ptr_or_err(addr.py(), raw) }.ok()?;
        encoded.downcast::<PyBytes>().ok()?.as_bytes()
    } else {
        addr.downcast_exact::<PyBytes>().ok()?.as_bytes()
    };
    let room = size_of::<libc::sockaddr_un>() - offset_of!(libc::sockaddr_un, sun_path);
    let abstract_name = cfg!(target_os = "linux") && path.first() == Some(&0);
    // As CPython: a path leaves room for its NUL; an abstract name may fill
    // the whole field.
    let fits = if abstract_name {
        path.len() <= room
    } else {
        path.len() < room
    };
    if !fits {
        return None;
    }
    let start = offset_of!(libc::sockaddr_un, sun_path);
    let len = libc::socklen_t::try_from(start + path.len()).ok()?;
    let mut out = SockAddr::of_family(libc::AF_UNIX, len);
    let sun = out.view_mut::<libc::sockaddr_un>();
    for (slot, &byte) in sun.sun_path.iter_mut().zip(path) {
        *slot = byte as c_char;
    }
    Some(out)
}
