//! `pyloop._pyloop`: registers the native classes (and the raw vectorcall
//! methods of `Loop`); the logic lives in the modules named after them.

mod errors;
mod fastcall;
mod gil_cell;
mod handle;
mod imports;
mod loop_;

use pyo3::prelude::*;

#[pymodule(gil_used = true)]
fn _pyloop(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<loop_::Loop>()?;
    fastcall::install(m.py(), &m.py().get_type::<loop_::Loop>())?;
    m.add_class::<handle::Handle>()?;
    m.add_class::<handle::TimerHandle>()?;
    Ok(())
}
