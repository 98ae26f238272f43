//! asyncio's write flow control as the writing transports (stream sockets,
//! write pipes, datagram sockets) drive it: `pause_writing` once the buffer
//! is above the high-water mark, `resume_writing` once it is at or below the
//! low one, and the limits' getter and setter.

use pyo3::prelude::*;

use crate::transport_core::Native;
use crate::write_side::{call_flow_method, FlowControl};

/// A transport with a write buffer.
pub(crate) trait Buffered: Native {
    /// The flow control and the buffer size it is measured against.
    fn flow(state: &mut Self::State) -> (&mut FlowControl, usize);
}

fn with_flow<T: Buffered, R>(
    this: &T,
    py: Python<'_>,
    f: impl FnOnce(&mut FlowControl, usize) -> R,
) -> PyResult<R> {
    this.cell().with(py, |s| {
        let (flow, size) = T::flow(s);
        f(flow, size)
    })
}

/// Calls `pause_writing` or `resume_writing`, reporting its failure.
fn flow_call<T: Buffered>(slf: &Bound<'_, T>, method: &str) -> PyResult<()> {
    let py = slf.py();
    let Some(protocol) = slf.get().protocol(py)? else {
        return Ok(());
    };
    call_flow_method(
        slf.get().loop_().bind(py).as_any(),
        slf.as_any(),
        &protocol,
        method,
    )
}

pub(crate) fn maybe_pause_protocol<T: Buffered>(slf: &Bound<'_, T>) -> PyResult<()> {
    if with_flow(slf.get(), slf.py(), |flow, size| flow.should_pause(size))? {
        flow_call(slf, "pause_writing")?;
    }
    Ok(())
}

pub(crate) fn maybe_resume_protocol<T: Buffered>(slf: &Bound<'_, T>) -> PyResult<()> {
    if with_flow(slf.get(), slf.py(), |flow, size| flow.should_resume(size))? {
        flow_call(slf, "resume_writing")?;
    }
    Ok(())
}

pub(crate) fn set_write_buffer_limits<T: Buffered>(
    slf: &Bound<'_, T>,
    high: Option<i64>,
    low: Option<i64>,
) -> PyResult<()> {
    with_flow(slf.get(), slf.py(), |flow, _| flow.set_limits(high, low))??;
    maybe_pause_protocol(slf)
}

pub(crate) fn get_write_buffer_limits<T: Buffered>(
    this: &T,
    py: Python<'_>,
) -> PyResult<(usize, usize)> {
    with_flow(this, py, |flow, _| flow.limits())
}
