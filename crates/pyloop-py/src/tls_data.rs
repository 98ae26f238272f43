//! The data phase of asyncio's `sslproto.SSLProtocol` in Rust: the read
//! path (`buffer_updated`, `_do_read` and its copied/buffered loops) and the
//! write path (`_SSLProtocolTransport.write`, `_do_write`,
//! `_process_outgoing`).
//!
//! Every function works on the protocol (a `TlsCore`, whose fields are the
//! attributes asyncio's code reads and assigns), step for step as asyncio's
//! methods do (same calls, same order, same exceptions), so asyncio's own
//! Python code (handshake, shutdown, time-outs, errors, flow-control
//! transitions) runs unchanged around it and sees the state it expects. Any
//! state but WRAPPED (and FLUSHING, which `_do_read` also serves) is handed
//! to asyncio's methods.
//!
//! Shortcuts, none observable by an app:
//! - when the SSL object is exactly `ssl.SSLObject`, its inner
//!   `_ssl._SSLSocket` is called directly (the wrapper's methods only
//!   forward), and exact MemoryBIOs and `_SSLSocket`s are called through
//!   their type's descriptors (`tls_ssl.rs`);
//! - a read loop stops without the read that would raise SSLWantReadError
//!   when nothing is left to decrypt: the incoming BIO is empty and OpenSSL
//!   holds no decrypted bytes, which needs no asking after a read of at
//!   least a record's plaintext (MAX_RECORD_PLAINTEXT);
//! - the outgoing BIO is not read when empty, nor asked again after pyloop's
//!   socket transport took what was read from it; the incoming BIO is not
//!   asked again after a read phase that saw it empty;
//! - the socket transport hands TLS the bytes it read (`feed`/`fed`)
//!   instead of `get_buffer`/`buffer_updated`, and its `write` is called
//!   natively when its class does not override it.

use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyInt, PySlice, PyString, PyTuple};

use crate::byte_view::is_bytes_like;
use crate::native_types;
use crate::tls_core::{field, TlsCore};
use crate::tls_gather;
use crate::tls_ssl::{Bio, Engine};
use crate::transport::SocketTransport;

/// The most plaintext one TLS record carries (2**14 bytes, TLS 1.2 and
/// 1.3): a read asked for at least this much takes the rest of the record
/// OpenSSL is on, so OpenSSL holds no decrypted byte after it.
pub const MAX_RECORD_PLAINTEXT: usize = 16 * 1024;

const FAILED: &str = "Fatal error on SSL protocol";

type Proto<'py> = Bound<'py, TlsCore>;

/// What the data path needs from `asyncio.sslproto` and `ssl`, once.
pub struct Sslproto {
    wrapped: Py<PyAny>,
    flushing: Py<PyAny>,
    do_handshake: Py<PyAny>,
    shutdown: Py<PyAny>,
    again: Py<PyAny>,
    ssl_object: Py<PyAny>,
    control_app_writing: Py<PyAny>,
    control_ssl_reading: Py<PyAny>,
    /// `SSLProtocol.max_size`, the class attribute (`TlsCore`'s default),
    /// and as an int object.
    max_size: isize,
    max_size_obj: Py<PyAny>,
}

/// One of the steps below (`read_phase`, `write_backlog`, `outgoing`) as a
/// method of the protocol.
pub fn run(proto: &Proto<'_>, step: fn(&Proto<'_>, &Sslproto) -> PyResult<()>) -> PyResult<()> {
    step(proto, sslproto(proto.py())?)
}

