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
//! Two shortcuts, neither observable: when the SSL object is exactly
//! `ssl.SSLObject`, its inner `_ssl._SSLSocket` is called directly (the
//! wrapper's methods only forward), and a read loop stops without the read
//! that would raise SSLWantReadError when nothing is left to decrypt (the
//! incoming BIO is empty and OpenSSL holds no decrypted bytes).

use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PySlice, PyString, PyTuple};

use crate::byte_view::is_bytes_like;
use crate::tls_core::{field, TlsCore};
use crate::tls_gather;

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
        })
    })
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
fn ssl_engine<'py>(proto: &Proto<'py>, names: &Sslproto) -> PyResult<Bound<'py, PyAny>> {
    let py = proto.py();
    {
        let this = proto.try_borrow()?;
        if let (Some(engine), Some(of), Some(sslobj)) =
            (&this.engine, &this.engine_of, &this.sslobj)
        {
            if of.is(sslobj) {
                return Ok(engine.bind(py).clone());
            }
        }
    }
    let sslobj = get(proto, |c| &c.sslobj)?;
    let engine = if sslobj.get_type().is(names.ssl_object.bind(py)) {
        sslobj.getattr(intern!(py, "_sslobj"))?
    } else {
        sslobj.clone()
    };
    let old = {
        let mut this = proto.try_borrow_mut()?;
        (
            this.engine.replace(engine.clone().unbind()),
            this.engine_of.replace(sslobj.unbind()),
        )
    };
    drop(old);
    Ok(engine)
}

/// Whether `engine` is the C object of a plain `ssl.SSLObject` (no Python
/// code of a custom class runs in its methods).
fn plain_engine(engine: &Bound<'_, PyAny>, proto: &Proto<'_>) -> PyResult<bool> {
    Ok(match &proto.try_borrow()?.sslobj {
        Some(sslobj) => !engine.is(sslobj),
        None => false,
    })
}

fn pending<'py>(bio: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    bio.getattr(intern!(bio.py(), "pending"))
}

/// True when another read could only raise SSLWantReadError: the incoming
/// BIO is empty and OpenSSL holds no decrypted bytes. (Python's `ssl` never
/// turns on read-ahead, so OpenSSL buffers no undecrypted record past the
/// one it returned.)
fn dry(incoming: &Bound<'_, PyAny>, engine: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = incoming.py();
    Ok(pending(incoming)?.extract::<i64>()? == 0
        && engine
            .call_method0(intern!(py, "pending"))?
            .extract::<i64>()?
            == 0)
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
    let names = sslproto(py)?;
    let view = get(proto, |c| &c.ssl_buffer_view)?;
    let received = view.get_item(PySlice::new(py, 0, nbytes, 1))?;
    get(proto, |c| &c.incoming)?.call_method1(intern!(py, "write"), (received,))?;
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
    let py = proto.py();
    let state = get(proto, |c| &c.state)?;
    if !(state.is(names.wrapped.bind(py)) || state.is(names.flushing.bind(py))) {
        return Ok(());
    }
    let result = (|| {
        if !flag(proto, |c| c.app_reading_paused)? {
            if flag(proto, |c| c.app_is_buffer)? {
                read_buffered(proto, names)?;
            } else {
                read_copied(proto, names)?;
            }
            if get(proto, |c| &c.write_backlog)?.is_truthy()? {
                write_backlog(proto, names)?;
            } else {
                outgoing(proto, names)?;
            }
        }
        control_ssl_reading(proto, names)
    })();
    fatal_on_exception(proto, result)
}

