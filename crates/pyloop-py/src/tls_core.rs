//! `TlsCore`: the native base of pyloop's TLS protocol
//! (`pyloop._tls_protocol.SSLProtocol`, which also derives from asyncio's
//! `sslproto.SSLProtocol`).
//!
//! It holds the attributes the data path reads on every message as struct
//! fields, exposed to Python under asyncio's names (`_state`, `_incoming`,
//! `_write_backlog`, ...), so asyncio's own methods read and assign them as
//! before while the Rust data path (`tls_data.rs`) reads them without a
//! dictionary lookup. Its methods replace `SSLProtocol`'s hot ones by coming
//! first in the MRO.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3::{PyTraverseError, PyVisit};

use crate::gc_fields;
use crate::tls_data;

#[pyclass(subclass, module = "pyloop._pyloop")]
#[derive(Default)]
pub struct TlsCore {
    #[pyo3(get, set, name = "_state")]
    pub state: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_incoming")]
    pub incoming: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_outgoing")]
    pub outgoing: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_sslobj")]
    pub sslobj: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_transport")]
    pub transport: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_app_protocol")]
    pub app_protocol: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_app_protocol_get_buffer")]
    pub app_get_buffer: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_app_protocol_buffer_updated")]
    pub app_buffer_updated: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_write_backlog")]
    pub write_backlog: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_ssl_buffer")]
    pub ssl_buffer: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_ssl_buffer_view")]
    pub ssl_buffer_view: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_loop")]
    pub loop_: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_incoming_high_water")]
    pub incoming_high_water: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_incoming_low_water")]
    pub incoming_low_water: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_outgoing_high_water")]
    pub outgoing_high_water: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_outgoing_low_water")]
    pub outgoing_low_water: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_write_buffer_size")]
    pub write_buffer_size: isize,
    #[pyo3(get, set, name = "_app_reading_paused")]
    pub app_reading_paused: bool,
    #[pyo3(get, set, name = "_ssl_reading_paused")]
    pub ssl_reading_paused: bool,
    #[pyo3(get, set, name = "_app_writing_paused")]
    pub app_writing_paused: bool,
    #[pyo3(get, set, name = "_ssl_writing_paused")]
    pub ssl_writing_paused: bool,
    #[pyo3(get, set, name = "_app_protocol_is_buffer")]
    pub app_is_buffer: bool,
    /// asyncio's class attribute, here an instance field (read on every
    /// message); starts at `SSLProtocol.max_size`.
    #[pyo3(get, set)]
    pub max_size: isize,
    /// What reads and writes are sent to (`tls_data::ssl_engine`), and the
    /// `_sslobj` it was found for; not visible from Python.
    pub engine: Option<Py<PyAny>>,
    pub engine_of: Option<Py<PyAny>>,
    /// Whether `engine` is a `_ssl._SSLSocket` (`tls_ssl::Engine::exact`).
    pub engine_exact: bool,
}

impl TlsCore {
    fn objects(&self) -> [&Option<Py<PyAny>>; 18] {
        [
            &self.state,
            &self.incoming,
            &self.outgoing,
            &self.sslobj,
            &self.transport,
            &self.app_protocol,
            &self.app_get_buffer,
            &self.app_buffer_updated,
            &self.write_backlog,
            &self.ssl_buffer,
            &self.ssl_buffer_view,
            &self.loop_,
            &self.incoming_high_water,
            &self.incoming_low_water,
            &self.outgoing_high_water,
            &self.outgoing_low_water,
            &self.engine,
            &self.engine_of,
        ]
    }

    fn objects_mut(&mut self) -> [&mut Option<Py<PyAny>>; 18] {
        [
            &mut self.state,
            &mut self.incoming,
            &mut self.outgoing,
            &mut self.sslobj,
            &mut self.transport,
            &mut self.app_protocol,
            &mut self.app_get_buffer,
            &mut self.app_buffer_updated,
            &mut self.write_backlog,
            &mut self.ssl_buffer,
            &mut self.ssl_buffer_view,
            &mut self.loop_,
            &mut self.incoming_high_water,
            &mut self.incoming_low_water,
            &mut self.outgoing_high_water,
            &mut self.outgoing_low_water,
            &mut self.engine,
            &mut self.engine_of,
        ]
    }
}

impl TlsCore {
    /// `SSLProtocol.get_buffer`: the protocol's receive buffer, grown to
    /// `n` bytes when asked for more (up to `max_size`).
    pub fn buffer_for<'py>(slf: &Bound<'py, Self>, n: isize) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let max_size = slf.try_borrow()?.max_size;
        let want = if n <= 0 || n > max_size { max_size } else { n };
        let buffer = field(py, &slf.try_borrow()?.ssl_buffer);
        if isize::try_from(buffer.len()?).unwrap_or(isize::MAX) < want {
            let grown = pyo3::types::PyByteArray::new(py, &vec![0; want.unsigned_abs()]);
            let view = pyo3::types::PyMemoryView::from(&grown)?;
            let mut this = slf.try_borrow_mut()?;
            let old = (
                this.ssl_buffer.replace(grown.into_any().unbind()),
                this.ssl_buffer_view.replace(view.into_any().unbind()),
            );
            drop(this);
            drop(old);
        }
        Ok(field(py, &slf.try_borrow()?.ssl_buffer_view))
    }
}

/// A field's object, as Python would read the attribute (None when unset).
pub fn field<'py>(py: Python<'py>, value: &Option<Py<PyAny>>) -> Bound<'py, PyAny> {
    match value {
        Some(obj) => obj.bind(py).clone(),
        None => py.None().into_bound(py),
    }
}

#[pymethods]
impl TlsCore {
    /// Fields start unset; `SSLProtocol.__init__` (Python) fills them.
    #[new]
    #[pyo3(signature = (*args, **_kwargs))]
    fn new(args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Ok(Self {
            max_size: tls_data::default_max_size(args.py())?,
            ..Self::default()
        })
    }

    /// `SSLProtocol.get_buffer`.
    fn get_buffer<'py>(slf: &Bound<'py, Self>, n: isize) -> PyResult<Bound<'py, PyAny>> {
        Self::buffer_for(slf, n)
    }

    /// `SSLProtocol.buffer_updated`.
    fn buffer_updated(slf: &Bound<'_, Self>, nbytes: isize) -> PyResult<()> {
        tls_data::buffer_updated(slf, nbytes)
    }

    /// `SSLProtocol._do_read`.
    fn _do_read(slf: &Bound<'_, Self>) -> PyResult<()> {
        tls_data::run(slf, tls_data::read_phase)
    }

    /// `SSLProtocol._do_write`.
    fn _do_write(slf: &Bound<'_, Self>) -> PyResult<()> {
        tls_data::run(slf, tls_data::write_backlog)
    }

    /// `SSLProtocol._process_outgoing`.
    fn _process_outgoing(slf: &Bound<'_, Self>) -> PyResult<()> {
        tls_data::run(slf, tls_data::outgoing)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        gc_fields::traverse(self.objects(), &visit)
    }

    fn __clear__(&mut self) {
        gc_fields::clear(self.objects_mut());
    }
}