fn sslproto(py: Python<'_>) -> PyResult<&Sslproto> {
    static CELL: PyOnceLock<Sslproto> = PyOnceLock::new();
    CELL.get_or_try_init(py, || {
        let module = py.import("asyncio.sslproto")?;
        let states = module.getattr("SSLProtocolState")?;
        let class = module.getattr("SSLProtocol")?;
        let state = |name: &str| states.getattr(name).map(Bound::unbind);
        let method = |name: &str| class.getattr(name).map(Bound::unbind);
        Ok(Sslproto {
            wrapped: state("WRAPPED")?,
            flushing: state("FLUSHING")?,
            do_handshake: state("DO_HANDSHAKE")?,
            shutdown: state("SHUTDOWN")?,
            again: module.getattr("SSLAgainErrors")?.unbind(),
            ssl_object: py.import("ssl")?.getattr("SSLObject")?.unbind(),
            control_app_writing: method("_control_app_writing")?,
            control_ssl_reading: method("_control_ssl_reading")?,
            max_size: class.getattr("max_size")?.extract()?,
            max_size_obj: class.getattr("max_size")?.unbind(),
        })
    })
}

/// asyncio's `SSLProtocol.max_size`.
pub fn default_max_size(py: Python<'_>) -> PyResult<isize> {
    Ok(sslproto(py)?.max_size)
}

/// One field of the protocol, read under a short borrow (never held while
/// Python runs).
fn get<'py>(
    proto: &Proto<'py>,
    pick: impl FnOnce(&TlsCore) -> &Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(field(proto.py(), pick(&*proto.try_borrow()?)))
}

fn flag(proto: &Proto<'_>, pick: impl FnOnce(&TlsCore) -> bool) -> PyResult<bool> {
    Ok(pick(&*proto.try_borrow()?))
}

/// `self._write_buffer_size += delta`.
fn add_write_buffer_size(proto: &Proto<'_>, delta: isize) -> PyResult<()> {
    let mut this = proto.try_borrow_mut()?;
    this.write_buffer_size = this.write_buffer_size.saturating_add(delta);
    Ok(())
}

/// The object whose `read`/`write`/`pending` do the work: the inner
/// `_sslobj` of a plain `ssl.SSLObject` (whose methods only forward to it),
/// else the SSL object itself (a custom `sslobject_class` keeps its own
/// methods). Found once per SSL object and kept on the protocol.
fn ssl_engine<'py>(proto: &Proto<'py>, names: &Sslproto) -> PyResult<Engine<'py>> {
    let py = proto.py();
    {
        let this = proto.try_borrow()?;
        if let (Some(engine), Some(of), Some(sslobj)) =
            (&this.engine, &this.engine_of, &this.sslobj)
        {
            if of.is(sslobj) {
                return Ok(Engine::known(engine.bind(py).clone(), this.engine_exact));
            }
        }
    }
    let sslobj = get(proto, |c| &c.sslobj)?;
    let engine = if sslobj.get_type().is(names.ssl_object.bind(py)) {
        sslobj.getattr(intern!(py, "_sslobj"))?
    } else {
        sslobj.clone()
    };
    let (engine, exact) = Engine::new(engine)?.into_parts();
    let old = {
        let mut this = proto.try_borrow_mut()?;
        this.engine_exact = exact;
        (
            this.engine.replace(engine.clone().unbind()),
            this.engine_of.replace(sslobj.unbind()),
        )
    };
    drop(old);
    Ok(Engine::known(engine, exact))
}

/// True when another read could only raise SSLWantReadError: the incoming
/// BIO is empty and OpenSSL holds no decrypted bytes. (Python's `ssl` never
/// turns on read-ahead, so OpenSSL buffers no undecrypted record past the
/// one it returned.) `whole`: the last read was asked for at least
/// MAX_RECORD_PLAINTEXT bytes of the C object, so it left no decrypted byte
/// behind and OpenSSL need not be asked.
fn dry(incoming: &Bio<'_>, engine: &Engine<'_>, whole: bool) -> PyResult<bool> {
    Ok(incoming.pending()? == 0 && (whole || engine.pending()? == 0))
}

/// One of asyncio's `SSLAgainErrors` (want-read, syscall), which the read
/// and write loops end on quietly.
fn is_again(err: &PyErr, names: &Sslproto, py: Python<'_>) -> bool {
    err.matches(py, names.again.bind(py)).unwrap_or(false)
}

