//! WebAssembly binding of the Probity policy engine.
//!
//! A thin layer: [`api`] holds the logic as plain Rust functions over JSON text (tested natively
//! with `cargo test -p probity-wasm`); `js` wraps them as `#[wasm_bindgen]` exports named for
//! JavaScript (`PolicySet.fromSources`, `Engine`, `Ledger.advanceTo`, …), returns plain objects
//! parsed from the engine's own decision JSON, and throws `Error`s named `PolicyError` (with
//! `diagnostics`) or `InputError`. See `README.md` for the JS API.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
mod js;
