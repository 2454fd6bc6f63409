//! librdkafka properties given on the command line or in `KAFKA_PROPERTIES`, applied to
//! every Kafka client of a service (security settings, batching, timeouts).

/// One `key=value` librdkafka property, as clap parses `--kafka-property` and each
/// comma-separated item of `KAFKA_PROPERTIES`.
///
/// ```
/// use service_kit::kafka_properties::parse_property;
/// assert_eq!(
///     parse_property("batch.num.messages=1").unwrap(),
///     ("batch.num.messages".to_owned(), "1".to_owned())
/// );
/// assert!(parse_property("no-equals-sign").is_err());
/// assert!(parse_property("=1").is_err());
/// ```
pub fn parse_property(item: &str) -> Result<(String, String), String> {
    let (key, value) = item
        .split_once('=')
        .ok_or_else(|| format!("`{item}` is not a librdkafka property `key=value`"))?;
    let key = key.trim();
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
    {
        return Err(format!("`{key}` is not a librdkafka property name"));
    }
    Ok((key.to_owned(), value.trim().to_owned()))
}
