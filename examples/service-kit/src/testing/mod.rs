//! Test helpers the example services share (feature `testing`): a seeded generator of
//! hostile JSON for fuzz-style HTTP tests, and running a service binary as a child process
//! (start it, call it over plain HTTP/1.1, send it SIGTERM, wait for its exit).
//!
//! Test code: the helpers panic with a message instead of returning errors.

pub mod fuzz;
pub mod oneshot;
pub mod process;