/// asyncio's `except Exception as ex: self._fatal_error(ex, ...)`; other
/// BaseExceptions propagate.
fn fatal_on_exception(proto: &Proto<'_>, result: PyResult<()>) -> PyResult<()> {
    let py = proto.py();
    match result {
        Err(err) if err.is_instance_of::<PyException>(py) => proto
            .call_method1(intern!(py, "_fatal_error"), (err.into_value(py), FAILED))
            .map(drop),
        other => other,
    }
}

/// `SSLProtocol.buffer_updated`: the bytes the transport just put in the
/// protocol's buffer go to the incoming BIO, then to the state's handler.
pub fn buffer_updated(proto: &Proto<'_>, nbytes: isize) -> PyResult<()> {
    let py = proto.py();
    let view = get(proto, |c| &c.ssl_buffer_view)?;
    let received = view.get_item(PySlice::new(py, 0, nbytes, 1))?;
    Bio::new(get(proto, |c| &c.incoming)?)?.write(&received)?;
    fed(proto)
}

/// Whether the socket transport may hand the bytes it reads straight to
/// `feed` instead of reading into `get_buffer()` and calling
/// `buffer_updated`: the incoming BIO is an exact MemoryBIO (which copies
/// what it is given) and `max_size` is `read_size`, the most the transport
/// reads at once (so it reads as much as `get_buffer(-1)` would let it).
pub fn takes_bytes(proto: &Proto<'_>, read_size: usize) -> PyResult<bool> {
    let (max_size, incoming) = {
        let this = proto.try_borrow()?;
        (this.max_size, field(proto.py(), &this.incoming))
    };
    Ok(usize::try_from(max_size).is_ok_and(|n| n == read_size) && Bio::new(incoming)?.exact())
}

/// The first half of `buffer_updated` for bytes the transport read itself:
/// `self._incoming.write(data)`.
pub fn feed(proto: &Proto<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
    Bio::new(get(proto, |c| &c.incoming)?)?.write(data)
}

/// `feed` for bytes the caller holds (no Python code runs: `takes_bytes`
/// found an exact MemoryBIO).
pub fn feed_slice(proto: &Proto<'_>, data: &[u8]) -> PyResult<()> {
    Bio::new(get(proto, |c| &c.incoming)?)?.write_slice(data)
}

/// The rest of `buffer_updated`, once the bytes are in the incoming BIO.
pub fn fed(proto: &Proto<'_>) -> PyResult<()> {
    let py = proto.py();
    let names = sslproto(py)?;
    let state = get(proto, |c| &c.state)?;
    if state.is(names.wrapped.bind(py)) {
        read_phase(proto, names)
    } else if state.is(names.do_handshake.bind(py)) {
        proto.call_method0(intern!(py, "_do_handshake")).map(drop)
    } else if state.is(names.flushing.bind(py)) {
        proto.call_method0(intern!(py, "_do_flush")).map(drop)
    } else if state.is(names.shutdown.bind(py)) {
        proto.call_method0(intern!(py, "_do_shutdown")).map(drop)
    } else {
        Ok(())
    }
}

/// `SSLProtocol._do_read`.
pub fn read_phase(proto: &Proto<'_>, names: &Sslproto) -> PyResult<()> {
    let (reading, paused, buffered) = {
        let this = proto.try_borrow()?;
        let reading = this
            .state
            .as_ref()
            .is_some_and(|state| state.is(&names.wrapped) || state.is(&names.flushing));
        (reading, this.app_reading_paused, this.app_is_buffer)
    };
    if !reading {
        return Ok(());
    }
    let result = (|| {
        let mut emptied = None;
        if !paused {
            if buffered {
                read_buffered(proto, names)?;
            } else {
                emptied = read_copied(proto, names)?;
            }
            if get(proto, |c| &c.write_backlog)?.is_truthy()? {
                write_backlog(proto, names)?;
            } else {
                outgoing(proto, names)?;
            }
        }
        control_ssl_reading(proto, names, emptied)
    })();
    fatal_on_exception(proto, result)
}

