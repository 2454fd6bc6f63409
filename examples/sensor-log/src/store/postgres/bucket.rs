//! Which SQL computes a reading's time bucket on this server.

use std::fmt;

/// The SQL function that puts readings into time buckets, chosen at start-up from what
/// the server offers. All three align buckets on the Unix epoch, so they agree with each
/// other and with the [`MemoryStore`](crate::store::MemoryStore).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketFunction {
    /// TimescaleDB's `time_bucket` (the extension is installed).
    TimeBucket,
    /// PostgreSQL 14+'s `date_bin`.
    DateBin,
    /// Epoch arithmetic, `to_timestamp(floor(epoch / width) * width)`: any version.
    EpochFloor,
}

impl BucketFunction {
    /// The best function given what the server has.
    pub fn choose(timescale: bool, server_version_num: i32) -> Self {
        match () {
            () if timescale => BucketFunction::TimeBucket,
            () if server_version_num >= 140_000 => BucketFunction::DateBin,
            () => BucketFunction::EpochFloor,
        }
    }

    /// The bucket start of column `ts`, the width being parameter `$4` in seconds.
    pub(super) fn sql(self) -> &'static str {
        match self {
            BucketFunction::TimeBucket => {
                "time_bucket(make_interval(secs => $4::float8), ts, '1970-01-01T00:00:00Z'::timestamptz)"
            }
            BucketFunction::DateBin => "date_bin(make_interval(secs => $4::float8), ts, '1970-01-01T00:00:00Z'::timestamptz)",
            BucketFunction::EpochFloor => "to_timestamp(floor(extract(epoch FROM ts)::float8 / $4::float8) * $4::float8)",
        }
    }
}

impl fmt::Display for BucketFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BucketFunction::TimeBucket => "time_bucket (TimescaleDB)",
            BucketFunction::DateBin => "date_bin",
            BucketFunction::EpochFloor => "epoch floor",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timescale_wins_then_date_bin_from_postgres_14() {
        assert_eq!(
            BucketFunction::choose(true, 130_000),
            BucketFunction::TimeBucket
        );
        assert_eq!(
            BucketFunction::choose(false, 150_020),
            BucketFunction::DateBin
        );
        assert_eq!(
            BucketFunction::choose(false, 130_011),
            BucketFunction::EpochFloor
        );
    }
}
