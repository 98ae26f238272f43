//! `__traverse__` and `__clear__` for a pyclass whose Python references are
//! a fixed set of `Option<Py<PyAny>>` fields (listed by the class).

use pyo3::prelude::*;
use pyo3::{PyTraverseError, PyVisit};

/// Visits every field that holds an object.
pub fn traverse<'a>(
    fields: impl IntoIterator<Item = &'a Option<Py<PyAny>>>,
    visit: &PyVisit<'_>,
) -> Result<(), PyTraverseError> {
    for obj in fields.into_iter().flatten() {
        visit.call(obj)?;
    }
    Ok(())
}

/// Empties every field. Every reference is taken out before any is dropped
/// (dropping may run finalizers), so none of them finds a half-cleared
/// object.
pub fn clear<'a>(fields: impl IntoIterator<Item = &'a mut Option<Py<PyAny>>>) {
    let old: Vec<Py<PyAny>> = fields.into_iter().filter_map(Option::take).collect();
    drop(old);
}
