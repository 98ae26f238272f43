//! Calls into `_ssl`'s C objects for the TLS data path (`tls_data.rs`):
//! the incoming and outgoing `ssl.MemoryBIO`s and the `_ssl._SSLSocket`
//! inside a plain `ssl.SSLObject`.
//!
//! For objects of exactly those types the method (or, for
//! `MemoryBIO.pending`, the getset) descriptor found once on the type is
//! called with the object as its first argument: the same C function runs
//! with the same arguments as `obj.read(...)` would reach, without looking
//! the name up on every call. Any other object (a subclass, a custom
//! `sslobject_class`) is called through its attributes as Python would.

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::vectorcall::vectorcall;

/// The two C types and their descriptors, found once.
struct Descriptors {
    bio_type: Py<PyType>,
    bio_read: Py<PyAny>,
    bio_write: Py<PyAny>,
    bio_pending: Py<PyAny>,
    socket_type: Py<PyType>,
    socket_read: Py<PyAny>,
    socket_write: Py<PyAny>,
    socket_pending: Py<PyAny>,
}

fn descriptors(py: Python<'_>) -> PyResult<&Descriptors> {
    static CELL: PyOnceLock<Descriptors> = PyOnceLock::new();
    CELL.get_or_try_init(py, || {
        let module = py.import("_ssl")?;
        let bio_type = module.getattr("MemoryBIO")?.downcast_into::<PyType>()?;
        let socket_type = module.getattr("_SSLSocket")?.downcast_into::<PyType>()?;
        // From the type's own dict: the descriptors themselves, not what
        // attribute access on the type makes of them.
        let own = |t: &Bound<'_, PyType>, name: &str| -> PyResult<Py<PyAny>> {
            Ok(t.getattr(intern!(py, "__dict__"))?.get_item(name)?.unbind())
        };
        Ok(Descriptors {
            bio_read: own(&bio_type, "read")?,
            bio_write: own(&bio_type, "write")?,
            bio_pending: own(&bio_type, "pending")?,
            socket_read: own(&socket_type, "read")?,
            socket_write: own(&socket_type, "write")?,
            socket_pending: own(&socket_type, "pending")?,
            bio_type: bio_type.unbind(),
            socket_type: socket_type.unbind(),
        })
    })
}

/// Whether `obj`'s type is `wanted` itself (not a subclass).
fn is_exactly(obj: &Bound<'_, PyAny>, wanted: &Py<PyType>) -> bool {
    // SAFETY: reading the type of a live object.
    let ty = unsafe { ffi::Py_TYPE(obj.as_ptr()) };
    std::ptr::eq(ty.cast::<ffi::PyObject>(), wanted.as_ptr())
}

fn to_usize(value: &Bound<'_, PyAny>) -> PyResult<usize> {
    value.extract()
}

/// A MemoryBIO (`_incoming` or `_outgoing`).
pub struct Bio<'py> {
    obj: Bound<'py, PyAny>,
    exact: bool,
}

impl<'py> Bio<'py> {
    pub fn new(obj: Bound<'py, PyAny>) -> PyResult<Self> {
        let exact = is_exactly(&obj, &descriptors(obj.py())?.bio_type);
        Ok(Self { obj, exact })
    }

    pub fn into_object(self) -> Bound<'py, PyAny> {
        self.obj
    }

    /// Whether it is exactly `ssl.MemoryBIO` (whose `write` copies the
    /// bytes and keeps no reference to the buffer it was given).
    pub fn exact(&self) -> bool {
        self.exact
    }

    /// `bio.pending`.
    pub fn pending(&self) -> PyResult<usize> {
        let py = self.obj.py();
        if !self.exact {
            return to_usize(&self.obj.getattr(intern!(py, "pending"))?);
        }
        let descr = &descriptors(py)?.bio_pending;
        // SAFETY: `descr` is MemoryBIO's getset descriptor and `obj` a
        // MemoryBIO; `tp_descr_get` returns a new reference or NULL with an
        // exception set.
        let value = unsafe {
            let get = (*ffi::Py_TYPE(descr.as_ptr())).tp_descr_get;
            match get {
                Some(get) => Bound::from_owned_ptr_or_err(
                    py,
                    get(
                        descr.as_ptr(),
                        self.obj.as_ptr(),
                        ffi::Py_TYPE(self.obj.as_ptr()).cast(),
                    ),
                )?,
                None => self.obj.getattr(intern!(py, "pending"))?,
            }
        };
        to_usize(&value)
    }

    /// `bio.read()`: everything it holds.
    pub fn read(&self) -> PyResult<Bound<'py, PyAny>> {
        let py = self.obj.py();
        if self.exact {
            vectorcall(py, &descriptors(py)?.bio_read, &[self.obj.as_ptr()])
        } else {
            self.obj.call_method0(intern!(py, "read"))
        }
    }

    /// `bio.write(data)`.
    pub fn write(&self, data: &Bound<'py, PyAny>) -> PyResult<()> {
        let py = self.obj.py();
        if self.exact {
            vectorcall(
                py,
                &descriptors(py)?.bio_write,
                &[self.obj.as_ptr(), data.as_ptr()],
            )
            .map(drop)
        } else {
            self.obj
                .call_method1(intern!(py, "write"), (data,))
                .map(drop)
        }
    }
}

