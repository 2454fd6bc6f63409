//! Test helpers the example services share (feature `testing`): a seeded generator of
//! hostile JSON for fuzz-style HTTP tests, one in-process request to a router, running a
//! service binary as a child process (start it, call it over plain HTTP/1.1, send it
//! SIGTERM, wait for its exit), and the services a services-mode test needs (PostgreSQL and
//! Kafka: reachable or skipped, schemas dropped afterwards).
//!
//! Test code: the helpers panic with a message instead of returning errors.

pub mod fuzz;
pub mod oneshot;
pub mod process;
pub mod services;