/// `SSLProtocol._do_read__copied`: decrypted chunks until the BIO runs dry,
/// delivered to `data_received` as one bytes object. Returns the incoming
/// BIO when the reads ended on seeing it empty (see `control_ssl_reading`).
fn read_copied<'py>(proto: &Proto<'py>, names: &Sslproto) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = proto.py();
    let engine = ssl_engine(proto, names)?;
    let (incoming, max_size) = {
        let this = proto.try_borrow()?;
        (field(py, &this.incoming), this.max_size)
    };
    let incoming = Bio::new(incoming)?;
    let read = if plain_reads(&engine, &incoming, max_size) {
        read_plain(&engine, &incoming, max_size, names)?
    } else {
        read_chunks(&engine, &incoming, max_size, names)?
    };
    if let Some(data) = read.data {
        get(proto, |c| &c.app_protocol)?.call_method1(intern!(py, "data_received"), (data,))?;
    }
    if read.close_notify {
        eof_and_shutdown(proto)?;
    }
    Ok(read.dry.then(|| incoming.into_object()))
}

/// What one read phase decrypted.
struct Decrypted<'py> {
    /// The bytes for `data_received` (None: nothing).
    data: Option<Bound<'py, PyAny>>,
    /// It ended on the peer's close_notify.
    close_notify: bool,
    /// It ended on seeing the incoming BIO empty.
    dry: bool,
}

impl<'py> Decrypted<'py> {
    fn new(data: Option<Bound<'py, PyAny>>, close_notify: bool, dry: bool) -> Self {
        Self {
            data,
            close_notify,
            dry,
        }
    }
}

/// Whether the read phase can take `read_plain`: a plain SSL object, an
/// exact MemoryBIO and a `max_size` of at least a record's plaintext.
fn plain_reads(engine: &Engine<'_>, incoming: &Bio<'_>, max_size: isize) -> bool {
    engine.exact()
        && incoming.exact()
        && usize::try_from(max_size).is_ok_and(|n| n >= MAX_RECORD_PLAINTEXT)
}

/// The read phase of a plain SSL object: `read(max_size)` as asyncio makes
/// it. A read asked for at least a record's plaintext leaves nothing
/// decrypted in OpenSSL, so whether another read could give anything is the
/// BIO's `pending` alone; when the BIO holds more, the rest is decrypted
/// after the first chunk into one bytes object (`tls_gather`).
fn read_plain<'py>(
    engine: &Engine<'py>,
    incoming: &Bio<'py>,
    max_size: isize,
    names: &Sslproto,
) -> PyResult<Decrypted<'py>> {
    let py = engine.py();
    let asked = if max_size == names.max_size {
        names.max_size_obj.bind(py).clone()
    } else {
        max_size.into_pyobject(py)?.into_any()
    };
    let chunk = match engine.read(&asked) {
        Ok(chunk) => chunk,
        Err(err) if is_again(&err, names, py) => return Ok(Decrypted::new(None, false, false)),
        Err(err) => return Err(err),
    };
    // `_SSLSocket.read` gives bytes: empty is close_notify.
    let head = chunk.downcast::<PyBytes>()?;
    if head.as_bytes().is_empty() {
        return Ok(Decrypted::new(None, true, false));
    }
    if incoming.pending()? == 0 {
        return Ok(Decrypted::new(Some(chunk), false, true));
    }
    let burst = tls_gather::gather(head.as_bytes(), incoming, engine, true, |err| {
        is_again(err, names, py)
    })?;
    Ok(Decrypted::new(
        Some(burst.data.into_any()),
        burst.close_notify,
        burst.dry,
    ))
}