impl Bio<'_> {
    /// `bio.write(data)` for bytes the caller holds, through a read-only
    /// memoryview that lives only for the call; only for an exact
    /// MemoryBIO (which copies them, keeps no reference and runs no Python
    /// code), anything else is refused.
    pub fn write_slice(&self, data: &[u8]) -> PyResult<()> {
        if !self.exact {
            return Err(PyTypeError::new_err("not an ssl.MemoryBIO"));
        }
        let py = self.obj.py();
        let size = ffi::Py_ssize_t::try_from(data.len())?;
        // SAFETY: a read-only memoryview over `data`, which outlives it: the
        // MemoryBIO copies the bytes and the view is dropped before this
        // function returns.
        let view = unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                ffi::PyMemoryView_FromMemory(
                    data.as_ptr().cast_mut().cast(),
                    size,
                    ffi::PyBUF_READ,
                ),
            )?
        };
        self.write(&view)
    }
}

/// The object an SSL object's reads and writes go to: the `_ssl._SSLSocket`
/// of a plain `ssl.SSLObject`, or a custom SSL object itself.
pub struct Engine<'py> {
    obj: Bound<'py, PyAny>,
    exact: bool,
}

impl<'py> Engine<'py> {
    pub fn new(obj: Bound<'py, PyAny>) -> PyResult<Self> {
        let exact = is_exactly(&obj, &descriptors(obj.py())?.socket_type);
        Ok(Self { obj, exact })
    }

    /// An engine whose exactness was found before (`Engine::new`).
    pub fn known(obj: Bound<'py, PyAny>, exact: bool) -> Self {
        Self { obj, exact }
    }

    pub fn into_parts(self) -> (Bound<'py, PyAny>, bool) {
        (self.obj, self.exact)
    }

    pub fn py(&self) -> Python<'py> {
        self.obj.py()
    }

    /// Whether it is `_ssl._SSLSocket` (C code only: no Python runs in
    /// its methods, and `read` into a buffer keeps no reference to it).
    pub fn exact(&self) -> bool {
        self.exact
    }

    /// `read(len)`.
    pub fn read(&self, len: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = self.obj.py();
        if self.exact {
            vectorcall(
                py,
                &descriptors(py)?.socket_read,
                &[self.obj.as_ptr(), len.as_ptr()],
            )
        } else {
            self.obj.call_method1(intern!(py, "read"), (len,))
        }
    }

    /// `read(len, buffer)`: the count read into `buffer`.
    pub fn read_into(&self, len: isize, buffer: &Bound<'py, PyAny>) -> PyResult<isize> {
        let py = self.obj.py();
        let count = if self.exact {
            let len = len.into_pyobject(py)?;
            vectorcall(
                py,
                &descriptors(py)?.socket_read,
                &[self.obj.as_ptr(), len.as_ptr(), buffer.as_ptr()],
            )?
        } else {
            self.obj.call_method1(intern!(py, "read"), (len, buffer))?
        };
        count.extract()
    }

    /// `write(data)`: the count written.
    pub fn write(&self, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = self.obj.py();
        if self.exact {
            vectorcall(
                py,
                &descriptors(py)?.socket_write,
                &[self.obj.as_ptr(), data.as_ptr()],
            )
        } else {
            self.obj.call_method1(intern!(py, "write"), (data,))
        }
    }

    /// `pending()`: decrypted bytes OpenSSL holds.
    pub fn pending(&self) -> PyResult<usize> {
        let py = self.obj.py();
        let value = if self.exact {
            vectorcall(py, &descriptors(py)?.socket_pending, &[self.obj.as_ptr()])?
        } else {
            self.obj.call_method0(intern!(py, "pending"))?
        };
        to_usize(&value)
    }
}
