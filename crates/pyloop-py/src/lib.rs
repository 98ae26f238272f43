//! `pyloop._pyloop`: registers the native classes; the logic lives in the
//! modules named after them.

mod errors;
mod gil_cell;
mod handle;
mod imports;
mod loop_;

use pyo3::prelude::*;

#[pymodule(gil_used = true)]
fn _pyloop(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<loop_::Loop>()?;
    m.add_class::<handle::Handle>()?;
    m.add_class::<handle::TimerHandle>()?;
    Ok(())
}
