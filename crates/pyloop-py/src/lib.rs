//! `pyloop._pyloop`: registers the native classes (and the raw vectorcall
//! methods of `Loop`); the logic lives in the modules named after them.

mod byte_view;
mod current_task;
mod datagram;
mod empty_waiter;
mod errors;
mod fastcall;
mod future;
mod future_iter;
mod gc_fields;
mod gil_cell;
mod handle;
mod imports;
mod instance_dict;
mod io_ready;
mod job_handle;
mod job_queue;
mod loop_;
mod native_types;
mod pipe_transport;
mod recv_buffer;
mod shared_context;
mod slots;
mod sock_io;
mod sockaddr;
mod sys_io;
mod task;
mod task_registry;
mod tls_core;
mod tls_data;
mod tls_gather;
mod tls_ssl;
mod transport;
mod transport_core;
mod transport_flow;
mod transport_repr;
mod vectorcall;
mod write_side;

use pyo3::prelude::*;

#[pymodule(gil_used = true)]
fn _pyloop(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<loop_::Loop>()?;
    fastcall::install(m.py(), &m.py().get_type::<loop_::Loop>())?;
    fastcall::install_datagram(m.py(), &m.py().get_type::<datagram::DatagramTransport>())?;
    fastcall::install_socket(m.py(), &m.py().get_type::<transport::SocketTransport>())?;
    m.add_class::<handle::Handle>()?;
    m.add_class::<handle::TimerHandle>()?;
    m.add_class::<future::Future>()?;
    m.add_class::<future_iter::FutureIter>()?;
    m.add_class::<task::Task>()?;
    future::Future::install_instance_dicts(m.py())?;
    m.add_class::<task::TaskStep>()?;
    m.add_class::<task::TaskWakeup>()?;
    m.add_class::<sock_io::SockWait>()?;
    m.add_class::<transport::SocketTransport>()?;
    m.add_class::<pipe_transport::ReadPipeTransport>()?;
    m.add_class::<pipe_transport::WritePipeTransport>()?;
    m.add_class::<datagram::DatagramTransport>()?;
    m.add_class::<job_handle::JobHandle>()?;
    m.add_class::<job_queue::JobQueue>()?;
    m.add_function(wrap_pyfunction!(future::_new_future, m)?)?;
    m.add_function(wrap_pyfunction!(task::_new_task, m)?)?;
    m.add_class::<tls_core::TlsCore>()?;
    tls_data::install(m)?;
    native_types::record(m.py());
    slots::install(m.py())?;
    Ok(())
}
