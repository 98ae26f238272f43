//! What every native writing transport shares: the byte buffer of accepted,
//! not yet sent data, and asyncio's flow control (`pause_writing` above the
//! high-water mark, `resume_writing` at or below the low one).

use std::io;

use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// asyncio's default high-water mark; the low one is a quarter of it.
const DEFAULT_HIGH_WATER: usize = 64 * 1024;
/// asyncio's `LOG_THRESHOLD_FOR_CONNLOST_WRITES`: writes after the
/// connection was lost are ignored, and logged from this many on.
pub const CONNLOST_WRITES_WARN: u32 = 5;
/// Sent bytes at the front of the buffer are dropped once they are at least
/// this many and half of the buffer.
const COMPACT_AT: usize = 64 * 1024;

/// asyncio lets these two through its protocol-call guards; everything else
/// becomes an error report.
pub fn escapes(err: &PyErr, py: Python<'_>) -> bool {
    err.is_instance_of::<PyKeyboardInterrupt>(py) || err.is_instance_of::<PySystemExit>(py)
}

/// Bytes accepted by `write` and not yet taken by the kernel, in order.
#[derive(Default)]
pub struct WriteBuffer {
    data: Vec<u8>,
    /// How much of `data` is already sent.
    head: usize,
}

impl WriteBuffer {
    pub fn len(&self) -> usize {
        self.data.len() - self.head
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn pending(&self) -> &[u8] {
        &self.data[self.head..]
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.data.extend_from_slice(bytes);
    }

    pub fn consume(&mut self, n: usize) {
        self.head += n;
        if self.head >= self.data.len() {
            self.clear();
        } else if self.head >= COMPACT_AT && self.head * 2 >= self.data.len() {
            self.data.drain(..self.head);
            self.head = 0;
        }
    }

    pub fn clear(&mut self) {
        self.head = 0;
        if self.data.capacity() > 4 * COMPACT_AT {
            // A burst is over: give its memory back.
            self.data = Vec::new();
        } else {
            self.data.clear();
        }
    }
}

/// What `write` does after `WriteBuffer::send_or_queue`.
pub enum Sent {
    /// All sent, or queued behind data the writer already waits to send.
    Done,
    /// Queued: the writer must be registered.
    Watch,
    Failed(io::Error),
}

impl WriteBuffer {
    /// Sends `data` at once with `send` when nothing is queued, and queues
    /// what the kernel did not take.
    pub fn send_or_queue(
        &mut self,
        data: &[u8],
        send: impl FnOnce(&[u8]) -> io::Result<Option<usize>>,
    ) -> Sent {
        if !self.is_empty() {
            self.push(data);
            return Sent::Done;
        }
        match send(data) {
            Ok(Some(n)) if n == data.len() => return Sent::Done,
            Ok(Some(n)) => self.push(&data[n..]),
            Ok(None) => self.push(data),
            Err(err) => return Sent::Failed(err),
        }
        Sent::Watch
    }
}

/// The water marks and whether the protocol was told to pause.
pub struct FlowControl {
    high: usize,
    low: usize,
    paused: bool,
}

impl Default for FlowControl {
    fn default() -> Self {
        Self {
            high: DEFAULT_HIGH_WATER,
            low: DEFAULT_HIGH_WATER / 4,
            paused: false,
        }
    }
}

impl FlowControl {
    /// True when `pause_writing` is due now (`size` crossed the high mark).
    pub fn should_pause(&mut self, size: usize) -> bool {
        let over = size > self.high && !self.paused;
        self.paused |= over;
        over
    }

    /// True when `resume_writing` is due now.
    pub fn should_resume(&mut self, size: usize) -> bool {
        let under = self.paused && size <= self.low;
        self.paused &= !under;
        under
    }

    /// True between `pause_writing` and `resume_writing`.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// `(low, high)`, as `get_write_buffer_limits` returns them.
    pub fn limits(&self) -> (usize, usize) {
        (self.low, self.high)
    }

    /// `set_write_buffer_limits`' arithmetic and check; the caller then
    /// calls `should_pause`.
    pub fn set_limits(&mut self, high: Option<i64>, low: Option<i64>) -> PyResult<()> {
        let default_high = i64::try_from(DEFAULT_HIGH_WATER).unwrap_or(i64::MAX);
        let high = high.unwrap_or_else(|| low.map_or(default_high, |low| low.saturating_mul(4)));
        // Python floor division: a negative high gives the low asyncio reports.
        let low = low.unwrap_or(high.div_euclid(4));
        if !(high >= low && low >= 0) {
            return Err(PyValueError::new_err(format!(
                "high ({high}) must be >= low ({low}) must be >= 0"
            )));
        }
        self.high = usize::try_from(high).unwrap_or(usize::MAX);
        self.low = usize::try_from(low).unwrap_or(0);
        Ok(())
    }
}

/// Calls the protocol's `pause_writing` or `resume_writing`; a failure goes
/// to the loop's exception handler, as asyncio reports it.
pub fn call_flow_method(
    loop_: &Bound<'_, PyAny>,
    transport: &Bound<'_, PyAny>,
    protocol: &Bound<'_, PyAny>,
    method: &str,
) -> PyResult<()> {
    let py = loop_.py();
    match protocol.call_method0(method) {
        Ok(_) => Ok(()),
        Err(err) if escapes(&err, py) => Err(err),
        Err(err) => {
            let context = PyDict::new(py);
            context.set_item("message", format!("protocol.{method}() failed"))?;
            context.set_item("exception", err.into_value(py))?;
            context.set_item("transport", transport)?;
            context.set_item("protocol", protocol)?;
            loop_
                .call_method1(intern!(py, "call_exception_handler"), (context,))
                .map(drop)
        }
    }
}