/// The read phase as asyncio's loop makes it (`read(max_size)` until the
/// BIO runs dry, close_notify or SSLAgainErrors; the chunks joined), for
/// any other SSL object or buffer. The BIO runs dry when it is empty and
/// OpenSSL's `pending` is 0.
fn read_chunks<'py>(
    engine: &Engine<'py>,
    incoming: &Bio<'py>,
    max_size: isize,
    names: &Sslproto,
) -> PyResult<Decrypted<'py>> {
    let py = engine.py();
    let asked = max_size.into_pyobject(py)?.into_any();
    let whole =
        engine.exact() && usize::try_from(max_size).is_ok_and(|n| n >= MAX_RECORD_PLAINTEXT);
    let mut chunks: Vec<Bound<'_, PyAny>> = Vec::new();
    let mut close_notify = false;
    let mut ran_dry = false;
    loop {
        match engine.read(&asked) {
            Ok(chunk) => {
                if !chunk.is_truthy()? {
                    close_notify = true;
                    break;
                }
                chunks.push(chunk);
            }
            Err(err) if is_again(&err, names, py) => break,
            Err(err) => return Err(err),
        }
        if dry(incoming, engine, whole)? {
            ran_dry = true;
            break;
        }
    }
    let data = match chunks.len() {
        0 => None,
        1 => chunks.pop(),
        _ => Some(join(py, &chunks)?),
    };
    Ok(Decrypted::new(data, close_notify, ran_dry))
}

/// `b''.join(chunks)` for the bytes objects `read` returns (without
/// zeroing the result first, as `PyBytes::new_with` would).
fn join<'py>(py: Python<'py>, chunks: &[Bound<'py, PyAny>]) -> PyResult<Bound<'py, PyAny>> {
    let parts: Vec<&[u8]> = chunks
        .iter()
        .map(|chunk| chunk.downcast::<PyBytes>().map(|b| b.as_bytes()))
        .collect::<Result<_, _>>()?;
    let total: usize = parts.iter().map(|part| part.len()).sum();
    let size = ffi::Py_ssize_t::try_from(total)?;
    // SAFETY: a NULL source asks CPython for an uninitialised bytes object of
    // `size` bytes (or NULL with MemoryError set); nobody else sees it before
    // every byte is written below.
    let joined = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyBytes_FromStringAndSize(std::ptr::null(), size))?
    };
    // SAFETY: the object is the fresh bytes of `total` bytes made above.
    let out = unsafe {
        std::slice::from_raw_parts_mut(ffi::PyBytes_AsString(joined.as_ptr()).cast::<u8>(), total)
    };
    let mut at = 0;
    for part in parts {
        out[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    Ok(joined)
}

/// close_notify: `_call_eof_received()` then `_start_shutdown()`.
fn eof_and_shutdown(proto: &Proto<'_>) -> PyResult<()> {
    let py = proto.py();
    proto.call_method0(intern!(py, "_call_eof_received"))?;
    proto.call_method0(intern!(py, "_start_shutdown"))?;
    Ok(())
}

/// `SSLProtocol._do_read__buffered`: decrypts straight into the app
/// protocol's `get_buffer()` buffer, then `buffer_updated(offset)`.
fn read_buffered(proto: &Proto<'_>, names: &Sslproto) -> PyResult<()> {
    let py = proto.py();
    let engine = ssl_engine(proto, names)?;
    let incoming = Bio::new(get(proto, |c| &c.incoming)?)?;
    let buf = get(proto, |c| &c.app_get_buffer)?.call1((incoming.pending()?,))?;
    let wants = isize::try_from(buf.len()?).unwrap_or(isize::MAX);
    let mut offset: isize = 0;
    let mut count: isize = 1;
    let read = |len: isize, target: &Bound<'_, PyAny>| -> PyResult<isize> {
        engine.read_into(len, target)
    };
    let outcome = (|| -> PyResult<()> {
        count = read(wants, &buf)?;
        if count > 0 {
            offset = count;
            let mut filled = true;
            while offset < wants {
                if dry(&incoming, &engine, false)? {
                    filled = false;
                    break;
                }
                let rest = buf.get_item(PySlice::new(py, offset, isize::MAX, 1))?;
                count = read(wants - offset, &rest)?;
                if count > 0 {
                    offset += count;
                } else {
                    filled = false;
                    break;
                }
            }
            if filled {
                let again = proto.getattr(intern!(py, "_do_read"))?;
                get(proto, |c| &c.loop_)?.call_method1(intern!(py, "call_soon"), (again,))?;
            }
        }
        Ok(())
    })();
    match outcome {
        Err(err) if is_again(&err, names, py) => {}
        other => other?,
    }
    if offset > 0 {
        get(proto, |c| &c.app_buffer_updated)?.call1((offset,))?;
    }
    if count == 0 {
        eof_and_shutdown(proto)?;
    }
    Ok(())
}

