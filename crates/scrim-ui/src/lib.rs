//! Scrim's web UI as a library: what a page shows, not where its data comes from.
//!
//! - [`pages`]: one askama template per page (and per htmx fragment), each a plain struct
//!   of already-fetched, already-redacted values; askama escapes every value it prints.
//! - [`chart`]: small time-series charts as inline SVG, drawn on the server.
//! - [`waterfall`]: a trace (OTLP/JSON) laid out as a span tree with timing bars.
//! - [`format`]: durations, rates, timestamps and redaction markers as people read them.
//! - [`assets`]: the stylesheet, htmx and the UI's script, embedded in the binary.
//!
//! Nothing here performs I/O: `scrim-server` fetches through its own REST API (so the UI
//! can never show what the API would refuse) and renders with these types.

pub mod assets;
pub mod chart;
pub mod format;
pub mod pages;
pub mod waterfall;
