//! # sensor-log
//!
//! IoT time series on cqrs-rs: devices publish JSON readings to Kafka, a writer job
//! validates and stores them in PostgreSQL in batches, a query service serves them.
pub mod device;
pub mod reading;