/// `SSLProtocol._do_write`.
pub fn write_backlog(proto: &Proto<'_>, names: &Sslproto) -> PyResult<()> {
    let py = proto.py();
    let backlog = get(proto, |c| &c.write_backlog)?;
    let engine = ssl_engine(proto, names)?;
    let outcome = (|| -> PyResult<()> {
        while backlog.is_truthy()? {
            let data = backlog.get_item(0)?;
            let count: isize = engine.write(&data)?.extract()?;
            let data_len = isize::try_from(data.len()?).unwrap_or(isize::MAX);
            if count < data_len {
                backlog.set_item(0, data.get_item(PySlice::new(py, count, isize::MAX, 1))?)?;
                add_write_buffer_size(proto, -count)?;
            } else {
                backlog.call_method0(intern!(py, "popleft"))?;
                add_write_buffer_size(proto, -data_len)?;
            }
        }
        Ok(())
    })();
    match outcome {
        Err(err) if is_again(&err, names, py) => {}
        other => other?,
    }
    outgoing(proto, names)
}

/// `SSLProtocol._process_outgoing`.
pub fn outgoing(proto: &Proto<'_>, names: &Sslproto) -> PyResult<()> {
    process_outgoing(proto, names, false)
}

/// `SSLProtocol._process_outgoing` right after the SSL object took app
/// data (so the BIO holds a record).
fn outgoing_after_write(proto: &Proto<'_>, names: &Sslproto) -> PyResult<()> {
    process_outgoing(proto, names, true)
}

fn process_outgoing(proto: &Proto<'_>, names: &Sslproto, wrote: bool) -> PyResult<()> {
    let (bio, paused) = {
        let this = proto.try_borrow()?;
        (field(proto.py(), &this.outgoing), this.ssl_writing_paused)
    };
    let bio = Bio::new(bio)?;
    // `read()` takes all the BIO holds, so when it found nothing to send the
    // BIO is empty for the water-mark check (the usual case after a read),
    // and asking it again would only cost a call. An exact MemoryBIO that
    // holds nothing would give b'', which asyncio does not send: unless a
    // write just filled it, it is asked first and not read when empty.
    //
    // After pyloop's socket transport took what `read()` returned, the BIO
    // is still empty unless the transport paused the protocol: the only
    // Python code it runs is the protocol's `pause_writing` (asyncio's,
    // setting `_ssl_writing_paused`) and, on a failed send, the loop's
    // exception handler; app data written from there went out through
    // `_process_outgoing` at once, unless writing was paused.
    let mut emptied = false;
    if !paused {
        if !wrote && bio.exact() && bio.pending()? == 0 {
            emptied = true;
        } else {
            let data = bio.read()?;
            if data.len()? > 0 {
                let native = transport_write(&get(proto, |c| &c.transport)?, &data)?;
                emptied = native && bio.exact() && !flag(proto, |c| c.ssl_writing_paused)?;
            } else {
                emptied = true;
            }
        }
    }
    let waiting = if emptied { 0 } else { bio.pending()? };
    control_app_writing(proto, names, waiting)
}

/// `transport.write(data)`; pyloop's own socket transport is called
/// without the Python method call (then true).
fn transport_write(transport: &Bound<'_, PyAny>, data: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = transport.py();
    if let Some(native) = native_types::as_socket_transport(transport) {
        if native_write(native)? {
            SocketTransport::write(native, data)?;
            return Ok(true);
        }
    }
    transport.call_method1(intern!(py, "write"), (data,))?;
    Ok(false)
}

