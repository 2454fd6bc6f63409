//! What devices send, and how it is checked before anything is stored.
//!
//! - [`decode_readings`]: a message of the `logger.sensor.ts` topic, a JSON array of
//!   readings such as `[{"ts": 1646409307, "sensor_id": 1, "temperature": 30, "cpu": 20}]`.
//! - [`decode_sensor`]: a message of the `logger.sensor.instance` topic, sensor metadata
//!   such as `{"id": 1, "type": "raspberry-pi", "location": "greenhouse"}`.
//!
//! A message is accepted or rejected **as a whole**: one bad reading rejects the message
//! with a [`Rejection`] naming the offending field (e.g. `[3].cpu`), and nothing of it is
//! stored. Unknown fields are ignored, so devices can send more than we keep.

mod fields;
mod limits;
mod readings;
mod rejection;
mod sensor;
mod timestamp;

pub use limits::{Limits, CPU_RANGE, TEMPERATURE_RANGE};
pub use readings::decode_readings;
pub use rejection::{RejectReason, Rejection};
pub use sensor::{decode_sensor, SensorInfo, MAX_TEXT_CHARS};
pub use timestamp::{MAX_EPOCH_SECONDS, MILLIS_THRESHOLD, MIN_EPOCH_SECONDS};
