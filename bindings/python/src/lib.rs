//! Python binding of the Probity policy engine (work in progress).