extern "C" {
    // CPython's lookup of a name along a type's MRO, without the instance
    // (Include/cpython/object.h; a borrowed reference or NULL, no exception
    // set), which PyO3's ffi does not declare.
    fn _PyType_Lookup(
        type_: *mut ffi::PyTypeObject,
        name: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject;
}

/// Whether the transport's class takes `write` from SocketTransport (a
/// subclass, such as `pyloop._transports.SocketTransport`, that does not
/// override it). An instance attribute named `write` is not looked for, as
/// the socket transport does not look for one on the protocol.
fn native_write(transport: &Bound<'_, SocketTransport>) -> PyResult<bool> {
    static WRITE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = transport.py();
    let native = WRITE.get_or_try_init(py, || {
        py.get_type::<SocketTransport>()
            .getattr(intern!(py, "__dict__"))?
            .get_item("write")
            .map(Bound::unbind)
    })?;
    // SAFETY: a live object's type and an interned str; the result is
    // borrowed and only compared.
    let found = unsafe {
        _PyType_Lookup(
            ffi::Py_TYPE(transport.as_ptr()),
            intern!(py, "write").as_ptr(),
        )
    };
    Ok(std::ptr::eq(found, native.as_ptr()))
}

/// Whether asyncio's water-mark check would flip the paused flag: `size >=
/// mark` when not paused (`mark` is the high water mark), `size <= mark`
/// when paused (the low one). The marks are ints unless a caller set
/// something else, which is then compared as Python would.
fn crosses(size: usize, extra: isize, mark: &Bound<'_, PyAny>, paused: bool) -> PyResult<bool> {
    let total = isize::try_from(size)
        .unwrap_or(isize::MAX)
        .saturating_add(extra);
    if let Ok(mark) = mark.downcast_exact::<PyInt>() {
        if let Ok(mark) = mark.extract::<i64>() {
            let total = i64::try_from(total).unwrap_or(i64::MAX);
            return Ok(if paused { total <= mark } else { total >= mark });
        }
    }
    let total = total.into_pyobject(mark.py())?;
    if paused {
        total.le(mark)
    } else {
        total.ge(mark)
    }
}

/// `SSLProtocol._control_app_writing` (`waiting`: the outgoing BIO's
/// `pending`): the check here; a change of state
/// (and its pause_writing/resume_writing call) is asyncio's method.
fn control_app_writing(proto: &Proto<'_>, names: &Sslproto, waiting: usize) -> PyResult<()> {
    let py = proto.py();
    let (buffered, paused, mark) = {
        let this = proto.try_borrow()?;
        let paused = this.app_writing_paused;
        let mark = if paused {
            &this.outgoing_low_water
        } else {
            &this.outgoing_high_water
        };
        (this.write_buffer_size, paused, field(py, mark))
    };
    if crosses(waiting, buffered, &mark, paused)? {
        names.control_app_writing.bind(py).call1((proto,))?;
    }
    Ok(())
}

/// `SSLProtocol._control_ssl_reading`, as `control_app_writing`.
/// `emptied`: the incoming BIO the read phase just saw empty. Only
/// `buffer_updated` writes to it, called by the socket transport's reader
/// callback, which does not run inside the read phase's `data_received`
/// (the transport reads again only from the loop), so it is still empty
/// and is not asked again.
fn control_ssl_reading(
    proto: &Proto<'_>,
    names: &Sslproto,
    emptied: Option<Bound<'_, PyAny>>,
) -> PyResult<()> {
    let py = proto.py();
    let (incoming, paused, mark) = {
        let this = proto.try_borrow()?;
        let paused = this.ssl_reading_paused;
        let mark = if paused {
            &this.incoming_low_water
        } else {
            &this.incoming_high_water
        };
        (field(py, &this.incoming), paused, field(py, mark))
    };
    let size = match emptied {
        Some(seen) if seen.is(&incoming) => 0,
        _ => Bio::new(incoming)?.pending()?,
    };
    if crosses(size, 0, &mark, paused)? {
        names.control_ssl_reading.bind(py).call1((proto,))?;
    }
    Ok(())
}

/// `_SSLProtocolTransport.write`: asyncio's type check and message, then
/// `_write_appdata((data,))`, done here in the WRAPPED state.
#[pyfunction]
pub fn tls_transport_write(transport: &Bound<'_, PyAny>, data: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = transport.py();
    if !is_bytes_like(data) {
        let kind = data.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "data: expecting a bytes-like instance, got {kind}"
        )));
    }
    // `if not data`: a bytes-like object is false exactly when its length
    // is 0 (both ask the same length slot).
    let data_len = isize::try_from(data.len()?).unwrap_or(isize::MAX);
    if data_len == 0 {
        return Ok(());
    }
    let names = sslproto(py)?;
    let proto = transport.getattr(intern!(py, "_ssl_protocol"))?;
    // Every state but WRAPPED (and a transport closed twice, whose protocol
    // is None) is asyncio's own `_write_appdata`.
    let Some(core) = native_types::as_tls_core(&proto) else {
        return write_appdata(&proto, data);
    };
    let backlog = {
        let this = core.try_borrow()?;
        let wrapped = this.state.as_ref().is_some_and(|s| s.is(&names.wrapped));
        wrapped.then(|| field(py, &this.write_backlog))
    };
    let Some(backlog) = backlog else {
        return write_appdata(&proto, data);
    };
    let proto = core.clone();
    let engine = ssl_engine(&proto, names)?;
    if backlog.is_truthy()? || !engine.exact() {
        backlog.call_method1(intern!(py, "append"), (data,))?;
        add_write_buffer_size(&proto, data_len)?;
        return fatal_on_exception(&proto, write_backlog(&proto, names));
    }
    // Nothing queued: asyncio would append `data`, write it from the front
    // of the backlog and pop it. The same end state without the round trip
    // through the deque: only what the SSL object did not take is queued.
    let written = match engine.write(data) {
        Ok(count) => count.extract::<isize>(),
        Err(err) => Err(err),
    };
    let result = match written {
        Ok(count) => {
            if count < data_len {
                backlog.call_method1(
                    intern!(py, "append"),
                    (data.get_item(PySlice::new(py, count, isize::MAX, 1))?,),
                )?;
                add_write_buffer_size(&proto, data_len - count)?;
            }
            outgoing_after_write(&proto, names)
        }
        Err(err) => {
            backlog.call_method1(intern!(py, "append"), (data,))?;
            add_write_buffer_size(&proto, data_len)?;
            if is_again(&err, names, py) {
                outgoing(&proto, names)
            } else {
                Err(err)
            }
        }
    };
    fatal_on_exception(&proto, result)
}

/// asyncio's `proto._write_appdata((data,))`.
fn write_appdata(proto: &Bound<'_, PyAny>, data: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = proto.py();
    proto
        .call_method1(intern!(py, "_write_appdata"), (PyTuple::new(py, [data])?,))
        .map(drop)
}

extern "C" {
    // CPython's `instancemethod` constructor (Include/cpython/classobject.h),
    // which PyO3's ffi does not declare.
    fn PyInstanceMethod_New(function: *mut pyo3::ffi::PyObject) -> *mut pyo3::ffi::PyObject;
}

/// Adds `tls_transport_write` to the module as an instance method (a
/// builtin function that binds the instance as its first argument when it
/// is a class attribute), for `_SSLProtocolTransport.write` in `pyloop._tls_protocol`.
pub fn install(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let function = wrap_pyfunction!(tls_transport_write, m)?;
    // SAFETY: PyInstanceMethod_New takes a borrowed callable and returns a
    // new reference or NULL with an exception set.
    let method =
        unsafe { Bound::from_owned_ptr_or_err(py, PyInstanceMethod_New(function.as_ptr()))? };
    m.add(PyString::new(py, "tls_transport_write"), method)
}
