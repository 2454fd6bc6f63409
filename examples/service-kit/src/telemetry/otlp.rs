//! The OTLP/HTTP span exporter, configured by the standard `OTEL_*` variables.

use axum::http::Uri;
use opentelemetry_otlp::{Protocol, WithExportConfig};

use super::TelemetryError;

/// The base endpoint: `/v1/traces` is appended to it.
pub(crate) const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The traces endpoint, used as it is (it takes precedence over [`ENDPOINT`]).
pub(crate) const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const PROTOCOLS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
];
const HTTP_PROTOBUF: &str = "http/protobuf";

/// The endpoint variable in effect and its value, when traces are to be exported: one of
/// the endpoint variables is set and not empty, and neither `OTEL_SDK_DISABLED=true` nor
/// `OTEL_TRACES_EXPORTER=none` says otherwise. An endpoint that is not an `http://` URL
/// with a host, or a protocol other than `http/protobuf`, is an error.
pub(crate) fn configured_endpoint() -> Result<Option<(&'static str, String)>, TelemetryError> {
    if env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || env("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"))
    {
        return Ok(None);
    }
    let Some((variable, value)) = [TRACES_ENDPOINT, ENDPOINT]
        .into_iter()
        .find_map(|variable| env(variable).map(|value| (variable, value)))
    else {
        return Ok(None);
    };
    validate(variable, &value)?;
    if let Some((variable, value)) = PROTOCOLS
        .into_iter()
        .find_map(|variable| env(variable).map(|value| (variable, value)))
    {
        if value != HTTP_PROTOBUF {
            return Err(TelemetryError::UnsupportedProtocol { variable, value });
        }
    }
    Ok(Some((variable, value)))
}

/// The OTLP/HTTP protobuf exporter; it reads the endpoint, headers, timeout and
/// compression from the environment itself.
pub(crate) fn span_exporter() -> Result<opentelemetry_otlp::SpanExporter, TelemetryError> {
    Ok(opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()?)
}

fn validate(variable: &'static str, value: &str) -> Result<(), TelemetryError> {
    let invalid = |reason: String| TelemetryError::InvalidEndpoint {
        variable,
        value: value.to_owned(),
        reason,
    };
    let uri: Uri = value.parse().map_err(|error| invalid(format!("{error}")))?;
    match uri.scheme_str() {
        Some("http") => {}
        // opentelemetry-otlp's blocking reqwest client is built without TLS here.
        Some("https") => {
            return Err(invalid(
                "this build exports without TLS: send to a collector over http://".into(),
            ))
        }
        Some(other) => return Err(invalid(format!("scheme `{other}`, not http"))),
        None => return Err(invalid("no scheme: start it with http://".into())),
    }
    match uri.host() {
        Some(host) if !host.is_empty() => Ok(()),
        _ => Err(invalid("no host".into())),
    }
}

/// A variable's value, `None` when unset or empty (as the OpenTelemetry specification
/// treats an empty value).
fn env(variable: &str) -> Option<String> {
    std::env::var(variable)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_with_a_host_are_endpoints() {
        for valid in [
            "http://127.0.0.1:4318",
            "http://collector.example/",
            "http://jaeger:4318/v1/traces",
        ] {
            assert!(validate(ENDPOINT, valid).is_ok(), "{valid}");
        }
        for invalid in [
            "127.0.0.1:4318",
            "grpc://jaeger:4317",
            "https://collector.example",
            "http://",
            "not a url",
            "/v1/traces",
        ] {
            let error = validate(ENDPOINT, invalid).expect_err(invalid);
            assert!(
                error.to_string().contains(ENDPOINT) && error.to_string().contains(invalid),
                "{error}"
            );
        }
    }
}