/// `SSLProtocol._do_read__copied`: decrypted chunks until the BIO runs dry,
/// delivered to `data_received` as one bytes object.
fn read_copied(proto: &Proto<'_>, names: &Sslproto) -> PyResult<()> {
    let py = proto.py();
    let engine = ssl_engine(proto, names)?;
    let incoming = get(proto, |c| &c.incoming)?;
    let max_size = proto.getattr(intern!(py, "max_size"))?;
    let plain = plain_engine(&engine, proto)?;
    let mut chunks: Vec<Bound<'_, PyAny>> = Vec::new();
    let mut gathered = None;
    let mut close_notify = false;
    loop {
        match engine.call_method1(intern!(py, "read"), (&max_size,)) {
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
        if dry(&incoming, &engine)? {
            break;
        }
        if plain && chunks.len() == 1 {
            // More records wait: the rest goes straight into one bytes object.
            let burst = tls_gather::gather(&chunks[0], &incoming, &engine, |err| {
                is_again(err, names, py)
            })?;
            close_notify = burst.close_notify;
            gathered = Some(burst.data.into_any());
            break;
        }
    }
    let data = match (gathered, chunks.len()) {
        (Some(data), _) => Some(data),
        (None, 0) => None,
        (None, 1) => chunks.pop(),
        (None, _) => Some(join(py, &chunks)?),
    };
    if let Some(data) = data {
        get(proto, |c| &c.app_protocol)?.call_method1(intern!(py, "data_received"), (data,))?;
    }
    if close_notify {
        eof_and_shutdown(proto)?;
    }
    Ok(())
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
    let incoming = get(proto, |c| &c.incoming)?;
    let buf = get(proto, |c| &c.app_get_buffer)?.call1((pending(&incoming)?,))?;
    let wants = isize::try_from(buf.len()?).unwrap_or(isize::MAX);
    let mut offset: isize = 0;
    let mut count: isize = 1;
    let read = |len: isize, target: &Bound<'_, PyAny>| -> PyResult<isize> {
        engine
            .call_method1(intern!(py, "read"), (len, target))?
            .extract()
    };
    let outcome = (|| -> PyResult<()> {
        count = read(wants, &buf)?;
        if count > 0 {
            offset = count;
            let mut filled = true;
            while offset < wants {
                if dry(&incoming, &engine)? {
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
            let count: isize = engine
                .call_method1(intern!(py, "write"), (&data,))?
                .extract()?;
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
    let py = proto.py();
    let bio = get(proto, |c| &c.outgoing)?;
    // `read()` takes all the BIO holds, so when it found nothing to send the
    // BIO is empty for the water-mark check (the usual case after a read),
    // and asking it again would only cost a call.
    let mut emptied = false;
    if !flag(proto, |c| c.ssl_writing_paused)? {
        let data = bio.call_method0(intern!(py, "read"))?;
        if data.len()? > 0 {
            get(proto, |c| &c.transport)?.call_method1(intern!(py, "write"), (data,))?;
        } else {
            emptied = true;
        }
    }
    let waiting = if emptied {
        0_isize.into_pyobject(py)?.into_any()
    } else {
        pending(&bio)?
    };
    control_app_writing(proto, names, &waiting)
}

/// Whether asyncio's water-mark check would flip the paused flag.
fn crosses(
    size: &Bound<'_, PyAny>,
    high: &Bound<'_, PyAny>,
    low: &Bound<'_, PyAny>,
    paused: bool,
) -> PyResult<bool> {
    if paused {
        size.le(low)
    } else {
        size.ge(high)
    }
}

/// `SSLProtocol._control_app_writing` (`waiting`: the outgoing BIO's
/// `pending`): the check here; a change of state
/// (and its pause_writing/resume_writing call) is asyncio's method.
fn control_app_writing(
    proto: &Proto<'_>,
    names: &Sslproto,
    waiting: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let py = proto.py();
    let size = waiting.add(proto.try_borrow()?.write_buffer_size)?;
    let high = get(proto, |c| &c.outgoing_high_water)?;
    let low = get(proto, |c| &c.outgoing_low_water)?;
    if crosses(&size, &high, &low, flag(proto, |c| c.app_writing_paused)?)? {
        names.control_app_writing.bind(py).call1((proto,))?;
    }
    Ok(())
}

/// `SSLProtocol._control_ssl_reading`, as `control_app_writing`.
fn control_ssl_reading(proto: &Proto<'_>, names: &Sslproto) -> PyResult<()> {
    let py = proto.py();
    let size = pending(&get(proto, |c| &c.incoming)?)?;
    let high = get(proto, |c| &c.incoming_high_water)?;
    let low = get(proto, |c| &c.incoming_low_water)?;
    if crosses(&size, &high, &low, flag(proto, |c| c.ssl_reading_paused)?)? {
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
    if !data.is_truthy()? {
        return Ok(());
    }
    let names = sslproto(py)?;
    let proto = transport.getattr(intern!(py, "_ssl_protocol"))?;
    let wrapped = match proto.downcast::<TlsCore>() {
        Ok(core) => get(core, |c| &c.state)?.is(names.wrapped.bind(py)),
        Err(_) => false,
    };
    if !wrapped {
        // Every other state (and a transport closed twice, whose protocol
        // is None) is asyncio's own `_write_appdata`.
        return proto
            .call_method1(intern!(py, "_write_appdata"), (PyTuple::new(py, [data])?,))
            .map(drop);
    }
    let proto = proto.downcast_into::<TlsCore>()?;
    let backlog = get(&proto, |c| &c.write_backlog)?;
    let data_len = isize::try_from(data.len()?).unwrap_or(isize::MAX);
    let engine = ssl_engine(&proto, names)?;
    if backlog.is_truthy()? || !plain_engine(&engine, &proto)? {
        backlog.call_method1(intern!(py, "append"), (data,))?;
        add_write_buffer_size(&proto, data_len)?;
        return fatal_on_exception(&proto, write_backlog(&proto, names));
    }
    // Nothing queued: asyncio would append `data`, write it from the front
    // of the backlog and pop it. The same end state without the round trip
    // through the deque: only what the SSL object did not take is queued.
    let written = match engine.call_method1(intern!(py, "write"), (data,)) {
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
            outgoing(&proto, names)
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
